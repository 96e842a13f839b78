"""``llm-train eval roleplay``: does the chatbot still obey an instruction given once, twenty turns later?

    llm-train eval roleplay --model runs/sft
    llm-train eval roleplay --model runs/gatt --turns 1 2 4 8 16 20 --conversations 8
    llm-train eval roleplay --model runs/gatt --checks my_checks.json --user_turns held_out.jsonl
    llm-train eval roleplay --model runs/gatt --user_model runs/sft      # a second model plays the user

This is the measurement behind Ghost Attention (Llama 2 §3.3). For every check (a language, a format rule,
a character card; :data:`~llm.eval.roleplay.DEFAULT_CHECKS` or ``--checks FILE``) it simulates
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
evaluation runs at each evaluation step with ``--roleplay_eval true`` (:class:`RoleplayEvalCallback`).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from transformers import TrainerCallback

from llm.chat.generate import LocalReplier, Replier, Sampling
from llm.data.templates import TEMPLATES, ChatTemplate
from llm.eval.roleplay import (
    DEFAULT_CHECKS,
    Check,
    adherence_by_turn,
    load_checks,
    persona_consistent,
    speaks_for_user,
)
from llm.eval.simulate import ListedUserTurns, ModelUserSide, Transcript, UserSide, simulate

PROG = "llm-train eval roleplay"
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

    A reply speaks for the user when :func:`~llm.eval.roleplay.speaks_for_user` finds a user line in it
    (with the ``template``'s user-turn openings as extra markers) or when the generator already cut it
    where a user turn began (:attr:`~llm.chat.generate.Reply.wrote_user_turn`). Turns past the end of the
    transcripts are left out of the curves.

    >>> from llm.chat.generate import Reply
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
            from llm.chat.cli import user_turn_markers

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


# ── the command ──────────────────────────────────────────────────────────────────────────────────────


@dataclass
class RoleplayEvalArguments:
    """The options of ``llm-train eval roleplay`` (``HfArgumentParser``; a YAML file works too)."""

    model: str = field(metadata={"help": "checkpoint directory to evaluate (weights, config, tokenizer)"})
    template: str | None = field(
        default=None,
        metadata={
            "help": "chat template (default: the checkpoint's llm_train.json)",
            "choices": sorted(TEMPLATES),
        },
    )
    checks: str | None = field(
        default=None,
        metadata={
            "help": "a JSON list of checks {family, instruction, kind, value, character?} (default: bundled)"
        },
    )
    user_turns: list[str] | None = field(
        default=None,
        metadata={"help": "held-out chat data files (any chat source) whose user turns the user says"},
    )
    user_model: str | None = field(
        default=None, metadata={"help": "a checkpoint that plays the user (instead of listed user turns)"}
    )
    user_template: str | None = field(
        default=None,
        metadata={
            "help": "chat template of --user_model (default: its llm_train.json)",
            "choices": sorted(TEMPLATES),
        },
    )
    user_name: str = field(default="User", metadata={"help": "the user's name in the conversations"})
    conversations: int = field(default=8, metadata={"help": "conversations per check"})
    turns: list[int] = field(
        default_factory=lambda: list(DEFAULT_TURNS),
        metadata={"help": "the turns measured; conversations run to the last one"},
    )
    max_new_tokens: int = field(default=64, metadata={"help": "longest reply, in tokens"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature; 0: greedy"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass (with --temperature > 0)"})
    placement: Literal["system", "first_user"] = field(
        default="system", metadata={"help": "where the instruction is given: system slot or first user turn"}
    )
    batch_size: int = field(default=16, metadata={"help": "conversations generated together"})
    seed: int = field(default=0, metadata={"help": "random seed (sampling)"})
    output_dir: str | None = field(
        default=None, metadata={"help": "where the report goes (default MODEL/eval_roleplay)"}
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar over turns"})


def validate_settings(
    conversations: int, turns: Sequence[int], max_new_tokens: int, flag: str = "--"
) -> list[int]:
    """The measured turns, sorted; raises on settings that cannot run."""
    if conversations < 1:
        raise ValueError(f"{flag}conversations {conversations}: must be 1 or more")
    if not turns or any(t < 1 for t in turns):
        raise ValueError(f"{flag}turns {' '.join(map(str, turns))}: give turn numbers of 1 or more")
    if max_new_tokens < 1:
        raise ValueError(f"{flag}max_new_tokens {max_new_tokens}: must be 1 or more")
    return sorted(set(turns))


def main(argv: list[str] | None = None) -> int:
    from llm.train.args import parse

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        (args,) = parse((RoleplayEvalArguments,), argv, PROG)
        return run(args)
    except SystemExit as e:  # argparse already printed the usage and the error
        return int(e.code or 0)
    except (ValueError, OSError, IndexError) as e:  # bad input: one clear line, no traceback
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2


def run(args: RoleplayEvalArguments) -> int:
    from llm.chat.cli import load_model, template_name
    from llm.data.encode import Encoder

    # Everything cheap is checked before a model loads.
    model_dir = Path(args.model)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"--model {model_dir}: no such directory")
    turns = validate_settings(args.conversations, args.turns, args.max_new_tokens)
    sampling = Sampling(args.max_new_tokens, args.temperature, args.top_p)
    if args.batch_size < 1:
        raise ValueError(f"--batch_size {args.batch_size}: must be 1 or more")
    if args.user_turns and args.user_model:
        raise ValueError(
            "give --user_turns (listed user turns) or --user_model (a model plays the user), not both"
        )
    if not args.user_name.strip():
        raise ValueError("--user_name: must not be empty")
    name = template_name(model_dir, args.template)
    checks = load_checks(args.checks) if args.checks else list(DEFAULT_CHECKS)
    if args.user_turns:
        listed = ListedUserTurns.from_chats(args.user_turns, args.conversations, max(turns))
    else:
        listed = ListedUserTurns.bundled(args.conversations)
    user_dir = Path(args.user_model) if args.user_model else None
    if user_dir is not None:
        if not user_dir.is_dir():
            raise FileNotFoundError(f"--user_model {user_dir}: no such directory")
        user_template = template_name(user_dir, args.user_template)
    out = Path(args.output_dir) if args.output_dir else model_dir / "eval_roleplay"

    from transformers import set_seed

    model, tokenizer = load_model(model_dir)
    encoder = Encoder(tokenizer, name)
    replier = LocalReplier(model, encoder, sampling, args.batch_size)
    user_side: UserSide = listed
    if user_dir is not None:
        user_model, user_tokenizer = load_model(user_dir)
        user_replier = LocalReplier(
            user_model, Encoder(user_tokenizer, user_template), sampling, args.batch_size
        )
        user_side = ModelUserSide(user_replier, first_turns=listed)
    set_seed(args.seed)
    result = evaluate(
        replier,
        checks,
        user_side,
        args.conversations,
        turns,
        encoder.template,
        args.placement,
        args.user_name,
        args.progress,
    )
    write_report(result, out, f"{model_dir.name} (template {name})")
    print(
        f"role-play adherence: {model_dir} (template {name}; conversations per check: {args.conversations})"
    )
    print(summary_table(result))
    print(f"report: {out}")
    return 0


# ── during training ──────────────────────────────────────────────────────────────────────────────────


class RoleplayEvalCallback(TrainerCallback):
    """Runs the role-play evaluation on the model being trained at every evaluation (main process only).

    Reports go to ``OUTPUT_DIR/roleplay_eval/step-{global_step}/`` and one summary line per evaluation to
    ``OUTPUT_DIR/roleplay_eval/history.jsonl``. Generation is greedy unless ``temperature`` is set, and any
    sampling draws from a forked RNG, so training's random stream is untouched. The model goes back to
    train mode afterwards. Under DeepSpeed ZeRO-3 (parameters sharded over ranks) one process cannot
    generate alone: the callback refuses to start; evaluate saved checkpoints with ``llm-train eval
    roleplay`` instead.
    """

    def __init__(
        self,
        template: str,
        tokenizer: Any = None,
        checks: Sequence[Check] = DEFAULT_CHECKS,
        conversations: int = 2,
        turns: Sequence[int] = (1, 2, 4),
        max_new_tokens: int = 48,
        temperature: float = 0.0,
        user_side: UserSide | None = None,
        placement: Literal["system", "first_user"] = "system",
        user_name: str = "User",
        batch_size: int = 16,
        seed: int = 0,
    ):
        if template not in TEMPLATES or template == "plain":
            raise ValueError(f"the role-play evaluation needs a chat template; got {template!r}")
        self.turns = validate_settings(conversations, turns, max_new_tokens, flag="--roleplay_eval_")
        self.template, self.tokenizer, self.checks = template, tokenizer, list(checks)
        self.conversations, self.placement, self.user_name = conversations, placement, user_name
        self.sampling = Sampling(max_new_tokens, temperature)
        self.user_side = user_side or ListedUserTurns.bundled(conversations)
        self.batch_size, self.seed = batch_size, seed
        self._encoder: Any = None
        self._last_step: int | None = None

    @classmethod
    def from_training(cls, training: Any, template: str | None) -> RoleplayEvalCallback:
        """From the ``--roleplay_eval_*`` fields of :class:`~llm.train.args.StageArguments`."""
        if not template:
            raise ValueError("--roleplay_eval needs chat data rendered with a chat template")
        return cls(
            template,
            conversations=training.roleplay_eval_conversations,
            turns=training.roleplay_eval_turns,
            max_new_tokens=training.roleplay_eval_max_new_tokens,
            seed=training.seed,
        )

    def on_train_begin(self, args, state, control, **kwargs):
        from transformers.integrations import is_deepspeed_zero3_enabled

        if is_deepspeed_zero3_enabled():
            raise ValueError(
                "--roleplay_eval generates on the main process alone, which ZeRO-3's sharded parameters "
                "do not allow; use ZeRO-2, or run llm-train eval roleplay on saved checkpoints"
            )

    def on_evaluate(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or state.global_step == self._last_step:
            return  # one evaluation per step (sft evaluates again after the last step)
        import torch

        self._last_step = state.global_step
        model = kwargs["model"]
        if self._encoder is None:
            from llm.data.encode import Encoder

            tokenizer = self.tokenizer or kwargs.get("processing_class")
            if tokenizer is None:
                raise ValueError("RoleplayEvalCallback needs a tokenizer: pass one, or give the Trainer one")
            self._encoder = Encoder(tokenizer, self.template)
        was_training = model.training
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        try:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(self.seed)
                replier = LocalReplier(model, self._encoder, self.sampling, self.batch_size)
                result = evaluate(
                    replier,
                    self.checks,
                    self.user_side,
                    self.conversations,
                    self.turns,
                    self._encoder.template,
                    self.placement,
                    self.user_name,
                    progress=False,
                )
        finally:
            model.train(was_training)
        root = Path(args.output_dir) / "roleplay_eval"
        write_report(result, root / f"step-{state.global_step}", f"step {state.global_step}")
        line = {
            "step": state.global_step,
            "epoch": state.epoch,
            **{k: v for k, v in result.to_json().items() if k not in ("checks", "adherence_by_check")},
        }
        with (root / "history.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    sys.exit(main())
