"""Plain text for pre-training: ``{"text": "…"}`` records (or any one string column)."""

from __future__ import annotations

from typing import Any

from llm.data.conversation import RecordError

name = "text"


def detect(record: Any) -> bool:
    return isinstance(record, dict) and isinstance(record.get("text"), str)


def to_text(record: Any, record_id: str | None = None, column: str = "text") -> str:
    if not isinstance(record, dict):
        raise RecordError(record_id, "<record>", f"expected an object, got {type(record).__name__}")
    if column not in record:
        raise RecordError(record_id, column, "missing")
    if not isinstance(record[column], str):
        raise RecordError(record_id, column, f"expected a string, got {type(record[column]).__name__}")
    return record[column]
