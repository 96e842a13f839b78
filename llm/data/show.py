"""The mask viewer behind ``llm-train show-sample``: see exactly which tokens a sample trains on.

    $ llm-train show-sample --template pygmalion --tokenizer tiny:metaspace \\
          --data llm/data/samples/pippa_sample.jsonl --index 3
    $ llm-train show-sample --data runs/pippa --index 0        # a row of a process output

prints the rendered conversation with trained tokens highlighted (green on a terminal; ``[[…]]`` when the
output is not a terminal or with ``--no-color``), control tokens dimmed, and the counts. ``--tokens``
separates tokens with ``|``. The last line says whether the ids equal a whole-text tokenization, and where
they first differ when they do not (see :mod:`llm.data.encode` for why they may, on purpose).
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from llm.data.conversation import Conversation
from llm.data.encode import IGNORE_INDEX, Encoder, Sample
from llm.data.process import load_processed
from llm.data.sources import detect_source, get_source
from llm.data.sources.files import read_records
from llm.data.tokenizer import load_tokenizer
from llm.errors import UserError

GREEN, DIM, RESET = "\x1b[42;30m", "\x1b[2m", "\x1b[0m"


@dataclass(frozen=True)
class SampleView:
    """A highlighted sample and its counts. ``whole_text_first_difference`` is where the ids first differ
    from the tokenizer's whole-text ids (None: equal); ``compared`` is False for a processed row, which has
    no render to compare with."""

    text: str
    tokens: int
    trained: int
    whole_text_first_difference: int | None = None
    compared: bool = True


def mask_spans(
    input_ids: list[int], labels: list[int], tokenizer: Any, show_tokens: bool = False
) -> list[tuple[str, str]]:
    """The decoded sample as ``(kind, text)`` runs, ``kind`` one of ``trained``, ``control`` (an untrained
    special token) or ``text``: what :func:`highlight` marks on a terminal and the web page colours.

    >>> from llm.data.tokenizer import build_tokenizer
    >>> tok = build_tokenizer("bytelevel")
    >>> hi, there = (tok(t, add_special_tokens=False)["input_ids"] for t in ("Hi", " there"))
    >>> mask_spans(hi + there, [-100] * len(hi) + there, tok)
    [('text', 'Hi'), ('trained', ' there')]
    """
    backend = tokenizer.backend_tokenizer
    special = set(tokenizer.all_special_ids)

    def style(pair: tuple[int, int]) -> str:
        token, label = pair
        return "trained" if label != IGNORE_INDEX else "control" if token in special else "text"

    spans = []
    for kind, group in itertools.groupby(zip(input_ids, labels, strict=True), key=style):
        ids = [token for token, _ in group]
        if show_tokens:
            text = "|".join(backend.decode([t], skip_special_tokens=False) for t in ids)
        else:
            text = backend.decode(ids, skip_special_tokens=False)
        spans.append((kind, text))
    return spans


def highlight(
    input_ids: list[int], labels: list[int], tokenizer: Any, color: bool = False, show_tokens: bool = False
) -> str:
    """Decoded text with trained tokens marked (green, or ``[[…]]``) and special tokens dimmed."""
    out: list[str] = []
    for kind, text in mask_spans(input_ids, labels, tokenizer, show_tokens):
        if kind == "trained":
            out.append(f"{GREEN}{text}{RESET}" if color else f"[[{text}]]")
        elif kind == "control" and color:
            out.append(f"{DIM}{text}{RESET}")
        else:
            out.append(text)
    return ("|" if show_tokens else "").join(out)


def render_view(
    encoder: Encoder, conv: Conversation, color: bool = False, show_tokens: bool = False
) -> SampleView:
    """The highlighted text of one conversation's sample, and its counts."""
    sample: Sample = encoder.encode(conv)
    text = highlight(sample.input_ids, sample.labels, encoder.tokenizer, color, show_tokens)
    whole = encoder.tokenizer(encoder.render(conv).text, add_special_tokens=False)["input_ids"]
    first_diff = next(
        (i for i, (a, b) in enumerate(zip(whole, sample.input_ids)) if a != b),
        None if len(whole) == len(sample.input_ids) else min(len(whole), len(sample.input_ids)),
    )
    return SampleView(text, len(sample), sample.num_trained, first_diff)


def print_view(view: SampleView, title: str, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    share = view.trained / view.tokens if view.tokens else 0.0
    print(f"── {title}", file=stream)
    print(view.text, file=stream)
    print("──", file=stream)
    print(f"tokens {view.tokens}   trained {view.trained} ({share:.1%})", file=stream)
    if not view.compared:
        return
    if view.whole_text_first_difference is None:
        print("ids equal the tokenizer's whole-text ids", file=stream)
    else:
        print(
            f"ids differ from the tokenizer's whole-text ids from token {view.whole_text_first_difference} on "
            "(control-token text inside a message, or a merge across a turn boundary; see llm/data/encode.py)",
            file=stream,
        )


def load_conversations(
    path: str, source: str | None, indices: list[int] | None
) -> list[tuple[str, Conversation]]:
    """Records of a data file (by 0-based index), as conversations."""
    wanted = set(indices) if indices is not None else None
    out = []
    i = -1
    for i, (record_id, record) in enumerate(read_records(path)):
        if wanted is not None and i not in wanted:
            continue
        src = get_source(source) if source else detect_source(record, record_id)
        if src.kind != "chat":
            raise UserError(
                f"{record_id}: show-sample shows chat records; this one is {src.name} ({src.kind})"
            )
        out.append((record_id, src.convert(record, record_id)))
        if wanted is not None and len(out) == len(wanted):
            break
    if wanted is not None and len(out) < len(wanted):
        raise UserError(f"{path}: has {i + 1} records; --index {max(wanted)} is past the end")
    return out


def row_views(
    path: Path, split: str, indices: list[int], tokenizer_spec: str | None, color: bool, show_tokens: bool
) -> list[tuple[str, SampleView]]:
    """Views of rows of a ``process`` output directory; packed rows show where each sample starts."""
    tokenizer = load_tokenizer(tokenizer_spec or str(path / "tokenizer"))
    train, validation, _ = load_processed(path)
    splits = {"train": train, **({"validation": validation} if validation is not None else {})}
    if split not in splits:
        raise UserError(f"{path}: no split {split!r} (has {', '.join(splits)})")
    rows = splits[split]
    views = []
    for index in indices:
        if not 0 <= index < len(rows):
            raise UserError(f"{path}: split {split!r} has {len(rows)} rows; --index {index} is past the end")
        row = rows[index]
        if "input_ids" not in row:
            raise UserError(f"{path}: rows have {', '.join(row)}; show-sample shows input_ids/labels rows")
        ids, labels = row["input_ids"], row["labels"]
        positions = row.get("position_ids") or list(range(len(ids)))
        starts = [i for i, p in enumerate(positions) if p == 0] + [len(ids)]
        sources = row["source_index"] if isinstance(row["source_index"], list) else [row["source_index"]]
        parts = []
        for k, (a, b) in enumerate(zip(starts[:-1], starts[1:], strict=True)):
            if len(starts) > 2:
                parts.append(
                    f"\n┄┄ sample {k + 1} of {len(starts) - 1} (record {sources[k]}, {b - a} tokens) ┄┄\n"
                )
            parts.append(highlight(ids[a:b], labels[a:b], tokenizer, color, show_tokens))
        trained = sum(1 for x in labels if x != IGNORE_INDEX)
        view = SampleView("".join(parts), len(ids), trained, compared=False)
        views.append((f"{path} [{split}] row {index}", view))
    return views
