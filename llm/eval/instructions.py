"""Instruction pools — what Ghost Attention samples from — and files of checks.

A pool holds constraint families, randomly combined, half shortened.

Llama 2 (§3.3) builds its GAtt instructions from families — hobbies, a language, a public figure —
combines them at random, and shortens half of them ("Always act as Napoleon from now" → "Figure:
Napoleon") so the model learns both phrasings. A pool is a JSON object mapping each family to its
instructions; an instruction is a string or ``{"text", "short"?, "check"?}``, where ``check``
(``{"kind", "value"}``, see :class:`llm.eval.checks.Check`) says how a program can tell whether a
reply obeys it. The bundled pool is ``llm/eval/instruction_pool.json``. The pool's checkable
instructions double as evaluation checks (:func:`checks_from_pool`, :func:`load_checks`).

>>> import random
>>> pool = {"hobby": [Instruction("hobby", "You love chess.", "Hobby: chess")],
...         "language": [Instruction("language", "Always answer in French.", "Language: French")]}
>>> drawn = draw(pool, random.Random(0), max_combine=2, shorten=1.0)
>>> drawn.text.splitlines(), drawn.families, drawn.shortened
(['Language: French', 'Hobby: chess'], ('language', 'hobby'), True)
>>> draw(pool, random.Random(0), max_combine=1, shorten=0.0).text
'Always answer in French.'
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm.errors import UserError
from llm.eval.checks import KINDS, Check, check_value_problem, checks_from_dict

BUNDLED_POOL = Path(__file__).with_name("instruction_pool.json")


@dataclass(frozen=True)
class Instruction:
    """One instruction of a family, with its short form and, when a program can check it, how."""

    family: str
    text: str
    short: str | None = None
    check_kind: str | None = None
    check_value: str | int | None = None

    def check(self) -> Check | None:
        """The check of this instruction, in its long form; None when a program cannot check it."""
        if self.check_kind is None or self.check_value is None:
            return None
        return Check(self.family, self.text, self.check_kind, self.check_value)


@dataclass(frozen=True)
class Drawn:
    """A drawn (possibly combined) instruction: the text the model sees, and what it was made of."""

    text: str
    families: tuple[str, ...]
    shortened: bool
    parts: tuple[Instruction, ...] = ()


Pool = dict[str, list[Instruction]]


def load_pool(path: str | Path | None = None) -> Pool:
    """A pool from a JSON file (default: the bundled one); errors name the file, family, item and field."""
    path = Path(path) if path else BUNDLED_POOL
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such instruction pool file") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: malformed JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if not isinstance(data, dict) or not data:
        raise UserError(f"{path}: expected a JSON object mapping family names to lists of instructions")
    return {family: _family(path, family, items) for family, items in data.items()}


def _family(path: Path, family: str, items: Any) -> list[Instruction]:
    if not isinstance(items, list) or not items:
        raise UserError(f"{path}: family {family!r}: expected a non-empty list of instructions")
    return [_instruction(f"{path}: {family}[{i}]", family, item) for i, item in enumerate(items)]


def _instruction(where: str, family: str, item: Any) -> Instruction:
    if isinstance(item, str):
        item = {"text": item}
    if not isinstance(item, dict):
        raise UserError(f"{where}: expected a string or an object, got {type(item).__name__}")
    unknown = sorted(set(item) - {"text", "short", "check"})
    if unknown:
        raise UserError(f"{where}: field {unknown[0]!r}: unknown (known: check, short, text)")
    for key in ("text", "short"):
        value = item.get(key)
        if (key == "text" or value is not None) and (not isinstance(value, str) or not value.strip()):
            raise UserError(f"{where}: field {key!r}: expected a non-empty string")
    kind = value = None
    if item.get("check") is not None:
        check = item["check"]
        if not isinstance(check, dict) or check.get("kind") not in KINDS or "value" not in check:
            raise UserError(
                f'{where}: field \'check\': expected {{"kind": one of {", ".join(KINDS)}, "value": …}}'
            )
        kind, value = check["kind"], check["value"]
        problem = check_value_problem(kind, value)
        if problem:
            raise UserError(f"{where}: field 'check.value': {problem}")
        value = value.lower() if kind == "language" else value
    return Instruction(family, item["text"].strip(), (item.get("short") or "").strip() or None, kind, value)


def draw(pool: Pool, rng: random.Random, max_combine: int = 2, shorten: float = 0.5) -> Drawn:
    """One instruction: 1 to ``max_combine`` families, one instruction each; with probability ``shorten``
    every part that has a short form uses it (short parts go one per line, long ones in one paragraph)."""
    if max_combine < 1:
        raise UserError(f"max_combine {max_combine}: must be 1 or more")
    if not 0.0 <= shorten <= 1.0:
        raise UserError(f"shorten {shorten}: must be a probability in [0, 1]")
    families = sorted(pool)
    k = rng.randint(1, min(max_combine, len(families)))
    parts = tuple(rng.choice(pool[f]) for f in rng.sample(families, k))
    short = rng.random() < shorten and any(p.short for p in parts)
    text = "\n".join(p.short or p.text for p in parts) if short else " ".join(p.text for p in parts)
    return Drawn(text, tuple(p.family for p in parts), short, parts)


def load_checks(path: str | Path) -> list[Check]:
    """Checks from a JSON file: a list of ``{"family", "instruction", "kind", "value", "character"?, "probe"?}``.

    ``character`` holds card fields (``name``, ``persona``, ``scenario`` …); with one, ``instruction`` may
    be left out and a ``persona`` check's ``value`` defaults to the card's name; ``facts`` (a list of
    ``{"probe", "answer"}``) makes one probed ``mentions`` check per fact. ``"kind": "checker"`` with
    ``"value": "module:function"`` scores with your own function ``(text, conversation) → float``. Errors name the file, the
    item and the field: ``checks.json:item 2: field 'kind': unknown kind 'rhyme' (known: …)``.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such checks file") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: malformed JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if isinstance(data, dict) and data:  # a GAtt instruction pool: its instructions that carry a check
        return checks_from_pool(path)
    if not isinstance(data, list) or not data:
        got = f"a list of {len(data)}" if isinstance(data, list) else type(data).__name__
        raise UserError(f"{path}: expected a non-empty list of checks, got {got}")
    return [check for i, item in enumerate(data) for check in checks_from_dict(item, f"{path}:item {i}")]


def checks_from_pool(path: str | Path | None = None) -> list[Check]:
    """The checkable instructions of a GAtt instruction pool (default: the bundled one), in their long form,
    so a model is evaluated on the instructions ``gatt-synthesize`` trained it with.

    >>> sorted({c.kind for c in checks_from_pool()})
    ['ending', 'forbidden', 'language', 'max_words']
    """
    checks = [c for items in load_pool(path).values() for c in (i.check() for i in items) if c is not None]
    if not checks:
        raise UserError(f"{path}: an instruction pool with no checkable instruction (no 'check' fields)")
    return checks
