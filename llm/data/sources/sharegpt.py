"""ShareGPT records: ``{"conversations": [{"from": "human" | "gpt" | "system", "value": "…"}]}``."""

from __future__ import annotations

from typing import Any

from llm.data.conversation import Conversation, Message, list_of_objects, validate_conversation
from llm.errors import RecordError

name = "sharegpt"
ROLE_OF = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "system": "system",
}


def detect(record: Any) -> bool:
    return isinstance(record, dict) and isinstance(record.get("conversations"), list)


def to_conversation(record: Any, record_id: str | None = None) -> Conversation:
    messages = []
    for i, turn in enumerate(list_of_objects(record, "conversations", ("from", "value"), record_id)):
        speaker = turn["from"]
        if not isinstance(speaker, str):
            raise RecordError(
                record_id, f"conversations[{i}].from", f"expected a string, got {type(speaker).__name__}"
            )
        if speaker not in ROLE_OF:
            raise RecordError(
                record_id,
                f"conversations[{i}].from",
                f"unknown speaker {speaker!r} (known: {', '.join(sorted(ROLE_OF))})",
            )
        if not isinstance(turn["value"], str):
            raise RecordError(
                record_id,
                f"conversations[{i}].value",
                f"expected a string, got {type(turn['value']).__name__}",
            )
        messages.append(Message(ROLE_OF[speaker], turn["value"]))
    conv = Conversation(tuple(messages))
    validate_conversation(conv, record_id, field_name=_field_name)
    return conv


def _field_name(i: int, key: str) -> str:
    """Message ``i``'s field as ShareGPT names it (messages map one to one to ``conversations``)."""
    return f"conversations[{i}].{'from' if key == 'role' else 'value'}"
