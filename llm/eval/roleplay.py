"""The role-play evaluation (``llm-train eval roleplay``): does a chatbot still obey an instruction given once,
twenty turns later?

    llm-train eval roleplay --model runs/sft
    llm-train eval roleplay --model runs/gatt --turns 1 2 4 8 16 20 --conversations 8
    llm-train eval roleplay --model runs/gatt --checks my_checks.json --user_turns held_out.jsonl
    llm-train eval roleplay --model runs/gatt --user_model runs/sft      # a second model plays the user

This is the measurement behind Ghost Attention (Llama 2 §3.3). For every check (a language, a format rule,
a character card; :data:`~llm.eval.checks.DEFAULT_CHECKS`, the persistence suite :mod:`llm.eval.suite`, or
``--checks FILE``) it simulates ``--conversations`` chats (:func:`~llm.eval.simulate.simulate`): the
instruction once at the start, then user turns (bundled small talk, held-out chat data, a second model, or
self-chat) and the bot's replies, all the conversations of a turn in one batched generation; at a measured
turn a check's probe is asked in a branch that is not kept. Then :func:`score` computes, at each measured turn:

- **scores**: the mean checker score in [0, 1] per family and overall, with a 95% bootstrap interval over
  conversations (:func:`bootstrap_ci`); **adherence**, the share that pass; the median turn of the **first
  violation**; your ``--checker`` functions on every measured reply;
- the **control** (:func:`evaluate` with ``control=True``): the same conversations and user turns with no
  instruction, scored by the same checks;
- **persona consistency**: for bots given a name, the share of replies that keep it (no "As an AI …",
  no other name);
- **speaking for the user**: the share of replies that write the user's turn (a line opening with the
  user's name or a template's user marker, or a reply the generator cut where such a turn began);
- unfinished replies (cut at ``--max_new_tokens``), replies whose prompt lost old turns to the context, and
  replies not generated at all because even the shortened prompt did not fit (they count as failures).

:func:`compare` runs several models on the same conversations (the first model's user turns replayed to the
others) and :func:`write_comparison` draws them in one plot.

Output in ``--output_dir`` (default ``MODEL/eval_roleplay``): ``roleplay_eval.json``, ``adherence.png``
(one curve per family; persona consistency dashed) and ``transcripts.jsonl``. During SFT the same
evaluation runs at each evaluation step with ``--roleplay_eval true``
(:class:`llm.train.callbacks.RoleplayEvalCallback`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from llm.data.templates import ChatTemplate
from llm.errors import UserError
from llm.eval.checks import (
    PASS_MARK,
    Check,
    Checker,
    adherence_by_turn,
    persona_consistent,
    speaks_for_user,
)
from llm.eval.simulate import ReplayedUserTurns, Transcript, UserSide, simulate
from llm.inference.repliers import Replier
from llm.inference.stops import user_turn_markers

DEFAULT_TURNS = (1, 2, 4, 8, 16, 20)
ALL = "all"


# ── scoring (pure) ───────────────────────────────────────────────────────────────────────────────────


def bootstrap_ci(
    values: Sequence[float], resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """A percentile bootstrap confidence interval of the mean of ``values`` (one value per conversation).

    >>> bootstrap_ci([1.0, 1.0, 1.0]), bootstrap_ci([])
    ((1.0, 1.0), (0.0, 0.0))
    >>> lo, hi = bootstrap_ci([0.0, 1.0] * 50)
    >>> 0.38 < lo < 0.42 and 0.58 < hi < 0.62
    True
    """
    if not values:
        return 0.0, 0.0
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)  # [resamples]
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Curve:
    """Mean score by measured turn with its 95% bootstrap interval over conversations."""

    mean: dict[int, float]
    low: dict[int, float]
    high: dict[int, float]

    @classmethod
    def of(cls, by_turn: dict[int, list[float]]) -> Curve:
        cis = {t: bootstrap_ci(v) for t, v in sorted(by_turn.items())}
        means = {t: sum(v) / len(v) for t, v in sorted(by_turn.items())}
        return cls(means, {t: lo for t, (lo, _) in cis.items()}, {t: hi for t, (_, hi) in cis.items()})

    def to_json(self) -> dict[str, dict[str, float]]:
        return {
            str(t): {"mean": round(m, 4), "ci95": [round(self.low[t], 4), round(self.high[t], 4)]}
            for t, m in self.mean.items()
        }


def first_violations(firsts: Sequence[int | None], last_turn: int) -> dict[str, float | None]:
    """How long instructions held: the median measured turn of the first violation (a conversation never
    violated counts as past ``last_turn``; None when most never were) and the share never violated.

    >>> first_violations([1, 4, None], 8), first_violations([None, None, 2], 8)
    ({'median_turn': 4, 'never': 0.3333}, {'median_turn': None, 'never': 0.6667})
    """
    if not firsts:
        return {"median_turn": None, "never": 0.0}
    ordered = sorted(last_turn + 1 if f is None else f for f in firsts)
    median = ordered[(len(ordered) - 1) // 2]
    never = sum(f is None for f in firsts) / len(firsts)
    return {"median_turn": median if median <= last_turn else None, "never": round(never, 4)}


@dataclass
class RoleplayResult:
    """Scores and rates in [0, 1] by measured turn; ``transcripts`` are kept for the report, not in
    :meth:`to_json`. ``scores`` are the mean checker scores (probe answers where a check has a probe),
    ``adherence`` the share of them that pass (:data:`~llm.eval.checks.PASS_MARK`)."""

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
    scores: dict[str, Curve] = field(default_factory=dict)  # family (and "all") → mean score with CI
    first_violation: dict[str, dict[str, float | None]] = field(default_factory=dict)  # family → summary
    checker_scores: dict[str, Curve] = field(default_factory=dict)  # --checker NAME → every measured reply
    control: RoleplayResult | None = None  # the same conversations given no instruction

    def to_json(self) -> dict[str, Any]:
        by_turn = lambda curve: {str(t): round(v, 4) for t, v in curve.items()}  # noqa: E731
        out = {
            "turns": self.turns,
            "conversations": self.conversations,
            "replies": self.replies,
            "scores": {k: v.to_json() for k, v in self.scores.items()},
            "first_violation": self.first_violation,
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
        if self.checker_scores:
            out["checker_scores"] = {k: v.to_json() for k, v in self.checker_scores.items()}
        if self.control is not None:
            out["control"] = {k: v.to_json() for k, v in self.control.scores.items()}
        return out


def score(
    transcripts: Sequence[Transcript],
    turns: Sequence[int] = DEFAULT_TURNS,
    template: ChatTemplate | None = None,
    checkers: dict[str, Checker] | None = None,
) -> RoleplayResult:
    """Scores, adherence, persona consistency and speaking-for-the-user rates at the measured ``turns``.

    At a measured turn the check scores the probe's answer where one was asked, else the turn's reply
    (:meth:`~llm.eval.simulate.Transcript.measured`); ``checkers`` (name → your function) score it too.
    A reply speaks for the user when :func:`~llm.eval.checks.speaks_for_user` finds a user line in it
    (with the ``template``'s user-turn openings as extra markers) or when the generator already cut it
    where a user turn began (:attr:`~llm.inference.repliers.Reply.wrote_user_turn`). Turns past the end of the
    transcripts are left out of the curves.

    >>> from llm.inference.repliers import Reply
    >>> from llm.data.conversation import Conversation
    >>> check = Check("format", "End with a question.", "ending", "?")
    >>> t = Transcript(check, 0, "Sam", ["a", "b"], [Reply("Tea?"), Reply("No.\\nSam: ok")], Conversation(()))
    >>> r = score([t], turns=(1, 2))
    >>> r.adherence, r.speaks_for_user_by_turn, r.first_violation["format"]
    ({'format': {1: 1.0, 2: 0.0}, 'all': {1: 1.0, 2: 0.0}}, {1: 0.0, 2: 1.0}, {'median_turn': 2, 'never': 0.0})
    """
    measured = sorted(set(turns))
    wanted = set(measured)
    families: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    family_scores: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    firsts: dict[str, list[int | None]] = defaultdict(list)
    extra: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
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
        user_markers = markers.get(character, ())
        first: int | None = None
        for turn, reply in enumerate(t.replies, start=1):
            replies += 1
            unfinished += not reply.finished and not reply.overflow
            overflowed += reply.overflow
            dropped += reply.dropped_turns > 0
            max_dropped = max(max_dropped, reply.dropped_turns)
            spoke = reply.wrote_user_turn or speaks_for_user(reply.text, t.user_name, user_markers)
            speaks.append((turn, spoke))
            if turn not in wanted:
                continue
            text, conv = t.measured(turn)
            value = t.check.score(text, conv)
            ok = value >= PASS_MARK
            if not ok and first is None:
                first = turn
            for family in (t.check.family, ALL):
                families[family].append((turn, ok))
                family_scores[family][turn].append(value)
            by_check[t.check.key].append((turn, ok))
            for name, checker in (checkers or {}).items():
                extra[name][turn].append(min(1.0, max(0.0, float(checker(text, conv)))))
            if t.bot_name:
                persona.append((turn, persona_consistent(text, t.bot_name)))
        firsts[t.check.family].append(first)
        firsts[ALL].append(first)
    adherence = {f: adherence_by_turn(r) for f, r in families.items() if f != ALL}
    if ALL in families:
        adherence[ALL] = adherence_by_turn(families[ALL])
    order = [f for f in family_scores if f != ALL] + ([ALL] if ALL in family_scores else [])
    last = measured[-1] if measured else 0
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
        scores={f: Curve.of(family_scores[f]) for f in order},
        first_violation={f: first_violations(firsts[f], last) for f in order},
        checker_scores={name: Curve.of(v) for name, v in extra.items()},
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
    *,
    control: bool = False,
    checkers: dict[str, Checker] | None = None,
) -> RoleplayResult:
    """Simulate up to the last measured turn (probing at the measured turns), then score.

    With ``control``, the same conversations run again with no instruction, on the same user turns (those
    of the first run, replayed), scored by the same checks: :attr:`RoleplayResult.control`.
    """
    transcripts = simulate(
        replier,
        checks,
        user_side,
        conversations_per_check,
        max(turns),
        placement,
        user_name,
        progress,
        probe_turns=turns,
    )
    result = score(transcripts, turns, template, checkers)
    if control:
        unasked = simulate(
            replier,
            checks,
            ReplayedUserTurns(transcripts),
            conversations_per_check,
            max(turns),
            placement,
            user_name,
            progress,
            probe_turns=turns,
            control=True,
        )
        result.control = score(unasked, turns, template, checkers)
    return result


def compare(
    repliers: dict[str, Replier],
    checks: Sequence[Check],
    user_side: UserSide,
    conversations_per_check: int,
    turns: Sequence[int],
    template: ChatTemplate | None = None,
    placement: Literal["system", "first_user"] = "system",
    user_name: str = "User",
    progress: bool = True,
    *,
    control: bool = False,
    checkers: dict[str, Checker] | None = None,
    templates: dict[str, ChatTemplate] | None = None,
) -> dict[str, RoleplayResult]:
    """Evaluate several models on the same conversations: the first model's user turns (listed, or written
    by a user model) are replayed to every other model, so every model hears the same user turns.

    >>> from llm.inference.repliers import Reply
    >>> from llm.eval.simulate import ListedUserTurns
    >>> check = Check("format", "Ask.", "ending", "?")
    >>> models = {"asks": lambda cs: [Reply("Yes?")] * len(cs), "says": lambda cs: [Reply("Yes.")] * len(cs)}
    >>> results = compare(models, [check], ListedUserTurns([["hi"]]), 2, (1, 2), progress=False)
    >>> {name: r.scores["all"].mean for name, r in results.items()}
    {'asks': {1: 1.0, 2: 1.0}, 'says': {1: 0.0, 2: 0.0}}
    """
    results: dict[str, RoleplayResult] = {}
    side = user_side
    for name, replier in repliers.items():
        result = evaluate(
            replier,
            checks,
            side,
            conversations_per_check,
            turns,
            (templates or {}).get(name, template),
            placement,
            user_name,
            progress,
            control=control,
            checkers=checkers,
        )
        results[name] = result
        side = ReplayedUserTurns(result.transcripts) if side is user_side else side
    return results


# ── the report ───────────────────────────────────────────────────────────────────────────────────────


REPORT_FILES = (
    "roleplay_eval.json",
    "transcripts.jsonl",
    "control_transcripts.jsonl",
    "adherence.png",
)  # written by write_report


def write_report(result: RoleplayResult, out_dir: str | Path, title: str = "") -> Path:
    """``roleplay_eval.json``, ``adherence.png`` and ``transcripts.jsonl`` (and ``control_transcripts.jsonl``
    with a control) in ``out_dir`` (made if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "roleplay_eval.json").write_text(json.dumps({"title": title, **result.to_json()}, indent=2) + "\n")
    _write_transcripts(result.transcripts, out / "transcripts.jsonl")
    if result.control is not None:
        _write_transcripts(result.control.transcripts, out / "control_transcripts.jsonl")
    plot_adherence(result, out / "adherence.png", title)
    return out


