"""The role-play evaluation (``llm-train eval roleplay``): does a chatbot still obey an instruction given once,
twenty turns later?

    llm-train eval roleplay --model runs/sft
    llm-train eval roleplay --model runs/gatt --turns 1 2 4 8 16 20 --conversations 8
    llm-train eval roleplay --model runs/gatt --checks my_checks.json --user_turns held_out.jsonl
    llm-train eval roleplay --model runs/gatt --user_model runs/sft      # a second model plays the user

This is the measurement behind Ghost Attention (Llama 2 §3.3). For every check (a language, a format rule,
a character card; :data:`~llm.eval.checks.DEFAULT_CHECKS` or ``--checks FILE``) it simulates
``--conversations`` chats (:func:`~llm.eval.simulate.simulate`): the instruction once at the start, then
user turns (bundled small talk, held-out chat data, or a second model) and the bot's replies, all the
conversations of a turn in one batched generation. Then :func:`score` computes, at each measured turn:

- **adherence**: the share of replies that obey their instruction, per family, per check, and overall;
- **persona consistency**: for bots given a name, the share of replies that keep it (no "As an AI …",
  no other name);
- **speaking for the user**: the share of replies that write the user's turn (a line opening with the
  user's name or a template's user marker, or a reply the generator cut where such a turn began);
- unfinished replies (cut at ``--max_new_tokens``), replies whose prompt lost old turns to the context, and
  replies not generated at all because even the shortened prompt did not fit (they count as failures).

Output in ``--output_dir`` (default ``MODEL/eval_roleplay``): ``roleplay_eval.json``, ``adherence.png``
(one curve per family; persona consistency dashed) and ``transcripts.jsonl``. During SFT the same
evaluation runs at each evaluation step with ``--roleplay_eval true``
(:class:`llm.train.callbacks.RoleplayEvalCallback`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llm.data.templates import ChatTemplate
from llm.errors import UserError
from llm.eval.checks import Check, adherence_by_turn, persona_consistent, speaks_for_user
from llm.eval.simulate import Transcript, UserSide, simulate
from llm.inference.repliers import Replier
from llm.inference.stops import user_turn_markers

DEFAULT_TURNS = (1, 2, 4, 8, 16, 20)
ALL = "all"


# ── scoring (pure) ───────────────────────────────────────────────────────────────────────────────────


@dataclass
class RoleplayResult:
    """Rates in [0, 1] by measured turn; ``transcripts`` are kept for the report, not in :meth:`to_json`."""

    turns: list[int]
    conversations: int
    replies: int  # every reply generated, measured turn or not
    adherence: dict[str, dict[int, float]]  # family (and "all") → turn → rate
    adherence_by_check: dict[str, dict[int, float]]  # Check.key → turn → rate
    persona_consistency: dict[int, float]  # turn → rate, over conversations whose bot has a name
    speaks_for_user: float  # over every reply
    speaks_for_user_by_turn: dict[int, float]
    unfinished_replies: int  # cut at max_new_tokens
    overflowed_replies: int  # not generated: the prompt did not fit the context even shortened
    replies_with_dropped_context: int  # prompts that lost old exchanges to fit the context
    max_dropped_turns: int
    checks: list[Check] = field(default_factory=list)
    transcripts: list[Transcript] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        by_turn = lambda curve: {str(t): round(v, 4) for t, v in curve.items()}  # noqa: E731
        return {
            "turns": self.turns,
            "conversations": self.conversations,
            "replies": self.replies,
            "adherence": {k: by_turn(v) for k, v in self.adherence.items()},
            "adherence_by_check": {k: by_turn(v) for k, v in self.adherence_by_check.items()},
            "persona_consistency": by_turn(self.persona_consistency),
            "speaks_for_user": round(self.speaks_for_user, 4),
            "speaks_for_user_by_turn": by_turn(self.speaks_for_user_by_turn),
            "unfinished_replies": self.unfinished_replies,
            "overflowed_replies": self.overflowed_replies,
            "replies_with_dropped_context": self.replies_with_dropped_context,
            "max_dropped_turns": self.max_dropped_turns,
            "checks": [c.to_dict() for c in self.checks],
        }


def score(
    transcripts: Sequence[Transcript],
    turns: Sequence[int] = DEFAULT_TURNS,
    template: ChatTemplate | None = None,
) -> RoleplayResult:
    """Adherence, persona consistency and speaking-for-the-user rates at the measured ``turns``.

    A reply speaks for the user when :func:`~llm.eval.checks.speaks_for_user` finds a user line in it
    (with the ``template``'s user-turn openings as extra markers) or when the generator already cut it
    where a user turn began (:attr:`~llm.inference.repliers.Reply.wrote_user_turn`). Turns past the end of the
    transcripts are left out of the curves.

    >>> from llm.inference.repliers import Reply
    >>> from llm.data.conversation import Conversation
    >>> check = Check("format", "End with a question.", "ending", "?")
    >>> t = Transcript(check, 0, "Sam", ["a", "b"], [Reply("Tea?"), Reply("No.\\nSam: ok")], Conversation(()))
    >>> r = score([t], turns=(1, 2))
    >>> r.adherence, r.speaks_for_user_by_turn
    ({'format': {1: 1.0, 2: 0.0}, 'all': {1: 1.0, 2: 0.0}}, {1: 0.0, 2: 1.0})
    """
    measured = sorted(set(turns))
    wanted = set(measured)
    families: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    by_check: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    persona: list[tuple[int, bool]] = []
    speaks: list[tuple[int, bool]] = []
    markers: dict[Any, tuple[str, ...]] = {}
    checks: dict[Check, None] = {}
    unfinished = overflowed = dropped = max_dropped = replies = 0
    for t in transcripts:
        checks.setdefault(t.check)
        character = t.conversation.character
        if template is not None and character not in markers:
            markers[character] = user_turn_markers(template, character)
        extra = markers.get(character, ())
        for turn, reply in enumerate(t.replies, start=1):
            replies += 1
            unfinished += not reply.finished and not reply.overflow
            overflowed += reply.overflow
            dropped += reply.dropped_turns > 0
            max_dropped = max(max_dropped, reply.dropped_turns)
            spoke = reply.wrote_user_turn or speaks_for_user(reply.text, t.user_name, extra)
            speaks.append((turn, spoke))
            if turn not in wanted:
                continue
            ok = t.check.passed(reply.text)
            families[t.check.family].append((turn, ok))
            families[ALL].append((turn, ok))
            by_check[t.check.key].append((turn, ok))
            if t.bot_name:
                persona.append((turn, persona_consistent(reply.text, t.bot_name)))
    adherence = {f: adherence_by_turn(r) for f, r in families.items() if f != ALL}
    if ALL in families:
        adherence[ALL] = adherence_by_turn(families[ALL])
    return RoleplayResult(
        turns=measured,
        conversations=len(transcripts),
        replies=replies,
        adherence=adherence,
        adherence_by_check={k: adherence_by_turn(r) for k, r in by_check.items()},
        persona_consistency=adherence_by_turn(persona),
        speaks_for_user=sum(s for _, s in speaks) / len(speaks) if speaks else 0.0,
        speaks_for_user_by_turn=adherence_by_turn((t, s) for t, s in speaks if t in wanted),
        unfinished_replies=unfinished,
        overflowed_replies=overflowed,
        replies_with_dropped_context=dropped,
        max_dropped_turns=max_dropped,
        checks=list(checks),
        transcripts=list(transcripts),
    )


def evaluate(
    replier: Replier,
    checks: Sequence[Check],
    user_side: UserSide,
    conversations_per_check: int,
    turns: Sequence[int],
    template: ChatTemplate | None = None,
    placement: Literal["system", "first_user"] = "system",
    user_name: str = "User",
    progress: bool = True,
) -> RoleplayResult:
    """Simulate up to the last measured turn, then score."""
    transcripts = simulate(
        replier, checks, user_side, conversations_per_check, max(turns), placement, user_name, progress
    )
    return score(transcripts, turns, template)


# ── the report ───────────────────────────────────────────────────────────────────────────────────────


REPORT_FILES = ("roleplay_eval.json", "transcripts.jsonl", "adherence.png")  # what write_report writes


def write_report(result: RoleplayResult, out_dir: str | Path, title: str = "") -> Path:
    """``roleplay_eval.json``, ``adherence.png`` and ``transcripts.jsonl`` in ``out_dir`` (made if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "roleplay_eval.json").write_text(json.dumps({"title": title, **result.to_json()}, indent=2) + "\n")
    with (out / "transcripts.jsonl").open("w", encoding="utf-8") as f:
        for t in result.transcripts:
            f.write(json.dumps(t.to_dict(), ensure_ascii=False) + "\n")
    plot_adherence(result, out / "adherence.png", title)
    return out


def plot_adherence(result: RoleplayResult, path: Path, title: str = "") -> None:
    """One curve per family over the measured turns; persona consistency dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for family, curve in result.adherence.items():
        if family != ALL and curve:
            ax.plot(list(curve), list(curve.values()), "o-", label=family)
    if result.persona_consistency:
        curve = result.persona_consistency
        ax.plot(list(curve), list(curve.values()), "s--", color="0.35", label="persona consistency")
    ax.set_xticks(result.turns)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("turn")
    ax.set_ylabel("share of replies obeying the instruction")
    ax.set_title(title or "role-play adherence")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def summary_table(result: RoleplayResult) -> str:
    """Family × turn rates, then persona consistency and speaking for the user, as aligned text."""
    rows: list[tuple[str, dict[int, float]]] = list(result.adherence.items())
    if result.persona_consistency:
        rows.append(("persona consistency", result.persona_consistency))
    rows.append(("speaks for user", result.speaks_for_user_by_turn))
    width = max(len(name) for name, _ in rows)
    lines = [" " * width + "".join(f"{'t' + str(t):>7}" for t in result.turns)]
    for name, curve in rows:
        cells = "".join(f"{curve[t]:>7.2f}" if t in curve else f"{'-':>7}" for t in result.turns)
        lines.append(f"{name:<{width}}{cells}")
    lines.append(
        f"{result.replies} replies in {result.conversations} conversations; "
        f"unfinished {result.unfinished_replies}; with dropped context {result.replies_with_dropped_context}; "
        f"not generated (context full) {result.overflowed_replies}; speaking for the user overall {result.speaks_for_user:.2f}"
    )
    return "\n".join(lines)


def validate_settings(
    conversations: int, turns: Sequence[int], max_new_tokens: int, flag: str = "--"
) -> list[int]:
    """The measured turns, sorted; raises on settings that cannot run."""
    if conversations < 1:
        raise UserError(f"{flag}conversations {conversations}: must be 1 or more")
    if not turns or any(t < 1 for t in turns):
        raise UserError(f"{flag}turns {' '.join(map(str, turns))}: give turn numbers of 1 or more")
    if max_new_tokens < 1:
        raise UserError(f"{flag}max_new_tokens {max_new_tokens}: must be 1 or more")
    return sorted(set(turns))
