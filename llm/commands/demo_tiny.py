"""``make demo-tiny``: the pipeline on the bundled sample with a tiny Llama trained from scratch, on a CPU in minutes.

1. **Data**: read the bundled PIPPA-format role-play sample (10 original characters, 200 chats), render
   every chat with the character-aware ``pygmalion`` template, encode it with exact loss masks, show one
   sample the way ``llm-train show-sample`` does, and build the stacked dataset (windows + packed rows).
2. **Train**: a small Llama (4.5M parameters) from scratch on the stacked rows with the Trainer, evaluated
   on held-out chats before, during and after; checkpoint, ``loss_curve.png`` and metrics in the run dir.
3. **Chat**: a short scripted chat with one of the characters, and the ``llm-train chat`` command to go on.

    $ make demo-tiny                 # or: llm-train demo-tiny [--steps 360] [--run_dir runs/demo-tiny]

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


def main(argv: list[str] | None = None) -> int:
    """The demo; a target that is not ours (or a bad flag) is one line and exit 2, as in every command."""
    return run_command("llm-train demo-tiny", lambda: run_demo(argv))


def run_demo(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-train demo-tiny", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SAMPLE), help="PIPPA-format JSON Lines")
    parser.add_argument("--template", default="pygmalion")
    parser.add_argument("--show", type=int, default=None, help="record index to show (default: a short one)")
    parser.add_argument("--run_dir", default="runs/demo-tiny", help="where the checkpoint and curves go")
    parser.add_argument("--steps", type=int, default=360, help="training steps (0: data only)")
    parser.add_argument(
        "--minutes", type=float, default=4.0, help="stop training after this long, whatever --steps"
    )
    parser.add_argument("--model_config", default="small", help="named model config (tiny, small)")
    args = parser.parse_args(argv)
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
    training = StageArguments(
        output_dir=str(run_dir),
        max_steps=args.steps,
        per_device_train_batch_size=2,  # rows of 1,024 tokens: 2,048 tokens a step
        per_device_eval_batch_size=4,
        learning_rate=3e-3,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, args.steps // 20),
        weight_decay=0.01,
        logging_steps=max(1, args.steps // 16),
        eval_strategy="steps",
        eval_steps=max(1, args.steps // 4),
        eval_on_start=True,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
    )
    data_args = DataArguments(
        dataset="pippa",
        data_files=[data],
        tokenizer=str(tokenizer_dir),
        template=args.template,
        stack=True,
        max_length=1024,
        validation_split=0.05,
    )
    metrics = run(
        ModelArguments(model_config=args.model_config),
        data_args,
        training,
        callbacks=[TimeBudget(args.minutes * 60)],
    )
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
