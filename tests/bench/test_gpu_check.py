"""``bench/gpu_check.py`` on CPU: its FLOPs / MFU formulas against hand-computed numbers, the packed = unpacked
check with a tiny fp32 model and sdpa, and one ``--tiny --device cpu`` run end to end. No GPU code path runs
here (the script's CUDA branches are only taken with ``--device cuda``)."""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO
from tests.helpers.bench import script_module

gpu_check = script_module("gpu_check")


def tiny_llama(vocab: int = 1000, attention: str = "sdpa"):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        tie_word_embeddings=True,
        use_cache=False,
    )
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, attn_implementation=attention, dtype=torch.float32).eval()


def test_doctests():
    assert doctest.testmod(gpu_check).failed == 0


def test_flops_of_a_step_by_hand():
    model = tiny_llama(vocab=1000)
    # Per layer: q, k, v, o 4·64·64 = 16,384; gate, up, down 3·64·256 = 49,152 → 65,536; x2 layers = 131,072;
    # + the tied LM head 1000·64 = 64,000 (its matmul counts, the input embedding's lookup does not).
    n = gpu_check.matmul_params(model)
    assert n == 195_072
    assert sum(p.numel() for p in model.parameters()) == n + 2 * 2 * 64 + 64  # + the norms' weights
    assert gpu_check.attention_width(model.config) == 64
    # Two packed samples of 3 and 5 tokens: 6·N·8 + 12·L·a·(3² + 5²) = 9,363,456 + 52,224.
    assert gpu_check.step_flops([3, 5], n, 2, 64) == 9_415_680
    # Packing does not change the attention term: the samples attend over their own lengths only.
    assert gpu_check.step_flops([3, 5], n, 2, 64) < gpu_check.step_flops([8], n, 2, 64)


def test_llama_1b_matmul_parameters():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from llm.models.loading import MODEL_CONFIGS

    config = LlamaConfig(vocab_size=32000, tie_word_embeddings=True, **MODEL_CONFIGS["llama-1b"])
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    # Per layer: q, o 2·2048² + k, v 2·2048·256 (4 KV heads x 64) + MLP 3·2048·5632 = 44,040,192; x22 layers
    # = 968,884,224; + LM head 32,000·2048 = 65,536,000.
    assert gpu_check.matmul_params(model) == 1_034_420_224
    assert gpu_check.attention_width(config) == 2048


def test_mfu_and_peaks():
    assert gpu_check.mfu(989e12, 1.0, 989) == pytest.approx(1.0)
    assert gpu_check.mfu(989e12, 2.0, 989) == pytest.approx(0.5)
    assert gpu_check.mfu(4.5e14, 1.0, 1000) == pytest.approx(0.45)
    assert gpu_check.mfu(1e12, 1.0, None) is None
    assert gpu_check.peak_tflops_for("NVIDIA H100 80GB HBM3") == 989
    assert gpu_check.peak_tflops_for("NVIDIA H200") == 989
    assert gpu_check.peak_tflops_for("NVIDIA H100 PCIe") == 756
    assert gpu_check.peak_tflops_for("NVIDIA H100 NVL") == 835
    assert gpu_check.peak_tflops_for("NVIDIA A100-SXM4-80GB") is None


def test_step_counter_counts_samples_not_filler():
    import torch

    from llm.data.collate import PaddingFreeCollator

    rows = [
        {"input_ids": [1, 2, 3, 4, 5], "labels": [1, 2, 3, 4, 5], "position_ids": [0, 1, 2, 0, 1]},
        {"input_ids": [6, 7], "labels": [6, 7], "position_ids": [0, 1]},
    ]
    counts = gpu_check.step_counter(gpu_check.bench_helpers(), PaddingFreeCollator(flatten=False))
    batch = counts(rows)
    assert batch["input_ids"].shape == (2, 5)  # the short row filled with a 3-token filler sample
    assert counts.lengths == [[3, 2, 2]]
    assert counts.real == [7]

    def trl_like(features):  # TRL's bfd rows carry their samples' lengths; its batch is one flat row
        return {"input_ids": torch.ones(1, 4, dtype=torch.long), "labels": torch.ones(1, 4, dtype=torch.long)}

    counts = gpu_check.step_counter(gpu_check.bench_helpers(), trl_like)
    counts([{"input_ids": [1, 2, 3, 4], "seq_lengths": [3, 1]}])
    assert counts.lengths == [[3, 1]] and counts.real == [4]


