"""Chat templates: one conversation → one rendered text, with every character's role known.

A template renders a :class:`~llm.data.conversation.Conversation` into :class:`Segment` s — runs of text
that say which message they belong to, whether they are one of the template's *control tokens*
(``<|im_start|>``, ``<|eot_id|>``, ``</s>`` …), and whether they are *trainable* (a message's content and
the end-of-turn token that closes it). The encoder turns segments into ids and labels; nothing downstream
ever searches the text for role markers, so masks cannot drift.

    >>> from llm.data.conversation import Conversation, Message
    >>> conv = Conversation((Message("user", "Hi"), Message("assistant", "Hello!")))
    >>> r = get_template("chatml").render(conv)
    >>> r.text
    '<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\nHello!<|im_end|>\\n'
    >>> [s.text for s in r.segments if s.trainable and s.message == 1]
    ['Hello!', '<|im_end|>']
    >>> get_template("chatml").render(conv.messages[:1], add_generation_prompt=True).text
    '<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'

The generation prompt (history + ``add_generation_prompt``) is always a prefix of the training render,
so what the model sees at inference is exactly what it saw in training.

Character cards go into each format's system slot in that format's convention; ``pygmalion`` and
``metharme`` use the role-play community's layouts, and ``pygmalion`` prefixes turns with speaker names.
Placeholders (``{{char}}``, ``{{user}}`` and their malformed variants) are filled before rendering.

Registry: ``chatml``, ``llama2``, ``llama3``, ``vicuna``, ``baichuan2``, ``pygmalion``, ``metharme``,
``plain`` (prompt + completion, for TL;DR) and ``tokenizer`` (the tokenizer's own Jinja ``chat_template``; see :class:`TokenizerTemplate`);
and ``sillytavern:{presets}`` (a user's SillyTavern presets, :class:`SillyTavern`; ``--st_context``/``--st_instruct``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from llm.data import sillytavern
from llm.data.conversation import (
    Character,
    Conversation,
    Message,
    card_description,
    card_lore,
    resolve_placeholders,
    validate_conversation,
    with_original,
)
from llm.errors import UserError


@dataclass(frozen=True)
class Segment:
    """A run of rendered text.

    ``control``: this text is exactly one of the template's control tokens (encoded as that token's id).
    ``message``: index of the message it belongs to (``None`` for template scaffolding).
    ``trainable``: the message's content or the end-of-turn token closing it — what a masking policy may
    train. Role headers, separators and generation prompts are never trainable.
    """

    text: str
    control: bool = False
    message: int | None = None
    trainable: bool = False


@dataclass(frozen=True)
class Rendered:
    """The segments of one render, and the conversation they came from (placeholders filled)."""

    segments: tuple[Segment, ...]
    conversation: Conversation

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)


@lru_cache(maxsize=64)
def _control_pattern(controls: tuple[str, ...]) -> re.Pattern | None:
    ordered = sorted(set(controls), key=len, reverse=True)  # longest first: "<|im_start|>" before "<"
    return re.compile("(" + "|".join(map(re.escape, ordered)) + ")") if ordered else None


@lru_cache(maxsize=4096)
def _scaffold_parts(controls: tuple[str, ...], text: str) -> tuple[tuple[str, bool], ...]:
    """``text`` cut at control tokens: (part, is_control) pairs. Templates repeat the same strings."""
    pattern = _control_pattern(controls)
    parts = pattern.split(text) if pattern else [text]
    return tuple((part, i % 2 == 1) for i, part in enumerate(parts) if part)


class _Builder:
    """Collects segments; splits the template's own strings at its control tokens."""

    def __init__(self, controls: Sequence[str], after: Mapping[int, str] | None = None):
        self.segments: list[Segment] = []
        self._after = after or {}  # message index → never-trained text right after its content
        self._controls = tuple(sorted(controls))
        self._split = _control_pattern(self._controls)

    def scaffold(self, text: str, message: int | None = None, trainable: bool = False) -> None:
        """Template-authored text: control tokens in it become control segments."""
        if text:
            for part, control in _scaffold_parts(self._controls, text):
                self.segments.append(Segment(part, control=control, message=message, trainable=trainable))

    def content(self, text: str, message: int) -> None:
        """A message's trainable content: always plain text, whatever it contains."""
        if text:
            self.segments.append(Segment(text, message=message, trainable=True))
        if message in self._after:
            self.segments.append(Segment(self._after[message], message=message))

    def plain(self, text: str, message: int | None = None) -> None:
        """Data that is never trained (system prompts, card fields, speaker names): plain text."""
        if text:
            self.segments.append(Segment(text, message=message))


