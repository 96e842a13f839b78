"""Where the online-RL loops (``ppo``, ``grpo``) put their numbers: ``metrics.jsonl``, one copy per rank when
there are several (they must agree), and accelerate's trackers (TensorBoard, W&B) when installed; metrics
reduced exactly over the processes (:func:`exact_means`); and the curves both loops draw, reward against KL
among them.

>>> trackers("none") is None
True
>>> smooth([0.0, 2.0, 4.0, 6.0], 3)
[0.0, 1.0, 2.0, 4.0]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import is_tensorboard_available, is_wandb_available


def trackers(report_to: str) -> list[str] | None:
    """accelerate's trackers for ``--report_to``, those installed; a note for a named one that is not."""
    available = {"tensorboard": bool(is_tensorboard_available()), "wandb": bool(is_wandb_available())}
    wanted = list(available) if report_to == "all" else [] if report_to == "none" else [report_to]
    missing = [t for t in wanted if not available[t]]
    if missing and report_to != "all":
        print(f"note: {', '.join(missing)} is not installed; metrics go to metrics.jsonl only")
    return [t for t in wanted if available[t]] or None


def record(accelerator: Any, out: Path, metrics: dict, stage: str) -> bool:
    """Write one iteration's metrics; True on the main process (which then prints its line)."""
    if accelerator.num_processes > 1:
        with (out / f"metrics-rank{accelerator.process_index}.jsonl").open("a") as f:
            f.write(json.dumps(metrics) + "\n")
    if not accelerator.is_main_process:
        return False
    with (out / "metrics.jsonl").open("a") as f:
        f.write(json.dumps(metrics) + "\n")
    if accelerator.log_with:
        accelerator.log(
            {f"{stage}/{k}": v for k, v in metrics.items() if k != "iteration"}, step=metrics["iteration"]
        )
    return True


# Sums a tensor over the data-parallel processes (identity in one process).
Reduce = Callable[[torch.Tensor], torch.Tensor]


def process_sum(accelerator: Any) -> Reduce:
    """Sums over the data-parallel processes (on the accelerator's device, as a collective needs)."""

    def reduce(t: torch.Tensor) -> torch.Tensor:
        return accelerator.reduce(t.to(accelerator.device), reduction="sum")

    return reduce


def exact_means(
    tallies: dict[str, tuple[Any, Any]], reduce: Reduce, optional: Collection[str] = ()
) -> dict[str, float]:
    """``{name: (sum, count)}`` of this process → ``{name: Σ sums ÷ Σ counts}`` over all processes, in one
    collective call (a mean of per-process means would weigh a process with fewer tokens as much). Every
    process must pass the same names in the same order; a name in ``optional`` that no process counted
    (an instruction nobody drew this iteration) is left out rather than logged as 0.

    >>> exact_means({"kl": (torch.tensor(3.0), 4), "empty": (0.0, 0)}, lambda t: t)
    {'kl': 0.75, 'empty': 0.0}
    >>> exact_means({"kl": (torch.tensor(3.0), 4), "empty": (0.0, 0)}, lambda t: t, optional={"empty"})
    {'kl': 0.75}
    """
    pairs = torch.tensor(
        [[float(total), float(count)] for total, count in tallies.values()], dtype=torch.float64
    )
    summed = reduce(pairs).tolist()
    return {
        name: (total / count if count else 0.0)
        for name, (total, count) in zip(tallies, summed, strict=True)
        if count or name not in optional
    }


def part_metric(name: str) -> str:
    """The metric of a reward source's values: ``reward/NAME``, or ``held_out/NAME`` (as named) for one never
    optimised.

    >>> part_metric("check:ending=?"), part_metric("held_out/rm")
    ('reward/check:ending=?', 'held_out/rm')
    """
    return name if name.startswith("held_out/") else f"reward/{name}"


def smooth(values: list[float], window: int) -> list[float]:
    """Trailing running mean over ``window`` values (fewer at the start)."""
    return [
        sum(values[max(0, i - window + 1) : i + 1]) / (i - max(0, i - window + 1) + 1)
        for i in range(len(values))
    ]


def reward_vs_kl(ax: Any, history: list[dict], kl_key: str, reward_key: str, kl_label: str) -> None:
    """Each reward's change since the start (running mean of 5 iterations, less the mean of the first 5) against
    the KL to the reference:
    the optimised reward and every ``held_out/NAME`` one. Healthy RLHF: both rise. Over-optimisation: the
    optimised reward keeps rising with KL while the held-out one flattens or falls."""
    kl = smooth([h[kl_key] for h in history], 5)
    series = {f"optimised ({reward_key})": reward_key}
    series.update({f"{k} (never optimised)": k for k in history[0] if k.startswith("held_out/")})
    for (label, key), color in zip(
        series.items(), ("#4C72B0", "#DD8452", "#55A868", "#C44E52"), strict=False
    ):
        raw = [h[key] for h in history]
        start = sum(raw[:5]) / len(raw[:5])  # the first five iterations, not one noisy batch
        ax.plot(kl, [v - start for v in smooth(raw, 5)], color=color, label=label, marker="o", markersize=2)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel(kl_label)
    ax.set_ylabel("reward change since the start")
    ax.set_title("reward vs KL (running mean of 5)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def plot_curves(
    history: list[dict], path: Path, panels: list[tuple[str, str]], kl: tuple[str, str], reward_key: str,
    title: str | None = None,
) -> None:  # fmt: skip
    """One row of curves: a panel per ``(metric, label)`` of ``panels``, then reward against KL (``kl``: the
    metric and its label): over-optimisation shows as reward bought with KL."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = [h["iteration"] for h in history]
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(16, 3.5), dpi=110)
    for ax, (key, label) in zip(axes[:-1], panels, strict=True):
        ax.plot(it, [h[key] for h in history], color="#4C72B0")
        ax.set_xlabel("iteration")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    reward_vs_kl(axes[-1], history, kl[0], reward_key, kl[1])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
