"""Trainer wiring every stage shares: checks before anything loads, processed data, the saved run files.

A stage (``sft``/``pretrain``, ``rm``) is, top to bottom: :func:`validate` → :func:`prepare_data` (a
``process`` output given with ``--dataset_path``, or the raw-data options processed into the cache) →
tokenizer → model → ``transformers.Trainer`` → :func:`save_run` (weights, tokenizer with our template,
``llm_train.json``, metrics, log history).
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from llm.data.jinja import to_jinja
from llm.data.output import check_run_target, claim_run, finish_run, input_paths, is_main_process
from llm.data.process import DataArguments, ProcessArguments, load_processed, process
from llm.data.templates import get_template
from llm.errors import UserError
from llm.models.checkpoint import write_info
from llm.models.loading import ModelArguments, check_context
from llm.train.args import StageArguments, join_process_group
from llm.train.resume import check_resume
from llm.train.saving import STAGING_NAMES, save_final


def validate(
    model: ModelArguments,
    data: DataArguments,
    training: StageArguments,
    data_defaults: DataArguments | None = None,
) -> None:
    """Every check that can fail before a model or dataset loads, with what to change.

    ``data_defaults`` are the data options as the stage sets them before the user's flags: with
    ``--dataset_path``, any raw-data option that differs from them would be ignored, so it is an error.
    """
    model.validate()
    validate_training(training)
    join_process_group(training)  # --ddp_timeout on CPU too: a silent peer ends the run, never holds it
    if training.dataset_path:
        path = Path(training.dataset_path)
        if not (path / "stats.json").is_file():
            raise UserError(f"--dataset_path {path}: not a process output (no stats.json)")
        defaults = data_defaults or DataArguments()
        given = [
            f"--{f.name}" for f in fields(DataArguments) if getattr(data, f.name) != getattr(defaults, f.name)
        ]
        if given:
            raise UserError(
                f"{' '.join(given)}: raw-data options, ignored with --dataset_path (already processed data); "
                "drop them, or drop --dataset_path to process raw data"
            )
        if wants_evaluation(training):
            rows = json.loads((path / "stats.json").read_text()).get("rows", {})
            if not rows.get("validation"):
                raise UserError(
                    f"evaluation needs a validation split, and --dataset_path {path} has none: "
                    "process it with --validation_split (e.g. 0.05), or set --eval_strategy no"
                )
    else:
        if not data.tokenizer:
            if model.model_config:
                raise UserError(
                    "--model_config trains from scratch: give --tokenizer (hub id, dir, or tiny:*)"
                )
            data.tokenizer = model.model_name_or_path
        data.validate()
        check_context(model, data.max_length)
        if wants_evaluation(training) and not data.validation_split:
            raise UserError(
                "evaluation needs a validation split: set --validation_split (e.g. 0.05), or --eval_strategy no"
            )
    if training.roleplay_eval and training.eval_strategy == "no":
        raise UserError("--roleplay_eval runs at each evaluation: set --eval_strategy steps (or epoch)")
    if model.lora_r and model.model_config:
        raise UserError("--lora_r adapts a pretrained model; with --model_config train all weights instead")


# What a Trainer run writes beside its checkpoints and final model, listed when it claims its folder.
# What a Trainer stage writes besides the model (listed in the marker when the run is claimed), and the hidden
# folders of its staged saves (llm.train.saving), so that a kill's debris never reads as a user's file.
RUN_FILES = (
    "loss_curve.png",
    "preference_curves.png",
    "roleplay_eval",
    "runs",
    "calibration.json",
    *STAGING_NAMES,
)


def claim_output(training: StageArguments, *arguments: object) -> None:
    """``--output_dir`` checked (a new or empty folder, or a run of ours that ``--overwrite`` replaces or
    ``--resume_from_checkpoint`` continues; never a folder holding an input named in ``arguments``) and
    claimed — by rank 0, before any data or model loads (:mod:`llm.data.output`)."""
    if not is_main_process():
        return
    out = Path(training.output_dir)
    resume = bool(training.resume_from_checkpoint)
    check_run_target(out, input_paths(*arguments, training), training.overwrite, resume)
    claim_run(out, training.overwrite, RUN_FILES)


def wants_evaluation(training: StageArguments) -> bool:
    return training.eval_strategy != "no" or bool(training.do_eval)  # an IntervalStrategy is a str


def validate_training(training: StageArguments) -> None:
    """The Trainer's numbers that it would take silently and misuse (0 steps, a negative learning rate …)."""
    if training.max_steps == 0 or training.max_steps < -1:
        raise UserError(
            f"--max_steps {training.max_steps}: give a number of steps ≥ 1, or leave it at -1 to train "
            "--num_train_epochs epochs"
        )
    if training.max_steps == -1 and training.num_train_epochs <= 0:
        raise UserError(f"--num_train_epochs {training.num_train_epochs}: must be > 0 (or set --max_steps)")
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
        if getattr(training, name) < 1:
            raise UserError(f"--{name} {getattr(training, name)}: must be 1 or more")
    if training.learning_rate < 0:
        raise UserError(f"--learning_rate {training.learning_rate}: must be ≥ 0")
    training.resume_from_checkpoint = check_resume(training.resume_from_checkpoint, training.output_dir)


