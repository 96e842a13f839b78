#!/usr/bin/env bash
# Serve a checkpoint trained by llm-train with llama.cpp's OpenAI-compatible `llama-server`: converted to GGUF
# once (beside the checkpoint), then served with the checkpoint's own chat template.
#
#   LLAMA_CPP=~/llama.cpp scripts/serve_llamacpp.sh runs/sft          # http://127.0.0.1:8080/v1
#   OUTTYPE=q8_0 NGL=0 scripts/serve_llamacpp.sh runs/sft             # 8-bit weights, CPU only
#   scripts/serve_llamacpp.sh runs/sft --ctx-size 8192                # further arguments go to llama-server
#   DRY_RUN=1 scripts/serve_llamacpp.sh runs/sft                      # check, print the commands, run nothing
#
# Needs a llama.cpp checkout built with its server (LLAMA_CPP: cmake -B build && cmake --build build -t
# llama-server; add -DGGML_CUDA=ON for NVIDIA GPUs) and its converter's Python requirements
# (pip install -r $LLAMA_CPP/requirements/requirements-convert_hf_to_gguf.txt). The converter knows real
# tokenizers (Llama, Qwen, Mistral ...), not the tiny ones our tests build.
# See docs/serving.md for the client side (the openai SDK, SillyTavern).
#
# What makes the served model chat as it trained:
#   * --jinja --chat-template-file CHECKPOINT/chat_template.jinja: requests are rendered with the template the
#     model trained with (llm-train writes it on every save), the card being the system message; without
#     --jinja, llama-server would pick a built-in template by guessing.
#   * --override-kv tokenizer.ggml.eot_token_id=int:ID: the end-of-turn token (<|im_end|>, <|eot_id|>, ...),
#     read from generation_config.json's eos_token_id list (llm-train puts it there), stops generation.
#     Recent llama.cpp versions also recognise the common end-of-turn tokens by their text; this makes it
#     explicit, for any template.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: scripts/serve_llamacpp.sh CHECKPOINT [llama-server arguments...]" >&2
    exit 2
fi
MODEL="${1%/}"
shift
LLAMA_CPP="${LLAMA_CPP:-$HOME/llama.cpp}"               # the llama.cpp checkout
LLAMA_SERVER="${LLAMA_SERVER:-$LLAMA_CPP/build/bin/llama-server}"
OUTTYPE="${OUTTYPE:-bf16}"                              # f32 | f16 | bf16 | q8_0 (converter's --outtype)
GGUF="${GGUF:-$MODEL.$OUTTYPE.gguf}"                    # beside the run folder, never inside it
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8080}"
NAME="${NAME:-$(basename "$MODEL")}"                    # the model name llama-server reports
NGL="${NGL:-99}"                                        # layers on the GPU (0: CPU only)
PYTHON="${PYTHON:-python3}"
DRY_RUN="${DRY_RUN:-0}"

if [[ ! -f "$MODEL/config.json" ]]; then
    echo "serve_llamacpp.sh: $MODEL: no config.json (not a checkpoint folder)" >&2
    exit 1
fi
if [[ ! -f "$MODEL/chat_template.jinja" ]]; then
    echo "serve_llamacpp.sh: $MODEL: no chat_template.jinja; a chat model saved by llm-train has one" >&2
    exit 1
fi
# The end-of-turn id: an id of generation_config.json's eos_token_id (where llm-train lists it) beyond the
# model's own EOS, whose token the chat template writes (<|im_end|> in a chatml template, not <|endoftext|>).
EOT="$("$PYTHON" - "$MODEL" <<'EOF'
import json, sys
from pathlib import Path
model = Path(sys.argv[1])
def ids(value):
    return [] if value is None else [value] if isinstance(value, int) else list(value)
def read(name):
    try:
        return json.loads((model / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
listed = ids(read("generation_config.json").get("eos_token_id"))
own = ids(read("config.json").get("eos_token_id"))
text = {t["id"]: t["content"] for t in read("tokenizer.json").get("added_tokens", [])}
template = (model / "chat_template.jinja").read_text(encoding="utf-8")
print(next((i for i in listed if i not in own and i in text and text[i] in template), ""))
EOF
)"

CONVERT=("$PYTHON" "$LLAMA_CPP/convert_hf_to_gguf.py" "$MODEL" --outfile "$GGUF" --outtype "$OUTTYPE")
SERVE=("$LLAMA_SERVER" -m "$GGUF" --host "$HOST" --port "$PORT" --alias "$NAME" -ngl "$NGL"
       --jinja --chat-template-file "$MODEL/chat_template.jinja")
if [[ -n "$EOT" ]]; then
    SERVE+=(--override-kv "tokenizer.ggml.eot_token_id=int:$EOT")
else
    echo "serve_llamacpp.sh: the template's turns end with the tokenizer's EOS (nothing to add)" >&2
fi
SERVE+=("$@")

if [[ -f "$GGUF" ]]; then
    echo "serve_llamacpp.sh: $GGUF exists; not converting again (delete it after retraining)" >&2
else
    printf '+'; printf ' %q' "${CONVERT[@]}"; echo
    if [[ "$DRY_RUN" == 0 ]]; then
        "${CONVERT[@]}"
    fi
fi
printf '+'; printf ' %q' "${SERVE[@]}"; echo
if [[ "$DRY_RUN" != 0 ]]; then
    exit 0
fi
exec "${SERVE[@]}"
