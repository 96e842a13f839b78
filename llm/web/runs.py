"""What the web page's Runs tab reads from ``runs/*``: training curves and role-play evaluation reports.

A *run* is a folder (at any depth under the root) holding what our stages write:

- ``log_history.json`` — the ``transformers.Trainer`` log of ``sft``, ``pretrain``, ``rm``, ``dpo``: a list of
  dicts, each with its ``step`` (``loss``, ``eval_loss``, ``rewards/margins`` …);
- ``metrics.jsonl`` — one line per iteration of ``ppo`` / ``grpo`` (``reward_mean``, ``kl_mean`` …, with
  ``iteration``);
- ``roleplay_eval.json`` in a folder of the run (``eval_roleplay/``, ``eval_after/`` …), written by
  ``llm-train eval roleplay`` or the SFT callback.

Curves are sorted into the three panels a user reads first — loss, reward, KL — by the words of the metric's
name (the first panel whose word it holds; ``reward_with_kl_mean`` is a reward):

>>> curve_group("eval_loss"), curve_group("rewards/margins"), curve_group("kl_mean"), curve_group("epoch")
('loss', 'reward', 'KL', None)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm.errors import UserError

TRAINER_LOG, RL_METRICS, EVAL_REPORT = "log_history.json", "metrics.jsonl", "roleplay_eval.json"
# panel → the words of a metric name that put it there, first match wins
CURVE_GROUPS: dict[str, tuple[str, ...]] = {
    "loss": ("loss",),
    "reward": ("reward", "rewards", "rm"),
    "KL": ("kl",),
}
NOT_CURVES = {"step", "iteration", "epoch"}  # x axes, not metrics
MAX_DEPTH = 4  # runs/<experiment>/<stage>/… is as deep as our commands nest


@dataclass(frozen=True)
class Point:
    """One logged value: ``metric`` at ``step`` (the trainer's step, or the RL iteration)."""

    metric: str
    step: float
    value: float


@dataclass(frozen=True)
class Report:
    """A role-play evaluation report of a run: where it is, its JSON, its plot (None when absent)."""

    name: str  # the report's folder, relative to the run
    data: dict[str, Any]
    plot: Path | None


def curve_group(metric: str) -> str | None:
    """The panel a metric is drawn in (``loss``, ``reward``, ``KL``), or None."""
    words = set(re.split(r"[^a-z0-9]+", metric.lower()))
    return next((group for group, keys in CURVE_GROUPS.items() if words & set(keys)), None)


def is_run(folder: Path) -> bool:
    return (
        (folder / TRAINER_LOG).is_file()
        or (folder / RL_METRICS).is_file()
        or any(folder.glob(f"*/{EVAL_REPORT}"))
    )


def find_runs(root: str | Path) -> list[str]:
    """The runs under ``root`` (the root itself included), as paths relative to it (``.`` for the root),
    sorted; hidden folders and Trainer ``checkpoint-*`` folders are skipped.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for d in ("sft", "chain/ppo", "chain/ppo/policy", "empty"):
    ...     (root / d).mkdir(parents=True)
    >>> _ = (root / "sft" / "log_history.json").write_text("[]")
    >>> _ = (root / "chain/ppo" / "metrics.jsonl").write_text("")
    >>> find_runs(root)
    ['chain/ppo', 'sft']
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"--runs {root}: no such directory")
    found = []
    for here, dirs, _ in os.walk(root):
        folder = Path(here)
        depth = len(folder.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "checkpoint-")) and depth < MAX_DEPTH)
        if is_run(folder):
            found.append(folder.relative_to(root).as_posix())
    return sorted(found)


def find_checkpoints(root: str | Path) -> list[str]:
    """Checkpoints of our runs under ``root`` (folders with ``config.json`` and ``llm_train.json``), as paths
    joined to ``root``, for the page's model picker; none when ``root`` is not a folder.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for d in ("sft", "ppo/policy", "data"):
    ...     (root / d).mkdir(parents=True)
    >>> for d in ("sft", "ppo/policy"):
    ...     for name in ("config.json", "llm_train.json"):
    ...         _ = (root / d / name).write_text("{}")
    >>> [Path(c).relative_to(root).as_posix() for c in find_checkpoints(root)]
    ['ppo/policy', 'sft']
    """
    root = Path(root)
    found = []
    for here, dirs, files in os.walk(root):
        folder = Path(here)
        depth = len(folder.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "checkpoint-")) and depth < MAX_DEPTH)
        if "config.json" in files and "llm_train.json" in files:
            found.append(str(folder))
    return sorted(found)


def read_points(run: str | Path) -> list[Point]:
    """Every numeric metric a run logged, in the order logged (trainer log first, then RL metrics).

    A run still being written may end in half a line of ``metrics.jsonl``; that line is left out. Any other
    line that is not a JSON object is an error naming the file and line.
    """
    run = Path(run)
    points: list[Point] = []
    log = run / TRAINER_LOG
    if log.is_file():
        try:
            entries = json.loads(log.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"{log}: not JSON ({e})") from None
        if not isinstance(entries, list):
            raise UserError(f"{log}: expected a list of log entries")
        for entry in entries:
            if isinstance(entry, dict) and "step" in entry:
                points += _numbers(entry, entry["step"])
    metrics = run / RL_METRICS
    if metrics.is_file():
        lines = metrics.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # being written
                    break
                raise UserError(f"{metrics}:{number}: not a JSON object") from None
            if not isinstance(entry, dict):
                raise UserError(f"{metrics}:{number}: not a JSON object")
            points += _numbers(entry, entry.get("iteration", number))
    return points


def _numbers(entry: dict[str, Any], step: Any) -> list[Point]:
    return [
        Point(key, float(step), float(value))
        for key, value in entry.items()
        if key not in NOT_CURVES and isinstance(value, (int, float)) and not isinstance(value, bool)
    ]


def curves(points: list[Point]) -> dict[str, list[Point]]:
    """The points of each panel (``loss``, ``reward``, ``KL``), panels without points left out.

    >>> pts = [Point("loss", 1, 2.0), Point("kl_mean", 1, 0.1), Point("learning_rate", 1, 1e-3)]
    >>> {group: [p.metric for p in ps] for group, ps in curves(pts).items()}
    {'loss': ['loss'], 'KL': ['kl_mean']}
    """
    out: dict[str, list[Point]] = {group: [] for group in CURVE_GROUPS}
    for p in points:
        group = curve_group(p.metric)
        if group is not None:
            out[group].append(p)
    return {group: ps for group, ps in out.items() if ps}


def read_reports(run: str | Path) -> list[Report]:
    """The role-play evaluation reports in a run's folders (``eval_roleplay/roleplay_eval.json`` …)."""
    run = Path(run)
    reports = []
    for path in sorted(run.glob(f"*/{EVAL_REPORT}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: not JSON ({e})") from None
        plot = path.with_name("adherence.png")
        reports.append(Report(path.parent.name, data, plot if plot.is_file() else None))
    return reports


def report_markdown(report: Report) -> str:
    """A report as a Markdown table: mean score per family (and the control's) by measured turn, then
    persona consistency and speaking for the user.

    >>> data = {"turns": [1, 2], "scores": {"all": {"1": {"mean": 1.0}, "2": {"mean": 0.5}}},
    ...         "speaks_for_user_by_turn": {"1": 0.0, "2": 0.25}}
    >>> print(report_markdown(Report("eval_roleplay", data, None)))
    #### eval_roleplay
    | | t1 | t2 |
    |---|---|---|
    | score all | 1.00 | 0.50 |
    | speaks for user | 0.00 | 0.25 |
    """
    turns = [str(t) for t in report.data.get("turns", [])]
    rows: list[tuple[str, dict[str, float]]] = []
    for family, curve in report.data.get("scores", {}).items():
        rows.append((f"score {family}", {t: v["mean"] for t, v in curve.items()}))
    for family, curve in report.data.get("control", {}).items():
        rows.append((f"control {family}", {t: v["mean"] for t, v in curve.items()}))
    for label, key in (
        ("persona consistency", "persona_consistency"),
        ("speaks for user", "speaks_for_user_by_turn"),
    ):
        if report.data.get(key):
            rows.append((label, report.data[key]))
    lines = [f"#### {report.name}", "| |" + "".join(f" t{t} |" for t in turns), "|---|" + "---|" * len(turns)]
    for label, by_turn in rows:
        lines.append(
            f"| {label} |" + "".join(f" {by_turn[t]:.2f} |" if t in by_turn else " - |" for t in turns)
        )
    return "\n".join(lines)
