"""Plain-text rows (pre-training): documents/s of ``llm.data.process.text_rows`` at 100k and 1M short documents.

Both runs tokenize with the same tiny byte-level tokenizer and cut rows of ``--max_length`` tokens; the
documents are 3–30 words drawn with a seeded RNG (like short web or chat snippets). Two implementations:

- ``linear``: today's ``text_rows`` — documents in, rows out, one pass; each row's first document is kept
  by popping a queue of document starts.
- ``quadratic (before)``: the previous code, rebuilt here for the comparison: the whole corpus in one token
  list, and for every row ``max(i for pos, i in starts if pos <= offset)`` over all documents. It runs on the
  smaller size only (at 1M documents it would scan a million starts for each of thousands of rows); the
  table says "not run" there rather than guess.

Both must give the same rows and first-document indices (checked at the smaller size).

    $ .venv/bin/python bench/text_rows.py [--sizes 100000 1000000] [--max_length 2048] [--smoke]

Prints the machine, the date and one table; copy it into the README with them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402

from llm.data.process import Report, text_rows  # noqa: E402
from llm.data.tokenizer import build_tokenizer  # noqa: E402

# --smoke: both implementations and both kinds of table row in seconds; its numbers mean nothing
SMOKE = {"sizes": [2000, 4000], "max_length": 256}
WORDS = "the sea light storm ship tea book sword garden rain wind night morning story song map star".split()


def documents(n: int, seed: int = 0) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    return [(i, " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30)))) for i in range(n)]


def quadratic(tokenizer, docs: list[tuple[int, str]], max_length: int) -> list[tuple[list[int], int]]:
    """The code before: the whole corpus in memory, a scan of every document start per row."""
    buf: list[int] = []
    starts: list[tuple[int, int]] = []
    for start in range(0, len(docs), 256):
        chunk = docs[start : start + 256]
        encoded = tokenizer([t for _, t in chunk], add_special_tokens=False)["input_ids"]
        for (index, _), ids in zip(chunk, encoded, strict=True):
            starts.append((len(buf), index))
            buf.extend(ids)
            buf.append(tokenizer.eos_token_id)
    rows = []
    for offset in range(0, len(buf), max_length):
        first = max((i for pos, i in starts if pos <= offset), default=0)
        rows.append((buf[offset : offset + max_length], first))
    return rows


def timed(fn) -> tuple[float, object]:
    with contextlib.redirect_stderr(io.StringIO()):  # progress bars
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--max_length", type=int, default=2048)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs (seconds)")
    args = parser.parse_args()
    if args.smoke:  # its sizes become the defaults; a flag given still wins
        parser.set_defaults(**SMOKE)
        args = parser.parse_args()
    tok = build_tokenizer("bytelevel")
    print(f"# text rows — {cpu_model()}, {datetime.date.today()}, max_length {args.max_length}")
    print(
        f"{'documents':>10} {'rows':>7} | {'linear docs/s':>14} {'s':>7} | {'quadratic docs/s':>17} {'s':>8}"
    )
    for n in args.sizes:
        docs = documents(n)
        seconds, rows = timed(lambda docs=docs: list(text_rows(tok, docs, args.max_length, Report())))
        if n == min(args.sizes):
            old_seconds, old_rows = timed(lambda docs=docs: quadratic(tok, docs, args.max_length))
            if old_rows != rows:
                raise SystemExit("the two implementations disagree")
            old = f"{n / old_seconds:>17,.0f} {old_seconds:>8.1f}"
        else:
            old = f"{'not run':>17} {'':>8}"
        print(f"{n:>10,} {len(rows):>7,} | {n / seconds:>14,.0f} {seconds:>7.1f} | {old}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
