"""``llm-train show-sample``: print samples with their trained tokens highlighted.

    llm-train show-sample --template pygmalion --tokenizer tiny:metaspace \\
        --data llm/data/samples/pippa_sample.jsonl --index 3
    llm-train show-sample --data runs/pippa --index 0 1        # rows of a process output

The first thing to look at when a loss mask is in doubt (:mod:`llm.data.show` draws it).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.data.encode import MASK_POLICIES, Encoder
from llm.data.show import load_conversations, print_view, render_view, row_views
from llm.data.sillytavern import ST_CONTEXT_HELP, ST_INSTRUCT_HELP, preset_template
from llm.data.sillytavern import label as template_label
from llm.data.templates import TEMPLATES, get_template
from llm.data.tokenizer import add_template_tokens, load_tokenizer
from llm.errors import UserError

PROG = "llm-train show-sample"


@dataclass
class ShowSampleArguments:
    """The options of ``llm-train show-sample``."""

    data: str = field(
        metadata={"help": "a chat data file (JSON Lines, JSON or parquet), or a process output dir"}
    )
    template: str | None = field(
        default=None, metadata={"help": "chat template (for a data file)", "choices": sorted(TEMPLATES)}
    )
    st_context: str | None = field(default=None, metadata={"help": ST_CONTEXT_HELP})
    st_instruct: str | None = field(default=None, metadata={"help": ST_INSTRUCT_HELP})
    tokenizer: str | None = field(
        default=None,
        metadata={
            "help": "hub id, local directory, or tiny:bytelevel / tiny:metaspace; for a process output, "
            "defaults to the tokenizer saved in it"
        },
    )
    split: str = field(default="train", metadata={"help": "split of a process output"})
    index: list[int] = field(default_factory=lambda: [0], metadata={"help": "0-based record index(es)"})
    source: str | None = field(
        default=None, metadata={"help": "record format (pippa, sharegpt, openai …); default: detected"}
    )
    mask: str = field(
        default="assistant", metadata={"help": "masking policy", "choices": list(MASK_POLICIES)}
    )
    tokens: bool = field(default=False, metadata={"help": "separate tokens with |"})
    no_color: bool = field(default=False, metadata={"help": "brackets instead of colour"})


def show(args: ShowSampleArguments) -> int:
    color = sys.stdout.isatty() and not args.no_color
    if Path(args.data).is_dir():
        for title, view in row_views(
            Path(args.data), args.split, args.index, args.tokenizer, color, args.tokens
        ):
            print_view(view, title)
        return 0
    name = args.template or preset_template(args.st_context, args.st_instruct)
    if not name or not args.tokenizer:
        raise UserError(
            "--template and --tokenizer are needed to show records of a data file "
            "(--st_context and --st_instruct stand for --template)"
        )
    tokenizer = load_tokenizer(args.tokenizer)
    template = get_template(name, tokenizer)
    added = add_template_tokens(tokenizer, template)
    if added:
        print(
            f"note: added the template's control tokens the tokenizer lacked: {', '.join(added)}",
            file=sys.stderr,
        )
    encoder = Encoder(tokenizer, template, mask=args.mask)
    for record_id, conv in load_conversations(args.data, args.source, args.index):
        view = render_view(encoder, conv, color=color, show_tokens=args.tokens)
        print_view(view, f"{record_id}  template={template_label(template.name)}  mask={args.mask}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(PROG, lambda: show(*parse((ShowSampleArguments,), argv_or_sys(argv), PROG)))
