"""SFT training throughput: our packed rows vs TRL ``SFTTrainer`` (packing, padding-free) vs padded batches.

Same model, same data, same token budget, same machine; each method in its own fresh subprocess, so
memory peaks are not shared. Rows of the table:

- ``ours``: ``process --stack`` rows (long chats cut into windows at turn boundaries, windows
  packed into ``--max_length`` rows by best-fit decreasing) + ``transformers.Trainer`` + the padding-free
  collator ``llm-train sft`` picks for the attention (``padding_free_for``): with sdpa on CPU, the
  ``--rows`` rows of a step as a ``[rows, longest]`` batch, ``position_ids`` restarting at every sample and
  a short row filled by an unattended filler sample; with FlashAttention-2, one sequence end to end.
- ``trl packing bfd``: ``trl.SFTTrainer`` with ``packing=True, packing_strategy="bfd"``,
  ``max_length=--max_length``, ``--rows`` packed rows a step (TRL then lays them end to end itself,
  padding-free). TRL is given the same windows as a ``messages`` dataset and tokenizes them itself.
- ``trl padding-free``: ``trl.SFTTrainer`` with ``padding_free=True`` and no packing: ``--samples``
  windows a step laid end to end.
- ``padded Trainer``: ``transformers.Trainer`` + our ``PaddedCollator``: ``--samples`` windows a step,
  padded to the longest, with an attention mask. The windows are our packed rows cut apart again at
  ``position_ids == 0``, so they are exactly the samples ``ours`` trains on.

**Same data.** The bundled PIPPA sample, template ``chatml``, mask ``assistant``; the tokenizer is a
byte-level BPE with 8,000 tokens trained on the sample (seconds, offline). The windows TRL gets are the
very conversations our windowing encoded (system = the character card text, then the turns), rendered
by TRL's own ``qwen2_5_training.jinja`` (read from the installed ``trl`` at run time), which writes the
same ChatML text: the script checks that the rendered text is identical for every window and that no
window is longer than ``--max_length`` in TRL's tokenization either (so TRL truncates nothing), and
prints how many TRL token sequences differ from ours. What still differs (printed with the table):

- loss masks: TRL's ``assistant_only_loss=True`` trains ``"\\n" + reply + "<|im_end|>\\n"`` of *every*
  assistant message, ours ``reply + "<|im_end|>"`` of the window's own assistant turns only: earlier
  turns carried into a window as context (``context_turns=2``) are not trained by us, and TRL cannot be
  told so through ``messages``. The "trained" column shows the effect; the losses are therefore close
  but not the same quantity;
- TRL tokenizes the whole rendered text at once, we tokenize piece by piece (cut at trained/untrained
  boundaries), so a few sequences may be a token shorter or longer;
- TRL computes the loss with its fused LM head (log-probs only at positions with a label, in tiles,
  plus entropy and token-accuracy metrics), the plain ``Trainer`` with the model's own cross-entropy
  over the full logits. That is each trainer's own default, and part of what is measured.

**Same model and optimisation.** ``MODEL_CONFIGS["small"]`` (``--model``; Llama shape, hidden 256, 4 layers,
4 heads, tied embeddings), built by ``llm.models.loading.build_model`` after ``set_seed(0)`` in every run (the
init checksum is printed to show it), ``sdpa`` attention (what ``auto`` picks on CPU; packed sequences
are kept apart by the block-diagonal mask transformers builds from ``position_ids``), fp32,
``use_cpu=True``, ``bf16=False``, gradient checkpointing off (TRL's default is on, turned off here), AdamW
at a constant learning rate ``--lr``, no warm-up of the schedule, seed 0, ``report_to="none"``. The
script prints every ``TrainingArguments`` field where a TRL run's ``SFTConfig`` differs from the plain
``Trainer``'s, and every setting TRL needed to run at all.

**Measured.** A ``TrainerCallback`` stamps the end of every optimizer step; a wrapper around each
trainer's collator counts, for every batch, its tokens, its real (non-padding: attention-mask) tokens
and its trained tokens (label not -100). The first ``--warmup`` steps are not timed. After them each
method trains until it has processed the budget of real tokens: ``--steps`` x ``--rows`` x the mean real
length of our rows (so ``ours`` takes about ``--steps`` timed steps). ``real tokens/s`` = real tokens of
the timed steps / wall time from the end of the last warm-up step to the end of the last step (data
loading, forward, backward, optimizer, logging). ``padding`` = 1 - real / all tokens of the timed steps.
``peak RSS`` = the peak resident size (``VmHWM``) of the run's subprocess at its end (the
whole process: imports, data, model, optimizer, training); ``RSS@train`` is the resident size just before
``trainer.train()``, so peak - RSS@train is what training itself added. ``loss`` = the first logged
step's loss -> the mean of the last 5 steps' losses.

    $ LLM_TRAIN_CACHE=/tmp/llm-cache .venv/bin/python bench/sft_throughput.py \\
        [--steps 40] [--max_length 1024] [--rows 2] [--samples N] [--warmup 3] [--lr 1e-3] [--quick]

``--quick`` runs 3 timed steps after 1 warm-up step (a smoke test, ~2 min, mostly start-up; its timings
mean nothing); ``--smoke`` (what ``tests/bench/test_smoke.py`` runs) 1 after 1 with the ``tiny`` shape
(``--model``) on the sample's first 20 chats (``--records``). ``--methods`` picks a subset. ``--only METHOD
--workdir DIR`` runs one method in this process on prepared data (what the script calls for each
subprocess). The defaults take ~3.5 min on 2 cores. Prints the machine, the date, the versions and one
table; copy them into the README together.

Reading the table: on CPU, ``sdpa`` has no variable-length kernel, so a padding-free batch (ours, both
TRL rows) is one sequence of all its tokens under a dense block-diagonal mask: attention costs
``(sum of lengths)^2``, where the padded batch costs ``samples x longest^2``. GPU runs with
FlashAttention-2 (varlen) do not pay this. The losses are after the same number of real tokens but not
of optimizer steps (smaller batches take more steps), and the masks differ as said above.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from typing import Any

from machine import cpu_model  # bench/machine.py (bench/ is on the path of a bench script)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "llm" / "data" / "samples" / "pippa_sample.jsonl"
METHODS = {
    "ours": "ours: stacked rows + Trainer",
    "trl-packing": "trl packing bfd",
    "trl-padding-free": "trl padding-free",
    "padded": "padded Trainer",
}
TEMPLATE = "chatml"
MODEL_CONFIG = "small"
VOCAB = 8000
SEED = 0
LAST_LOSSES = 5
# --smoke: every method, one timed step each, the tiny shape, 20 chats; its timings mean nothing
SMOKE = {"steps": 1, "warmup": 1, "model": "tiny", "records": 20}


# ------------------------------------------------------------------------------------------- data (parent)


def trl_template() -> str:
    return resources.files("trl").joinpath("chat_templates", "qwen2_5_training.jinja").read_text()


class _Recorder:
    """Stands in for the ``Encoder`` inside ``windows``: remembers the conversation behind every sample."""

    def __init__(self, encoder: Any):
        self.encoder = encoder
        self.made: dict[int, tuple[Any, Any]] = {}

    def encode(self, conv: Any) -> Any:
        sample = self.encoder.encode(conv)
        self.made[id(sample)] = (sample, conv)  # the sample is kept alive, so its id stays unique
        return sample


def to_messages(encoder: Any, conv: Any) -> list[dict[str, str]]:
    """The conversation as TRL's ``messages``: the card's system text (and any system message) first."""
    from llm.data.templates import card_system_text

    resolved = encoder.render(conv).conversation  # {{char}} / {{user}} filled, as our template renders
    turns = list(resolved.messages)
    system = [card_system_text(resolved.character)] if resolved.character is not None else []
    if turns and turns[0].role == "system":
        system.append(turns.pop(0).content)
    head = [{"role": "system", "content": "\n\n".join(system)}] if system else []
    return head + [{"role": m.role, "content": m.content} for m in turns]


def prepare(args: argparse.Namespace, work: Path, sample: Path = SAMPLE) -> dict:
    """Tokenizer, our stacked dataset (``process``), and the same windows as TRL ``messages``, from the PIPPA
    records in ``sample``."""
    from llm.data.process import (
        DataArguments,
        ProcessArguments,
        Report,
        build_encoder,
        convert_records,
        process,
    )
    from llm.data.sources import get_source, pippa
    from llm.data.sources.files import read_records
    from llm.data.stacking import WindowStats, windows
    from llm.data.templates import card_system_text
    from llm.data.tokenizer import build_tokenizer

    corpus = []
    for record_id, record in read_records(sample):
        conv = pippa.to_conversation(record, record_id)
        corpus.append(card_system_text(conv.character))
        corpus.extend(m.content for m in conv.messages)
    tok_dir = work / "tokenizer"
    build_tokenizer("bytelevel", vocab_size=VOCAB, corpus=corpus).save_pretrained(str(tok_dir))

    data = DataArguments(
        dataset="pippa",
        data_files=[str(sample)],
        tokenizer=str(tok_dir),
        template=TEMPLATE,
        max_length=args.max_length,
        stack=True,
    )
    with contextlib.redirect_stderr(io.StringIO()):  # progress bars
        stats = process(data, ProcessArguments(output=str(work / "ours"), overwrite=True, seed=SEED))

    # The same windows, with the conversation each was encoded from (what `process` did, step by step).
    encoder = build_encoder(data)
    recorder = _Recorder(encoder)
    with contextlib.redirect_stderr(io.StringIO()):
        items = convert_records(data, get_source(data.dataset), encoder.tokenizer, Report())
    samples, convs = [], []
    for _, conv in items:
        for sample in windows(conv, recorder, data.max_length, data.context_turns, WindowStats()):
            if not sample.num_trained:
                continue
            made = recorder.made.get(id(sample))
            if made is None or made[0] is not sample:
                raise SystemExit(
                    "a window was truncated (one exchange is longer than --max_length), so TRL cannot be "
                    "given the same sample; raise --max_length"
                )
            samples.append(sample)
            convs.append(made[1])
    tokens = sum(len(s) for s in samples)
    if (len(samples), tokens) != (stats["samples"], stats["tokens"]):
        raise SystemExit(
            f"re-windowing gave {len(samples)} samples / {tokens} tokens, process gave "
            f"{stats['samples']} / {stats['tokens']}"
        )

    tok = encoder.tokenizer
    tok.chat_template = trl_template()
    messages = [to_messages(encoder, c) for c in convs]
    trl_tokens = trl_trained = differ = 0
    for msgs, conv, sample in zip(messages, convs, samples, strict=True):
        text = tok.apply_chat_template(msgs, tokenize=False)
        if text != encoder.render(conv).text:
            raise SystemExit("TRL's template renders a window differently from ours; not comparable")
        out = tok.apply_chat_template(
            msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        ids = list(out["input_ids"])
        if len(ids) > args.max_length:
            raise SystemExit(f"TRL tokenizes a window to {len(ids)} > --max_length tokens; it would truncate")
        trl_tokens += len(ids)
        trl_trained += sum(out["assistant_masks"])
        differ += ids != sample.input_ids
    with (work / "messages.jsonl").open("w") as f:
        for msgs in messages:
            f.write(json.dumps({"messages": msgs}) + "\n")

    rows = stats["rows"]["train"]
    row_tokens = stats["tokens"] / rows
    samples_per_step = args.samples or max(1, round(args.rows * len(samples) / rows))
    return {
        "samples": len(samples),
        "rows": rows,
        "tokens": tokens,
        "trained": stats["trained_tokens"],
        "packing_efficiency": stats["packing_efficiency"],
        "windows_split": stats["windows"]["chats_split"],
        "records": stats["records_kept"],
        "trl_tokens": trl_tokens,
        "trl_trained": trl_trained,
        "trl_ids_differ": differ,
        "samples_per_step": samples_per_step,
        "budget": int(args.steps * args.rows * row_tokens),
        "vocab": len(tok),
    }


# ---------------------------------------------------------------------------------------- one run (child)


class CountingCollator:
    """Wraps a collator; per batch: all tokens, real (non-padding) tokens, trained tokens."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.total: list[int] = []
        self.real: list[int] = []
        self.trained: list[int] = []

    def __call__(self, features: Any) -> Any:
        batch = self.inner(features)
        ids, mask = batch["input_ids"], batch.get("attention_mask")
        self.total.append(ids.numel())
        self.real.append(int(mask.sum()) if mask is not None else ids.numel())
        self.trained.append(int((batch["labels"] != -100).sum()))
        return batch


