"""What the web page's Chat tab talks to: a local checkpoint or an OpenAI-compatible endpoint, streamed.

Both repliers take the chat so far (a list of :class:`~llm.data.conversation.Message` ending with the user's
turn) and yield the reply as it grows. A checkpoint replies through :class:`~llm.inference.chat.ChatSession`
— the same prompt, context fitting and stops as ``llm-train chat`` and training — run in a thread whose
:class:`~llm.inference.chat.ReplyStreamer` writes into a queue the page reads. An endpoint gets the chat as
OpenAI messages, the card as the system message (:func:`~llm.inference.repliers.openai_messages`, as
SillyTavern's chat-completion mode sends it), with ``stream=True``.

:func:`prompt_html` is the mask viewer of ``show-sample`` in HTML: the chat rendered and encoded as a
training row, trained tokens green, control tokens grey.
"""

from __future__ import annotations

import html
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm.data.cards import Character
from llm.data.conversation import Conversation, Message
from llm.data.encode import Encoder
from llm.data.show import mask_spans
from llm.errors import ServiceError, UserError
from llm.inference.chat import ChatSession
from llm.inference.repliers import Sampling, openai_messages, openai_sdk
from llm.models.checkpoint import checkpoint_template, require_kind
from llm.models.loading import load_for_inference

_DONE = object()  # end of a streamed reply, on the queue


@dataclass(frozen=True)
class ChatSetup:
    """Who the bot plays and how it samples: one chat's settings, read from the page at each turn."""

    character: Character | None = None
    user_name: str = "You"
    system: str | None = None
    sampling: Sampling = Sampling(max_new_tokens=128, temperature=0.8, top_p=0.95)

    def conversation(self, history: list[Message]) -> Conversation:
        system = (Message("system", self.system),) if self.system else ()
        return Conversation((*system, *history), self.character)


class _QueueWriter:
    """The ``TextIO`` a :class:`~llm.inference.chat.ReplyStreamer` writes to: each piece goes on a queue."""

    def __init__(self, pieces: queue.Queue):
        self.pieces = pieces

    def write(self, text: str) -> int:
        self.pieces.put(text)
        return len(text)

    def flush(self) -> None:
        pass


class CheckpointChat:
    """A checkpoint directory, loaded once, replying through its training template."""

    def __init__(self, model_dir: str | Path, template: str | None = None):
        directory = Path(model_dir)
        if not directory.is_dir():
            raise UserError(f"checkpoint {directory}: no such directory")
        require_kind(directory, "causal_lm", "checkpoint", "web")
        self.label = directory.name
        self.template_name = checkpoint_template(directory, template)
        self.model, tokenizer = load_for_inference(directory)
        self.encoder = Encoder(tokenizer, self.template_name)
        self._lock = threading.Lock()  # one generation at a time per model

    def stream(self, history: list[Message], setup: ChatSetup) -> Iterator[str]:
        """The reply to ``history`` (which ends with the user's turn), growing as it is generated."""
        if not history or history[-1].role != "user":
            raise UserError("the chat must end with your message before the bot can reply")
        session = ChatSession(
            self.model,
            self.encoder,
            setup.character,
            user_name=setup.user_name,
            generate_kwargs={
                "max_new_tokens": setup.sampling.max_new_tokens,
                **setup.sampling.generate_kwargs(),
            },
            system=setup.system,
            history=list(history[:-1]),
        )
        pieces: queue.Queue = queue.Queue()
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                with self._lock:
                    result["reply"] = session.respond(history[-1].content, _QueueWriter(pieces))
            except Exception as e:  # handed to the page's thread
                result["error"] = e
            finally:
                pieces.put(_DONE)

        threading.Thread(target=work, daemon=True).start()
        shown = ""
        while (piece := pieces.get()) is not _DONE:
            shown += piece
            yield shown
        if "error" in result:
            raise result["error"]
        yield result["reply"]

    def prompt_html(self, history: list[Message], setup: ChatSetup) -> str:
        return prompt_html(self.encoder, setup.conversation(history))


