"""A kill at any filesystem call of a save leaves the previous complete model or checkpoint, never a mix.

Each test forks a child that runs the real save and dies (``os._exit``: no cleanup, as a SIGKILL) at its
k-th filesystem call that changes the disk — counted with an audit hook — for k = 1, 2, … until a child
gets through. After every kill the parent checks what a user or the next run would find.
"""

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import datasets
import pytest
import torch
from tqdm import tqdm
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging as hf_logging

from llm.data.output import MARKER
from llm.data.tokenizer import build_tokenizer
from llm.errors import UserError
from llm.models.checkpoint import SAVING, read_info, require_complete
from llm.models.loading import load_for_inference
from llm.models.tiny import build_llama
from llm.train.args import StageArguments
from llm.train.common import save_run
from llm.train.saving import CHECKPOINT_STAGING, FINAL_ASIDE, FINAL_STAGING, Trainer, recover_final

KILLED = 86
# Audit events that change the disk (os.replace raises "os.rename"); "open" counts when it may write.
CHANGES = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "shutil.rmtree", "os.truncate", "os.chmod"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _changes_disk(event: str, args: tuple) -> bool:
    if event in CHANGES:
        return True
    if event == "open":
        mode, flags = args[1], args[2]
        if isinstance(mode, str):
            return any(c in mode for c in "wax+")
        return bool(isinstance(flags, int) and flags & WRITE_FLAGS)
    return False


def quiet_threads() -> None:
    """No helper thread may hold a lock at the fork: tqdm's monitor thread does now and then, and a child
    that forks while it does waits for that lock forever."""
    tqdm.monitor_interval = 0
    if tqdm.monitor is not None:
        tqdm.monitor.exit()
        tqdm.monitor = None
    hf_logging.disable_progress_bar()


def killed_at(k: int, save) -> bool:
    """Run ``save()`` in a forked child killed at its k-th disk change; True when the kill happened."""
    quiet_threads()
    pid = os.fork()
    if pid == 0:  # the child: count, and die at k
        torch.set_num_threads(1)  # the parent's OpenMP pool did not survive the fork
        seen = 0

        def hook(event, args):
            nonlocal seen
            if _changes_disk(event, args):
                seen += 1
                if seen == k:
                    os._exit(KILLED)

        sys.addaudithook(hook)
        try:
            save()
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, KILLED), f"the save failed on its own (exit {code}) before kill {k}"
    return code == KILLED


