"""Reading JSON Lines with errors that name the file and line.

``read_jsonl("examples/data/pippa_sample.jsonl")`` yields ``("examples/data/pippa_sample.jsonl:1", {...})``,
``(":2", …)`` and so on; blank lines are skipped, and a bad line raises an error naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llm.data.conversation import RecordError


def read_jsonl(path: str | Path) -> Iterator[tuple[str, Any]]:
    """Yield ``("file:line", record)`` for each non-blank line; raise :class:`RecordError` on a bad one."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    seen = False
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            record_id = f"{path}:{line_no}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise RecordError(
                    record_id, "<line>", f"not UTF-8 (byte {e.start}: {raw[e.start : e.start + 1]!r})"
                ) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise RecordError(
                    record_id, "<line>", f"malformed JSON ({e.msg} at column {e.colno})"
                ) from None
            seen = True
            yield record_id, record
    if not seen:
        raise RecordError(str(path), "<file>", "empty file: no records")
