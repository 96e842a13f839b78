"""Preference optimisation on multi-turn chats (``llm-train dpo``): DPO, IPO, cDPO, hinge, SimPO, ORPO, KTO.

    llm-train dpo configs/dpo_tiny.yaml
    llm-train dpo --model_name_or_path runs/sft --data_files pairs.jsonl --loss_type sigmoid --beta 0.1 ...

Top to bottom (:func:`run`), like ``sft``: arguments (checked before anything loads) → preference rows
(``process`` output: chosen / rejected sides of a multi-turn prompt with a card, the prompt encoded once,
only the completions' assistant turns trained; or KTO's unpaired rows) → tokenizer → policy (LoRA optional)
and reference (``--ref_model_name_or_path``; default a frozen copy of the starting policy; with LoRA the
same weights with the adapters off, no second copy; none for SimPO / ORPO; with
``--precompute_ref_log_probs`` its log-probs are computed once and it is let go) → the Trainer, whose only
change is the loss (:class:`PreferenceTrainer`) → checkpoint, ``llm_train.json``, ``log_history.json``,
``loss_curve.png`` and ``preference_curves.png``.

Padding-free by default: each pair's chosen and rejected sequences lie end to end in one row (all of the
batch in one row under FlashAttention-2), ``position_ids`` restarting at 0, ``use_cache=False``, and the
log-probs are summed per sequence by segment (:func:`~llm.train.preference_losses.sequence_logps`). The
math of every loss is a pure function in :mod:`llm.train.preference_losses`; the metrics carry TRL's names
(``rewards/chosen``, ``rewards/rejected``, ``rewards/accuracies``, ``rewards/margins``, ``logps/chosen``,
``logps/rejected``, ``logits/chosen``, ``logits/rejected``; ``eval_…`` at evaluation).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import set_seed

from llm.data.collate import PreferenceCollator
from llm.data.process import DataArguments
from llm.data.tokenizer import load_tokenizer
from llm.errors import UserError
from llm.models.checkpoint import require_kind
from llm.models.loading import ModelArguments, build_model, check_model_source
from llm.models.resolve import resolve_model
from llm.models.reward import disable_dropout
from llm.train.args import StageArguments
from llm.train.callbacks import (
    LossCurveCallback,
    PreferenceCurveCallback,
    RoleplayEvalCallback,
    RunFilesCallback,
)
from llm.train.common import (
    claim_output,
    load_rows,
    prepare_data,
    require_validation,
    save_run,
    set_chat_template,
    validate,
)
from llm.train.preference_losses import (
    dpo_loss,
    hinge_loss,
    ipo_loss,
    kto_loss,
    orpo_odds_loss,
    sequence_logps,
    simpo_loss,
    target_logps,
)
from llm.train.saving import Trainer

# What `dpo` means when the flags say nothing: TRL-format preference data, ChatML.
DPO_DEFAULTS = ["--dataset", "preference", "--template", "chatml", "--max_length", "1024"]
PAIRED = {"chosen_input_ids", "chosen_labels", "rejected_input_ids", "rejected_labels"}
UNPAIRED = {"input_ids", "labels", "desirable", "prompt_length"}


@dataclass(frozen=True)
class Pairs:
    """A batch of pairs, one value per pair ([B] each): summed log-probs of the chosen and rejected completions
    under the policy, their trained tokens, and the reference's log-probs (None for a reference-free loss)."""

    chosen: torch.Tensor
    rejected: torch.Tensor
    chosen_tokens: torch.Tensor
    rejected_tokens: torch.Tensor
    ref_chosen: torch.Tensor | None = None
    ref_rejected: torch.Tensor | None = None


@dataclass(frozen=True)
class Loss:
    """One row of :data:`LOSSES`: whether the loss reads a reference model, and its per-pair losses
    (None for KTO, whose unpaired rows take their own path, :meth:`PreferenceTrainer.kto_loss`)."""

    reference: bool
    per_pair: Callable[[Pairs, DPOArguments], torch.Tensor] | None
    help: str


def _sigmoid(p: Pairs, o: DPOArguments) -> torch.Tensor:
    return dpo_loss(p.chosen, p.rejected, p.ref_chosen, p.ref_rejected, o.beta, o.label_smoothing)


def _ipo(p: Pairs, o: DPOArguments) -> torch.Tensor:
    return ipo_loss(
        p.chosen, p.rejected, p.ref_chosen, p.ref_rejected, p.chosen_tokens, p.rejected_tokens, o.beta
    )


