"""Replies to many conversations at once: a local checkpoint (batched, KV cache) or an OpenAI-compatible server.

GAtt sampling (``llm-train gatt-synthesize``) and the role-play evaluation (``llm-train eval roleplay``)
both need "the next assistant reply of each of these conversations". A *replier* is anything callable
as ``replier(conversations) -> list[Reply]``:

- :class:`LocalReplier` renders every prompt with the checkpoint's template and encoder (exactly the
  token layout of training, as ``llm-train chat`` does), left-pads a batch, runs ``model.generate`` with
  the KV cache, and cuts each reply where its turn ends: the end-of-turn token, or the opening of a user
  turn the model started to write (``\\nSam:``, ``<|im_start|>user`` …).
- :class:`OpenAIReplier` posts each conversation to ``{base_url}/chat/completions`` (vLLM, TGI, llama.cpp,
  OpenAI …) from a few threads; the server applies its own chat template.

>>> from llm.data.conversation import Conversation, Message
>>> from llm.data.encode import Encoder
>>> from llm.models.tiny import build_llama, build_tokenizer
>>> tok = build_tokenizer("bytelevel")
>>> replier = LocalReplier(build_llama(tok), Encoder(tok, "chatml"), Sampling(max_new_tokens=4))
>>> replies = replier([Conversation((Message("user", "Hi"),)), Conversation((Message("user", "Yo"),))])
>>> len(replies), all(isinstance(r.text, str) for r in replies)
(2, True)
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch
from transformers import StoppingCriteriaList

from llm.chat.cli import StopOnText, cut_reply, turn_ends, user_turn_markers
from llm.data.conversation import Conversation
from llm.data.encode import Encoder
from llm.data.templates import card_system_text


@dataclass(frozen=True)
class Reply:
    """One generated reply; ``finished`` is False when it ran into ``max_new_tokens`` before its turn ended.

    ``dropped_turns`` counts the oldest exchanges left out of the prompt to fit the model's context.
    ``wrote_user_turn`` is True when the model went on to write the user's next turn and the text was cut
    where that turn began (only :class:`LocalReplier` can tell; a server cuts on its own). ``overflow``
    is True when the prompt could not be made to fit the context at all: nothing was generated for it
    (the other conversations of the call go on).
    """

    text: str
    finished: bool = True
    dropped_turns: int = 0
    wrote_user_turn: bool = False
    overflow: bool = False


@dataclass(frozen=True)
class Sampling:
    """How replies are drawn. ``temperature`` 0 means greedy (deterministic)."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens {self.max_new_tokens}: must be 1 or more")
        if self.temperature < 0:
            raise ValueError(f"temperature {self.temperature}: must be 0 (greedy) or more")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p {self.top_p}: must be in (0, 1]")


class Replier(Protocol):
    def __call__(self, conversations: Sequence[Conversation]) -> list[Reply]: ...


# ── a local checkpoint ───────────────────────────────────────────────────────────────────────────────


class LocalReplier:
    """Batched replies from a local model, through the template and encoder it was trained with.

    Prompts longer than the model's context (less ``max_new_tokens``) lose their oldest exchanges after
    the first user turn; the system slot and the first exchange stay, since that is where an instruction
    given once at the start lives. How many were left out is in :attr:`Reply.dropped_turns`.
    """

    def __init__(self, model: Any, encoder: Encoder, sampling: Sampling | None = None, batch_size: int = 16):
        if batch_size < 1:
            raise ValueError(f"batch_size {batch_size}: must be 1 or more")
        self.model, self.encoder = model, encoder
        self.sampling = sampling or Sampling()
        self.batch_size = batch_size
        tokenizer, template = encoder.tokenizer, encoder.template
        self._ends, self._end_ids = turn_ends(template, tokenizer)
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self._end_ids[0]
        self._markers: dict[Any, tuple[str, ...]] = {}

    def stops(self, conv: Conversation) -> tuple[str, ...]:
        """Where a reply in ``conv`` ends, as text: end of turn, EOS, the user's turn opening."""
        key = conv.character
        if key not in self._markers:
            self._markers[key] = user_turn_markers(self.encoder.template, conv.character)
        return tuple(dict.fromkeys((*self._ends, *self._markers[key])))

    def prompt(self, conv: Conversation) -> tuple[list[int] | None, int]:
        """The prompt ids, and how many exchanges were left out to fit the context; ids are None when
        even the first exchange and the last user turn do not fit."""
        limit = getattr(self.model.config, "max_position_embeddings", None)
        room = self.sampling.max_new_tokens
        ids, dropped = self.encoder.encode_prompt(conv), 0
        while limit and len(ids) + room > limit:
            shorter = drop_oldest_exchange(conv)
            if shorter is None:
                return None, dropped
            conv, dropped = shorter, dropped + 1
            ids = self.encoder.encode_prompt(conv)
        return ids, dropped

    @torch.no_grad()
    def __call__(self, conversations: Sequence[Conversation]) -> list[Reply]:
        prompts = [self.prompt(c) for c in conversations]
        replies: list[Reply | None] = [
            Reply("", finished=False, dropped_turns=d, overflow=True) if ids is None else None
            for ids, d in prompts
        ]
        fitting = [i for i, (ids, _) in enumerate(prompts) if ids is not None]
        order = sorted(fitting, key=lambda i: len(prompts[i][0]))  # similar lengths pad less
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                texts, finished, user_turns = self._generate(
                    [prompts[i][0] for i in batch], [self.stops(conversations[i]) for i in batch]
                )
                for i, text, done, user in zip(batch, texts, finished, user_turns, strict=True):
                    replies[i] = Reply(text, done, prompts[i][1], user)
        finally:
            self.model.train(was_training)
        return replies  # type: ignore[return-value]

    def _generate(
        self, prompts: list[list[int]], stops: list[tuple[str, ...]]
    ) -> tuple[list[str], list[bool], list[bool]]:
        width = max(len(p) for p in prompts)
        device = self.model.device
        input_ids = torch.tensor([[self._pad_id] * (width - len(p)) + p for p in prompts], device=device)
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        s = self.sampling
        if s.temperature:
            sampling: dict[str, Any] = {"do_sample": True, "temperature": s.temperature, "top_p": s.top_p}
        else:
            sampling = {"do_sample": False}
        tokenizer = self.encoder.tokenizer
        output = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=s.max_new_tokens,
            stopping_criteria=StoppingCriteriaList([StopOnText(tokenizer, stops, width)]),
            eos_token_id=self._end_ids or None,
            pad_token_id=self._pad_id,
            use_cache=True,  # training checkpoints save use_cache=False; generation wants the KV cache
            **sampling,
        )
        texts, finished, user_turns = [], [], []
        for row, row_stops in zip(output[:, width:].tolist(), stops, strict=True):
            ended_by_token = any(t in self._end_ids for t in row)
            generated = tokenizer.decode(row, skip_special_tokens=False)
            text, stopped = cut_reply(generated, row_stops)
            texts.append(text.strip())
            finished.append(stopped or ended_by_token)
            # Cut at a stop that is not an end of turn: a user-turn opening the model wrote.
            user_turns.append(stopped and not generated[len(text) :].startswith(tuple(self._ends)))
        return texts, finished, user_turns


