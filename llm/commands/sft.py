"""``llm-train sft`` and ``llm-train pretrain``: fine-tune (or pre-train) a causal LM (:mod:`llm.train.sft`).

    llm-train sft configs/sft_tiny.yaml [--flag value ...]
    llm-train pretrain --model_config small --data_files docs.jsonl --tokenizer DIR ...

Every argument is checked before a model or dataset loads.
"""

from __future__ import annotations

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.data.process import DataArguments
from llm.models.loading import ModelArguments
from llm.train.args import StageArguments, shutdown_distributed
from llm.train.sft import PRETRAIN_DEFAULTS, run


def main(argv: list[str] | None = None, stage: str = "sft") -> int:
    prog = f"llm-train {stage}"
    defaults = PRETRAIN_DEFAULTS if stage == "pretrain" else []

    def body() -> int:
        model, data, training = parse(
            (ModelArguments, DataArguments, StageArguments), argv_or_sys(argv), prog, defaults
        )
        (data_defaults,) = parse((DataArguments,), [], prog, defaults)
        run(model, data, training, stage=stage, data_defaults=data_defaults)
        shutdown_distributed()
        return 0

    return run_command(prog, body)


def pretrain(argv: list[str] | None = None) -> int:
    return main(argv, stage="pretrain")