class EndpointChat:
    """A running OpenAI-compatible server (``transformers serve``, vLLM, llama.cpp …): ``base_url`` is the API
        root, e.g. ``http://127.0.0.1:8000/v1``; ``model`` None asks the server for its first model. The SDK retries
    connection errors, 429 and 5xx ``retries`` times with backoff."""

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 120,
        retries: int = 2,
    ):
        openai = openai_sdk()
        self.url, self._openai = base_url.rstrip("/"), openai
        self._client = openai.OpenAI(
            base_url=self.url, api_key=api_key or "EMPTY", timeout=timeout, max_retries=retries
        )
        self.model = model or self._first_model()
        self.label = f"{self.model} @ {self.url}"

    def _first_model(self) -> str:
        try:
            models = list(self._client.models.list())
        except self._openai.OpenAIError as e:
            raise ServiceError(
                f"{self.url}/models: cannot list the server's models ({e}); name one"
            ) from None
        if not models:
            raise ServiceError(f"{self.url}/models: the server lists no model; name one")
        return models[0].id

    def stream(self, history: list[Message], setup: ChatSetup) -> Iterator[str]:
        s, openai = setup.sampling, self._openai
        try:
            chunks = self._client.chat.completions.create(
                model=self.model,
                messages=openai_messages(setup.conversation(history)),
                max_tokens=s.max_new_tokens,
                temperature=s.temperature,
                top_p=s.top_p,
                stream=True,
            )
            text = ""
            for chunk in chunks:
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    text += delta
                    yield text.lstrip()
        except openai.APIStatusError as e:
            raise ServiceError(f"{self.url}: HTTP {e.status_code}: {str(e.message)[:300]}") from None
        except openai.APIConnectionError as e:
            raise ServiceError(f"{self.url}: cannot reach the server ({e.__cause__ or e})") from None
        yield text.strip()

    def prompt_html(self, history: list[Message], setup: ChatSetup) -> str:
        """What the server is sent (it renders the prompt with its own chat template)."""
        sent = json.dumps(openai_messages(setup.conversation(history)), indent=1, ensure_ascii=False)
        return (
            f"<p>{html.escape(self.url)} renders the prompt with its own chat template; the messages sent:</p>"
            f"<pre class='llm-prompt'>{html.escape(sent)}</pre>"
        )


# kind → CSS of its runs; trained = the tokens the loss is computed on
SPAN_STYLES = {
    "trained": "background:#b8f0b0;color:#063",
    "control": "background:#e4e4e4;color:#777",
    "text": "",
}


def prompt_html(encoder: Encoder, conv: Conversation) -> str:
    """The conversation as its training row, in HTML: trained tokens green, control tokens grey, counts.

    >>> from llm.data.tokenizer import build_tokenizer
    >>> enc = Encoder(build_tokenizer("bytelevel"), "chatml")
    >>> page = prompt_html(enc, Conversation((Message("user", "Hi"), Message("assistant", "Yo"))))
    >>> "<span class='trained'" in page, page.count("class='trained'")
    (True, 1)
    """
    sample = encoder.encode(conv)
    spans = "".join(
        f"<span class='{kind}' style='{SPAN_STYLES[kind]}'>{html.escape(text)}</span>"
        for kind, text in mask_spans(sample.input_ids, sample.labels, encoder.tokenizer)
    )
    share = sample.num_trained / len(sample) if len(sample) else 0.0
    return (
        f"<pre class='llm-prompt' style='white-space:pre-wrap'>{spans}</pre>"
        f"<p>template <b>{html.escape(encoder.template.name)}</b> · tokens {len(sample)} · trained "
        f"{sample.num_trained} ({share:.0%}): <span style='{SPAN_STYLES['trained']}'>trained</span> "
        f"<span style='{SPAN_STYLES['control']}'>control, not trained</span> other text not trained</p>"
    )
