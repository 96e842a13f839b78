"""The command layer: one dispatch table, one error handler, one CLI style — and the defects the layering
review found (GAtt instruction twice, ``--torch_dtype auto``, two context policies, the demo's sample)."""

import json
import random
import re
import subprocess
import sys
import zipfile

import pytest
import torch

from llm.commands import COMMANDS, main
from llm.data.conversation import Conversation, Message
from llm.data.encode import Encoder
from llm.data.process import DataArguments, ProcessArguments, Report, process, text_rows
from llm.data.samples import PIPPA_SAMPLE
from llm.data.tokenizer import build_tokenizer
from llm.inference.chat import ChatSession
from llm.models.loading import ModelArguments, build_model
from llm.models.tiny import build_llama
from tests.helpers import REPO

# One cheap bad input per command: each must end as one line `llm-train CMD: error: …` and status 2.
BAD = {
    "process": (["--data_files", "nowhere.jsonl", "--tokenizer", "tiny:bytelevel", "--output", "o"], "no such file"),
    "show-sample": (["--data", "nowhere.jsonl"], "--template and --tokenizer are needed"),
    "sft": (["--output_dir", "o"], "exactly one of --model_name_or_path"),
    "pretrain": (["--output_dir", "o"], "exactly one of --model_name_or_path"),
    "rm": (["--model_config", "tiny", "--output_dir", "o"], "give --tokenizer"),
    "serve-reward": (["--model", "nowhere"], "nowhere"),
    "ppo": (["--output_dir", "o"], "--model_name_or_path is required"),
    "grpo": (["--output_dir", "o"], "--model_name_or_path is required"),
    "dpo": (["--model_config", "tiny", "--output_dir", "o", "--beta", "0"], "--beta 0.0: must be > 0"),
    "chat": (["--model", "nowhere"], "--model nowhere: no such directory"),
    "gatt-synthesize": (["--output", "o"], "--data_files is required"),
    "eval": (["roleplay", "--model", "nowhere"], "--model nowhere: no such directory"),
    "web": (["--model", "nowhere"], "--model nowhere: no such directory"),
    "demo-persistence": (["--turns", "0"], "--turns [0]: give turns of 1 or more"),
}  # fmt: skip


def test_every_command_is_in_the_table_and_tested():
    assert set(BAD) | {"demo", "demo-tiny", "demo-rlhf"} == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(BAD))
