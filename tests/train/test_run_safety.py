"""Training outputs as safe as data outputs (issue 22 rows 1-3): every stage that writes a run checks its
target before any model loads, by the rules of ``process`` — a new or empty folder, or a run of ours; never a
folder of the user's, one holding an input, a file or a symbolic link — and ``--overwrite`` replaces only
what the marker lists."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from llm.commands import main as cli
from llm.data.output import MARKER
from llm.data.samples import PIPPA_SAMPLE, TLDR_COMPARISONS_SAMPLE, TLDR_SFT_SAMPLE

CHAT = {
    "messages": [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello, friend"}]
}
TINY_TRAIN = ["--use_cpu", "true", "--report_to", "none", "--max_length", "64", "--max_steps", "1"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))


def jsonl(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` (links not followed) → its content hash."""
    found = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def users_folder(path: Path) -> Path:
    """Row 1's folder: a checkpoint and a config of the user's."""
    (path / "checkpoint-1").mkdir(parents=True)
    (path / "checkpoint-1" / "model.bin").write_bytes(b"the user's weights")
    (path / "config.json").write_text('{"theirs": true}')
    return path


def sft_argv(data: Path, out: Path) -> list[str]:
    return ["sft", "--model_config", "tiny", "--tokenizer", "tiny:bytelevel", "--dataset", "openai",
            "--template", "chatml", "--data_files", str(data), "--output_dir", str(out), *TINY_TRAIN]  # fmt: skip


# ── row 1: a user's folder, the model, the data ──────────────────────────────────────────────────────


def test_sft_never_rotates_away_a_users_checkpoint(tmp_path, capsys):
    data = jsonl(tmp_path / "data" / "chats.jsonl", [CHAT] * 4)
    theirs = users_folder(tmp_path / "theirs")
    before = hashes(theirs)
    argv = [*sft_argv(data, theirs), "--save_steps", "1", "--save_total_limit", "1"]
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert "holds files that llm-train did not write (checkpoint-1, config.json)" in err
    assert hashes(theirs) == before and sorted(os.listdir(theirs)) == ["checkpoint-1", "config.json"]
    assert cli([*argv, "--overwrite", "true"]) == 2 and hashes(theirs) == before


def test_sft_refuses_the_model_and_the_dataset_as_output(tmp_path, checkpoint, capsys):
    model = Path(shutil.copytree(checkpoint, tmp_path / "model"))
    data = jsonl(tmp_path / "data" / "chats.jsonl", [CHAT] * 4)
    processed = tmp_path / "rows"
    assert cli(["process", "--data_files", str(data), "--output", str(processed), "--dataset", "openai",
                "--tokenizer", "tiny:bytelevel", "--template", "chatml"]) == 0  # fmt: skip
    before = {p: hashes(p) for p in (model, processed, data.parent)}
    argv = ["sft", "--model_name_or_path", str(model), "--data_files", str(data), "--dataset", "openai",
            "--template", "chatml", *TINY_TRAIN]  # fmt: skip
    for out in (model, data.parent, tmp_path):
        assert cli([*argv, "--output_dir", str(out), "--overwrite", "true"]) == 2
        assert "holds the input" in capsys.readouterr().err
    on_rows = ["sft", "--model_name_or_path", str(model), "--dataset_path", str(processed), *TINY_TRAIN[:4]]
    assert cli([*on_rows, "--max_steps", "1", "--output_dir", str(processed), "--overwrite", "true"]) == 2
    assert f"holds the input {processed}" in capsys.readouterr().err
    assert {p: hashes(p) for p in before} == before


def test_rm_refuses_the_bundled_samples_folder(tmp_path, checkpoint, capsys):
    samples = Path(shutil.copytree(TLDR_COMPARISONS_SAMPLE.parent, tmp_path / "samples"))
    before = hashes(samples)
    data = samples / TLDR_COMPARISONS_SAMPLE.name
    argv = ["rm", "--model_name_or_path", str(checkpoint), "--data_files", str(data), *TINY_TRAIN]
    assert cli([*argv, "--output_dir", str(samples)]) == 2
    assert "holds the input" in capsys.readouterr().err
    assert hashes(samples) == before


