"""Where the online-RL loops (``ppo``, ``grpo``) put their numbers: ``metrics.jsonl``, one copy per rank when
there are several (they must agree), and accelerate's trackers (TensorBoard, W&B) when installed.

>>> trackers("none") is None
True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
