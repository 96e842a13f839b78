"""Bad flags, files and checkpoints are refused at the edge (issue 22, rows 7, 8 and 10): one line on stderr
naming the flag or file, exit 2, before any data is processed or any model loads.

Every test here runs the real command (``llm.commands.main``) with the heavy steps replaced by a tripwire
(:func:`tripwires`): a check that came too late reaches one and the test fails with its AssertionError.
"""

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from llm.commands import main
from llm.data.samples import PIPPA_SAMPLE
from llm.data.tokenizer import build_tokenizer
from llm.errors import UserError
from llm.models.reward import build_reward_model
from llm.train.resume import check_resume
from tests.helpers import REPO

SAMPLES = REPO / "llm" / "data" / "samples"
PROMPTS = REPO / "tests" / "fixtures" / "ppo_prompts.jsonl"


def _tripwire(what):
    def fire(*args, **kwargs):
        raise AssertionError(f"{what} ran before the arguments were refused")

    return fire


@pytest.fixture
def tripwires(monkeypatch):
    """Data processing and every model load of the commands under test raise AssertionError."""
    for stage in ("sft", "rm", "dpo"):
        monkeypatch.setattr(f"llm.train.{stage}.prepare_data", _tripwire(f"{stage}: data processing"))
    monkeypatch.setattr("llm.train.sft.build_model", _tripwire("sft: model load"))
    for loop in ("llm.train.grpo.trainer", "llm.train.ppo.trainer"):
        monkeypatch.setattr(f"{loop}.start_accelerator", _tripwire(f"{loop}: start"))
        monkeypatch.setattr(f"{loop}.AutoModelForCausalLM", _tripwire(f"{loop}: model load"))
    monkeypatch.setattr("llm.commands.chat.load_for_inference", _tripwire("chat: model load"))
    monkeypatch.setattr("llm.commands.eval.load_for_inference", _tripwire("eval: model load"))
    monkeypatch.setattr("llm.commands.serve_reward.serve", _tripwire("serve-reward: model load"))
    monkeypatch.setattr("llm.commands.process.process", _tripwire("process: data processing"), raising=False)


