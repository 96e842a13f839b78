"""The bundled sample: it parses, carries the PIPPA quirks, and every chat encodes with exact masks."""

import json

import pytest

from llm.data.encode import IGNORE_INDEX, Encoder
from llm.data.sources import pippa
from llm.data.sources.files import read_jsonl
from llm.demo import SAMPLE
from llm.demo import main as demo
from llm.models.tiny import build_tokenizer


@pytest.fixture(scope="module")
def convs():
    return [pippa.to_conversation(r, rid) for rid, r in read_jsonl(SAMPLE)]


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


def test_demo_runs_and_reports(capsys):
    assert demo([]) == 0
    out = capsys.readouterr().out
    assert "conversations     200" in out
    assert "[[" in out and "]]" in out  # the shown sample marks its trained tokens
    assert "ids equal the tokenizer's whole-text ids" in out