def test_attempts_shrink_then_checkpoint():
    assert gpu_check.attempts_from(4) == [(4, False), (2, False), (1, False), (1, True)]
    assert gpu_check.attempts_from(1) == [(1, False), (1, True)]


def test_packed_equals_unpacked_fp32_sdpa():
    model = tiny_llama()
    samples = gpu_check.random_samples(6, 8, 100, model.config.vocab_size)
    result = gpu_check.packed_vs_unpacked(
        model, samples, max_length=200, tolerances=gpu_check.TOLERANCES["float32"]
    )
    assert result["rows"] >= 2 and result["tokens"] == sum(len(s) for s in samples)
    assert result["loss_abs_diff"] < 1e-5
    assert result["logit_rel_diff"] < 1e-4
    # The leak control (samples attending across their joins) is far outside the tolerance: the check can fail.
    assert result["leak_detected"] and result["leak_logit_rel_diff"] > 100 * result["logit_tolerance"]
    assert result["passed"]


def test_markdown_survives_a_failed_run():
    md = gpu_check.render_markdown(
        {"errors": {"check": "Traceback (most recent call last):\n  ...\nValueError: boom\n"}, "sft": {}}
    )
    assert "check: ValueError: boom" in md


@pytest.mark.slow
def test_tiny_run_end_to_end(tmp_path):
    out = tmp_path / "out"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "LLM_TRAIN_CACHE": str(tmp_path / "cache"),
    }
    cmd = [sys.executable, str(REPO / "bench" / "gpu_check.py"), "--tiny", "--device", "cpu", "--steps", "2"]
    proc = subprocess.run(
        [*cmd, "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((out / "gpu_check.json").read_text())
    assert {
        "device",
        "versions",
        "packed_vs_unpacked",
        "matmul",
        "data",
        "model",
        "sft",
        "summary",
        "errors",
    } <= set(res)
    assert res["errors"] == {} and res["interrupted"] is None
    assert res["packed_vs_unpacked"]["passed"]
    assert res["matmul"]["ceiling_tflops"] > 0
    for name in ("ours", "trl"):
        run = res["sft"][name]
        assert run["timed_steps"] == 2 and run["tokens_per_s"] > 0 and run["flops"] > 0
        assert run["mfu_ceiling"] is not None and run["mfu_peak"] is None  # no peak for a CPU
    assert res["summary"]["ours_over_trl"] > 0
    md = (out / "gpu_check.md").read_text()
    assert "| ours (Trainer + padding-free) |" in md and "| TRL SFTTrainer (bfd) |" in md
    assert "== results" in proc.stdout


@pytest.mark.parametrize("limit", ["300", "0"])
def test_shell_script_runs_real_speed_on_cuda(tmp_path, limit):
    """``bench/gpu_check.sh`` step 5: ``real_speed.py --device cuda`` into ``$OUT/real_speed`` (skipped with
    ``REAL_SPEED_LIMIT=0``). A stand-in ``python`` and ``nvidia-smi`` record what the script calls."""
    calls = tmp_path / "calls.txt"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (fake / "nvidia-smi").write_text("#!/bin/sh\necho fake GPU\n")
    for tool in fake.iterdir():
        tool.chmod(0o755)
    out = tmp_path / "out"
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}", "PYTHON": str(fake / "python"),
           "OUT": str(out), "REAL_SPEED_LIMIT": limit}  # fmt: skip
    proc = subprocess.run(
        ["bash", str(REPO / "bench" / "gpu_check.sh")], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = calls.read_text().splitlines()
    assert any(line.startswith("bench/gpu_check.py --out") for line in lines), lines
    real = [line for line in lines if line.startswith("bench/real_speed.py")]
    if limit == "0":
        assert not real
    else:
        assert len(real) == 1 and f"--device cuda --work_dir {out}/real_speed --max_length" in real[0], real
