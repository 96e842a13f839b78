"""The online-RL run's accelerator (:func:`llm.train.online.run.start_accelerator`): ``--ddp_timeout`` reaches
the process group accelerate sets up, so a dead or cut-off node fails a ``ppo`` / ``grpo`` run after that many
seconds rather than torch's 30 minutes (the rehearsal's cut-link drill, ``docs/scaling.md``)."""

import datetime

import pytest
import torch
from accelerate.state import AcceleratorState

from llm.train.grpo.trainer import GRPOArguments
from llm.train.online.run import start_accelerator
from llm.train.ppo.trainer import PPOArguments


def test_ddp_timeout_reaches_the_process_group(monkeypatch, tmp_path):
    launch = dict(WORLD_SIZE="2", RANK="0", LOCAL_RANK="0", LOCAL_WORLD_SIZE="2", MASTER_ADDR="127.0.0.1")
    for name, value in {**launch, "MASTER_PORT": "29999", "OMP_NUM_THREADS": "1"}.items():
        monkeypatch.setenv(name, value)  # a two-process CPU launch, as accelerate launch starts rank 0
    AcceleratorState._reset_state(
        reset_partial_state=True
    )  # an earlier test's single-process state would stay
    seen = {}
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda backend=None, **kw: seen.update(kw))
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    try:
        with pytest.raises(
            ValueError, match="process group"
        ):  # no real group behind the stand-in: stop there
            start_accelerator("none", tmp_path, seed=0, ddp_timeout=77)
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    assert seen["timeout"] == datetime.timedelta(seconds=77) and seen["world_size"] == 2
    assert (
        PPOArguments().ddp_timeout == GRPOArguments().ddp_timeout == 1800
    )  # torch's default, one flag for both
