"""``llm-train sft`` and ``llm-train pretrain``: fine-tune (or pre-train) a causal LM with the HF Trainer.

    llm-train sft configs/sft_tiny.yaml [--flag value ...]
    llm-train pretrain --model_config small --dataset text --data_files docs.jsonl --tokenizer DIR ...

Top to bottom: arguments (checked before anything loads) → data (a ``process_chats`` directory, or the
raw-data options processed on the fly through the same cache) → tokenizer (with the template's control
tokens) → model (loaded or initialised; embeddings resized; ``use_cache=False``; optional LoRA) →
``transformers.Trainer`` with the padding-free collator → save a standard Hugging Face checkpoint whose
tokenizer ``chat_template`` renders exactly as training did, plus ``llm_train.json`` and ``loss_curve.png``.

Multi-GPU and multi-node runs are the same command under ``torchrun`` or ``deepspeed`` with
``--deepspeed configs/deepspeed/zero3.json`` (see ``scripts/run_finetune.sh``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from llm.data.process_chats import DataArguments, ProcessArguments, process
from llm.models.loading import ModelArguments, build_model
from llm.train.args import StageArguments, parse, shutdown_distributed

# What `pretrain` means: the same loop, on plain text, every token trained (flags can still override).
PRETRAIN_DEFAULTS = ["--dataset", "text", "--mask", "all", "--template", "plain"]
CHECKPOINT_INFO = "llm_train.json"


def validate(model: ModelArguments, data: DataArguments, training: StageArguments) -> None:
    """Every check that can fail before a model or dataset loads, with what to change."""
    model.validate()
    if training.dataset_path:
        path = Path(training.dataset_path)
        if not (path / "stats.json").exists():
            raise FileNotFoundError(f"--dataset_path {path}: not a process_chats output (no stats.json)")
        if data.data_files:
            raise ValueError(
                "give either --dataset_path (processed data) or --data_files (raw data), not both"
            )
    else:
        if not data.tokenizer:
            if model.model_config:
                raise ValueError(
                    "--model_config trains from scratch: give --tokenizer (hub id, dir, or tiny:*)"
                )
            data.tokenizer = model.model_name_or_path
        data.validate()
    if training.deepspeed and isinstance(training.deepspeed, str) and not Path(training.deepspeed).exists():
        raise FileNotFoundError(f"--deepspeed {training.deepspeed}: no such file")
    if training.roleplay_eval and training.eval_strategy == "no":
        raise ValueError("--roleplay_eval runs at each evaluation: set --eval_strategy steps (or epoch)")
    if model.lora_r and model.model_config:
        raise ValueError("--lora_r adapts a pretrained model; with --model_config train all weights instead")


def prepare_data(data: DataArguments, training: StageArguments) -> Path:
    """The processed dataset directory: given, or made (cached) under ``output_dir/data``."""
    if training.dataset_path:
        return Path(training.dataset_path)
    out = Path(training.output_dir) / "data"
    with training.main_process_first(desc="processing data"):  # rank 0 processes, the others hit the cache
        process(data, ProcessArguments(output=str(out), overwrite=True, seed=training.seed))
    return out


def load_rows(path: Path) -> tuple[Any, Any, dict]:
    import datasets

    splits = datasets.load_from_disk(str(path))
    stats = json.loads((path / "stats.json").read_text())
    columns = set(splits["train"].column_names)
    if not {"input_ids", "labels"} <= columns:
        raise ValueError(
            f"{path}: rows have {', '.join(sorted(columns))}; SFT needs input_ids and labels "
            "(preference pairs train a reward model: llm-train rm)"
        )
    return splits["train"], splits.get("validation"), stats


def save_checkpoint(trainer: Any, model_args: ModelArguments, tokenizer: Any, stats: dict, out: Path) -> None:
    """A standard Hugging Face directory: weights, config, tokenizer with our template as its chat_template."""
    model = trainer.model
    if model_args.lora_r and model_args.lora_merge_on_save:
        model = model.merge_and_unload()
        model.save_pretrained(str(out))
    else:
        trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(out))
        write_run_files(out, stats, stage="sft")


def write_run_files(
    out: Path, stats: dict, stage: str, metrics: dict | None = None, history: list | None = None
):
    """``llm_train.json`` (what the checkpoint was trained with), and the metrics and log history."""
    info = {
        "stage": stage,
        **{k: stats.get(k) for k in ("template", "mask", "max_length", "source", "fingerprint")},
    }
    (out / CHECKPOINT_INFO).write_text(json.dumps(info, indent=2) + "\n")
    if metrics is not None:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if history is not None:
        (out / "log_history.json").write_text(json.dumps(history, indent=1) + "\n")


def require_validation(eval_rows: Any, training: StageArguments) -> None:
    if eval_rows is None and (training.eval_strategy != "no" or training.do_eval):
        raise ValueError("evaluation needs a validation split: set --validation_split (e.g. 0.05)")


def set_chat_template(tokenizer: Any, template_name: str) -> None:
    """The template as Jinja on the tokenizer, so `apply_chat_template` renders as training did."""
    from llm.data.jinja import to_jinja
    from llm.data.templates import get_template

    tokenizer.chat_template = to_jinja(get_template(template_name, tokenizer))


def run(
    model_args: ModelArguments, data: DataArguments, training: StageArguments, callbacks: list | None = None
) -> dict:
    """One stage, top to bottom; returns the final metrics."""
    from transformers import Trainer, set_seed

    from llm.data.collate import PaddedCollator, padding_free_for
    from llm.models.tokenizer import load_tokenizer
    from llm.train.curves import LossCurveCallback

    validate(model_args, data, training)
    set_seed(training.seed)
    data_dir = prepare_data(data, training)
    train_rows, eval_rows, stats = load_rows(data_dir)
    if training.roleplay_eval:
        from llm.eval.roleplay_eval import RoleplayEvalCallback

        template = stats.get("template") if stats.get("source") != "text" else None
        callbacks = [*(callbacks or []), RoleplayEvalCallback.from_training(training, template)]
    tokenizer = load_tokenizer(str(data_dir / "tokenizer"))
    if stats.get("template") and stats.get("source") != "text":
        set_chat_template(tokenizer, stats["template"])
    model = build_model(model_args, tokenizer, bf16=training.bf16, fp16=training.fp16)

    if training.padding_free:
        collator = padding_free_for(model, tokenizer)
    else:
        collator = PaddedCollator(
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
    require_validation(eval_rows, training)
    trainer = Trainer(
        model=model,
        args=training,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[LossCurveCallback(), *(callbacks or [])],
    )
    result = trainer.train(resume_from_checkpoint=training.resume_from_checkpoint)
    metrics = dict(result.metrics)
    if eval_rows is not None:
        metrics.update(trainer.evaluate())
    out = Path(training.output_dir)
    save_checkpoint(trainer, model_args, tokenizer, stats, out)
    if trainer.is_world_process_zero():
        write_run_files(out, stats, "sft", metrics, trainer.state.log_history)
    return metrics


def main(argv: list[str] | None = None, stage: str = "sft") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = f"llm-train {stage}"
    defaults = PRETRAIN_DEFAULTS if stage == "pretrain" else []
    try:
        model_args, data, training = parse(
            (ModelArguments, DataArguments, StageArguments), argv, prog, defaults
        )
        run(model_args, data, training)
        shutdown_distributed()
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    return 0
