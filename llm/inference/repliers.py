"""Replies to many conversations at once: a local checkpoint (batched, KV cache) or an OpenAI-compatible server.

GAtt sampling (``llm-train gatt-synthesize``) and the role-play evaluation (``llm-train eval roleplay``)
both need "the next assistant reply of each of these conversations". A *replier* is anything callable
as ``replier(conversations) -> list[Reply]``:

- :class:`LocalReplier` renders every prompt with the checkpoint's template and encoder (exactly the
  token layout of training, as ``llm-train chat`` does), left-pads a batch, runs ``model.generate`` with
  the KV cache, and cuts each reply where its turn ends: the end-of-turn token, or the opening of a user
  turn the model started to write (``\\nSam:``, ``<|im_start|>user`` …). Prompts too long for the context
  lose old exchanges by the one shared policy (:mod:`llm.inference.context`).
- :class:`OpenAIReplier` sends each conversation to ``{base_url}/chat/completions`` (vLLM, TGI, llama.cpp,
  OpenAI …) through the ``openai`` SDK (timeouts, retries with backoff), from a few threads; the server
  applies its own chat template.

>>> from llm.data.conversation import Conversation, Message
>>> from llm.data.encode import Encoder
>>> from llm.data.tokenizer import build_tokenizer
>>> from llm.models.tiny import build_llama
>>> tok = build_tokenizer("bytelevel")
>>> replier = LocalReplier(build_llama(tok), Encoder(tok, "chatml"), Sampling(max_new_tokens=4))
>>> [len(tok(r.text)["input_ids"]) <= 4 for r in replier([Conversation((Message("user", "Hi"),))] * 2)]
[True, True]
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteriaList

from llm.data.conversation import Conversation, resolve_placeholders
from llm.data.encode import Encoder
from llm.data.templates import card_system_text, post_history_target
from llm.errors import ServiceError, UserError
from llm.inference.cache import PrefixCache, generate
from llm.inference.context import context_limit, fit
from llm.inference.stops import StopOnText, cut_reply, turn_ends, user_turn_markers


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
    repetition_penalty: float = 1.0  # on the reply's own tokens only (ReplyRepetitionPenalty); 1: none

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise UserError(f"max_new_tokens {self.max_new_tokens}: must be 1 or more")
        if self.temperature < 0:
            raise UserError(f"temperature {self.temperature}: must be 0 (greedy) or more")
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p {self.top_p}: must be in (0, 1]")
        if self.repetition_penalty < 1:
            raise UserError(f"repetition_penalty {self.repetition_penalty}: must be 1 (none) or more")

    def generate_kwargs(self) -> dict[str, Any]:
        """The sampling arguments of ``model.generate``."""
        if not self.temperature:
            return {"do_sample": False}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p}


class ReplyRepetitionPenalty(LogitsProcessor):
    """CTRL's repetition penalty (a positive logit divided by ``penalty``, a negative one multiplied) on the
    tokens the reply has generated so far, never the prompt's. ``transformers``' own ``repetition_penalty``
    counts the whole conversation, so it would push a model away from saying what its instruction asks it to
    say (a secret number, a name, a required word); this one only stops a reply from looping on itself.

    >>> scores = torch.tensor([[2.0, -1.0, 0.5]])
    >>> ReplyRepetitionPenalty(width=2, penalty=2.0)(torch.tensor([[0, 1, 0, 1]]), scores)
    tensor([[ 1.0000, -2.0000,  0.5000]])
    >>> ReplyRepetitionPenalty(width=2, penalty=2.0)(torch.tensor([[0, 1]]), scores)  # nothing generated yet
    tensor([[ 2.0000, -1.0000,  0.5000]])
    """

    def __init__(self, width: int, penalty: float):
        self.width, self.penalty = width, penalty

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        generated = input_ids[:, self.width :]
        if generated.shape[1] == 0:
            return scores
        picked = scores.gather(1, generated)
        picked = torch.where(picked < 0, picked * self.penalty, picked / self.penalty)
        return scores.scatter(1, generated, picked)


class Replier(Protocol):
    def __call__(self, conversations: Sequence[Conversation]) -> list[Reply]: ...


# ── a local checkpoint ───────────────────────────────────────────────────────────────────────────────


class LocalReplier:
    """Batched replies from a local model, through the template and encoder it was trained with.

    With a :class:`~llm.inference.cache.PrefixCache`, each conversation's keys and values are kept between
    calls, so its next turn (or a probe branching from it) runs only the tokens added since; the replies are
    those of a replier without one.
    """

    def __init__(
        self,
        model: Any,
        encoder: Encoder,
        sampling: Sampling | None = None,
        batch_size: int = 16,
        cache: PrefixCache | None = None,
    ):
        if batch_size < 1:
            raise UserError(f"batch_size {batch_size}: must be 1 or more")
        self.model, self.encoder = model, encoder
        self.cache = (
            cache  # keys and values kept across calls: a conversation's next turn runs only its new tokens
        )
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
        fitted = fit(
            conv, self.encoder.encode_prompt, context_limit(self.model, self.sampling.max_new_tokens)
        )
        return fitted.ids, fitted.dropped

    @torch.no_grad()
    def __call__(self, conversations: Sequence[Conversation]) -> list[Reply]:
        prompts = [self.prompt(c) for c in conversations]
        replies: list[Reply | None] = [
            Reply("", finished=False, dropped_turns=d, overflow=True) if ids is None else None
            for ids, d in prompts
        ]
        fitting = [i for i, (ids, _) in enumerate(prompts) if ids is not None]
        # Greedy replies to the same prompt are the same reply: each distinct prompt is generated once (an
        # evaluation's control runs the same conversation under every check, only the probes differ).
        twin_of: dict[int, int] = {}
        if not self.sampling.temperature:
            first: dict[tuple, int] = {}
            for i in fitting:
                key = (tuple(prompts[i][0]), self.stops(conversations[i]))
                twin_of[i] = first.setdefault(key, i)
            fitting = [i for i in fitting if twin_of[i] == i]
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
        for i, twin in twin_of.items():
            replies[i] = replace(replies[twin], dropped_turns=prompts[i][1])  # type: ignore[arg-type]
        return replies  # type: ignore[return-value]

    def _generate(
        self, prompts: list[list[int]], stops: list[tuple[str, ...]]
    ) -> tuple[list[str], list[bool], list[bool]]:
        tokenizer = self.encoder.tokenizer
        penalty = self.sampling.repetition_penalty

        def at_width(width: int) -> dict[str, Any]:
            """What needs to know where the prompt ends (``width``): stops, and the reply's own penalty."""
            if len(set(stops)) == 1:  # every row stops on the same texts: transformers' own stop strings
                kwargs: dict[str, Any] = {"stop_strings": list(stops[0]), "tokenizer": tokenizer}
            else:  # rows differ (users with other names): a per-row criterion
                kwargs = {"stopping_criteria": StoppingCriteriaList([StopOnText(tokenizer, stops, width)])}
            if penalty != 1.0:
                kwargs["logits_processor"] = LogitsProcessorList([ReplyRepetitionPenalty(width, penalty)])
            return kwargs

        out = generate(
            self.model,
            prompts,
            self._pad_id,
            self.cache,
            at_width=at_width,
            max_new_tokens=self.sampling.max_new_tokens,
            eos_token_id=self._end_ids or None,
            **self.sampling.generate_kwargs(),
        )
        output, width = out.sequences, out.width
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


