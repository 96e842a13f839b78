"""``make demo``: the main job on the bundled sample.

Today it runs the data half: read the bundled PIPPA-format role-play sample, render every conversation
with a character-aware template, encode it with exact loss masks, show one sample the way
``llm-train show-sample`` does, print the statistics, and build the stacked dataset (windows + packed
rows). Training lands with the SFT stage.

    $ make demo                      # or: python -m llm.demo [--template metharme] [--data FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from tqdm import tqdm

from llm.data.encode import Encoder
from llm.data.show_sample import print_view, render_view
from llm.data.sources import pippa
from llm.data.sources.files import read_jsonl
from llm.data.stacking import WindowStats, pack, windows
from llm.models.tiny import build_tokenizer

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "data" / "pippa_sample.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SAMPLE), help="PIPPA-format JSON Lines")
    parser.add_argument("--template", default="pygmalion")
    parser.add_argument("--show", type=int, default=None, help="record index to show (default: a short one)")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    data = os.path.relpath(args.data)
    records = list(read_jsonl(data))
    convs = [pippa.to_conversation(record, record_id) for record_id, record in records]
    characters = {c.character.name for c in convs}
    print(f"read {len(convs)} conversations with {len(characters)} characters from {data}")

    # A tokenizer trained on the sample itself (seconds, no download); real runs pass a model's tokenizer.
    corpus = [m.content for c in convs for m in c.messages]
    tokenizer = build_tokenizer("metaspace", vocab_size=4000, corpus=corpus)
    encoder = Encoder(tokenizer, args.template)

    samples = []
    batch = 32
    for start in tqdm(range(0, len(convs), batch), desc="encoding", unit="batch", leave=False):
        samples.extend(encoder.encode_batch(convs[start : start + batch]))

    lengths = sorted(len(s) for s in samples)
    tokens = sum(lengths)
    trained = sum(s.num_trained for s in samples)
    show = (
        args.show
        if args.show is not None
        else min(range(len(samples)), key=lambda i: abs(len(samples[i]) - 160))
    )
    print()
    print_view(render_view(encoder, convs[show]), f"{records[show][0]}  template={encoder.template.name}")
    print()
    print(f"conversations     {len(samples)}")
    print(f"messages          {sum(len(c.messages) for c in convs)}")
    print(f"tokens            {tokens}  (trained {trained}, {trained / tokens:.1%})")
    print(
        f"sample length     min {lengths[0]}  median {int(statistics.median(lengths))}  "
        f"p90 {lengths[int(0.9 * (len(lengths) - 1))]}  max {lengths[-1]}"
    )
    print(f"over 2,048 tokens {sum(n > 2048 for n in lengths)}")

    # The stacked dataset: long chats cut into windows that keep the card in view, then packed rows.
    stats = WindowStats()
    stacked = [(i, w) for i, c in enumerate(convs) for w in windows(c, encoder, 2048, stats=stats)]
    rows, efficiency = pack([w for _, w in stacked], [i for i, _ in stacked], 2048)
    print(
        f"stacked (2,048)   {stats.windows} windows from {len(convs)} chats ({stats.chats_split} split), "
        f"packed into {len(rows)} rows at {efficiency:.1%} efficiency"
    )
    print(f"done in {time.perf_counter() - t0:.1f}s")
    print()
    print("Look at any record's mask (with the built-in tiny tokenizer, or yours) with:")
    print(
        f"  .venv/bin/llm-train show-sample --template {encoder.template.name} --tokenizer tiny:metaspace "
        f"--data {data} --index {show}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
