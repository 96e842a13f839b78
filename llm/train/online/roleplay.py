"""``--env roleplay``: multi-turn role-play episodes (:mod:`llm.train.online.episodes`). Each group is one
instruction (a check) and one seat of the user side, played G times; a reply's reward is its check (1 or 0)
plus the weighted reward sources given, if any (each scoring the reply in its conversation so far), or with
``--env_reward gated`` the sources times the check; an episode's is its turns' by ``--turn_reward``.

:func:`episode_batch` turns any played episodes into the loop's :class:`~llm.train.online.source.Batch`: a
multi-turn environment of your own needs only its environments (see ``docs/grpo.md``, "Adding an environment").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch

from llm.data.conversation import Message
from llm.data.encode import Encoder
from llm.errors import UserError
from llm.eval.checks import DEFAULT_CHECKS, SHOWN_KINDS, Check
from llm.eval.instructions import load_checks
from llm.eval.simulate import ListedUserTurns, ModelUserSide, UserSide
from llm.inference.repliers import LocalReplier, Sampling
from llm.models.checkpoint import checkpoint_template
from llm.models.loading import load_for_inference
from llm.models.resolve import resolve_model
from llm.train.online.args import GroupArguments, SamplingArguments
from llm.train.online.episodes import (
    Episode,
    RoleplayEnv,
    Unasked,
    batch_of,
    exclusive,
    run_episodes,
    turn_reward,
)
from llm.train.online.forward import sequence_logprobs
from llm.train.online.source import Batch, Draw, Setup
from llm.train.rewards import Rewards


@dataclass
class RoleplayArguments:
    """The flags of ``--env roleplay``."""

    env_checks: str | None = field(
        default=None,
        metadata={"help": "roleplay: checks file or instruction pool (default: the bundled checks)"},
    )
    env_user_turns: list[str] | None = field(
        default=None,
        metadata={"help": "roleplay: chat files whose user turns the user says (default: bundled)"},
    )
    env_user_model: str | None = field(
        default=None,
        metadata={"help": "roleplay: a checkpoint that plays the user (after a listed first turn)"},
    )
    env_user_template: str | None = field(
        default=None, metadata={"help": "roleplay: chat template of --env_user_model (default: its own)"}
    )
    turns: int = field(default=4, metadata={"help": "roleplay: policy turns per episode"})
    turn_reward: Literal["mean", "min", "last", "turn"] = field(
        default="mean",
        metadata={
            "help": "roleplay: an episode's reward from its turns' (mean, min, last), or turn: each turn's tokens "
            "get that turn's advantage, its reward against the group's at the same turn"
        },
    )
    env_placement: Literal["system", "first_user"] = field(
        default="first_user", metadata={"help": "roleplay: where the instruction is given, once"}
    )
    env_controls: float = field(
        default=0.0,
        metadata={
            "help": "roleplay: share of groups given no instruction, each reply rewarded when it does none of "
            "what the instructions ask (language, ending): without them RL can win by always obeying"
        },
    )
    env_guided: int = field(
        default=0,
        metadata={
            "help": "roleplay: episodes per group (of --num_generations) sampled with the instruction attached to "
            "every user turn (GAtt's sampling) and trained as if given once: how RL finds an instruction kept "
            "for many turns when the policy never samples one; the rest of the group is the on-policy baseline"
        },
    )
    env_exclusive: bool = field(
        default=False,
        metadata={
            "help": "roleplay: a reply passes its check only when it also shows none of the other checks' "
            "behaviours (languages, endings): told to answer in French, a French reply ending in '?' fails"
        },
    )
    env_reward: Literal["sum", "gated"] = field(
        default="sum",
        metadata={
            "help": "roleplay: a reply's reward is its check plus the reward sources (sum), or the sources only "
            "when it passes its check, else 0 (gated: obeying with a bad reply earns nothing, and neither "
            "does a good reply that ignores the instruction)"
        },
    )


@dataclass
class RoleplayConfig(SamplingArguments, GroupArguments, RoleplayArguments):
    """The role-play flags, the sampling and the groups; ``user_name``, the user's name (default User)."""

    user_name: str | None = None
    rewards_optional = True  # the checks are a reward of their own

    def validate(self) -> None:
        if not 0.0 <= self.env_controls < 1.0:
            raise UserError(f"--env_controls {self.env_controls}: a share in [0, 1)")
        if self.env_user_turns and self.env_user_model:
            raise UserError(
                "give --env_user_turns (listed) or --env_user_model (a model plays the user), not both"
            )
        if self.turns < 1:
            raise UserError(f"--turns {self.turns}: must be 1 or more")
        if self.turn_reward not in ("mean", "min", "last", "turn"):
            raise UserError(f"--turn_reward {self.turn_reward!r}: choose mean, min, last or turn")
        if not 0 <= self.env_guided < self.num_generations:
            raise UserError(
                f"--env_guided {self.env_guided}: between 0 and --num_generations − 1 "
                f"({self.num_generations - 1}); a group needs on-policy episodes to be the guided ones' baseline"
            )
        if self.env_reward not in ("sum", "gated"):
            raise UserError(f"--env_reward {self.env_reward!r}: choose sum or gated")


