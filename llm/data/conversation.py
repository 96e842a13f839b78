"""The chat data model every stage shares: messages, a character card, conversations, preference pairs.

Sources (PIPPA, ShareGPT, OpenAI messages, TL;DR …) turn raw records into these types; templates render
them; the encoder turns renders into token ids and labels. Validation happens here, once, at the edge:
errors name the record and the field, so a bad line in a 25,000-line file is found in seconds.

    >>> conv = Conversation.from_dict({"messages": [
    ...     {"role": "user", "content": "Hi!"},
    ...     {"role": "assistant", "content": "Hello, traveller."}]})
    >>> [m.role for m in conv.messages]
    ['user', 'assistant']
    >>> Conversation.from_dict({"messages": [{"role": "bot", "content": "x"}]}, record="chats.jsonl:3")
    Traceback (most recent call last):
    ...
    llm.errors.RecordError: chats.jsonl:3: field 'messages[0].role': unknown role 'bot' \
(expected one of system, user, assistant)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from llm.errors import RecordError

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    """One turn. ``train`` overrides the masking policy for this message: True trains it, False never."""

    role: Role
    content: str
    train: bool | None = None


@dataclass(frozen=True)
class Character:
    """A role-play character card, as the role-play community writes them (and PIPPA stores them).

    ``example_dialogue`` keeps the card's own lines ("{{char}}: …\\n{{user}}: …"); ``user_name`` is the name
    the user plays under (PIPPA's classic format calls the user "You").
    """

    name: str
    persona: str = ""
    scenario: str = ""
    greeting: str = ""
    example_dialogue: str = ""
    user_name: str = "User"


@dataclass(frozen=True)
class Conversation:
    """Messages plus an optional character card. At most one system message, and only first."""

    messages: tuple[Message, ...]
    character: Character | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", tuple(self.messages))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], record: str | None = None) -> Conversation:
        """Build and validate from ``{"messages": [{"role", "content", "train"?}], "character"?: {...}}``."""
        messages = []
        for i, m in enumerate(list_of_objects(data, "messages", ("role", "content"), record)):
            train = m.get("train")
            if train is not None and not isinstance(train, bool):
                raise RecordError(record, f"messages[{i}].train", f"expected true/false, got {train!r}")
            messages.append(Message(role=m["role"], content=m["content"], train=train))
        character = None
        if data.get("character") is not None:
            character = character_from_dict(data["character"], record)
        conv = cls(messages=tuple(messages), character=character)
        validate_conversation(conv, record)
        return conv

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "messages": [
                {"role": m.role, "content": m.content, **({} if m.train is None else {"train": m.train})}
                for m in self.messages
            ]
        }
        if self.character is not None:
            out["character"] = self.character.__dict__.copy()
        return out


def list_of_objects(record: Any, key: str, fields: tuple[str, ...], record_id: str | None) -> list[Mapping]:
    """``record[key]`` as a list of objects that each hold ``fields``; a :class:`RecordError` naming the first
    place that does not (the record, the list, an item, an item's field).

    >>> list_of_objects({"turns": [{"a": 1}, {"b": 2}]}, "turns", ("a",), "f:1")
    Traceback (most recent call last):
    ...
    llm.errors.RecordError: f:1: field 'turns[1].a': missing
    """
    if not isinstance(record, Mapping):
        raise RecordError(record_id, "<record>", f"expected an object, got {type(record).__name__}")
    if key not in record:
        raise RecordError(record_id, key, "missing")
    items = record[key]
    if not isinstance(items, list):
        raise RecordError(record_id, key, f"expected a list, got {type(items).__name__}")
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise RecordError(record_id, f"{key}[{i}]", f"expected an object, got {type(item).__name__}")
        for name in fields:
            if name not in item:
                raise RecordError(record_id, f"{key}[{i}].{name}", "missing")
    return items


@dataclass(frozen=True)
class PreferencePair:
    """A prompt (a whole conversation: messages and an optional card) with a preferred and a rejected
    continuation. Each continuation is one assistant reply, or several turns that start with the assistant
    and alternate with the user; only its assistant turns are trained (reward models, DPO and its family).

    >>> prompt = Conversation((Message("user", "Tea?"),))
    >>> pair = PreferencePair.of_texts(prompt, "Yes, with honey.", "No.")
    >>> [m.role for m in pair.chosen], pair.chosen_text
    (['assistant'], 'Yes, with honey.')
    """

    prompt: Conversation
    chosen: tuple[Message, ...]
    rejected: tuple[Message, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "chosen", tuple(self.chosen))
        object.__setattr__(self, "rejected", tuple(self.rejected))

    @classmethod
    def of_texts(
        cls, prompt: Conversation, chosen: str, rejected: str, meta: dict | None = None
    ) -> PreferencePair:
        """A pair whose continuations are one assistant reply each."""
        return cls(prompt, (Message("assistant", chosen),), (Message("assistant", rejected),), meta or {})

    @property
    def chosen_text(self) -> str:
        return "\n".join(m.content for m in self.chosen)

    @property
    def rejected_text(self) -> str:
        return "\n".join(m.content for m in self.rejected)


@dataclass(frozen=True)
class LabeledCompletion:
    """One unpaired completion of a prompt, marked desirable or not (KTO's data)."""

    prompt: Conversation
    completion: tuple[Message, ...]
    desirable: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "completion", tuple(self.completion))


def validate_continuation(
    prompt: Conversation, continuation: tuple[Message, ...], record: str | None, field_name: str
) -> None:
    """A prompt ending with a user turn, and a continuation that starts with the assistant and alternates.

    >>> validate_continuation(Conversation((Message("user", "a"),)), (Message("user", "b"),), "f:1", "chosen")
    Traceback (most recent call last):
    ...
    llm.errors.RecordError: f:1: field 'chosen[0].role': a continuation starts with the assistant, not user
    """
    validate_conversation(prompt, record, partial=True)
    users = [m for m in prompt.messages if m.role == "user"]
    if not users or prompt.messages[-1].role != "user":
        raise RecordError(record, "prompt", "must end with a user turn (the continuations answer it)")
    if not continuation:
        raise RecordError(record, field_name, "empty: no reply")
    for i, m in enumerate(continuation):
        expected = "assistant" if i % 2 == 0 else "user"
        if m.role != expected:
            start = "starts with the assistant" if i == 0 else "alternates assistant and user"
            raise RecordError(record, f"{field_name}[{i}].role", f"a continuation {start}, not {m.role}")
        if not isinstance(m.content, str):
            raise RecordError(
                record, f"{field_name}[{i}].content", f"expected a string, got {type(m.content).__name__}"
            )
        if not is_text(m.content):
            raise RecordError(
                record, f"{field_name}[{i}].content", "invalid string: a lone surrogate (not a character)"
            )


def character_from_dict(data: Any, record: str | None = None) -> Character:
    if not isinstance(data, Mapping):
        raise RecordError(record, "character", f"expected an object, got {type(data).__name__}")
    known = {f for f in Character.__dataclass_fields__}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RecordError(
            record, f"character.{unknown[0]}", f"unknown field (known: {', '.join(sorted(known))})"
        )
    for key, value in data.items():
        if not isinstance(value, str):
            raise RecordError(record, f"character.{key}", f"expected a string, got {type(value).__name__}")
        if not is_text(value):
            raise RecordError(
                record, f"character.{key}", "invalid string: a lone surrogate (not a character)"
            )
    if not data.get("name", "").strip():
        raise RecordError(record, "character.name", "missing or empty")
    return Character(**data)


def validate_conversation(
    conv: Conversation,
    record: str | None = None,
    partial: bool = False,
    field_name: Callable[[int, str], str] = lambda i, key: f"messages[{i}].{key}",
) -> None:
    """Raise :class:`RecordError` naming the field if ``conv`` cannot be rendered.

    Rules: at least one message; roles are system / user / assistant; content is a string of characters
    (no lone surrogate); a system message may only come first (templates have a single system slot).
    ``partial`` allows what an inference prompt may be: no messages, or only a system message.
    ``field_name(i, "role" | "content")`` names message ``i``'s fields as the source's schema does
    (``conversations[1].from`` for ShareGPT).
    """
    if not conv.messages and not partial:
        raise RecordError(record, "messages", "empty conversation")
    for i, m in enumerate(conv.messages):
        if m.role not in ROLES:
            raise RecordError(
                record, field_name(i, "role"), f"unknown role {m.role!r} (expected one of {', '.join(ROLES)})"
            )
        if not isinstance(m.content, str):
            raise RecordError(
                record, field_name(i, "content"), f"expected a string, got {type(m.content).__name__}"
            )
        if not is_text(m.content):
            raise RecordError(
                record, field_name(i, "content"), "invalid string: a lone surrogate (not a character)"
            )
        if m.role == "system" and i != 0:
            first = next(j for j, n in enumerate(conv.messages) if n.role == "system")
            problem = "a second system message" if first < i else "a system message after the first turn"
            raise RecordError(record, field_name(i, "role"), f"{problem} (only one, first, is allowed)")
    if conv.character is not None:
        for key, value in conv.character.__dict__.items():
            if not is_text(value):
                raise RecordError(
                    record, f"character.{key}", "invalid string: a lone surrogate (not a character)"
                )
    if not partial and all(m.role == "system" for m in conv.messages):
        raise RecordError(record, "messages", "only a system message: nothing to render")


def is_text(value: str) -> bool:
    """True when ``value`` is encodable text (no lone surrogate such as ``"\\ud800"``).

    >>> is_text("café 🙂"), is_text("a" + chr(0xD800) + "b")
    (True, False)
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# Role-play data writes the character and user names as placeholders, and often malforms them.
# Seen in PIPPA: {{char}}, {char}}, {{Char}, {[Char}}, {{user}}, {{user}, {{random_user_3}}, {{user_1}}, {{u01}}.
_CHAR_PLACEHOLDER = re.compile(r"\{[{\[]?\s*(?:char|bot)\s*[\]}]?\}", re.IGNORECASE)
_USER_PLACEHOLDER = re.compile(r"\{\{?\s*(?:user(?:_\d+)?|random_user_\d+|u\d+)\s*\}?\}", re.IGNORECASE)


def fill_placeholders(text: str, char_name: str, user_name: str) -> str:
    """Substitute ``{{char}}``/``{{user}}`` and their malformed variants.

    >>> fill_placeholders("{{char}} waves at {{user}}; {char}} and {{random_user_2}} and {{u01}}", "Mira", "Sam")
    'Mira waves at Sam; Mira and Sam and Sam'
    """
    if "{" not in text:
        return text
    text = _CHAR_PLACEHOLDER.sub(lambda _: char_name, text)
    return _USER_PLACEHOLDER.sub(lambda _: user_name, text)


def resolve_placeholders(conv: Conversation) -> Conversation:
    """Fill placeholders in the card and every message, using the card's names; no card, no change."""
    ch = conv.character
    if ch is None:
        return conv
    fill = lambda s: fill_placeholders(s, ch.name, ch.user_name)  # noqa: E731
    card = replace(
        ch,
        persona=fill(ch.persona),
        scenario=fill(ch.scenario),
        greeting=fill(ch.greeting),
        example_dialogue=fill(ch.example_dialogue),
    )
    messages = tuple(replace(m, content=fill(m.content)) for m in conv.messages)
    return Conversation(messages=messages, character=card)