@pytest.mark.parametrize("stage", ["ppo", "grpo"])
def test_online_rl_never_truncates_someone_elses_metrics(tmp_path, checkpoint, capsys, stage):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "metrics.jsonl").write_text('{"iteration": 1, "their": "numbers"}\n')
    argv = [stage, "--model_name_or_path", str(checkpoint), "--reward_fn", "tests.helpers.ppo_rewards:letter_e",
            "--data_files", str(TLDR_SFT_SAMPLE), "--output_dir", str(theirs), "--report_to", "none"]  # fmt: skip
    assert cli(argv) == 2
    assert "did not write (metrics.jsonl)" in capsys.readouterr().err
    assert (theirs / "metrics.jsonl").read_text() == '{"iteration": 1, "their": "numbers"}\n'


def test_a_symlink_to_a_users_folder_is_refused(tmp_path, capsys):
    data = jsonl(tmp_path / "data" / "chats.jsonl", [CHAT] * 4)
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "link").symlink_to(empty)
    assert cli(sft_argv(data, tmp_path / "link")) == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert os.listdir(empty) == []


def test_our_run_is_resumed_or_replaced_only_when_asked(tmp_path, capsys):
    data = jsonl(tmp_path / "data" / "chats.jsonl", [CHAT] * 4)
    run = tmp_path / "run"
    argv = [*sft_argv(data, run), "--save_steps", "1", "--save_total_limit", "1"]
    assert cli(argv) == 0
    from llm.data.output import listed  # (imported here so that the file runs on the code before the guard)

    assert {"checkpoint-1", "config.json", "llm_train.json"} <= set(listed(run))
    assert cli(argv) == 2
    assert "holds a run of llm-train; pass --overwrite" in capsys.readouterr().err
    resumed = [*argv[:-6], "--max_steps", "2", "--save_steps", "1", "--save_total_limit", "1"]
    assert cli([*resumed, "--resume_from_checkpoint", str(run / "checkpoint-1")]) == 0
    assert json.loads((run / "log_history.json").read_text())[-1]["step"] == 2
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-2"]  # rotation: our own only
    (run / "my_notes.txt").write_text("mine")
    assert cli([*argv, "--overwrite", "true"]) == 2
    assert "did not write (my_notes.txt)" in capsys.readouterr().err
    (run / "my_notes.txt").unlink()
    assert cli([*argv, "--overwrite", "true"]) == 0
    assert json.loads((run / "log_history.json").read_text())[-1]["step"] == 1


# ── row 2: eval never writes over its input ──────────────────────────────────────────────────────────


def test_eval_refuses_to_write_over_its_user_turns(tmp_path, checkpoint, capsys):
    ev = tmp_path / "ev"
    fast = ["--conversations", "1", "--turns", "1", "--max_new_tokens", "2", "--progress", "false"]
    assert cli(["eval", "roleplay", "--model", str(checkpoint), *fast, "--output_dir", str(ev)]) == 0
    transcripts = ev / "transcripts.jsonl"
    before = hashes(ev)
    again = ["eval", "roleplay", "--model", str(checkpoint), *fast, "--user_turns", str(transcripts)]
    assert cli([*again, "--output_dir", str(ev), "--overwrite", "true"]) == 2
    assert f"holds the input {transcripts}" in capsys.readouterr().err
    assert hashes(ev) == before
    assert cli([*again[:-2], "--output_dir", str(ev)]) == 2  # our own report: replaced only when asked
    assert "pass --overwrite to replace it" in capsys.readouterr().err
    chats = jsonl(tmp_path / "runs" / "ev" / "transcripts.jsonl", [CHAT])  # the issue's: the user's chats
    assert cli([*again[:-1], str(chats), "--output_dir", str(chats.parent)]) == 2
    assert f"holds the input {chats}" in capsys.readouterr().err
    assert json.loads(chats.read_text()) == CHAT


# ── row 3: --overwrite replaces only what the marker lists ───────────────────────────────────────────

PROCESS = ["--dataset", "openai", "--tokenizer", "tiny:bytelevel", "--template", "chatml"]


def test_process_overwrite_keeps_the_users_additions(tmp_path, capsys):
    data = jsonl(tmp_path / "chats.jsonl", [CHAT] * 3)
    ours = tmp_path / "runs" / "ours"
    assert cli(["process", "--data_files", str(data), "--output", str(ours), *PROCESS]) == 0
    (ours / "my_notes.txt").write_text("mine")
    (ours / "my_eval").mkdir()
    (ours / "my_eval" / "scores.csv").write_text("1,2")
    before = hashes(ours)
    argv = ["process", "--data_files", str(data), "--output", str(ours), *PROCESS, "--max_length", "48"]
    assert cli([*argv, "--overwrite", "true"]) == 2
    assert "did not write (my_eval, my_notes.txt)" in capsys.readouterr().err
    assert hashes(ours) == before


