"""Persistence before and after: the suite's scores split into train and held-out families, the issue's
targets checked, and one plot (``make demo-persistence``, ``bench/real_persistence.py``).

A :class:`~llm.eval.roleplay.RoleplayResult` of the persistence suite (:mod:`llm.eval.suite`) holds one
conversation per check and seat. :func:`split_curves` pools them by split: **train** families (what GAtt
data and RL rewards may use) and **held-out** families (never trained on: do the gains carry over?), and
the **control** (the same conversations given no instruction: does the model do these things unasked?).

>>> from llm.eval.roleplay import Curve
>>> later_mean(Curve({1: 0.5, 2: 0.25, 4: 0.75, 8: 0.5}, {}, {}))
0.5
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm.eval.roleplay import Curve, RoleplayResult, draw_curve, pyplot
from llm.eval.simulate import Transcript

SPLIT_NAMES = ("train", "held_out", "control")


def scores_by(
    transcripts: Sequence[Transcript], turns: Sequence[int], key: Callable[[Transcript], str | None]
) -> dict[str, dict[int, list[float]]]:
    """Every measured score (the probe's answer, else the turn's reply), grouped by ``key(transcript)``
    (a family, a character's name …; None leaves the transcript out) and by turn."""
    out: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for t in transcripts:
        group = key(t)
        if group is None:
            continue
        for turn in turns:
            if turn <= len(t.replies):
                text, conv = t.measured(turn)
                out[group][turn].append(t.check.score(text, conv))
    return out


def pooled_curve(transcripts: Sequence[Transcript], families: Sequence[str], turns: Sequence[int]) -> Curve:
    """Mean score by measured turn over the conversations of ``families`` (each conversation weighs the
    same), with its 95% bootstrap interval."""
    pooled = scores_by(transcripts, turns, lambda t: "pooled" if t.check.family in families else None)
    return Curve.of(dict(pooled["pooled"]))


def split_curves(result: RoleplayResult, train: Sequence[str], held_out: Sequence[str]) -> dict[str, Curve]:
    """``{"train", "held_out", "control"}`` curves of a suite result (control: every family, not asked)."""
    curves = {
        "train": pooled_curve(result.transcripts, train, result.turns),
        "held_out": pooled_curve(result.transcripts, held_out, result.turns),
    }
    if result.control is not None:
        curves["control"] = pooled_curve(result.control.transcripts, (*train, *held_out), result.turns)
    return curves


def later_mean(curve: Curve, first: int = 2) -> float:
    """The mean of a curve's turns from ``first`` on (the issue's "turns 2–8"): each measured turn weighs
    the same."""
    later = [m for t, m in curve.mean.items() if t >= first]
    return sum(later) / len(later) if later else 0.0


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: what is measured, the bar, and whether it is met."""

    name: str
    value: float
    bar: float
    higher_is_better: bool = True

    @property
    def met(self) -> bool:
        return self.value >= self.bar if self.higher_is_better else self.value <= self.bar

    def to_json(self) -> dict[str, Any]:
        sense = ">=" if self.higher_is_better else "<="
        return {"value": round(self.value, 4), "bar": f"{sense} {self.bar:.4f}", "met": self.met}


def targets(
    base: dict[str, Curve], final: dict[str, Curve], loss_base: float, loss_final: float
) -> list[Target]:
    """The issue's targets, final model against base (same conversations).

    >>> flat = lambda v: Curve({1: v, 2: v, 4: v, 8: v}, {}, {})
    >>> base = {"train": flat(0.2), "held_out": flat(0.2), "control": flat(0.1)}
    >>> final = {"train": flat(0.5), "held_out": flat(0.35), "control": flat(0.1)}
    >>> [(t.name, t.met) for t in targets(base, final, 2.0, 2.05)]  # doctest: +NORMALIZE_WHITESPACE
    [('held-out turns 2-8 >= base + 0.10', True), ('held-out turns 2-8 >= 0.9 x own turn 1', True),
     ('train turns 2-8 >= base + 0.20', True), ('held-out turn 1 >= base - 0.02', True),
     ('control (not asked) <= base + 0.02', True), ('held-out chat loss <= 1.05 x base', True)]
    """
    first = min(final["held_out"].mean, default=1)
    rows = [
        Target("held-out turns 2-8 >= base + 0.10", later_mean(final["held_out"]), later_mean(base["held_out"]) + 0.10),
        Target("held-out turns 2-8 >= 0.9 x own turn 1", later_mean(final["held_out"]),
               0.9 * final["held_out"].mean.get(first, 0.0)),
        Target("train turns 2-8 >= base + 0.20", later_mean(final["train"]), later_mean(base["train"]) + 0.20),
        Target("held-out turn 1 >= base - 0.02", final["held_out"].mean.get(first, 0.0),
               base["held_out"].mean.get(first, 0.0) - 0.02),
    ]  # fmt: skip
    if "control" in base and "control" in final:
        control = lambda c: sum(c.mean.values()) / max(1, len(c.mean))  # noqa: E731
        rows.append(
            Target("control (not asked) <= base + 0.02", control(final["control"]),
                   control(base["control"]) + 0.02, higher_is_better=False)
        )  # fmt: skip
    rows.append(
        Target("held-out chat loss <= 1.05 x base", loss_final, 1.05 * loss_base, higher_is_better=False)
    )
    return rows


def scores_table(runs: dict[str, dict[str, Curve]], losses: dict[str, float] | None = None) -> str:
    """One row per run and split: the mean score at each measured turn and over turns 2–8.

    >>> flat = Curve({1: 0.5, 2: 0.25}, {}, {})
    >>> print(scores_table({"base": {"train": flat}}, {"base": 2.5}))
    run       split         t1     t2   t2-8   chat loss
    base      train       0.50   0.25   0.25       2.500
    """
    turns = sorted({t for curves in runs.values() for c in curves.values() for t in c.mean})
    head = f"{'run':<9} {'split':<9}" + "".join(f"{'t' + str(t):>7}" for t in turns) + f"{'t2-8':>7}"
    lines = [head + ("   chat loss" if losses else "")]
    for name, curves in runs.items():
        for split in SPLIT_NAMES:
            if split not in curves:
                continue
            c = curves[split]
            row = f"{name:<9} {split:<9}" + "".join(
                f"{c.mean[t]:>7.2f}" if t in c.mean else f"{'-':>7}" for t in turns
            )
            row += f"{later_mean(c):>7.2f}"
            if losses and split == "train" and name in losses:
                row += f"{losses[name]:>12.3f}"
            lines.append(row)
    return "\n".join(lines)


def plot_persistence(runs: dict[str, dict[str, Curve]], path: str | Path, title: str = "") -> None:
    """Score by turn: one colour per run, solid train families, dashed held-out, dotted control."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=110)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    turns: list[int] = []
    for k, (name, curves) in enumerate(runs.items()):
        color = colors[k % len(colors)]
        draw_curve(ax, curves["train"], f"{name}: train families", color)
        held = curves["held_out"]
        ax.plot(
            list(held.mean), list(held.mean.values()), "s--", color=color, label=f"{name}: held-out families"
        )
        ax.fill_between(
            list(held.mean), list(held.low.values()), list(held.high.values()), color=color, alpha=0.08
        )
        if "control" in curves:
            c = curves["control"]
            ax.plot(
                list(c.mean), list(c.mean.values()), "x:", color=color, label=f"{name}: control (not asked)"
            )
        turns = sorted(set(turns) | set(curves["train"].mean))
    ax.set_xticks(turns)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("turn (instruction given once, before turn 1)")
    ax.set_ylabel("mean probe score (1: obeys)")
    ax.set_title(title or "persistence: base vs final")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="x-small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def chat_loss(model: Any, encoder: Any, conversations: Sequence[Any], max_length: int) -> float:
    """Mean next-token loss over the trained (assistant) tokens of ``conversations``, each encoded with
    ``encoder`` and cut to its first ``max_length`` tokens: "does it still chat?" as one number (every
    trained token weighs the same)."""
    import torch

    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for conv in conversations:
            sample = encoder.encode(conv)
            ids = torch.tensor([sample.input_ids[:max_length]])
            labels = torch.tensor([sample.labels[:max_length]])
            logits = model(input_ids=ids).logits[0, :-1].float()
            target = labels[0, 1:]
            keep = target != -100
            if keep.any():
                nll = torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="sum")
                total, count = total + float(nll), count + int(keep.sum())
    return total / max(1, count)
