"""The one context-fitting policy: what a prompt loses when it and the reply would outgrow the model's context.

Used by the chat (``llm-train chat``), the batched replier (evaluation, GAtt sampling) and GAtt's training
samples alike. The system message, anything before the first user turn (a role-play greeting), the first
exchange and the last user turn always stay — an instruction given once at the start lives there — and the
oldest exchanges *after* the first go, one at a time::

    kept:    [system] [greeting] u1 a1 | u2 a2 | u3 a3 | u4      (too long)
    fitted:  [system] [greeting] u1 a1 |         u3 a3 | u4      (one exchange dropped)

>>> from llm.data.conversation import Conversation, Message
>>> conv = Conversation(tuple(Message(r, c) for r, c in
...     [("user", "u1"), ("assistant", "a1"), ("user", "u2"), ("assistant", "a2"), ("user", "u3")]))
>>> [m.content for m in drop_oldest_exchange(conv).messages]
['u1', 'a1', 'u3']
>>> fitted = fit(conv, lambda c: [0] * 4 * len(c.messages), limit=12)
>>> [m.content for m in fitted.conversation.messages], fitted.dropped
(['u1', 'a1', 'u3'], 1)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from llm.data.conversation import Conversation


def drop_oldest_exchange(conv: Conversation) -> Conversation | None:
    """``conv`` without its second user turn and the replies that follow it; None when nothing can go."""
    users = [k for k, m in enumerate(conv.messages) if m.role == "user"]
    if len(users) < 3:
        return None
    start, end = users[1], users[2]
    return replace(conv, messages=conv.messages[:start] + conv.messages[end:])


@dataclass(frozen=True)
class Fitted:
    """The conversation that fits, its ids, and how many exchanges were left out; ``ids`` is None when even
    the first exchange and the last user turn do not fit."""

    conversation: Conversation
    ids: list[int] | None
    dropped: int


def fit(conv: Conversation, encode: Callable[[Conversation], list[int]], limit: int | None) -> Fitted:
    """Leave out the oldest exchanges after the first until ``encode(conv)`` has at most ``limit`` ids."""
    ids, dropped = encode(conv), 0
    while limit is not None and len(ids) > limit:
        shorter = drop_oldest_exchange(conv)
        if shorter is None:
            return Fitted(conv, None, dropped)
        conv, dropped = shorter, dropped + 1
        ids = encode(conv)
    return Fitted(conv, ids, dropped)


def context_limit(model: object, room: int) -> int | None:
    """Prompt tokens a model can take with ``room`` tokens left for the reply (None: no known limit)."""
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return None if limit is None else limit - room
