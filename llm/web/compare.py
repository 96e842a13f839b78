"""The web page's Compare tab: several checkpoints answer the same user turns, scored turn by turn.

A small run of the persistence evaluation (:func:`llm.eval.roleplay.compare`): for each chosen check
(:data:`~llm.eval.checks.DEFAULT_CHECKS`, picked by key) one conversation per model — the check's instruction
or card given once, then the user turns typed on the page, in order — every model hearing the same turns.
Each turn's reply (or the probe's answer, for checks with a probe) is scored by the check. The page shows
one column per model: the mean score by turn, then each conversation with its per-turn scores.

>>> from llm.inference.repliers import Reply
>>> from llm.eval.checks import Check
>>> models = {"asks": lambda cs: [Reply("Tea?")] * len(cs), "says": lambda cs: [Reply("Tea.")] * len(cs)}
>>> results = run_comparison(models, [Check("format", "Ask.", "ending", "?")], ["hi", "and you"])
>>> [[row["score"] for row in t.to_dict()["turns"]] for r in results.values() for t in r.transcripts]
[[1.0, 1.0], [0.0, 0.0]]
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from llm.data.templates import ChatTemplate
from llm.errors import UserError
from llm.eval.checks import DEFAULT_CHECKS, PASS_MARK, Check
from llm.eval.roleplay import ALL, RoleplayResult, compare
from llm.eval.simulate import ListedUserTurns
from llm.inference.repliers import Replier

CHECKS_BY_KEY: dict[str, Check] = {c.key: c for c in DEFAULT_CHECKS}
MAX_TURNS = 12  # an on-demand run on the page: a few turns, not an evaluation


def parse_turns(text: str) -> list[str]:
    """User turns typed on the page, one per line (blank lines skipped).

    >>> parse_turns("Hello!\\n\\n  How are you? ")
    ['Hello!', 'How are you?']
    """
    turns = [line.strip() for line in text.splitlines() if line.strip()]
    if not turns:
        raise UserError("user turns: write at least one, one per line")
    if len(turns) > MAX_TURNS:
        raise UserError(
            f"user turns: {len(turns)} given; the page runs at most {MAX_TURNS} (use llm-train eval)"
        )
    return turns


def pick_checks(keys: Sequence[str]) -> list[Check]:
    """The bundled checks named by key (``format/ending=?`` …)."""
    if not keys:
        raise UserError("checks: pick at least one")
    unknown = [k for k in keys if k not in CHECKS_BY_KEY]
    if unknown:
        raise UserError(f"checks: unknown {', '.join(unknown)} (known: {', '.join(CHECKS_BY_KEY)})")
    return [CHECKS_BY_KEY[k] for k in keys]


def run_comparison(
    repliers: dict[str, Replier],
    checks: Sequence[Check],
    user_turns: Sequence[str],
    templates: dict[str, ChatTemplate] | None = None,
    user_name: str = "User",
) -> dict[str, RoleplayResult]:
    """Every model on one conversation per check, the same ``user_turns``, every turn measured."""
    if len(repliers) < 1:
        raise UserError("compare: give at least one checkpoint")
    turns = list(range(1, len(user_turns) + 1))
    first = next(iter(templates.values())) if templates else None
    return compare(
        repliers,
        list(checks),
        ListedUserTurns([list(user_turns)]),
        1,
        turns,
        first,
        user_name=user_name,
        progress=False,
        templates=templates,
    )


def _badge(score: float) -> str:
    color = "#2a7d2a" if score >= PASS_MARK else "#b3261e"
    return f"<span class='score' style='color:{color};font-weight:bold'>{score:.2f}</span>"


def comparison_html(results: dict[str, RoleplayResult]) -> str:
    """One column per model, side by side: the mean score over the checks by turn, then each conversation
    (the instruction, every turn's user message, reply, probe answer and score)."""
    columns = []
    for name, result in results.items():
        mean = result.scores[ALL].mean if ALL in result.scores else {}
        summary = " ".join(f"t{t} {_badge(v)}" for t, v in mean.items())
        parts = [f"<h3>{html.escape(name)}</h3><p>mean score by turn: {summary}</p>"]
        for t in result.transcripts:
            data = t.to_dict()
            given = t.check.character.name + " (card)" if t.check.character else t.check.instruction
            parts.append(f"<h4>{html.escape(t.check.key)}</h4><p><i>given once: {html.escape(given)}</i></p>")
            for row in data["turns"]:
                parts.append(
                    f"<p><b>{html.escape(t.user_name)}:</b> {html.escape(row['user'])}<br>"
                    f"<b>bot:</b> {html.escape(row['reply'])}"
                    + (
                        f"<br><b>probe</b> {html.escape(t.check.probe or '')} → {html.escape(row['probe_reply'])}"
                        if "probe_reply" in row
                        else ""
                    )
                    + f"<br>turn {row['turn']} score {_badge(row['score'])}</p>"
                )
        columns.append(f"<div class='compare-column' style='flex:1;min-width:0'>{''.join(parts)}</div>")
    return f"<div class='compare-columns' style='display:flex;gap:1.5em'>{''.join(columns)}</div>"