def roleplay_user_side(config: RoleplayConfig, seats: int = 16) -> tuple[UserSide, int]:
    """Who says the user's turns in ``--env roleplay`` episodes, and how many seats (distinct users) it has:
    listed turns of held-out chats, the bundled list, or a model (its first turn listed)."""
    if config.env_user_turns:
        listed = ListedUserTurns.from_chats(config.env_user_turns, seats, config.turns)
    else:
        listed = ListedUserTurns.bundled(seats)
    if not config.env_user_model:
        return listed, len(listed.lists)
    user_dir = resolve_model(config.env_user_model, "--env_user_model")
    user_template = checkpoint_template(user_dir, config.env_user_template, flag="--env_user_template")
    model, tokenizer = load_for_inference(user_dir, flag="--env_user_model")
    sampling = Sampling(config.response_length, config.temperature, config.top_p)
    replier = LocalReplier(
        model, Encoder(tokenizer, user_template), sampling, batch_size=config.rollout_batch_size
    )
    return ModelUserSide(replier, first_turns=listed), len(listed.lists)


def episode_batch(
    episodes: Sequence[Episode], per_turn: list[list[float]], parts: dict[str, list[float]], config: Any,
    pad_id: int, device: Any, t_generate: float,
) -> Batch:  # fmt: skip
    """Played episodes as the loop's batch: their own token ids trained where the policy wrote them (a reply
    that never ended left out with ``mask_truncated_completions``), each episode's reward its turns'
    (``per_turn``) by ``turn_reward`` (``config``: a :class:`RoleplayConfig`, or any config with
    ``temperature``, ``turns``, ``response_length``, ``turn_reward`` and ``mask_truncated_completions``)."""
    ids, attention, turn_of = batch_of(episodes, pad_id)
    mask = (turn_of >= 0).float()
    if config.mask_truncated_completions:  # a reply that never ended carries no loss
        for b, e in enumerate(episodes):
            for k, ended in enumerate(e.ended):
                if not ended:
                    mask[b][turn_of[b] == k] = 0.0
    ids, attention, mask = ids.to(device), attention.to(device), mask.to(device)
    scores = torch.tensor([turn_reward(r, config.turn_reward) for r in per_turn], device=device)

    def forward(m, idx):
        rows = slice(None) if idx is None else idx
        return sequence_logprobs(m, ids[rows], attention[rows], config.temperature)

    has_eos = torch.tensor([all(e.ended) for e in episodes])
    completions = [" │ ".join(e.replies) for e in episodes]
    turn_scores = None
    if config.turn_reward == "turn":
        if len({len(r) for r in per_turn}) != 1:
            raise UserError("--turn_reward turn: every episode must play the same number of turns")
        turn_scores = torch.tensor(per_turn, device=device)
    return Batch(
        forward, mask, scores, parts, has_eos, completions, t_generate, config.turns * config.response_length,
        turn_scores, turn_of.to(device),
    )  # fmt: skip


_COIN = 1 << 20  # draw(_COIN) / _COIN: a uniform draw in [0, 1) from the shared generator


