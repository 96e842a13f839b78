"""Simulated role-play conversations: an instruction given once, then many turns, every turn batched.

The role-play evaluation (``llm-train eval roleplay``) measures whether a chatbot still obeys an instruction
given once at the start — a character card, a language, a style — many turns later. :func:`simulate` runs
``conversations_per_check`` conversations for every :class:`~llm.eval.checks.Check`::

    turn 0    the check's instruction, once (system slot, or before the first user turn)
    turn t    user side writes u_t for every conversation  →  ONE replier call answers all of them: a_t
              at a measured turn, checks with a probe also ask it in a branch (history before u_t, then the
              probe): ONE more replier call answers every conversation's probe; the branch is not kept

The probe's answer at turn t is what the turn's t-th reply would have been, had the user asked the probe;
the conversation goes on from u_t and a_t exactly as it would without probing. A *control* run
(``control=True``) is the same conversations with no instruction at all, scored by the same checkers.

A *user side* writes the user's messages. It sees a :class:`UserView` of each conversation — the turns so
far, the names, a seat number — and never the secret instruction:

- :class:`ListedUserTurns`: fixed lists of user turns, one per seat, from a held-out chat data file (user
  turns of record ``seat``, then of the records after it) or from the bundled ``user_turns.txt``. Seat
  ``k`` of every check gets the same list, so families are compared on the same user turns.
- :class:`ModelUserSide`: a second model plays the user, on the conversation with the roles swapped; with
  a ``card`` it plays that character (self-chat: the same replier plays both sides, each with its own card).
- :class:`ReplayedUserTurns`: the user turns of earlier transcripts, conversation by conversation, so that
  several models are compared on the same user turns even when a model wrote them.

>>> from llm.inference.repliers import Reply
>>> from llm.eval.checks import PASS_MARK, Check
>>> parrot = lambda convs: [Reply(c.messages[-1].content.upper()) for c in convs]
>>> check = Check("format", "Shout.", "ending", "!")
>>> [t.replies[-1].text for t in simulate(parrot, [check], ListedUserTurns([["hi", "bye!"]]), 1, 2)]
['BYE!']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from llm.data.conversation import (
    Character,
    Conversation,
    Message,
    fill_placeholders,
    resolve_placeholders,
)
from llm.data.gatt import Placement, place_instruction
from llm.data.sources import detect_source, get_source
from llm.data.sources.files import iter_records, resolve_files
from llm.errors import RecordError, UserError
from llm.eval.checks import PASS_MARK, Check
from llm.inference.repliers import Replier, Reply

BUNDLED_USER_TURNS = Path(__file__).with_name("user_turns.txt")
NO_NAME = "Assistant"  # what the user calls a bot that was given no name
# Who the model plays on the user's side in self-chat, unless a card is given (``--user_card``).
SELF_CHAT_USER = Character(
    "Sam",
    persona="Sam is a friendly, curious traveller who likes to chat: asks questions, answers them, and tells "
    "short stories about the day. Sam writes one short message at a time.",
    scenario="Sam is chatting with {{user}}.",
)


@dataclass(frozen=True)
class UserView:
    """What the user side sees of one running conversation: never the instruction the bot was given."""

    seat: int  # which of the check's conversations this is (0 … conversations_per_check - 1)
    history: tuple[Message, ...]  # the user and assistant turns so far
    bot_name: str
    user_name: str
    index: int = 0  # the conversation's position among all simulated conversations


class UserSide(Protocol):
    def __call__(self, views: Sequence[UserView], turn: int) -> list[str]:
        """The user's message at ``turn`` (1-based) of each conversation, in order."""
        ...


