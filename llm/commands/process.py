"""``llm-train process`` (also ``python -m llm.data.process_chats``): raw chat data → training rows.

    llm-train process --dataset PIPPA --data_files llm/data/samples/pippa_sample.jsonl \\
        --tokenizer tiny:metaspace --template pygmalion --max_length 2048 --stack --output runs/pippa

The pipeline is :func:`llm.data.process.process`; this prints what it did, drops by reason included.
"""

from __future__ import annotations

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.data.process import DataArguments, ProcessArguments, process
from llm.errors import UserError

PROG = "llm-train process"


def print_summary(stats: dict, output: str) -> None:
    p = print
    p(f"{'(cached) ' if stats.get('cached') else ''}wrote {output}")
    p(
        f"  records   read {stats['records_read']}   kept {stats['records_kept']}   "
        f"dropped {sum(stats['records_dropped'].values())}"
    )
    for reason, n in stats["records_dropped"].items():
        p(f"            dropped {n}: {reason}")
    for change, n in stats.get("records_changed", {}).items():
        p(f"            changed {n}: {change}")
    p(f"  rows      {', '.join(f'{k} {v}' for k, v in stats['rows'].items())}   (samples {stats['samples']})")
    p(f"  tokens    {stats['tokens']}   trained {stats['trained_tokens']} ({stats['trained_fraction']:.1%})")
    if stats["windows"]:
        w = stats["windows"]
        p(
            f"  windows   {w['windows']} from {w['chats_split']} long chats split; "
            f"{w['untrained_windows_skipped']} windows with nothing to train skipped"
        )
    p(f"  truncated {stats['truncated_samples']} samples ({stats['truncated_tokens']} tokens cut)")
    if stats["packing_efficiency"] is not None:
        p(f"  packing   efficiency {stats['packing_efficiency']:.2%} of {stats['max_length']}-token rows")
    p(
        f"  lengths   min {stats['sample_length']['min']}  median {stats['sample_length']['median']}  "
        f"max {stats['sample_length']['max']}   (histogram: {output}/lengths.png)"
    )


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args, run = parse((DataArguments, ProcessArguments), argv_or_sys(argv), PROG)
        if not run.output:
            raise UserError("--output is required: the directory to write the dataset to")
        stats = process(args, run)
        print_summary(stats, run.output)
        return 0

    return run_command(PROG, body)