def _hinge(p: Pairs, o: DPOArguments) -> torch.Tensor:
    return hinge_loss(p.chosen, p.rejected, p.ref_chosen, p.ref_rejected, o.beta)


def _simpo(p: Pairs, o: DPOArguments) -> torch.Tensor:
    return simpo_loss(
        p.chosen, p.rejected, p.chosen_tokens, p.rejected_tokens, o.beta, o.simpo_gamma, o.label_smoothing
    )


def _orpo(p: Pairs, o: DPOArguments) -> torch.Tensor:
    nll = -p.chosen.sum() / p.chosen_tokens.sum().clamp(min=1)  # the chosen side's SFT term, batch-wide
    return nll + o.orpo_alpha * orpo_odds_loss(p.chosen, p.rejected, p.chosen_tokens, p.rejected_tokens)


# Every loss type, one row: its name is a --loss_type choice; a name not here is an error, never a fallback.
LOSSES: dict[str, Loss] = {
    "sigmoid": Loss(reference=True, per_pair=_sigmoid, help="DPO (cDPO with --label_smoothing)"),
    "ipo": Loss(reference=True, per_pair=_ipo, help="IPO"),
    "hinge": Loss(reference=True, per_pair=_hinge, help="SLiC's hinge"),
    "simpo": Loss(reference=False, per_pair=_simpo, help="SimPO, no reference"),
    "orpo": Loss(reference=False, per_pair=_orpo, help="ORPO, no reference"),
    "kto": Loss(reference=True, per_pair=None, help="KTO, unpaired rows"),
}
LOSS_TYPES = tuple(LOSSES)
REFERENCE_FREE = tuple(name for name, row in LOSSES.items() if not row.reference)


def loss_row(name: str) -> Loss:
    """The table's row for ``--loss_type name``; an unknown name is the user's error, named.

    >>> loss_row("simpo").reference
    False
    >>> loss_row("dpo")
    Traceback (most recent call last):
    ...
    llm.errors.UserError: --loss_type 'dpo': choose one of sigmoid, ipo, hinge, simpo, orpo, kto
    """
    if name not in LOSSES:
        raise UserError(f"--loss_type {name!r}: choose one of {', '.join(LOSSES)}")
    return LOSSES[name]


@dataclass
class DPOArguments:
    """The preference-optimisation options (the rest are ``sft``'s: model, data, ``TrainingArguments``)."""

    loss_type: Literal[LOSS_TYPES] = field(  # the table's names: a choice of the flag
        default="sigmoid", metadata={"help": "; ".join(f"{k}: {v.help}" for k, v in LOSSES.items())}
    )
    beta: float = field(default=0.1, metadata={"help": "β: strength of the preference (SimPO: 2–2.5)"})
    label_smoothing: float = field(
        default=0.0, metadata={"help": "ε: assumed share of flipped labels (cDPO)"}
    )
    simpo_gamma: float = field(default=0.5, metadata={"help": "SimPO's target margin γ"})
    orpo_alpha: float = field(default=0.1, metadata={"help": "ORPO's λ on the odds-ratio term"})
    rpo_alpha: float = field(
        default=0.0, metadata={"help": "add α·NLL of the chosen completions (RPO); 0: off"}
    )
    desirable_weight: float = field(default=1.0, metadata={"help": "KTO: λ_D"})
    undesirable_weight: float = field(default=1.0, metadata={"help": "KTO: λ_U"})
    ref_model_name_or_path: str | None = field(
        default=None, metadata={"help": "reference model (default: a frozen copy of the starting policy)"}
    )
    precompute_ref_log_probs: bool = field(
        default=False,
        metadata={
            "help": "compute the reference log-probs once over the data, so no reference is held in training"
        },
    )

    def validate(self, model: ModelArguments) -> None:
        loss_row(self.loss_type)
        if self.beta <= 0:
            raise UserError(f"--beta {self.beta}: must be > 0")
        if not 0 <= self.label_smoothing < 0.5:
            raise UserError(f"--label_smoothing {self.label_smoothing}: must be in [0, 0.5)")
        for name in ("orpo_alpha", "rpo_alpha", "desirable_weight", "undesirable_weight", "simpo_gamma"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} {getattr(self, name)}: must be ≥ 0")
        reference_free = self.loss_type in REFERENCE_FREE
        if reference_free and (self.ref_model_name_or_path or self.precompute_ref_log_probs):
            raise UserError(
                f"--loss_type {self.loss_type} uses no reference model: drop the reference options"
            )
        if self.loss_type == "kto" and self.precompute_ref_log_probs:
            raise UserError(
                "--loss_type kto compares each batch with itself (its KL term): it needs a live reference"
            )
        if self.ref_model_name_or_path:
            self.ref_model_name_or_path = resolve_model(
                self.ref_model_name_or_path, "--ref_model_name_or_path"
            )
            check_model_source(
                self.ref_model_name_or_path, "--ref_model_name_or_path", model.trust_remote_code
            )


