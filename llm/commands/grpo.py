"""``llm-train grpo``: online RL without a critic — GRPO, Dr. GRPO, DAPO, RLOO, REINFORCE++ (:mod:`llm.train.grpo.trainer`).

    llm-train grpo --model_name_or_path runs/sft --data_files prompts.jsonl --reward_fn check:ending=? \\
        --num_generations 8 --output_dir runs/grpo
"""

from __future__ import annotations

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.train.args import shutdown_distributed
from llm.train.grpo.trainer import GRPOArguments, train

PROG = "llm-train grpo"


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        (args,) = parse((GRPOArguments,), argv_or_sys(argv), PROG)
        train(args)
        shutdown_distributed()
        return 0

    return run_command(PROG, body)
