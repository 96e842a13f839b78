#!/usr/bin/env bash
# Multi-GPU / multi-node supervised fine-tuning with DeepSpeed ZeRO.
#
#   scripts/run_finetune.sh                                   # all GPUs of this node, ZeRO-3, 7B config
#   NUM_GPUS=4 CONFIG=configs/sft_tiny.yaml scripts/run_finetune.sh --max_steps 20
#   scripts/run_finetune.sh --num_train_epochs 1              # extra args override keys of the YAML
#   DRY_RUN=1 scripts/run_finetune.sh                         # print the command, run nothing
#
# Needs `pip install -e ".[deepspeed]"` (and ".[flash]" for FlashAttention-2; see below).
#
# What to change (in the YAML named by CONFIG, or as --key value overrides after the script's name):
#   * model / tokenizer: `model_name_or_path` and `tokenizer` (keep them the same model).
#   * template: the chat layout the model will be used with (`llama2`, `pygmalion`, `chatml`, ...).
#   * ZeRO stage: `deepspeed: configs/deepspeed/zero{1,2,3}.json`. ZeRO-1/2 shard only optimizer state
#     (and gradients) and are faster; ZeRO-3 also shards the weights and is what fits 7B+ full
#     fine-tuning. Short of memory: zero3_offload.json (or zero2_offload.json) move the optimizer (and
#     for ZeRO-3 the weights) to pinned CPU memory -- slower, needs a lot of host RAM, and DeepSpeed
#     builds its CPU Adam (a C++ extension) on first use. Or lower max_length / batch size.
#   * attention: `attn_implementation: auto` uses FlashAttention-2 when installed
#     (`pip install -e ".[flash]"`, needs an Ampere or newer GPU and the CUDA toolkit), else SDPA.
#   * batch: global batch = NUM_GPUS x NNODES x per_device_train_batch_size x gradient_accumulation_steps.
#     DeepSpeed derives its train_batch_size from these; the ZeRO configs leave it out on purpose.
#
# Multi-node with the deepspeed launcher: run this script on node 0 only. It reaches the other nodes
# over passwordless ssh (pdsh) using a hostfile, one line per node, e.g.
#     node0 slots=8
#     node1 slots=8
# and the repository, environment and data must be at the same paths on every node (shared disk).
# Environment variables the remote ranks need (e.g. PATH of the virtualenv, HF_HOME, NCCL_*) go in
# a .deepspeed_env file (one VAR=value a line) in the home directory or the current directory.
#     NNODES=2 HOSTFILE=hostfile MASTER_ADDR=node0 scripts/run_finetune.sh
# Without ssh between nodes, use torchrun instead, started on EVERY node with its own NODE_RANK:
#     LAUNCHER=torchrun NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 scripts/run_finetune.sh   # on node0
#     LAUNCHER=torchrun NNODES=2 NODE_RANK=1 MASTER_ADDR=node0 scripts/run_finetune.sh   # on node1
# which runs
#     torchrun --nproc_per_node "$NUM_GPUS" --nnodes "$NNODES" --node_rank "$NODE_RANK" \
#         --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT" \
#         -m llm.commands sft "$CONFIG" --output_dir "$OUTPUT_DIR"
# (the Trainer still applies the DeepSpeed config named in the YAML). Open MASTER_PORT on node 0, and name the
# network interface if the host name resolves to an address the other nodes cannot reach (GLOO_SOCKET_IFNAME /
# NCCL_SOCKET_IFNAME=eth0). Relaunch every node with --resume_from_checkpoint true after a failure.
# Without a GPU, NUM_GPUS=1 and --use_cpu true run one CPU process per node (gloo): `make rehearse-multinode`
# runs this script so, unchanged, on two network namespaces (docs/scaling.md).
set -euo pipefail

NUM_GPUS="${NUM_GPUS:-$(nvidia-smi -L 2>/dev/null | wc -l || true)}"   # GPUs per node
NNODES="${NNODES:-1}"
NODE_RANK="${NODE_RANK:-0}"                  # torchrun only; the deepspeed launcher numbers nodes itself
MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}"      # node 0's address, reachable from every node
MASTER_PORT="${MASTER_PORT:-29500}"
CONFIG="${CONFIG:-configs/sft_llama7b_zero3.yaml}"
OUTPUT_DIR="${OUTPUT_DIR:-runs/$(basename "$CONFIG" .yaml)}"   # replaces the YAML's output_dir
HOSTFILE="${HOSTFILE:-hostfile}"             # deepspeed launcher, NNODES > 1 only (paths: from the repo root)
LAUNCHER="${LAUNCHER:-deepspeed}"            # deepspeed | torchrun
DRY_RUN="${DRY_RUN:-0}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."       # paths in the configs are relative to the repository root

if [[ "$NUM_GPUS" -lt 1 ]]; then
    echo "run_finetune.sh: no GPU found; set NUM_GPUS (or run 'llm-train sft $CONFIG' on CPU)" >&2
    exit 1
fi
if [[ ! -f "$CONFIG" ]]; then
    echo "run_finetune.sh: config $CONFIG not found" >&2
    exit 1
fi

# `python -m llm.commands` is the llm-train command.
SFT_ARGS=(sft "$CONFIG" --output_dir "$OUTPUT_DIR" "$@")

case "$LAUNCHER" in
    deepspeed)
        CMD=(deepspeed --num_gpus "$NUM_GPUS" --num_nodes "$NNODES"
             --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT")
        if [[ "$NNODES" -gt 1 ]]; then
            if [[ ! -f "$HOSTFILE" ]]; then
                echo "run_finetune.sh: NNODES=$NNODES needs a hostfile ($HOSTFILE not found); see the header" >&2
                exit 1
            fi
            CMD+=(--hostfile "$HOSTFILE")
        fi
        # --module: run llm.commands as `python -m` would; --no_local_rank: the rank comes in the LOCAL_RANK
        # environment variable (which the Trainer reads), not as an extra --local_rank argument.
        CMD+=(--no_local_rank --module llm.commands "${SFT_ARGS[@]}")
        ;;
    torchrun)
        CMD=(torchrun --nproc_per_node "$NUM_GPUS" --nnodes "$NNODES" --node_rank "$NODE_RANK"
             --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT" -m llm.commands "${SFT_ARGS[@]}")
        ;;
    *)
        echo "run_finetune.sh: LAUNCHER must be deepspeed or torchrun, not $LAUNCHER" >&2
        exit 1
        ;;
esac

printf '+'; printf ' %q' "${CMD[@]}"; echo
if [[ "$DRY_RUN" != 0 ]]; then
    exit 0
fi
exec "${CMD[@]}"