@dataclass
class Transcript:
    """One simulated conversation: the check, what the user said, what the bot replied, and the whole
    conversation as the bot saw it at the end (the instruction once, then every turn)."""

    check: Check
    seat: int
    user_name: str
    user_turns: list[str]
    replies: list[Reply]
    conversation: Conversation
    probes: dict[int, Reply] = field(default_factory=dict)  # measured turn → the probe's answer
    control: bool = False  # given no instruction: the control run

    def measured(self, turn: int) -> tuple[str, Conversation]:
        """What is scored at ``turn``: the probe's answer where one was asked, else the turn's reply; and the
        conversation that ends with it (the branch for a probe)."""
        history = _history(self.user_turns[: turn - 1], self.replies[: turn - 1])
        if turn in self.probes:
            reply, said = self.probes[turn], self.check.probe or ""
        else:
            reply, said = self.replies[turn - 1], self.user_turns[turn - 1]
        messages = (*history, Message("user", said), Message("assistant", reply.text))
        return reply.text, Conversation(messages, self.conversation.character)

    @property
    def bot_name(self) -> str | None:
        """The name the bot was given: the card's, or a text persona check's; None when it has none."""
        if self.check.character is not None:
            return self.check.character.name
        return str(self.check.value) if self.check.kind == "persona" else None

    def to_dict(self) -> dict[str, Any]:
        turns = []
        for t, (u, r) in enumerate(zip(self.user_turns, self.replies, strict=True), start=1):
            row = {
                "turn": t,
                "user": u,
                "reply": r.text,
                "finished": r.finished,
                "dropped_turns": r.dropped_turns,
                "wrote_user_turn": r.wrote_user_turn,
            }
            if t in self.probes:
                row["probe_reply"] = self.probes[t].text
            text, conv = self.measured(t)
            row["score"] = round(self.check.score(text, conv), 4)
            row["passed"] = row["score"] >= PASS_MARK
            turns.append(row)
        return {
            **self.check.to_dict(),
            "key": self.check.key,
            "seat": self.seat,
            "control": self.control,
            "user_name": self.user_name,
            "turns": turns,
            "conversation": self.conversation.to_dict(),
        }


# ── user sides ───────────────────────────────────────────────────────────────────────────────────────


