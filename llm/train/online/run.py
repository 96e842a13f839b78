"""An online-RL run's life: its output folder claimed before any model loads, its accelerator (the launch
checked, a seed per process), ``metrics.jsonl`` started, and at the end the policy saved and the run marked
finished (:mod:`llm.data.output`)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import InitProcessGroupKwargs
from transformers import set_seed

from llm.data.output import check_run_target, claim_run, finish_run, input_paths, is_main_process
from llm.models.checkpoint import write_info
from llm.train.online.metrics import trackers
from llm.train.saving import save_final


def claim_output(args: Any, stage: str) -> Path:
    """``--output_dir`` checked (a new or empty folder, or a run of ours that ``--overwrite`` replaces; never
    a folder holding an input named in ``args``) and claimed with the names the loop writes — by rank 0,
    before any model loads (:mod:`llm.data.output`). So ``metrics.jsonl`` starts afresh only in our own run.
    Returns the folder."""
    out = Path(args.output_dir)
    if not is_main_process():
        return out
    check_run_target(out, input_paths(args), args.overwrite, resume=None)
    ranks = [f"metrics-rank{i}.jsonl" for i in range(int(os.environ.get("WORLD_SIZE", "1")))]
    claim_run(out, args.overwrite, ["metrics.jsonl", *ranks, stage, f"{stage}_curves.png", "policy"])
    return out


def start_accelerator(report_to: str, out: Path, seed: int, ddp_timeout: int = 1800) -> Accelerator:
    """The online-RL loops' accelerator: the launch checked (on a machine without CUDA, accelerate only sees a
    multi-process CPU launch when told it is on the CPU), a different seed per process, and ``ddp_timeout``
    seconds for a collective to wait on another process (a dead or cut-off node) before the run fails."""
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),
        log_with=trackers(report_to),
        project_dir=str(out),
        kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=ddp_timeout))],
    )
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:
        raise RuntimeError(f"launched {launched} processes but accelerate sees {accelerator.num_processes}")
    set_seed(seed + accelerator.process_index)
    return accelerator


def open_run(accelerator: Any, out: Path, line: str) -> None:
    """The main process starts ``metrics.jsonl`` afresh (ours: :func:`claim_output` refused any other folder)
    and prints what the run will do."""
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.jsonl").write_text("")
        print(line)


def close_run(
    accelerator: Any, out: Path, stage: str, policy: Any, tokenizer: Any, template_name: str
) -> None:
    """The main process saves the policy (staged and swapped in: a kill never leaves a mix) and marks the run
    finished; then every process closes the trackers (and leaves the process group)."""
    if accelerator.is_main_process:

        def write(staged: Path) -> None:
            policy.save_pretrained(str(staged))
            tokenizer.save_pretrained(str(staged))
            write_info(staged, stage, {"template": template_name})

        save_final(out / "policy", write)
        finish_run(out)
    accelerator.wait_for_everyone()
    accelerator.end_training()
