"""``make demo-persistence``: does Ghost Attention make a real chat model keep an instruction for more turns?

SmolLM2-135M-Instruct (fetched as ``make demo`` fetches it), on a CPU, from base to final in one run:

1. **Before**: the persistence suite (:mod:`llm.eval.suite`: 66 instructions in 10 families, each given once
   and probed in a branch at turns 1, 2, 4, 8), greedy, with the control (the same conversations given no
   instruction), and the loss on held-out chats of the bundled role-play sample.
2. **GAtt data sampled by the model itself** (:mod:`llm.train.gatt_synthesis`) on the suite's **train**
   families only: small-talk dialogues (``llm/data/samples/small_talk.txt``, not the evaluation's user
   turns), the instruction attached to every user turn while sampling, the check's probe asked at some
   turns, every reply checked; a disobedient reply is re-sampled, and ends its dialogue if it still fails.
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

import argparse
import json
import os
import random
import time
from pathlib import Path

import torch

from llm.commands.cli import run_command
from llm.commands.demo import PlannedBudget
from llm.data.conversation import Conversation
from llm.data.encode import Encoder
from llm.data.output import check_run_target, claim_run, finish_run
from llm.data.process import DataArguments, Report, convert_records
from llm.data.samples import PIPPA_SAMPLE, SMALL_TALK
from llm.data.sources import get_source
from llm.eval.checks import Check
from llm.eval.persistence import chat_loss, plot_persistence, scores_table, split_curves, targets
from llm.eval.roleplay import RoleplayResult, evaluate, write_report
from llm.eval.simulate import ListedUserTurns, ReplayedUserTurns, UserSide
from llm.eval.suite import suite_checks, suite_families
from llm.inference.cache import PrefixCache
from llm.inference.repliers import LocalReplier, Sampling
from llm.models.loading import ModelArguments, load_for_inference
from llm.models.resolve import resolve_model
from llm.train.args import StageArguments
from llm.train.gatt_synthesis import SUITE_TRAIN, SynthesisArguments, synthesize
from llm.train.sft import run as run_sft

BASE = "smollm2-135m-instruct"
TEMPLATE = "tokenizer"  # the model's own chat template: trained in the format it is served with
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


def role_play_chats(held_out: int, max_messages: int) -> tuple[list[Conversation], list[Conversation]]:
    """The bundled role-play sample's chats (each cut to its first ``max_messages`` messages, so a chat fits
    a row): (training chats, the last ``held_out`` for the chat loss)."""
    data = DataArguments(dataset="pippa", data_files=[str(PIPPA_SAMPLE)], user_name="Sam")
    convs = [conv for _, conv in convert_records(data, get_source("pippa"), None, Report())]
    cut = [Conversation(c.messages[:max_messages], c.character) for c in convs]
    return cut[:-held_out], cut[-held_out:]


def spread(checks: list[Check], per_family: int | None) -> list[Check]:
    """At most ``per_family`` checks of each family, spread over its list (a family's checks come grouped by
    card or rule, so every other one keeps the variety); None: all of them.

    >>> from llm.eval.suite import suite_checks
    >>> picked = spread(suite_checks(), 4)
    >>> len(picked), len({c.character.name for c in picked if c.family == "persona"})
    (40, 3)
    """
    if per_family is None:
        return list(checks)
    by_family: dict[str, list[Check]] = {}
    for check in checks:
        by_family.setdefault(check.family, []).append(check)
    picked = []
    for items in by_family.values():
        n = min(per_family, len(items))
        picked += [items[k * len(items) // n] for k in range(n)]  # evenly over the whole family
    return picked


def evaluation(model_dir: str, args: argparse.Namespace, user_side: UserSide) -> RoleplayResult:
    model, tokenizer = load_for_inference(model_dir)
    encoder = Encoder(tokenizer, TEMPLATE)
    sampling = Sampling(max_new_tokens=args.max_new_tokens)
    # Every conversation's keys and values kept: 66 conversations of up to ~1,000 tokens (about 6 GB).
    replier = LocalReplier(model, encoder, sampling, args.batch_size, PrefixCache(max_tokens=1 << 17))
    return evaluate(replier, spread(suite_checks("all"), args.checks_per_family), user_side, args.conversations, args.turns, encoder.template,
                    user_name="User", control=True)  # fmt: skip


def held_out_loss(model_dir: str, chats: list[Conversation]) -> float:
    model, tokenizer = load_for_inference(model_dir)
    return chat_loss(model, Encoder(tokenizer, TEMPLATE), chats, ROW_TOKENS)


def main(argv: list[str] | None = None) -> int:
    """The demo; a target that is not ours (or a bad flag) is one line and exit 2, as in every command."""
    return run_command("llm-train demo-persistence", lambda: run_demo(argv))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llm-train demo-persistence", description=__doc__.splitlines()[0])
    p.add_argument("--run_dir", default="runs/demo-persistence", help="where everything goes")
    p.add_argument(
        "--model", default=BASE, help="the base model (hub id, directory, .gguf, or a named default)"
    )
    p.add_argument("--conversations", type=int, default=1, help="evaluation conversations per suite check")
    p.add_argument(
        "--checks_per_family",
        type=int,
        default=4,
        help="suite checks evaluated per family (0: all 66; the demo's default keeps it under 30 min)",
    )
    p.add_argument("--turns", type=int, nargs="+", default=[1, 2, 4, 8], help="the measured turns")
    p.add_argument("--max_new_tokens", type=int, default=40, help="longest evaluation reply, in tokens")
    p.add_argument("--batch_size", type=int, default=66, help="conversations generated together")
    p.add_argument(
        "--gatt_dialogues", type=int, default=96, help="GAtt dialogues sampled (train checks cycled)"
    )
    p.add_argument("--gatt_turns", type=int, default=4, help="user turns per GAtt dialogue")
    p.add_argument("--chats", type=int, default=96, help="role-play chats mixed into the training data")
    p.add_argument(
        "--held_out_chats", type=int, default=20, help="role-play chats kept out for the chat loss"
    )
    p.add_argument("--minutes", type=float, default=6.0, help="LoRA training time budget")
    p.add_argument("--max_steps", type=int, default=400, help="most LoRA steps, whatever the time")
    p.add_argument("--learning_rate", type=float, default=2e-4, help="LoRA learning rate")
    p.add_argument("--seed", type=int, default=0, help="seed for the dialogues, sampling and training")
    return p


def run_demo(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.checks_per_family = args.checks_per_family or None
    t0 = time.perf_counter()
    run_dir = Path(args.run_dir)
    check_run_target(run_dir, [Path(args.model), PIPPA_SAMPLE], overwrite=True)  # replaces only its own run
    claim_run(run_dir, overwrite=True, planned=DEMO_FILES)
    times: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        times[name] = round(now - clock[0], 1)
        clock[0] = now
        print(f"   ({name}: {times[name]:.0f} s)")

    train_families, held_out_families = suite_families()
    base = resolve_model(args.model)
    chats, held_out = role_play_chats(args.held_out_chats, max_messages=9)

    print(f"── 1/4 before: {base} on the persistence suite (turns {' '.join(map(str, args.turns))}), "
          f"the control, and the chat loss")  # fmt: skip
    before = evaluation(base, args, ListedUserTurns.bundled(args.conversations))
    write_report(before, run_dir / "eval_before", "before: " + args.model)
    loss_before = held_out_loss(base, held_out)
    lap("evaluate_before")

    print(f"\n── 2/4 GAtt data sampled by the base model on the train families ({', '.join(train_families)})")
    dialogues = run_dir / "dialogues.jsonl"
    small_talk_dialogues(dialogues, args.gatt_dialogues, args.gatt_turns, args.seed)
    gatt = synthesize(
        SynthesisArguments(
            data_files=[str(dialogues)], dataset="openai", output=str(run_dir / "gatt"), model=base,
            template=TEMPLATE, instructions=SUITE_TRAIN, max_turns=args.gatt_turns, skip_first=1,
            probe_share=0.4, per_dialogue=True, max_new_tokens=40, temperature=0.7, resample=2,
            batch_size=args.batch_size, max_length=ROW_TOKENS, seed=args.seed, overwrite=True,
        )
    )  # fmt: skip
    synthesis = gatt["gatt_synthesis"]
    print(f"   {synthesis['samples']} GAtt samples from {synthesis['dialogues_used']} dialogues "
          f"({synthesis['replies_sampled']} replies sampled, {synthesis['replies_failing_first_try']} failed at "
          f"first, {sum(synthesis['dialogues_ended_early'].values())} dialogues ended early)")  # fmt: skip
    lap("gatt_synthesis")

    print(f"\n── 3/4 LoRA SFT on the GAtt samples + {min(args.chats, len(chats))} role-play chats "
          f"(≤ {args.minutes:g} min)")  # fmt: skip
    mix = run_dir / "train_mix.jsonl"
    gatt_records = (run_dir / "gatt" / "gatt.jsonl").read_text(encoding="utf-8").splitlines()
    with mix.open("w", encoding="utf-8") as f:
        for line in gatt_records:
            record = json.loads(line)
            record.pop("gatt", None)
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        for conv in chats[: args.chats]:
            f.write(json.dumps(conv.to_dict(), ensure_ascii=False) + "\n")
    model_dir = run_dir / "model"
    data = DataArguments(dataset="openai", data_files=[str(mix)], tokenizer=base, template=TEMPLATE,
                         max_length=ROW_TOKENS)  # fmt: skip
    training = StageArguments(
        output_dir=str(model_dir), max_steps=args.max_steps, num_train_epochs=1, per_device_train_batch_size=1,
        gradient_accumulation_steps=4, learning_rate=args.learning_rate, lr_scheduler_type="constant_with_warmup",
        warmup_steps=5, logging_steps=5, save_strategy="no", report_to="none", use_cpu=True, seed=args.seed,
        disable_tqdm=False, overwrite=True,
    )  # fmt: skip
    lora = ModelArguments(model_name_or_path=base, lora_r=16, lora_alpha=32, torch_dtype="float32")
    budget = PlannedBudget(args.minutes * 60)
    run_sft(lora, data, training, callbacks=[budget])
    history = json.loads((model_dir / "log_history.json").read_text())
    steps = max((e.get("step", 0) for e in history), default=0)
    lap("train")

    print("\n── 4/4 after: the same conversations and user turns, the same chat loss")
    after = evaluation(str(model_dir), args, ReplayedUserTurns(before.transcripts))
    write_report(after, run_dir / "eval_after", "after GAtt LoRA: " + args.model)
    loss_after = held_out_loss(str(model_dir), held_out)
    lap("evaluate_after")

    runs = {
        "base": split_curves(before, train_families, held_out_families),
        "final": split_curves(after, train_families, held_out_families),
    }
    plot_persistence(runs, run_dir / "persistence.png", f"persistence: {args.model}, base vs GAtt LoRA")
    goals = targets(runs["base"], runs["final"], loss_before, loss_after)
    summary = {
        "base_model": args.model,
        "base_model_resolved": base,
        "checkpoint": str(model_dir),
        "recipe": {k: v for k, v in vars(args).items() if k != "run_dir"},
        "families": {"train": list(train_families), "held_out": list(held_out_families)},
        "conversations": before.conversations,
        "scores": {
            name: {split: curve.to_json() for split, curve in curves.items()} for name, curves in runs.items()
        },
        "by_family": {"base": before.to_json()["scores"], "final": after.to_json()["scores"]},
        "chat_loss": {"base": round(loss_before, 4), "final": round(loss_after, 4)},
        "gatt": {
            k: synthesis[k]
            for k in (
                "samples",
                "dialogues_used",
                "replies_sampled",
                "replies_failing_first_try",
                "replies_resampled",
                "families",
                "dialogues_ended_early",
            )
        },  # fmt: skip
        "trained_steps": steps,
        "targets": {t.name: t.to_json() for t in goals},
        "seconds": {**times, "total": round(time.perf_counter() - t0, 1)},
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__},
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    finish_run(run_dir)
    print("\n" + scores_table(runs, {"base": loss_before, "final": loss_after}))
    print("\ntargets:")
    for t in goals:
        print(f"  {'met    ' if t.met else 'NOT met'}  {t.name}: {t.value:.3f} (bar {t.bar:.3f})")
    print(f"\n{summary['seconds']['total']:.0f} s in all; summary: {run_dir / 'summary.json'}; "
          f"plot: {run_dir / 'persistence.png'}; checkpoint (merged): {model_dir}")  # fmt: skip
    return 0
