"""Arguments of the Trainer-based stages: ``TrainingArguments`` plus ours (read from YAML and/or flags by
:func:`llm.commands.cli.parse`), and the clean end of a distributed run.

Every standard ``TrainingArguments`` flag works (``--deepspeed``, ``--bf16``, ``--gradient_checkpointing``,
``--report_to``, ``--resume_from_checkpoint``, ``--save_total_limit`` …).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments


@dataclass
class StageArguments(TrainingArguments):
    """``TrainingArguments`` plus what our stages add."""

    dataset_path: str | None = field(
        default=None, metadata={"help": "a process output directory (instead of the raw-data options)"}
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "replace a run of ours in --output_dir (never a folder of other files)"},
    )
    padding_free: bool = field(
        default=True, metadata={"help": "lay each batch end to end with position_ids (no padding)"}
    )
    roleplay_eval: bool = field(
        default=False,
        metadata={
            "help": "at each evaluation, also run the role-play evaluation (does the model keep an "
            "instruction given once?); reports in OUTPUT_DIR/roleplay_eval/"
        },
    )
    roleplay_eval_conversations: int = field(
        default=2, metadata={"help": "role-play evaluation: conversations per check"}
    )
    roleplay_eval_turns: list[int] = field(
        default_factory=lambda: [1, 2, 4],
        metadata={"help": "role-play evaluation: the turns measured (conversations run to the last)"},
    )
    roleplay_eval_max_new_tokens: int = field(
        default=48, metadata={"help": "role-play evaluation: longest reply, in tokens"}
    )


def join_process_group(training: TrainingArguments) -> None:
    """Give the run's CPU (gloo) process group ``--ddp_timeout`` as its timeout: transformers sets up the group
    when the arguments are parsed and passes the timeout only on accelerators (its ``--use_cpu`` branch drops
    it), so on CPU a silent peer (a cut network: no reset, no error) held every collective for torch's default
    30 minutes whatever ``--ddp_timeout`` said. Joins the group when none exists yet. Does nothing in one
    process or on an accelerator (where transformers passes the timeout itself).

    >>> join_process_group(TrainingArguments(output_dir="x", use_cpu=True))  # no launcher: nothing to join
    """
    import os

    import torch
    from torch.distributed import distributed_c10d

    if int(os.environ.get("WORLD_SIZE", "1")) < 2 or not (training.use_cpu or not torch.cuda.is_available()):
        return
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("gloo", timeout=training.ddp_timeout_delta)
    else:
        distributed_c10d._set_pg_timeout(training.ddp_timeout_delta)  # torch's own setter for this (≥ 2.2)


def shutdown_distributed() -> None:
    """End a distributed stage on every rank: wait until all ranks are done (every file is written), leave the
    process groups, then end this process with status 0 *without interpreter finalization*. Returns at once,
    doing nothing, in a single process (no process group, no launcher's ``WORLD_SIZE``): so never call it where
    the process has more to do after a distributed stage (a test runner).

    Why not simply return and let Python exit (issue 22 row 12; reproduced by scripts/repeat_distributed.py):
    a gloo worker thread marks a collective complete *before* it drops its own reference to the work. When
    that reference is the last owner of a tensor whose Python object C++ holds (ZeRO-3's gathered parameter
    views), the drop needs the GIL. CPython < 3.14 ends any thread that asks for the GIL once finalization has
    begun with ``pthread_exit``, whose forced unwind through the work's ``noexcept`` destructor calls
    ``std::terminate``: "terminate called without an active exception", SIGABRT, torchrun reports failure
    after the model was saved. ``destroy_process_group`` does not join those threads: only the group's
    destructor does, and DeepSpeed keeps every group alive for the life of the process (the engine is pinned
    by ``parameter_offload.FWD_MODULE_STACK`` and a class-level ``lru_cache``; parameters hold
    ``ds_process_group``/``_dp_group``), and no collective can prove that each worker thread has finished
    the iteration before it. So the only teardown that cannot abort is not to run finalization while those
    threads live: after the barrier, wait for our own non-daemon threads and run the ``atexit`` handlers (what
    finalization would do that anyone can observe: logging, trackers), flush, and ``os._exit(0)``.

    Reached only after the stage returned normally on this rank and every rank passed the barrier (a rank
    that failed never gets here, and the others then fail at the barrier), so the status is never a lie.
    """
    import atexit
    import os
    import sys
    import threading

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    elif int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return  # one process, nothing to end
    # else a launched rank whose groups were left already (accelerate's end_training, in ppo and grpo):
    # DeepSpeed may still hold them, so the same ending applies
    for thread in threading.enumerate():  # what finalization waits for first
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
