#!/usr/bin/env bash
# Step 2 of "Learning to Summarize from Human Feedback" (Stiennon et al. 2020): a reward model trained on
# human comparisons of TL;DR summaries, starting from the SFT checkpoint of step 1.
#
#   scripts/run_summarize_reward_modeling.sh                      # defaults below
#   SFT=runs/tldr-sft DATA="--dataset summarize_from_feedback" scripts/run_summarize_reward_modeling.sh
#
# What to change:
#   SFT        the step-1 checkpoint (hub id or directory), e.g. CarperAI/openai_summarize_tldr_sft
#   DATA       the comparisons: CarperAI/openai_summarize_comparisons (default, from the hub) or
#              openai/summarize_from_feedback (--dataset summarize_from_feedback), or local files with
#              --data_files (the bundled sample: llm/data/samples/tldr_comparisons_sample.jsonl)
#   NUM_GPUS   GPUs on this node; the reward model then trains data-parallel under DeepSpeed ZeRO-2
# The RM's chosen rewards are centred at 0 after training (stored as reward_bias in its config), so the
# reference summaries score 0 for PPO. Serve it with: llm-train serve-reward --model "$OUTPUT_DIR".
set -euo pipefail

SFT=${SFT:-CarperAI/openai_summarize_tldr_sft}
DATA=${DATA:---dataset tldr_comparisons}
NUM_GPUS=${NUM_GPUS:-$(nvidia-smi -L 2>/dev/null | wc -l || echo 0)}
OUTPUT_DIR=${OUTPUT_DIR:-runs/tldr-rm}
ZERO=${ZERO:-configs/deepspeed/zero2.json}

# shellcheck disable=SC2086  # DATA holds several words on purpose
ARGS=(
  --model_name_or_path "$SFT" $DATA --template plain --max_length 640 --max_query_tokens 512
  --validation_split 0.05 --output_dir "$OUTPUT_DIR"
  --num_train_epochs 1 --per_device_train_batch_size 8 --gradient_accumulation_steps 4
  --learning_rate 1.5e-5 --lr_scheduler_type cosine --warmup_steps 0.03 --weight_decay 0.0
  --eval_strategy steps --eval_steps 500 --save_strategy steps --save_steps 500 --save_total_limit 2
  --logging_steps 20 --report_to tensorboard
)

if [ "$NUM_GPUS" -gt 0 ]; then
  exec deepspeed --num_gpus "$NUM_GPUS" --no_local_rank --module llm.commands rm "${ARGS[@]}" \
    --bf16 true --deepspeed "$ZERO" "$@"
fi
echo "no GPU found: training on the CPU (fine for the bundled sample, not for the real data)" >&2
exec python -m llm.commands rm "${ARGS[@]}" "$@"
