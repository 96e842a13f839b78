#!/usr/bin/env bash
# GRPO (no critic) of an SFT policy on one node or more: data-parallel over the GPUs with accelerate; the reward
# from checks, your function, or a reward model served from the last GPU (of each node).
#
#   scripts/run_grpo.sh                                  # TL;DR prompts, reward model served from the last GPU
#   REWARD=local scripts/run_grpo.sh                     # reward model loaded in every process instead
#   ENV=roleplay scripts/run_grpo.sh                     # multi-turn role-play episodes, rewarded by the checks
#
# What to change:
#   SFT        the starting policy (and the frozen reference), e.g. runs/tldr-sft
#   RM         a reward model (llm-train rm output); HELD_OUT an optional second one, scored, never optimised
#   NUM_GPUS   GPUs on this node; with REWARD=server the last one serves the reward model
#   PORT       where the reward server listens (127.0.0.1 only); TOKEN_FILE protects it
#   REWARD     server | local (the reward model in every process) | checks (no reward model: --env roleplay's
#              checks, or your --reward_fn / --reward_url flags)
#   NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT   several machines: run the script on EVERY node with its own
#              NODE_RANK and node 0's address; it becomes `accelerate launch --multi_gpu --num_machines NNODES
#              --machine_rank NODE_RANK --main_process_ip MASTER_ADDR --main_process_port MASTER_PORT`, e.g.
#                NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 scripts/run_grpo.sh     # on node0
#                NNODES=2 NODE_RANK=1 MASTER_ADDR=node0 scripts/run_grpo.sh     # on node1
#              (`make rehearse-multinode` runs this on two network namespaces, one CPU process each: docs/scaling.md)
# Extra flags go to `llm-train grpo` (e.g. --advantage rloo, --loss_type dapo --epsilon_high 0.28,
# --env_checks my_checks.json --env_user_turns chats.jsonl --turns 8 --turn_reward turn --env_controls 0.33).
# Single-turn runs can sample with a colocated vLLM engine: pip install -e ".[vllm]" and add --use_vllm.
set -euo pipefail

SFT=${SFT:-runs/tldr-sft}
RM=${RM:-runs/tldr-rm}
HELD_OUT=${HELD_OUT:-}
REWARD=${REWARD:-server}
ENV=${ENV:-none}
NUM_GPUS=${NUM_GPUS:-$(nvidia-smi -L 2>/dev/null | wc -l || echo 0)}
PORT=${PORT:-8000}
TOKEN_FILE=${TOKEN_FILE:-runs/rm.token}
OUTPUT_DIR=${OUTPUT_DIR:-runs/grpo}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}    # node 0's address, reachable from every node
MASTER_PORT=${MASTER_PORT:-29500}

ARGS=(
  --model_name_or_path "$SFT" --output_dir "$OUTPUT_DIR" --num_generations 8 --rollout_batch_size 256
  --mini_batch_size 64 --learning_rate 1e-6 --beta 0.04 --max_steps 500 --report_to tensorboard
)
if [ "$ENV" = roleplay ]; then
  ARGS+=(--env roleplay --turns 8 --turn_reward turn --env_controls 0.33 --response_length 128 --temperature 1.0)
  REWARD=checks  # the checks are the reward; add --reward_fn / --reward_model_path per turn if you like
else
  ARGS+=(--dataset tldr --max_prompt_length 512 --response_length 53 --temperature 0.7)
fi
[ -n "$HELD_OUT" ] && ARGS+=(--held_out_reward "$HELD_OUT")

launch() {  # launch PROCESSES_ON_THIS_NODE FLAGS...
  if [ "$1" -ge 1 ]; then
    local total=$(($1 * NNODES))
    local cmd=(accelerate launch --num_processes "$total")  # accelerate counts the processes of all machines
    if [ "$total" -gt 1 ]; then
      # --multi_gpu: accelerate starts torchrun; left to guess, with one GPU a machine it would start one lone process
      cmd+=(--multi_gpu --num_machines "$NNODES" --machine_rank "$NODE_RANK"
            --main_process_ip "$MASTER_ADDR" --main_process_port "$MASTER_PORT")
    fi
    "${cmd[@]}" -m llm.commands grpo "${@:2}"
  else
    echo "no GPU found: running on the CPU (fine for a smoke test, not for a real run)" >&2
    python -m llm.commands grpo "${@:2}"
  fi
}

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
  CUDA_VISIBLE_DEVICES=$(seq -s, 0 $((NUM_GPUS - 2))) launch $((NUM_GPUS - 1)) "${ARGS[@]}" \
    --reward_url "http://127.0.0.1:$PORT" --reward_token_file "$TOKEN_FILE" "$@"
elif [ "$REWARD" = checks ]; then
  launch "$NUM_GPUS" "${ARGS[@]}" "$@"
else
  launch "$NUM_GPUS" "${ARGS[@]}" --reward_model_path "$RM" "$@"
fi
