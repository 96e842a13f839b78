"""LoRA, and DeepSpeed ZeRO-2/3 across two CPU processes (gloo), against a single process."""

import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM, Trainer

from llm.data.collate import PaddingFreeCollator
from llm.data.tokenizer import build_tokenizer
from llm.models.loading import ModelArguments, build_model
from llm.models.tiny import build_llama
from tests.helpers import REPO
from tests.helpers.ports import free_port


@pytest.fixture(scope="module")
def base_checkpoint(tmp_path_factory):
    """A tiny 'pretrained' model saved like any hub checkpoint."""
    out = tmp_path_factory.mktemp("base")
    tok = build_tokenizer("bytelevel")
    build_llama(tok, seed=3).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def chats(tmp_path_factory):
    """Four short chats: four rows, so one global batch of 4 is the whole dataset."""
    path = tmp_path_factory.mktemp("data") / "chats.jsonl"
    lines = []
    for i in range(4):
        msgs = [
            {"role": "user", "content": f"tell me about the sea {i} " * (i + 1)},
            {"role": "assistant", "content": f"the sea is wide and the light is old {i} " * (2 + i)},
        ]
        lines.append(json.dumps({"messages": msgs}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_lora_trains_only_adapters_and_merges_exactly(base_checkpoint, tmp_path):
    import datasets

    from llm.data.conversation import Conversation, Message
    from llm.data.encode import Encoder

    tok = build_tokenizer("bytelevel")
    model = build_model(ModelArguments(model_name_or_path=str(base_checkpoint), lora_r=4, lora_alpha=8), tok)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    enc = Encoder(tok, "chatml")
    samples = [
        enc.encode(Conversation((Message("user", f"hi {i}"), Message("assistant", "hello " * i))))
        for i in range(1, 5)
    ]
    rows = datasets.Dataset.from_dict(
        {"input_ids": [s.input_ids for s in samples], "labels": [s.labels for s in samples]}
    )
    from llm.train.args import StageArguments

    args = StageArguments(
        output_dir=str(tmp_path), report_to="none", save_strategy="no", max_steps=3, learning_rate=1e-2,
        per_device_train_batch_size=2, use_cpu=True, disable_tqdm=True,
    )  # fmt: skip
    Trainer(model=model, args=args, train_dataset=rows, data_collator=PaddingFreeCollator()).train()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)
    assert any("lora_B" in n for n in changed)
    ids = torch.tensor([samples[-1].input_ids])
    model.eval()
    with torch.no_grad():
        unmerged = model(input_ids=ids).logits
        merged = model.merge_and_unload()(input_ids=ids).logits
    torch.testing.assert_close(unmerged, merged, rtol=1e-5, atol=1e-5)


def test_lora_cli_saves_a_plain_merged_checkpoint(base_checkpoint, chats, tmp_path, monkeypatch):
    from llm.commands.sft import main as sft_main

    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))
    argv = [
        "--model_name_or_path", str(base_checkpoint), "--dataset", "openai", "--data_files", str(chats),
        "--template", "chatml", "--lora_r", "4", "--output_dir", str(tmp_path / "out"), "--max_steps", "1",
        "--report_to", "none", "--save_strategy", "no", "--use_cpu", "--disable_tqdm", "true",
    ]  # fmt: skip
    assert sft_main(argv) == 0
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "out")  # no peft needed to load it
    assert not any("lora" in n for n, _ in merged.named_parameters())


def launch(tmp_path, base, chats, name, nproc, deepspeed=None):
    out = tmp_path / name
    argv = [
        "--model_name_or_path", str(base), "--dataset", "openai", "--data_files", str(chats), "--template", "chatml",
        "--max_length", "256", "--per_device_train_batch_size", str(4 // nproc), "--learning_rate", "1e-3",
        "--logging_steps", "1", "--max_steps", "3", "--report_to", "none", "--save_strategy", "no", "--use_cpu",
        "--seed", "0", "--disable_tqdm", "true", "--output_dir", str(out),
    ]  # fmt: skip
    if deepspeed:
        argv += ["--deepspeed", str(REPO / "configs" / "deepspeed" / deepspeed)]
    env = {**os.environ, "LLM_TRAIN_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    if nproc == 1:
        cmd = [sys.executable, "-m", "llm.commands", "sft", *argv]
    else:
        port = str(free_port())
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", port,
               "-m", "llm.commands", "sft", *argv]  # fmt: skip
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    history = json.loads((out / "log_history.json").read_text())
    return [float(e["loss"]) for e in history if "loss" in e]


@pytest.mark.slow
@pytest.mark.parametrize("config", ["zero2.json", "zero3.json"])
def test_deepspeed_two_cpu_processes_match_one(base_checkpoint, chats, tmp_path, config):
    single = launch(tmp_path, base_checkpoint, chats, "single", 1)
    distributed = launch(tmp_path, base_checkpoint, chats, "ds", 2, deepspeed=config)
    assert len(distributed) == 3 and all(torch.isfinite(torch.tensor(distributed)))
    # Step 1 sees the same four rows either way, with the same weights: the same token-weighted loss.
    assert abs(distributed[0] - single[0]) < 1e-4, (single, distributed)


LATE_WORKER = """
import sys, time, torch, torch.distributed as dist
from llm.train.args import shutdown_distributed

dist.init_process_group("gloo")
group = dist.new_group([0, 1])  # kept alive past destroy_process_group, as DeepSpeed keeps its groups
gathered = [torch.zeros(4) for _ in range(2)]
work = dist.all_gather(gathered, torch.ones(4), group=group, async_op=True)
# A gloo worker thread that still needs the GIL after the main thread is done, as when it drops the last
# reference to ZeRO-3's gathered parameters after the collective completed: here a completion callback that
# sleeps, then returns (not waited: work.wait() would wait for the callback too).
late = work.get_future().then(lambda fut: time.sleep(2.0))
print("stage done", flush=True)
shutdown_distributed()
"""


@pytest.mark.slow
def test_a_communication_thread_alive_at_exit_does_not_abort_a_rank(tmp_path):
    """Issue 22 row 12, made deterministic: every rank ends with status 0 although a gloo worker thread of a
    group that outlives ``destroy_process_group`` still needs the GIL when the stage returns. Before the fix
    the rank died in interpreter finalization (SIGABRT "terminate called without an active exception", or
    SIGSEGV / "Fatal Python error", depending on where the thread was). scripts/repeat_distributed.py runs
    the real ZeRO-2/3 SFT and DPO paths ten times each."""
    script = tmp_path / "late_worker.py"
    script.write_text(LATE_WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(script)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("stage done") == 2
    assert "terminate called" not in done.stderr
