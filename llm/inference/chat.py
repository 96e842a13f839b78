"""A chat with a checkpoint, turn by turn, through the template it was trained with (``llm-train chat``).

:class:`ChatSession` keeps the history, the system message and the character card; every prompt is
rendered and encoded by the same code as training (``Encoder.encode_prompt``), so the model sees at
inference exactly the token layout it was trained on, and fitted to the context by the one shared policy
(:mod:`llm.inference.context`: the first exchange, where an instruction given once lives, always stays).
A reply stops at the template's end-of-turn token or where the model starts writing the user's next turn
(transformers' ``stop_strings``); :class:`ReplyStreamer` shows it as it comes, never past a stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TextIO

import torch
from transformers.generation.streamers import BaseStreamer

from llm.data.conversation import Character, Conversation, Message, fill_placeholders
from llm.data.encode import Encoder
from llm.errors import UserError
from llm.inference.context import context_limit, fit
from llm.inference.stops import cut_reply, turn_ends, undecided_tail, user_turn_markers


class PromptTooLong(UserError):
    """The message cannot fit the model's context even with old exchanges left out."""


class ReplyStreamer(BaseStreamer):
    """Writes the reply to ``out`` as ``generate`` produces it, never past a stop string."""

    def __init__(self, tokenizer: Any, stops: tuple[str, ...], out: TextIO):
        self.tokenizer, self.stops, self.out = tokenizer, stops, out
        self.ids: list[int] = []
        self.shown = 0
        self.prompt_skipped = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_skipped:  # generate hands over the prompt first
            self.prompt_skipped = True
            return
        self.ids.extend(value.reshape(-1).tolist())
        self._show(final=False)

    def end(self) -> None:
        self._show(final=True)

    def _show(self, final: bool) -> None:
        # Decode everything so far: token-by-token decoding splits multi-byte characters and merged spaces.
        reply, stopped = cut_reply(self.tokenizer.decode(self.ids, skip_special_tokens=False), self.stops)
        if not (stopped or final):
            reply = reply[: len(reply) - undecided_tail(reply, self.stops)]
        reply = reply.lstrip()
        if len(reply) > self.shown:
            self.out.write(reply[self.shown :])
            self.out.flush()
            self.shown = len(reply)


@dataclass
class ChatSession:
    """History, system message and card of one chat, and how to generate the next reply."""

    model: Any
    encoder: Encoder
    character: Character | None = None
    user_name: str = "You"
    generate_kwargs: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    history: list[Message] = field(default_factory=list)
    stops: tuple[str, ...] = field(init=False)  # where a reply ends, as text
    end_ids: list[int] = field(init=False)  # the end-of-turn token ids

    def __post_init__(self) -> None:
        template = self.encoder.template
        ends, self.end_ids = turn_ends(template, self.encoder.tokenizer)
        self.stops = tuple(dict.fromkeys(ends + list(user_turn_markers(template, self.character))))

    @property
    def bot_name(self) -> str:
        return self.character.name if self.character else "Assistant"

    def greeting(self) -> str | None:
        """The card's greeting (placeholders filled), or None."""
        ch = self.character
        if ch is None or not ch.greeting.strip():
            return None
        return fill_placeholders(ch.greeting, ch.name, ch.user_name).strip()

    def reset(self) -> None:
        """Forget the history; the greeting is again the first assistant message."""
        greeting = self.character.greeting if self.greeting() else None
        self.history = [Message("assistant", greeting)] if greeting else []

    def conversation(self) -> Conversation:
        system = (Message("system", self.system),) if self.system else ()
        return Conversation((*system, *self.history), self.character)

    def prompt_ids(self) -> list[int]:
        """The rendered prompt's ids: history plus generation prompt, encoded as in training."""
        return self.encoder.encode_prompt(self.conversation())

    def respond(self, text: str, out: TextIO) -> str:
        """Add the user's message, stream the reply to ``out``, keep it in the history and return it.

        A message that cannot fit the context raises :class:`PromptTooLong` and leaves the history as it
        was, so the chat goes on.
        """
        self.history.append(Message("user", text))
        try:
            ids = self._prompt_within_context()
        except PromptTooLong:
            self.history.pop()
            raise
        tokenizer = self.encoder.tokenizer
        input_ids = torch.tensor([ids], device=self.model.device)
        output = self.model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            streamer=ReplyStreamer(tokenizer, self.stops, out),
            stop_strings=list(self.stops),
            tokenizer=tokenizer,
            eos_token_id=self.end_ids or None,
            pad_token_id=self.end_ids[0]
            if tokenizer.pad_token_id is None and self.end_ids
            else tokenizer.pad_token_id,
            use_cache=True,  # training checkpoints save use_cache=False; inference wants the KV cache
            **self.generate_kwargs,
        )
        generated = tokenizer.decode(output[0, len(ids) :], skip_special_tokens=False)
        reply = cut_reply(generated, self.stops)[0].strip()
        self.history.append(Message("assistant", reply))
        return reply

    def _prompt_within_context(self) -> list[int]:
        """The prompt, leaving out old exchanges (never the first) while it and the reply would outgrow
        the context; the history itself keeps every turn."""
        room = self.generate_kwargs.get("max_new_tokens", 0)
        fitted = fit(self.conversation(), self.encoder.encode_prompt, context_limit(self.model, room))
        if fitted.ids is None:
            limit = context_limit(self.model, room)
            raise PromptTooLong(
                f"that message does not fit the model's context ({limit} tokens for the prompt, with "
                f"{room} kept for the reply) even with old turns left out; send a shorter one"
            )
        return fitted.ids
