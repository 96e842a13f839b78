"""``llm-train``: one command, one subcommand per stage.

llm-train process --dataset PIPPA --data_files chats.jsonl --template pygmalion --stack --output runs/data
llm-train sft configs/sft_tiny.yaml --max_steps 50
llm-train chat --model runs/sft-tiny --character_from examples/data/pippa_sample.jsonl --index 0
llm-train gatt-synthesize --data_files chats.jsonl --model runs/sft --output runs/gatt-data
llm-train eval roleplay --model runs/sft-tiny --conversations 8 --turns 1 2 4 8 16 20
llm-train rm --model_name_or_path runs/sft --data_files comparisons.jsonl --output_dir runs/rm
llm-train serve-reward --model runs/rm --port 8000 --token-file rm.token
llm-train ppo --model_name_or_path runs/sft --reward_url http://127.0.0.1:8000 --output_dir runs/ppo
llm-train show-sample --template chatml --tokenizer tiny:bytelevel --data chats.jsonl --index 0
llm-train demo

"""

from __future__ import annotations

import argparse
import sys

from llm.data.encode import MASK_POLICIES
from llm.data.templates import TEMPLATES


def _show_sample_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show-sample",
        help="print a sample with its trained tokens highlighted",
        description="Render and encode records, highlighting trained tokens: the first thing to look at "
        "when a loss mask is in doubt.",
    )
    p.add_argument("--template", choices=sorted(TEMPLATES), help="chat template (for a data file)")
    p.add_argument(
        "--tokenizer",
        help="hub id, local directory, or tiny:bytelevel / tiny:metaspace (built locally); "
        "for a process_chats output, defaults to the tokenizer saved in it",
    )
    p.add_argument(
        "--data", required=True, help="a JSON Lines file of chat records, or a process_chats output directory"
    )
    p.add_argument("--split", default="train", help="split of a process_chats output (default train)")
    p.add_argument("--index", type=int, nargs="+", default=[0], help="0-based record index(es); default 0")
    p.add_argument(
        "--source", default=None, help="record format (pippa, sharegpt, openai …); default: detected"
    )
    p.add_argument("--mask", default="assistant", choices=MASK_POLICIES, help="masking policy")
    p.add_argument("--tokens", action="store_true", help="separate tokens with |")
    p.add_argument("--no-color", action="store_true", help="brackets instead of colour")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-train", description="Train LLM-based multi-turn chatbots.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _show_sample_parser(sub)
    sub.add_parser(
        "process",
        help="raw chat data → training rows (same as python -m llm.data.process_chats)",
        add_help=False,
    )
    sub.add_parser(
        "sft", help="supervised fine-tuning: llm-train sft CONFIG.yaml [--flag value ...]", add_help=False
    )
    sub.add_parser("pretrain", help="pre-training on plain text (same flags as sft)", add_help=False)
    sub.add_parser(
        "rm", help="reward model on comparisons: llm-train rm CONFIG.yaml [--flag value ...]", add_help=False
    )
    sub.add_parser("ppo", help="RLHF with PPO: llm-train ppo CONFIG.yaml [--flag value ...]", add_help=False)
    sub.add_parser("chat", help="chat with a checkpoint: llm-train chat --model DIR [...]", add_help=False)
    sub.add_parser(
        "gatt-synthesize",
        help="Ghost Attention data: llm-train gatt-synthesize --data_files F --model DIR --output OUT [...]",
        add_help=False,
    )
    sub.add_parser(
        "eval",
        help="evaluations: llm-train eval roleplay --model DIR [...] (does an instruction given once hold?)",
        add_help=False,
    )
    sub.add_parser(
        "serve-reward",
        help="serve a reward model over HTTP: llm-train serve-reward --model DIR [--port 8000 ...]",
        add_help=False,
    )
    sub.add_parser("demo", help="the main job on the bundled sample (what `make demo` runs)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Stages whose options are dataclasses parsed by HfArgumentParser take the rest of the line as is.
    if argv[:1] == ["process"]:
        from llm.data.process_chats import main as process

        return process(argv[1:])
    if argv[:1] in (["sft"], ["pretrain"]):
        from llm.train.sft import main as train

        return train(argv[1:], stage=argv[0])
    if argv[:1] == ["rm"]:
        from llm.train.rm import main as reward_model

        return reward_model(argv[1:])
    if argv[:1] == ["ppo"]:
        from llm.train.ppo.trainer import main as ppo

        return ppo(argv[1:])
    if argv[:1] == ["serve-reward"]:
        from llm.serve.server import main as serve_reward

        return serve_reward(argv[1:])
    if argv[:1] == ["chat"]:
        from llm.chat.cli import main as chat

        return chat(argv[1:])
    if argv[:1] == ["gatt-synthesize"]:
        from llm.data.gatt_synthesize import main as gatt_synthesize

        return gatt_synthesize(argv[1:])
    if argv[:2] == ["eval", "roleplay"]:
        from llm.eval.roleplay_eval import main as roleplay_eval

        return roleplay_eval(argv[2:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "show-sample":
            from llm.data.show_sample import main as show_sample

            return show_sample(args)
        if args.command == "demo":
            from llm.demo import main as demo

            return demo()
        if args.command == "eval":
            raise ValueError("name an evaluation: llm-train eval roleplay --model DIR [...]")
    except (ValueError, OSError, IndexError) as e:  # bad input: one clear line, no traceback
        print(f"llm-train {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
