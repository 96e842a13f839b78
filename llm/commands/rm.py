"""``llm-train rm``: a reward model on human comparisons (:mod:`llm.train.rm`).

    llm-train rm --model_name_or_path runs/sft --data_files llm/data/samples/tldr_comparisons_sample.jsonl \\
        --output_dir runs/rm
"""

from __future__ import annotations

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.data.process import DataArguments
from llm.models.loading import ModelArguments
from llm.train.args import StageArguments, shutdown_distributed
from llm.train.rm import RM_DEFAULTS, RewardArguments, run

PROG = "llm-train rm"


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        types = (ModelArguments, DataArguments, StageArguments, RewardArguments)
        model, data, training, reward = parse(types, argv_or_sys(argv), PROG, RM_DEFAULTS)
        (data_defaults,) = parse((DataArguments,), [], PROG, RM_DEFAULTS)
        run(model, data, training, reward, data_defaults)
        shutdown_distributed()
        return 0

    return run_command(PROG, body)
