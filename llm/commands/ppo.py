"""``llm-train ppo``: RLHF with PPO against a reward model, server or function (:mod:`llm.train.ppo.trainer`).

llm-train ppo --model_name_or_path runs/sft --reward_url http://127.0.0.1:8000 --output_dir runs/ppo
"""

from __future__ import annotations

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.train.args import shutdown_distributed
from llm.train.ppo.trainer import PPOArguments, train

PROG = "llm-train ppo"


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        (args,) = parse((PPOArguments,), argv_or_sys(argv), PROG)
        train(args)
        shutdown_distributed()
        return 0

    return run_command(PROG, body)
