"""Source formats → :class:`~llm.data.conversation.Conversation`, ``PreferencePair`` or text, by name.

    >>> sorted(SOURCES)  # doctest: +NORMALIZE_WHITESPACE
    ['hh_rlhf', 'kto', 'openai', 'pippa', 'preference', 'sharegpt', 'summarize_from_feedback', 'text', 'tldr',
     'tldr_comparisons']
    >>> get_source("PIPPA").kind
    'chat'

Each source has a ``kind`` — ``chat`` (→ Conversation), ``preference`` (→ PreferencePair), ``unpaired``
(→ LabeledCompletion, KTO's data) or ``text`` (→ str) — a ``detect(record)`` test used when no source is named, and ``convert(record, record_id)``,
which raises :class:`~llm.data.conversation.RecordError` naming the record and field on bad input.
The reader (:mod:`llm.data.sources.files`) yields ``(record_id, record)`` with ``record_id`` = ``"file:line"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llm.data.conversation import Character
from llm.data.sources import openai_messages, pippa, preference, sharegpt, text
from llm.data.sources.files import nth_record
from llm.data.sources.tldr import SummarizeFromFeedback, TldrComparisons, TldrSFT
from llm.errors import UserError


@dataclass(frozen=True)
class Source:
    name: str
    kind: Literal["chat", "preference", "unpaired", "text"]
    detect: Callable[[Any], bool]
    convert: Callable[..., Any]
    hub_id: str | None = None
    hub_file: str | None = None  # read this file of the hub repo directly (its loader script is broken)


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("pippa", "chat", pippa.detect, pippa.to_conversation, pippa.HUB_ID, pippa.DEFAULT_FILE),
        Source("sharegpt", "chat", sharegpt.detect, sharegpt.to_conversation),
        Source("openai", "chat", openai_messages.detect, openai_messages.to_conversation),
        Source("tldr", "chat", TldrSFT.detect, TldrSFT.to_conversation, TldrSFT.hub_id),
        Source(
            "tldr_comparisons",
            "preference",
            TldrComparisons.detect,
            TldrComparisons.to_preference,
            TldrComparisons.hub_id,
        ),
        Source(
            "summarize_from_feedback",
            "preference",
            SummarizeFromFeedback.detect,
            SummarizeFromFeedback.to_preference,
            SummarizeFromFeedback.hub_id,
        ),
        Source("hh_rlhf", "preference", preference.hh_detect, preference.hh_to_pair, "Anthropic/hh-rlhf"),
        Source("preference", "preference", preference.detect, preference.to_pair),
        Source("kto", "unpaired", preference.kto_detect, preference.to_labeled),
        Source("text", "text", text.detect, text.to_text),
    )
}


def get_source(name: str) -> Source:
    key = name.lower()
    if key not in SOURCES:
        raise UserError(f"unknown dataset source {name!r}; known: {', '.join(sorted(SOURCES))}")
    return SOURCES[key]


def detect_source(record: Any, record_id: str | None = None) -> Source:
    """The source whose schema ``record`` has (used when no source is named)."""
    for source in SOURCES.values():
        if source.detect(record):
            return source
    where = f"{record_id}: " if record_id else ""
    keys = ", ".join(sorted(record)) if isinstance(record, dict) else type(record).__name__
    raise UserError(
        f"{where}cannot tell the record's format (keys: {keys}); name it ({', '.join(sorted(SOURCES))})"
    )


def card_from_records(path: str | Path, index: int) -> Character:
    """The character card of record ``index`` (0-based) of a chat data file."""
    record_id, record = nth_record(path, index)
    source = detect_source(record, record_id)
    conv = source.convert(record, record_id) if source.kind == "chat" else None
    if conv is None or conv.character is None:
        raise UserError(f"{record_id}: a {source.name} record, with no character card")
    return conv.character
