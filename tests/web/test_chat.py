"""The web page's chat (llm/web/chat.py): the prompt viewer's colours, a streamed reply from a checkpoint, and
an OpenAI-compatible endpoint streamed with the card as system message."""

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from llm.data.conversation import Conversation, Message
from llm.data.encode import IGNORE_INDEX, Encoder
from llm.data.tokenizer import build_tokenizer
from llm.errors import ServiceError, UserError
from llm.inference.chat import ChatSession
from llm.inference.repliers import Sampling
from llm.web.chat import ChatSetup, CheckpointChat, EndpointChat, prompt_html
from tests.helpers.ports import free_port
from tests.helpers.web import CARD


def test_prompt_html_colours_exactly_the_trained_tokens_and_escapes_text():
    tok = build_tokenizer("bytelevel")
    encoder = Encoder(tok, "chatml")
    conv = Conversation((Message("user", "Is <b>this</b> bold?"), Message("assistant", "No & yes.")), CARD)
    page = prompt_html(encoder, conv)
    sample = encoder.encode(conv)
    trained = tok.decode([i for i, lab in zip(sample.input_ids, sample.labels) if lab != IGNORE_INDEX])
    shown = "".join(
        part.split("</span>")[0].split(">", 1)[1] for part in page.split("<span class='trained'")[1:]
    )
    assert shown == trained.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert trained == "No & yes.<|im_end|>"
    assert "Is &lt;b&gt;this&lt;/b&gt; bold?" in page and "<b>this</b>" not in page
    assert f"tokens {len(sample)}" in page and f"trained {sample.num_trained}" in page


def test_a_streamed_reply_grows_and_ends_as_the_terminal_chats_reply(checkpoint):
    chat = CheckpointChat(checkpoint)
    setup = ChatSetup(CARD, "Sam", None, Sampling(max_new_tokens=24, temperature=1.0, top_p=1.0))
    history = [Message("assistant", "Welcome to the lighthouse, Sam."), Message("user", "Hello there")]
    torch.manual_seed(0)
    pieces = list(chat.stream(history, setup))
    assert len(pieces) > 2 and pieces[-1]
    assert all(b.startswith(a.strip()) for a, b in zip(pieces[:-2], pieces[1:-1]))  # each shows more
    # the same seed through llm-train chat's session gives the same reply: one code path
    session = ChatSession(
        chat.model, chat.encoder, CARD, "Sam", {"max_new_tokens": 24, **setup.sampling.generate_kwargs()}
    )
    session.history = history[:-1]
    torch.manual_seed(0)
    assert session.respond("Hello there", io.StringIO()) == pieces[-1]
    with pytest.raises(UserError, match="must end with your message"):
        list(chat.stream(history[:1], setup))


class _StreamingServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that lists one model and streams "Aye, come in." in three chunks."""

    received: list = []

    def do_GET(self):
        body = json.dumps(
            {"object": "list", "data": [{"id": "mira-7b", "object": "model", "owned_by": "me"}]}
        )
        self._send(body.encode(), "application/json")

    def do_POST(self):
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        chunks = [
            {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "mira-7b",
             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            for piece in (" Aye,", " come", " in.")
        ]  # fmt: skip
        events = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        self._send(events.encode(), "text/event-stream")

    def _send(self, body, kind):
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_endpoint_streams_with_the_card_as_system_message():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StreamingServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        chat = EndpointChat(f"http://127.0.0.1:{server.server_port}/v1")
        assert chat.model == "mira-7b"  # the server's first model, when none is named
        setup = ChatSetup(CARD, "Sam", None, Sampling(max_new_tokens=16, temperature=0.7, top_p=0.9))
        pieces = list(chat.stream([Message("assistant", "Welcome."), Message("user", "Hi")], setup))
        assert pieces == ["Aye,", "Aye, come", "Aye, come in.", "Aye, come in."]
        (sent,) = _StreamingServer.received
        assert sent["stream"] is True and sent["max_tokens"] == 16 and sent["model"] == "mira-7b"
        assert [m["role"] for m in sent["messages"]] == ["system", "assistant", "user"]
        assert (
            "Mira" in sent["messages"][0]["content"] and "lighthouse keeper" in sent["messages"][0]["content"]
        )
        assert "&quot;role&quot;: &quot;system&quot;" in chat.prompt_html([Message("user", "Hi")], setup)
    finally:
        server.shutdown()
    with pytest.raises(ServiceError, match="cannot list the server's models"):
        EndpointChat(f"http://127.0.0.1:{free_port()}/v1", retries=0)
