"""Reading records from local files — JSON Lines, a JSON array, or parquet — with errors that name the place.

The one reader every command uses (``process``, ``show-sample``, ``chat --character_from``, the role-play
evaluation's held-out user turns, PPO prompts, GAtt synthesis). :func:`iter_records` yields
``(record_id, record)`` with ``record_id`` = ``"file:line"`` (``"file:item 3"`` in a JSON array,
``"file:row 3"`` in parquet); a record that cannot be read comes as a :class:`~llm.errors.RecordError` *value*
in place of the record, so a caller that skips bad records can count it, and one that does not raises it.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "chats.jsonl"
    >>> _ = path.write_text('{"text": "a"}\\n\\n{"text": \\n')
    >>> [(rid.split("/")[-1], rec) for rid, rec in iter_records(path)]   # doctest: +ELLIPSIS
    [('chats.jsonl:1', {'text': 'a'}), ('chats.jsonl:3', RecordError(...))]

Every failure of the JSON parser becomes a ``RecordError``: malformed text, bytes that are not UTF-8,
nesting too deep for the parser, numbers too long to convert, and strings holding a lone surrogate escape
(``"\\ud800"``: valid JSON, but no character, so no tokenizer can encode it).
"""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llm.errors import RecordError, UserError

# A \uD800–\uDFFF escape in the raw text: only then can a parsed string hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def resolve_files(patterns: list[str], flag: str = "--data_files") -> list[Path]:
    """The files named by ``patterns`` (paths or globs), in order; an error for one that matches nothing."""
    files: list[Path] = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matched:
            raise FileNotFoundError(f"{flag} {pattern!r} matches no file")
        for m in matched:
            path = Path(m)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such file")
            files.append(path)
    return files


def parse_json(raw: bytes, record_id: str) -> Any:
    """One JSON value from bytes, or a ``RecordError`` (returned, not raised) saying what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return RecordError(record_id, "<line>", f"not UTF-8 (byte {e.start}: {raw[e.start : e.start + 1]!r})")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        return RecordError(record_id, "<line>", f"malformed JSON ({e.msg} at column {e.colno})")
    except RecursionError:
        return RecordError(record_id, "<line>", "nested too deeply for the JSON parser")
    except ValueError as e:  # e.g. an integer of thousands of digits
        return RecordError(record_id, "<line>", f"number too large ({str(e).split(';')[0]})")
    if _SURROGATE_ESCAPE.search(raw):
        where = lone_surrogate(value)
        if where is not None:
            return RecordError(
                record_id, where or "<record>", "invalid string: a lone surrogate escape (not a character)"
            )
    return value


def lone_surrogate(value: Any, path: str = "") -> str | None:
    """The field path of the first string holding a lone surrogate, or None.

    >>> lone_surrogate({"messages": [{"content": "ok"}, {"content": "a\\ud800"}]})
    'messages[1].content'
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and lone_surrogate(key, "") is not None:
                return f"{path}.<key>" if path else "<key>"
            found = lone_surrogate(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = lone_surrogate(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def iter_records(path: str | Path) -> Iterator[tuple[str, Any]]:
    """``(record_id, record or RecordError)`` for every record of a JSONL, JSON or parquet file.

    A ``.json`` file holding an array is read as its items; any other file line by line (blank lines
    skipped). An empty file, and an empty array, are one ``RecordError`` ("empty file: no records").
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except pyarrow.ArrowException as e:  # text named .parquet, a truncated file …
            # pyarrow's first sentence, without the path it repeats
            said = str(e).strip().split(": ")[-1].split(". ")[0] or type(e).__name__
            yield str(path), RecordError(str(path), "<file>", f"not a parquet file ({said})")
            return
        if not rows:
            yield str(path), RecordError(str(path), "<file>", "empty file: no records")
        for i, row in enumerate(rows):
            yield f"{path}:row {i}", row
        return
    raw = path.read_bytes()
    if not raw.strip():
        yield str(path), RecordError(str(path), "<file>", "empty file: no records")
        return
    if suffix == ".json" and raw.lstrip()[:1] == b"[":
        records = parse_json(raw, str(path))
        if isinstance(records, RecordError):
            yield str(path), RecordError(str(path), "<file>", records.problem)
            return
        if not records:
            yield str(path), RecordError(str(path), "<file>", "empty file: no records (an empty JSON array)")
        for i, record in enumerate(records):
            yield f"{path}:item {i}", record
        return
    for line_no, line in enumerate(raw.split(b"\n"), start=1):
        if line.strip():
            record_id = f"{path}:{line_no}"
            yield record_id, parse_json(line, record_id)


def read_records(path: str | Path) -> Iterator[tuple[str, Any]]:
    """Like :func:`iter_records`, but the first bad record raises its ``RecordError``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    for record_id, record in iter_records(path):
        if isinstance(record, RecordError):
            raise record
        yield record_id, record


def nth_record(path: str | Path, index: int, flag: str = "--index") -> tuple[str, Any]:
    """Record ``index`` (0-based) of a file; an error saying how many there are when it is past the end."""
    if index < 0:
        raise UserError(f"{flag} {index}: must be 0 or more")
    count = 0
    for i, item in enumerate(read_records(path)):
        if i == index:
            return item
        count = i + 1
    raise UserError(f"{path}: has {count} records; {flag} {index} is past the end")


def iter_hub(
    hub_id: str | None, hub_file: str | None = None, revision: str | None = None, name: str = ""
) -> Iterator[tuple[str, Any]]:
    """Records of a hub dataset (needs the network; tests never come here)."""
    import os

    if hub_id is None:
        raise UserError(f"source {name!r} has no hub dataset: pass --data_files")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise OSError(f"cannot download {hub_id} with HF_HUB_OFFLINE=1: pass local --data_files")
    if hub_file:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(hub_id, hub_file, repo_type="dataset", revision=revision)
        yield from iter_records(Path(path))
        return
    import datasets

    for split, ds in datasets.load_dataset(hub_id, revision=revision).items():
        for i, row in enumerate(ds):
            yield f"{hub_id}[{split}]:{i}", row


def hub_revision(hub_id: str, revision: str | None) -> str:
    """The commit a hub dataset resolves to now (so a cache key changes when the dataset does)."""
    from huggingface_hub import HfApi

    try:
        return HfApi().dataset_info(hub_id, revision=revision).sha or (revision or "main")
    except Exception:  # offline or unknown: keyed by the name given, as before
        return revision or "main"