def test_every_command_reports_bad_input_in_one_line(name, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv, message = BAD[name]
    assert main([name, *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    prog = "llm-train eval roleplay" if name == "eval" else f"llm-train {name}"
    assert len(err) == 1 and err[0].startswith(f"{prog}: error: ") and message in err[0], err


@pytest.mark.parametrize(
    "name", sorted(set(COMMANDS) - {"demo", "demo-tiny", "demo-rlhf", "eval"}) + ["eval roleplay"]
)
def test_every_command_takes_snake_case_flags(name, capsys):
    assert main([*name.split(), "--help"]) == 0
    usage = capsys.readouterr().out.split("\n\n")[0]
    flags = re.findall(r"--[a-z0-9_-]+", usage)
    assert flags and not [f for f in flags if "-" in f[2:]], flags


def test_any_command_takes_a_yaml_config(tmp_path, capsys):
    config = tmp_path / "chat.yaml"
    config.write_text(f"model: {tmp_path / 'nowhere'}\nmax_new_tokens: 5\n")
    assert main(["chat", str(config), "--seed", "1"]) == 2
    assert f"--model {tmp_path / 'nowhere'}: no such directory" in capsys.readouterr().err


def test_unknown_commands_and_bare_calls(capsys):
    assert main(["nope"]) == 2 and "unknown command 'nope'" in capsys.readouterr().err
    assert main(["--help"]) == 0 and "gatt-synthesize" in capsys.readouterr().out
    assert main(["eval"]) == 2 and "name an evaluation" in capsys.readouterr().err


def test_unexpected_errors_keep_their_traceback(monkeypatch):
    def boom(*args, **kwargs):
        raise ZeroDivisionError("a bug, not bad input")

    monkeypatch.setattr("llm.commands.process.process", boom)
    with pytest.raises(ZeroDivisionError):
        main(["process", "--data_files", str(PIPPA_SAMPLE), "--tokenizer", "tiny:metaspace", "--output", "x"])


# ── defects ──────────────────────────────────────────────────────────────────────────────────────────


def test_gatt_with_the_system_prompt_as_instruction_writes_it_once(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))
    rule = "Always answer as a pirate."
    chat = {"messages": [{"role": "system", "content": rule}, {"role": "user", "content": "hi"},
                         {"role": "assistant", "content": "Arr."}, {"role": "user", "content": "and?"},
                         {"role": "assistant", "content": "Yo ho."}]}  # fmt: skip
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(chat) + "\n")
    args = DataArguments(dataset="openai", data_files=[str(path)], tokenizer="tiny:bytelevel", template="chatml",
                         gatt=True, gatt_skip_first=0)  # fmt: skip
    stats = process(args, ProcessArguments(str(tmp_path / "o")))
    import datasets

    tok = build_tokenizer("bytelevel")
    rows = datasets.load_from_disk(str(tmp_path / "o"))["train"]
    assert stats["samples"] == 2
    for row in rows:
        assert tok.decode(row["input_ids"]).count(rule) == 1


def test_torch_dtype_auto_is_the_checkpoints_own(tmp_path):
    tok = build_tokenizer("bytelevel")
    build_llama(tok).to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    args = ModelArguments(model_name_or_path=str(tmp_path / "bf16"))
    assert build_model(args, tok).dtype == torch.bfloat16  # auto: what the checkpoint holds
    assert build_model(args, tok, bf16=True).dtype == torch.float32  # mixed precision: fp32 master weights
    args.torch_dtype = "float32"
    assert build_model(args, tok).dtype == torch.float32


def test_chat_and_batched_replies_share_one_context_policy():
    """An instruction given once in the first user turn survives a long chat in `llm-train chat` too."""
    tok = build_tokenizer("bytelevel")
    model = build_llama(tok, max_position_embeddings=128)
    session = ChatSession(model, Encoder(tok, "chatml"), generate_kwargs={"max_new_tokens": 8})
    session.history = [Message("user", "RULE: speak French."), Message("assistant", "Oui.")]
    for t in range(12):
        session.history += [Message("user", f"question {t}"), Message("assistant", f"answer {t}")]
    session.history.append(Message("user", "last"))
    text = tok.decode(session._prompt_within_context())
    assert "RULE: speak French." in text and "last" in text and "question 0" not in text
    assert len(session.history) == 27  # the history keeps every turn; only the prompt leaves some out
    from llm.inference.repliers import LocalReplier, Sampling

    replier = LocalReplier(model, Encoder(tok, "chatml"), Sampling(max_new_tokens=8))
    ids, _ = replier.prompt(Conversation(tuple(session.history)))
    assert ids == session._prompt_within_context()


def test_text_rows_know_the_first_document_of_every_row():
    """The linear pass gives what the quadratic search gave: each row's first document."""
    tok = build_tokenizer("bytelevel")
    rng = random.Random(0)
    docs = [
        (i, " ".join(rng.choice(["sea", "light", "the", "a"]) for _ in range(rng.randint(0, 40))))
        for i in range(700)
    ]
    rows = list(text_rows(tok, docs, 64, Report()))
    joined, starts = [], []
    for index, text in docs:
        starts.append((len(joined), index))
        joined += tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert [ids for ids, _ in rows] == [joined[k : k + 64] for k in range(0, len(joined), 64)]
    assert [first for _, first in rows] == [
        max(i for p, i in starts if p <= k) for k in range(0, len(joined), 64)
    ]


def test_the_demo_sample_ships_inside_the_package(tmp_path):
    """`llm-train demo` works from an installed wheel: the samples are package data."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("llm_train-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for sample in ("pippa_sample.jsonl", "tldr_sft_sample.jsonl", "tldr_comparisons_sample.jsonl"):
        assert f"llm/data/samples/{sample}" in names
    assert "llm/eval/instruction_pool.json" in names and "llm/eval/user_turns.txt" in names
    assert {f"llm/configs/{name}.yaml" for name in ("demo", "demo_tiny", "demo_rlhf")} <= names  # the recipes


def test_the_real_demo_plans_its_steps_from_the_measured_time(monkeypatch):
    """The first step (warm-up and the evaluation before training) is left out of the measurement."""
    from types import SimpleNamespace

    from llm.commands.demo import PlannedBudget

    ticks = iter([100.0, 102.0, 104.0, 106.0, 108.0, 110.0])  # step 1 ends at 100 s, then 2 s a step
    monkeypatch.setattr("llm.commands.demo.time.perf_counter", lambda: next(ticks))
    budget = PlannedBudget(seconds=10, measure_steps=3)
    args = SimpleNamespace(per_device_train_batch_size=1, gradient_accumulation_steps=2)
    stops = []
    for step in range(1, 7):
        control = SimpleNamespace(should_training_stop=False)
        budget.on_step_end(args, SimpleNamespace(global_step=step, max_steps=200), control)
        stops.append(control.should_training_stop)
    assert budget.per_step == 2.0 and budget.planned == 5
    assert stops == [False, False, False, False, True, True]
