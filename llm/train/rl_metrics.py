"""Where the online-RL loops (``ppo``, ``grpo``) put their numbers: ``metrics.jsonl``, one copy per rank when
there are several (they must agree), and accelerate's trackers (TensorBoard, W&B) when installed; and the
reward-vs-KL panel both loops draw.

>>> trackers("none") is None
True
>>> smooth([0.0, 2.0, 4.0, 6.0], 3)
[0.0, 1.0, 2.0, 4.0]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import is_tensorboard_available, is_wandb_available
from transformers import set_seed

from llm.data.output import check_run_target, claim_run, input_paths, is_main_process


def trackers(report_to: str) -> list[str] | None:
    """accelerate's trackers for ``--report_to``, those installed; a note for a named one that is not."""
    available = {"tensorboard": bool(is_tensorboard_available()), "wandb": bool(is_wandb_available())}
    wanted = list(available) if report_to == "all" else [] if report_to == "none" else [report_to]
    missing = [t for t in wanted if not available[t]]
    if missing and report_to != "all":
        print(f"note: {', '.join(missing)} is not installed; metrics go to metrics.jsonl only")
    return [t for t in wanted if available[t]] or None


def claim_output(args: Any, stage: str) -> None:
    """``--output_dir`` checked (a new or empty folder, or a run of ours that ``--overwrite`` replaces; never
    a folder holding an input named in ``args``) and claimed with the names the loop writes — by rank 0,
    before any model loads (:mod:`llm.data.output`). So ``metrics.jsonl`` starts afresh only in our own run."""
    if not is_main_process():
        return
    out = Path(args.output_dir)
    check_run_target(out, input_paths(args), args.overwrite, resume=None)
    ranks = [f"metrics-rank{i}.jsonl" for i in range(int(os.environ.get("WORLD_SIZE", "1")))]
    claim_run(out, args.overwrite, ["metrics.jsonl", *ranks, stage, f"{stage}_curves.png", "policy"])


def start_accelerator(report_to: str, out: Path, seed: int) -> Accelerator:
    """The online-RL loops' accelerator: the launch checked (on a machine without CUDA, accelerate only sees a
    multi-process CPU launch when told it is on the CPU) and a different seed per process."""
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(), log_with=trackers(report_to), project_dir=str(out)
    )
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:
        raise RuntimeError(f"launched {launched} processes but accelerate sees {accelerator.num_processes}")
    set_seed(seed + accelerator.process_index)
    return accelerator


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
