"""Source formats → :class:`~llm.data.conversation.Conversation`, one module each, found by name.

    >>> sorted(SOURCES)
    ['openai', 'pippa']
    >>> get_source("PIPPA").name
    'pippa'

Each source exposes ``name``, ``detect(record) -> bool`` and ``to_conversation(record, record_id)``.
Readers (:mod:`llm.data.sources.files`) yield ``(record_id, record)`` with ``record_id`` = ``"file:line"``.
"""

from __future__ import annotations

from typing import Any, Protocol

from llm.data.conversation import Conversation
from llm.data.sources import openai_messages, pippa


class Source(Protocol):
    name: str

    def detect(self, record: Any) -> bool: ...

    def to_conversation(self, record: Any, record_id: str | None = None) -> Conversation: ...


SOURCES: dict[str, Source] = {"pippa": pippa, "openai": openai_messages}


def get_source(name: str) -> Source:
    key = name.lower()
    if key not in SOURCES:
        raise ValueError(f"unknown dataset source {name!r}; known: {', '.join(sorted(SOURCES))}")
    return SOURCES[key]


def detect_source(record: Any, record_id: str | None = None) -> Source:
    """The source whose schema ``record`` has (used when no source is named)."""
    for source in SOURCES.values():
        if source.detect(record):
            return source
    where = f"{record_id}: " if record_id else ""
    raise ValueError(
        f"{where}cannot tell the record's format (keys: {', '.join(sorted(record)) if isinstance(record, dict) else type(record).__name__}); "
        f"name it with --source ({', '.join(sorted(SOURCES))})"
    )
