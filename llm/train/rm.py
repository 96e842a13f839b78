"""``llm-train rm``: a reward model on human comparisons (Bradley–Terry), step 2 of "Learning to Summarize
from Human Feedback" (Stiennon et al. 2020).

    llm-train rm --model_name_or_path runs/sft --dataset tldr_comparisons \\
        --data_files llm/data/samples/tldr_comparisons_sample.jsonl --template plain --output_dir runs/rm

Top to bottom, like ``sft``: arguments → preference data (``process`` rows with ``chosen_*`` and
``rejected_*``; identical or empty pairs dropped and counted there) → reward model (causal LM body + scalar
head, see :mod:`llm.models.reward`) → ``RewardTrainer`` (a Trainer whose only change is the loss) → the
normalisation bias (chosen rewards of the training set average 0) → checkpoint, metrics, calibration table.

The loss, per pair: ``−log σ(r_chosen − r_rejected − margin)``; metrics: accuracy (``r_chosen > r_rejected``),
mean margin, reward mean and std.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import set_seed

from llm.data.collate import pad
from llm.data.process import DataArguments
from llm.data.tokenizer import load_tokenizer
from llm.errors import UserError
from llm.models.loading import ModelArguments
from llm.models.reward import build_reward_model, forward_rewards
from llm.train.args import StageArguments
from llm.train.callbacks import LossCurveCallback, RunFilesCallback
from llm.train.common import claim_output, load_rows, prepare_data, require_validation, save_run, validate
from llm.train.saving import Trainer

RM_DEFAULTS = ["--dataset", "tldr_comparisons", "--template", "plain", "--max_length", "1024"]


@dataclass
class RewardArguments:
    margin: float = field(default=0.0, metadata={"help": "margin in −log σ(r_chosen − r_rejected − margin)"})
    normalize_samples: int = field(
        default=2048, metadata={"help": "training pairs used to centre chosen rewards at 0 (0: skip)"}
    )
    calibration_bins: int = field(default=5, metadata={"help": "bins of the calibration table"})


def preference_loss(chosen: torch.Tensor, rejected: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Mean ``−log σ(r_c − r_r − margin)``.

    >>> round(float(preference_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]))), 4)  # (0.3133 + 0.6931) / 2
    0.5032
    """
    return -torch.nn.functional.logsigmoid(chosen - rejected - margin).mean()


def preference_metrics(chosen: torch.Tensor, rejected: torch.Tensor) -> dict[str, float]:
    """Accuracy (ties count as wrong), mean margin, and the mean / std of all rewards.

    >>> round(preference_metrics(torch.tensor([2.0, 0.0, 1.0]), torch.tensor([1.0, 1.0, 1.0]))["accuracy"], 4)
    0.3333
    """
    both = torch.cat([chosen, rejected])
    return {
        "accuracy": float((chosen > rejected).float().mean()),
        "margin": float((chosen - rejected).mean()),
        "reward_mean": float(both.mean()),
        "reward_std": float(both.std()) if both.numel() > 1 else 0.0,
    }


@dataclass
class PairCollator:
    """Chosen and rejected rows of a batch, right-padded together: ``input_ids`` [2B, T], chosen first."""

    pad_token_id: int

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        rows = [f["chosen_input_ids"] for f in features] + [f["rejected_input_ids"] for f in features]
        ids, mask = pad(rows, self.pad_token_id)
        return {"input_ids": ids, "attention_mask": mask}


