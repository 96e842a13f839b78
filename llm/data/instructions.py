"""The instruction pool Ghost Attention samples from: constraint families, randomly combined, half shortened.

Llama 2 (§3.3) builds its GAtt instructions from families — hobbies, a language, a public figure —
combines them at random, and shortens half of them ("Always act as Napoleon from now" → "Figure:
Napoleon") so the model learns both phrasings. A pool is a JSON object mapping each family to its
instructions; an instruction is a string or ``{"text", "short"?, "check"?}``, where ``check``
(``{"kind", "value"}``, see :class:`llm.eval.roleplay.Check`) says how a program can tell whether a
reply obeys it. The bundled pool is ``llm/data/instruction_pool.json``.

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

BUNDLED_POOL = Path(__file__).with_name("instruction_pool.json")
CHECK_KINDS = ("language", "ending", "forbidden", "max_words", "persona")


@dataclass(frozen=True)
class Instruction:
    """One instruction of a family, with its short form and, when a program can check it, how."""

    family: str
    text: str
    short: str | None = None
    check_kind: str | None = None
    check_value: str | int | None = None


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
        raise ValueError(f"{path}: malformed JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected a JSON object mapping family names to lists of instructions")
    return {family: _family(path, family, items) for family, items in data.items()}


def _family(path: Path, family: str, items: Any) -> list[Instruction]:
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: family {family!r}: expected a non-empty list of instructions")
    return [_instruction(f"{path}: {family}[{i}]", family, item) for i, item in enumerate(items)]


def _instruction(where: str, family: str, item: Any) -> Instruction:
    if isinstance(item, str):
        item = {"text": item}
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a string or an object, got {type(item).__name__}")
    unknown = sorted(set(item) - {"text", "short", "check"})
    if unknown:
        raise ValueError(f"{where}: field {unknown[0]!r}: unknown (known: check, short, text)")
    for key in ("text", "short"):
        value = item.get(key)
        if (key == "text" or value is not None) and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"{where}: field {key!r}: expected a non-empty string")
    kind = value = None
    if item.get("check") is not None:
        check = item["check"]
        if not isinstance(check, dict) or check.get("kind") not in CHECK_KINDS or "value" not in check:
            raise ValueError(
                f'{where}: field \'check\': expected {{"kind": one of {", ".join(CHECK_KINDS)}, "value": …}}'
            )
        kind, value = check["kind"], check["value"]
        from llm.eval.roleplay import check_value_problem  # the checks the evaluation will run

        problem = check_value_problem(kind, value)
        if problem:
            raise ValueError(f"{where}: field 'check.value': {problem}")
        value = value.lower() if kind == "language" else value
    return Instruction(family, item["text"].strip(), (item.get("short") or "").strip() or None, kind, value)


def draw(pool: Pool, rng: random.Random, max_combine: int = 2, shorten: float = 0.5) -> Drawn:
    """One instruction: 1 to ``max_combine`` families, one instruction each; with probability ``shorten``
    every part that has a short form uses it (short parts go one per line, long ones in one paragraph)."""
    if max_combine < 1:
        raise ValueError(f"max_combine {max_combine}: must be 1 or more")
    if not 0.0 <= shorten <= 1.0:
        raise ValueError(f"shorten {shorten}: must be a probability in [0, 1]")
    families = sorted(pool)
    k = rng.randint(1, min(max_combine, len(families)))
    parts = tuple(rng.choice(pool[f]) for f in rng.sample(families, k))
    short = rng.random() < shorten and any(p.short for p in parts)
    text = "\n".join(p.short or p.text for p in parts) if short else " ".join(p.text for p in parts)
    return Drawn(text, tuple(p.family for p in parts), short, parts)
