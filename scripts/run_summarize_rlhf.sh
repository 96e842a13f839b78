#!/usr/bin/env bash
# Step 3 of "Learning to Summarize from Human Feedback": PPO of the SFT policy against the reward model,
# with the TL;DR implementation details (Huang et al. 2024) — the defaults of `llm-train ppo` — on one node.
#
#   scripts/run_summarize_rlhf.sh                           # policy on GPUs 0..N-2, reward model served from the last
#   REWARD=local scripts/run_summarize_rlhf.sh              # reward model loaded in every PPO process instead
#
# What to change:
#   SFT        the step-1 checkpoint (policy and reference), e.g. runs/tldr-sft or CarperAI/openai_summarize_tldr_sft
#   RM         the step-2 reward model (its chosen rewards are centred at 0), e.g. runs/tldr-rm
#   NUM_GPUS   GPUs on this node; with REWARD=server the last one serves the reward model
#   PORT       where the reward server listens (127.0.0.1 only); TOKEN_FILE protects it
set -euo pipefail

SFT=${SFT:-runs/tldr-sft}
RM=${RM:-runs/tldr-rm}
REWARD=${REWARD:-server}
NUM_GPUS=${NUM_GPUS:-$(nvidia-smi -L 2>/dev/null | wc -l || echo 0)}
PORT=${PORT:-8000}
TOKEN_FILE=${TOKEN_FILE:-runs/rm.token}
OUTPUT_DIR=${OUTPUT_DIR:-runs/tldr-ppo}

ARGS=(
  --model_name_or_path "$SFT" --dataset tldr --max_prompt_length 512 --output_dir "$OUTPUT_DIR"
  --response_length 53 --temperature 0.7 --missing_eos_penalty -1.0 --kl_coef 0.05
  --rollout_batch_size 64 --mini_batch_size 16 --ppo_epochs 4 --learning_rate 3e-6 --max_steps 1000
  --value_model_path "$RM"
)

if [ "$REWARD" = server ] && [ "$NUM_GPUS" -ge 2 ]; then
  mkdir -p "$(dirname "$TOKEN_FILE")"
  [ -s "$TOKEN_FILE" ] || (umask 077 && python -c "import secrets; print(secrets.token_hex(24))" > "$TOKEN_FILE")
  CUDA_VISIBLE_DEVICES=$((NUM_GPUS - 1)) llm-train serve-reward --model "$RM" --port "$PORT" \
    --token_file "$TOKEN_FILE" --device cuda:0 --max_batch 64 &
  SERVER=$!
  # curl reads the header from a private file: a token on its command line would show in `ps`.
  HEADER=$(mktemp)
  trap 'kill $SERVER 2>/dev/null || true; rm -f "$HEADER"' EXIT
  printf 'Authorization: Bearer %s\n' "$(<"$TOKEN_FILE")" >"$HEADER"
  until curl -sf -H @"$HEADER" "http://127.0.0.1:$PORT/health" >/dev/null; do
    sleep 2
  done
  GPUS=$(seq -s, 0 $((NUM_GPUS - 2)))
  CUDA_VISIBLE_DEVICES=$GPUS accelerate launch --num_processes $((NUM_GPUS - 1)) -m llm.commands ppo "${ARGS[@]}" \
    --reward_url "http://127.0.0.1:$PORT" --reward_token_file "$TOKEN_FILE" "$@"
else
  if [ "$NUM_GPUS" -ge 1 ]; then
    accelerate launch --num_processes "$NUM_GPUS" -m llm.commands ppo "${ARGS[@]}" --reward_model_path "$RM" "$@"
  else
    echo "no GPU found: running on the CPU (fine for a smoke test, not for the real recipe)" >&2
    python -m llm.commands ppo "${ARGS[@]}" --reward_model_path "$RM" "$@"
  fi
fi