def card_system_text(character: Character, messages: Sequence[Message] = ()) -> str:
    """The card as a system prompt, for formats without a role-play convention of their own.

    The order is SillyTavern's default story string: system prompt, lorebook entries positioned
    ``before_char``, description and personality, scenario, ``after_char`` entries, example dialogue. The
    last line is the default instruction; a card's ``system_prompt`` replaces it and comes first
    (``{{original}}`` in it stands for the default). ``messages`` are scanned for lorebook keys.

    >>> print(card_system_text(Character("Mira", persona="A lighthouse keeper.", scenario="A storm.",
    ...                                  user_name="Sam")))
    You are Mira. A lighthouse keeper.
    Scenario: A storm.
    Stay in character as Mira in this conversation with Sam.
    >>> print(card_system_text(Character("Mira", system_prompt="Be brief. {{original}}")))
    Be brief. Stay in character as Mira in this conversation with User.
    You are Mira.
    """
    instruction = f"Stay in character as {character.name} in this conversation with {character.user_name}."
    description = card_description(character)
    before, after = card_lore(character, messages)
    lines = [with_original(character.system_prompt, instruction)] if character.system_prompt else []
    lines += before
    lines.append(f"You are {character.name}." + (f" {description}" if description else ""))
    if character.scenario:
        lines.append(f"Scenario: {character.scenario}")
    lines += after
    if character.example_dialogue:
        lines.append(f"Example dialogue:\n{character.example_dialogue}")
    if not character.system_prompt:
        lines.append(instruction)
    return "\n".join(lines)


def post_history_target(conv: Conversation) -> dict[int, str]:
    """Where the card's ``post_history_instructions`` go: after the last user message's content, as
    never-trained text (``message index → "\\n\\n" + instructions``).

    SillyTavern puts them after the history, right before the reply. In our own templates they close the
    last user turn, so the inference prompt (history + generation prompt) and the training row that holds
    the reply carry them at the same place: the prompt stays a prefix of the row. Our templates have no
    default post-history text, so ``{{original}}`` stands for nothing.

    >>> conv = Conversation((Message("user", "Hi"),), Character("Mira", post_history_instructions="Short."))
    >>> post_history_target(conv)
    {0: '\\n\\nShort.'}
    """
    ch = conv.character
    text = with_original(ch.post_history_instructions, "").strip() if ch is not None else ""
    users = [i for i, m in enumerate(conv.messages) if m.role == "user"]
    return {users[-1]: "\n\n" + text} if text and users else {}


def _as_conversation(conv: Conversation | Sequence[Message], character: Character | None) -> Conversation:
    if isinstance(conv, Conversation):
        return conv
    return Conversation(messages=tuple(conv), character=character)


@dataclass(frozen=True)
class ChatTemplate:
    """Base class. Subclasses implement :meth:`_render` with a :class:`_Builder`.

    ``bos`` and ``eos`` are the tokenizer's own strings for formats that use them; :meth:`for_tokenizer`
    fills them from a tokenizer.
    """

    name: str = ""
    bos: str = "<s>"
    eos: str = "</s>"
    fixed_controls: tuple[str, ...] = ()

    @property
    def controls(self) -> frozenset[str]:
        """The control-token strings this template writes."""
        return frozenset(c for c in (*self.fixed_controls, *self._uses_bos_eos()) if c)

    def _uses_bos_eos(self) -> tuple[str, ...]:
        return ()

    def for_tokenizer(self, tokenizer: Any) -> ChatTemplate:
        """This template with ``bos``/``eos`` taken from ``tokenizer`` (when it has them)."""
        return replace(
            self,
            bos=getattr(tokenizer, "bos_token", None) or self.bos,
            eos=getattr(tokenizer, "eos_token", None) or self.eos,
        )

    def render(
        self,
        conv: Conversation | Sequence[Message],
        add_generation_prompt: bool = False,
        character: Character | None = None,
    ) -> Rendered:
        """Render a conversation (or a list of messages plus an optional card).

        With ``add_generation_prompt`` the render ends where the next assistant reply starts: the
        inference prompt. It is a prefix of the render that includes that reply.
        """
        conv = resolve_placeholders(_as_conversation(conv, character))
        validate_conversation(conv, partial=True)
        b = _Builder(sorted(self.controls), after=post_history_target(conv))
        self._render(b, conv, add_generation_prompt)
        return Rendered(segments=tuple(b.segments), conversation=conv)

    def _render(self, b: _Builder, conv: Conversation, add_generation_prompt: bool) -> None:
        raise NotImplementedError

    def trained_text(self, content: str) -> str:
        """The exact text trained for an assistant message with this content (content + end of turn).

        Formats that put a space between the speaker and the reply (``vicuna``, ``pygmalion``, ``llama2``)
        train that space with the reply, because the model generates it after the generation prompt.
        """
        raise NotImplementedError


