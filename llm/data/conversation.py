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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from llm.data.cards import (  # the card types live with the card formats; re-exported here
    CARD_TEXT_FIELDS,  # noqa: F401
    Character,
    Lorebook,
    LoreEntry,  # noqa: F401
    character_from_dict,
    character_to_dict,  # noqa: F401
)
from llm.data.text import is_text
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
            out["character"] = character_to_dict(self.character)
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
        for key, value in conv.character.texts().items():
            if not is_text(value):
                raise RecordError(
                    record, f"character.{key}", "invalid string: a lone surrogate (not a character)"
                )
    if not partial and all(m.role == "system" for m in conv.messages):
        raise RecordError(record, "messages", "only a system message: nothing to render")


# Role-play data writes the character and user names as placeholders, and often malforms them.
# Seen in PIPPA: {{char}}, {char}}, {{Char}, {[Char}}, {{user}}, {{user}, {{random_user_3}}, {{user_1}}, {{u01}}.
# Old Tavern cards write <BOT> and <USER>.
_CHAR_PLACEHOLDER = re.compile(r"\{[{\[]?\s*(?:char|bot)\s*[\]}]?\}|<(?:bot|char)>", re.IGNORECASE)
_USER_PLACEHOLDER = re.compile(
    r"\{\{?\s*(?:user(?:_\d+)?|random_user_\d+|u\d+)\s*\}?\}|<user>", re.IGNORECASE
)


def fill_placeholders(text: str, char_name: str, user_name: str) -> str:
    """Substitute ``{{char}}``/``{{user}}`` and their malformed variants.

    >>> fill_placeholders("{{char}} waves at {{user}}; {char}} and {{random_user_2}} and {{u01}}", "Mira", "Sam")
    'Mira waves at Sam; Mira and Sam and Sam'
    >>> fill_placeholders("{{Char}} sees <USER>; <BOT> nods to {{USER}}", "Mira", "Sam")
    'Mira sees Sam; Mira nods to Sam'
    """
    if "{" not in text and "<" not in text:
        return text
    text = _CHAR_PLACEHOLDER.sub(lambda _: char_name, text)
    return _USER_PLACEHOLDER.sub(lambda _: user_name, text)


def resolve_placeholders(conv: Conversation) -> Conversation:
    """Fill placeholders in every text of the card and every message, using the card's names; no card, no
    change."""
    ch = conv.character
    if ch is None:
        return conv
    fill = lambda s: fill_placeholders(s, ch.name, ch.user_name)  # noqa: E731
    book = ch.character_book
    if book is not None:
        book = replace(book, entries=tuple(replace(e, content=fill(e.content)) for e in book.entries))
    card = replace(
        ch,
        **{k: fill(getattr(ch, k)) for k in CARD_TEXT_FIELDS if k not in ("name", "user_name")},
        alternate_greetings=tuple(fill(g) for g in ch.alternate_greetings),
        character_book=book,
    )
    messages = tuple(replace(m, content=fill(m.content)) for m in conv.messages)
    return Conversation(messages=messages, character=card)


def active_lore(book: Lorebook, messages: Sequence[Message]) -> tuple[list[str], list[str]]:
    """The contents of the entries to insert (before the card's description, after it), in ``insertion_order``.

    Keys are searched (as substrings; case-insensitively unless ``case_sensitive``) in the last
    ``scan_depth`` user and assistant messages *before the reply being written*: trailing assistant
    messages are left out, so a training row and the inference prompt of its last reply insert the same
    entries (inference prompts are prefixes of training rows).

    >>> book = Lorebook((LoreEntry(("tower",), "The tower is old."), LoreEntry(("sea",), "Salt.", constant=True)))
    >>> active_lore(book, [Message("user", "Tell me of the Tower.")])
    (['The tower is old.', 'Salt.'], [])
    >>> active_lore(book, [Message("user", "Hello.")])
    (['Salt.'], [])
    """
    turns = [m for m in messages if m.role != "system"]
    while turns and turns[-1].role == "assistant":
        turns.pop()
    window = turns[-book.scan_depth :] if book.scan_depth > 0 else []
    text = "\n".join(m.content for m in window)

    def found(keys: tuple[str, ...], case_sensitive: bool) -> bool:
        hay = text if case_sensitive else text.lower()
        return any(k and (k if case_sensitive else k.lower()) in hay for k in keys)

    def inserted(e: LoreEntry) -> bool:
        if not e.enabled:
            return False
        if e.constant:
            return True
        if not found(e.keys, e.case_sensitive):
            return False
        return not (e.selective and e.secondary_keys) or found(e.secondary_keys, e.case_sensitive)

    chosen = sorted((e for e in book.entries if inserted(e)), key=lambda e: e.insertion_order)
    before = [e.content for e in chosen if e.position != "after_char"]
    after = [e.content for e in chosen if e.position == "after_char"]
    return before, after


def card_description(ch: Character) -> str:
    """The card's description and ``{{char}}'s personality: …`` (SillyTavern's story-string wording), one
    per line.

    >>> print(card_description(Character("Mira", persona="A keeper.", personality="Calm.")))
    A keeper.
    Mira's personality: Calm.
    """
    personality = f"{ch.name}'s personality: {ch.personality}" if ch.personality else ""
    return "\n".join(p for p in (ch.persona, personality) if p)


def card_lore(ch: Character, messages: Sequence[Message]) -> tuple[list[str], list[str]]:
    """The card's lorebook entries for these messages: (before the card, after it); see :func:`active_lore`."""
    return active_lore(ch.character_book, messages) if ch.character_book is not None else ([], [])


def with_original(text: str, original: str) -> str:
    """A card's ``system_prompt`` or ``post_history_instructions``: ``{{original}}`` stands for the text
    it replaces.

    >>> with_original("Be terse. {{original}}", "Stay in character.")
    'Be terse. Stay in character.'
    """
    return re.sub(r"\{\{\s*original\s*\}\}", lambda _: original, text, flags=re.IGNORECASE)