def _write_transcripts(transcripts: Sequence[Transcript], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for t in transcripts:
            f.write(json.dumps(t.to_dict(), ensure_ascii=False) + "\n")


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed), imported only when a plot is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_adherence(result: RoleplayResult, path: Path, title: str = "") -> None:
    """One curve per family (mean score) over the measured turns, the mean over all with its 95% interval,
    the control (no instruction) dotted; persona consistency dashed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for family, curve in result.scores.items():
        if family != ALL and curve.mean:
            ax.plot(list(curve.mean), list(curve.mean.values()), "o-", alpha=0.6, label=family)
    if ALL in result.scores:
        draw_curve(ax, result.scores[ALL], "all (95% CI)", "k")
    if result.control is not None and ALL in result.control.scores:
        curve = result.control.scores[ALL]
        ax.plot(list(curve.mean), list(curve.mean.values()), "x:", color="0.5", label="control (not asked)")
    if result.persona_consistency:
        curve = result.persona_consistency
        ax.plot(list(curve), list(curve.values()), "s--", color="0.35", label="persona consistency")
    _finish(ax, fig, path, result.turns, title or "role-play adherence")


def draw_curve(ax: Any, curve: Curve, label: str, color: Any) -> None:
    """A curve's means as a line with its 95% interval shaded."""
    turns = list(curve.mean)
    ax.plot(turns, list(curve.mean.values()), "o-", color=color, linewidth=2, label=label)
    ax.fill_between(turns, list(curve.low.values()), list(curve.high.values()), color=color, alpha=0.15)