def _system_and_turns(
    conv: Conversation, strip: bool = False
) -> tuple[str | None, list[tuple[int, Message]]]:
    """The system text (the card's system text, then the system message) and the remaining turns.

    System prompts are context, never trained: per-message ``train`` overrides apply to user and
    assistant turns.
    """
    turns = list(enumerate(conv.messages))
    parts = []
    if conv.character is not None:
        parts.append(card_system_text(conv.character, conv.messages))
    if turns and turns[0][1].role == "system":
        content = turns.pop(0)[1].content
        parts.append(content.strip() if strip else content)
    if not parts:
        return None, turns
    return "\n\n".join(p for p in parts if p or not strip), turns


def _system_index(conv: Conversation) -> int | None:
    return 0 if conv.messages and conv.messages[0].role == "system" else None


@dataclass(frozen=True)
class ChatML(ChatTemplate):
    """``<|im_start|>{role}\\n{content}<|im_end|>\\n`` (Qwen, many fine-tunes). Content is kept verbatim."""

    name: str = "chatml"
    fixed_controls: tuple[str, ...] = ("<|im_start|>", "<|im_end|>")

    def _render(self, b: _Builder, conv: Conversation, add_generation_prompt: bool) -> None:
        system, turns = _system_and_turns(conv)
        if system is not None:
            b.scaffold("<|im_start|>system\n")
            b.plain(system, _system_index(conv))
            b.scaffold("<|im_end|>\n")
        for i, m in turns:
            b.scaffold(f"<|im_start|>{m.role}\n")
            b.content(m.content, i)
            b.scaffold("<|im_end|>", i, trainable=True)
            b.scaffold("\n")
        if add_generation_prompt:
            b.scaffold("<|im_start|>assistant\n")

    def trained_text(self, content: str) -> str:
        return content + "<|im_end|>"


@dataclass(frozen=True)
class Llama3(ChatTemplate):
    """Llama 3 instruct: header ids around the role, ``<|eot_id|>`` closing each turn; content is trimmed,
    as Meta's template does."""

    name: str = "llama3"
    fixed_controls: tuple[str, ...] = (
        "<|begin_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
    )

    def _render(self, b: _Builder, conv: Conversation, add_generation_prompt: bool) -> None:
        system, turns = _system_and_turns(conv, strip=True)
        b.scaffold("<|begin_of_text|>")
        if system is not None:
            b.scaffold("<|start_header_id|>system<|end_header_id|>\n\n")
            b.plain(system, _system_index(conv))
            b.scaffold("<|eot_id|>")
        for i, m in turns:
            b.scaffold(f"<|start_header_id|>{m.role}<|end_header_id|>\n\n")
            b.content(m.content.strip(), i)
            b.scaffold("<|eot_id|>", i, trainable=True)
        if add_generation_prompt:
            b.scaffold("<|start_header_id|>assistant<|end_header_id|>\n\n")

    def trained_text(self, content: str) -> str:
        return content.strip() + "<|eot_id|>"