class ListedUserTurns:
    """Fixed user turns: seat ``k`` says ``lists[k % len(lists)]`` in order, starting again when it runs out.

    ``{{char}}`` and ``{{user}}`` (and their malformed variants) are filled with the conversation's bot
    and user names when a turn is said.
    """

    def __init__(self, lists: Sequence[Sequence[str]]):
        lists = [[t for t in turns if t.strip()] for turns in lists]
        if not lists or not all(lists):
            raise UserError("ListedUserTurns needs at least one non-empty list of user turns for every seat")
        self.lists = lists

    def __call__(self, views: Sequence[UserView], turn: int) -> list[str]:
        out = []
        for v in views:
            turns = self.lists[v.seat % len(self.lists)]
            out.append(fill_placeholders(turns[(turn - 1) % len(turns)], v.bot_name, v.user_name))
        return out

    @classmethod
    def from_lines(cls, lines: Sequence[str], seats: int) -> ListedUserTurns:
        """One list per seat: the lines rotated so that the seats start evenly spread over them."""
        lines = [line.strip() for line in lines if line.strip()]
        if not lines:
            raise UserError("no user turns: the list is empty")
        starts = [(k * len(lines)) // max(seats, 1) for k in range(max(seats, 1))]
        return cls([lines[s:] + lines[:s] for s in starts])

    @classmethod
    def bundled(cls, seats: int) -> ListedUserTurns:
        """The ~60 generic small-talk and role-play messages of ``llm/eval/user_turns.txt``."""
        return cls.from_lines(BUNDLED_USER_TURNS.read_text(encoding="utf-8").splitlines(), seats)

    @classmethod
    def from_chats(
        cls, patterns: Sequence[str], seats: int, turns: int, source: str | None = None
    ) -> ListedUserTurns:
        """Held-out user turns from chat data files (any chat source; JSON Lines, JSON or parquet).

        Seat ``k`` says the user turns of record ``k`` in order, then those of record ``k+1``, and so on
        (wrapping around the file) until it has ``turns`` of them. Placeholders stay until a turn is said.
        """
        named = get_source(source) if source else None
        if named is not None and named.kind != "chat":
            raise UserError(f"user turns come from chats; {named.name} is a {named.kind} source")
        records: list[list[str]] = []
        for path in resolve_files(list(patterns), flag="--user_turns"):
            for record_id, record in iter_records(path):
                if isinstance(record, RecordError):
                    raise record
                chosen = named or detect_source(record, record_id)
                if chosen.kind != "chat":
                    raise UserError(f"{record_id}: a {chosen.name} record, not a chat")
                conv = chosen.convert(record, record_id)
                records.append(
                    [m.content.strip() for m in conv.messages if m.role == "user" and m.content.strip()]
                )
        if not any(records):
            raise UserError(f"{', '.join(patterns)}: no user turns in these chats")
        lists = []
        for k in range(max(seats, 1)):
            said: list[str] = []
            r = k % len(records)
            while len(said) < turns:
                said.extend(records[r])
                r = (r + 1) % len(records)
            lists.append(said[:turns])
        return cls(lists)


class ReplayedUserTurns:
    """The user turns of earlier transcripts, said again: conversation ``view.index`` says what conversation
    ``index`` of ``transcripts`` said (so every model of a comparison hears the same user turns)."""

    def __init__(self, transcripts: Sequence[Transcript]):
        self.turns = [t.user_turns for t in transcripts]

    def __call__(self, views: Sequence[UserView], turn: int) -> list[str]:
        return [self.turns[v.index][turn - 1] for v in views]


class ModelUserSide:
    """A second model plays the user: it never sees the bot's instruction.

    It is prompted with the conversation with the roles swapped (its own earlier messages are the
    assistant's, the bot's replies are the user's) under a short system prompt naming who is who, or, with a
    ``card``, as that character (the card's user is the bot). The first turn, and any turn it leaves empty,
    come from ``first_turns`` (default: the bundled list); ``fallbacks`` counts the empty ones.

    >>> side = ModelUserSide(lambda convs: [], card=Character("Tam", persona="A curious sailor."))
    >>> view = UserView(0, (Message("user", "Hi"), Message("assistant", "Hello, I am Mira.")), "Mira", "Tam")
    >>> prompt = side.prompt(view)
    >>> [m.role for m in prompt.messages], prompt.character.name, prompt.character.user_name
    (['assistant', 'user'], 'Tam', 'Mira')
    """

    SYSTEM = "You are {user}, talking with {bot}; write {user}'s next message."

    def __init__(
        self, replier: Replier, first_turns: ListedUserTurns | None = None, card: Character | None = None
    ):
        self.replier = replier
        self.first_turns = first_turns or ListedUserTurns.bundled(seats=16)
        self.card = card
        self.fallbacks = 0

    def prompt(self, view: UserView) -> Conversation:
        swapped = {"user": "assistant", "assistant": "user"}
        messages = [replace(m, role=swapped[m.role]) for m in view.history if m.role in swapped]
        if self.card is not None:  # self-chat: the user side plays its own character opposite the bot
            card = replace(self.card, user_name=view.bot_name)
            card = resolve_placeholders(Conversation((), card)).character or card
            return Conversation(tuple(messages), card)
        system = Message("system", self.SYSTEM.format(user=view.user_name, bot=view.bot_name))
        return Conversation((system, *messages))

    def __call__(self, views: Sequence[UserView], turn: int) -> list[str]:
        listed = self.first_turns(views, turn)
        if turn == 1:
            return listed
        written = self.replier([self.prompt(v) for v in views])
        out = []
        for reply, fallback, view in zip(written, listed, views, strict=True):
            text = reply.text.strip().removeprefix(f"{view.user_name}:").strip()
            if not text:
                self.fallbacks += 1
                text = fallback
            out.append(text)
        return out


# ── the simulation ───────────────────────────────────────────────────────────────────────────────────


def simulate(
    replier: Replier,
    checks: Sequence[Check],
    user_side: UserSide,
    conversations_per_check: int,
    max_turn: int,
    placement: Placement = "system",
    user_name: str = "User",
    progress: bool = True,
    probe_turns: Sequence[int] = (),
    control: bool = False,
) -> list[Transcript]:
    """Run ``conversations_per_check`` conversations of ``max_turn`` turns for every check.

    At each of ``probe_turns``, every conversation whose check has a probe is also asked it in a branch
    (the history before the turn's user message, then the probe), all in one replier call; the answer is
    kept in :attr:`Transcript.probes` and never enters the conversation. ``control`` gives no instruction
    (the user side still sees the bot's name, so it says the same turns).

    Each conversation is given the check's instruction once, through
    :func:`~llm.data.gatt.place_instruction` (a card: as the conversation's character with ``system``
    placement, as text before the first user turn with ``first_user``; the card's user is ``user_name``, its
    placeholders filled).
    Every turn asks the user side for all the user messages at once, then the replier for all the replies
    at once (one call per turn). Transcripts come back check by check, seat by seat.
    """
    if conversations_per_check < 1:
        raise UserError(f"conversations_per_check {conversations_per_check}: must be 1 or more")
    if max_turn < 1:
        raise UserError(f"max_turn {max_turn}: must be 1 or more")
    if placement not in ("system", "first_user"):
        raise UserError(f"unknown placement {placement!r}; choose 'system' or 'first_user'")
    runs = [(check, seat) for check in checks for seat in range(conversations_per_check)]
    given = [None if control else given_to(check, user_name) for check, _ in runs]
    bot_names = [check.character.name if check.character else NO_NAME for check, _ in runs]
    histories: list[list[Message]] = [[] for _ in runs]
    user_turns: list[list[str]] = [[] for _ in runs]
    replies: list[list[Reply]] = [[] for _ in runs]
    probes: list[dict[int, Reply]] = [{} for _ in runs]
    probed = [i for i, (check, _) in enumerate(runs) if check.probe]
    for turn in tqdm(range(1, max_turn + 1), desc="role-play turns", unit="turn", disable=not progress):
        views = [
            UserView(seat, tuple(h), bot, user_name, index)
            for index, ((_, seat), h, bot) in enumerate(zip(runs, histories, bot_names, strict=True))
        ]
        if turn in probe_turns and probed:  # the branch: asked before the turn, never kept
            branches = [
                _prompt([*histories[i], Message("user", runs[i][0].probe or "")], given[i], placement)
                for i in probed
            ]
            answers = replier(branches)
            _check_count("the replier", answers, len(branches))
            for i, answer in zip(probed, answers, strict=True):
                probes[i][turn] = answer
        said = user_side(views, turn)
        _check_count("the user side", said, len(runs))
        for h, text, turns in zip(histories, said, user_turns, strict=True):
            h.append(Message("user", text))
            turns.append(text)
        prompts = [
            _prompt(h, instruction, placement) for h, instruction in zip(histories, given, strict=True)
        ]
        answered = replier(prompts)
        _check_count("the replier", answered, len(runs))
        for h, reply, got in zip(histories, answered, replies, strict=True):
            h.append(Message("assistant", reply.text))
            got.append(reply)
    return [
        Transcript(check, seat, user_name, turns, got, _prompt(h, instruction, placement), asked, control)
        for (check, seat), h, instruction, turns, got, asked in zip(
            runs, histories, given, user_turns, replies, probes, strict=True
        )
    ]


def _prompt(
    history: Sequence[Message], instruction: str | Character | None, placement: Placement
) -> Conversation:
    """The conversation the bot sees: the history with the instruction given once (none for a control)."""
    conv = Conversation(tuple(history))
    return conv if instruction is None else place_instruction(conv, instruction, placement)


def _history(user_turns: Sequence[str], replies: Sequence[Reply]) -> list[Message]:
    out = []
    for said, reply in zip(user_turns, replies, strict=True):
        out += [Message("user", said), Message("assistant", reply.text)]
    return out


def given_to(check: Check, user_name: str) -> str | Character:
    """The instruction to give: the card played opposite ``user_name``, placeholders filled (a card given
    as text before the first user turn is not filled by the template)."""
    if check.character is None:
        return check.instruction
    card = replace(check.character, user_name=user_name)
    return resolve_placeholders(Conversation((), card)).character or card


def _check_count(who: str, items: Sequence[Any], expected: int) -> None:
    if len(items) != expected:
        raise UserError(f"{who} answered {len(items)} conversations; {expected} were asked")
