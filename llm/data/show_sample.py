"""The mask viewer: see exactly which tokens a sample trains on.

    $ llm-train show-sample --template pygmalion --tokenizer tiny:metaspace \\
          --data examples/data/pippa_sample.jsonl --index 3

prints the rendered conversation with trained tokens highlighted (green on a terminal; ``[[…]]`` when the
output is not a terminal or with ``--no-color``), control tokens dimmed, and the counts. ``--tokens``
separates tokens with ``|``. The last line says whether the ids equal a whole-text tokenization, and where
they first differ when they do not (see :mod:`llm.data.encode` for why they may, on purpose).
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from llm.data.conversation import Conversation
from llm.data.encode import IGNORE_INDEX, Encoder, Sample

GREEN, DIM, RESET = "\x1b[42;30m", "\x1b[2m", "\x1b[0m"


@dataclass(frozen=True)
class SampleView:
    text: str
    tokens: int
    trained: int
    whole_text_first_difference: int | None


def render_view(
    encoder: Encoder, conv: Conversation, color: bool = False, show_tokens: bool = False
) -> SampleView:
    """The highlighted text of one conversation's sample, and its counts."""
    sample: Sample = encoder.encode(conv)
    backend = encoder.tokenizer.backend_tokenizer
    control_ids = set(encoder.control_ids.values())

    def style(pair: tuple[int, int]) -> str:
        token, label = pair
        return "trained" if label != IGNORE_INDEX else "control" if token in control_ids else "text"

    out: list[str] = []
    for kind, group in itertools.groupby(zip(sample.input_ids, sample.labels, strict=True), key=style):
        ids = [token for token, _ in group]
        if show_tokens:
            text = "|".join(backend.decode([t], skip_special_tokens=False) for t in ids)
        else:
            text = backend.decode(ids, skip_special_tokens=False)
        if kind == "trained":
            out.append(f"{GREEN}{text}{RESET}" if color else f"[[{text}]]")
        elif kind == "control" and color:
            out.append(f"{DIM}{text}{RESET}")
        else:
            out.append(text)

    text = encoder.render(conv).text
    whole = encoder.tokenizer(text, add_special_tokens=False)["input_ids"]
    first_diff = next(
        (i for i, (a, b) in enumerate(zip(whole, sample.input_ids)) if a != b),
        None if len(whole) == len(sample.input_ids) else min(len(whole), len(sample.input_ids)),
    )
    return SampleView(("|" if show_tokens else "").join(out), len(sample), sample.num_trained, first_diff)


def print_view(view: SampleView, title: str, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    share = view.trained / view.tokens if view.tokens else 0.0
    print(f"── {title}", file=stream)
    print(view.text, file=stream)
    print("──", file=stream)
    print(f"tokens {view.tokens}   trained {view.trained} ({share:.1%})", file=stream)
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
    """Records of a JSONL file (by 0-based index), as conversations."""
    from llm.data.sources import detect_source, get_source
    from llm.data.sources.files import read_jsonl

    wanted = set(indices) if indices is not None else None
    out = []
    for i, (record_id, record) in enumerate(read_jsonl(path)):
        if wanted is not None and i not in wanted:
            continue
        src = get_source(source) if source else detect_source(record, record_id)
        if src.kind != "chat":
            raise ValueError(
                f"{record_id}: show-sample shows chat records; this one is {src.name} ({src.kind})"
            )
        out.append((record_id, src.convert(record, record_id)))
        if wanted is not None and len(out) == len(wanted):
            break
    if wanted is not None and len(out) < len(wanted):
        raise IndexError(f"{path}: has {i + 1} records; --index {max(wanted)} is past the end")
    return out


def main(args: Any) -> int:
    from llm.data.templates import get_template
    from llm.models.tokenizer import add_template_tokens, load_tokenizer

    tokenizer = load_tokenizer(args.tokenizer)
    template = get_template(args.template, tokenizer)
    added = add_template_tokens(tokenizer, template)
    if added:
        print(
            f"note: added the template's control tokens the tokenizer lacked: {', '.join(added)}",
            file=sys.stderr,
        )
    encoder = Encoder(tokenizer, template, mask=args.mask)
    color = sys.stdout.isatty() and not args.no_color
    for record_id, conv in load_conversations(args.data, args.source, args.index):
        view = render_view(encoder, conv, color=color, show_tokens=args.tokens)
        print_view(view, f"{record_id}  template={template.name}  mask={args.mask}")
    return 0
