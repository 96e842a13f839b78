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

Redaction tokens (``[NAME_IN_MESSAGE_REDACTED]`` …) are kept as they are: they are what the data says.
The user speaks as "You" (PIPPA's classic format) unless ``user_name`` says otherwise.
"""

from __future__ import annotations

import re
from typing import Any

from llm.data.conversation import Character, Conversation, Message, RecordError, validate_conversation

name = "pippa"
HUB_ID = "PygmalionAI/PIPPA"
DEFAULT_FILE = "pippa_deduped.jsonl"
REQUIRED = ("bot_name", "conversation")


def detect(record: Any) -> bool:
    return isinstance(record, dict) and "bot_name" in record and "conversation" in record


def _text(record: dict, key: str, record_id: str | None) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(record_id, key, f"expected a string or null, got {type(value).__name__}")
    return value


def _turns(raw: Any, record_id: str | None) -> list[tuple[bool, str]]:
    if isinstance(raw, dict) and set(raw) >= {"message", "is_human"}:  # flattened by `datasets`
        if len(raw["message"]) != len(raw["is_human"]):
            raise RecordError(
                record_id, "conversation", "flattened lists 'message' and 'is_human' differ in length"
            )
        raw = [{"message": m, "is_human": h} for m, h in zip(raw["message"], raw["is_human"], strict=True)]
    if not isinstance(raw, list):
        raise RecordError(record_id, "conversation", f"expected a list, got {type(raw).__name__}")
    turns = []
    for i, turn in enumerate(raw):
        if not isinstance(turn, dict):
            raise RecordError(
                record_id, f"conversation[{i}]", f"expected an object, got {type(turn).__name__}"
            )
        for key in ("message", "is_human"):
            if key not in turn:
                raise RecordError(record_id, f"conversation[{i}].{key}", "missing")
        if not isinstance(turn["message"], str):
            raise RecordError(
                record_id,
                f"conversation[{i}].message",
                f"expected a string, got {type(turn['message']).__name__}",
            )
        if not isinstance(turn["is_human"], bool):
            raise RecordError(
                record_id, f"conversation[{i}].is_human", f"expected true/false, got {turn['is_human']!r}"
            )
        turns.append((turn["is_human"], turn["message"]))
    if not turns:
        raise RecordError(record_id, "conversation", "empty conversation")
    return turns


def _clean(message: str, bot_name: str, is_human: bool) -> str:
    message = message.replace("\\n", "\n")
    if not is_human and bot_name:
        message = re.sub(rf"^\s*{re.escape(bot_name)}\s*:\s*", "", message, count=1)
    return message


def to_conversation(record: Any, record_id: str | None = None, user_name: str = "You") -> Conversation:
    """One PIPPA record → a :class:`Conversation` with the bot's card as its character."""
    if not isinstance(record, dict):
        raise RecordError(record_id, "<record>", f"expected an object, got {type(record).__name__}")
    for key in REQUIRED:
        if key not in record:
            raise RecordError(record_id, key, "missing")
    bot_name = _text(record, "bot_name", record_id).strip()
    if not bot_name:
        raise RecordError(record_id, "bot_name", "empty")
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
        message = _clean(message, bot_name, is_human)
        if merged and merged[-1][0] == is_human:
            merged[-1] = (is_human, merged[-1][1] + "\n\n" + message)
        else:
            merged.append((is_human, message))
    if merged[0][0] and greeting.strip():
        merged.insert(0, (False, greeting))
    messages = tuple(Message("user" if h else "assistant", m) for h, m in merged)
    conv = Conversation(messages=messages, character=card)
    validate_conversation(conv, record_id)
    return conv
