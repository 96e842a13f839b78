"""TL;DR summarisation data (Stiennon et al. 2020, "Learning to Summarize from Human Feedback").

Three sources, one query format::

    SUBREDDIT: r/{subreddit}\\n\\nTITLE: {title}\\n\\nPOST: {post}\\n\\nTL;DR:

- ``tldr`` — SFT pairs as in ``CarperAI/openai_summarize_tldr``: ``{"prompt", "label"}``;
- ``tldr_comparisons`` — as in ``CarperAI/openai_summarize_comparisons``: ``{"prompt", "chosen", "rejected"}``
  (responses there start with ``"TL;DR: "``);
- ``summarize_from_feedback`` — OpenAI's comparisons: ``{"info": {"post", "title", "subreddit"},
  "summaries": [{"text"}, {"text"}], "choice": 0 | 1}``; the query is built from the fields, the post cut
  at the last newline that keeps the query within ``max_query_tokens``.

CarperAI's copies write their prompts with single newlines; they are kept as they are (mixing sources means
mixing formats — check the rows first). Every prompt is normalised to end with ``TL;DR:`` and every
response is its summary with a leading space, so the ``plain`` template renders the reference completion
``query + " " + summary + EOS``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from llm.data.conversation import Conversation, Message, PreferencePair
from llm.errors import RecordError

QUERY = "SUBREDDIT: r/{subreddit}\n\nTITLE: {title}\n\nPOST: {post}\n\nTL;DR:"
_TLDR_SUFFIX = re.compile(r"\s*TL;DR:\s*$")
_TLDR_PREFIX = re.compile(r"^\s*TL;DR:\s*")


def _field(record: Any, key: str, record_id: str | None, path: str = "") -> str:
    """``record[key]`` as a string; errors name the field by its full ``path`` (``info.title``)."""
    name = f"{path}.{key}" if path else key
    if not isinstance(record, dict):
        raise RecordError(record_id, path or "<record>", f"expected an object, got {type(record).__name__}")
    if key not in record:
        raise RecordError(record_id, name, "missing")
    value = record[key]
    if not isinstance(value, str):
        raise RecordError(record_id, name, f"expected a string, got {type(value).__name__}")
    return value


def normalize_query(prompt: str) -> str:
    """The prompt ending in exactly ``TL;DR:`` (CarperAI's SFT prompts end ``TL;DR: ``; its comparison
    prompts have no ``TL;DR:`` at all)."""
    body = _TLDR_SUFFIX.sub("", prompt).rstrip()
    sep = "\n\n" if "\n\n" in body else "\n"
    return f"{body}{sep}TL;DR:"


def normalize_summary(text: str) -> str:
    return _TLDR_PREFIX.sub("", text).strip()


def fit_query(query: str, max_tokens: int | None, count: Callable[[str], int] | None) -> tuple[str, bool]:
    r"""``query`` with its post cut so the whole query has at most ``max_tokens`` tokens; and whether it was cut.

    The post is cut at the last newline that fits (Stiennon et al.); with no newline that fits, at the
    last space that does. Works on both layouts (blank lines or CarperAI's single newlines).

    >>> fit_query("SUBREDDIT: r/cooking\nTITLE: Bread\nPOST: Line one.\nLine two is long.\nTL;DR:", 9,
    ...           lambda s: len(s.split()))
    ('SUBREDDIT: r/cooking\nTITLE: Bread\nPOST: Line one.\nTL;DR:', True)
    """
    if max_tokens is None or count is None or count(query) <= max_tokens:
        return query, False
    start = query.find("POST: ")
    end = query.rfind("TL;DR:")
    if start < 0 or end < start:
        return query, False  # not a TL;DR query: leave it to the encoder's length limit
    head, post, tail = query[: start + 6], query[start + 6 : end], query[end:]
    sep_after = post[len(post.rstrip()) :]  # the newline(s) between the post and TL;DR:
    post = post.rstrip()
    for sep in ("\n", " "):
        cut = post
        while sep in cut:
            cut = cut[: cut.rindex(sep)].rstrip()
            candidate = head + cut + sep_after + tail
            if count(candidate) <= max_tokens:
                return candidate, True
    return head + sep_after + tail, True


def build_query(
    subreddit: str,
    title: str,
    post: str,
    max_query_tokens: int | None = None,
    count: Callable[[str], int] | None = None,
) -> tuple[str, bool]:
    """The TL;DR query from a post's fields, cut to fit (see :func:`fit_query`)."""
    query = QUERY.format(subreddit=subreddit, title=title.strip(), post=post.strip())
    return fit_query(query, max_query_tokens, count)


def _note(notes: Counter | None, cut: bool) -> None:
    if notes is not None and cut:
        notes["TL;DR posts cut to fit max_query_tokens"] += 1


def _query(record: Any, record_id: str | None, max_tokens: int | None, count, notes: Counter | None) -> str:
    """A CarperAI record's prompt as a TL;DR query, cut to fit (and counted when cut)."""
    query, cut = fit_query(normalize_query(_field(record, "prompt", record_id)), max_tokens, count)
    _note(notes, cut)
    return query


class TldrSFT:
    name = "tldr"
    hub_id = "CarperAI/openai_summarize_tldr"

    @staticmethod
    def detect(record: Any) -> bool:
        return isinstance(record, dict) and {"prompt", "label"} <= set(record)

    @staticmethod
    def to_conversation(
        record: Any,
        record_id: str | None = None,
        max_query_tokens: int | None = None,
        count: Callable[[str], int] | None = None,
        notes: Counter | None = None,
    ) -> Conversation:
        query = _query(record, record_id, max_query_tokens, count, notes)
        summary = normalize_summary(_field(record, "label", record_id))
        if not summary:
            raise RecordError(record_id, "label", "empty summary")
        return Conversation((Message("user", query), Message("assistant", summary)))


# The three TL;DR sources take the same options: they build their query the same way (_query, build_query).
class TldrComparisons:
    name = "tldr_comparisons"
    hub_id = "CarperAI/openai_summarize_comparisons"

    @staticmethod
    def detect(record: Any) -> bool:
        return (  # a TRL-format preference record has these keys too: a TL;DR one has a Reddit post
            isinstance(record, dict)
            and {"prompt", "chosen", "rejected"} <= set(record)
            and isinstance(record["prompt"], str)
            and "POST:" in record["prompt"]
        )

    @staticmethod
    def to_preference(
        record: Any,
        record_id: str | None = None,
        max_query_tokens: int | None = None,
        count: Callable[[str], int] | None = None,
        notes: Counter | None = None,
    ) -> PreferencePair:
        query = _query(record, record_id, max_query_tokens, count, notes)
        chosen = normalize_summary(_field(record, "chosen", record_id))
        rejected = normalize_summary(_field(record, "rejected", record_id))
        return PreferencePair.of_texts(Conversation((Message("user", query),)), chosen, rejected)


class SummarizeFromFeedback:
    name = "summarize_from_feedback"
    hub_id = "openai/summarize_from_feedback"

    @staticmethod
    def detect(record: Any) -> bool:
        return isinstance(record, dict) and {"info", "summaries", "choice"} <= set(record)

    @staticmethod
    def to_preference(
        record: Any,
        record_id: str | None = None,
        max_query_tokens: int | None = None,
        count: Callable[[str], int] | None = None,
        notes: Counter | None = None,
    ) -> PreferencePair:
        if not isinstance(record, dict):
            raise RecordError(record_id, "<record>", f"expected an object, got {type(record).__name__}")
        for key in ("info", "summaries", "choice"):
            if key not in record:
                raise RecordError(record_id, key, "missing")
        info = record["info"]
        if not isinstance(info, dict):
            raise RecordError(record_id, "info", f"expected an object, got {type(info).__name__}")
        if info.get("post") is None:
            raise RecordError(record_id, "info.post", "not a Reddit post (CNN/DM article): no TL;DR query")
        fields = {k: _field(info, k, record_id, "info") for k in ("post", "title", "subreddit")}
        summaries = record["summaries"]
        if not isinstance(summaries, list) or len(summaries) != 2:
            raise RecordError(record_id, "summaries", "expected a list of two summaries")
        texts = [
            normalize_summary(_field(s, "text", record_id, f"summaries[{i}]"))
            for i, s in enumerate(summaries)
        ]
        choice = record["choice"]
        if type(choice) is not int or choice not in (0, 1):  # not 1.0, not True
            raise RecordError(record_id, "choice", f"expected 0 or 1, got {choice!r}")
        query, truncated = build_query(
            fields["subreddit"], fields["title"], fields["post"], max_query_tokens, count
        )
        _note(notes, truncated)
        return PreferencePair.of_texts(
            Conversation((Message("user", query),)),
            texts[choice],
            texts[1 - choice],
            meta={"query_truncated": truncated},
        )