@dataclass(frozen=True)
class Llama2(ChatTemplate):
    """Llama 2 chat: ``<s>[INST] <<SYS>>\\n{system}\\n<</SYS>>\\n\\n{user} [/INST] {reply} </s>``.

    ``[INST]`` and ``<<SYS>>`` are plain text in Llama 2's vocabulary; only ``<s>``/``</s>`` are control
    tokens. A reply that opens the chat (a role-play greeting) follows an instruction block that holds only
    the system prompt.
    """

    name: str = "llama2"

    def _uses_bos_eos(self) -> tuple[str, ...]:
        return (self.bos, self.eos)

    def _render(self, b: _Builder, conv: Conversation, add_generation_prompt: bool) -> None:
        system, turns = _system_and_turns(conv)
        sys_block = f"<<SYS>>\n{system}\n<</SYS>>\n\n" if system is not None else ""
        previous = None
        for i, m in turns:
            if m.role == "user":
                b.scaffold(f"{self.bos}[INST] ")
                if sys_block:  # the official template strips system block + user text together
                    b.plain(sys_block if m.content.strip() else sys_block.strip(), _system_index(conv))
                    sys_block = ""
                b.content(m.content.strip(), i)
                b.scaffold(" [/INST]")
            else:
                if previous != "user" and sys_block:
                    b.scaffold(f"{self.bos}[INST] ")
                    b.plain(sys_block.strip(), _system_index(conv))
                    b.scaffold(" [/INST]")
                    sys_block = ""
                b.content(" " + m.content.strip() + " ", i)
                b.scaffold(self.eos, i, trainable=True)
            previous = m.role
        if sys_block:  # a system prompt with nothing after it yet
            b.scaffold(f"{self.bos}[INST] ")
            b.plain(sys_block.strip(), _system_index(conv))
            b.scaffold(" [/INST]")

    def trained_text(self, content: str) -> str:
        return " " + content.strip() + " " + self.eos


_VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


@dataclass(frozen=True)
class Vicuna(ChatTemplate):
    """Vicuna v1.1: ``<s>{system} USER: {user} ASSISTANT: {reply}</s>USER: …``; generation prompt
    ``ASSISTANT:``."""

    name: str = "vicuna"
    default_system: str = _VICUNA_SYSTEM

    def _uses_bos_eos(self) -> tuple[str, ...]:
        return (self.bos, self.eos)

    def _render(self, b: _Builder, conv: Conversation, add_generation_prompt: bool) -> None:
        system, turns = _system_and_turns(conv)
        b.scaffold(self.bos)
        b.plain(self.default_system if system is None else system, _system_index(conv))
        b.scaffold(" ")
        for i, m in turns:
            if m.role == "user":
                b.scaffold("USER: ")
                b.content(m.content, i)
                b.scaffold(" ")
            else:
                b.scaffold("ASSISTANT:")
                b.content(" " + m.content, i)
                b.scaffold(self.eos, i, trainable=True)
        if add_generation_prompt:
            b.scaffold("ASSISTANT:")

    def trained_text(self, content: str) -> str:
        return " " + content + self.eos


@dataclass(frozen=True)
class Baichuan2(ChatTemplate):
    """Baichuan 2 chat: system text, then ``<reserved_106>{user}<reserved_107>{reply}</s>`` per turn
    (ids 195 and 196 in Baichuan 2's vocabulary)."""

    name: str = "baichuan2"
    fixed_controls: tuple[str, ...] = ("<reserved_106>", "<reserved_107>")

    def _uses_bos_eos(self) -> tuple[str, ...]:
        return (self.eos,)

    def _render(self, b: _Builder, conv: Conversation, add_generation_prompt: bool) -> None:
        system, turns = _system_and_turns(conv)
        if system is not None:
            b.plain(system, _system_index(conv))
        for i, m in turns:
            if m.role == "user":
                b.scaffold("<reserved_106>")
                b.content(m.content, i)
            else:
                b.scaffold("<reserved_107>")
                b.content(m.content, i)
                b.scaffold(self.eos, i, trainable=True)
        if add_generation_prompt:
            b.scaffold("<reserved_107>")

    def trained_text(self, content: str) -> str:
        return content + self.eos


