"""Checks: scores of a reply in [0, 1], shared by instruction pools, the role-play evaluation and RL rewards.

A leaf module (it imports only the data layer and the language identifier). Each checker scores how far one
reply obeys a checkable instruction, from 0 to 1 (pass/fail is the special case 0 or 1); a reply *passes*
when it scores at least :data:`PASS_MARK`. A :class:`Check` pairs an instruction (text, or a character card)
with its checker, and optionally a ``probe``: a user question whose answer shows whether the instruction still
holds, asked in a branch that the conversation does not keep (:mod:`llm.eval.simulate`).
:data:`DEFAULT_CHECKS` is a small bundled set; :mod:`llm.eval.suite` is the persistence suite; files of checks
are read by :func:`llm.eval.instructions.load_checks`.

Languages are told apart by ``py3langid`` (PyPI), restricted to :data:`LANGUAGES`. Why that one: it is
maintained (the modernised fork of langid.py), its model ships inside a 4.6 MB pure-Python wheel (numpy only,
nothing downloads), it loads in under a second and is deterministic, and restricted to a few candidate
languages it names short replies ("Je ne sais pas.", "No lo sé.", "Non lo so.") correctly. lingua-language-detector
is as good on short text but a 96 MB wheel that takes 9 s to load; langid (the original) is unmaintained since
2016; langdetect is random unless seeded and unmaintained since 2021. A function-word count, which word salad
passes, is no longer used.

    >>> ends_with("Shall we go?", "?"), forbids("I like apples", "apple"), within_words("a b c", 2)
    (True, False, False)
    >>> claims_ai("As an AI language model, I cannot."), speaks_for_user("Sure.\\nYou: thanks", "You")
    (True, True)
    >>> language_of("Je ne sais pas."), language_of("Ich weiß es nicht."), language_of("12 !")
    ('french', 'german', None)
    >>> adherence_by_turn([(1, True), (1, False), (2, True)])
    {1: 0.5, 2: 1.0}
"""

from __future__ import annotations

import importlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llm.data.conversation import Character, Conversation, character_from_dict, character_to_dict
from llm.errors import RecordError, UserError

# The candidate languages (name → ISO 639-1 code of py3langid's model). A reply is in the one of these the
# identifier finds likeliest: a short list keeps short replies from being named as a close neighbour (Occitan
# for Italian, Ligurian for "Sì, certo.").
LANGUAGES: dict[str, str] = {
    "english": "en", "french": "fr", "spanish": "es", "german": "de", "italian": "it", "portuguese": "pt",
    "dutch": "nl", "polish": "pl", "swedish": "sv", "turkish": "tr", "russian": "ru", "chinese": "zh",
    "japanese": "ja", "arabic": "ar", "latin": "la",
}  # fmt: skip
PASS_MARK = 0.5  # a reply passes a check when it scores at least this

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_AI_CLAIMS = re.compile(
    r"\b(as an ai|an ai (language )?model|i am an ai|i'm an ai|language model|virtual assistant|"
    r"i am an assistant|i'm an assistant|i am a chatbot|i'm a chatbot)\b",
    re.IGNORECASE,
)
_NAME_CLAIM = re.compile(r"\b(?i:my name is|i am|i'm|call me)\s+([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?)")
_SENTENCE_END = re.compile(r"[.!?…]+(?=\s|$|[\"'”’)*])")
_DECORATION = "\"'*”’“‘_ ()"  # quotes, emphasis and brackets around a reply's first or last word


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(sorted(LANGUAGES.values()))
    return identifier


def language_of(text: str) -> str | None:
    """The language of ``text`` among :data:`LANGUAGES` (py3langid), None when it has no letters.

    >>> language_of("Claro que sí, amigo."), language_of("Sì, certo."), language_of("Yes, of course.")
    ('spanish', 'italian', 'english')
    """
    if not _WORD.search(text):
        return None
    code, _ = _identifier().classify(text)
    return next(name for name, c in LANGUAGES.items() if c == code)


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


# ── scores in [0, 1] (the new kinds grade; the old ones are pass/fail) ──────────────────────────────


