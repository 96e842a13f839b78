"""The chat session under ``llm-train chat`` and the web page (llm/inference/chat.py): the streamer never
shows a stop string, and the session keeps only the cut reply."""

import io

import torch
from transformers import LlamaForCausalLM

from llm.data.conversation import Character
from llm.data.encode import Encoder
from llm.data.tokenizer import build_tokenizer
from llm.inference.chat import ChatSession, ReplyStreamer
from llm.models.tiny import build_llama


def test_streamer_never_shows_a_stop_string():
    """Text that could start a stop string is held back until the next tokens decide."""
    tok = build_tokenizer("bytelevel")
    stops = ("</s>", "\nSam:")
    out = io.StringIO()
    streamer = ReplyStreamer(tok, stops, out)
    streamer.put(torch.tensor([[1, 2, 3]]))  # the prompt: not shown
    shown = []
    for token in tok(" Aye.\nSam: hello</s>", add_special_tokens=False)["input_ids"]:
        streamer.put(torch.tensor([token]))
        shown.append(out.getvalue())
    streamer.end()
    assert out.getvalue() == "Aye."
    assert not any("\n" in s for s in shown)


def test_session_stores_the_cut_reply(monkeypatch):
    """A model that writes the user's next line: the chat shows and keeps only its own part."""
    tok = build_tokenizer("bytelevel")
    model = build_llama(tok)
    scripted = tok(" Aye, come in.\nSam: thank you</s>", add_special_tokens=False)["input_ids"]

    def fake_generate(self, input_ids, streamer, stop_strings, **kwargs):
        assert "\nSam:" in stop_strings  # generate is asked to stop where the user's turn begins
        streamer.put(input_ids)
        for token in scripted:  # ... but even a model that writes past it is cut there
            input_ids = torch.cat([input_ids, torch.tensor([[token]])], dim=1)
            streamer.put(torch.tensor([token]))
        streamer.end()
        return input_ids

    monkeypatch.setattr(LlamaForCausalLM, "generate", fake_generate)
    card = Character("Mira", greeting="Welcome, {{user}}.", user_name="Sam")
    session = ChatSession(model, Encoder(tok, "pygmalion"), card, user_name="Sam")
    session.reset()
    out = io.StringIO()
    assert session.respond("Hello!", out) == "Aye, come in."
    assert out.getvalue() == "Aye, come in."
    assert [m.content for m in session.history] == ["Welcome, {{user}}.", "Hello!", "Aye, come in."]
    assert session.encoder.render(session.conversation()).text.endswith(
        "Mira: Welcome, Sam.</s>\nSam: Hello!\nMira: Aye, come in.</s>\n"
    )
