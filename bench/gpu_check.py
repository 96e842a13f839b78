"""GPU check on one NVIDIA GPU: packed FlashAttention-2 correctness, a bf16 matmul ceiling, SFT throughput + MFU
of a ~1B Llama with our pipeline, and TRL's ``SFTTrainer`` on the same setup, all in one run (expected 2-4 min
on an H100, not yet timed on one; ``bench/gpu_check.sh`` runs it under a 450 s limit).

    bash bench/gpu_check.sh                                        # the usual way (logs nvidia-smi, versions)
    python bench/gpu_check.py --out results [--steps 20] [--warmup 5] [--batch 4] [--seconds 400]
    python bench/gpu_check.py --tiny --device cpu --steps 2 --out /tmp/gc   # smoke test of the logic on CPU

Writes ``gpu_check.json`` (everything measured, every error) and ``gpu_check.md`` (a table to paste into
``bench/RESULTS.md``) into ``--out`` after every phase, so a run stopped by the caller's timeout keeps what it
measured. Each phase runs in its own ``try``: a failure is recorded under ``errors`` and the next phase runs.
Exit status: 0 when every phase ran and the correctness check passed, 1 otherwise (130 when interrupted).

**1. Packed = unpacked.** A small random Llama (hidden 256, 4 layers, 4 heads / 2 KV heads, vocabulary 2,048)
in bf16 with ``attn_implementation="flash_attention_2"`` (``sdpa`` when flash-attn is not installed or does not
import, with a message; always ``sdpa`` and fp32 with ``--tiny`` on CPU). 16 samples of random length 16-400 with random ids,
the first part of each untrained (-100), packed with our ``pack()`` into rows of 1,024 and collated by
``PaddingFreeCollator(flatten=True)`` (one sequence, ``position_ids`` restarting per sample). Compared: the
loss of that batch vs the token-weighted mean of the samples' separate losses (weights = each sample's
predicted tokens), and the logits of every token, packed vs alone. Tolerances (bf16 / fp32):

- ``|Δloss| <= 2e-3 / 1e-5``. bf16 keeps 8 significant bits (unit roundoff u = 2^-8 ≈ 0.004): packed and
  separate runs do the same arithmetic with different kernel shapes and accumulation orders, so activations
  and logits may differ by a few u; the loss (≈ ln V ≈ 7.7, computed in fp32) is a mean over ~2,600 trained
  tokens whose per-token errors have random signs, so its error is ~1e-4 (5e-5 measured for this check with
  sdpa, bf16, on CPU); 2e-3 leaves 20x headroom and is 0.03% of the loss.
- ``max|Δlogit| <= 5e-2 / 1e-4 x max|logit|`` (bf16: ~13 u, relative to the largest logit, since rounding
  errors scale with magnitude; 0.6% measured with sdpa, bf16, on CPU).
- A leak control proves the check can fail: the same packed batch with ``position_ids`` 0..T-1 (samples
  attend across their joins) must exceed the logit tolerance. With a random-init model the loss alone is
  nearly blind to leaks (|Δloss| 5e-3 measured), the logits are not (150% of the largest logit). Pass = loss
  and logits within tolerance and the leak detected.

**2. Matmul ceiling.** ``torch.matmul`` of bf16 matrices (square 4096³, 8192³, 16384³ and the 1B model's MLP
up and down projections over one step's 16,384 tokens), after a warm-up, timed with CUDA events over 5 windows of ~0.2 s
each; TFLOP/s = 2·m·n·k / time (the median window). The ceiling is the best shape's median.

**3. Our SFT throughput.** ``MODEL_CONFIGS["llama-1b"]`` (hidden 2048, 22 layers, 32 heads, 4 KV heads, MLP
5632, tied embeddings) built by ``llm.models.loading.build_model`` after ``set_seed(0)``, FA2 when flash-attn
imports, fp32 master weights with bf16 autocast (``bf16=True``, as ``llm-train sft`` does), ``use_liger_kernel``
when liger-kernel imports. Data: ``bench/sft_throughput.prepare`` (the bundled PIPPA sample; a byte-level BPE
asked for 32,000 tokens trained on it, which ends smaller because the sample is small; ``process
--stack``, ChatML, mask assistant, ``max_length`` 4,096; the same windows as TRL ``messages``, checked to
render identically), rows repeated until there are enough for every step. ``transformers.Trainer`` + the
collator ``llm-train sft`` picks (``padding_free_for``: FA2 → one flattened sequence), ``--batch`` rows per
step (halved on out-of-memory, gradient checkpointing only if even 1 row does not fit), AdamW (the Trainer's
default ``adamw_torch_fused``), constant lr, ``--warmup`` untimed steps then ``--steps`` timed steps. A
callback synchronises CUDA and stamps the end of every step; tokens/s = real tokens of the timed steps
(no padding exists; a filler sample is not counted) / wall time from the end of the last warm-up step.

**MFU.** Model FLOPs of a step (the PaLM / Megatron convention)::

    FLOPs(step) = 6·N·T + 12·L·a·Σ_i s_i²          (= Σ over tokens of 6·N + 12·L·a·s_i)

- T = Σ_i s_i the real tokens of the step, s_i the length of packed sample i (its OWN length: packed
  samples do not attend across their joins, so a token of sample i attends over s_i tokens, not 4,096);
- N = the parameters used in matmuls: every ``nn.Linear`` (q, k, v, o, gate, up, down of all layers) plus
  the LM head (V·d, counted although tied to the input embedding: the weights are shared, the matmul is
  not); not the input embedding (a lookup) nor the norms (elementwise). 6·N = forward 2·N + backward 4·N;
- 12·L·a·s_i: per layer, QKᵀ and A·V each cost 2·a·s_i FLOPs per token forward (a = heads x head_dim = d
  for llama-1b), x3 for forward + backward; over the full s_i x s_i scores (causal kernels skip about
  half, which this convention, like the usual MFU figures, does not discount).

MFU = FLOPs of the timed steps / seconds / peak, against the card's dense bf16 peak (989 TFLOP/s for H100
and H200 SXM, 756 for H100 PCIe, 835 for H100/H200 NVL; ``--peak_tflops`` for any other card) and against
the ceiling measured in 2. Goal: >= 45% of the measured ceiling.

**4. TRL.** ``trl.SFTTrainer`` on a deep copy of the same initial model, the same windows as ``messages``
(rendered by TRL's own ChatML training template, tokenized by TRL), ``packing=True,
packing_strategy="bfd"``, ``max_length`` 4,096, ``assistant_only_loss=True``, and the same batch, lr,
steps, precision, Liger setting, optimizer and gradient checkpointing. Same timing and FLOPs (its samples'
lengths come from its ``seq_lengths``). Goal: ours >= 1.1x TRL's tokens/s. What still differs, each
trainer's own way (see ``bench/sft_throughput.py``): TRL also trains the context turns carried into a window
and computes its loss with a fused, chunked LM head (with Liger it applies only Liger's layer kernels, the
plain Trainer also Liger's fused linear cross-entropy); TRL's collator hands FlashAttention the sample
boundaries (``cu_seq_lens``) computed on the CPU, ours only ``position_ids``, from which transformers derives
them in every layer (a device-to-host sync per layer).

``--seconds`` (default 400) bounds the whole run: each training phase stops its timed steps early when its
share of what is left is used (what was timed still counts), and TRL is skipped when too little is left.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import gc
import importlib
import importlib.util
import io
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(BENCH), str(ROOT)):  # bench/sft_throughput.py, and the repository's `llm`
    if _path not in sys.path:
        sys.path.insert(0, _path)

# Dense bf16 peaks, TFLOP/s, matched in order against torch.cuda.get_device_name (case-insensitive).
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H200 NVL", 835.0),
    ("H100", 989.0),
    ("H200", 989.0),
)
CEILING_GOAL = 0.45  # MFU against the measured matmul ceiling
TRL_GOAL = 1.1  # our tokens/s over TRL's
# (|Δloss|, max|Δlogit| relative to max|logit|) for the packed = unpacked check; see the module docstring.
TOLERANCES = {"bfloat16": (2e-3, 5e-2), "float32": (1e-5, 1e-4)}
VOCAB = 32000  # asked of the tokenizer trainer; the bundled sample yields fewer
TINY_VOCAB = 2000
SEED = 0
RESERVE_S = 15.0  # kept back from --seconds for writing the results


def usable(module: str, device: str) -> tuple[bool, str]:
    """Whether an optional CUDA package (flash_attn, liger_kernel.transformers) can be used, and why not:
    installed is not enough (a wheel built for another torch fails on import), so it is imported."""
    if not device.startswith("cuda"):
        return False, "not on CUDA"
    if importlib.util.find_spec(module.split(".")[0]) is None:
        return False, "not installed"
    try:
        importlib.import_module(module)
    except Exception as e:  # an ABI mismatch is an ImportError, OSError, RuntimeError, ...
        return False, f"installed but not importable ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
    return True, "used"


def bench_helpers() -> Any:
    """``bench/sft_throughput.py`` (data preparation, the counting collator, the step meter)."""
    return importlib.import_module("sft_throughput")


# ------------------------------------------------------------------------------------ FLOPs and MFU (pure)


def matmul_params(model: Any) -> int:
    """N: parameters used in matmuls — every ``nn.Linear`` (weights and biases), the LM head included even
    when tied to the input embedding; the input embedding and the norms are not matmuls."""
    import torch

    return sum(
        m.weight.numel() + (m.bias.numel() if m.bias is not None else 0)
        for m in model.modules()
        if isinstance(m, torch.nn.Linear)
    )


def attention_width(config: Any) -> int:
    """a = heads x head_dim: the width of Q, K·V products (the hidden size for Llama shapes)."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return config.num_attention_heads * head_dim