def starts_with(reply: str, word: str) -> float:
    """1.0 when the reply's first word is ``word`` (case and surrounding quotes or asterisks ignored).

    >>> starts_with('*smiles* "Indeed, it is."', "indeed"), starts_with("Well, indeed.", "Indeed")
    (1.0, 0.0)
    """
    text = re.sub(r"^\s*\*[^*]*\*\s*", "", reply)  # an opening *action* is not the first word
    first = text.lstrip(_DECORATION).split(maxsplit=1)
    return float(bool(first) and first[0].rstrip(",.!?;:" + _DECORATION).lower() == word.lower())


def case_share(reply: str, case: str) -> float:
    """How far the reply is written in ``case``: "upper", the share of its cased letters that are capitals;
    "lower", the share of its sentences without a capital. 0.0 without letters.

    The two are measured differently because plain English is about 95% lowercase letters: a letter share
    would pass any ordinary reply as "lowercase only". The capitals that tell are few, about one a sentence
    (its first word, "I", names), so "lower" counts sentences, and a plain reply scores 0.

    >>> case_share("HELLO THERE!", "upper"), case_share("Hello there", "upper"), case_share("42", "upper")
    (1.0, 0.1, 0.0)
    >>> case_share("i like rain. so do you?", "lower"), case_share("Hello there. i mean it.", "lower")
    (1.0, 0.5)
    >>> case_share("Hello there, I like rainy days.", "lower")
    0.0
    """
    if case == "lower":
        parts = sentences(reply)
        return sum(not any(c.isupper() for c in s) for s in parts) / len(parts) if parts else 0.0
    letters = [c for c in reply if c.isupper() or c.islower()]
    if not letters:
        return 0.0
    return sum(c.isupper() for c in letters) / len(letters)


def sentences(reply: str) -> list[str]:
    """The reply's sentences: runs of text closed by ``.``, ``!``, ``?`` or ``…`` (a last one left open counts
    too), each with a word in it.

    >>> sentences("Yes. I think so! Do you?"), sentences("Well... maybe"), sentences("  ")
    (['Yes', ' I think so', ' Do you'], ['Well', ' maybe'], [])
    """
    return [p for p in _SENTENCE_END.split(reply) if _WORD.search(p)]


def sentence_count(reply: str) -> int:
    """How many :func:`sentences` the reply has.

    >>> sentence_count("Yes. I think so! Do you?"), sentence_count("Well... maybe"), sentence_count("  ")
    (3, 2, 0)
    """
    return len(sentences(reply))


def at_most_sentences(reply: str, limit: int) -> float:
    """1.0 for 1 to ``limit`` sentences; ``limit / n`` for n more; 0.0 for an empty reply.

    >>> at_most_sentences("Fine.", 1), at_most_sentences("Fine. Thanks. Bye.", 1), at_most_sentences("", 1)
    (1.0, 0.3333333333333333, 0.0)
    """
    n = sentence_count(reply)
    return 0.0 if n == 0 else min(1.0, limit / n)


def words_near(reply: str, target: int) -> float:
    """How close the word count is to ``target``: 1 − |n − target| / target, at least 0.

    >>> words_near("one two three four five", 5), words_near("one two three four", 5), words_near("", 5)
    (1.0, 0.8, 0.0)
    """
    return max(0.0, 1.0 - abs(len(reply.split()) - target) / target)


def mentions(reply: str, phrases: str) -> float:
    """1.0 when the reply contains one of the ``|``-separated words or phrases (whole words, any case).

    >>> mentions("My brother Tomas runs the mill.", "brother|Tomas"), mentions("I live alone.", "brother")
    (1.0, 0.0)
    """
    return float(any(_contains(reply, p.strip()) for p in phrases.split("|") if p.strip()))


def _contains(text: str, phrase: str) -> bool:
    pattern = r"\s+".join(re.escape(w) for w in phrase.split())
    return re.search(rf"(?<![\w]){pattern}(?![\w])", text, re.IGNORECASE) is not None


Checker = Callable[[str, Conversation | None], float]  # a user's own check: (text, conversation) → score


