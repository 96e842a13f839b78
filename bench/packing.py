"""Sequence packing: our best-fit decreasing vs TRL's ``pack_dataset(strategy="bfd")`` vs padding.

Same sample lengths, same machine, one run. For each row size (``capacity`` = TRL's ``seq_length``):

- ``llm pack_best_fit_decreasing``: ``llm.data.stacking.pack_best_fit_decreasing(lengths, capacity)``,
  the bin assignment only (a list of index lists; tokens are not moved). The lengths are converted to a
  Python list once, outside the timed region.
- ``trl pack_dataset bfd``: ``trl.pack_dataset(dataset, seq_length, strategy="bfd")`` on a
  ``datasets.Dataset`` with one ``input_ids`` list column (int32 zeros: only the lengths matter), called
  as ``SFTTrainer`` calls it, so ``Dataset.map`` hands it batches of 1,000 rows (its default) and each
  batch is packed on its own. The timed call includes what TRL does besides binning (arrow slicing,
  ``take`` of the tokens, writing the packed dataset). Building the dataset is not timed.
- ``trl pack_dataset bfd, whole set``: the same call with ``map_kwargs={"batch_size": None}``, so all
  samples are packed as one batch: the same algorithm as ours over the same items.
- naive pad-to-longest, batches of 8: no packing; every batch of 8 consecutive samples is padded to its
  longest, in the drawn (random) order and after sorting by length ("length-grouped").

Efficiency is real tokens / (rows x capacity) for packing, and real tokens / sum(8 x longest in batch)
for padding (the last batch, if short, counts its own size). Real tokens for TRL are read back from the
``seq_lengths`` column it returns, and must equal the sum of the lengths.

**Lengths.** ``--n`` chat-sample lengths in tokens, drawn with a seeded numpy RNG from a log-normal with
median 600 tokens and sigma 1.0 (mean ~990, 90th percentile ~2,160, 99th ~6,150): a heavy right tail
like PIPPA's role-play chats, where most samples are a few hundred tokens and a few run to many thousands.
The same draw is used for every row size, clipped to ``[16, capacity]`` (a sample longer than a row
would be windowed or truncated before packing; clipping keeps TRL from truncating anything, which the
script checks). Samples clipped to ``capacity`` fill a row alone under every method.

    $ .venv/bin/python bench/packing.py [--n 1000000] [--seed 0] [--capacity 2048 4096] [--smoke]

Prints the machine, the date and one table; copy it into the README with them. Takes ~2.5 min and
~15 GB of memory at the defaults (TRL's copies of the int32 tokens); ``--n 100000`` takes ~25 s.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from machine import cpu_model  # bench/machine.py (bench/ is on the path of a bench script)

from llm.data.stacking import pack_best_fit_decreasing

MEDIAN_TOKENS = 600
SIGMA = 1.0
MIN_TOKENS = 16
BATCH = 8
# --smoke: every method, two row sizes, in seconds; its numbers mean nothing
SMOKE = {"n": 2000, "capacity": [512, 1024]}


def draw_lengths(n: int, seed: int) -> np.ndarray:
    """``n`` log-normal lengths (median ``MEDIAN_TOKENS``, ``SIGMA``), rounded, not yet clipped."""
    rng = np.random.default_rng(seed)
    return np.rint(rng.lognormal(mean=np.log(MEDIAN_TOKENS), sigma=SIGMA, size=n)).astype(np.int64)


def pad_efficiency(lengths: np.ndarray, batch: int = BATCH) -> float:
    """Real tokens / padded tokens when consecutive batches of ``batch`` are padded to their longest."""
    starts = np.arange(0, len(lengths), batch)
    longest = np.maximum.reduceat(lengths, starts)
    sizes = np.diff(np.append(starts, len(lengths)))
    return int(lengths.sum()) / int((longest * sizes).sum())


def run_ours(lengths: list[int], capacity: int) -> tuple[int, float, float]:
    """Rows, efficiency and seconds for ``pack_best_fit_decreasing``, checked."""
    t0 = time.perf_counter()
    bins = pack_best_fit_decreasing(lengths, capacity)
    seconds = time.perf_counter() - t0

    seen = np.zeros(len(lengths), dtype=np.int64)
    for b in bins:
        assert sum(lengths[i] for i in b) <= capacity, "a bin exceeds capacity"
        seen[b] += 1
    assert (seen == 1).all(), "an index is missing or appears twice"
    return len(bins), sum(lengths) / (len(bins) * capacity), seconds


def make_dataset(lengths: np.ndarray):
    """A ``datasets.Dataset`` with an ``input_ids`` column of int32 zeros of the given lengths."""
    from datasets import Dataset

    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    large = offsets[-1] > np.iinfo(np.int32).max
    values = np.empty(int(offsets[-1]), dtype=np.int32)
    values[:] = 0  # written, not calloc'd, so TRL's timed reads do not fault in fresh pages
    list_type = pa.LargeListArray if large else pa.ListArray
    column = list_type.from_arrays(pa.array(offsets if large else offsets.astype(np.int32)), pa.array(values))
    return Dataset(  # fingerprint given, so that datasets does not hash the whole table
        pa.Table.from_arrays([column], names=["input_ids"]),
        fingerprint=f"bench-packing-{len(lengths)}-{offsets[-1]}",
    )


def run_trl(lengths: np.ndarray, capacity: int, map_kwargs: dict | None) -> tuple[int, float, float]:
    """Rows, efficiency and seconds for ``trl.pack_dataset(..., strategy="bfd")``, checked."""
    from trl import pack_dataset

    dataset = make_dataset(lengths)
    t0 = time.perf_counter()
    packed = pack_dataset(dataset, capacity, strategy="bfd", map_kwargs=map_kwargs)
    seconds = time.perf_counter() - t0

    table = packed.with_format("arrow")[:]
    assert table.column_names[:1] == ["input_ids"] and "seq_lengths" in table.column_names, table.column_names
    row_tokens = pc.list_value_length(table["input_ids"])
    real = int(pc.sum(pc.list_flatten(table["seq_lengths"])).as_py())
    total = int(lengths.sum())
    assert real == total, f"TRL kept {real} real tokens of {total}"
    assert int(pc.sum(row_tokens).as_py()) == total, "TRL's rows do not hold every token"
    assert int(pc.max(row_tokens).as_py()) <= capacity, "a TRL row exceeds seq_length"
    rows = len(table)
    del dataset, packed, table
    gc.collect()
    return rows, total / (rows * capacity), seconds


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of sample lengths")
    parser.add_argument("--seed", type=int, default=0, help="numpy RNG seed for the lengths")
    parser.add_argument("--capacity", type=int, nargs="+", default=[2048, 4096], help="row sizes (tokens)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs (seconds)")
    args = parser.parse_args(argv)
    if args.smoke:  # its sizes become the defaults; a flag given still wins
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)

    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()

    print(f"date     {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine  {platform.platform()}; {cpu_model()}; {len(os.sched_getaffinity(0))} CPUs")
    print(
        f"python   {platform.python_version()}; trl {version('trl')}; datasets {version('datasets')}; "
        f"pyarrow {pa.__version__}; numpy {np.__version__}"
    )
    print(
        f"lengths  n={args.n:,} seed={args.seed}: log-normal, median {MEDIAN_TOKENS}, sigma {SIGMA}, "
        f"clipped to [{MIN_TOKENS}, capacity]"
    )
    print(f"command  {' '.join([sys.executable.rsplit('/', 1)[-1], *sys.argv])}")
    print()

    raw = draw_lengths(args.n, args.seed)
    methods = [
        "llm pack_best_fit_decreasing",
        "trl pack_dataset bfd (map batches of 1,000)",
        "trl pack_dataset bfd, whole set",
        f"pad to longest, batch {BATCH}, random order",
        f"pad to longest, batch {BATCH}, length-grouped",
    ]
    results: dict[int, list[tuple[str, str, str]]] = {}
    for capacity in args.capacity:
        lengths = np.clip(raw, MIN_TOKENS, capacity)
        total = int(lengths.sum())
        clipped = float((raw > capacity).mean())
        print(
            f"capacity {capacity:,}: {total:,} tokens, {clipped:.2%} of samples clipped, "
            f"lower bound {-(-total // capacity):,} rows",
            flush=True,
        )
        as_list = lengths.tolist()
        rows_ours, eff_ours, t_ours = run_ours(as_list, capacity)
        print(f"  ours done in {t_ours:.2f} s", flush=True)
        rows_trl, eff_trl, t_trl = run_trl(lengths, capacity, None)
        print(f"  trl (batches of 1,000) done in {t_trl:.2f} s", flush=True)
        rows_all, eff_all, t_all = run_trl(lengths, capacity, {"batch_size": None})
        print(f"  trl (whole set) done in {t_all:.2f} s", flush=True)
        results[capacity] = [
            (f"{rows_ours:,}", f"{eff_ours:.4f}", f"{t_ours:.2f}"),
            (f"{rows_trl:,}", f"{eff_trl:.4f}", f"{t_trl:.2f}"),
            (f"{rows_all:,}", f"{eff_all:.4f}", f"{t_all:.2f}"),
            ("-", f"{pad_efficiency(lengths):.4f}", "-"),
            ("-", f"{pad_efficiency(np.sort(lengths)[::-1]):.4f}", "-"),
        ]
    print()

    name_w = max(map(len, methods))
    cols = ("rows", "efficiency", "time (s)")
    widths = (9, 10, 8)
    group_w = sum(widths) + 2 * (len(widths) - 1)
    header = " " * name_w + "".join(f" | {f'capacity {c:,}':^{group_w}}" for c in args.capacity)
    sub = f"{'method':<{name_w}}" + "".join(
        " | " + "  ".join(f"{h:>{w}}" for h, w in zip(cols, widths)) for _ in args.capacity
    )
    print(header)
    print(sub)
    print("-" * len(sub))
    for i, name in enumerate(methods):
        line = f"{name:<{name_w}}"
        for c in args.capacity:
            line += " | " + "  ".join(f"{v:>{w}}" for v, w in zip(results[c][i], widths))
        print(line)


if __name__ == "__main__":
    main()