def drop_oldest_exchange(conv: Conversation) -> Conversation | None:
    """``conv`` without its second user turn and the replies that follow it; None when nothing can go.

    The system message, anything before the first user turn (a greeting), the first exchange and the
    last user turn always stay.
    """
    users = [k for k, m in enumerate(conv.messages) if m.role == "user"]
    if len(users) < 3:
        return None
    start, end = users[1], users[2]
    return replace(conv, messages=conv.messages[:start] + conv.messages[end:])


# ── an OpenAI-compatible server ──────────────────────────────────────────────────────────────────────


def openai_messages(conv: Conversation) -> list[dict[str, str]]:
    """The conversation as chat-completions messages; a character card becomes (part of) the system message.

    >>> from llm.data.conversation import Character, Message
    >>> openai_messages(Conversation((Message("user", "Hi"),), Character("Mira", user_name="Sam")))[0]["role"]
    'system'
    """
    system = [card_system_text(conv.character)] if conv.character else []
    messages = []
    for m in conv.messages:
        if m.role == "system":
            system.append(m.content)
        else:
            messages.append({"role": m.role, "content": m.content})
    return ([{"role": "system", "content": "\n\n".join(system)}] if system else []) + messages


class OpenAIReplier:
    """Replies from an OpenAI-compatible ``/chat/completions`` endpoint, several requests in flight.

    ``base_url`` is the API root, e.g. ``http://127.0.0.1:8000/v1``. Requests that fail with 429 or 5xx
    are retried ``retries`` times with backoff; anything else raises with the status and the server's
    message. ``finish_reason == "length"`` marks a reply as not finished.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        sampling: Sampling | None = None,
        timeout: float = 120.0,
        workers: int = 8,
        retries: int = 2,
    ):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key = model, api_key
        self.sampling = sampling or Sampling()
        self.timeout, self.workers, self.retries = timeout, workers, retries

    def __call__(self, conversations: Sequence[Conversation]) -> list[Reply]:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(self._one, conversations))

    def _one(self, conv: Conversation) -> Reply:
        s = self.sampling
        body = {
            "model": self.model,
            "messages": openai_messages(conv),
            "max_tokens": s.max_new_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers, method="POST")
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    body = response.read()
                break
            except urllib.error.HTTPError as e:
                detail = e.read()[:300].decode("utf-8", "replace")
                if (e.code == 429 or e.code >= 500) and attempt < self.retries:
                    time.sleep(2**attempt)
                    continue
                raise RuntimeError(f"{self.url}: HTTP {e.code}: {detail}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as e:
                if attempt < self.retries:
                    time.sleep(2**attempt)
                    continue
                reason = getattr(e, "reason", e)
                raise RuntimeError(f"{self.url}: cannot reach the server ({reason})") from None
        try:
            answer = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RuntimeError(f"{self.url}: the answer is not JSON: {body[:300]!r}") from None
        try:
            choice = answer["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise RuntimeError(f"{self.url}: not a chat-completions answer: {str(answer)[:300]}") from None
        return Reply(text.strip(), finished=choice.get("finish_reason") != "length")
