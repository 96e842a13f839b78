"""``make demo-persistence``: does Ghost Attention make a real chat model keep an instruction for more turns?

SmolLM2-135M-Instruct (fetched as ``make demo`` fetches it), on a CPU, from base to final in one run:

1. **Before**: the persistence suite (:mod:`llm.eval.suite`: 66 instructions in 10 families, each given once
   and probed in a branch at turns 1, 2, 4, 8), greedy, with the control (the same conversations given no
   instruction), and the loss on held-out chats of the bundled role-play sample.
2. **GAtt data sampled by the model itself** (:mod:`llm.train.gatt_synthesis`) on the suite's **train**
   families only: small-talk dialogues (``llm/data/samples/small_talk.txt``, not the evaluation's user
   turns), the instruction attached to every user turn while sampling, the check's probe asked at some
   turns, every reply checked; a disobedient reply is re-sampled, and ends its dialogue if it still fails;
   one that runs into the token limit is cut at its last full sentence.
   The samples give the instruction once, at the start, and train every sampled reply after the first.
3. **LoRA SFT** on the GAtt samples mixed with ordinary chats of the bundled role-play sample (so the model
   does not forget how to chat), the step budget planned from measured step time (``--minutes``).
4. **After**: the same evaluation, replaying the very user turns of step 1; the same chat loss.

``--run_dir`` (default ``runs/demo-persistence``) gets ``summary.json`` (the merged checkpoint's path under
``"checkpoint"``, base and final scores by turn for train and held-out families, the control, chat loss
before and after, the targets met or not), ``persistence.png`` (score by turn, base vs final, train vs
held-out), the evaluation reports, the GAtt data and the model. The table is printed.

    $ make demo-persistence          # or: llm-train demo-persistence [--minutes 6] [--run_dir DIR]
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.commands.demo import PlannedBudget
from llm.data.conversation import Conversation
from llm.data.encode import Encoder
from llm.data.output import check_run_target, claim_run, finish_run
from llm.data.process import DataArguments, Report, convert_records
from llm.data.samples import PIPPA_SAMPLE, SMALL_TALK
from llm.data.sources import get_source
from llm.errors import UserError
from llm.eval.checks import Check
from llm.eval.persistence import chat_loss, plot_persistence, scores_table, split_curves, targets
from llm.eval.roleplay import Curve, RoleplayResult, evaluate, write_report
from llm.eval.simulate import ListedUserTurns, ReplayedUserTurns
from llm.eval.suite import suite_checks, suite_families
from llm.inference.cache import PrefixCache
from llm.inference.repliers import LocalReplier, Replier, Sampling
from llm.models.loading import ModelArguments, load_for_inference
from llm.models.resolve import resolve_model
from llm.train.args import StageArguments
from llm.train.gatt_synthesis import SUITE_TRAIN, SynthesisArguments, synthesize
from llm.train.sft import run as run_sft

PROG = "llm-train demo-persistence"
BASE = "smollm2-135m-instruct"
ROW_TOKENS = 1024
# What the demo writes in its --run_dir, claimed before it writes them (the model folder is an sft run).
DEMO_FILES = (
    "eval_before",
    "eval_after",
    "gatt",
    "dialogues.jsonl",
    "train_mix.jsonl",
    "model",
    "persistence.png",
    "summary.json",
)


@dataclass
class Recipe:
    """What ``demo-persistence`` (and ``bench/real_persistence.py``) runs; every field is a flag."""

    run_dir: str = field(default="runs/demo-persistence", metadata={"help": "where everything goes"})
    model: str = field(
        default=BASE, metadata={"help": "the base model (hub id, directory, .gguf, or a named default)"}
    )
    template: str = field(
        default="tokenizer", metadata={"help": "chat template (default: the model's own, as it is served)"}
    )
    conversations: int = field(default=1, metadata={"help": "evaluation conversations per suite check"})
    checks_per_family: int = field(
        default=4,
        metadata={"help": "suite checks evaluated per family (0: all 66; 4 keeps the demo under 30 min)"},
    )
    turns: list[int] = field(default_factory=lambda: [1, 2, 4, 8], metadata={"help": "the measured turns"})
    max_new_tokens: int = field(default=48, metadata={"help": "longest reply, in tokens"})
    repetition_penalty: float = field(
        default=1.3,
        metadata={
            "help": "on a reply's own tokens (a 135M model loops without; the prompt's words stay free)"
        },
    )
    batch_size: int = field(default=66, metadata={"help": "conversations generated together"})
    gatt_dialogues: int = field(default=96, metadata={"help": "GAtt dialogues sampled (train checks cycled)"})
    gatt_turns: int = field(default=4, metadata={"help": "user turns per GAtt dialogue"})
    chats: int = field(default=48, metadata={"help": "role-play chats mixed into the training data"})
    held_out_chats: int = field(default=20, metadata={"help": "role-play chats kept out for the chat loss"})
    minutes: float = field(default=6.0, metadata={"help": "LoRA training time budget"})
    max_steps: int = field(default=400, metadata={"help": "most LoRA steps, whatever the time"})
    learning_rate: float = field(default=2e-4, metadata={"help": "LoRA learning rate"})
    seed: int = field(default=0, metadata={"help": "seed for the dialogues, sampling and training"})
    gatt_check: bool = field(
        default=True,
        metadata={"help": "keep only GAtt replies that pass their check (false: every reply, an ablation)"},
    )

    def validate(self) -> None:
        for name in ("conversations", "max_new_tokens", "batch_size", "gatt_dialogues", "held_out_chats"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} {getattr(self, name)}: must be 1 or more")
        if self.gatt_turns < 2:
            raise UserError(
                f"--gatt_turns {self.gatt_turns}: must be 2 or more (the first reply is not trained)"
            )
        if not self.turns or min(self.turns) < 1:
            raise UserError(f"--turns {self.turns}: give turns of 1 or more")


def small_talk_dialogues(path: Path, count: int, turns: int, seed: int) -> None:
    """``count`` chats of ``turns`` user turns drawn from the bundled small talk, written as OpenAI messages
    records (the assistant slots are placeholders: GAtt synthesis keeps only the user turns)."""
    lines = [s for s in SMALL_TALK.read_text(encoding="utf-8").splitlines() if s.strip()]
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for _ in range(count):
            messages = []
            for line in rng.sample(lines, turns):
                messages += [{"role": "user", "content": line}, {"role": "assistant", "content": "…"}]
            f.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")


def role_play_chats(held_out: int, max_messages: int = 9) -> tuple[list[Conversation], list[Conversation]]:
    """The bundled role-play sample's chats (each cut to its first ``max_messages`` messages, so a chat fits
    a row): (training chats, the last ``held_out`` for the chat loss)."""
    data = DataArguments(dataset="pippa", data_files=[str(PIPPA_SAMPLE)], user_name="Sam")
    convs = [conv for _, conv in convert_records(data, get_source("pippa"), None, Report())]
    cut = [Conversation(c.messages[:max_messages], c.character) for c in convs]
    return cut[:-held_out], cut[-held_out:]


def spread(checks: list[Check], per_family: int | None) -> list[Check]:
    """At most ``per_family`` checks of each family, evenly over its list (a family's checks come grouped by
    card or rule, so this keeps the variety); None or 0: all of them.

    >>> from llm.eval.suite import suite_checks
    >>> picked = spread(suite_checks(), 4)
    >>> len(picked), len({c.character.name for c in picked if c.family == "persona"})
    (40, 3)
    """
    if not per_family:
        return list(checks)
    by_family: dict[str, list[Check]] = {}
    for check in checks:
        by_family.setdefault(check.family, []).append(check)
    picked = []
    for items in by_family.values():
        n = min(per_family, len(items))
        picked += [items[k * len(items) // n] for k in range(n)]
    return picked


@dataclass
class Measured:
    """One model on the suite (its transcripts kept, so the next model hears the same user turns) and its
    chat loss; ``curves`` split into train, held-out and control (:func:`llm.eval.persistence.split_curves`)."""

    result: RoleplayResult
    loss: float
    curves: dict[str, Curve]


def measure(
    model_dir: str, recipe: Recipe, out: Path, title: str, same_as: Measured | None = None
) -> Measured:
    """The suite (train and held-out families, with the control) and the chat loss of ``model_dir``; with
    ``same_as``, on the very user turns that run heard."""
    model, tokenizer = load_for_inference(model_dir)
    encoder = Encoder(tokenizer, recipe.template)
    sampling = Sampling(recipe.max_new_tokens, repetition_penalty=recipe.repetition_penalty)
    # Every conversation's keys and values kept: 66 conversations of up to ~1,000 tokens (about 6 GB).
    replier = LocalReplier(model, encoder, sampling, recipe.batch_size, PrefixCache(max_tokens=1 << 17))
    users = (
        ReplayedUserTurns(same_as.result.transcripts)
        if same_as
        else ListedUserTurns.bundled(recipe.conversations)
    )
    checks = spread(suite_checks("all"), recipe.checks_per_family)
    result = evaluate(replier, checks, users, recipe.conversations, recipe.turns, encoder.template,
                      user_name="User", control=True)  # fmt: skip
    write_report(result, out, title)
    _, held_out = role_play_chats(recipe.held_out_chats)
    loss = chat_loss(model, encoder, held_out, ROW_TOKENS)
    return Measured(result, loss, split_curves(result, *suite_families()))


def gatt_data(base: str, recipe: Recipe, run_dir: Path, replier: Replier | None = None) -> dict:
    """GAtt samples sampled by ``base`` itself on the suite's train families (``run_dir/gatt``); ``replier``
    samples instead of ``base`` (tests, smoke runs), the samples still encoded for ``base``."""
    dialogues = run_dir / "dialogues.jsonl"
    small_talk_dialogues(dialogues, recipe.gatt_dialogues, recipe.gatt_turns, recipe.seed)
    stats = synthesize(
        SynthesisArguments(
            data_files=[str(dialogues)], dataset="openai", output=str(run_dir / "gatt"), model=base,
            template=recipe.template, instructions=SUITE_TRAIN, max_turns=recipe.gatt_turns, skip_first=1,
            probe_share=0.4, per_dialogue=True, max_new_tokens=recipe.max_new_tokens, temperature=0.7,
            repetition_penalty=recipe.repetition_penalty, unfinished="cut",
            resample=2, check_replies=recipe.gatt_check, batch_size=recipe.batch_size, max_length=ROW_TOKENS,
            seed=recipe.seed, overwrite=True, tokenizer=base if replier else None,
        ),
        replier,
    )  # fmt: skip
    return stats["gatt_synthesis"]


def finetune(base: str, recipe: Recipe, run_dir: Path) -> tuple[Path, int]:
    """LoRA SFT of ``base`` on the GAtt samples mixed with role-play chats; the merged model and its steps."""
    mix = run_dir / "train_mix.jsonl"
    chats, _ = role_play_chats(recipe.held_out_chats)
    with mix.open("w", encoding="utf-8") as f:
        for line in (run_dir / "gatt" / "gatt.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            record.pop("gatt", None)  # where the sample came from: not a field of a chat record
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        for conv in chats[: recipe.chats]:
            f.write(json.dumps(conv.to_dict(), ensure_ascii=False) + "\n")
    model_dir = run_dir / "model"
    data = DataArguments(dataset="openai", data_files=[str(mix)], tokenizer=base, template=recipe.template,
                         max_length=ROW_TOKENS)  # fmt: skip
    training = StageArguments(
        output_dir=str(model_dir), max_steps=recipe.max_steps, per_device_train_batch_size=1,
        gradient_accumulation_steps=4, learning_rate=recipe.learning_rate, lr_scheduler_type="constant_with_warmup",
        warmup_steps=5, logging_steps=5, save_strategy="no", report_to="none", use_cpu=True, seed=recipe.seed,
        disable_tqdm=False, overwrite=True,
    )  # fmt: skip
    lora = ModelArguments(model_name_or_path=base, lora_r=16, lora_alpha=32, torch_dtype="float32")
    run_sft(lora, data, training, callbacks=[PlannedBudget(recipe.minutes * 60)])
    history = json.loads((model_dir / "log_history.json").read_text())
    return model_dir, max((e.get("step", 0) for e in history), default=0)


def main(argv: list[str] | None = None) -> int:
    """The demo; a target that is not ours (or a bad flag) is one line and exit 2, as in every command."""

    def body() -> int:
        (recipe,) = parse((Recipe,), argv_or_sys(argv), PROG)
        recipe.validate()
        return run_demo(recipe)

    return run_command(PROG, body)


def run_demo(recipe: Recipe) -> int:
    t0 = time.perf_counter()
    run_dir = Path(recipe.run_dir)
    check_run_target(run_dir, [Path(recipe.model), PIPPA_SAMPLE], overwrite=True)  # replaces only its own run
    claim_run(run_dir, overwrite=True, planned=DEMO_FILES)
    times: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        times[name] = round(now - clock[0], 1)
        clock[0] = now
        print(f"   ({name}: {times[name]:.0f} s)")

    train_families, held_out_families = suite_families()
    base = resolve_model(recipe.model)
    turns = " ".join(map(str, recipe.turns))
    print(
        f"── 1/4 before: {recipe.model} on the persistence suite (turns {turns}), the control, the chat loss"
    )
    before = measure(base, recipe, run_dir / "eval_before", "before: " + recipe.model)
    lap("evaluate_before")

    print(f"\n── 2/4 GAtt data sampled by the base model on the train families ({', '.join(train_families)})")
    synthesis = gatt_data(base, recipe, run_dir)
    ended = sum(synthesis["dialogues_ended_early"].values())
    print(f"   {synthesis['samples']} GAtt samples from {synthesis['dialogues_used']} dialogues "
          f"({synthesis['replies_sampled']} replies sampled, {synthesis['replies_failing_first_try']} failed at "
          f"first, {ended} dialogues ended early)")  # fmt: skip
    lap("gatt_synthesis")

    print(
        f"\n── 3/4 LoRA SFT on the GAtt samples + {recipe.chats} role-play chats (≤ {recipe.minutes:g} min)"
    )
    model_dir, steps = finetune(base, recipe, run_dir)
    lap("train")

    print("\n── 4/4 after: the same conversations and user turns, the same chat loss")
    after = measure(
        str(model_dir), recipe, run_dir / "eval_after", "after GAtt LoRA: " + recipe.model, before
    )
    lap("evaluate_after")

    runs = {"base": before.curves, "final": after.curves}
    plot_persistence(runs, run_dir / "persistence.png", f"persistence: {recipe.model}, base vs GAtt LoRA")
    goals = targets(before.curves, after.curves, before.loss, after.loss)
    summary = {
        "base_model": recipe.model,
        "base_model_resolved": base,
        "checkpoint": str(model_dir),
        "recipe": {k: v for k, v in asdict(recipe).items() if k != "run_dir"},
        "families": {"train": list(train_families), "held_out": list(held_out_families)},
        "conversations": before.result.conversations,
        "scores": {
            name: {split: c.to_json() for split, c in curves.items()} for name, curves in runs.items()
        },
        "by_family": {"base": before.result.to_json()["scores"], "final": after.result.to_json()["scores"]},
        "chat_loss": {"base": round(before.loss, 4), "final": round(after.loss, 4)},
        "gatt": {k: synthesis[k] for k in GATT_KEYS},
        "trained_steps": steps,
        "targets": {t.name: t.to_json() for t in goals},
        "seconds": {**times, "total": round(time.perf_counter() - t0, 1)},
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__},
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    finish_run(run_dir)
    print("\n" + scores_table(runs, {"base": before.loss, "final": after.loss}))
    print("\ntargets:")
    for t in goals:
        print(f"  {'met    ' if t.met else 'NOT met'}  {t.name}: {t.value:.3f} (bar {t.bar:.3f})")
    print(f"\n{summary['seconds']['total']:.0f} s in all; summary: {run_dir / 'summary.json'}; "
          f"plot: {run_dir / 'persistence.png'}; checkpoint (merged): {model_dir}")  # fmt: skip
    return 0


GATT_KEYS = ("samples", "dialogues_used", "replies_sampled", "replies_failing_first_try", "replies_resampled",
             "families", "dialogues_ended_early")  # fmt: skip