@dataclass
class Scored:
    """One forward's per-sequence numbers: summed log-probs, trained tokens, summed logit means."""

    logps: torch.Tensor
    tokens: torch.Tensor
    logits: torch.Tensor


def forward_sequences(model: Any, inputs: dict[str, torch.Tensor]) -> Scored:
    """Per-sequence log-probs of a :class:`~llm.data.collate.PreferenceCollator` batch through ``model``."""
    kwargs = {k: inputs[k] for k in ("input_ids", "position_ids", "attention_mask") if k in inputs}
    if "target_ids" in inputs:  # prompt shared: logits only where completion tokens are predicted
        logits = model(**kwargs, use_cache=False, logits_to_keep=inputs["logits_to_keep"]).logits  # [R, K, V]
        n = int(inputs["target_sequence"].max()) + 1
        picked = logits.reshape(-1, logits.shape[-1])[inputs["target_index"]]  # [N, V]
        return Scored(*target_logps(picked, inputs["target_ids"], inputs["target_sequence"], n))
    logits = model(**kwargs, use_cache=False).logits  # [R, T, V]
    n = int(inputs["sequence_ids"].max()) + 1
    return Scored(*sequence_logps(logits, inputs["labels"], inputs["sequence_ids"], n))


class PreferenceTrainer(Trainer):
    """The Trainer with a preference loss: everything else (DeepSpeed, accumulation, logging, saving) is
    the Trainer's own. The reference model is frozen and, under ZeRO-3, sharded by an inference-only
    DeepSpeed engine; with LoRA and no reference given it is the policy with its adapters disabled."""

    def __init__(self, *args: Any, options: DPOArguments, ref_model: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.options = options
        self.ref_model = ref_model
        self._ref_prepared = ref_model is None
        self._metrics: dict[str, dict[str, list[float]]] = {
            "train": defaultdict(list),
            "eval": defaultdict(list),
        }
        # Our loss is already a mean over the batch: the Trainer must scale it for accumulation itself.
        self.model_accepts_loss_kwargs = False

    # ── the loss ────────────────────────────────────────────────────────────────────────────────────────

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, metrics = self.preference_loss(model, inputs)
        mode = "train" if model.training else "eval"
        for key, value in metrics.items():
            self._metrics[mode][key].append(
                float(self.accelerator.gather_for_metrics(value.detach().reshape(1)).mean())
            )
        return (loss, {}) if return_outputs else loss

    def preference_loss(self, model: Any, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        o = self.options
        row = loss_row(o.loss_type)
        policy = forward_sequences(model, inputs)
        if row.per_pair is None:
            return self.kto_loss(model, inputs, policy)
        chosen, rejected = policy.logps[0::2], policy.logps[1::2]  # [B] each
        c_tokens, r_tokens = policy.tokens[0::2], policy.tokens[1::2]
        if row.reference:
            ref = self.reference_logps(model, inputs)
            pairs = Pairs(chosen, rejected, c_tokens, r_tokens, ref[0::2], ref[1::2])
            reward_c = o.beta * (chosen - pairs.ref_chosen).detach()
            reward_r = o.beta * (rejected - pairs.ref_rejected).detach()
        else:
            pairs = Pairs(chosen, rejected, c_tokens, r_tokens)
            reward_c, reward_r = (
                o.beta * chosen / c_tokens.clamp(min=1),
                o.beta * rejected / r_tokens.clamp(min=1),
            )
        losses = row.per_pair(pairs, o)
        loss = losses.mean()
        if o.rpo_alpha:
            loss = loss + o.rpo_alpha * (-chosen.sum() / c_tokens.sum().clamp(min=1))
        metrics = {
            "rewards/chosen": reward_c.mean(),
            "rewards/rejected": reward_r.mean(),
            "rewards/accuracies": (reward_c > reward_r).float().mean(),
            "rewards/margins": (reward_c - reward_r).mean(),
            "logps/chosen": chosen.detach().mean(),
            "logps/rejected": rejected.detach().mean(),
            "logits/chosen": policy.logits[0::2].sum() / c_tokens.sum().clamp(min=1),
            "logits/rejected": policy.logits[1::2].sum() / r_tokens.sum().clamp(min=1),
        }
        return loss, metrics

    def kto_loss(
        self, model: Any, inputs: dict[str, torch.Tensor], policy: Scored
    ) -> tuple[torch.Tensor, dict]:
        o = self.options
        desirable = inputs["desirable"]
        n = desirable.shape[0]  # sequences 0..n-1: the completions; n..2n-1: mismatched, for the KL estimate
        ref = self.reference_logps(model, inputs)
        kl = (policy.logps[n:] - ref[n:]).detach().mean()
        logps, ref_logps = policy.logps[:n], ref[:n]
        loss = kto_loss(
            logps, ref_logps, desirable, kl, o.beta, o.desirable_weight, o.undesirable_weight
        ).mean()
        rewards = o.beta * (logps - ref_logps).detach()
        metrics = {"kl": kl}
        for name, chosen in (("chosen", desirable), ("rejected", ~desirable)):
            if chosen.any():  # a batch may hold only one kind
                metrics[f"rewards/{name}"] = rewards[chosen].mean()
                metrics[f"logps/{name}"] = logps[chosen].detach().mean()
        return loss, metrics

    @torch.no_grad()
    def reference_logps(self, model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The reference's per-sequence log-probs: precomputed in the batch, or a live forward."""
        if "ref_logps" in inputs:
            return inputs["ref_logps"].to(torch.float32)
        if self.ref_model is None:  # LoRA: the starting policy is the policy without its adapters
            with self.accelerator.unwrap_model(model).disable_adapter():
                return forward_sequences(model, inputs).logps
        if not self._ref_prepared:
            self.ref_model = prepare_reference(self, self.ref_model)
            self._ref_prepared = True
        return forward_sequences(self.ref_model, inputs).logps

    # ── evaluation and logging ──────────────────────────────────────────────────────────────────────────

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "eval" if any(k.startswith("eval_") for k in logs) else "train"
        averaged = {k: sum(v) / len(v) for k, v in self._metrics[mode].items() if v}
        logs = {**logs, **({f"eval_{k}": v for k, v in averaged.items()} if mode == "eval" else averaged)}
        self._metrics[mode].clear()
        super().log(logs, start_time)


def prepare_reference(trainer: Trainer, ref: Any) -> Any:
    """The frozen reference on the trainer's device; under ZeRO-3 an inference-only DeepSpeed engine that
    shards it like the policy (no optimizer, no gradients)."""
    ref.requires_grad_(False)
    if trainer.is_deepspeed_enabled and trainer.accelerator.state.deepspeed_plugin.zero_stage == 3:
        import deepspeed  # optional: only DeepSpeed runs come here

        config = copy.deepcopy(trainer.accelerator.state.deepspeed_plugin.deepspeed_config)
        for key in ("optimizer", "scheduler"):
            config.pop(key, None)
        engine, *_ = deepspeed.initialize(model=ref, config=config)
        engine.eval()  # returns None on an engine
        return engine
    return ref.to(trainer.args.device).eval()


@torch.no_grad()
def precompute_reference(
    ref: Any, rows: Any, collator: PreferenceCollator, batch_size: int, device: Any
) -> Any:
    """``rows`` with ``ref_chosen_logps`` / ``ref_rejected_logps`` columns from one pass of ``ref``."""
    ref.to(device).eval()
    chosen, rejected = [], []
    for start in range(0, len(rows), batch_size):
        batch = collator([rows[i] for i in range(start, min(len(rows), start + batch_size))])
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        logps = forward_sequences(ref, batch).logps.cpu()
        chosen.extend(logps[0::2].tolist())
        rejected.extend(logps[1::2].tolist())
    return rows.add_column("ref_chosen_logps", chosen).add_column("ref_rejected_logps", rejected)


def paired_to_unpaired(rows: Any) -> Any:
    """KTO from pairs: each pair gives its chosen side as desirable and its rejected side as not."""

    def split(batch: dict[str, list]) -> dict[str, list]:
        out: dict[str, list] = {"input_ids": [], "labels": [], "desirable": [], "prompt_length": []}
        for k in range(len(batch["chosen_input_ids"])):
            for side, good in (("chosen", True), ("rejected", False)):
                out["input_ids"].append(batch[f"{side}_input_ids"][k])
                out["labels"].append(batch[f"{side}_labels"][k])
                out["desirable"].append(good)
                out["prompt_length"].append(batch["prompt_length"][k])
        return out

    return rows.map(split, batched=True, remove_columns=rows.column_names)


def run(
    model_args: ModelArguments,
    data: DataArguments,
    training: StageArguments,
    options: DPOArguments,
    callbacks: list | None = None,
    data_defaults: DataArguments | None = None,
) -> dict:
    """One stage, top to bottom; returns the final metrics."""
    options.validate(model_args)
    validate(model_args, data, training, data_defaults)
    for flag, path in (("--model_name_or_path", model_args.model_name_or_path),
                       ("--ref_model_name_or_path", options.ref_model_name_or_path)):  # fmt: skip
        if path:
            require_kind(path, "causal_lm", flag, "dpo")
    claim_output(training, model_args, data, options)
    set_seed(training.seed)
    data_dir = prepare_data(data, training)
    train_rows, eval_rows, stats = load_rows(data_dir, need=set())
    columns = set(train_rows.column_names)
    if not (columns >= PAIRED or columns >= UNPAIRED):
        raise UserError(
            f"{data_dir}: rows have {', '.join(sorted(columns))}; dpo needs preference pairs (a preference, "
            "hh_rlhf, tldr_comparisons or summarize_from_feedback source) or KTO rows (the kto source)"
        )
    if columns >= UNPAIRED and options.loss_type != "kto":
        raise UserError(f"{data_dir}: unpaired (KTO) rows train with --loss_type kto only")
    if options.loss_type == "kto" and columns >= PAIRED:
        train_rows = paired_to_unpaired(train_rows)
        eval_rows = paired_to_unpaired(eval_rows) if eval_rows is not None else None
    require_validation(eval_rows, training, data_dir)
    if training.roleplay_eval:
        callbacks = [*(callbacks or []), RoleplayEvalCallback.from_training(training, stats.get("template"))]

    tokenizer = load_tokenizer(str(data_dir / "tokenizer"))
    if stats.get("template"):
        set_chat_template(tokenizer, stats["template"])
    policy = build_model(model_args, tokenizer, bf16=training.bf16, fp16=training.fp16)
    disable_dropout(policy)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    flatten = getattr(policy.config, "_attn_implementation", None) == "flash_attention_2"
    collator = PreferenceCollator(flatten=flatten, padded=not training.padding_free, filler_token_id=pad_id)

    ref = None
    if options.loss_type not in REFERENCE_FREE:
        if options.ref_model_name_or_path:
            ref_args = ModelArguments(
                model_name_or_path=options.ref_model_name_or_path,
                attn_implementation=model_args.attn_implementation,
                torch_dtype=model_args.torch_dtype,
                trust_remote_code=model_args.trust_remote_code,
            )
            ref = build_model(ref_args, tokenizer, bf16=training.bf16, fp16=training.fp16)
        elif not model_args.lora_r:
            ref = copy.deepcopy(policy)  # the starting policy, frozen
        if ref is not None:
            disable_dropout(ref)
            ref.requires_grad_(False)
        if options.precompute_ref_log_probs:
            reference = ref if ref is not None else policy  # LoRA adapters start at zero: base = policy now
            with training.main_process_first(desc="reference log-probs"):
                train_rows = precompute_reference(
                    reference, train_rows, collator, training.per_device_eval_batch_size, training.device
                )
                if eval_rows is not None:
                    eval_rows = precompute_reference(
                        reference, eval_rows, collator, training.per_device_eval_batch_size, training.device
                    )
            ref = None
    training.remove_unused_columns = False  # the pair columns are not the model's forward arguments
    # sft.run's wiring with a preference loss: the same Trainer arguments, another Trainer class.
    trainer = PreferenceTrainer(
        model=policy,
        args=training,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[LossCurveCallback(), PreferenceCurveCallback(), RunFilesCallback(), *(callbacks or [])],
        options=options,
        ref_model=ref,
    )
    result = trainer.train(resume_from_checkpoint=training.resume_from_checkpoint)
    metrics = dict(result.metrics)
    if eval_rows is not None:
        metrics.update(trainer.evaluate())
    merge = bool(model_args.lora_r and model_args.lora_merge_on_save)
    save_run(trainer, tokenizer, Path(training.output_dir), stats, "dpo", metrics, merge_lora=merge)
    return metrics