@dataclass(frozen=True)
class Pygmalion(ChatTemplate):
    """Classic Pygmalion role-play layout, with an end-of-sequence token closing each character reply so
    the model learns to stop instead of writing the user's next line::

        Mira's Persona: A lighthouse keeper.
        Scenario: A storm.
        <START>
        {example dialogue}
        <START>
        Mira: Welcome, traveller.</s>
        You: Hi!
        Mira: Hello.</s>

    The user speaks under the card's ``user_name`` ("You" in PIPPA); without a card the speakers are
    "You" and "Assistant".
    """

    name: str = "pygmalion"

    def _uses_bos_eos(self) -> tuple[str, ...]:
        return (self.eos,)

    def _render(self, b: _Builder, conv: Conversation, add_generation_prompt: bool) -> None:
        ch = conv.character
        char_name, user_name = (ch.name, ch.user_name) if ch else ("Assistant", "You")
        turns = list(enumerate(conv.messages))
        if turns and turns[0][1].role == "system":
            i, m = turns.pop(0)
            b.plain(m.content + "\n", i)
        if ch is not None:
            # No default instruction in this layout: a system_prompt's {{original}} stands for nothing.
            before, after = card_lore(ch, conv.messages)
            header = with_original(ch.system_prompt, "") + "\n" if ch.system_prompt.strip() else ""
            header += "".join(f"{lore}\n" for lore in before)
            header += f"{ch.name}'s Persona: {card_description(ch)}\n"
            if ch.scenario:
                header += f"Scenario: {ch.scenario}\n"
            header += "".join(f"{lore}\n" for lore in after)
            header += "<START>\n"
            if ch.example_dialogue:
                header += ch.example_dialogue.rstrip("\n") + "\n<START>\n"
            b.plain(header)
        for i, m in turns:
            if m.role == "user":
                b.plain(f"{user_name}: ")
                b.content(m.content, i)
                b.plain("\n")
            else:
                b.plain(f"{char_name}:")
                b.content(" " + m.content, i)
                b.scaffold(self.eos, i, trainable=True)
                b.plain("\n")
        if add_generation_prompt:
            b.plain(f"{char_name}:")

    def trained_text(self, content: str) -> str:
        return " " + content + self.eos


@dataclass(frozen=True)
class Metharme(ChatTemplate):
    """Metharme (Pygmalion's instruct format): ``<|system|>{card}<|user|>{user}<|model|>{reply}</s>``."""

    name: str = "metharme"
    fixed_controls: tuple[str, ...] = ("<|system|>", "<|user|>", "<|model|>")

    def _uses_bos_eos(self) -> tuple[str, ...]:
        return (self.eos,)

    def _render(self, b: _Builder, conv: Conversation, add_generation_prompt: bool) -> None:
        ch = conv.character
        turns = list(enumerate(conv.messages))
        parts = []
        if ch is not None:
            instruction = f"Reply to {ch.user_name} while staying in character."
            before, after = card_lore(ch, conv.messages)
            card = "".join(f"{lore}\n" for lore in before)
            card += f"Enter role-play mode. You are {ch.name}, whose persona follows:\n{card_description(ch)}"
            if ch.scenario:
                card += f"\nScenario: {ch.scenario}"
            card += "".join(f"\n{lore}" for lore in after)
            if ch.example_dialogue:
                card += f"\nExample dialogue:\n{ch.example_dialogue}"
            if ch.system_prompt:  # replaces the default instruction, and comes first
                card = with_original(ch.system_prompt, instruction) + "\n" + card
            else:
                card += "\n" + instruction
            parts.append(card)
        if turns and turns[0][1].role == "system":
            parts.append(turns.pop(0)[1].content)
        if parts:
            b.scaffold("<|system|>")
            b.plain("\n\n".join(parts), _system_index(conv))
        for i, m in turns:
            b.scaffold("<|user|>" if m.role == "user" else "<|model|>")
            b.content(m.content, i)
            if m.role == "assistant":
                b.scaffold(self.eos, i, trainable=True)
        if add_generation_prompt:
            b.scaffold("<|model|>")

    def trained_text(self, content: str) -> str:
        return content + self.eos


