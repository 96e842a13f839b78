"""Checks: text predicates on a reply, shared by instruction pools, the role-play evaluation and RL rewards.

A leaf module (it imports only the data layer). Each checker says whether one reply obeys a checkable instruction; the aggregate functions turn many
(turn, passed) results into compliance rates by turn — the adherence curve that Ghost Attention should
keep flat for twenty turns. A :class:`Check` pairs an instruction (text, or a character card) with its
checker; :data:`DEFAULT_CHECKS` is the bundled set (files of checks are read by
:func:`llm.eval.instructions.load_checks`).

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
from typing import Any

from llm.data.conversation import Character, character_from_dict
from llm.errors import RecordError

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


KINDS = ("language", "ending", "forbidden", "max_words", "persona")
# Kinds a plain reply fails: a reply passes them only by doing what was asked. The others (a forbidden word,
# a word limit, a persona) pass by default, so "did it unasked" means nothing for them.
SHOWN_KINDS = ("language", "ending")


@dataclass(frozen=True)
class Check:
    """One checkable instruction: the text given to the bot and how to check a reply.

    With a ``character``, the card is what the bot is given (the "character" family: kind ``persona``,
    ``value`` the card's name) and ``instruction`` only describes it.

    >>> Check("format", "End every reply with a question.", "ending", "?").key
    'format/ending=?'
    >>> Check("character", "", "persona", "Mira", Character("Mira")).given
    Character(name='Mira', persona='', scenario='', greeting='', example_dialogue='', user_name='User')
    """

    family: str
    instruction: str
    kind: str  # language | ending | forbidden | max_words | persona
    value: str | int
    character: Character | None = None

    @property
    def given(self) -> str | Character:
        """What the bot is told once, at the start: the card if there is one, else the instruction."""
        return self.character if self.character is not None else self.instruction

    @property
    def key(self) -> str:
        """A short name for reports: ``family/kind=value``."""
        return f"{self.family}/{self.kind}={self.value}"

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
        raise ValueError(f"unknown check kind {self.kind!r}")  # Check is built validated: a bug if reached

    def to_dict(self) -> dict[str, Any]:
        """The JSON form :func:`load_checks` reads."""
        out: dict[str, Any] = {
            "family": self.family,
            "instruction": self.instruction,
            "kind": self.kind,
            "value": self.value,
        }
        if self.character is not None:
            out["character"] = self.character.__dict__.copy()
        return out


def _card(name: str, persona: str, scenario: str) -> Check:
    card = Character(name, persona=persona, scenario=scenario)
    return Check("character", f"Play {name}, from a character card.", "persona", name, card)


# The bundled checks: each family holds instructions whose effect fades without GAtt.
DEFAULT_CHECKS: tuple[Check, ...] = (
    Check("language", "Always answer in French, whatever language the user writes in.", "language", "french"),
    Check(
        "language", "Always answer in Spanish, whatever language the user writes in.", "language", "spanish"
    ),
    Check("language", "Always answer in German, whatever language the user writes in.", "language", "german"),
    Check("format", "End every reply with a question to the user.", "ending", "?"),
    Check("format", 'Never use the word "weather" in your replies.', "forbidden", "weather"),
    Check("format", "Keep every reply to at most 15 words.", "max_words", 15),
    _card(
        "Ysolde Brack",
        "A retired airship captain who now runs a tea stall at the edge of a windy hill town. Brisk, proud "
        "of her old ship, the Gull's Promise, and never without a nautical word for anything.",
        "{{user}} stops at her tea stall on a cold morning, just as the first gusts come in.",
    ),
    _card(
        "Tobias Fennick",
        "The lock-keeper of a sleepy canal, who keeps a drawer of lost gloves and a story for each of them. "
        "Slow-spoken, gentle, and suspicious of anything with an engine.",
        "{{user}}'s narrowboat is waiting at Tobias's lock while the water rises.",
    ),
    _card(
        "Marisol Quint",
        "The host of a small town's late-night radio show. Warm, quick, a little theatrical; she treats "
        "every caller as the most interesting person awake.",
        "{{user}} has called in to the show at two in the morning.",
    ),
)


def check_value_problem(kind: str, value: Any) -> str | None:
    """What is wrong with a check's ``value`` for its ``kind``, or None when it can be checked.

    >>> check_value_problem("max_words", "ten"), check_value_problem("language", "French")
    ("a max_words check needs a whole number of words, got 'ten'", None)
    """
    if kind not in KINDS:
        return f"unknown kind {kind!r} (known: {', '.join(KINDS)})"
    if kind == "max_words":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"a max_words check needs a whole number of words, got {value!r}"
        return None
    if not isinstance(value, str) or not value.strip():
        return f"a {kind} check needs a non-empty string, got {value!r}"
    if kind == "language" and value.lower() not in STOPWORDS:
        return f"unknown language {value!r} (known: {', '.join(STOPWORDS)})"
    return None


def check_from_dict(item: Any, where: str) -> Check:
    """One check from its JSON form; errors name ``where`` and the field."""
    if not isinstance(item, dict):
        raise RecordError(where, "<item>", f"expected an object, got {type(item).__name__}")
    known = ("family", "instruction", "kind", "value", "character")
    unknown = sorted(set(item) - set(known))
    if unknown:
        raise RecordError(where, unknown[0], f"unknown field (known: {', '.join(known)})")
    character = character_from_dict(item["character"], where) if item.get("character") is not None else None
    for name in ("family", "kind", "instruction"):
        if name == "instruction" and character is not None and name not in item:
            continue
        if name not in item:
            raise RecordError(where, name, "missing")
        if not isinstance(item[name], str) or (name != "instruction" and not item[name].strip()):
            raise RecordError(where, name, f"expected a non-empty string, got {item[name]!r}")
    if character is None and not item["instruction"].strip():
        raise RecordError(where, "instruction", "empty (give the text the bot is told, or a character)")
    kind = item["kind"]
    if kind not in KINDS:
        raise RecordError(where, "kind", f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    if "value" not in item and not (kind == "persona" and character is not None):
        raise RecordError(where, "value", "missing")
    value = item.get("value", character.name if character else None)
    problem = check_value_problem(kind, value)
    if problem:
        raise RecordError(where, "value", problem)
    instruction = item.get(
        "instruction", f"Play {character.name}, from a character card." if character else ""
    )
    return Check(item["family"], instruction, kind, value.lower() if kind == "language" else value, character)


def adherence_by_turn(results: Iterable[tuple[int, bool]]) -> dict[int, float]:
    """Compliance rate at each turn, from (turn, passed) pairs."""
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for turn, ok in results:
        totals[turn][0] += int(ok)
        totals[turn][1] += 1
    return {turn: passed / n for turn, (passed, n) in sorted(totals.items())}
