"""``llm-train``: one command, one subcommand per stage — the top layer, where every ``main()`` lives.

    llm-train process --dataset PIPPA --data_files chats.jsonl --template pygmalion --stack --output runs/data
    llm-train show-sample --template chatml --tokenizer tiny:bytelevel --data chats.jsonl --index 0
    llm-train sft configs/sft_tiny.yaml --max_steps 50
    llm-train pretrain --model_config small --data_files docs.jsonl --tokenizer DIR --output_dir runs/pt
    llm-train rm --model_name_or_path runs/sft --data_files comparisons.jsonl --output_dir runs/rm
    llm-train dpo configs/dpo_tiny.yaml
    llm-train serve-reward --model runs/rm --port 8000 --token_file rm.token
    llm-train ppo --model_name_or_path runs/sft --reward_url http://127.0.0.1:8000 --output_dir runs/ppo
    llm-train chat --model runs/sft-tiny --character_from llm/data/samples/pippa_sample.jsonl --index 0
    llm-train gatt-synthesize --data_files chats.jsonl --model runs/sft --output runs/gatt-data
    llm-train eval roleplay --model runs/sft-tiny --conversations 8 --turns 1 2 4 8 16 20
    llm-train web --model runs/sft-tiny --character card.png      (then open http://127.0.0.1:7860)
    llm-train demo            (and demo-tiny, demo-rlhf, demo-persistence)

Every command takes a YAML file of its flags first (``llm-train chat chat.yaml --seed 1``), prints
``llm-train <command>: error: <message>`` and exits 2 on bad input, and ``--help`` lists its flags.
"""

from __future__ import annotations

import importlib
import sys

# name → (module of llm.commands, function, one line of help). Modules are imported only when their command
# runs: `llm-train --help` stays instant, and a command pays only for the libraries it uses.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "process": ("process", "main", "raw chat data → training rows (also: python -m llm.data.process_chats)"),
    "show-sample": ("show_sample", "main", "print samples with their trained tokens highlighted"),
    "sft": ("sft", "main", "supervised fine-tuning: llm-train sft CONFIG.yaml [--flag value ...]"),
    "pretrain": ("sft", "pretrain", "pre-training on plain text (the same flags as sft)"),
    "rm": ("rm", "main", "a reward model on comparisons: llm-train rm CONFIG.yaml [--flag value ...]"),
    "dpo": (
        "dpo",
        "main",
        "preference optimisation (DPO, IPO, SimPO, ORPO, KTO …): llm-train dpo CONFIG.yaml",
    ),
    "serve-reward": ("serve_reward", "main", "serve a reward model over HTTP: --model DIR [--port 8000 ...]"),
    "ppo": ("ppo", "main", "RLHF with PPO: llm-train ppo CONFIG.yaml [--flag value ...]"),
    "grpo": (
        "grpo",
        "main",
        "online RL without a critic (GRPO, RLOO, REINFORCE++): llm-train grpo CONFIG.yaml",
    ),
    "chat": ("chat", "main", "chat with a checkpoint: llm-train chat --model DIR [...]"),
    "gatt-synthesize": (
        "gatt_synthesize",
        "main",
        "Ghost Attention data: --data_files F --model DIR --output OUT",
    ),
    "eval": ("eval", "main", "evaluations: llm-train eval roleplay --model DIR [...]"),
    "web": ("web", "main", "the browser page: chat with a card, compare checkpoints, read runs (Gradio)"),
    "demo": ("demo", "main", "SmolLM2-135M-Instruct becomes a bundled character, before/after (`make demo`)"),
    "demo-tiny": ("demo_tiny", "main", "the pipeline with a tiny Llama from scratch (`make demo-tiny`)"),
    "demo-rlhf": ("demo_rlhf", "main", "SFT → reward model → PPO on the bundled TL;DR sample"),
    "demo-persistence": (
        "demo_persistence",
        "main",
        "GAtt on SmolLM2-135M-Instruct: does it keep instructions longer? (`make demo-persistence`)",
    ),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    return (
        "usage: llm-train COMMAND [CONFIG.yaml] [--flag value ...]\n\n"
        "Train LLM-based multi-turn chatbots.\n\ncommands:\n" + "\n".join(lines) + "\n\n"
        "llm-train COMMAND --help lists a command's flags.\n"
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr, end="")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"llm-train: error: unknown command {name!r}\n\n{usage()}", file=sys.stderr, end="")
        return 2
    module, function, _ = COMMANDS[name]
    return getattr(importlib.import_module(f"llm.commands.{module}"), function)(rest)


if __name__ == "__main__":
    sys.exit(main())