def step_flops(lengths: Sequence[int], n_params: int, layers: int, width: int) -> int:
    """Training FLOPs of one step whose samples have ``lengths``: 6·N·T + 12·L·a·Σ s_i², T = Σ s_i.

    Per token of a sample of length s: 6·N (matmuls, forward + backward) + 12·L·a·s (attention scores and
    the weighted sum over the sample's own s tokens, forward + backward).
    """
    tokens = sum(lengths)
    return 6 * n_params * tokens + 12 * layers * width * sum(s * s for s in lengths)


def mfu(flops: float, seconds: float, peak_tflops: float | None) -> float | None:
    """Achieved FLOP/s as a fraction of ``peak_tflops`` (None without a peak)."""
    if not peak_tflops or seconds <= 0:
        return None
    return flops / seconds / (peak_tflops * 1e12)


def peak_tflops_for(device_name: str) -> float | None:
    """The card's dense bf16 peak from its name, or None when unknown (then pass ``--peak_tflops``)."""
    name = device_name.lower()
    return next((peak for key, peak in PEAK_TFLOPS if key.lower() in name), None)


def split_lengths(position_ids: Sequence[int]) -> list[int]:
    """Lengths of the samples of a packed row: a sample starts wherever ``position_ids`` is 0.

    >>> split_lengths([0, 1, 2, 0, 1, 0])
    [3, 2, 1]
    """
    starts = [i for i, p in enumerate(position_ids) if int(p) == 0] or [0]
    return [b - a for a, b in zip(starts, starts[1:] + [len(position_ids)])]


# --------------------------------------------------------------------------------- 1. packed = unpacked


