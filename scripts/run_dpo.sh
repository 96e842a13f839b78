#!/usr/bin/env bash
# DPO of a 7B-class chat model on multi-turn preference pairs: ZeRO-3, bf16, FlashAttention-2, one node or more.
#
#   scripts/run_dpo.sh MODEL DATA.jsonl [OUTPUT_DIR] [--flag value ...]
#
#   MODEL       the SFT checkpoint (hub id or directory); the reference is a frozen copy of it, sharded by an
#               inference-only DeepSpeed engine under ZeRO-3 (or give --ref_model_name_or_path)
#   DATA.jsonl  preference pairs in TRL's formats (conversational, standard, implicit prompt; an optional
#               "character" card per record), or --dataset hh_rlhf / tldr_comparisons / kto
#   NUM_GPUS    GPUs to use on this node (default: all visible; 1 on a machine without one: a CPU process)
#
# Extra flags go to `llm-train dpo` (e.g. --loss_type simpo --beta 2.0, --lora_r 16, --precompute_ref_log_probs true).
#
# Multi-node, as scripts/run_finetune.sh (see its header): with the deepspeed launcher, on node 0 only,
#     NNODES=2 HOSTFILE=hostfile MASTER_ADDR=node0 scripts/run_dpo.sh MODEL DATA.jsonl
# or without ssh between nodes, torchrun started on EVERY node with its own NODE_RANK:
#     LAUNCHER=torchrun NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 scripts/run_dpo.sh MODEL DATA.jsonl   # node0
#     LAUNCHER=torchrun NNODES=2 NODE_RANK=1 MASTER_ADDR=node0 scripts/run_dpo.sh MODEL DATA.jsonl   # node1
# `make rehearse-multinode` runs the torchrun form on two network namespaces (docs/scaling.md).
set -euo pipefail
MODEL=${1:?usage: scripts/run_dpo.sh MODEL DATA.jsonl [OUTPUT_DIR] [--flag value ...]}
DATA=${2:?usage: scripts/run_dpo.sh MODEL DATA.jsonl [OUTPUT_DIR] [--flag value ...]}
OUTPUT_DIR=${3:-runs/dpo}
shift $(($# < 3 ? $# : 3))
NUM_GPUS=${NUM_GPUS:-$(python -c "import torch; print(max(1, torch.cuda.device_count()))")}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}                  # torchrun only; the deepspeed launcher numbers nodes itself
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}      # node 0's address, reachable from every node
MASTER_PORT=${MASTER_PORT:-29500}
HOSTFILE=${HOSTFILE:-hostfile}             # deepspeed launcher, NNODES > 1 only
LAUNCHER=${LAUNCHER:-deepspeed}            # deepspeed | torchrun

ARGS=(
  --model_name_or_path "$MODEL" --data_files "$DATA" --dataset preference --template tokenizer
  --max_length 4096 --truncation keep_end --validation_split 0.02
  --loss_type sigmoid --beta 0.1
  --output_dir "$OUTPUT_DIR" --bf16 true --attn_implementation auto --gradient_checkpointing true
  --per_device_train_batch_size 1 --gradient_accumulation_steps 16 --learning_rate 5e-7
  --lr_scheduler_type cosine --warmup_steps 0.1 --num_train_epochs 1
  --logging_steps 10 --eval_strategy steps --eval_steps 200 --save_strategy steps --save_steps 500
  --save_total_limit 2 --report_to tensorboard
  --deepspeed configs/deepspeed/zero3.json
)
case "$LAUNCHER" in
  deepspeed)
    CMD=(deepspeed --num_gpus "$NUM_GPUS" --num_nodes "$NNODES" --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT")
    if [ "$NNODES" -gt 1 ]; then
      [ -f "$HOSTFILE" ] || { echo "run_dpo.sh: NNODES=$NNODES needs a hostfile ($HOSTFILE not found)" >&2; exit 1; }
      CMD+=(--hostfile "$HOSTFILE")
    fi
    CMD+=(--no_local_rank --module llm.commands dpo)
    ;;
  torchrun)
    CMD=(torchrun --nproc_per_node "$NUM_GPUS" --nnodes "$NNODES" --node_rank "$NODE_RANK"
         --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT" -m llm.commands dpo)
    ;;
  *)
    echo "run_dpo.sh: LAUNCHER must be deepspeed or torchrun, not $LAUNCHER" >&2
    exit 1
    ;;
esac
exec "${CMD[@]}" "${ARGS[@]}" "$@"
