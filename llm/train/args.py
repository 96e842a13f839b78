"""Arguments for the training stages: dataclasses read by ``HfArgumentParser`` from YAML and/or flags.

    llm-train sft configs/sft_tiny.yaml --learning_rate 1e-3 --max_steps 50

The YAML file is a mapping of flag names to values; flags given on the command line override it. Every
standard ``TrainingArguments`` flag works (``--deepspeed``, ``--bf16``, ``--gradient_checkpointing``,
``--report_to``, ``--resume_from_checkpoint``, ``--save_total_limit`` …).

>>> yaml_to_argv({"max_steps": 10, "stack": True, "data_files": ["a.jsonl", "b.jsonl"], "hub_token": None})
['--max_steps', '10', '--stack', 'true', '--data_files', 'a.jsonl', 'b.jsonl']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainingArguments


@dataclass
class StageArguments(TrainingArguments):
    """``TrainingArguments`` plus what our stages add."""

    dataset_path: str | None = field(
        default=None, metadata={"help": "a process_chats output directory (instead of the raw-data options)"}
    )
    padding_free: bool = field(
        default=True, metadata={"help": "lay each batch end to end with position_ids (no padding)"}
    )
    roleplay_eval: bool = field(
        default=False,
        metadata={
            "help": "at each evaluation, also run the role-play evaluation (does the model keep an "
            "instruction given once?); reports in OUTPUT_DIR/roleplay_eval/"
        },
    )
    roleplay_eval_conversations: int = field(
        default=2, metadata={"help": "role-play evaluation: conversations per check"}
    )
    roleplay_eval_turns: list[int] = field(
        default_factory=lambda: [1, 2, 4],
        metadata={"help": "role-play evaluation: the turns measured (conversations run to the last)"},
    )
    roleplay_eval_max_new_tokens: int = field(
        default=48, metadata={"help": "role-play evaluation: longest reply, in tokens"}
    )


def yaml_to_argv(config: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for key, value in config.items():
        if value is None:
            continue
        argv.append(f"--{key}")
        if isinstance(value, bool):
            argv.append("true" if value else "false")
        elif isinstance(value, list | tuple):
            argv.extend(str(v) for v in value)
        else:
            argv.append(str(value))
    return argv


def parse(dataclass_types: tuple, argv: list[str], prog: str, defaults: list[str] | None = None) -> tuple:
    """Parse ``[CONFIG.yaml] [--flag value ...]`` into the dataclasses; flags override the file, and the file
    overrides the stage's ``defaults``."""
    import yaml
    from transformers import HfArgumentParser

    argv = list(argv)
    if argv and not argv[0].startswith("-"):
        path = Path(argv.pop(0))
        if path.suffix not in (".yaml", ".yml", ".json"):
            raise ValueError(f"{path}: the config file must be .yaml, .yml or .json")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such config file")
        config = yaml.safe_load(path.read_text()) or {}
        if not isinstance(config, dict):
            raise ValueError(f"{path}: expected a mapping of flag names to values")
        argv = yaml_to_argv(config) + argv
    argv = list(defaults or []) + argv
    parser = HfArgumentParser(dataclass_types, prog=prog)
    parsed = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    *values, unknown = parsed
    if unknown:
        raise ValueError(f"unknown arguments: {' '.join(unknown)} (see {prog} --help)")
    return tuple(values)


def shutdown_distributed() -> None:
    """Leave the process group cleanly at the end of a stage: without this, a communication thread still
    alive when the interpreter exits can abort a rank ("terminate called without an active exception")."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
