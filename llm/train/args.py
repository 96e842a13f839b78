"""Arguments of the Trainer-based stages: ``TrainingArguments`` plus ours (read from YAML and/or flags by
:func:`llm.commands.cli.parse`), and the clean end of a distributed run.

Every standard ``TrainingArguments`` flag works (``--deepspeed``, ``--bf16``, ``--gradient_checkpointing``,
``--report_to``, ``--resume_from_checkpoint``, ``--save_total_limit`` …).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments


@dataclass
class StageArguments(TrainingArguments):
    """``TrainingArguments`` plus what our stages add."""

    dataset_path: str | None = field(
        default=None, metadata={"help": "a process output directory (instead of the raw-data options)"}
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "replace a run of ours in --output_dir (never a folder of other files)"},
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


def shutdown_distributed() -> None:
    """Leave the process group cleanly at the end of a stage: without this, a communication thread still
    alive when the interpreter exits can abort a rank ("terminate called without an active exception")."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