def _finish(ax: Any, fig: Any, path: Path, turns: Sequence[int], title: str) -> None:
    ax.set_xticks(list(turns))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("turn")
    ax.set_ylabel("mean score (1: obeys the instruction)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt = pyplot()
    plt.close(fig)


def write_comparison(results: dict[str, RoleplayResult], out_dir: str | Path, title: str = "") -> Path:
    """Each model's report in ``out_dir/NAME/``, then ``comparison.json`` (every model's scores by family and
    turn) and ``comparison.png`` (one line per model with its 95% interval; its control dotted)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        write_report(result, out / _folder(name), name)
    data = {"title": title, "models": {name: r.to_json() for name, r in results.items()}}
    (out / "comparison.json").write_text(json.dumps(data, indent=2) + "\n")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, result) in enumerate(results.items()):
        color = colors[k % len(colors)]
        if ALL in result.scores:
            draw_curve(ax, result.scores[ALL], name, color)
        if result.control is not None and ALL in result.control.scores:
            curve = result.control.scores[ALL]
            ax.plot(list(curve.mean), list(curve.mean.values()), "x:", color=color, label=f"{name} control")
    turns = next(iter(results.values())).turns if results else []
    _finish(ax, fig, out / "comparison.png", turns, title or "persistence: models compared")
    return out


def comparison_files(names: Iterable[str]) -> list[str]:
    """What :func:`write_comparison` writes into its folder for models ``names``."""
    return ["comparison.json", "comparison.png", *(_folder(name) for name in names)]


def _folder(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "model"


def summary_table(result: RoleplayResult) -> str:
    """Family × turn mean scores (with the interval of the mean over all), the control, first violations,
    adherence rates, persona consistency and speaking for the user, as aligned text."""
    rows: list[tuple[str, dict[int, float]]] = [(f"score {f}", c.mean) for f, c in result.scores.items()]
    if ALL in result.scores:
        rows += [("  95% CI low", result.scores[ALL].low), ("  95% CI high", result.scores[ALL].high)]
    if result.control is not None:
        rows += [(f"control {f}", c.mean) for f, c in result.control.scores.items()]
    rows += [(f"checker {name}", c.mean) for name, c in result.checker_scores.items()]
    rows += [(f"passed {f}", curve) for f, curve in result.adherence.items()]
    if result.persona_consistency:
        rows.append(("persona consistency", result.persona_consistency))
    rows.append(("speaks for user", result.speaks_for_user_by_turn))
    width = max(len(name) for name, _ in rows)
    lines = [" " * width + "".join(f"{'t' + str(t):>7}" for t in result.turns)]
    for name, curve in rows:
        cells = "".join(f"{curve[t]:>7.2f}" if t in curve else f"{'-':>7}" for t in result.turns)
        lines.append(f"{name:<{width}}{cells}")
    violations = ", ".join(
        f"{f} {v['median_turn'] if v['median_turn'] is not None else 'never'} (never {v['never']:.2f})"
        for f, v in result.first_violation.items()
    )
    if violations:
        lines.append(f"first violation, median turn: {violations}")
    lines.append(
        f"{result.replies} replies in {result.conversations} conversations; "
        f"unfinished {result.unfinished_replies}; with dropped context {result.replies_with_dropped_context}; "
        f"not generated (context full) {result.overflowed_replies}; speaking for the user overall {result.speaks_for_user:.2f}"
    )
    return "\n".join(lines)


def comparison_table(results: dict[str, RoleplayResult]) -> str:
    """Models × turns: the mean score over all checks (and the control's), as aligned text.

    >>> from llm.inference.repliers import Reply
    >>> from llm.eval.simulate import ListedUserTurns
    >>> check = Check("format", "Ask.", "ending", "?")
    >>> models = {"asks": lambda cs: [Reply("Yes?")] * len(cs)}
    >>> print(comparison_table(compare(models, [check], ListedUserTurns([["hi"]]), 1, (1, 2), progress=False)))
              t1     t2
    asks    1.00   1.00
    """
    rows: list[tuple[str, dict[int, float]]] = []
    for name, result in results.items():
        rows.append((name, result.scores[ALL].mean if ALL in result.scores else {}))
        if result.control is not None and ALL in result.control.scores:
            rows.append((f"{name} control", result.control.scores[ALL].mean))
    turns = next(iter(results.values())).turns if results else []
    width = max(len(name) for name, _ in rows) + 1
    lines = [" " * width + "".join(f"{'t' + str(t):>7}" for t in turns)]
    for name, curve in rows:
        lines.append(f"{name:<{width}}" + "".join(f"{curve.get(t, float('nan')):>7.2f}" for t in turns))
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
