"""Multi-turn episodes for RL: a conversation is an episode, the policy replies at every turn, and the token
sequence built during the rollout is the one trained on (no re-rendering, no re-tokenising of replies).

An environment is anything with ``reset() -> Conversation`` (the opening: instructions, the first user
turn) and ``step(reply) -> (next user turn or None when done, reward for this reply)``. A 20-line one::

    class Echo:
        \"\"\"Rewards replies that repeat the user's last word; three turns.\"\"\"

        def __init__(self, words):
            self.words, self.turn = words, 0

        def reset(self):
            self.turn = 0
            return Conversation((Message("user", f"say {self.words[0]}"),))

        def step(self, reply):
            reward = float(self.words[self.turn] in reply)
            self.turn += 1
            if self.turn == len(self.words):
                return None, reward
            return f"say {self.words[self.turn]}", reward

:class:`RoleplayEnv` is the role-play one: an instruction given once (a character card, or a checkable
instruction), the user's turns listed, every reply scored by the instruction's check. With :class:`Unasked`
as its check it is a control episode: no instruction, and a reply passes when it does none of what the
instructions ask (rewarding checks alone teaches a model to obey instructions nobody gave). With
``guided=True`` it is a *guided* episode: the policy samples each reply with the instruction attached to every
user turn (GAtt's sampling: :func:`llm.data.gatt.sampling_conversation`), and the tokens trained on are those
of the conversation with the instruction given once. That is how RL finds a behaviour the policy never shows
on its own (a model that obeys only the turn that asks never samples an instruction kept for eight turns).

How the tokens are kept (:func:`run_episodes`): the first prompt is the template's render of the opening with
the generation prompt. Each reply's *generated* token ids are appended as they came (they are the policy's
tokens: the only trained ones), up to and including the end-of-turn token; a reply that runs out of tokens
gets the end-of-turn token appended, untrained. Then the template scaffolding and the next user turn are
appended, untrained: the ids of the render of the conversation with the next user turn, after the position
of the reply's end-of-turn token in the render of the conversation so far (every inference prompt is a
token prefix of its training render: :mod:`llm.data.encode`). A guided episode keeps a second sequence the
same way, the one it samples from (``Episode.sampled_ids``): the same reply ids, its own scaffolding and
user turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch

from llm.data.collate import pad
from llm.data.conversation import Conversation, Message
from llm.data.encode import IGNORE_INDEX, Encoder
from llm.data.gatt import Placement, place_instruction, sampling_conversation
from llm.eval.checks import SHOWN_KINDS, Check
from llm.eval.simulate import NO_NAME, UserSide, UserView, given_to
from llm.inference.cache import PrefixCache, generate
from llm.inference.stops import turn_ends


class Environment(Protocol):
    def reset(self) -> Conversation: ...

    def step(self, reply: str) -> tuple[str | None, float]: ...


def step_all(envs: Sequence[Environment], replies: Sequence[str]) -> list[tuple[str | None, float]]:
    """Step every environment with its reply. Environments of one class that offers a classmethod
    ``step_batch(envs, replies)`` are stepped together (a model playing the user answers them in one call)."""
    kinds = {type(env) for env in envs}
    batched = getattr(next(iter(kinds)), "step_batch", None) if len(kinds) == 1 else None
    if batched is not None:
        return batched(envs, replies)
    return [env.step(reply) for env, reply in zip(envs, replies, strict=True)]


@dataclass(frozen=True)
class Unasked:
    """The check of a control episode: nothing is given, and a reply passes when it shows none of the
    behaviours the ``checks`` ask for (of the kinds a plain reply fails: a language, an ending).

    >>> control = Unasked((Check("format", "End with a question.", "ending", "?"),))
    >>> control.passed("It is red."), control.passed("Is it red?"), control.given
    (True, False, '')
    """

    checks: tuple[Check, ...]
    family: str = "unasked"
    instruction: str = ""
    character: None = None
    given: str = ""

    def __post_init__(self):
        if not any(c.kind in SHOWN_KINDS for c in self.checks):
            raise ValueError(f"a control needs a check of kind {' or '.join(SHOWN_KINDS)}")

    def passed(self, reply: str) -> bool:
        return not any(c.passed(reply) for c in self.checks if c.kind in SHOWN_KINDS)


def exclusive(check: Check, checks: Sequence[Check]) -> tuple[Check, ...]:
    """The other behaviours of ``checks`` that a reply obeying ``check`` must not show: those of the kinds a
    plain reply fails (a language, an ending) other than ``check``'s own. Without them, a policy rewarded for
    French and, elsewhere, for ending with "?" is free to do both whichever it was told.

    >>> french = Check("language", "Always answer in French.", "language", "french")
    >>> question = Check("format", "End with a question.", "ending", "?")
    >>> [c.family for c in exclusive(french, [french, question])], exclusive(question, [question])
    (['format'], ())
    """
    return tuple(
        c for c in checks if c.kind in SHOWN_KINDS and (c.kind, c.value) != (check.kind, check.value)
    )


@dataclass
class RoleplayEnv:
    """A role-play episode as ``llm-train eval roleplay`` simulates one: the check's instruction (a card, or
    a checkable instruction) given once, the user side writing the user's turns (listed turns, held-out
    chats, or a model: :mod:`llm.eval.simulate`), ``turns`` replies, each scored 1.0 when it passes the
    check (and shows none of the ``unasked`` behaviours), else 0.

    >>> from llm.eval.simulate import ListedUserTurns
    >>> env = RoleplayEnv(Check("format", "End with a question.", "ending", "?"), ListedUserTurns([["hi", "so?"]]), 2)
    >>> [m.content for m in env.reset().messages]
    ['End with a question.\\n\\nhi']
    >>> env.step("Hello?"), env.step("Bye.")
    (('so?', 1.0), (None, 0.0))
    >>> env.guided = True; [m.content for m in env.guide().messages]  # what a guided episode samples from
    ['End with a question.\\n\\nhi', 'Hello?', 'End with a question.\\n\\nso?', 'Bye.']
    """

    check: Check | Unasked
    user_side: UserSide
    turns: int
    seat: int = 0
    placement: Placement = "first_user"
    user_name: str = "User"
    guided: bool = False
    unasked: tuple[Check, ...] = ()  # behaviours a passing reply must not show (see ``exclusive``)
    history: list[Message] = field(default_factory=list)

    @property
    def bot_name(self) -> str:
        return self.check.character.name if self.check.character else NO_NAME

    def view(self) -> UserView:
        return UserView(self.seat, tuple(self.history), self.bot_name, self.user_name)

    def reset(self) -> Conversation:
        self.history = []
        self.history = [Message("user", self.user_side([self.view()], 1)[0])]
        if isinstance(self.check, Unasked):
            return Conversation(tuple(self.history))
        given = given_to(self.check, self.user_name)
        return place_instruction(Conversation(tuple(self.history)), given, self.placement)

    def guide(self) -> Conversation | None:
        """The conversation so far as a guided episode samples from it (the instruction attached to every user
        turn), or None when the policy samples from the conversation it is trained on."""
        if not self.guided or isinstance(self.check, Unasked):
            return None
        return sampling_conversation(Conversation(tuple(self.history)), given_to(self.check, self.user_name))

    def _answered(self, reply: str) -> tuple[bool, float]:
        self.history.append(Message("assistant", reply))
        passed = self.check.passed(reply) and not any(other.passed(reply) for other in self.unasked)
        return len(self.history) // 2 >= self.turns, float(passed)

    def step(self, reply: str) -> tuple[str | None, float]:
        return self.step_batch([self], [reply])[0]

    @classmethod
    def step_batch(
        cls, envs: Sequence[RoleplayEnv], replies: Sequence[str]
    ) -> list[tuple[str | None, float]]:
        """Score every reply; then one call per user side for all the conversations that go on."""
        results = [env._answered(reply) for env, reply in zip(envs, replies, strict=True)]
        out: list[tuple[str | None, float]] = [(None, reward) for _, reward in results]
        going = [k for k, (done, _) in enumerate(results) if not done]
        for side in {id(envs[k].user_side): envs[k].user_side for k in going}.values():
            mine = [k for k in going if envs[k].user_side is side]
            turn = len(envs[mine[0]].history) // 2 + 1
            for k, text in zip(mine, side([envs[k].view() for k in mine], turn), strict=True):
                envs[k].history.append(Message("user", text))
                out[k] = (text, results[k][1])
        return out


@dataclass
class Episode:
    """One conversation as the policy lived it: its token ids, which turn wrote each of them (−1: not the
    policy), the conversation before each reply and the reply, each turn's reward and whether the reply
    ended by itself. A guided episode also keeps the ids it sampled from (``sampled_ids``, whose replies are
    the same ids); the trained ids are ``ids``."""

    env: Any
    ids: list[int]
    turn_of: list[int]
    conversation: Conversation
    sampled_ids: list[int] | None = None
    contexts: list[Conversation] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    ended: list[bool] = field(default_factory=list)
    done: bool = False

    @property
    def trained(self) -> list[bool]:
        return [t >= 0 for t in self.turn_of]


def turn_reward(rewards: Sequence[float], how: str) -> float:
    """An episode's reward from its turns': ``mean``, ``min`` or ``last`` (``turn``, where each turn's tokens
    get their own turn's advantage, reports the mean).

    >>> turn_reward([1.0, 0.0, 1.0], "mean"), turn_reward([1.0, 0.0, 1.0], "min"), turn_reward([1.0, 0.0], "last")
    (0.6666666666666666, 0.0, 0.0)
    """
    if how in ("mean", "turn"):
        return sum(rewards) / len(rewards)
    if how == "min":
        return min(rewards)
    if how == "last":
        return rewards[-1]
    raise ValueError(f"unknown turn reward {how!r}: mean, min, last or turn")


def continuation_ids(encoder: Encoder, before: Conversation, after: Conversation) -> list[int]:
    """The ids that follow the last reply of ``before`` (its end-of-turn token included) in the render of
    ``after`` with the generation prompt: the scaffolding and the next user turn."""
    sample = encoder.encode(before)
    end = max(i for i, label in enumerate(sample.labels) if label != IGNORE_INDEX) + 1
    return encoder.encode_prompt(after)[end:]


@torch.no_grad()
def run_episodes(
    model: Any,
    encoder: Encoder,
    envs: Sequence[Environment],
    max_new_tokens: int,
    temperature: float,
    top_p: float = 1.0,
    kv_cache: bool = True,
) -> list[Episode]:
    """Play every environment to its end, all episodes' turn *k* in one batched ``generate``. An environment
    whose ``guide()`` returns a conversation is sampled from that one's render instead (a guided episode).

    With ``kv_cache`` each episode's keys and values are kept from turn to turn (:mod:`llm.inference.cache`):
    a turn runs only the tokens appended since the last (the scaffolding and the next user turn); the ids
    sampled, and so trained on, are built exactly as without it."""
    tokenizer = encoder.tokenizer
    _, end_ids = turn_ends(encoder.template, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_ids[0]
    episodes = []
    for env in envs:
        conv = env.reset()
        ids = encoder.encode_prompt(conv)
        seen = guide_of(env)
        sampled = encoder.encode_prompt(seen) if seen is not None else None
        episodes.append(Episode(env, ids, [-1] * len(ids), conv, sampled))
    cache = PrefixCache() if kv_cache else None  # this rollout's only: the weights change after it
    was_training = model.training
    model.eval()
    try:
        while live := [e for e in episodes if not e.done]:
            prompts = [e.ids if e.sampled_ids is None else e.sampled_ids for e in live]
            out = generate(
                model, prompts, pad_id, cache, max_new_tokens=max_new_tokens,
                do_sample=True, temperature=temperature, top_p=top_p, top_k=0, eos_token_id=end_ids,
            )  # fmt: skip
            replies = []
            for episode, row in zip(live, out.sequences[:, out.width :].tolist(), strict=True):
                turn = len(episode.replies)
                stop = next((k for k, t in enumerate(row) if t in end_ids), None)
                generated = row[: stop + 1] if stop is not None else row
                episode.ids += generated
                episode.turn_of += [turn] * len(generated)
                if stop is None:  # ran out of tokens: close the turn, untrained
                    episode.ids.append(end_ids[0])
                    episode.turn_of.append(-1)
                if episode.sampled_ids is not None:
                    episode.sampled_ids += generated if stop is not None else [*generated, end_ids[0]]
                text = tokenizer.decode([t for t in generated if t not in end_ids], skip_special_tokens=True)
                replies.append(text.strip())
                episode.contexts.append(episode.conversation)
                episode.replies.append(text.strip())
                episode.ended.append(stop is not None)
            stepped = step_all([e.env for e in live], replies)
            for episode, text, key, (next_user, reward) in zip(live, replies, out.keys, stepped, strict=True):
                episode.rewards.append(reward)
                answered = replace(
                    episode.conversation,
                    messages=(*episode.conversation.messages, Message("assistant", text)),
                )
                if next_user is None:
                    episode.conversation, episode.done = answered, True
                    if cache is not None:
                        cache.drop(key)  # its keys and values serve no later turn
                    continue
                asked = replace(answered, messages=(*answered.messages, Message("user", next_user)))
                more = continuation_ids(encoder, answered, asked)
                episode.ids += more
                episode.turn_of += [-1] * len(more)
                episode.conversation = asked
                if episode.sampled_ids is not None:
                    seen = guide_of(episode.env)  # the same turn, the instruction attached to every user turn
                    seen_answered = replace(seen, messages=seen.messages[:-1])
                    episode.sampled_ids += continuation_ids(encoder, seen_answered, seen)
    finally:
        model.train(was_training)
    return episodes


def guide_of(env: Environment) -> Conversation | None:
    """The conversation ``env`` has its next reply sampled from, when not the one trained on (see
    :meth:`RoleplayEnv.guide`; environments without ``guide`` are never guided)."""
    guide = getattr(env, "guide", None)
    return guide() if guide is not None else None


def batch_of(episodes: Sequence[Episode], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(ids [B, T], attention mask [B, T], turn [B, T−1])``, right-padded: ``turn[b, t]`` is the turn whose
    reply holds the token at position ``t + 1`` (the one predicted at ``t``), −1 where it is not the policy's."""
    ids, mask = pad([e.ids for e in episodes], pad_id)
    turn_of, _ = pad([e.turn_of for e in episodes], -1)
    return ids, mask, turn_of[:, 1:]
