"""``llm-train gatt-synthesize``: chats + an instruction pool → a Ghost Attention training set
(:mod:`llm.train.gatt_synthesis` has the recipe).

    llm-train gatt-synthesize --data_files chats.jsonl --model runs/sft --output runs/gatt-data
    llm-train gatt-synthesize --dataset PIPPA --data_files pippa.jsonl --model runs/sft --output runs/gatt-rp
    llm-train gatt-synthesize --data_files chats.jsonl --api_base http://127.0.0.1:8000/v1 \\
        --api_model Qwen/Qwen2.5-72B-Instruct --tokenizer runs/sft --template chatml --output runs/gatt-data
"""

from __future__ import annotations

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.train.gatt_synthesis import SynthesisArguments, synthesize

PROG = "llm-train gatt-synthesize"


def print_summary(stats: dict, output: str) -> None:
    s = stats["gatt_synthesis"]
    dropped = sum(s["dialogues_dropped"].values())
    print(f"wrote {output} ({s['samples']} GAtt samples; {output}/gatt.jsonl has them as chat records)")
    print(f"  dialogues  read {s['dialogues_read']}   used {s['dialogues_used']}   dropped {dropped}")
    for reason, n in s["dialogues_dropped"].items():
        print(f"             {n}: {reason}")
    ended = sum(s["dialogues_ended_early"].values())
    if ended:
        print(f"  ended early (their replies before the end are kept) {ended}:")
        for reason, n in s["dialogues_ended_early"].items():
            print(f"             {n}: {reason}")
    print(f"  replies    {s['replies_sampled']} sampled by {s['sampler']}")
    print(
        f"             {s['replies_checked']} checked by program, {s['replies_failing_first_try']} failed "
        f"at first, {s['replies_resampled']} re-sampled"
    )
    if s["replies_cut_at_sentence"]:
        print(
            f"             {s['replies_cut_at_sentence']} ran into --max_new_tokens, cut at their last full sentence"
        )
    print(f"  instructions {', '.join(f'{k} {v}' for k, v in s['instructions'].items())}")
    print(
        f"  samples    {s['samples']} ({s['samples_shortened_to_fit']} shortened to fit --max_length by leaving "
        f"out old exchanges; {s['samples_too_long_left_out']} too long even so, left out)"
    )
    print(
        f"  tokens     {stats['tokens']}   trained {stats['trained_tokens']} ({stats['trained_fraction']:.1%})"
    )


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        (args,) = parse((SynthesisArguments,), argv_or_sys(argv), PROG)
        print_summary(synthesize(args), args.output)
        return 0

    return run_command(PROG, body)