def make_meter(counts: CountingCollator, warmup: int, budget: int):
    """A callback that times steps after ``warmup`` and stops training once ``budget`` real tokens passed."""
    from transformers import TrainerCallback

    class Meter(TrainerCallback):
        def __init__(self):
            self.start: float | None = None
            self.end: float | None = None
            self.steps = 0
            self.real = self.total = self.trained = 0
            self.losses: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            now = time.perf_counter()
            step = state.global_step  # batch k (1-based) of the collator fed step k: no accumulation
            if step == warmup:
                self.start = now
            elif step > warmup:
                self.end = now
                self.steps += 1
                self.real += counts.real[step - 1]
                self.total += counts.total[step - 1]
                self.trained += counts.trained[step - 1]
                if self.real >= budget:
                    control.should_training_stop = True
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    return Meter()


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident size. On Linux ``VmHWM``: ``ru_maxrss`` survives ``execve``, so a child
    started by ``subprocess`` would report at least its parent's size at the fork (measured: every run of a
    bench whose parent had loaded a model showed the parent's 526 MB)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def run_one(method: str, args: argparse.Namespace, work: Path) -> dict:
    import datasets
    import torch
    from transformers import Trainer, TrainingArguments, set_seed

    from llm.data.collate import PaddedCollator, padding_free_for
    from llm.data.tokenizer import load_tokenizer
    from llm.models.loading import ModelArguments, build_model

    meta = json.loads((work / "meta.json").read_text())
    datasets.disable_progress_bars()
    rows = datasets.load_from_disk(str(work / "ours"))["train"]
    tokenizer = load_tokenizer(str(work / "ours" / "tokenizer"))
    set_seed(SEED)
    model = build_model(ModelArguments(model_config=args.model, attn_implementation="auto"), tokenizer)
    checksum = sum(float(p.double().sum()) for p in model.parameters())

    packed = method in ("ours", "trl-packing")
    common = {
        "output_dir": str(work / f"out-{method}"),
        "per_device_train_batch_size": args.rows if packed else meta["samples_per_step"],
        "gradient_accumulation_steps": 1,
        "max_steps": args.warmup + 20 * args.steps + 100,  # the meter stops training at the budget
        "learning_rate": args.lr,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": True,
        "bf16": False,
        "fp16": False,
        "gradient_checkpointing": False,
        "seed": SEED,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
    }
    notes: list[str] = []
    diff: dict[str, str] = {}
    if method in ("ours", "padded"):
        if method == "ours":
            train, collator = rows, padding_free_for(model, tokenizer)
        else:  # our rows cut apart again into their samples
            ids, labels = [], []
            for row_ids, row_labels, row_pos in zip(
                rows["input_ids"], rows["labels"], rows["position_ids"], strict=True
            ):
                starts = [i for i, p in enumerate(row_pos) if p == 0] + [len(row_pos)]
                for a, b in zip(starts, starts[1:]):
                    ids.append(row_ids[a:b])
                    labels.append(row_labels[a:b])
            train = datasets.Dataset.from_dict({"input_ids": ids, "labels": labels})
            collator = PaddedCollator(tokenizer.pad_token_id)
        counts = CountingCollator(collator)
        trainer = Trainer(
            model=model,
            args=TrainingArguments(**common),
            train_dataset=train,
            data_collator=counts,
            processing_class=tokenizer,
        )
    else:
        from trl import SFTConfig, SFTTrainer

        tokenizer.chat_template = trl_template()
        lines = (work / "messages.jsonl").read_text().splitlines()
        train = datasets.Dataset.from_list([json.loads(line) for line in lines])
        if method == "trl-packing":
            extra = {"packing": True, "packing_strategy": "bfd", "max_length": args.max_length}
        else:
            extra = {"padding_free": True, "max_length": None}
            notes.append(
                "trl padding-free: max_length=None (SFTTrainer refuses padding_free=True without packing "
                f"while max_length is set); every window is already <= {args.max_length} tokens"
            )
        config = SFTConfig(**common, assistant_only_loss=True, **extra)
        if config.pad_to_multiple_of is not None:
            raise SystemExit(
                f"SFTConfig pads to a multiple of {config.pad_to_multiple_of}; counts would be off"
            )
        plain, trl = TrainingArguments(**common).to_dict(), config.to_dict()
        diff = {k: f"{plain[k]!r} -> {trl[k]!r}" for k in plain if k != "output_dir" and plain[k] != trl[k]}
        trainer = SFTTrainer(model=model, args=config, train_dataset=train, processing_class=tokenizer)
        # SFTTrainer rejects a custom collator with padding-free batches, so ours wraps its own afterwards.
        counts = CountingCollator(trainer.data_collator)
        trainer.data_collator = counts
        if method == "trl-packing":
            notes.append(f"trl packing bfd: TRL packed the windows into {len(trainer.train_dataset)} rows")

    meter = make_meter(counts, args.warmup, meta["budget"])
    trainer.add_callback(meter)
    rss_start = rss_mb()
    trainer.train()
    if meter.start is None or meter.end is None or meter.real < meta["budget"]:
        raise SystemExit(f"{method}: ran out of steps before the token budget ({meter.real} real tokens)")
    seconds = meter.end - meter.start
    last = meter.losses[-LAST_LOSSES:]
    return {
        "method": method,
        "steps": meter.steps,
        "seconds": seconds,
        "real": meter.real,
        "total": meter.total,
        "trained": meter.trained,
        "tokens_per_s": meter.real / seconds,
        "padding": 1 - meter.real / meter.total,
        "peak_rss_mb": peak_rss_mb(),
        "rss_start_mb": rss_start,
        "loss_first": meter.losses[0],
        "loss_final": sum(last) / len(last),
        "checksum": checksum,
        "batch": common["per_device_train_batch_size"],
        "threads": torch.get_num_threads(),
        "attention": model.config._attn_implementation,
        "notes": notes,
        "diff": diff,
    }


