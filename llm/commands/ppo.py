"""``llm-train ppo``: RLHF with PPO against reward models, servers, functions or checks, weighted
(:mod:`llm.train.ppo.trainer`; the reward flags are ``grpo``'s, :mod:`llm.train.rewards`).

llm-train ppo --model_name_or_path runs/sft --reward_url http://127.0.0.1:8000 --output_dir runs/ppo
llm-train ppo --model_name_or_path runs/sft --reward_fn check:ending=? --output_dir runs/ppo-questions
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
