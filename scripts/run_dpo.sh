#!/usr/bin/env bash
# DPO of a 7B-class chat model on multi-turn preference pairs: ZeRO-3, bf16, FlashAttention-2, one node.
#
#   scripts/run_dpo.sh MODEL DATA.jsonl [OUTPUT_DIR] [--flag value ...]
#
#   MODEL       the SFT checkpoint (hub id or directory); the reference is a frozen copy of it, sharded by an
#               inference-only DeepSpeed engine under ZeRO-3 (or give --ref_model_name_or_path)
#   DATA.jsonl  preference pairs in TRL's formats (conversational, standard, implicit prompt; an optional
#               "character" card per record), or --dataset hh_rlhf / tldr_comparisons / kto
#   NUM_GPUS    GPUs to use (default: all visible)
#
# Extra flags go to `llm-train dpo` (e.g. --loss_type simpo --beta 2.0, --lora_r 16, --precompute_ref_log_probs true).
set -euo pipefail
MODEL=${1:?usage: scripts/run_dpo.sh MODEL DATA.jsonl [OUTPUT_DIR] [--flag value ...]}
DATA=${2:?usage: scripts/run_dpo.sh MODEL DATA.jsonl [OUTPUT_DIR] [--flag value ...]}
OUTPUT_DIR=${3:-runs/dpo}
shift $(($# < 3 ? $# : 3))
NUM_GPUS=${NUM_GPUS:-$(python -c "import torch; print(max(1, torch.cuda.device_count()))")}

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
exec deepspeed --num_gpus "$NUM_GPUS" --no_local_rank --module llm.commands dpo "${ARGS[@]}" "$@"
