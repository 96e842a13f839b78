"""Supervised fine-tuning and pre-training of a causal LM with the Hugging Face Trainer
(``llm-train sft`` / ``llm-train pretrain``).

    llm-train sft configs/sft_tiny.yaml [--flag value ...]
    llm-train pretrain --model_config small --data_files docs.jsonl --tokenizer DIR ...

Top to bottom (:func:`run`): arguments (checked before anything loads) → data (a ``process`` directory, or
the raw-data options processed on the fly into the cache) → tokenizer (with the template's control tokens)
→ model (loaded or initialised; embeddings resized; ``use_cache=False``; optional LoRA) →
``transformers.Trainer`` with the padding-free collator → a standard Hugging Face checkpoint whose
tokenizer ``chat_template`` renders exactly as training did, plus ``llm_train.json`` (stage ``sft`` or
``pretrain``) and ``loss_curve.png``.

Multi-GPU and multi-node runs are the same command under ``torchrun`` or ``deepspeed`` with
``--deepspeed configs/deepspeed/zero3.json`` (see ``scripts/run_finetune.sh``).
"""

from __future__ import annotations

from pathlib import Path

from transformers import set_seed

from llm.data.collate import LogitsAtLabels, PaddedCollator, accepts_logits_to_keep, padding_free_for
from llm.data.process import DataArguments
from llm.data.tokenizer import load_tokenizer
from llm.models.checkpoint import require_kind
from llm.models.loading import ModelArguments, build_model
from llm.train.args import StageArguments
from llm.train.callbacks import LossCurveCallback, RoleplayEvalCallback, RunFilesCallback
from llm.train.common import (
    claim_output,
    load_rows,
    prepare_data,
    require_validation,
    save_run,
    set_chat_template,
    validate,
)
from llm.train.saving import Trainer

# What `pretrain` means: the same loop, on plain text, every token trained (flags can still override).
PRETRAIN_DEFAULTS = ["--dataset", "text", "--mask", "all", "--template", "plain"]


def run(
    model_args: ModelArguments,
    data: DataArguments,
    training: StageArguments,
    callbacks: list | None = None,
    stage: str = "sft",
    data_defaults: DataArguments | None = None,
) -> dict:
    """One stage, top to bottom; returns the final metrics."""
    validate(model_args, data, training, data_defaults)
    if model_args.model_name_or_path:
        require_kind(model_args.model_name_or_path, "causal_lm", "--model_name_or_path", stage)
    claim_output(training, model_args, data)
    set_seed(training.seed)
    data_dir = prepare_data(data, training)
    train_rows, eval_rows, stats = load_rows(data_dir, need={"input_ids", "labels"})
    chat = stats.get("source") != "text"
    if training.roleplay_eval:
        template = stats.get("template") if chat else None
        callbacks = [*(callbacks or []), RoleplayEvalCallback.from_training(training, template)]
    tokenizer = load_tokenizer(str(data_dir / "tokenizer"))
    if stats.get("template") and chat:
        set_chat_template(tokenizer, stats["template"])
    model = build_model(model_args, tokenizer, bf16=training.bf16, fp16=training.fp16)

    if training.padding_free:
        collator = padding_free_for(model, tokenizer)
    else:
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        collator = PaddedCollator(pad_id)
    if accepts_logits_to_keep(model) and not training.use_liger_kernel:  # Liger fuses the LM head its own way
        collator = LogitsAtLabels(collator)  # the LM head and the loss only where a token is trained
    require_validation(eval_rows, training, data_dir)
    trainer = Trainer(
        model=model,
        args=training,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[LossCurveCallback(), RunFilesCallback(), *(callbacks or [])],
    )
    result = trainer.train(resume_from_checkpoint=training.resume_from_checkpoint)
    metrics = dict(result.metrics)
    if eval_rows is not None:
        metrics.update(trainer.evaluate())
    merge = bool(model_args.lora_r and model_args.lora_merge_on_save)
    save_run(trainer, tokenizer, Path(training.output_dir), stats, stage, metrics, merge_lora=merge)
    return metrics
