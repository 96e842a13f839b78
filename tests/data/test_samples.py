"""The bundled sample: it parses, carries the PIPPA quirks, and every chat encodes with exact masks."""

import json

import pytest

from llm.commands.demo_tiny import main as demo
from llm.data.encode import IGNORE_INDEX, Encoder
from llm.data.samples import PIPPA_SAMPLE as SAMPLE
from llm.data.sources import pippa
from llm.data.sources.files import read_records
from llm.data.tokenizer import build_tokenizer


@pytest.fixture(scope="module")
def convs():
    return [pippa.to_conversation(r, rid) for rid, r in read_records(SAMPLE)]


def test_sample_shape(convs):
    assert len(convs) >= 200
    assert len({c.character.name for c in convs}) >= 10
    raw = SAMPLE.read_text()
    for quirk in ("{{user}}", "{char}}", "END_OF_DIALOG", "[NAME_IN_MESSAGE_REDACTED]", "\\\\n"):
        assert quirk in raw, quirk
    records = [json.loads(line) for line in raw.splitlines()]
    assert any(r["bot_description"] is None for r in records)
    assert sum(len(json.dumps(r)) > 10_000 for r in records) >= 8  # long chats for windowing


@pytest.mark.parametrize(("template", "kind"), [("pygmalion", "metaspace"), ("chatml", "bytelevel")])
def test_every_sample_chat_trains_exactly_its_replies(convs, template, kind):
    tok = build_tokenizer(kind)
    enc = Encoder(tok, template)
    for conv, sample in zip(convs, enc.encode_batch(convs), strict=True):
        rendered = enc.render(conv)
        trained = [t for t, lab in zip(sample.input_ids, sample.labels, strict=True) if lab != IGNORE_INDEX]
        expected = "".join(
            enc.template.trained_text(m.content)
            for m in rendered.conversation.messages
            if m.role == "assistant"
        )
        assert tok.backend_tokenizer.decode(trained, skip_special_tokens=False) == expected


def test_demo_data_half(capsys):
    assert demo(["--steps", "0"]) == 0
    out = capsys.readouterr().out
    assert "conversations     200" in out
    assert "[[" in out and "]]" in out  # the shown sample marks its trained tokens
    assert "ids equal the tokenizer's whole-text ids" in out


@pytest.mark.slow  # the demo end to end
def test_demo_end_to_end_with_a_tiny_budget(tmp_path, capsys, monkeypatch):
    """The whole demo path (train, evaluate, save, curve, chat) with a 3-step budget."""
    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))
    run_dir = tmp_path / "demo"
    assert demo(["--steps", "3", "--model_config", "tiny", "--run_dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "eval loss on held-out chats:" in out
    for name in ("model.safetensors", "loss_curve.png", "llm_train.json", "chat_template.jinja"):
        assert (run_dir / name).exists(), name
    assert "── a short chat" in out and "You: Hello! Who are you?" in out
    assert f"llm-train chat --model {run_dir}" in out