# ------------------------------------------------------------------------------------------------ the table


def print_report(args: argparse.Namespace, meta: dict, results: dict[str, dict], started: float) -> None:
    from llm.models.loading import MODEL_CONFIGS

    p = print
    shape = MODEL_CONFIGS[args.model]
    some = next(iter(results.values()))
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    same_init = "equal" if len({round(r["checksum"], 6) for r in results.values()}) == 1 else "DIFFER"
    p(f"\nSFT throughput, {now}")
    p(
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs, torch threads {some['threads']}; python "
        f"{platform.python_version()}, torch {version('torch')}, transformers {version('transformers')}, "
        f"trl {version('trl')}, datasets {version('datasets')}"
    )
    p(
        f"model: {args.model} (hidden {shape['hidden_size']}, {shape['num_hidden_layers']} layers, "
        f"{shape['num_attention_heads']} heads, vocab {meta['vocab']}), "
        f"attention {some['attention']}, fp32, AdamW lr {args.lr} constant; "
        f"init checksums {same_init}"
    )
    p(
        f"data: {meta['records']} PIPPA chats -> {meta['samples']} windows ({meta['windows_split']} chats "
        f"split), {meta['tokens']} tokens ({meta['trained']} trained) -> {meta['rows']} rows of "
        f"{args.max_length}, packing efficiency {meta['packing_efficiency']:.1%}"
    )
    p(
        f"TRL tokenization of the same windows: {meta['trl_tokens']} tokens ({meta['trl_trained']} trained); "
        f"{meta['trl_ids_differ']}/{meta['samples']} windows' ids differ from ours"
    )
    p(
        f"per step: {args.rows} rows of <= {args.max_length} (ours, trl packing) / "
        f"{meta['samples_per_step']} windows (trl padding-free, padded); budget {meta['budget']} real tokens "
        f"after {args.warmup} warm-up steps"
    )
    header = (
        f"{'method':30} {'steps':>5} {'real tok/s':>10} {'padding':>8} {'trained':>8} "
        f"{'peak RSS MB':>11} {'RSS@train':>9} {'loss first->final':>17} {'vs TRL':>7} {'vs pad':>7}"
    )
    p(header)
    p("-" * len(header))
    trl = results.get("trl-packing", {}).get("tokens_per_s")
    pad = results.get("padded", {}).get("tokens_per_s")
    for method, r in results.items():
        vs_trl = f"{r['tokens_per_s'] / trl:6.2f}x" if trl else "     -"
        vs_pad = f"{r['tokens_per_s'] / pad:6.2f}x" if pad else "     -"
        p(
            f"{METHODS[method]:30} {r['steps']:5d} {r['tokens_per_s']:10.0f} {r['padding']:8.1%} "
            f"{r['trained'] / r['real']:8.1%} {r['peak_rss_mb']:11.0f} {r['rss_start_mb']:9.0f} "
            f"{r['loss_first']:8.3f}->{r['loss_final']:6.3f} {vs_trl:>7} {vs_pad:>7}"
        )
    ours = results.get("ours", {}).get("tokens_per_s")
    if ours and trl and pad:
        a, b = ours / trl, ours / pad
        p(
            f"goal: ours >= 1.0x TRL packing: {a:.2f}x ({'met' if a >= 1.0 else 'NOT met'}); "
            f"ours >= 1.8x padded Trainer: {b:.2f}x ({'met' if b >= 1.8 else 'NOT met'})"
        )
    for method, r in results.items():
        for note in r["notes"]:
            p(f"note: {note}")
        if method.startswith("trl"):
            changed = ", ".join(f"{k} {v}" for k, v in sorted(r["diff"].items())) or "no field differs"
            p(f"note: {METHODS[method]}: SFTConfig vs the plain Trainer's TrainingArguments: {changed}")
    p(
        "note: trained = labels != -100 / real tokens. TRL trains '\\n'+reply+'<|im_end|>\\n' of every "
        "assistant message (also the context turns carried into a window), ours reply+'<|im_end|>' of the "
        "window's own turns"
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    p(f"total wall time {time.perf_counter() - started:.0f} s; load average at the end {load}")
    if args.quick or args.smoke:
        p("(--quick / --smoke: a smoke test; these timings are dominated by start-up and mean nothing)")


# ------------------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="token budget: this many of our steps")
    parser.add_argument("--max_length", type=int, default=1024, help="tokens per packed row")
    parser.add_argument("--rows", type=int, default=2, help="packed rows per step (ours, trl packing)")
    parser.add_argument(
        "--samples", type=int, default=0, help="windows per step, unpacked methods (0: rows x windows/row)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps at the start of each run")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--quick", action="store_true", help="3 timed steps after 1 warm-up (smoke test)")
    parser.add_argument("--only", choices=sorted(METHODS), help="run one method here (used internally)")
    parser.add_argument("--workdir", help="prepared data (used with --only)")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--model", default=MODEL_CONFIG, help="model shape (MODEL_CONFIGS): small or tiny")
    parser.add_argument("--records", type=int, default=0, help="use the sample's first N chats (0: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs (seconds)")
    args = parser.parse_args(argv)
    if args.smoke:  # its sizes become the defaults; a flag given still wins
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup = 3, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.only:
        work = Path(args.workdir)
        result = run_one(args.only, args, work)
        (work / f"result-{args.only}.json").write_text(json.dumps(result))
        return 0

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="sft_throughput-"))
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"preparing data in {work} (load average {load}) ...", flush=True)
        sample = SAMPLE
        if args.records:
            sample = work / "sample.jsonl"
            sample.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[: args.records]))
        meta = prepare(args, work, sample)
        (work / "meta.json").write_text(json.dumps(meta))
        forwarded = [
            f"--steps={args.steps}",
            f"--max_length={args.max_length}",
            f"--rows={args.rows}",
            f"--warmup={args.warmup}",
            f"--lr={args.lr}",
            f"--model={args.model}",
        ]
        results = {}
        for method in args.methods:
            print(f"running {method} ...", flush=True)
            log = work / f"log-{method}.txt"
            cmd = [sys.executable, __file__, "--only", method, "--workdir", str(work), *forwarded]
            env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
            with log.open("w") as out:
                rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
            if rc:
                print(f"{method} failed (exit {rc}); the end of its log:\n", file=sys.stderr)
                print("\n".join(log.read_text().splitlines()[-40:]), file=sys.stderr)
                return 1
            results[method] = json.loads((work / f"result-{method}.json").read_text())
            if not math.isfinite(results[method]["loss_final"]):
                print(f"warning: {method} ended with a non-finite loss", file=sys.stderr)
        print_report(args, meta, results, started)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
