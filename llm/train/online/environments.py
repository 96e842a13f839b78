"""The episode sources ``grpo --env`` can name: one row each, ``name: (source class, its config class)``
(:mod:`llm.train.online.source` says what a source and its config do). A new environment is one file with
its config and source, and one row here.

>>> sorted(ENVIRONMENTS)
['none', 'roleplay', 'single_turn']
"""

from __future__ import annotations

from llm.train.online.roleplay import RoleplayConfig, RoleplayEpisodes
from llm.train.online.single_turn import SingleTurn, SingleTurnConfig

ENVIRONMENTS: dict[str, tuple[type, type]] = {
    "single_turn": (SingleTurn, SingleTurnConfig),
    "none": (SingleTurn, SingleTurnConfig),  # the first name of single_turn, kept for old recipes
    "roleplay": (RoleplayEpisodes, RoleplayConfig),
}
