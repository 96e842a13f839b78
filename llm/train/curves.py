"""Loss curves as a PNG in the run directory, written when training ends (people look, not read)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback


def plot_losses(log_history: list[dict[str, Any]], path: Path, title: str = "") -> bool:
    """Train and eval loss against the step; False when there is nothing to plot."""
    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e and "step" in e]
    evals = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e and "step" in e]
    if not train and not evals:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", color="#4C72B0")
    if evals:
        ax.plot(*zip(*evals, strict=True), "o-", label="eval loss", color="#C44E52")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (mean over trained tokens)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


class LossCurveCallback(TrainerCallback):
    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            plot_losses(
                state.log_history, Path(args.output_dir) / "loss_curve.png", Path(args.output_dir).name
            )
