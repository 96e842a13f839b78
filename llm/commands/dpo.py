"""``llm-train dpo``: preference optimisation on multi-turn chats (:mod:`llm.train.dpo`).

llm-train dpo configs/dpo_tiny.yaml
llm-train dpo --model_name_or_path runs/sft --data_files pairs.jsonl --loss_type simpo --beta 2.0 ...
"""

from __future__ import annotations

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.data.process import DataArguments
from llm.models.loading import ModelArguments
from llm.train.args import StageArguments, shutdown_distributed
from llm.train.dpo import DPO_DEFAULTS, DPOArguments, run

PROG = "llm-train dpo"


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        types = (ModelArguments, DataArguments, StageArguments, DPOArguments)
        model, data, training, options = parse(types, argv_or_sys(argv), PROG, DPO_DEFAULTS)
        (data_defaults,) = parse((DataArguments,), [], PROG, DPO_DEFAULTS)
        run(model, data, training, options, data_defaults=data_defaults)
        shutdown_distributed()
        return 0

    return run_command(PROG, body)