def test_gatt_overwrite_keeps_the_users_additions(tmp_path, checkpoint):
    from llm.train.gatt_synthesis import SynthesisArguments

    ours = tmp_path / "gatt"
    ours.mkdir()
    (ours / "gatt.jsonl").write_text("{}\n")
    (ours / "stats.json").write_text("{}")
    (ours / MARKER).write_text(json.dumps({"key": "k", "files": ["gatt.jsonl", "stats.json"]}))
    (ours / "my_notes.txt").write_text("mine")
    args = SynthesisArguments(
        data_files=[str(PIPPA_SAMPLE)], output=str(ours), overwrite=True, model=str(checkpoint)
    )
    with pytest.raises(ValueError, match=r"did not write \(my_notes.txt\)"):
        args.validate()
    assert (ours / "my_notes.txt").read_text() == "mine"


def test_an_old_marker_without_a_list_still_protects_the_users_files(tmp_path, capsys):
    data = jsonl(tmp_path / "chats.jsonl", [CHAT] * 3)
    ours = tmp_path / "ours"
    assert cli(["process", "--data_files", str(data), "--output", str(ours), *PROCESS]) == 0
    (ours / MARKER).write_text(json.dumps({"key": "old"}))  # as an earlier version wrote it
    argv = ["process", "--data_files", str(data), "--output", str(ours), *PROCESS, "--overwrite", "true"]
    assert cli(argv) == 0  # what a process output holds is ours: replaced
    (ours / MARKER).write_text(json.dumps({"key": "old"}))
    (ours / "my_notes.txt").write_text("mine")
    assert cli([*argv, "--max_length", "48"]) == 2
    assert "did not write (my_notes.txt)" in capsys.readouterr().err
    assert (ours / "my_notes.txt").read_text() == "mine"


def test_the_marker_lists_checkpoints_before_they_are_written(tmp_path):
    from llm.data.output import claim_run, listed, record_written

    run = tmp_path / "run"
    claim_run(run, planned=["metrics.jsonl"])
    record_written(run, ["checkpoint-3"])
    assert listed(run) == ["checkpoint-3", "metrics.jsonl"]
    claim_run(run, overwrite=True)
    assert listed(run) == [] and os.listdir(run) == [MARKER]
    claim_run(run / "eval_roleplay")  # a report inside a run of ours is the run's
    assert listed(run) == ["eval_roleplay"]


# ── property: whatever the target, nothing that is not ours is ever deleted or modified ──────────────

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


class Loaded(BaseException):
    """Raised where a stage would first load data or a model: the target was accepted (and claimed)."""


# stage → (argv with {out} for the target, the stage's first load, whether it takes --overwrite)
STAGES = {
    "sft": (["sft", "--model_name_or_path", "{model}", "--data_files", "{chats}", "--dataset", "openai",
             "--template", "chatml"], "llm.train.sft.prepare_data", True),
    "pretrain": (["pretrain", "--model_config", "tiny", "--tokenizer", "{model}", "--data_files", "{docs}"],
                 "llm.train.sft.prepare_data", True),
    "rm": (["rm", "--model_name_or_path", "{model}", "--data_files", "{pairs}"], "llm.train.rm.prepare_data", True),
    "dpo": (["dpo", "--model_name_or_path", "{model}", "--ref_model_name_or_path", "{model}", "--data_files",
             "{pairs}", "--dataset", "tldr_comparisons", "--template", "plain"], "llm.train.dpo.prepare_data", True),
    "ppo": (["ppo", "--model_name_or_path", "{model}", "--reward_fn", "tests.helpers.ppo_rewards:letter_e", "--data_files",
             "{prompts}", "--report_to", "none"], "llm.train.ppo.trainer.start_accelerator", True),
    "grpo": (["grpo", "--model_name_or_path", "{model}", "--reward_fn", "tests.helpers.ppo_rewards:letter_e", "--data_files",
              "{prompts}"], "llm.train.grpo.trainer.start_accelerator", True),
    "eval": (["eval", "roleplay", "--model", "{model}", "--user_turns", "{chats}"],
             "llm.commands.eval.load_for_inference", True),
    "gatt-synthesize": (["gatt-synthesize", "--data_files", "{chats}", "--model", "{model}"],
                        "llm.train.gatt_synthesis.load_for_inference", True),
    "demo": (["demo", "--model", "{model}"], "llm.commands.demo.resolve_model", False),
    "demo-tiny": (["demo-tiny", "--data", "{pippa}"], "llm.commands.demo_tiny.prepare", False),
    "demo-rlhf": (["demo-rlhf"], "llm.commands.demo_rlhf.tokenizer_for_sample", False),
    "process": (["process", "--data_files", "{chats}", "--dataset", "openai", "--tokenizer", "tiny:bytelevel",
                 "--template", "chatml"], None, True),
}  # fmt: skip
OUTPUT_FLAG = {"gatt-synthesize": "--output", "process": "--output", "demo": "--run_dir", "demo-tiny": "--run_dir",
               "demo-rlhf": "--run_dir"}  # fmt: skip