@dataclass(frozen=True)
class Plain(ChatTemplate):
    """Prompt and completion with no chat markup (TL;DR summarisation, completion-style data)::

        {system}\n\n{prompt} {reply}</s>\n\n{prompt} {reply}</s>

    The reply is written after a space and closed by the end-of-sequence token, so a TL;DR query ending
    in ``TL;DR:`` renders the reference completion ``query + " " + summary + EOS``. The generation prompt
    is empty: the prompt's own text is where the reply starts.
    """

    name: str = "plain"

    def _uses_bos_eos(self) -> tuple[str, ...]:
        return (self.eos,)

    def _render(self, b: _Builder, conv: Conversation, add_generation_prompt: bool) -> None:
        system, turns = _system_and_turns(conv)
        if system is not None:
            b.plain(system + "\n\n", _system_index(conv))
        previous = None
        for i, m in turns:
            if m.role == "user":
                if previous == "assistant":
                    b.plain("\n\n")
                b.content(m.content, i)
            else:
                b.content(" " + m.content, i)
                b.scaffold(self.eos, i, trainable=True)
            previous = m.role

    def trained_text(self, content: str) -> str:
        return " " + content + self.eos


@dataclass(frozen=True)
class TokenizerTemplate(ChatTemplate):
    """The tokenizer's own Jinja ``chat_template``, rendered by transformers.

    Content positions are found by rendering once with a unique marker in place of each message's
    content; the marker render must equal the real render with contents substituted back, which holds for
    every template that inserts content unchanged (or trimmed). The control token immediately following an
    assistant content is its end-of-turn token; other special tokens in the scaffolding are control
    tokens too.
    """

    name: str = "tokenizer"
    chat_template: str | None = None
    special_tokens: tuple[str, ...] = field(default_factory=tuple)

    @property
    def controls(self) -> frozenset[str]:
        return frozenset(t for t in self.special_tokens if t)

    def for_tokenizer(self, tokenizer: Any) -> ChatTemplate:
        template = getattr(tokenizer, "chat_template", None)
        if not template:
            raise UserError(
                "template 'tokenizer' needs a tokenizer with a chat_template; this one has none "
                "(pick a named template, e.g. --template chatml)"
            )
        specials = tuple(sorted(set(tokenizer.all_special_tokens) | _added_special_tokens(tokenizer)))
        return replace(
            self,
            chat_template=template,
            special_tokens=specials,
            bos=tokenizer.bos_token or "",
            eos=tokenizer.eos_token or "",
        )

    def _jinja(self, messages: list[dict], add_generation_prompt: bool) -> str:
        from transformers.utils.chat_template_utils import render_jinja_template

        rendered, _ = render_jinja_template(
            conversations=[messages],
            chat_template=self.chat_template,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos,
            eos_token=self.eos,
        )
        return rendered[0]

    def _render(self, b: _Builder, conv: Conversation, add_generation_prompt: bool) -> None:
        if self.chat_template is None:
            raise UserError("template 'tokenizer' must be bound first: get_template('tokenizer', tokenizer)")
        msgs = list(conv.messages)
        if conv.character is not None:
            card = card_system_text(conv.character, conv.messages)
            if msgs and msgs[0].role == "system":
                msgs[0] = replace(msgs[0], content=f"{card}\n\n{msgs[0].content}")
            else:
                msgs.insert(0, Message("system", card))
        offset = len(msgs) - len(conv.messages)  # 1 when the card became a system message
        markers = [f"\ue000{i}\ue001" for i in range(len(msgs))]
        marked = self._jinja(
            [{"role": m.role, "content": k} for m, k in zip(msgs, markers)], add_generation_prompt
        )
        real = self._jinja([{"role": m.role, "content": m.content} for m in msgs], add_generation_prompt)
        pieces = re.split("(\ue000\\d+\ue001)", marked)
        for transform in (lambda s: s, str.strip):
            contents = [transform(m.content) for m in msgs]
            rebuilt = "".join(contents[int(p[1:-1])] if p.startswith("\ue000") else p for p in pieces)
            if rebuilt == real:
                break
        else:
            raise UserError(
                "the tokenizer's chat_template changes message content in a way the encoder cannot map "
                "to characters; use a named template (e.g. --template chatml)"
            )
        eot_after: int | None = None
        for piece in pieces:
            if piece.startswith("\ue000"):
                k = int(piece[1:-1])
                index = k - offset if k >= offset else None
                if index is None or msgs[k].role == "system":
                    b.plain(contents[k], index)
                    eot_after = None
                else:
                    b.content(contents[k], index)
                    eot_after = index
                continue
            if eot_after is not None:
                # The control token right after a message's content closes that turn.
                match = b._split.match(piece) if b._split else None
                if match:
                    b.scaffold(match.group(0), eot_after, trainable=True)
                    piece = piece[match.end() :]
                eot_after = None
            b.scaffold(piece)

    def trained_text(self, content: str) -> str:
        raise NotImplementedError("depends on the tokenizer's template")


