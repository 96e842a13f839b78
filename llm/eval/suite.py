"""The bundled persistence suite: instructions with probes and checkers, split by family into train and held-out.

``llm/eval/persistence_suite.json`` holds 66 checks in 10 families, each instruction given once and probed
later by a user question whose answer shows whether it still holds:

- train: ``case`` (capitals, lowercase), ``opening`` (starts with a word), ``mention`` (must mention X),
  ``language`` (identified by py3langid), ``persona`` (facts of three character cards: name, occupation,
  place, a relation);
- held-out: ``length`` (one sentence, N words), ``question`` (ends with a question), ``avoid`` (never say Y),
  ``register`` (pirate, butler, commentator, cowboy), ``memory`` (a secret number, the user's name).

Training code (GAtt synthesis, RL rewards) takes :func:`suite_checks` ``("train")`` only, so that the
held-out families measure whether persistence carries over to instructions never trained on.

>>> train, held_out = suite_families()
>>> train, held_out
(('case', 'opening', 'mention', 'language', 'persona'), ('length', 'question', 'avoid', 'register', 'memory'))
>>> len(suite_checks()), {c.family for c in suite_checks("held_out")} == set(held_out)
(66, True)
>>> all(c.probe for c in suite_checks())
True
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from llm.errors import UserError
from llm.eval.checks import Check, checks_from_dict

BUNDLED_SUITE = Path(__file__).with_name("persistence_suite.json")
Split = Literal["all", "train", "held_out"]
SPLITS = ("all", "train", "held_out")


@lru_cache(maxsize=4)
def _load(path: Path) -> tuple[tuple[str, ...], tuple[str, ...], tuple[Check, ...]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    checks = tuple(
        check for i, item in enumerate(data["checks"]) for check in checks_from_dict(item, f"{path}:item {i}")
    )
    return tuple(data["train"]), tuple(data["held_out"]), checks


def suite_families(path: str | Path = BUNDLED_SUITE) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The suite's (train families, held-out families)."""
    train, held_out, _ = _load(Path(path))
    return train, held_out


def suite_checks(split: Split = "all", path: str | Path = BUNDLED_SUITE) -> list[Check]:
    """The suite's checks of the ``split``: ``all``, ``train`` (the families training may use) or ``held_out``."""
    if split not in SPLITS:
        raise UserError(f"unknown suite split {split!r} (known: {', '.join(SPLITS)})")
    train, held_out, checks = _load(Path(path))
    families = {"all": (*train, *held_out), "train": train, "held_out": held_out}[split]
    return [c for c in checks if c.family in families]
