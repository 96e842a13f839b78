"""``llm-train eval roleplay``: does the chatbot still obey an instruction given once, twenty turns later?

    llm-train eval roleplay --model runs/sft
    llm-train eval roleplay --model runs/gatt --turns 1 2 4 8 16 20 --conversations 8
    llm-train eval roleplay --model runs/gatt --checks my_checks.json --user_turns held_out.jsonl
    llm-train eval roleplay --model runs/gatt --user_model runs/sft      # a second model plays the user
    llm-train eval roleplay --model runs/gatt --checks suite:held_out --user_model self   # self-chat
    llm-train eval roleplay --model base --compare runs/gatt runs/rl --checks suite --turns 1 2 4 8

What is measured, and how, is :mod:`llm.eval.roleplay`; the report goes to ``--output_dir`` (default
``MODEL/eval_roleplay``): ``roleplay_eval.json``, ``adherence.png`` and ``transcripts.jsonl`` (and the
control's, ``control_transcripts.jsonl``); with ``--compare``, each model's report in a folder of its own
beside ``comparison.json`` and ``comparison.png`` (one line per model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from transformers import set_seed

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.data.cards import read_card
from llm.data.encode import Encoder
from llm.data.output import check_run_target, claim_run, finish_run, input_paths
from llm.data.sillytavern import ST_CONTEXT_HELP, ST_INSTRUCT_HELP, preset_template
from llm.data.sillytavern import label as template_label
from llm.data.templates import TEMPLATES
from llm.errors import UserError
from llm.eval.checks import DEFAULT_CHECKS, Check, load_checker
from llm.eval.instructions import load_checks
from llm.eval.roleplay import (
    DEFAULT_TURNS,
    REPORT_FILES,
    compare,
    comparison_files,
    comparison_table,
    summary_table,
    validate_settings,
    write_comparison,
    write_report,
)
from llm.eval.simulate import SELF_CHAT_USER, ListedUserTurns, ModelUserSide, UserSide
from llm.eval.suite import SPLITS, suite_checks
from llm.inference.cache import PrefixCache
from llm.inference.repliers import LocalReplier, Replier, Sampling
from llm.models.checkpoint import checkpoint_template, require_kind
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
    st_context: str | None = field(default=None, metadata={"help": ST_CONTEXT_HELP})
    st_instruct: str | None = field(default=None, metadata={"help": ST_INSTRUCT_HELP})
    checks: str | None = field(
        default=None,
        metadata={
            "help": "a JSON list of checks {family, instruction, kind, value, character?, probe?, facts?}, or "
            "the bundled persistence suite: suite, suite:train or suite:held_out (default: a small bundled set)"
        },
    )
    checker: list[str] | None = field(
        default=None,
        metadata={"help": "your own checkers module:function ((text, conversation) → score in [0, 1]), scored "
                  "on every measured reply beside the checks (in a checks file: kind checker)"},
    )  # fmt: skip
    compare: list[str] | None = field(
        default=None,
        metadata={"help": "more checkpoints evaluated on the same conversations and user turns as --model"},
    )
    control: bool = field(
        default=True,
        metadata={
            "help": "also run the same conversations with no instruction (does it obey when not asked?)"
        },
    )
    user_turns: list[str] | None = field(
        default=None,
        metadata={"help": "held-out chat data files (any chat source) whose user turns the user says"},
    )
    user_model: str | None = field(
        default=None,
        metadata={"help": "a checkpoint that plays the user (instead of listed user turns); self: self-chat"},
    )
    user_card: str | None = field(
        default=None,
        metadata={
            "help": "a card (Tavern JSON/PNG or ours) the user model plays; its name is the user's (self-chat default: Sam)"
        },
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
    repetition_penalty: float = field(
        default=1.0,
        metadata={"help": "penalty on a reply repeating its own tokens (never the prompt's: an instruction's "
                  "words stay free to say); 1: none"},
    )  # fmt: skip
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
    model_dir = _model_dir(args.model, "--model")
    others = [_model_dir(m, "--compare") for m in args.compare or []]
    out = (
        Path(args.output_dir)
        if args.output_dir
        else model_dir / ("eval_compare" if others else "eval_roleplay")
    )
    # The report's folder first: new, empty or a report of ours, and never one holding an input (the chats
    # of --user_turns, the models, the checks).
    check_run_target(out, [model_dir, *others, *input_paths(args)], args.overwrite, resume=None)
    turns = validate_settings(args.conversations, args.turns, args.max_new_tokens)
    sampling = Sampling(args.max_new_tokens, args.temperature, args.top_p, args.repetition_penalty)
    if args.batch_size < 1:
        raise UserError(f"--batch_size {args.batch_size}: must be 1 or more")
    if args.user_turns and args.user_model:
        raise UserError(
            "give --user_turns (listed user turns) or --user_model (a model plays the user), not both"
        )
    if args.user_card and not args.user_model:
        raise UserError("--user_card is the card a user model plays: give --user_model too (or self)")
    if not args.user_name.strip():
        raise UserError("--user_name: must not be empty")
    models = {model_dir.name: model_dir} | {d.name if d.name != model_dir.name else str(d): d for d in others}
    override = args.template or preset_template(args.st_context, args.st_instruct)
    names = {label: checkpoint_template(d, override) for label, d in models.items()}
    checks = read_checks(args.checks)
    checkers = {spec: load_checker(spec) for spec in args.checker or []}
    user_card = read_card(args.user_card) if args.user_card else None
    self_chat = args.user_model == "self"
    if self_chat and user_card is None:
        user_card = SELF_CHAT_USER
    user_name = user_card.name if user_card is not None else args.user_name
    if args.user_turns:
        listed = ListedUserTurns.from_chats(args.user_turns, args.conversations, max(turns))
    else:
        listed = ListedUserTurns.bundled(args.conversations)
    user_dir = _model_dir(args.user_model, "--user_model") if args.user_model and not self_chat else None
    if user_dir is not None:
        user_template = checkpoint_template(user_dir, args.user_template, flag="--user_template")

    planned = comparison_files(models) if others else REPORT_FILES
    claim_run(out, args.overwrite, planned)  # every check passed: the folder is ours from here
    repliers: dict[str, Replier] = {}
    templates = {}
    for label, directory in models.items():
        model, tokenizer = load_for_inference(
            directory, flag="--model" if directory == model_dir else "--compare"
        )
        encoder = Encoder(tokenizer, names[label])
        # Each conversation's keys and values kept from turn to turn: a turn runs only its new tokens.
        repliers[label] = LocalReplier(model, encoder, sampling, args.batch_size, PrefixCache())
        templates[label] = encoder.template
    first = next(iter(repliers))
    user_side: UserSide = listed
    if self_chat:  # the model under test (the first one: its user turns are replayed to the others)
        user_side = ModelUserSide(repliers[first], first_turns=listed, card=user_card)
    elif user_dir is not None:
        user_model, user_tokenizer = load_for_inference(user_dir, flag="--user_model")
        user_replier = LocalReplier(
            user_model, Encoder(user_tokenizer, user_template), sampling, args.batch_size, PrefixCache()
        )
        user_side = ModelUserSide(user_replier, first_turns=listed, card=user_card)
    set_seed(args.seed)
    results = compare(
        repliers,
        checks,
        user_side,
        args.conversations,
        turns,
        templates[first],
        args.placement,
        user_name,
        args.progress,
        control=args.control,
        checkers=checkers,
        templates=templates,
    )
    if others:
        write_comparison(results, out, "persistence: " + " vs ".join(results))
    else:
        write_report(results[first], out, f"{model_dir.name} (template {template_label(names[first])})")
    for label, result in results.items():
        print(
            f"role-play adherence: {models[label]} (template {template_label(names[label])}; conversations per check: {args.conversations})"
        )
        print(summary_table(result))
    if others:
        print(comparison_table(results))
    finish_run(out)
    print(f"report: {out}")
    return 0


def read_checks(spec: str | None) -> list[Check]:
    """The checks ``--checks`` names: a file, ``suite`` / ``suite:SPLIT``, or (None) the small bundled set."""
    if spec is None:
        return list(DEFAULT_CHECKS)
    if spec == "suite" or spec.startswith("suite:"):
        split = spec.partition(":")[2] or "all"
        if split not in SPLITS:
            raise UserError(f"--checks {spec}: unknown suite split (known: {', '.join(SPLITS)})")
        return suite_checks(split)  # type: ignore[arg-type]
    return load_checks(spec)


def _model_dir(name: str, flag: str) -> Path:
    directory = Path(resolve_model(name, flag))
    if not directory.is_dir():
        raise FileNotFoundError(f"{flag} {directory}: no such directory")
    require_kind(directory, "causal_lm", flag, "eval roleplay")
    return directory


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