@dataclass(frozen=True)
class SillyTavern(ChatTemplate):
    """The prompt SillyTavern builds from a user's context and instruct presets (:mod:`llm.data.sillytavern`).

    Its name is the presets themselves (``sillytavern:{json}``, :func:`llm.data.sillytavern.preset_template`),
    so a checkpoint's ``llm_train.json`` carries them. Preset text is scaffolding (its ``<|…|>`` strings, and
    the tokenizer's special tokens it writes, are control tokens); card text, names and messages are plain.
    The card's ``post_history_instructions`` are a system turn after the last user turn (SillyTavern's
    reminder slot), rendered by the presets rather than by :func:`post_history_target`.

        >>> from llm.data.sillytavern import bundled_presets
        >>> t = get_template(bundled_presets("llama3-instruct").spec)
        >>> conv = Conversation((Message("user", "Hi"), Message("assistant", "Hello.")), Character("Mira"))
        >>> [s.text for s in t.render(conv).segments if s.trainable and s.message == 1]
        ['Hello.', '<|eot_id|>']
    """

    name: str = sillytavern.PREFIX + "{}"
    specials: tuple[str, ...] = ()

    @property
    def presets(self) -> sillytavern.Presets:
        return sillytavern.presets_from_spec(self.name)

    @property
    def controls(self) -> frozenset[str]:
        return frozenset(sillytavern.control_tokens(self.presets, self.specials))

    def for_tokenizer(self, tokenizer: Any) -> ChatTemplate:
        specials = tuple(
            sorted(set(getattr(tokenizer, "all_special_tokens", ())) | _added_special_tokens(tokenizer))
        )
        return replace(super().for_tokenizer(tokenizer), specials=specials)

    def render(
        self,
        conv: Conversation | Sequence[Message],
        add_generation_prompt: bool = False,
        character: Character | None = None,
    ) -> Rendered:
        conv = resolve_placeholders(_as_conversation(conv, character))
        validate_conversation(conv, partial=True)
        b = _Builder(sorted(self.controls))
        for part in sillytavern.render_parts(self.presets, conv, add_generation_prompt):
            if part.kind == "plain":
                b.plain(part.text, part.message)
            elif part.kind == "content":
                b.content(part.text, part.message)
            else:
                b.scaffold(part.text, part.message, trainable=part.kind == "end")
        return Rendered(segments=tuple(b.segments), conversation=conv)

    def trained_text(self, content: str) -> str:
        return sillytavern.trained_text(self.presets, content)


def _added_special_tokens(tokenizer: Any) -> set[str]:
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return {t.content for t in decoder.values() if getattr(t, "special", False)}


TEMPLATES: dict[str, ChatTemplate] = {
    t.name: t
    for t in (
        ChatML(),
        Llama2(),
        Llama3(),
        Vicuna(),
        Baichuan2(),
        Pygmalion(),
        Metharme(),
        Plain(),
        TokenizerTemplate(),
    )
}


def get_template(name: str, tokenizer: Any = None) -> ChatTemplate:
    """A registered template by name, bound to ``tokenizer``'s bos/eos (or chat_template) when given."""
    if sillytavern.is_spec(name):  # presets travel in the name (llm.data.sillytavern)
        template: ChatTemplate = SillyTavern(name=name)
        return template.for_tokenizer(tokenizer) if tokenizer is not None else template
    key = name.lower()
    if key not in TEMPLATES:
        raise UserError(f"unknown template {name!r}; known: {', '.join(sorted(TEMPLATES))}")
    template = TEMPLATES[key]
    return template.for_tokenizer(tokenizer) if tokenizer is not None else template