def prepare_data(data: DataArguments, training: StageArguments) -> Path:
    """The processed dataset directory: given (``--dataset_path``), or processed into the cache — never into
    a folder that could hold the user's files. Rank 0 processes; the other ranks then hit the cache."""
    if training.dataset_path:
        return Path(training.dataset_path)
    with training.main_process_first(desc="processing data"):
        stats = process(data, ProcessArguments(output=None, seed=training.seed))
    print(f"processed data: {stats['output']}{' (cached)' if stats['cached'] else ''}")
    return Path(stats["output"])


def load_rows(path: Path, need: set[str]) -> tuple[Any, Any, dict]:
    """Train rows, validation rows (or None) and the stats of a processed directory."""
    return load_processed(path, need)


def require_validation(eval_rows: Any, training: StageArguments, data_dir: Path) -> None:
    """The processed data must hold the validation rows that evaluation will read."""
    if eval_rows is None and wants_evaluation(training):
        raise UserError(f"{data_dir}: evaluation needs a validation split, and this data has none")


def set_chat_template(tokenizer: Any, template_name: str) -> None:
    """The template as Jinja on the tokenizer, so ``apply_chat_template`` renders as training did."""
    tokenizer.chat_template = to_jinja(get_template(template_name, tokenizer))


def write_run_files(
    out: Path, stats: dict, stage: str, metrics: dict | None = None, history: list | None = None
) -> None:
    """``llm_train.json`` (what the checkpoint was trained with), and the metrics and log history."""
    write_info(out, stage, stats)
    if metrics is not None:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if history is not None:
        (out / "log_history.json").write_text(json.dumps(history, indent=1) + "\n")


def save_run(
    trainer: Any, tokenizer: Any, out: Path, stats: dict, stage: str, metrics: dict, merge_lora: bool = False
) -> None:
    """A standard Hugging Face directory (weights, config, tokenizer with our template as its
    ``chat_template``) plus the run files; LoRA adapters merged into the weights when ``merge_lora``.

    Written whole into a staging folder and swapped in, ``llm_train.json`` last (:func:`llm.train.saving.save_final`):
    a kill leaves the previous complete model, never new weights beside the old run files."""

    def write(staged: Path) -> None:
        if merge_lora:
            trainer.model.merge_and_unload().save_pretrained(str(staged))
        else:
            trainer.save_model(str(staged))
        if trainer.is_world_process_zero():
            tokenizer.save_pretrained(str(staged))
            write_run_files(staged, stats, stage, metrics, trainer.state.log_history)

    save_final(out, write, trainer.is_world_process_zero(), trainer.accelerator.wait_for_everyone)
    if trainer.is_world_process_zero():
        finish_run(out)  # last: every file of the run is now listed in its marker
