"""Preference data in the public formats: TRL's (``preference``), Anthropic HH-RLHF (``hh_rlhf``) and KTO's
unpaired completions (``kto``), as multi-turn :class:`~llm.data.conversation.PreferencePair` s.

- ``preference`` — TRL's preference formats:

  - conversational: ``{"prompt": [messages], "chosen": [messages], "rejected": [messages]}``;
  - standard: ``{"prompt": "text", "chosen": "text", "rejected": "text"}`` (the prompt is one user turn);
  - implicit prompt: ``{"chosen": [messages], "rejected": [messages]}``, two whole conversations sharing a
    prefix; the prompt is the shared prefix, split at the first message that differs.

  ``chosen`` / ``rejected`` may hold several turns (assistant, user, assistant …): a multi-turn continuation.
  An optional ``"character"`` (card fields) makes the pair a role-play pair.
- ``hh_rlhf`` — ``{"chosen": "\\n\\nHuman: … \\n\\nAssistant: …", "rejected": "…"}``: whole transcripts, parsed
  into turns and split at the first turn that differs (normally the last assistant reply).
- ``kto`` — ``{"prompt": text or messages, "completion": text or messages, "label": true | false}``.

>>> pair = to_pair({"prompt": [{"role": "user", "content": "Hi"}],
...                 "chosen": [{"role": "assistant", "content": "Hello!"}],
...                 "rejected": [{"role": "assistant", "content": "Go away."}]}, "f:1")
>>> [m.content for m in pair.prompt.messages], pair.chosen_text, pair.rejected_text
(['Hi'], 'Hello!', 'Go away.')
>>> hh = hh_to_pair({"chosen": "\\n\\nHuman: Hi\\n\\nAssistant: Hello!", "rejected": "\\n\\nHuman: Hi\\n\\nAssistant: No."})
>>> [m.role for m in hh.prompt.messages], hh.chosen_text, hh.rejected_text
(['user'], 'Hello!', 'No.')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from llm.data.conversation import (
    Conversation,
    LabeledCompletion,
    Message,
    PreferencePair,
    character_from_dict,
    is_text,
    list_of_objects,
    validate_continuation,
)
from llm.errors import RecordError


def detect(record: Any) -> bool:
    return isinstance(record, dict) and {"chosen", "rejected"} <= set(record) and not hh_detect(record)


def hh_detect(record: Any) -> bool:
    return isinstance(record, dict) and str(record.get("chosen", "")).startswith("\n\nHuman:")


def _text(record: Mapping, key: str, record_id: str | None) -> str:
    value = record[key]
    if not isinstance(value, str):
        raise RecordError(
            record_id, key, f"expected a string or a list of messages, got {type(value).__name__}"
        )
    if not is_text(value):
        raise RecordError(record_id, key, "invalid string: a lone surrogate (not a character)")
    return value


def messages(record: Mapping, key: str, record_id: str | None, default_role: str) -> tuple[Message, ...]:
    """``record[key]`` as messages: a list of ``{"role", "content"}``, or a string (one ``default_role`` turn)."""
    if key not in record:
        raise RecordError(record_id, key, "missing")
    if isinstance(record[key], str):
        return (Message(default_role, _text(record, key, record_id)),)
    out = []
    for i, m in enumerate(list_of_objects(record, key, ("role", "content"), record_id)):
        if not isinstance(m["role"], str) or m["role"] not in ("system", "user", "assistant"):
            raise RecordError(
                record_id, f"{key}[{i}].role", f"unknown role {m['role']!r} (system, user, assistant)"
            )
        if not isinstance(m["content"], str):
            got = type(m["content"]).__name__
            raise RecordError(record_id, f"{key}[{i}].content", f"expected a string, got {got}")
        out.append(Message(m["role"], m["content"]))
    return tuple(out)


def _character(record: Mapping, record_id: str | None):
    return (
        character_from_dict(record["character"], record_id) if record.get("character") is not None else None
    )


def split_shared_prefix(
    chosen: tuple[Message, ...], rejected: tuple[Message, ...]
) -> tuple[tuple[Message, ...], tuple[Message, ...], tuple[Message, ...]]:
    """``(prompt, chosen continuation, rejected continuation)`` of two whole conversations: the prompt is
    their shared prefix, up to the first message that differs."""
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    if shared == len(chosen) == len(rejected):
        return chosen, (), ()  # identical: counted as such when encoded
    return chosen[:shared], chosen[shared:], rejected[shared:]


def to_pair(record: Any, record_id: str | None = None) -> PreferencePair:
    """A TRL-format preference record (conversational, standard or implicit prompt) → a pair."""
    if not isinstance(record, Mapping):
        raise RecordError(record_id, "<record>", f"expected an object, got {type(record).__name__}")
    character = _character(record, record_id)
    chosen = messages(record, "chosen", record_id, "assistant")
    rejected = messages(record, "rejected", record_id, "assistant")
    if "prompt" in record:
        prompt = messages(record, "prompt", record_id, "user")
    else:
        prompt, chosen, rejected = split_shared_prefix(chosen, rejected)
        if not chosen and not rejected:
            return PreferencePair(Conversation(prompt[:-1], character), prompt[-1:], prompt[-1:])
    conv = Conversation(prompt, character)
    for name, side in (("chosen", chosen), ("rejected", rejected)):
        validate_continuation(conv, side, record_id, name)
    return PreferencePair(conv, chosen, rejected)


_HH_TURN = re.compile(r"\n\n(Human|Assistant): ")


def parse_hh(transcript: str, record_id: str | None, key: str) -> tuple[Message, ...]:
    """An HH-RLHF transcript as messages.

    >>> [(m.role, m.content) for m in parse_hh("\\n\\nHuman: a\\n\\nAssistant: b", None, "chosen")]
    [('user', 'a'), ('assistant', 'b')]
    """
    parts = _HH_TURN.split(transcript)
    if parts[0].strip() or len(parts) < 3:
        raise RecordError(record_id, key, 'expected a transcript of "\\n\\nHuman: …\\n\\nAssistant: …" turns')
    roles = {"Human": "user", "Assistant": "assistant"}
    return tuple(
        Message(roles[speaker], text) for speaker, text in zip(parts[1::2], parts[2::2], strict=True)
    )


def hh_to_pair(record: Any, record_id: str | None = None) -> PreferencePair:
    """An Anthropic HH-RLHF record → a pair: the shared turns are the prompt."""
    if not isinstance(record, Mapping):
        raise RecordError(record_id, "<record>", f"expected an object, got {type(record).__name__}")
    for key in ("chosen", "rejected"):
        if key not in record:
            raise RecordError(record_id, key, "missing")
    chosen = parse_hh(_text(record, "chosen", record_id), record_id, "chosen")
    rejected = parse_hh(_text(record, "rejected", record_id), record_id, "rejected")
    prompt, chosen, rejected = split_shared_prefix(chosen, rejected)
    if not chosen and not rejected:
        return PreferencePair(Conversation(prompt[:-1]), prompt[-1:], prompt[-1:])
    conv = Conversation(prompt)
    for name, side in (("chosen", chosen), ("rejected", rejected)):
        validate_continuation(conv, side, record_id, name)
    return PreferencePair(conv, chosen, rejected)


def kto_detect(record: Any) -> bool:
    return isinstance(record, dict) and {"prompt", "completion", "label"} <= set(record)


def to_labeled(record: Any, record_id: str | None = None) -> LabeledCompletion:
    """A KTO record → an unpaired completion marked desirable (``label`` true) or not."""
    if not isinstance(record, Mapping):
        raise RecordError(record_id, "<record>", f"expected an object, got {type(record).__name__}")
    if "label" not in record:
        raise RecordError(record_id, "label", "missing")
    if not isinstance(record["label"], bool):
        raise RecordError(record_id, "label", f"expected true/false, got {record['label']!r}")
    prompt = Conversation(messages(record, "prompt", record_id, "user"), _character(record, record_id))
    completion = messages(record, "completion", record_id, "assistant")
    validate_continuation(prompt, completion, record_id, "completion")
    return LabeledCompletion(prompt, completion, record["label"])
