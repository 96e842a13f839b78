"""PIPPA (PygmalionAI/PIPPA; Gosling, Dale & Zheng 2023): role-play chats with their character cards.

Record schema (``pippa_deduped.jsonl``)::

    {"submission_timestamp": 1673000000000, "categories": ["Fantasy"] | null, "bot_id": "…",
     "bot_name": "Mira", "bot_greeting": "…", "bot_definitions": "…" | null, "bot_description": "…" | null,
     "conversation": [{"message": "…", "is_human": false}, …]}

Quirks handled here (see the paper and the dataset card):

- ``null`` description / definitions / categories read as empty;
- ``conversation[0]`` is normally the greeting already: it is not added twice (the greeting is prepended
  only when the chat starts with the human);
- consecutive messages from the same side are merged (joined by a blank line);
- a bot message that starts with ``"NAME:"`` loses that prefix (the template writes speaker names);
- a literal backslash-n (``\\n`` as two characters) becomes a newline;
- ``END_OF_DIALOG`` separators in definitions become ``<START>``, the example-dialogue separator of
  Pygmalion's format;
- a conversation that ``datasets`` hands back flattened (``{"message": [...], "is_human": [...]}``);
- ``{{char}}``/``{{user}}`` placeholders, malformed or not, are kept here and filled by the template.

- PIPPA's redaction tokens (``[NAME_IN_MESSAGE_REDACTED]``, ``[REDACTED]``, ``[FIRST_NAME_REDACTED]``,
  ``[USERNAME_REDACTED]``, ``[NAME_REDACTED]``) stand where the user's name was: they are filled with the
  user's name, like ``{{user}}``, so a model never learns to say them; each replacement is counted
  (``stats.json`` → ``records_changed``).

The user speaks as "You" (PIPPA's classic format) unless ``user_name`` says otherwise.

    >>> record = {"bot_name": "Mira", "conversation": [
    ...     {"message": "Hello, [NAME_IN_MESSAGE_REDACTED]!", "is_human": False},
    ...     {"message": "Hi", "is_human": True}]}
    >>> to_conversation(record, user_name="Sam").messages[0].content
    'Hello, Sam!'

"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from llm.data.conversation import (
    Character,
    Conversation,
    Message,
    is_text,
    list_of_objects,
    validate_conversation,
)
from llm.errors import RecordError

name = "pippa"
HUB_ID = "PygmalionAI/PIPPA"
DEFAULT_FILE = "pippa_deduped.jsonl"
REQUIRED = ("bot_name", "conversation")
REDACTION = re.compile(r"\[(?:NAME_IN_MESSAGE|FIRST_NAME|USERNAME|NAME)?_?REDACTED\]")
REDACTION_NOTE = "PIPPA redaction tokens filled with the user's name"


def detect(record: Any) -> bool:
    return isinstance(record, dict) and "bot_name" in record and "conversation" in record


def _text(record: dict, key: str, record_id: str | None) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(record_id, key, f"expected a string or null, got {type(value).__name__}")
    if not is_text(value):
        raise RecordError(record_id, key, "invalid string: a lone surrogate (not a character)")
    return value


def _turns(raw: Any, record_id: str | None) -> list[tuple[bool, str]]:
    if isinstance(raw, dict) and set(raw) >= {"message", "is_human"}:  # flattened by `datasets`
        for key in ("message", "is_human"):
            if not isinstance(raw[key], list):
                got = type(raw[key]).__name__
                raise RecordError(record_id, f"conversation.{key}", f"expected a list (flattened), got {got}")
        if len(raw["message"]) != len(raw["is_human"]):
            raise RecordError(
                record_id, "conversation", "flattened lists 'message' and 'is_human' differ in length"
            )
        raw = [{"message": m, "is_human": h} for m, h in zip(raw["message"], raw["is_human"], strict=True)]
    turns = []
    for i, turn in enumerate(
        list_of_objects({"conversation": raw}, "conversation", ("message", "is_human"), record_id)
    ):
        if not isinstance(turn["message"], str):
            raise RecordError(
                record_id,
                f"conversation[{i}].message",
                f"expected a string, got {type(turn['message']).__name__}",
            )
        if not is_text(turn["message"]):
            raise RecordError(
                record_id, f"conversation[{i}].message", "invalid string: a lone surrogate (not a character)"
            )
        if not isinstance(turn["is_human"], bool):
            raise RecordError(
                record_id, f"conversation[{i}].is_human", f"expected true/false, got {turn['is_human']!r}"
            )
        turns.append((turn["is_human"], turn["message"]))
    if not turns:
        raise RecordError(record_id, "conversation", "empty conversation")
    return turns


def fill_redactions(text: str, user_name: str, notes: Counter | None = None) -> str:
    """PIPPA's redaction tokens replaced by the user's name (counted in ``notes``).

    >>> fill_redactions("Bye [REDACTED], [FIRST_NAME_REDACTED]!", "Sam")
    'Bye Sam, Sam!'
    """
    if "REDACTED]" not in text:
        return text
    text, n = REDACTION.subn(lambda _: user_name, text)
    if notes is not None and n:
        notes[REDACTION_NOTE] += n
    return text


def _clean(message: str, bot_name: str, is_human: bool) -> str:
    message = message.replace("\\n", "\n")
    if not is_human and bot_name:
        message = re.sub(rf"^\s*{re.escape(bot_name)}\s*:\s*", "", message, count=1)
    return message


def to_conversation(
    record: Any, record_id: str | None = None, user_name: str = "You", notes: Counter | None = None
) -> Conversation:
    """One PIPPA record → a :class:`Conversation` with the bot's card as its character."""
    if not isinstance(record, dict):
        raise RecordError(record_id, "<record>", f"expected an object, got {type(record).__name__}")
    for key in REQUIRED:
        if key not in record:
            raise RecordError(record_id, key, "missing")
    bot_name = _text(record, "bot_name", record_id).strip()
    if not bot_name:
        raise RecordError(record_id, "bot_name", "empty name")
    greeting = _text(record, "bot_greeting", record_id).replace("\\n", "\n")
    definitions = _text(record, "bot_definitions", record_id).replace("\\n", "\n")
    definitions = re.sub(r"\s*END_OF_DIALOG\s*", "\n<START>\n", definitions).strip()
    definitions = definitions.removesuffix("<START>").strip()
    card = Character(
        name=bot_name,
        persona=_text(record, "bot_description", record_id).strip(),
        greeting=greeting,
        example_dialogue=definitions,
        user_name=user_name,
    )

    merged: list[tuple[bool, str]] = []
    for is_human, message in _turns(record["conversation"], record_id):
        message = fill_redactions(_clean(message, bot_name, is_human), user_name, notes)
        if merged and merged[-1][0] == is_human:
            merged[-1] = (is_human, merged[-1][1] + "\n\n" + message)
        else:
            merged.append((is_human, message))
    if merged[0][0] and greeting.strip():
        merged.insert(0, (False, fill_redactions(greeting, user_name, notes)))
    messages = tuple(Message("user" if h else "assistant", m) for h, m in merged)
    conv = Conversation(messages=messages, character=card)
    validate_conversation(conv, record_id)
    return conv