def check_model(attention: str, dtype: Any, device: str, tiny: bool = False) -> Any:
    """A small random Llama for the packed = unpacked check (``tiny``: hidden 64, 2 layers)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    shape = (
        {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4}
        if tiny
        else {"hidden_size": 256, "intermediate_size": 704, "num_hidden_layers": 4, "num_attention_heads": 4}
    )
    config = LlamaConfig(
        vocab_size=1000 if tiny else 2048,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        use_cache=False,
        **shape,
    )
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attention, dtype=dtype)
    return model.to(device).eval()


def random_samples(n: int, min_len: int, max_len: int, vocab: int, seed: int = SEED) -> list[Any]:
    """``n`` samples of random ids and lengths; the first up to half of each is untrained (a "prompt")."""
    from llm.data.encode import IGNORE_INDEX, Sample

    rng = random.Random(seed)
    samples = []
    for _ in range(n):
        length = rng.randint(min_len, max_len)
        ids = [rng.randrange(vocab) for _ in range(length)]
        prompt = rng.randint(1, length // 2)
        samples.append(Sample(ids, [IGNORE_INDEX] * prompt + ids[prompt:]))
    return samples


def packed_vs_unpacked(
    model: Any, samples: Sequence[Any], max_length: int, tolerances: tuple[float, float]
) -> dict[str, Any]:
    """Loss and logits of ``samples`` packed (``pack`` + ``PaddingFreeCollator(flatten=True)``) vs one by one.

    Returns the packed loss, the token-weighted mean of the separate losses, their absolute difference,
    the largest logit difference relative to the largest logit, the same two for the leak control
    (``position_ids`` 0..T-1, so samples attend across their joins) and ``passed``.
    """
    import torch

    from llm.data.collate import PaddingFreeCollator
    from llm.data.encode import IGNORE_INDEX
    from llm.data.stacking import pack

    loss_tol, logit_tol = tolerances
    device = next(model.parameters()).device
    rows, efficiency = pack(samples, list(range(len(samples))), max_length, seed=SEED)
    features = [{"input_ids": r.input_ids, "labels": r.labels, "position_ids": r.position_ids} for r in rows]
    batch = {k: v.to(device) for k, v in PaddingFreeCollator(flatten=True)(features).items()}
    order = [i for row in rows for i in row.sources]  # the samples in the order they sit in the sequence

    with torch.no_grad():
        packed = model(**batch, use_cache=False)
        total = batch["input_ids"].shape[1]
        leak = model(
            input_ids=batch["input_ids"],
            labels=batch["labels"],
            position_ids=torch.arange(total, device=device)[None],
            use_cache=False,
        )
        weighted, counted, alone = 0.0, 0, {}
        for i, sample in enumerate(samples):
            labels = [IGNORE_INDEX, *sample.labels[1:]]
            out = model(
                input_ids=torch.tensor([sample.input_ids], device=device),
                labels=torch.tensor([labels], device=device),
                use_cache=False,
            )
            n = sum(1 for x in labels[1:] if x != IGNORE_INDEX)  # the tokens this sample's loss averages
            weighted += float(out.loss) * n
            counted += n
            alone[i] = out.logits[0].float()
    reference = torch.cat([alone[i] for i in order])
    scale = float(reference.abs().max())
    unpacked = weighted / counted
    loss_diff = abs(float(packed.loss) - unpacked)
    logit_diff = float((packed.logits[0].float() - reference).abs().max()) / scale
    leak_loss_diff = abs(float(leak.loss) - unpacked)
    leak_logit_diff = float((leak.logits[0].float() - reference).abs().max()) / scale
    leak_detected = leak_logit_diff > logit_tol
    return {
        "attention": model.config._attn_implementation,
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "samples": len(samples),
        "rows": len(rows),
        "tokens": total,
        "trained_tokens": counted,
        "packing_efficiency": efficiency,
        "loss_packed": float(packed.loss),
        "loss_unpacked": unpacked,
        "loss_abs_diff": loss_diff,
        "loss_tolerance": loss_tol,
        "logit_rel_diff": logit_diff,
        "logit_tolerance": logit_tol,
        "max_abs_logit": scale,
        "leak_loss_abs_diff": leak_loss_diff,
        "leak_logit_rel_diff": leak_logit_diff,
        "leak_detected": leak_detected,
        "passed": loss_diff <= loss_tol and logit_diff <= logit_tol and leak_detected,
    }


def phase_check(args: argparse.Namespace, res: dict) -> None:
    import torch

    cuda = args.device.startswith("cuda")
    flash, why = usable("flash_attn", args.device)
    if args.tiny:
        attention = "sdpa"
        print("check: --tiny uses sdpa (FlashAttention-2 is checked on the full run)")
    elif flash:
        attention = "flash_attention_2"
    else:
        attention = "sdpa"
        print(
            f"check: SKIPPED the FlashAttention-2 check: flash-attn {why} (pip install -e '.[flash]'); "
            "running the same check with sdpa instead"
        )
    dtype = torch.bfloat16 if cuda else torch.float32
    model = check_model(attention, dtype, args.device, tiny=args.tiny)
    n, top, row = (6, 120, 256) if args.tiny else (16, 400, 1024)
    samples = random_samples(n, 16, top, model.config.vocab_size)
    result = packed_vs_unpacked(model, samples, row, TOLERANCES[str(dtype).removeprefix("torch.")])
    result["flash_attn"] = why
    res["packed_vs_unpacked"] = result
    r = result
    print(
        f"check ({r['attention']}, {r['dtype']}): {r['samples']} samples in {r['rows']} rows; loss packed "
        f"{r['loss_packed']:.6f} vs unpacked {r['loss_unpacked']:.6f}: |Δ| {r['loss_abs_diff']:.2e} (tol "
        f"{r['loss_tolerance']:.0e}); max|Δlogit|/max|logit| {r['logit_rel_diff']:.1e} (tol "
        f"{r['logit_tolerance']:.0e}); leak control: |Δloss| {r['leak_loss_abs_diff']:.1e}, max|Δlogit|/max|logit| "
        f"{r['leak_logit_rel_diff']:.1e} ({'detected' if r['leak_detected'] else 'NOT detected'}) -> "
        f"{'PASS' if r['passed'] else 'FAIL'}"
    )


# ---------------------------------------------------------------------------------------- 2. matmul ceiling


def matmul_tflops(
    m: int, n: int, k: int, device: str, dtype: Any, window_s: float = 0.2, windows: int = 5
) -> dict[str, float]:
    """TFLOP/s of ``[m, k] @ [k, n]``: a warm-up, then ``windows`` timed windows of ~``window_s`` each."""
    import torch

    cuda = device.startswith("cuda")
    a = torch.randn(m, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    c = torch.empty(m, n, device=device, dtype=dtype)

    def timed(reps: int) -> float:
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                torch.matmul(a, b, out=c)
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000
        t = time.perf_counter()
        for _ in range(reps):
            torch.matmul(a, b, out=c)
        return time.perf_counter() - t

    timed(3)  # warm-up: kernel selection, clocks
    reps = max(1, math.ceil(window_s / max(timed(3) / 3, 1e-6)))
    rates = [2 * m * n * k * reps / timed(reps) / 1e12 for _ in range(windows)]
    return {"m": m, "n": n, "k": k, "reps": reps, "tflops": statistics.median(rates), "best": max(rates)}


def phase_matmul(args: argparse.Namespace, res: dict, tokens: int, hidden: int, mlp: int) -> None:
    import torch

    if args.device.startswith("cuda"):
        dtype = torch.bfloat16
        shapes = [(4096, 4096, 4096), (8192, 8192, 8192), (16384, 16384, 16384)]
        shapes += [(tokens, mlp, hidden), (tokens, hidden, mlp)]  # the 1B model's MLP up / down projections
    else:
        dtype = torch.float32
        shapes = [(256, 256, 256), (512, 512, 512)]
    results = []
    for m, n, k in shapes:
        r = matmul_tflops(m, n, k, args.device, dtype, window_s=0.2 if args.device != "cpu" else 0.05)
        results.append(r)
        print(f"matmul {m}x{k} @ {k}x{n} {str(dtype)[6:]}: {r['tflops']:.3g} TFLOP/s (best {r['best']:.3g})")
    best = max(results, key=lambda r: r["tflops"])
    res["matmul"] = {
        "dtype": str(dtype).removeprefix("torch."),
        "shapes": results,
        "ceiling_tflops": best["tflops"],
    }
    print(f"matmul ceiling: {best['tflops']:.3g} TFLOP/s ({best['m']}x{best['k']} @ {best['k']}x{best['n']})")


# ------------------------------------------------------------------------------------------- 3-4. SFT runs


def step_counter(helpers: Any, inner: Any) -> Any:
    """``sft_throughput.CountingCollator`` that also keeps every batch's sample lengths, and counts real
    tokens from the rows themselves (a filler sample added by ``flatten=False`` is not real)."""

    class StepCounter(helpers.CountingCollator):
        def __init__(self, inner: Any):
            super().__init__(inner)
            self.lengths: list[list[int]] = []

        def __call__(self, features: Any) -> Any:
            batch = super().__call__(features)
            lengths: list[int] = []
            for f in features:
                if f.get("position_ids") is not None:  # our packed rows
                    lengths += split_lengths(f["position_ids"])
                elif f.get("seq_lengths") is not None:  # TRL's bfd rows
                    lengths += [int(s) for s in f["seq_lengths"]]
                else:
                    lengths.append(len(f["input_ids"]))
            self.real[-1] = sum(lengths)
            self.lengths.append(lengths)
            return batch

    return StepCounter(inner)


def step_callbacks(name: str, warmup: int, total: int, deadline: float, cuda: bool) -> Any:
    """A callback that synchronises CUDA before the meter stamps a step, prints progress, and stops the
    timed steps at ``deadline``."""
    from transformers import TrainerCallback

    class Steps(TrainerCallback):
        def __init__(self):
            self.last = time.perf_counter()
            self.stopped_early = False

        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                import torch

                torch.cuda.synchronize()
            now = time.perf_counter()
            step = state.global_step
            tag = "warm-up" if step <= warmup else "timed"
            print(f"  {name} step {step}/{total} ({tag}) {now - self.last:.3f} s", flush=True)
            self.last = now
            if now > deadline and step > warmup and step < total:
                print(f"  {name}: --seconds budget reached, stopping after step {step}", flush=True)
                self.stopped_early = True
                control.should_training_stop = True
            return control

    return Steps()


def checkpointing_field() -> str:
    """``activation_checkpointing`` (transformers >= 5.x), or its older name ``gradient_checkpointing``."""
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def sft_run(kind: str, ctx: Any, batch: int, checkpointing: bool, deadline: float) -> dict[str, Any]:
    """One timed training run (``kind`` "ours" or "trl") on a deep copy of the shared initial model."""
    import torch
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    from llm.data.collate import padding_free_for

    helpers = bench_helpers()
    cuda = ctx.device.startswith("cuda")
    model = copy.deepcopy(ctx.model)
    total = ctx.warmup + ctx.steps
    common = {
        "output_dir": str(ctx.work / f"out-{kind}"),
        "per_device_train_batch_size": batch,
        "gradient_accumulation_steps": 1,
        "max_steps": total,
        "learning_rate": ctx.lr,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": not cuda,
        "bf16": cuda,
        "fp16": False,
        checkpointing_field(): checkpointing,
        "use_liger_kernel": ctx.liger,
        "seed": SEED,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
    }
    if kind == "ours":
        counts = step_counter(helpers, padding_free_for(model, ctx.tokenizer))
        trainer = Trainer(
            model=model,
            args=TrainingArguments(**common),
            train_dataset=ctx.rows,
            data_collator=counts,
            processing_class=ctx.tokenizer,
        )
    else:
        from trl import SFTConfig, SFTTrainer

        config = SFTConfig(
            **common,
            assistant_only_loss=True,
            packing=True,
            packing_strategy="bfd",
            max_length=ctx.max_length,
        )
        trainer = SFTTrainer(
            model=model, args=config, train_dataset=ctx.messages, processing_class=ctx.trl_tokenizer
        )
        # SFTTrainer rejects a custom collator with padding-free batches, so the counter wraps its own.
        counts = step_counter(helpers, trainer.data_collator)
        trainer.data_collator = counts
    trainer.remove_callback(PrinterCallback)  # the step lines below say enough
    steps_cb = step_callbacks(kind, ctx.warmup, total, deadline, cuda)
    meter = helpers.make_meter(counts, ctx.warmup, float("inf"))
    trainer.add_callback(steps_cb)  # first: it synchronises before the meter stamps
    trainer.add_callback(meter)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    interrupted = False
    try:
        trainer.train()
    except KeyboardInterrupt:  # keep the steps timed so far
        interrupted = True
    if meter.start is None or meter.end is None or not meter.steps:
        if interrupted:
            raise KeyboardInterrupt
        raise RuntimeError(f"{kind}: no timed step completed")
    seconds = meter.end - meter.start
    timed = counts.lengths[ctx.warmup : ctx.warmup + meter.steps]
    flops = sum(step_flops(lengths, ctx.n_params, ctx.layers, ctx.width) for lengths in timed)
    samples = sum(len(lengths) for lengths in timed)
    result = {
        "batch_rows": batch,
        "gradient_checkpointing": checkpointing,
        "liger": ctx.liger,
        "attention": model.config._attn_implementation,
        "optim": str(getattr(trainer.args.optim, "value", trainer.args.optim)),
        "timed_steps": meter.steps,
        "stopped_early": steps_cb.stopped_early,
        "seconds": seconds,
        "real_tokens": meter.real,
        "tokens_per_step": meter.real / meter.steps,
        "samples_per_step": samples / meter.steps,
        "mean_sample_length": meter.real / samples,
        "tokens_per_s": meter.real / seconds,
        "flops": flops,
        "attention_flops_share": 1 - 6 * ctx.n_params * meter.real / flops,
        "tflops": flops / seconds / 1e12,
        "mfu_peak": mfu(flops, seconds, ctx.peak),
        "mfu_ceiling": mfu(flops, seconds, ctx.ceiling),
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "loss_first": meter.losses[0] if meter.losses else None,
        "loss_last": meter.losses[-1] if meter.losses else None,
    }
    if kind == "trl":
        result["trl_rows"] = len(trainer.train_dataset)
    if interrupted:
        result["interrupted"] = True
        raise PartialRun(kind, result)
    if bool(trainer.args.gradient_checkpointing) != checkpointing:
        raise RuntimeError(
            f"{kind}: gradient checkpointing is {trainer.args.gradient_checkpointing}, not {checkpointing}"
        )
    return result


class PartialRun(KeyboardInterrupt):
    """An interrupted training run, with what its timed steps measured."""

    def __init__(self, kind: str, result: dict[str, Any]):
        super().__init__(kind)
        self.kind, self.result = kind, result


def fit_and_run(kind: str, ctx: Any, attempts: list[tuple[int, bool]], deadline: float) -> dict[str, Any]:
    """``sft_run`` with the first (batch, gradient checkpointing) of ``attempts`` that fits in memory."""
    import torch

    notes = []
    for batch, checkpointing in attempts:
        print(f"{kind}: {batch} rows of {ctx.max_length} a step, gradient checkpointing {checkpointing}")
        try:
            result = sft_run(kind, ctx, batch, checkpointing, deadline)
        except torch.cuda.OutOfMemoryError:
            notes.append(f"out of memory with {batch} rows, gradient checkpointing {checkpointing}")
            print(f"{kind}: {notes[-1]}; trying less", flush=True)
            result = None
        free_memory()
        if result is not None:
            result["notes"] = notes
            return result
    raise RuntimeError(f"{kind}: out of memory in every setting tried ({'; '.join(notes)})")


def attempts_from(batch: int) -> list[tuple[int, bool]]:
    """Batch sizes to try: ``batch``, halved down to 1, then 1 row with gradient checkpointing.

    >>> attempts_from(4)
    [(4, False), (2, False), (1, False), (1, True)]
    """
    sizes = []
    while batch >= 1:
        sizes.append((batch, False))
        batch //= 2
    return [*sizes, (1, True)]


def prepare_sft(args: argparse.Namespace, res: dict, work: Path) -> Any:
    """Data (ours and TRL's), tokenizers and the one initial model every run deep-copies."""
    import datasets
    from transformers import set_seed

    from llm.data.tokenizer import load_tokenizer
    from llm.models.loading import MODEL_CONFIGS, ModelArguments, build_model

    helpers = bench_helpers()
    cuda = args.device.startswith("cuda")
    helpers.VOCAB = TINY_VOCAB if args.tiny else VOCAB  # the tokenizer size `prepare` asks for
    t = time.perf_counter()
    spec = argparse.Namespace(max_length=args.max_length, steps=args.steps, rows=args.batch, samples=0)
    with contextlib.redirect_stdout(io.StringIO()):
        meta = helpers.prepare(spec, work)
    datasets.disable_progress_bars()
    rows = datasets.load_from_disk(str(work / "ours"))["train"]
    needed = args.batch * (args.warmup + args.steps)
    repeat = max(1, math.ceil(needed / len(rows)))
    if repeat > 1:
        rows = datasets.concatenate_datasets([rows] * repeat)
    lines = (work / "messages.jsonl").read_text().splitlines() * repeat
    messages = datasets.Dataset.from_list([json.loads(line) for line in lines])
    meta.update({"repeat": repeat, "rows_used": len(rows), "prepare_seconds": time.perf_counter() - t})
    res["data"] = meta
    print(
        f"data: {meta['records']} PIPPA chats -> {meta['samples']} windows, {meta['tokens']} tokens -> "
        f"{meta['rows']} rows of {args.max_length} (packing efficiency {meta['packing_efficiency']:.1%}), "
        f"x{repeat} -> {len(rows)} rows; vocabulary {meta['vocab']} (asked {helpers.VOCAB}); "
        f"{meta['trl_ids_differ']}/{meta['samples']} windows tokenized differently by TRL; "
        f"{time.perf_counter() - t:.0f} s"
    )

    tokenizer = load_tokenizer(str(work / "ours" / "tokenizer"))
    trl_tokenizer = load_tokenizer(str(work / "ours" / "tokenizer"))
    trl_tokenizer.chat_template = helpers.trl_template()
    flash, flash_why = usable("flash_attn", args.device)
    attention = "flash_attention_2" if flash and not args.tiny else "sdpa"
    config_name = "tiny" if args.tiny else "llama-1b"
    t = time.perf_counter()
    set_seed(SEED)
    model = build_model(ModelArguments(model_config=config_name, attn_implementation=attention), tokenizer)
    liger, liger_why = usable("liger_kernel.transformers", args.device)
    total_params = sum(p.numel() for p in model.parameters())
    n_params = matmul_params(model)
    ctx = SimpleNamespace(
        model=model,
        tokenizer=tokenizer,
        trl_tokenizer=trl_tokenizer,
        rows=rows,
        messages=messages,
        work=work,
        device=args.device,
        max_length=args.max_length,
        steps=args.steps,
        warmup=args.warmup,
        lr=1e-3 if args.tiny else 3e-4,
        liger=liger,
        n_params=n_params,
        layers=model.config.num_hidden_layers,
        width=attention_width(model.config),
        peak=res.get("peak_tflops"),
        ceiling=res.get("matmul", {}).get("ceiling_tflops"),
    )
    res["model"] = {
        "config": config_name,
        "shape": MODEL_CONFIGS[config_name],
        "vocab": model.config.vocab_size,
        "parameters": total_params,
        "matmul_parameters_N": n_params,
        "layers_L": ctx.layers,
        "attention_width_a": ctx.width,
        "attention": attention,
        "liger": liger,
        "liger_status": liger_why,
        "flash_attn_status": flash_why,
        "precision": "bf16 autocast, fp32 master weights" if cuda else "fp32",
        "init_checksum": sum(float(p.detach().double().sum()) for p in model.parameters()),
        "build_seconds": time.perf_counter() - t,
        "flops_formula": "6*N*T + 12*L*a*sum(s_i^2) per step (T = sum(s_i) real tokens, s_i each sample's length)",
    }
    print(
        f"model: {config_name}, {total_params / 1e6:.1f}M parameters, N = {n_params / 1e6:.1f}M in matmuls "
        f"(LM head included, input embedding not), L {ctx.layers}, a {ctx.width}, vocab "
        f"{model.config.vocab_size}, {attention}, liger {'on' if liger else f'off ({liger_why})'}; "
        f"built in {time.perf_counter() - t:.0f} s",
        flush=True,
    )
    return ctx


# ------------------------------------------------------------------------------------------ report (pure-ish)


def phase_dpo(args: argparse.Namespace, res: dict, work: Path, deadline: float) -> None:
    """DPO pairs/s, ours (prompt shared) against TRL's DPOTrainer, ~1B Llama in bf16: bench/dpo_throughput.py."""
    out = work / "dpo.json"
    cmd = [sys.executable, str(Path(__file__).with_name("dpo_throughput.py")), "--device", args.device,
           "--model", "llama-1b", "--steps", "6", "--warmup", "2", "--repeats", "1", "--json", str(out)]  # fmt: skip
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=max(60, deadline - time.perf_counter())
    )
    print(done.stdout[-2000:])
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    res["dpo"] = json.loads(out.read_text())