# ── an OpenAI-compatible server ──────────────────────────────────────────────────────────────────────


def openai_sdk() -> Any:
    """The ``openai`` package, imported when an endpoint is first used (an optional dependency)."""
    try:
        import openai
    except ImportError:
        raise UserError(
            "an OpenAI-compatible endpoint needs the openai SDK: pip install -e '.[api]'"
        ) from None
    return openai


def openai_messages(conv: Conversation) -> list[dict[str, str]]:
    """The conversation as chat-completions messages; a character card becomes (part of) the system message.
    Placeholders are filled first, as our templates fill them and as SillyTavern fills its macros before it
    sends a request: the server sees the text the model trained on.

    >>> from llm.data.conversation import Character, Message
    >>> card = Character("Mira", persona="{{char}} keeps the light.", user_name="Sam")
    >>> openai_messages(Conversation((Message("user", "Hi {{char}}"),), card))[1]
    {'role': 'user', 'content': 'Hi Mira'}
    >>> openai_messages(Conversation((Message("user", "Hi"),), card))[0]["content"].splitlines()[0]
    'You are Mira. Mira keeps the light.'

    The card's ``post_history_instructions`` close the last user message, where our templates put them
    (:func:`~llm.data.templates.post_history_target`), so a served model sees them where it trained on them:

    >>> card = replace(card, post_history_instructions="Stay as {{char}}.")
    >>> openai_messages(Conversation((Message("user", "Hi"),), card))[1]["content"]
    'Hi\\n\\nStay as Mira.'
    """
    conv = resolve_placeholders(conv)
    system = [card_system_text(conv.character, conv.messages)] if conv.character else []
    after = post_history_target(conv)
    messages = []
    for i, m in enumerate(conv.messages):
        if m.role == "system":
            system.append(m.content)
        else:
            messages.append({"role": m.role, "content": m.content + after.get(i, "")})
    return ([{"role": "system", "content": "\n\n".join(system)}] if system else []) + messages


class OpenAIReplier:
    """Replies from an OpenAI-compatible ``/chat/completions`` endpoint, several requests in flight.

    ``base_url`` is the API root, e.g. ``http://127.0.0.1:8000/v1``. The ``openai`` SDK (extra ``api``)
    retries connection errors, 408/409/429 and 5xx ``retries`` times with backoff; anything else raises
    :class:`~llm.errors.ServiceError` with the status and the server's message. A server that needs no key
    gets the placeholder ``EMPTY`` (vLLM's convention). ``finish_reason == "length"`` marks a reply as not
    finished.
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
        openai = openai_sdk()
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.sampling = sampling or Sampling()
        self.workers = workers
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout, max_retries=retries
        )

    def __call__(self, conversations: Sequence[Conversation]) -> list[Reply]:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(self._one, conversations))

    def _one(self, conv: Conversation) -> Reply:
        s, openai = self.sampling, self._openai
        try:
            answer = self._client.chat.completions.create(
                model=self.model,
                messages=openai_messages(conv),
                max_tokens=s.max_new_tokens,
                temperature=s.temperature,
                top_p=s.top_p,
            )
        except openai.APIStatusError as e:
            detail = e.body if e.body is not None else e.message
            raise ServiceError(f"{self.url}: HTTP {e.status_code}: {str(detail)[:300]}") from None
        except openai.APIConnectionError as e:
            raise ServiceError(f"{self.url}: cannot reach the server ({e.__cause__ or e})") from None
        except openai.APIResponseValidationError as e:
            raise ServiceError(f"{self.url}: not a chat-completions answer ({e})") from None
        choices = getattr(answer, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise ServiceError(f"{self.url}: not a chat-completions answer: {str(answer)[:300]}")
        text = choices[0].message.content
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise ServiceError(f"{self.url}: the reply's content is a {type(text).__name__}, not text")
        return Reply(text.strip(), finished=choices[0].finish_reason != "length")