class RewardTrainer(Trainer):
    """The Trainer with the pairwise loss; everything else (DeepSpeed, logging, saving) is the Trainer's."""

    def __init__(self, *args, margin: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.margin = margin
        # Our loss is a mean over the batch's pairs: the Trainer must divide it by the accumulation steps
        # itself. It does while batches carry no `labels`; this keeps it so if they ever do.
        self.model_accepts_loss_kwargs = False

    def _rewards(self, model, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        rewards = forward_rewards(model, inputs["input_ids"], inputs["attention_mask"])  # [2B]
        half = rewards.shape[0] // 2
        return rewards[:half], rewards[half:]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        chosen, rejected = self._rewards(model, inputs)
        loss = preference_loss(chosen, rejected, self.margin)
        return (loss, {"chosen": chosen, "rejected": rejected}) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            chosen, rejected = self._rewards(model, inputs)
            loss = preference_loss(chosen, rejected, self.margin)
        pairs = torch.stack([chosen, rejected], dim=1)  # [B, 2]
        return loss.detach(), pairs, torch.zeros(pairs.shape[0], device=pairs.device)


def compute_metrics(prediction) -> dict[str, float]:
    pairs = torch.as_tensor(prediction.predictions)
    return preference_metrics(pairs[:, 0], pairs[:, 1])


def calibration_table(chosen: torch.Tensor, rejected: torch.Tensor, bins: int = 5) -> list[dict[str, float]]:
    """Accuracy by confidence bin: confidence = σ(|r_c − r_r|), the model's probability for its own pick.

    A calibrated model is right about as often as it is confident.
    """
    diff = chosen - rejected
    confidence = torch.sigmoid(diff.abs())
    correct = (diff > 0).float()
    edges = torch.linspace(0.5, 1.0, bins + 1)
    table = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence >= lo) & ((confidence < hi) | (hi == 1.0))
        n = int(inside.sum())
        table.append(
            {
                "confidence_from": round(float(lo), 3),
                "confidence_to": round(float(hi), 3),
                "pairs": n,
                "mean_confidence": round(float(confidence[inside].mean()), 4) if n else None,
                "accuracy": round(float(correct[inside].mean()), 4) if n else None,
            }
        )
    return table


@torch.no_grad()
def pair_rewards(
    model: Any, rows: Any, collator: PairCollator, batch_size: int = 16
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw chosen and rejected rewards of every pair in ``rows``."""
    model.eval()
    device = next(model.parameters()).device
    chosen, rejected = [], []
    for start in range(0, len(rows), batch_size):
        batch = collator([rows[i] for i in range(start, min(len(rows), start + batch_size))])
        rewards = forward_rewards(model, batch["input_ids"].to(device), batch["attention_mask"].to(device))
        half = rewards.shape[0] // 2
        chosen.append(rewards[:half].cpu())
        rejected.append(rewards[half:].cpu())
    return torch.cat(chosen), torch.cat(rejected)


def run(
    model_args: ModelArguments,
    data: DataArguments,
    training: StageArguments,
    reward: RewardArguments,
    data_defaults: DataArguments | None = None,
) -> dict:
    if model_args.lora_r:
        raise UserError("--lora_r for reward models is not supported yet; train all weights")
    validate(model_args, data, training, data_defaults)
    claim_output(training, model_args, data)
    set_seed(training.seed)
    data_dir = prepare_data(data, training)
    need = {"chosen_input_ids", "rejected_input_ids"}
    try:
        train_rows, eval_rows, stats = load_rows(data_dir, need)
    except UserError as e:
        raise UserError(
            f"{e} (a reward model trains on a comparisons source, e.g. tldr_comparisons)"
        ) from None
    tokenizer = load_tokenizer(str(data_dir / "tokenizer"))
    model = build_reward_model(
        model_args.model_name_or_path,
        tokenizer,
        config_name=model_args.model_config,
        trust_remote_code=model_args.trust_remote_code,
    )
    collator = PairCollator(model.config.pad_token_id)
    require_validation(eval_rows, training, data_dir)
    training.remove_unused_columns = False  # the pair columns are not the model's forward arguments
    # sft.run's wiring with the pairwise loss: the same Trainer arguments, another Trainer class.
    trainer = RewardTrainer(
        model=model,
        args=training,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        data_collator=collator,
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        callbacks=[LossCurveCallback(), RunFilesCallback()],
        margin=reward.margin,
    )
    result = trainer.train(resume_from_checkpoint=training.resume_from_checkpoint)
    metrics = dict(result.metrics)

    # Centre the reference (chosen) summaries of the training set at 0: RM(reference) = 0 (Huang et al.).
    if reward.normalize_samples:
        subset = train_rows.select(range(min(len(train_rows), reward.normalize_samples)))
        chosen, _ = pair_rewards(trainer.model, subset, collator)
        model.config.reward_bias = -float(chosen.mean())
        metrics["reward_bias"] = model.config.reward_bias
    out = Path(training.output_dir)
    if eval_rows is not None:
        chosen, rejected = pair_rewards(trainer.model, eval_rows, collator)
        metrics.update({f"eval_{k}": v for k, v in preference_metrics(chosen, rejected).items()})
        table = calibration_table(chosen, rejected, reward.calibration_bins)
        if trainer.is_world_process_zero():
            out.mkdir(parents=True, exist_ok=True)
            (out / "calibration.json").write_text(json.dumps(table, indent=2) + "\n")
            print_calibration(table)
        print(f"eval accuracy {metrics['eval_accuracy']:.3f} on {len(eval_rows)} held-out pairs")
    save_run(trainer, tokenizer, out, stats, "rm", metrics)
    return metrics


def print_calibration(table: list[dict]) -> None:
    print("confidence      pairs  accuracy")
    for row in table:
        acc = "   -" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        print(f"{row['confidence_from']:.2f}–{row['confidence_to']:.2f}    {row['pairs']:6d}  {acc}")