def snapshot(folder: Path, top_level_only: bool = False) -> dict[str, str]:
    files = folder.iterdir() if top_level_only else folder.rglob("*")
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run trained 2 steps: checkpoint-1, checkpoint-2 and a complete final model."""
    tmp = tmp_path_factory.mktemp("run")
    tok = build_tokenizer("bytelevel")
    rows = datasets.Dataset.from_dict(
        {"input_ids": [[5, 6, 7, 8, 9, 10]] * 4, "labels": [[5, 6, 7, 8, 9, 10]] * 4}
    )
    args = StageArguments(
        output_dir=str(tmp / "run"),
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
        max_steps=2,
        per_device_train_batch_size=2,
        save_strategy="steps",
        save_steps=1,
        save_total_limit=1,
        logging_steps=1,
    )
    torch.manual_seed(0)
    trainer = Trainer(model=build_llama(tok), args=args, train_dataset=rows)
    trainer.train()
    out = Path(args.output_dir)
    save_run(trainer, tok, out, {"template": "chatml"}, "sft", {"train_loss": 1.0})
    return trainer, tok, out


def test_checkpoints_rotate_only_after_the_new_one_is_whole(trained):
    _, _, out = trained
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]  # save_total_limit 1
    assert not (out / CHECKPOINT_STAGING).exists()
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2


@pytest.mark.slow  # a forked child per kill
def test_final_save_killed_at_every_filesystem_call_leaves_old_or_new_never_a_mix(trained, tmp_path):
    trainer, tok, out = trained
    pristine = tmp_path / "pristine"
    shutil.copytree(out, pristine)
    old = snapshot(pristine, top_level_only=True)

    def save_new():  # other weights, another template: every file of the model changes
        save_run(trainer, tok, out, {"template": "llama3"}, "sft", {"train_loss": 0.5})

    weights = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.add_(1.0)

    kills = 0
    new = None
    for k in range(1, 500):
        shutil.rmtree(out)
        shutil.copytree(pristine, out)
        if not killed_at(k, save_new):
            new = snapshot(out, top_level_only=True)
            break
        kills += 1
        if (out / SAVING).exists():
            with pytest.raises(UserError, match="interrupted"):
                require_complete(out)
            with pytest.raises(UserError, match="interrupted"):
                read_info(out)
            with pytest.raises(UserError, match="interrupted"):
                load_for_inference(out)
        else:
            now = snapshot(out, top_level_only=True)
            assert now == old or read_info(out).template == "llama3", (
                f"kill {k}: a mix of old and new: {sorted(now)} vs {sorted(old)}"
            )
        recover_final(out)
        now = snapshot(out, top_level_only=True)
        if now != old:  # only a kill after the swap's last rename may leave the new model
            assert read_info(out).template == "llama3" and not (out / SAVING).exists(), f"kill {k}"
        for debris in (SAVING, FINAL_ASIDE, FINAL_STAGING):
            assert not (out / debris).exists(), f"kill {k}: {debris} left after recovery"
        assert snapshot(out / "checkpoint-2") == snapshot(pristine / "checkpoint-2")  # never touched
    with torch.no_grad():
        for name, p in trainer.model.named_parameters():
            p.copy_(weights[name])
    assert new is not None and kills >= 10, f"only {kills} kill points"
    assert new != old and read_info(out).template == "llama3"
    listed = json.loads((out / "llm_train.json").read_text())["files"]
    # llm_train.json lists exactly the model's files (the run's own marker is the run's, not the model's)
    assert sorted(listed) == sorted(name for name in new if name != MARKER)


@pytest.mark.slow  # a forked child per kill
def test_checkpoint_killed_at_every_filesystem_call_is_whole_or_absent_and_resumes(trained, tmp_path):
    trainer, _, out = trained
    pristine = tmp_path / "pristine"
    shutil.copytree(out, pristine)
    whole = set(snapshot(out / "checkpoint-2"))

    def save_step_3():
        trainer.state.global_step = 3
        trainer._save_checkpoint(trainer.model, None)

    mid_kill = None
    kills = 0
    for k in range(1, 500):
        shutil.rmtree(out)
        shutil.copytree(pristine, out)
        if not killed_at(k, save_step_3):
            break
        kills += 1
        for checkpoint in out.glob("checkpoint-*"):
            assert set(snapshot(checkpoint)) == whole, f"kill {k}: {checkpoint.name} is incomplete"
        assert get_last_checkpoint(str(out)) in (str(out / "checkpoint-2"), str(out / "checkpoint-3"))
        if mid_kill is None and (out / CHECKPOINT_STAGING / "checkpoint-3").is_dir():
            mid_kill = k
    assert kills >= 5 and mid_kill is not None, (kills, mid_kill)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-3"]  # rotated after the rename

    # Killed halfway through writing checkpoint-3: resuming continues from checkpoint-2, the previous whole one.
    shutil.rmtree(out)
    shutil.copytree(pristine, out)
    assert killed_at(mid_kill, save_step_3)
    args = trainer.args
    args.max_steps = 3
    resumed = Trainer(model=trainer.model, args=args, train_dataset=trainer.train_dataset)
    resumed.train(resume_from_checkpoint=True)
    assert resumed.state.global_step == 3
    assert [log["step"] for log in resumed.state.log_history if "loss" in log] == [1, 2, 3]
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-3"]
    assert not (out / CHECKPOINT_STAGING).exists()