class RoleplayEpisodes:
    """``--env roleplay``: each group is one instruction (a check) and one seat of the user side, played G
    times. A reply's reward is its check (1 or 0) plus the weighted reward sources given, if any (each
    scoring the reply in its conversation so far), or with ``--env_reward gated`` the sources times the check;
    an episode's is its turns' by ``--turn_reward``."""

    def __init__(self, config: RoleplayConfig, user_side: UserSide, seats: int, rewards: Rewards | None):
        self.args, self.user_side, self.seats, self.rewards = config, user_side, seats, rewards
        self.last_episodes: list[Episode] = []
        self.checks = load_checks(config.env_checks) if config.env_checks else list(DEFAULT_CHECKS)
        self.control: Unasked | None = None
        if config.env_controls > 0:
            if not any(c.kind in SHOWN_KINDS for c in self.checks):
                raise UserError(
                    f"--env_controls: no check in {config.env_checks or 'the bundled checks'} is of a kind a plain "
                    f"reply fails ({', '.join(SHOWN_KINDS)}), so a control episode would have nothing to refuse"
                )
            self.control = Unasked(tuple(self.checks))

    @classmethod
    def build(cls, config: RoleplayConfig, setup: Setup) -> RoleplayEpisodes:
        return cls(config, *roleplay_user_side(config), setup.rewards)

    def describe(self) -> str:
        return f"{self.args.turns}-turn role-play episodes"

    @property
    def families(self) -> list[str]:
        """Every instruction family an episode can have (the controls' too), drawn this iteration or not."""
        controls = [self.control.family] if self.control else []
        return list(dict.fromkeys([c.family for c in self.checks] + controls))

    def environments(self, draw: Callable[[int], list[int]]) -> list[RoleplayEnv]:
        """One group per drawn instruction, each with a drawn seat of the user side; a drawn share of the groups
        (``--env_controls``) are controls instead. The first ``--env_guided`` episodes of a group are guided
        (controls have nothing to be guided by)."""
        args, envs = self.args, []
        coins = draw(_COIN)  # drawn even without controls: the same seats and checks whatever the share
        for c, seat, coin in zip(draw(len(self.checks)), draw(self.seats), coins, strict=True):
            check = self.control if self.control and coin < args.env_controls * _COIN else self.checks[c]
            unasked = exclusive(check, self.checks) if args.env_exclusive and isinstance(check, Check) else ()
            play = (check, self.user_side, args.turns, seat, args.env_placement, args.user_name or "User")
            envs += [
                RoleplayEnv(*play, guided=g < args.env_guided, unasked=unasked)
                for g in range(args.num_generations)
            ]
        return envs

    def rollout(self, model: Any, encoder: Encoder, draw: Draw, device: Any) -> Batch:
        args = self.args
        t0 = time.perf_counter()
        episodes = run_episodes(
            model, encoder, self.environments(draw), args.response_length, args.temperature, args.top_p
        )
        t_generate = time.perf_counter() - t0
        self.last_episodes = episodes  # for a look at them (tests, debugging)
        per_turn = [list(e.rewards) for e in episodes]  # the checks
        parts = {f"check/turn_{k + 1}": [e.rewards[k] for e in episodes] for k in range(args.turns)}
        # Each instruction's mean over turns. Every family is listed, drawn or not, so that all processes
        # present the same metrics to the one reduce call; one nobody drew is left out of the log.
        for family in self.families:
            parts[f"check/{family}"] = [
                r for e in episodes if e.env.check.family == family for r in e.rewards
            ]
        if args.env_guided:  # the guided episodes' checks, and the others' (the policy on its own)
            given = [e for e in episodes if not isinstance(e.env.check, Unasked)]
            parts["check/guided"] = [r for e in given if e.sampled_ids is not None for r in e.rewards]
            parts["check/on_policy"] = [r for e in given if e.sampled_ids is None for r in e.rewards]
        if self.rewards is not None:  # every reply of every episode in one call per source
            where = [(b, k) for b, e in enumerate(episodes) for k in range(len(e.replies))]
            contexts = [episodes[b].contexts[k] for b, k in where]
            replies = [episodes[b].replies[k] for b, k in where]
            prompts = [encoder.tokenizer.decode(encoder.encode_prompt(c)) for c in contexts]
            said = [replace(c, messages=(*c.messages, Message("assistant", r))) for c, r in zip(contexts, replies, strict=True)]  # fmt: skip
            total, by_source = self.rewards(prompts, replies, said)
            gated = args.env_reward == "gated"
            for (b, k), value in zip(where, total, strict=True):
                per_turn[b][k] = per_turn[b][k] * value if gated else per_turn[b][k] + value
            parts.update(by_source)
        pad_id = encoder.tokenizer.pad_token_id if encoder.tokenizer.pad_token_id is not None else 0
        return episode_batch(episodes, per_turn, parts, args, pad_id, device, t_generate)
