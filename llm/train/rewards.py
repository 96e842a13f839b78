"""Reward sources for online RL (``ppo``, ``grpo``), several at once with weights.

A source scores a batch of rollouts, each a prompt and its completion (the decoded texts):

- ``module:function`` — your function, full texts (prompt + completion) → floats; a function with a
  ``conversations`` parameter also gets the conversations (:class:`~llm.data.conversation.Conversation`, the
  completion as the last assistant message) where the loop has them (``grpo --env roleplay``);
- ``check:KIND=VALUE`` — a check of :mod:`llm.eval.checks` on the completion alone, 1.0 when it passes, else 0:
  ``check:language=french``, ``check:ending=?``, ``check:forbidden=weather``, ``check:max_words=30``,
  ``check:persona=Mira`` (keeps the name, never "As an AI"), ``check:no_user_turn=You`` (does not write the
  user's turn);
- a reward server URL (ours, or any OpenRLHF-style ``/get_reward``), full texts;
- a local reward model directory, full texts.

``--reward_weights`` weighs them (default 1 each); the metrics report each source's mean. ``--held_out_reward``
sources (the same specs, a reward-model directory or a URL too) are scored on every rollout and logged as
``held_out/NAME`` but never optimised: a second reward model trained on other comparisons shows
over-optimisation as the optimised reward rising while the held-out one falls (Gao et al. 2022).

>>> source = reward_from_spec("check:ending=?")
>>> source.name, source(["Q: tea?"], [" Yes, with honey?"])
('check:ending=?', [1.0])
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from llm.data.conversation import Conversation
from llm.errors import UserError
from llm.eval.checks import (
    check_value_problem,
    ends_with,
    forbids,
    in_language,
    persona_consistent,
    speaks_for_user,
    within_words,
)
from llm.inference.reward_client import RewardClient
from llm.models.reward import load_reward_model, score

HELD_OUT_HELP = (
    "reward sources scored on every rollout but never optimised (a second reward model, a URL, check:KIND=VALUE, "
    "module:function), logged as held_out/NAME and drawn beside the optimised reward against KL"
)

CHECKS: dict[str, Callable[[str, str], bool]] = {
    "language": lambda text, value: in_language(text, value),
    "ending": lambda text, value: ends_with(text, value),
    "forbidden": lambda text, value: forbids(text, value),
    "max_words": lambda text, value: within_words(text, int(value)),
    "persona": lambda text, value: persona_consistent(text, value),
    "no_user_turn": lambda text, value: not speaks_for_user(text, value),
}


@dataclass
class RewardSource:
    """One named source: ``(texts, completions, conversations) → floats``. ``texts`` are the full texts (prompt +
    completion, as the loop renders them), which functions, servers and reward models score; ``completions``
    what a check reads; ``conversations`` (each ending with its completion as the assistant's message) where
    the loop has them (``--env roleplay``), else None."""

    name: str
    score: Callable[[list[str], list[str], list[Conversation] | None], list[float]]

    def __call__(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        conversations: Sequence[Conversation] | None = None,
        texts: Sequence[str] | None = None,
    ) -> list[float]:
        """``texts`` default to prompt + completion; a loop gives its own where they differ (``ppo`` decodes
        each rollout whole, special tokens and EOS kept, as its reward model was trained on, while a check
        reads the completion's words alone)."""
        texts = (
            list(texts) if texts is not None else [p + c for p, c in zip(prompts, completions, strict=True)]
        )
        convs = list(conversations) if conversations is not None else None
        values = [float(x) for x in self.score(texts, list(completions), convs)]
        if len(values) != len(completions):
            raise UserError(f"reward {self.name}: {len(values)} values for {len(completions)} completions")
        return values


def check_reward(kind: str, value: str) -> RewardSource:
    if kind not in CHECKS:
        raise UserError(f"check:{kind}: unknown check (known: {', '.join(CHECKS)})")
    if kind != "no_user_turn":
        problem = check_value_problem(kind, int(value) if kind == "max_words" and value.isdigit() else value)
        if problem:
            raise UserError(f"check:{kind}={value}: {problem}")
    test = CHECKS[kind]
    return RewardSource(
        f"check:{kind}={value}", lambda texts, completions, _: [float(test(c, value)) for c in completions]
    )


def reward_function(spec: str, flag: str = "--reward_fn") -> Callable:
    """The function ``module:function`` names, refused by name unless it is a Python function callable as
    ``fn(texts)`` (or, with a ``conversations`` parameter, ``fn(texts, conversations=...)``): a reward runs
    on every batch, so a module attribute that is something else (``os:system``, a class) is an error now,
    not a surprise later.

    >>> reward_function("os:system")
    Traceback (most recent call last):
    ...
    llm.errors.UserError: --reward_fn os:system: not a Python function (a builtin_function_or_method); give a function texts → floats
    """
    module, _, name = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise UserError(f"{flag} {spec}: cannot import it ({e})") from None
    if not inspect.isfunction(fn):
        raise UserError(
            f"{flag} {spec}: not a Python function (a {type(fn).__name__}); give a function texts → floats"
        )
    signature = inspect.signature(fn)
    try:
        if "conversations" in signature.parameters:
            signature.bind([], conversations=[])
        else:
            signature.bind([])
    except TypeError:
        raise UserError(
            f"{flag} {spec}: takes {signature}, but is called as {name}(texts) or {name}(texts, conversations=...)"
        ) from None
    return fn


def function_reward(spec: str) -> RewardSource:
    fn = reward_function(spec)
    wants_conversations = "conversations" in inspect.signature(fn).parameters

    def call(
        texts: list[str], completions: list[str], conversations: list[Conversation] | None
    ) -> list[float]:
        if not wants_conversations:
            return fn(texts)
        if conversations is None:
            raise UserError(f"--reward_fn {spec} takes conversations: only --env roleplay has them")
        return fn(texts, conversations=conversations)

    return RewardSource(spec, call)


def reward_from_spec(spec: str) -> RewardSource:
    """``check:KIND=VALUE`` or ``module:function``."""
    if spec.startswith("check:"):
        kind, _, value = spec[len("check:") :].partition("=")
        return check_reward(kind, value)
    if ":" not in spec:
        raise UserError(f"--reward_fn {spec!r}: give module:function or check:KIND=VALUE")
    return function_reward(spec)


def url_reward(urls: list[str], token_file: str | None) -> RewardSource:
    token = Path(token_file).read_text().strip() if token_file else None
    client = RewardClient(urls, token=token)
    return RewardSource("url", lambda texts, completions, _: client.score(texts))


def model_reward(path: str, device: str) -> RewardSource:
    model, tokenizer = load_reward_model(path, device=device)
    return RewardSource("reward_model", lambda texts, completions, _: score(model, tokenizer, texts))


def held_out_sources(specs: Sequence[str], device: str) -> list[RewardSource]:
    """``--held_out_reward``: each spec a URL, a reward-model directory, ``check:KIND=VALUE`` or
    ``module:function``, named ``held_out/<spec or directory name>``.

    >>> [s.name for s in held_out_sources(["check:ending=?"], "cpu")]
    ['held_out/check:ending=?']
    """
    sources = []
    for spec in specs:
        if spec.startswith(("http://", "https://")):
            source = url_reward([spec], None)
        elif Path(spec).is_dir():
            source = model_reward(spec, device)
        elif spec.startswith("check:") or ":" in spec:
            source = reward_from_spec(spec)
        else:
            raise UserError(
                f"--held_out_reward {spec!r}: not a reward-model directory, a URL, check:KIND=VALUE or module:function"
            )
        sources.append(replace(source, name=f"held_out/{Path(spec).name if Path(spec).is_dir() else spec}"))
    return sources


@dataclass
class Rewards:
    """Several sources, weighted; ``__call__`` returns the total per rollout and each source's values (the
    ``held_out`` sources' too, which never count in the total)."""

    sources: list[RewardSource]
    weights: list[float]
    held_out: list[RewardSource] = field(default_factory=list)

    def __call__(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        conversations: Sequence[Conversation] | None = None,
        texts: Sequence[str] | None = None,
    ) -> tuple[list[float], dict[str, list[float]]]:
        parts = {s.name: s(prompts, completions, conversations, texts) for s in self.sources}
        total = [
            sum(w * parts[s.name][i] for s, w in zip(self.sources, self.weights, strict=True))
            for i in range(len(completions))
        ]
        parts.update((s.name, s(prompts, completions, conversations, texts)) for s in self.held_out)
        return total, parts


def build_rewards(
    reward_fn: list[str] | None,
    reward_url: list[str] | None,
    reward_token_file: str | None,
    reward_model_path: str | None,
    weights: list[float] | None,
    device: str,
    held_out: Sequence[str] = (),
    optional: bool = False,
) -> Rewards:
    """The reward sources given (at least one unless ``optional``), weighted, and the held-out ones."""
    sources = [reward_from_spec(spec) for spec in reward_fn or []]
    if reward_url:
        sources.append(url_reward(reward_url, reward_token_file))
    if reward_model_path:
        sources.append(model_reward(reward_model_path, device))
    if not sources and not optional:
        raise UserError(
            "give a reward: --reward_fn (module:function or check:KIND=VALUE), --reward_url or --reward_model_path"
        )
    weights = list(weights) if weights else [1.0] * len(sources)
    if len(weights) != len(sources):
        raise UserError(f"--reward_weights: {len(weights)} weights for {len(sources)} reward sources")
    return Rewards(sources, weights, held_out_sources(held_out, device))