def refused(capsys, argv, *words):
    """Run ``argv``: exit 2, one line on stderr naming each of ``words``; returns the line."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    err = err.split("\r")[-1]  # after a progress bar's last redraw
    assert err.startswith(f"llm-train {argv[0]}"), err
    for word in words:
        assert word in err, err
    return err


@pytest.fixture
def run_dir(tmp_path, checkpoint):
    """A run folder with one complete Trainer checkpoint, ``checkpoint-2`` (tiny weights, optimizer, RNG)."""
    run = tmp_path / "run"
    ckpt = run / "checkpoint-2"
    shutil.copytree(checkpoint, ckpt)
    torch.save({"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]}, ckpt / "optimizer.pt")
    torch.save({"last_epoch": 2}, ckpt / "scheduler.pt")
    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.get_rng_state()}
    torch.save(rng, ckpt / "rng_state.pth")  # what the Trainer saves
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 2, "log_history": []}))
    return run


def sft_argv(out, *extra):
    return [
        "sft",
        REPO / "configs" / "sft_tiny.yaml",
        "--data_files",
        PIPPA_SAMPLE,
        "--output_dir",
        out,
        *extra,
    ]


# ------------------------------------------------------------------------------------- row 7: resume


def _truncate(name):
    def damage(ckpt: Path) -> None:
        path = ckpt / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return damage


DAMAGE = {
    "model.safetensors": _truncate("model.safetensors"),
    "optimizer.pt": _truncate("optimizer.pt"),
    "trainer_state.json": _truncate("trainer_state.json"),
    "rng_state.pth": lambda ckpt: (ckpt / "rng_state.pth").write_bytes(b"garbage\n"),
}


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_resume_from_a_damaged_checkpoint_names_the_file(name, run_dir, tripwires, capsys):
    ckpt = run_dir / "checkpoint-2"
    DAMAGE[name](ckpt)
    refused(capsys, sft_argv(run_dir, "--resume_from_checkpoint", ckpt), "--resume_from_checkpoint", name)


def test_resume_from_an_empty_or_missing_folder(tmp_path, tripwires, capsys):
    (tmp_path / "empty").mkdir()
    refused(capsys, sft_argv(tmp_path / "o", "--resume_from_checkpoint", tmp_path / "empty"), "empty")
    refused(capsys, sft_argv(tmp_path / "o", "--resume_from_checkpoint", tmp_path / "gone"), "no such")


def test_resume_true_needs_a_checkpoint_in_the_output_dir(tmp_path, tripwires, capsys):
    (tmp_path / "o").mkdir()
    refused(capsys, sft_argv(tmp_path / "o", "--resume_from_checkpoint", "true"), "true", "checkpoint-N")


def test_resume_true_is_the_last_checkpoint_and_an_intact_one_passes(run_dir):
    shutil.copytree(run_dir / "checkpoint-2", run_dir / "checkpoint-10")
    assert check_resume("true", run_dir) == str(run_dir / "checkpoint-10")
    assert check_resume(str(run_dir / "checkpoint-2"), run_dir) == str(run_dir / "checkpoint-2")
    assert check_resume(None, run_dir) is None
    assert check_resume("false", run_dir) is None
    with pytest.raises(UserError, match="trainer_state.json"):
        (run_dir / "checkpoint-2" / "trainer_state.json").unlink()
        check_resume(str(run_dir / "checkpoint-2"), run_dir)


@pytest.mark.parametrize("stage", ["rm", "dpo"])
def test_every_trainer_stage_checks_its_resume_checkpoint(stage, checkpoint, run_dir, tripwires, capsys):
    data = {"rm": "tldr_comparisons_sample.jsonl", "dpo": "roleplay_preference_sample.jsonl"}[stage]
    _truncate("optimizer.pt")(run_dir / "checkpoint-2")
    argv = [stage, "--model_name_or_path", checkpoint, "--data_files", SAMPLES / data, "--output_dir", run_dir,
            "--resume_from_checkpoint", run_dir / "checkpoint-2"]  # fmt: skip
    if stage == "dpo":
        argv += ["--dataset", "preference"]
    refused(capsys, argv, "optimizer.pt")


# ------------------------------------------------------------------------------ row 7: the other inputs


def test_a_parquet_file_that_is_text_is_named(tmp_path, capsys):
    bad = tmp_path / "x.parquet"
    bad.write_text("hello, not parquet\n")
    argv = ["process", "--dataset", "pippa", "--data_files", bad, "--tokenizer", "tiny:metaspace",
            "--output", tmp_path / "out"]  # fmt: skip
    refused(capsys, argv, "x.parquet", "parquet")


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--warmup_steps", "-1"], ["--warmup_steps -1"]),
        (["--deepspeed", "nope.json"], ["--deepspeed nope.json", "no such file"]),
        (["--max_length", "100000000"], ["--max_length 100000000"]),
        (["--weight_decay", "-1"], ["--weight_decay -1"]),
        (["--max_grad_norm", "-1"], ["--max_grad_norm -1"]),
        (["--learning_rate", "-1"], ["--learning_rate -1"]),
        (["--per_device_train_batch_size", "0"], ["--per_device_train_batch_size 0"]),
    ],
)
def test_sft_flags_out_of_range(flags, words, tmp_path, tripwires, capsys):
    refused(capsys, sft_argv(tmp_path / "o", *flags), *words)


def test_max_length_beyond_the_models_context(checkpoint, tmp_path, tripwires, capsys):
    argv = ["sft", "--model_name_or_path", checkpoint, "--data_files", PIPPA_SAMPLE, "--output_dir",
            tmp_path / "o", "--max_length", "5000"]  # fmt: skip
    refused(capsys, argv, "--max_length 5000", "4096", "max_position_embeddings")


def grpo_argv(model, out, *extra):
    return ["grpo", "--model_name_or_path", model, "--data_files", PROMPTS, "--template", "chatml",
            "--reward_fn", "check:ending=?", "--output_dir", out, *extra]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--rollout_batch_size", "0"], ["--rollout_batch_size 0"]),
        (["--rollout_batch_size", "-4"], ["--rollout_batch_size -4"]),
        (["--learning_rate", "-1"], ["--learning_rate -1"]),
        (["--top_k", "-3"], ["--top_k -3"]),
        (["--top_p", "0"], ["--top_p 0"]),
        (["--top_p", "5"], ["--top_p 5"]),
        (["--max_grad_norm", "-1"], ["--max_grad_norm -1"]),
        (["--sample_rows", "-1"], ["--sample_rows -1"]),
        (["--reward_fn", "os:system"], ["--reward_fn os:system", "not a Python function"]),
        (["--reward_fn", "json:JSONDecoder"], ["--reward_fn json:JSONDecoder"]),
        (["--reward_fn", "tests.commands.test_validation:_two_arguments"], ["_two_arguments", "texts"]),
    ],
)
def test_grpo_flags_are_refused_before_the_policy_loads(
    flags, words, checkpoint, tmp_path, tripwires, capsys
):
    refused(capsys, grpo_argv(checkpoint, tmp_path / "o", *flags), *words)


def _two_arguments(a, b):
    return [0.0] * len(a)


def test_ppo_reward_fn_is_checked_up_front(checkpoint, tmp_path, tripwires, capsys):
    argv = ["ppo", "--model_name_or_path", checkpoint, "--data_files", PROMPTS, "--template", "chatml",
            "--reward_fn", "os:system", "--output_dir", tmp_path / "o"]  # fmt: skip
    refused(capsys, argv, "--reward_fn os:system")


# ------------------------------------------------------------------- row 10: one table for every command


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["chat", "--model", "M", "--top_p", "7"], ["--top_p 7"]),
        (["chat", "--model", "M", "--temperature", "-1"], ["--temperature -1"]),
        (["eval", "roleplay", "--model", "M", "--top_p", "0"], ["--top_p 0"]),
        (["eval", "roleplay", "--model", "M", "--batch_size", "0"], ["--batch_size 0"]),
        (
            ["gatt-synthesize", "--data_files", "x", "--model", "M", "--output", "o", "--top_p", "2"],
            ["--top_p 2"],
        ),
        (
            ["process", "--dataset", "pippa", "--tokenizer", "tiny:metaspace", "--num_proc", "0"],
            ["--num_proc 0"],
        ),
    ],
)
def test_shared_flags_are_checked_by_every_command(argv, words, checkpoint, tmp_path, tripwires, capsys):
    argv = [str(checkpoint) if a == "M" else a for a in argv]
    refused(capsys, argv, *words)


def test_the_flag_table_rules():
    from llm.commands.flags import check_flags

    check_flags({"top_p": 1.0, "top_k": 0, "temperature": 0.0, "max_length": None, "unrelated": -5})
    for values, flag in [({"top_p": float("nan")}, "--top_p nan"), ({"seed": -1}, "--seed -1"),
                         ({"mini_batch_size": 0}, "--mini_batch_size 0")]:  # fmt: skip
        with pytest.raises(UserError, match=flag):
            check_flags(values)


# ---------------------------------------------------------------- row 8: the right kind of checkpoint


@pytest.fixture(scope="module")
def reward_checkpoint(tmp_path_factory):
    """A tiny reward model as ``llm-train rm`` writes it (sequence classification, stage rm)."""
    path = tmp_path_factory.mktemp("rm")
    tok = build_tokenizer("bytelevel")
    build_reward_model(None, tok, config_name="tiny").save_pretrained(str(path))
    tok.save_pretrained(str(path))
    (path / "llm_train.json").write_text(json.dumps({"stage": "rm", "template": "chatml"}))
    return path


def test_a_reward_model_is_refused_where_a_causal_lm_is_needed(
    reward_checkpoint, tmp_path, tripwires, capsys
):
    rm = reward_checkpoint
    for argv in (
        grpo_argv(rm, tmp_path / "g"),
        ["chat", "--model", rm],
        ["eval", "roleplay", "--model", rm],
        ["ppo", "--model_name_or_path", rm, "--data_files", PROMPTS, "--template", "chatml",
         "--reward_model_path", rm, "--output_dir", tmp_path / "p"],
    ):  # fmt: skip
        refused(capsys, argv, "reward model", "LlamaForSequenceClassification", "stage rm", "causal LM")


def test_a_causal_lm_is_refused_where_a_reward_model_is_needed(checkpoint, tmp_path, tripwires, capsys):
    refused(capsys, ["serve-reward", "--model", checkpoint], "--model", "LlamaForCausalLM", "reward model")
    argv = grpo_argv(checkpoint, tmp_path / "g", "--reward_model_path", checkpoint)
    refused(capsys, argv, "--reward_model_path", "LlamaForCausalLM", "reward model")
    argv = grpo_argv(checkpoint, tmp_path / "g", "--held_out_reward", checkpoint)
    refused(capsys, argv, "--held_out_reward", "LlamaForCausalLM", "reward model")


def test_ddp_timeout_is_checked_for_every_stage_that_has_it():
    """``--ddp_timeout`` (sft, dpo, rm … through TrainingArguments; ppo and grpo their own) is refused below 1 s
    in one line, before anything loads: 0 would fail every collective at once, deep in torch."""
    from llm.commands.flags import check_flags

    check_flags({"ddp_timeout": 20})
    with pytest.raises(UserError, match=r"--ddp_timeout 0: must be 1 second or more"):
        check_flags({"ddp_timeout": 0})
