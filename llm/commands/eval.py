"""``llm-train eval roleplay``: does the chatbot still obey an instruction given once, twenty turns later?

    llm-train eval roleplay --model runs/sft
    llm-train eval roleplay --model runs/gatt --turns 1 2 4 8 16 20 --conversations 8
    llm-train eval roleplay --model runs/gatt --checks my_checks.json --user_turns held_out.jsonl
    llm-train eval roleplay --model runs/gatt --user_model runs/sft      # a second model plays the user

What is measured, and how, is :mod:`llm.eval.roleplay`; the report goes to ``--output_dir`` (default
``MODEL/eval_roleplay``): ``roleplay_eval.json``, ``adherence.png`` and ``transcripts.jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from transformers import set_seed

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.data.encode import Encoder
from llm.data.output import check_run_target, claim_run, finish_run, input_paths
from llm.data.templates import TEMPLATES
from llm.errors import UserError
from llm.eval.checks import DEFAULT_CHECKS
from llm.eval.instructions import load_checks
from llm.eval.roleplay import (
    DEFAULT_TURNS,
    REPORT_FILES,
    evaluate,
    summary_table,
    validate_settings,
    write_report,
)
from llm.eval.simulate import ListedUserTurns, ModelUserSide, UserSide
from llm.inference.repliers import LocalReplier, Sampling
from llm.models.checkpoint import checkpoint_template
from llm.models.loading import load_for_inference
from llm.models.resolve import resolve_model

PROG = "llm-train eval roleplay"
EVALUATIONS = ("roleplay",)


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
    overwrite: bool = field(
        default=False,
        metadata={"help": "replace a report of ours in --output_dir (never a folder of other files)"},
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar over turns"})


def run(args: RoleplayEvalArguments) -> int:
    # Everything cheap is checked before a model loads.
    model_dir = Path(resolve_model(args.model, "--model"))
    if not model_dir.is_dir():
        raise FileNotFoundError(f"--model {model_dir}: no such directory")
    out = Path(args.output_dir) if args.output_dir else model_dir / "eval_roleplay"
    # The report's folder first: new, empty or a report of ours, and never one holding an input (the chats
    # of --user_turns, the model, the checks).
    check_run_target(out, [model_dir, *input_paths(args)], args.overwrite, resume=None)
    turns = validate_settings(args.conversations, args.turns, args.max_new_tokens)
    sampling = Sampling(args.max_new_tokens, args.temperature, args.top_p)
    if args.batch_size < 1:
        raise UserError(f"--batch_size {args.batch_size}: must be 1 or more")
    if args.user_turns and args.user_model:
        raise UserError(
            "give --user_turns (listed user turns) or --user_model (a model plays the user), not both"
        )
    if not args.user_name.strip():
        raise UserError("--user_name: must not be empty")
    name = checkpoint_template(model_dir, args.template)
    checks = load_checks(args.checks) if args.checks else list(DEFAULT_CHECKS)
    if args.user_turns:
        listed = ListedUserTurns.from_chats(args.user_turns, args.conversations, max(turns))
    else:
        listed = ListedUserTurns.bundled(args.conversations)
    user_dir = Path(resolve_model(args.user_model, "--user_model")) if args.user_model else None
    if user_dir is not None:
        if not user_dir.is_dir():
            raise FileNotFoundError(f"--user_model {user_dir}: no such directory")
        user_template = checkpoint_template(user_dir, args.user_template, flag="--user_template")

    claim_run(out, args.overwrite, REPORT_FILES)  # every check passed: the folder is ours from here
    model, tokenizer = load_for_inference(model_dir)
    encoder = Encoder(tokenizer, name)
    replier = LocalReplier(model, encoder, sampling, args.batch_size)
    user_side: UserSide = listed
    if user_dir is not None:
        user_model, user_tokenizer = load_for_inference(user_dir, flag="--user_model")
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
    finish_run(out)
    print(f"report: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``llm-train eval NAME [...]``: the first word names the evaluation."""
    argv = argv_or_sys(argv)

    def body() -> int:
        if not argv or argv[0] not in EVALUATIONS:
            named = f" {argv[0]!r} is unknown;" if argv and not argv[0].startswith("-") else ""
            raise UserError(f"name an evaluation:{named} llm-train eval roleplay --model DIR [...]")
        (args,) = parse((RoleplayEvalArguments,), argv[1:], PROG)
        return run(args)

    prog = PROG if argv[:1] == ["roleplay"] else "llm-train eval"
    return run_command(prog, body)
