"""``llm-train demo-persistence`` end to end on a tiny checkpoint: base → GAtt data from the suite's train
families → LoRA SFT → the same evaluation; what the summary, the plot and the transcripts must hold."""

import json

import pytest

import llm.commands.demo_persistence as demo
from llm.commands.demo_persistence import main
from llm.eval.suite import suite_checks, suite_families
from llm.train.gatt_synthesis import synthesize
from tests.helpers.repliers import ObeyingReplier

TINY = ["--template", "chatml", "--checks_per_family", "1", "--turns", "1", "2", "--max_new_tokens", "6",
        "--gatt_dialogues", "6", "--gatt_turns", "2", "--chats", "4", "--held_out_chats", "2", "--minutes", "0.2",
        "--max_steps", "2", "--batch_size", "16"]  # fmt: skip


@pytest.mark.slow
def test_the_demo_runs_base_to_final_on_the_same_conversations(checkpoint, tmp_path, capsys, monkeypatch):
    # A random tiny model obeys nothing, so no GAtt sample would pass its check: the samples come from a
    # replier that obeys every train instruction, through the real synthesis (checks, probes, encoding).
    def obeying_synthesis(args, replier=None):
        args.tokenizer = args.model
        return synthesize(args, ObeyingReplier(suite_checks("train")))

    monkeypatch.setattr(demo, "synthesize", obeying_synthesis)
    run_dir = tmp_path / "demo"
    assert main(["--model", str(checkpoint), "--run_dir", str(run_dir), *TINY]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["checkpoint"] == str(run_dir / "model")
    assert (run_dir / "model" / "llm_train.json").is_file() and (
        run_dir / "persistence.png"
    ).stat().st_size > 0
    for name in ("base", "final"):
        assert set(summary["scores"][name]) == {"train", "held_out", "control"}
        assert set(summary["scores"][name]["train"]) == {"1", "2"}
    assert set(summary["chat_loss"]) == {"base", "final"} and summary["chat_loss"]["base"] > 0
    assert len(summary["targets"]) == 6 and all(
        isinstance(t["met"], bool) for t in summary["targets"].values()
    )
    # Train families only in the GAtt data; the same user turns before and after.
    train, held_out = suite_families()
    assert set(summary["gatt"]["families"]) <= set(train)
    before = [json.loads(line) for line in (run_dir / "eval_before" / "transcripts.jsonl").open()]
    after = [json.loads(line) for line in (run_dir / "eval_after" / "transcripts.jsonl").open()]
    assert len(before) == len(after) == 10  # one check per family
    assert [[t["user"] for t in b["turns"]] for b in before] == [
        [t["user"] for t in a["turns"]] for a in after
    ]
    out = capsys.readouterr().out
    assert "held_out" in out and "targets:" in out
