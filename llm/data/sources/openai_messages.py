"""OpenAI-style chat records: ``{"messages": [{"role", "content"}], "character"?: {...}}``."""

from __future__ import annotations

from typing import Any

from llm.data.conversation import Conversation

name = "openai"


def detect(record: Any) -> bool:
    return isinstance(record, dict) and isinstance(record.get("messages"), list)


def to_conversation(record: Any, record_id: str | None = None) -> Conversation:
    return Conversation.from_dict(record, record=record_id)
