"""An episode source: what an online-RL loop samples each iteration and how it is scored. ``grpo --env NAME``
picks one from :data:`llm.train.online.environments.ENVIRONMENTS`, where each row is a source class and the
small config dataclass it is built from:

- the config's fields take the values of the loop's flags of the same names (``num_generations``,
  ``response_length``, ``turns`` …); a field no flag has takes ``--env_options NAME=VALUE`` or its default
  (:func:`config_of`), and ``validate()``, when the config has one, checks it before any model loads;
- ``Source.build(config, setup)`` makes the source from its config and what the loop has loaded
  (:class:`Setup`: the tokenizer, the reward sources, the generator);
- ``source.rollout(model, encoder, draw, device)`` samples one iteration's share of the batch and returns a
  :class:`Batch`: how to get log-probs of its trained tokens, which tokens are trained, the rewards.
  ``draw(n)`` gives this process's share of a draw in ``range(n)`` that every process makes alike, so N
  processes roll out what one would.

>>> @dataclass
... class Options:
...     turns: int = 4
...     word: str = "hello"
...     loud: bool = False
>>> config_of(Options, Options(turns=2), ["word=bye", "loud=true"])
Options(turns=2, word='bye', loud=True)
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import torch

from llm.data.encode import Encoder
from llm.errors import UserError
from llm.inference.rollout import Generator
from llm.train.rewards import Rewards

Draw = Callable[[int], list[int]]


@dataclass
class Setup:
    """What the loop has loaded when it builds a source."""

    tokenizer: Any
    template_name: str
    rewards: Rewards | None  # None: no source named (allowed when the config says ``rewards_optional``)
    generator: Generator  # single-turn sampling: model.generate, or a vLLM engine (--use_vllm)


@dataclass
class Batch:
    """One iteration's rollouts: how to get log-probs of their trained tokens from a model (all rows, or the
    rows ``idx``), which tokens are trained, and the rewards."""

    forward: Callable[[Any, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]]
    mask: torch.Tensor  # [B, T] trained tokens
    scores: torch.Tensor  # [B]
    parts: dict[str, list[float]]
    has_eos: torch.Tensor  # [B]
    completions: list[str]
    t_generate: float
    max_length: int  # most trained tokens a row can have (Dr. GRPO's constant)
    turn_scores: torch.Tensor | None = None  # [B, K] each turn's reward (--turn_reward turn)
    turn_of: torch.Tensor | None = None  # [B, T] the turn that wrote each token, −1 none (with turn_scores)


class EpisodeSource(Protocol):
    def rollout(self, model: Any, encoder: Encoder, draw: Draw, device: Any) -> Batch: ...

    def describe(self) -> str:
        """What an iteration samples, for the loop's first line (``4-turn role-play episodes``)."""
        ...


def _parse(value: str, kind: Any, name: str) -> Any:
    if kind is bool:
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise UserError(f"--env_options {name}={value}: true or false")
        return value.lower() in ("true", "1", "yes")
    try:
        return kind(value) if kind in (int, float, str) else value
    except ValueError:
        raise UserError(f"--env_options {name}={value}: not a {kind.__name__}") from None


def config_of(config_class: type, args: Any, options: Sequence[str] | None = None) -> Any:
    """A source's config: each field from ``args``' attribute of the same name where it has one, else from
    ``options`` (``NAME=VALUE``, parsed as the field's type), else its default; validated when it can be."""
    hints = typing.get_type_hints(config_class)
    names = {f.name for f in fields(config_class) if f.init}
    values = {name: getattr(args, name) for name in names if hasattr(args, name)}
    for option in options or []:
        name, equals, value = option.partition("=")
        if not equals or name not in names:
            raise UserError(
                f"--env_options {option!r}: give NAME=VALUE, NAME one of {', '.join(sorted(names))}"
            )
        values[name] = _parse(value, hints[name], name)
    config = config_class(**values)
    if hasattr(config, "validate"):
        config.validate()
    return config
