"""Encoding throughput: our encoder vs plain ``tokenizer(texts)`` vs transformers' assistant-mask path.

Same conversations, same tokenizer, one process, one machine:

- ``llm Encoder.encode_batch``: render + ids + exact labels (chatml);
- ``tokenizer(texts)``: ids only, for the same rendered strings (the floor: no masks at all);
- ``apply_chat_template(..., return_assistant_tokens_mask=True)``: transformers' mask path, with trl's
  generation-marked ChatML template (``qwen2_5_training.jinja``), which renders the same text.

    $ .venv/bin/python bench/encode.py [--repeat 5] [--tokenizer HUB_ID_OR_DIR] [--smoke]

By default the tokenizer is a byte-level BPE with 8,000 tokens trained on the sample itself (seconds,
offline); pass a real model's tokenizer with ``--tokenizer`` where one is available.

Prints a table; copy it into the README with the date and machine.
"""

from __future__ import annotations

import argparse
import platform
import time
from importlib import resources
from pathlib import Path

from llm.data.conversation import Conversation, Message
from llm.data.encode import Encoder
from llm.data.sources import pippa
from llm.data.sources.files import read_records
from llm.data.templates import card_system_text, get_template
from llm.data.tokenizer import add_template_tokens, build_tokenizer, load_tokenizer

SAMPLE = Path(__file__).resolve().parent.parent / "llm" / "data" / "samples" / "pippa_sample.jsonl"
SMOKE = {"copies": 1, "repeat": 1}  # --smoke: the same steps and table in seconds; its numbers mean nothing


def conversations(path: Path, copies: int) -> list[Conversation]:
    """The sample's chats, with the card as a plain system message so every path renders the same text."""
    convs = []
    for record_id, record in read_records(path):
        c = pippa.to_conversation(record, record_id)
        system = Message("system", card_system_text(c.character))
        convs.append(Conversation((system, *c.messages)))
    return convs * copies


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tokenizer", default=None, help="hub id or local dir (default: trained on the sample)"
    )
    parser.add_argument("--copies", type=int, default=2, help="passes over the sample per timing")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs (seconds)")
    args = parser.parse_args()
    if args.smoke:  # its sizes become the defaults; a flag given still wins
        parser.set_defaults(**SMOKE)
        args = parser.parse_args()

    convs = conversations(SAMPLE, args.copies)
    if args.tokenizer:
        tok = load_tokenizer(args.tokenizer)
        add_template_tokens(tok, get_template("chatml"))
    else:
        corpus = [m.content for c in convs for m in c.messages]
        tok = build_tokenizer("bytelevel", vocab_size=8000, corpus=corpus)
    template_file = resources.files("trl").joinpath("chat_templates", "qwen2_5_training.jinja")
    tok.chat_template = template_file.read_text()
    encoder = Encoder(tok, "chatml")
    texts = [encoder.render(c).text for c in convs]
    dicts = [[{"role": m.role, "content": m.content} for m in c.messages] for c in convs]

    ours = [
        s for i in range(0, len(convs), args.batch) for s in encoder.encode_batch(convs[i : i + args.batch])
    ]
    n_tokens = sum(len(s) for s in ours)
    check = tok.apply_chat_template(
        dicts[:8], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    for s, ids in zip(ours[:8], check["input_ids"], strict=True):
        assert s.input_ids == list(ids), "the paths must tokenize the same text"

    def run_ours():
        for i in range(0, len(convs), args.batch):
            encoder.encode_batch(convs[i : i + args.batch])

    def run_plain():
        for i in range(0, len(texts), args.batch):
            tok(texts[i : i + args.batch], add_special_tokens=False)

    def run_template():
        for i in range(0, len(dicts), args.batch):
            tok.apply_chat_template(
                dicts[i : i + args.batch], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
            )

    def run_template_single():
        for d in dicts:
            tok.apply_chat_template(d, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)

    rows = [
        ("llm Encoder.encode_batch (render+ids+labels)", best_of(args.repeat, run_ours)),
        ("tokenizer(texts) on pre-rendered text (ids only)", best_of(args.repeat, run_plain)),
        ("apply_chat_template + assistant mask, batched", best_of(args.repeat, run_template)),
        ("apply_chat_template + assistant mask, one per call", best_of(args.repeat, run_template_single)),
    ]
    name = args.tokenizer or f"byte-level BPE, {len(tok)} tokens, trained on the sample"
    print(f"{len(convs)} conversations, {n_tokens} tokens, tokenizer: {name}, batch {args.batch}")
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"{'path':52} {'conv/s':>9} {'tokens/s':>11} {'vs plain':>9}")
    plain = rows[1][1]
    for name, seconds in rows:
        print(f"{name:52} {len(convs) / seconds:9.0f} {n_tokens / seconds:11.0f} {plain / seconds:8.2f}x")
    print(
        f"ours vs apply_chat_template: {rows[2][1] / rows[0][1]:.1f}x faster than batched, "
        f"{rows[3][1] / rows[0][1]:.1f}x faster than one per call"
    )


if __name__ == "__main__":
    main()