def summarize(res: dict) -> dict[str, Any]:
    ours, trl = res.get("sft", {}).get("ours"), res.get("sft", {}).get("trl")
    summary: dict[str, Any] = {
        "packed_equals_unpacked": res.get("packed_vs_unpacked", {}).get("passed"),
        "ceiling_tflops": res.get("matmul", {}).get("ceiling_tflops"),
        "peak_tflops": res.get("peak_tflops"),
        "ours_tokens_per_s": ours and ours["tokens_per_s"],
        "trl_tokens_per_s": trl and trl["tokens_per_s"],
        "ours_mfu_peak": ours and ours["mfu_peak"],
        "ours_mfu_ceiling": ours and ours["mfu_ceiling"],
        "ours_over_trl": ours and trl and ours["tokens_per_s"] / trl["tokens_per_s"],
    }
    summary["goal_mfu_ceiling"] = (
        None if summary["ours_mfu_ceiling"] is None else summary["ours_mfu_ceiling"] >= CEILING_GOAL
    )
    summary["goal_over_trl"] = (
        None if summary["ours_over_trl"] is None else summary["ours_over_trl"] >= TRL_GOAL
    )
    return summary


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def _goal(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "NOT met")


def render_markdown(res: dict) -> str:
    """The results as markdown: a header, the checks table, the training table, the errors."""
    dev, ver, s = res.get("device", {}), res.get("versions", {}), res.get("summary", {})
    lines = [
        f"### GPU check: {dev.get('name', '?')}, {res.get('started', '?')}",
        "",
        ", ".join(
            f"{k} {ver.get(k) or '—'}"
            for k in ("torch", "cuda", "transformers", "trl", "flash_attn", "liger_kernel")
        )
        + f"; `python bench/gpu_check.py {' '.join(res.get('argv', []))}`",
        "",
        "| check | result | goal |",
        "|---|---|---|",
    ]
    c = res.get("packed_vs_unpacked")
    if c:
        lines.append(
            f"| packed = unpacked ({c['attention']}, {c['dtype']}, {c['samples']} samples in {c['rows']} rows) "
            f"| \\|Δloss\\| {c['loss_abs_diff']:.1e} (tol {c['loss_tolerance']:.0e}), max\\|Δlogit\\|/max\\|logit\\| "
            f"{c['logit_rel_diff']:.1e} (tol {c['logit_tolerance']:.0e}), leak control "
            f"{c['leak_logit_rel_diff']:.1e}: **{'pass' if c['passed'] else 'FAIL'}** | pass |"
        )
    m = res.get("matmul")
    if m:
        best = max(m["shapes"], key=lambda r: r["tflops"])
        lines.append(
            f"| {m['dtype']} matmul ceiling (median of 5 windows, best shape) | {m['ceiling_tflops']:.3g} "
            f"TFLOP/s ({best['m']}x{best['k']} @ {best['k']}x{best['n']}) | — |"
        )
    runs = res.get("sft", {})
    if runs:
        peak = res.get("peak_tflops")
        lines += [
            "",
            f"| trainer | rows x length | timed steps | tokens/s | TFLOP/s | MFU vs peak ({peak or '?'}) | "
            "MFU vs ceiling | peak mem GiB | loss first → last | vs TRL |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        trl = runs.get("trl")
        for name, r in runs.items():
            if "tokens_per_s" not in r:
                continue
            vs = f"{r['tokens_per_s'] / trl['tokens_per_s']:.2f}x" if trl and name != "trl" else "—"
            mem = "—" if r["peak_memory_gib"] is None else f"{r['peak_memory_gib']:.1f}"
            first, last = r["loss_first"], r["loss_last"]
            loss = "—" if first is None else f"{first:.3f} → {last:.3f}"
            label = "ours (Trainer + padding-free)" if name == "ours" else "TRL SFTTrainer (bfd)"
            steps = f"{r['timed_steps']}" + (
                " (interrupted)" if r.get("interrupted") else " (--seconds)" if r.get("stopped_early") else ""
            )
            lines.append(
                f"| {label} | {r['batch_rows']} x {res.get('args', {}).get('max_length')} | {steps} | "
                f"{r['tokens_per_s']:,.0f} | {r['tflops']:.3g} | {_pct(r['mfu_peak'])} | {_pct(r['mfu_ceiling'])} | "
                f"{mem} | {loss} | {vs} |"
            )
        mod = res.get("model", {})
        ours = runs.get("ours", {})
        liger = "on" if mod.get("liger") else f"off ({mod.get('liger_status')})"
        lines += [
            "",
            f"Goals: MFU vs measured ceiling >= {CEILING_GOAL:.0%}: {_pct(s.get('ours_mfu_ceiling'))} "
            f"({_goal(s.get('goal_mfu_ceiling'))}); ours >= {TRL_GOAL}x TRL tokens/s: "
            + ("—" if s.get("ours_over_trl") is None else f"{s['ours_over_trl']:.2f}x")
            + f" ({_goal(s.get('goal_over_trl'))}).",
            "",
            f"Model {mod.get('config')} ({mod.get('parameters', 0) / 1e6:.1f}M parameters, vocab {mod.get('vocab')}, "
            f"{mod.get('attention')}, {mod.get('precision')}, Liger {liger}, "
            f"optimizer {ours.get('optim', '?')}, gradient checkpointing {ours.get('gradient_checkpointing', '?')}). "
            f"FLOPs/step = 6·N·T + 12·L·a·Σ s_i² with N = {mod.get('matmul_parameters_N', 0) / 1e6:.1f}M "
            f"(matmul parameters: all linear layers + LM head, no input embedding), L = {mod.get('layers_L')}, "
            f"a = {mod.get('attention_width_a')}, s_i each packed sample's own length "
            f"(mean {ours.get('mean_sample_length', 0):.0f}; attention {_pct(ours.get('attention_flops_share'))} "
            "of the FLOPs).",
        ]
    dpo = res.get("dpo")
    if dpo and "ours" in dpo and "trl" in dpo:
        ratio = dpo["ours"]["pairs_per_s"] / dpo["trl"]["pairs_per_s"]
        lines += [
            "",
            f"DPO ({dpo['model']}, bf16, {dpo['pairs']} role-play pairs, bench/dpo_throughput.py): ours "
            f"{dpo['ours']['pairs_per_s']:.2f} pairs/s ({dpo['ours']['tokens_per_s']:,.0f} trained tokens/s), TRL "
            f"DPOTrainer {dpo['trl']['pairs_per_s']:.2f} pairs/s: {ratio:.2f}x (goal >= 1.5x: {_goal(ratio >= 1.5)}).",
        ]
    if res.get("args", {}).get("tiny"):
        lines += ["", "(--tiny: a smoke run of the script's logic; these numbers mean nothing)"]
    if res.get("interrupted"):
        lines += ["", f"Interrupted during {res['interrupted']} (time limit): later phases did not run."]
    for name, why in res.get("skipped", {}).items():
        lines += ["", f"{name} skipped: {why}."]
    if res.get("errors"):
        lines += [
            "",
            "Errors: " + "; ".join(f"{k}: {v.strip().splitlines()[-1]}" for k, v in res["errors"].items()),
        ]
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, res: dict) -> None:
    res["summary"] = summarize(res)
    res["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    (out / "gpu_check.md").write_text(render_markdown(res))


# ------------------------------------------------------------------------------------------------------ main


def versions() -> dict[str, str | None]:
    import torch

    found: dict[str, str | None] = {"torch": torch.__version__, "cuda": torch.version.cuda}
    for key, dist in (
        ("transformers", "transformers"),
        ("trl", "trl"),
        ("datasets", "datasets"),
        ("accelerate", "accelerate"),
        ("flash_attn", "flash-attn"),
        ("liger_kernel", "liger-kernel"),
    ):
        try:
            found[key] = version(dist)
        except PackageNotFoundError:
            found[key] = None
    return found


def device_info(device: str) -> dict[str, Any]:
    import torch

    if device.startswith("cuda"):
        p = torch.cuda.get_device_properties(torch.device(device))
        return {
            "name": p.name,
            "memory_gib": p.total_memory / 2**30,
            "capability": f"{p.major}.{p.minor}",
            "count": torch.cuda.device_count(),
        }
    return {"name": bench_helpers().cpu_model(), "cpus": os.cpu_count(), "threads": torch.get_num_threads()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", default=".", help="directory for gpu_check.json and gpu_check.md")
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps per trainer")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5; --tiny 1)")
    parser.add_argument("--batch", type=int, default=None, help="packed rows per step (default 4; --tiny 2)")
    parser.add_argument("--max_length", type=int, default=None, help="tokens per row (4096; --tiny 1024)")
    parser.add_argument("--seconds", type=float, default=400, help="time budget for the whole run")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu (with --tiny)")
    parser.add_argument("--peak_tflops", type=float, default=None, help="dense bf16 peak of an unknown card")
    parser.add_argument(
        "--tiny", action="store_true", help="smoke mode: tiny model, short rows, sdpa, CPU-able"
    )
    parser.add_argument("--skip_trl", action="store_true", help="do not run TRL's SFTTrainer")
    args = parser.parse_args(argv)
    args.warmup = max(1, args.warmup if args.warmup is not None else (1 if args.tiny else 5))
    args.batch = args.batch or (2 if args.tiny else 4)
    args.max_length = args.max_length or (1024 if args.tiny else 4096)
    args.steps = max(1, args.steps)
    return args


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    deadline = started + args.seconds - RESERVE_S
    out = Path(args.out).resolve()
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(line_buffering=True)  # the caller's timeout may kill us: print as we go
    # `timeout --signal=INT` (gpu_check.sh) or a plain TERM: stop, write what was measured, exit. Installed
    # explicitly, since a process started in the background of a script inherits SIGINT as ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    import torch

    res: dict[str, Any] = {
        "schema": 1,
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "argv": argv,
        "args": vars(args),
        "errors": {},
        "skipped": {},
        "interrupted": None,
        "sft": {},
    }
    res["versions"] = versions()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        res["errors"]["setup"] = "CUDA is not available (for a CPU smoke run: --tiny --device cpu)"
        write_outputs(out, res)
        print(f"error: {res['errors']['setup']}", file=sys.stderr)
        return 1
    res["device"] = device_info(args.device)
    cuda = args.device.startswith("cuda")
    peak = args.peak_tflops or (peak_tflops_for(res["device"]["name"]) if cuda else None)
    res["peak_tflops"] = peak
    print(f"gpu_check on {res['device']['name']} ({args.device}); versions {res['versions']}")
    if cuda and peak is None:
        print("note: unknown card: pass --peak_tflops (dense bf16) for MFU against the peak")

    work = Path(tempfile.mkdtemp(prefix="gpu_check-"))
    os.environ.setdefault("LLM_TRAIN_CACHE", str(work / "cache"))  # the processed-data cache: not in $HOME

    def phase(name: str, fn: Any, *fn_args: Any) -> Any:
        print(f"== {name} ({time.perf_counter() - started:.0f} s in)", flush=True)
        try:
            return fn(*fn_args)
        except Exception:
            res["errors"][name] = traceback.format_exc()
            print(f"{name} FAILED:\n{res['errors'][name]}", file=sys.stderr, flush=True)
            return None
        finally:
            free_memory()
            write_outputs(out, res)

    current = "check"
    try:
        phase("check", phase_check, args, res)
        current = "matmul"
        # The 1B model's shapes for one step: batch x max_length tokens, hidden 2048, MLP 5632.
        phase("matmul", phase_matmul, args, res, args.batch * args.max_length, 2048, 5632)
        current = "prepare"
        ctx = phase("prepare", prepare_sft, args, res, work)
        if ctx is not None:
            current = "ours"
            left = deadline - time.perf_counter()
            share = left if args.skip_trl else 0.5 * left
            ours = phase(
                "ours", fit_and_run, "ours", ctx, attempts_from(args.batch), time.perf_counter() + share
            )
            if ours is not None:
                res["sft"]["ours"] = ours
                _print_run("ours", ours)
            current = "trl"
            if args.skip_trl:
                res["skipped"]["trl"] = "--skip_trl"
                print("== trl skipped (--skip_trl)")
            elif deadline - time.perf_counter() < 30:
                res["skipped"]["trl"] = "too little of --seconds left"
                print("== trl skipped: too little of --seconds left")
            else:
                # The setting that fitted ours first; less only if TRL needs it.
                fitted = (ours["batch_rows"], ours["gradient_checkpointing"]) if ours else (args.batch, False)
                tries = [a for a in attempts_from(args.batch) if a[0] <= fitted[0] and a[1] >= fitted[1]]
                trl = phase("trl", fit_and_run, "trl", ctx, tries, deadline)
                if trl is not None:
                    res["sft"]["trl"] = trl
                    _print_run("trl", trl)
        current = "dpo"
        if args.tiny:
            res["skipped"]["dpo"] = "--tiny (bench/dpo_throughput.py runs on CPU by itself)"
        elif deadline - time.perf_counter() < 120:
            res["skipped"]["dpo"] = "too little of --seconds left"
            print("== dpo skipped: too little of --seconds left")
        else:
            phase("dpo", phase_dpo, args, res, work, deadline)
    except KeyboardInterrupt as stop:  # `timeout --signal=INT` in gpu_check.sh
        if isinstance(stop, PartialRun):
            res["sft"][stop.kind] = stop.result
            _print_run(stop.kind, stop.result)
        res["interrupted"] = current
        res["errors"][current] = "interrupted (time limit)"
        print(f"interrupted during {current}; writing what was measured", flush=True)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)

    write_outputs(out, res)
    print(f"\n== results ({time.perf_counter() - started:.0f} s)\n")
    print(render_markdown(res))
    print(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'}")
    if res["interrupted"]:
        return 130
    check_ok = res.get("packed_vs_unpacked", {}).get("passed", False)
    return 0 if check_ok and not res["errors"] else 1


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _print_run(name: str, r: dict) -> None:
    print(
        f"{name}: {r['timed_steps']} timed steps, {r['tokens_per_s']:,.0f} tokens/s, {r['tflops']:.3g} TFLOP/s, "
        f"MFU {_pct(r['mfu_peak'])} of peak / {_pct(r['mfu_ceiling'])} of ceiling, "
        f"{r['samples_per_step']:.1f} samples a step (mean length {r['mean_sample_length']:.0f})",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
