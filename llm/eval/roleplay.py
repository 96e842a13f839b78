"""Role-play evaluation metrics as pure functions on reply text (the first part of issue 7).

Each checker says whether one reply obeys a checkable instruction; the aggregate functions turn many
(turn, passed) results into compliance rates by turn — the adherence curve that Ghost Attention should
keep flat for twenty turns.

    >>> ends_with("Shall we go?", "?"), forbids("I like apples", "apple"), within_words("a b c", 2)
    (True, False, False)
    >>> claims_ai("As an AI language model, I cannot."), speaks_for_user("Sure.\\nYou: thanks", "You")
    (True, True)
    >>> adherence_by_turn([(1, True), (1, False), (2, True)])
    {1: 0.5, 2: 1.0}
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

# Common function words: enough to tell the languages an instruction may ask for apart in a reply.
STOPWORDS: dict[str, frozenset[str]] = {
    "english": frozenset("the and is are you i it to of a in that what with this for not".split()),
    "french": frozenset("le la les et est vous je il de un une des que qui pas pour avec".split()),
    "spanish": frozenset("el la los las y es usted yo de un una que no por con para".split()),
    "german": frozenset("der die das und ist sie ich es zu von ein eine nicht mit für".split()),
}

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_AI_CLAIMS = re.compile(
    r"\b(as an ai|an ai (language )?model|i am an ai|i'm an ai|language model|virtual assistant|"
    r"i am an assistant|i'm an assistant|i am a chatbot|i'm a chatbot)\b",
    re.IGNORECASE,
)
_NAME_CLAIM = re.compile(r"\b(?i:my name is|i am|i'm|call me)\s+([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?)")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def language_of(text: str) -> str | None:
    """The language whose function words appear most (None when none appear)."""
    tokens = words(text)
    scores = {lang: sum(t in stop for t in tokens) for lang, stop in STOPWORDS.items()}
    best = max(scores, key=scores.get)
    return best if scores[best] else None


def in_language(reply: str, language: str) -> bool:
    return language_of(reply) == language.lower()


def ends_with(reply: str, ending: str) -> bool:
    """The reply ends with ``ending`` (ignoring trailing spaces and closing quotes or asterisks)."""
    return reply.rstrip().rstrip("\"'*”’ ").endswith(ending)


def forbids(reply: str, word: str) -> bool:
    """True when the forbidden ``word`` (and its plural or possessive) does not appear."""
    pattern = re.compile(rf"\b{re.escape(word)}(s|es|'s)?\b", re.IGNORECASE)
    return pattern.search(reply) is None


def within_words(reply: str, limit: int) -> bool:
    return len(reply.split()) <= limit


def claims_ai(reply: str) -> bool:
    """The reply says it is an AI / a language model / an assistant."""
    return _AI_CLAIMS.search(reply) is not None


def claims_other_name(reply: str, name: str) -> bool:
    """The reply introduces the speaker under a name that is not ``name`` ("I am Bob", "my name is Bob")."""
    first = name.split()[0].lower()
    for claimed in _NAME_CLAIM.findall(reply):
        if claimed.split()[0].lower() != first and claimed.lower() not in {"sorry", "afraid", "not", "here"}:
            return True
    return False


def persona_consistent(reply: str, name: str) -> bool:
    """The bot keeps its name and does not claim to be an AI or someone else."""
    return not claims_ai(reply) and not claims_other_name(reply, name)


def speaks_for_user(reply: str, user_name: str, extra_markers: Iterable[str] = ()) -> bool:
    """The reply writes the user's turn: a line starting with the user's name, or a template's user marker."""
    lines = reply.splitlines()[1:] if "\n" in reply else []
    if any(line.lstrip().startswith(f"{user_name}:") for line in lines):
        return True
    if reply.lstrip().startswith(f"{user_name}:"):
        return True
    markers = ("<|im_start|>user", "<|start_header_id|>user", "[INST]", "USER:", "<|user|>", *extra_markers)
    return any(m in reply for m in markers)


@dataclass(frozen=True)
class Check:
    """One checkable instruction: the text given to the bot and how to check a reply."""

    family: str
    instruction: str
    kind: str  # language | ending | forbidden | max_words | persona
    value: str | int

    def passed(self, reply: str) -> bool:
        if self.kind == "language":
            return in_language(reply, str(self.value))
        if self.kind == "ending":
            return ends_with(reply, str(self.value))
        if self.kind == "forbidden":
            return forbids(reply, str(self.value))
        if self.kind == "max_words":
            return within_words(reply, int(self.value))
        if self.kind == "persona":
            return persona_consistent(reply, str(self.value))
        raise ValueError(f"unknown check kind {self.kind!r}")


def adherence_by_turn(results: Iterable[tuple[int, bool]]) -> dict[int, float]:
    """Compliance rate at each turn, from (turn, passed) pairs."""
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for turn, ok in results:
        totals[turn][0] += int(ok)
        totals[turn][1] += 1
    return {turn: passed / n for turn, (passed, n) in sorted(totals.items())}
