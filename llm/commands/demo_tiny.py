"""``make demo-tiny``: the pipeline on the bundled sample with a tiny Llama trained from scratch, on a CPU in minutes.

1. **Data**: read the bundled PIPPA-format role-play sample (10 original characters, 200 chats), render
   every chat with the character-aware ``pygmalion`` template, encode it with exact loss masks, show one
   sample the way ``llm-train show-sample`` does, and build the stacked dataset (windows + packed rows).
2. **Train**: a small Llama (4.5M parameters) from scratch on the stacked rows with the Trainer, evaluated
   on held-out chats before, during and after; checkpoint, ``loss_curve.png`` and metrics in the run dir.
3. **Chat**: a short scripted chat with one of the characters, and the ``llm-train chat`` command to go on.

    $ make demo-tiny                 # or: llm-train demo-tiny [--steps 360] [--run_dir runs/demo-tiny]

The hyper-parameters are a recipe, ``configs/demo_tiny.yaml`` (shipped as ``llm/configs/demo_tiny.yaml``);
``--recipe FILE`` puts your own on top of it (:mod:`llm.commands.recipes`).

A model this small, trained for minutes on 200 chats, learns the format, the characters' names and
their vocabulary — not sense. The point is the pipeline: the same commands train a 7B model on a GPU.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from llm.commands.chat import main as chat_main
from llm.commands.cli import run_command
from llm.commands.recipes import Section, apply_flags, load_recipe
from llm.data.encode import Encoder
from llm.data.output import check_run_target, claim_run, finish_run
from llm.data.process import DataArguments
from llm.data.samples import PIPPA_SAMPLE as SAMPLE
from llm.data.show import print_view, render_view
from llm.data.sources import pippa
from llm.data.sources.files import read_records
from llm.data.stacking import WindowStats, pack, windows
from llm.data.tokenizer import build_tokenizer
from llm.models.loading import ModelArguments
from llm.train.args import StageArguments
from llm.train.callbacks import TimeBudget
from llm.train.sft import run

TOKENIZER_DIR = "tokenizer-trained-on-sample"

# What a recipe holds: each section the keyword arguments of one class, but for what the demo sets itself.
RECIPE = {
    "minutes": float,
    "model": Section(ModelArguments, fixed=("model_name_or_path",)),
    "data": Section(DataArguments, fixed=("dataset", "data_files", "tokenizer")),
    "training": Section(StageArguments, fixed=("output_dir",)),
}

# The flags that override the recipe: flag → the recipe keys it sets.
FLAGS = {
    "template": ("data.template",),
    "steps": ("training.max_steps",),
    "minutes": ("minutes",),
    "model_config": ("model.model_config",),
}


def main(argv: list[str] | None = None) -> int:
    """The demo; a target that is not ours (or a bad flag) is one line and exit 2, as in every command."""
    return run_command("llm-train demo-tiny", lambda: run_demo(argv))


def run_demo(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-train demo-tiny", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SAMPLE), help="PIPPA-format JSON Lines")
    parser.add_argument("--recipe", dest="recipe_file", help="a YAML recipe on top of configs/demo_tiny.yaml")
    parser.add_argument("--template", default=None, help="chat template (recipe: pygmalion)")
    parser.add_argument("--show", type=int, default=None, help="record index to show (default: a short one)")
    parser.add_argument("--run_dir", default="runs/demo-tiny", help="where the checkpoint and curves go")
    parser.add_argument("--steps", type=int, default=None, help="training steps, 0: data only (recipe: 360)")
    parser.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="stop training after this long, whatever --steps (recipe: 4)",
    )
    parser.add_argument(
        "--model_config", default=None, help="named model config, tiny or small (recipe: small)"
    )
    args = parser.parse_args(argv)
    args.recipe = recipe = load_recipe("demo_tiny", RECIPE, args.recipe_file)
    apply_flags(recipe, vars(args), FLAGS)
    args.template, args.steps = recipe["data"]["template"], recipe["training"]["max_steps"]
    args.minutes, args.model_config = recipe["minutes"], recipe["model"]["model_config"]
    if (
        args.steps > 0
    ):  # a demo replaces its own previous run, never a folder of other files (llm.data.output)
        check_run_target(Path(args.run_dir), [Path(args.data)], overwrite=True)
        claim_run(Path(args.run_dir), overwrite=True, planned=[TOKENIZER_DIR])
    convs, tokenizer, data = prepare(args)
    if args.steps <= 0:
        return 0
    train(args, tokenizer, data)
    chat(args, record_index=0)
    return 0


def prepare(args: argparse.Namespace):
    """The data half: read, render, encode, show, stack; returns the chats and the tokenizer."""
    t0 = time.perf_counter()
    data = os.path.relpath(args.data)
    records = list(read_records(data))
    convs = [pippa.to_conversation(record, record_id) for record_id, record in records]
    characters = {c.character.name for c in convs}
    print(f"read {len(convs)} conversations with {len(characters)} characters from {data}")

    # A tokenizer trained on the sample itself (seconds, no download); real runs pass a model's tokenizer.
    corpus = [m.content for c in convs for m in c.messages]
    tokenizer = build_tokenizer("metaspace", vocab_size=4000, corpus=corpus)
    encoder = Encoder(tokenizer, args.template)

    samples = []
    batch = 32
    for start in tqdm(range(0, len(convs), batch), desc="encoding", unit="batch", leave=False):
        samples.extend(encoder.encode_batch(convs[start : start + batch]))

    lengths = sorted(len(s) for s in samples)
    tokens = sum(lengths)
    trained = sum(s.num_trained for s in samples)
    show = (
        args.show
        if args.show is not None
        else min(range(len(samples)), key=lambda i: abs(len(samples[i]) - 160))
    )
    print()
    print_view(render_view(encoder, convs[show]), f"{records[show][0]}  template={encoder.template.name}")
    print()
    print(f"conversations     {len(samples)}")
    print(f"messages          {sum(len(c.messages) for c in convs)}")
    print(f"tokens            {tokens}  (trained {trained}, {trained / tokens:.1%})")
    print(
        f"sample length     min {lengths[0]}  median {int(statistics.median(lengths))}  "
        f"p90 {lengths[int(0.9 * (len(lengths) - 1))]}  max {lengths[-1]}"
    )
    print(f"over 2,048 tokens {sum(n > 2048 for n in lengths)}")

    # The stacked dataset: long chats cut into windows that keep the card in view, then packed rows.
    stats = WindowStats()
    stacked = [(i, w) for i, c in enumerate(convs) for w in windows(c, encoder, 2048, stats=stats)]
    rows, efficiency = pack([w for _, w in stacked], [i for i, _ in stacked], 2048)
    print(
        f"stacked (2,048)   {stats.windows} windows from {len(convs)} chats ({stats.chats_split} split), "
        f"packed into {len(rows)} rows at {efficiency:.1%} efficiency"
    )
    print(f"data half done in {time.perf_counter() - t0:.1f}s")
    print()
    print("Look at any record's mask (with the built-in tiny tokenizer, or yours) with:")
    print(
        f"  .venv/bin/llm-train show-sample --template {encoder.template.name} --tokenizer tiny:metaspace "
        f"--data {data} --index {show}"
    )
    return convs, tokenizer, data


def train(args: argparse.Namespace, tokenizer, data: str) -> None:
    """SFT of a small Llama from scratch on the stacked sample."""
    run_dir = Path(args.run_dir)
    # Saved aside while the sft run claims run_dir (an input inside the output would be refused), kept after.
    tokenizer_dir = Path(tempfile.mkdtemp(prefix="llm-train-demo-tiny-")) / TOKENIZER_DIR
    tokenizer.save_pretrained(str(tokenizer_dir))
    print()
    print(
        f"── training a {args.model_config} Llama from scratch for {args.steps} steps (≤ {args.minutes:g} min)"
    )
    model_args, data_args, training = stage_arguments(args.recipe, run_dir, data, tokenizer_dir)
    metrics = run(model_args, data_args, training, callbacks=[TimeBudget(args.minutes * 60)])
    shutil.move(tokenizer_dir, run_dir / TOKENIZER_DIR)
    shutil.rmtree(tokenizer_dir.parent, ignore_errors=True)
    finish_run(run_dir)
    history = json.loads((run_dir / "log_history.json").read_text())
    first_eval = next(e["eval_loss"] for e in history if "eval_loss" in e)
    print(
        f"eval loss on held-out chats: {first_eval:.3f} at start → {metrics['eval_loss']:.3f} after "
        f"{metrics.get('epoch', 0):.2f} epochs ({metrics['train_runtime']:.0f}s)"
    )
    print(f"checkpoint: {run_dir}   loss curve: {run_dir / 'loss_curve.png'}")


def stage_arguments(recipe: dict, run_dir: Path, data: str, tokenizer_dir: Path):
    """The sft run's arguments: the recipe's sections, the demo's paths, and the warm-up, logging and
    evaluation intervals that follow the step count (unless the recipe sets them)."""
    steps = recipe["training"]["max_steps"]
    follow = dict(
        warmup_steps=max(1, steps // 20), logging_steps=max(1, steps // 16), eval_steps=max(1, steps // 4)
    )
    return (
        ModelArguments(**recipe["model"]),
        DataArguments(dataset="pippa", data_files=[data], tokenizer=str(tokenizer_dir), **recipe["data"]),
        StageArguments(output_dir=str(run_dir), **{**follow, **recipe["training"]}),
    )


DEMO_LINES = [
    "Hello! Who are you?",
    "What do you do all day?",
    "Tell me something about this place.",
    "/quit",
]


def chat(args: argparse.Namespace, record_index: int) -> None:
    """A short scripted chat with one of the characters, through `llm-train chat`'s own code."""
    print()
    print("── a short chat (the user's lines are scripted)")
    chat_args = ["--model", args.run_dir, "--character_from", args.data, "--index", str(record_index)]
    chat_args += ["--max_new_tokens", "60", "--temperature", "0.7", "--seed", "0"]
    chat_main(chat_args, stdin=_Typed(DEMO_LINES, sys.stdout), stdout=sys.stdout)
    print()
    print("Go on chatting with:")
    print(
        f"  .venv/bin/llm-train chat --model {args.run_dir} --character_from {os.path.relpath(args.data)} "
        f"--index {record_index}"
    )


class _Typed(io.StringIO):
    """Scripted user lines that show up after the chat's prompt, as if typed."""

    def __init__(self, lines: list[str], out):
        super().__init__("\n".join(lines) + "\n")
        self.out = out

    def readline(self, *args) -> str:
        line = super().readline(*args)
        self.out.write(line)
        return line


if __name__ == "__main__":
    sys.exit(main())
