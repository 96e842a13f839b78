#!/usr/bin/env bash
# Serve a checkpoint trained by llm-train with vLLM's OpenAI-compatible server (a GPU node).
#
#   scripts/serve_vllm.sh runs/sft                          # http://127.0.0.1:8000/v1, model name = the path
#   NAME=mira PORT=8001 scripts/serve_vllm.sh runs/sft      # the model name clients (SillyTavern) send
#   scripts/serve_vllm.sh runs/sft --max-model-len 4096     # further arguments go to `vllm serve`
#   DRY_RUN=1 scripts/serve_vllm.sh runs/sft                # check the checkpoint, print the command, run nothing
#
# Needs vLLM (`pip install vllm`, in an environment of its own: it pins its own torch) and a CUDA GPU.
# See docs/serving.md for the client side (the openai SDK, SillyTavern).
#
# What the checkpoint brings, and vLLM uses as is:
#   * chat_template.jinja: the chat template the model trained with (llm-train writes it on every save); vLLM
#     renders each request's messages with it, the card being the system message. Never pass --chat-template
#     unless you mean to serve the model with another layout than the one it learnt.
#   * generation_config.json: its eos_token_id list holds the end-of-turn token (<|im_end|>, <|eot_id|>, ...)
#     beside the tokenizer's EOS; with --generation-config auto (vLLM's default, spelled out here) every
#     request stops on those ids, so a reply ends with its turn instead of writing the user's next one.
#     The file's sampling values (if any) become the request defaults, too.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: scripts/serve_vllm.sh CHECKPOINT [vllm serve arguments...]" >&2
    exit 2
fi
MODEL="$1"
shift
HOST="${HOST:-127.0.0.1}"       # 0.0.0.0 to reach it from other machines (vLLM has no authentication
                                # unless you add --api-key KEY)
PORT="${PORT:-8000}"
NAME="${NAME:-$MODEL}"          # the "model" field requests must carry
DRY_RUN="${DRY_RUN:-0}"

if [[ ! -f "$MODEL/config.json" ]]; then
    echo "serve_vllm.sh: $MODEL: no config.json (not a checkpoint folder)" >&2
    exit 1
fi
if [[ ! -f "$MODEL/chat_template.jinja" ]] && ! grep -q '"chat_template"' "$MODEL/tokenizer_config.json" 2>/dev/null; then
    echo "serve_vllm.sh: $MODEL: no chat template (chat_template.jinja); a chat model saved by llm-train has one" >&2
    exit 1
fi
if [[ ! -f "$MODEL/generation_config.json" ]]; then
    echo "serve_vllm.sh: warning: $MODEL has no generation_config.json; replies stop only at the tokenizer's EOS" >&2
fi

CMD=(vllm serve "$MODEL" --host "$HOST" --port "$PORT" --served-model-name "$NAME"
     --generation-config auto "$@")
printf '+'; printf ' %q' "${CMD[@]}"; echo
if [[ "$DRY_RUN" != 0 ]]; then
    exit 0
fi
exec "${CMD[@]}"