TARGETS = ["new", "empty", "ours", "ours with a note", "user's folder", "input's folder", "parent of an input",
           "file", "symlink to a user's folder"]  # fmt: skip


def inputs(work: Path, checkpoint: Path) -> dict[str, Path]:
    model = Path(shutil.copytree(checkpoint, work / "model"))
    data = work / "data"
    pairs = TLDR_COMPARISONS_SAMPLE.read_text().splitlines()[:8]
    prompts = TLDR_SFT_SAMPLE.read_text().splitlines()[:8]
    (data / "pairs.jsonl").parent.mkdir(parents=True)
    (data / "pairs.jsonl").write_text("\n".join(pairs) + "\n")
    (data / "prompts.jsonl").write_text("\n".join(prompts) + "\n")
    (data / "pippa.jsonl").write_text("\n".join(PIPPA_SAMPLE.read_text().splitlines()[:8]) + "\n")
    return {"model": model, "chats": jsonl(data / "chats.jsonl", [CHAT] * 3), "pairs": data / "pairs.jsonl",
            "docs": jsonl(data / "docs.jsonl", [{"text": "the sea " * 20}] * 3),
            "prompts": data / "prompts.jsonl", "pippa": data / "pippa.jsonl"}  # fmt: skip


def target(work: Path, kind: str) -> Path:
    out = work / "out"
    if kind == "empty":
        out.mkdir()
    elif kind.startswith("ours"):
        from llm.data.output import claim_run

        claim_run(out, planned=["metrics.jsonl", "checkpoint-1"])
        (out / "metrics.jsonl").write_text("{}\n")
        (out / "checkpoint-1").mkdir()
        (out / "checkpoint-1" / "model.safetensors").write_bytes(b"ours")
        if kind == "ours with a note":
            (out / "my_notes.txt").write_text("mine")
    elif kind == "user's folder":
        users_folder(out)
    elif kind == "input's folder":
        out = work / "data"
    elif kind == "parent of an input":
        out = work
    elif kind == "file":
        out = work / "notes.txt"
        out.write_text("mine")
    elif kind == "symlink to a user's folder":
        users_folder(work / "theirs")
        out.symlink_to(work / "theirs")
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stage=st.sampled_from(sorted(STAGES)), kind=st.sampled_from(TARGETS), overwrite=st.booleans())
def test_no_stage_ever_touches_what_is_not_ours(
    tmp_path_factory, monkeypatch, checkpoint, stage, kind, overwrite
):
    work = tmp_path_factory.mktemp("work")
    paths = inputs(work, checkpoint)
    out = target(work, kind)
    template, first_load, takes_overwrite = STAGES[stage]
    if first_load:
        monkeypatch.setattr(first_load, lambda *a, **k: (_ for _ in ()).throw(Loaded()))
    argv = [part.format(**paths) for part in template] + [OUTPUT_FLAG.get(stage, "--output_dir"), str(out)]
    argv += ["--overwrite", "true"] if overwrite and takes_overwrite else []
    ours = (
        {"out/metrics.jsonl", "out/checkpoint-1/model.safetensors", f"out/{MARKER}"}
        if kind.startswith("ours")
        else set()
    )
    before = {k: v for k, v in hashes(work).items() if k not in ours}
    try:
        rc = cli(argv)
    except Loaded:
        rc = "went on"
    after = hashes(work)
    changed = sorted(k for k, v in before.items() if after.get(k) != v)
    assert not changed, f"{stage} {kind}: changed or deleted {changed}"
    replaces = overwrite or not takes_overwrite  # a demo replaces its own previous run
    accepted = kind in ("new", "empty") or (kind == "ours" and replaces)
    assert rc == ("went on" if first_load else 0) if accepted else rc == 2, (stage, kind, overwrite, rc)