def load_checker(spec: str, flag: str = "--checker") -> Checker:
    """A user's checker ``module:function``: called as ``function(text, conversation)``, returning a score.

    >>> load_checker("llm.eval.checks:case_share")("YES!", "upper")  # any (text, second argument) function
    1.0
    """
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise UserError(f"{flag} {spec}: expected module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UserError(f"{flag} {spec}: cannot import {module_name} ({e})") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise UserError(f"{flag} {spec}: {module_name} has no function {name!r}")
    return function


@dataclass(frozen=True)
class Kind:
    """How a kind of check scores a reply, and what its value must be (``int`` or ``str``)."""

    score: Callable[[str, Any, Conversation | None], float]
    value_type: type
    shown: bool  # a plain reply fails it: it passes only by doing what was asked
    unit: str = ""  # what a whole-number value counts


# The kinds of check, in one table. ``shown`` kinds fail on a plain reply; the others (a forbidden word, a
# length limit, a persona, one sentence) pass often by default, so "did it unasked" means little for them.
KIND_TABLE: dict[str, Kind] = {
    "language": Kind(lambda r, v, c: float(in_language(r, v)), str, True),
    "ending": Kind(lambda r, v, c: float(ends_with(r, v)), str, True),
    "forbidden": Kind(lambda r, v, c: float(forbids(r, v)), str, False),
    "max_words": Kind(lambda r, v, c: float(within_words(r, v)), int, False, "words"),
    "persona": Kind(lambda r, v, c: float(persona_consistent(r, v)), str, False),
    "starts_with": Kind(lambda r, v, c: starts_with(r, v), str, True),
    "case": Kind(lambda r, v, c: case_share(r, v), str, True),
    "sentences": Kind(lambda r, v, c: at_most_sentences(r, v), int, False, "sentences"),
    "words_near": Kind(lambda r, v, c: words_near(r, v), int, False, "words"),
    "mentions": Kind(lambda r, v, c: mentions(r, v), str, True),
    "checker": Kind(lambda r, v, c: float(load_checker(v, "checker")(r, c)), str, False),
}
KINDS = tuple(KIND_TABLE)
SHOWN_KINDS = tuple(k for k, kind in KIND_TABLE.items() if kind.shown)


@dataclass(frozen=True)
class Check:
    """One checkable instruction: the text given to the bot, how to score a reply, and an optional probe.

    With a ``character``, the card is what the bot is given (a ``persona`` check's ``value`` is the card's
    name; a ``mentions`` check with a probe asks for one of its facts) and ``instruction`` only describes it.
    With a ``probe``, a measured turn asks it in a branch and scores that answer; without one, the turn's own
    reply is scored.

    >>> Check("format", "End every reply with a question.", "ending", "?").key
    'format/ending=?'
    >>> Check("character", "", "persona", "Mira", Character("Mira")).given
    Character(name='Mira', persona='', scenario='', greeting='', example_dialogue='', user_name='User')
    >>> shout = Check("case", "Write in capitals.", "case", "upper", probe="Any plans?")
    >>> shout.score("NO PLANS, Sir"), shout.passed("NO PLANS, Sir"), shout.passed("no plans")
    (0.8, True, False)
    """

    family: str
    instruction: str
    kind: str  # a key of KIND_TABLE
    value: str | int
    character: Character | None = None
    probe: str | None = None

    @property
    def given(self) -> str | Character:
        """What the bot is told once, at the start: the card if there is one, else the instruction."""
        return self.character if self.character is not None else self.instruction

    @property
    def key(self) -> str:
        """A short name for reports: ``family/kind=value``."""
        return f"{self.family}/{self.kind}={self.value}"

    def score(self, reply: str, conversation: Conversation | None = None) -> float:
        """How far ``reply`` obeys, in [0, 1]; ``conversation`` (ending with the reply) for user checkers."""
        if self.kind not in KIND_TABLE:  # Check is built validated: a bug if reached
            raise ValueError(f"unknown check kind {self.kind!r}")
        return min(1.0, max(0.0, float(KIND_TABLE[self.kind].score(reply, self.value, conversation))))

    def passed(self, reply: str, conversation: Conversation | None = None) -> bool:
        return self.score(reply, conversation) >= PASS_MARK

    def to_dict(self) -> dict[str, Any]:
        """The JSON form :func:`~llm.eval.instructions.load_checks` reads."""
        out: dict[str, Any] = {
            "family": self.family,
            "instruction": self.instruction,
            "kind": self.kind,
            "value": self.value,
        }
        if self.character is not None:
            out["character"] = character_to_dict(self.character)
        if self.probe is not None:
            out["probe"] = self.probe
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
    >>> check_value_problem("case", "title")
    "a case check needs 'upper' or 'lower', got 'title'"
    """
    if kind not in KIND_TABLE:
        return f"unknown kind {kind!r} (known: {', '.join(KINDS)})"
    if KIND_TABLE[kind].value_type is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"a {kind} check needs a whole number of {KIND_TABLE[kind].unit}, got {value!r}"
        return None
    if not isinstance(value, str) or not value.strip():
        return f"a {kind} check needs a non-empty string, got {value!r}"
    if kind == "language" and value.lower() not in LANGUAGES:
        return f"unknown language {value!r} (known: {', '.join(LANGUAGES)})"
    if kind == "case" and value not in ("upper", "lower"):
        return f"a case check needs 'upper' or 'lower', got {value!r}"
    if kind == "checker":
        try:
            load_checker(value, "checker")
        except UserError as e:
            return str(e)
    return None


def checks_from_dict(item: Any, where: str) -> list[Check]:
    """The checks of one JSON item: one check, or with ``facts`` (a card's ``[{"probe", "answer"}, …]``) one
    ``mentions`` check per fact, its probe asking for it.

    >>> card = {"family": "persona", "character": {"name": "Ada"}, "kind": "persona",
    ...         "facts": [{"probe": "Where do you live?", "answer": "Leeds"}]}
    >>> [(c.kind, c.value, c.probe) for c in checks_from_dict(card, "x")]
    [('mentions', 'Leeds', 'Where do you live?')]
    """
    if isinstance(item, dict) and "facts" in item:
        facts = item["facts"]
        if not isinstance(facts, list) or not facts:
            raise RecordError(where, "facts", "expected a non-empty list of {probe, answer}")
        out = []
        for k, fact in enumerate(facts):
            if not isinstance(fact, dict) or set(fact) != {"probe", "answer"}:
                raise RecordError(where, f"facts[{k}]", 'expected {"probe": …, "answer": …}')
            rest = {key: v for key, v in item.items() if key not in ("facts", "kind", "value", "probe")}
            out.append(
                check_from_dict(
                    {**rest, "kind": "mentions", "value": fact["answer"], "probe": fact["probe"]}, where
                )
            )
        return out
    return [check_from_dict(item, where)]


def check_from_dict(item: Any, where: str) -> Check:
    """One check from its JSON form; errors name ``where`` and the field."""
    if not isinstance(item, dict):
        raise RecordError(where, "<item>", f"expected an object, got {type(item).__name__}")
    known = ("family", "instruction", "kind", "value", "character", "probe")
    unknown = sorted(set(item) - set(known))
    if unknown:
        raise RecordError(where, unknown[0], f"unknown field (known: {', '.join(known)}, facts)")
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
    probe = item.get("probe")
    if probe is not None and (not isinstance(probe, str) or not probe.strip()):
        raise RecordError(where, "probe", f"expected a non-empty string, got {probe!r}")
    kind = item["kind"]
    if kind not in KIND_TABLE:
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
    value = value.lower() if kind == "language" else value
    return Check(item["family"], instruction, kind, value, character, probe.strip() if probe else None)


def adherence_by_turn(results: Iterable[tuple[int, bool]]) -> dict[int, float]:
    """Compliance rate at each turn, from (turn, passed) pairs."""
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for turn, ok in results:
        totals[turn][0] += int(ok)
        totals[turn][1] += 1
    return {turn: passed / n for turn, (passed, n) in sorted(totals.items())}
