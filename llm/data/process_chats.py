"""``python -m llm.data.process_chats`` (also ``llm-train process``): raw chat data → training rows.

    python -m llm.data.process_chats --dataset PIPPA \\
        --data_files examples/data/pippa_sample.jsonl --tokenizer tiny:metaspace \\
        --template pygmalion --max_length 2048 --stack --output runs/pippa

Top to bottom: read records (local JSON / JSONL / parquet files or globs, else the source's hub id) →
convert them with the named source (bad records raise, or with ``--on_error skip`` are counted by reason)
→ split train / validation by record → encode with the template and masking policy (optionally as GAtt
samples) → long chats cut into windows and everything packed into rows (``--stack``), or each record one
row, truncated to ``--max_length`` and counted → ``save_to_disk`` + ``stats.json`` + ``lengths.png``.

Output (a directory):

- ``train/`` (and ``validation/``): a ``datasets`` ``DatasetDict`` saved with ``save_to_disk``. Chat rows
  have ``input_ids``, ``labels`` (−100 where untrained) and ``source_index`` (the record's position in the
  input); stacked rows have ``position_ids`` (restarting at 0 for every packed sample) and ``source_index``
  as a list. Preference rows have ``chosen_input_ids``, ``chosen_labels``, ``rejected_input_ids``,
  ``rejected_labels``. Text rows (pre-training) are documents joined by EOS and cut to ``--max_length``.
- ``tokenizer/``: the tokenizer with any control tokens the template added (train with this one).
- ``stats.json``: records read / kept / dropped by reason, rows, tokens, trained tokens, windows,
  truncations, packing efficiency, and the fingerprint that makes a re-run with the same inputs instant.
- ``lengths.png``: the histogram of sample lengths with ``max_length`` marked.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from llm.data.conversation import Conversation, Message, PreferencePair, RecordError
from llm.data.encode import IGNORE_INDEX, Encoder, Sample
from llm.data.gatt import training_conversations
from llm.data.sources import Source, get_source
from llm.data.stacking import WindowStats, pack, truncate, windows

FORMAT_VERSION = 1  # bump when the output layout or the encoding changes: old caches stop matching


@dataclass
class DataArguments:
    """The data options, shared by ``process_chats`` and the training stages (which process on the fly)."""

    dataset: str = field(
        default="PIPPA",
        metadata={
            "help": "source format: pippa, sharegpt, openai, tldr, "
            "tldr_comparisons, summarize_from_feedback, text (case-insensitive)"
        },
    )
    data_files: list[str] | None = field(
        default=None,
        metadata={"help": "local JSON / JSONL / parquet files or globs (default: the source's hub id)"},
    )
    tokenizer: str | None = field(
        default=None,
        metadata={"help": "hub id, local dir, or tiny:bytelevel / tiny:metaspace (default: the model's own)"},
    )
    template: str = field(default="pygmalion", metadata={"help": "chat template (see llm.data.templates)"})
    max_length: int = field(default=2048, metadata={"help": "tokens per row"})
    mask: Literal["assistant", "last", "all", "none"] = field(
        default="assistant", metadata={"help": "masking policy"}
    )
    stack: bool = field(default=False, metadata={"help": "cut long chats into windows and pack rows"})
    context_turns: int = field(
        default=2, metadata={"help": "earlier turns carried (untrained) into each window"}
    )
    gatt: bool = field(
        default=False,
        metadata={"help": "make Ghost Attention samples (the character card is the instruction)"},
    )
    gatt_skip_first: int = field(default=1, metadata={"help": "GAtt: no samples for the first k replies"})
    validation_split: float = field(
        default=0.0, metadata={"help": "fraction of records held out for validation"}
    )
    num_proc: int = field(default=1, metadata={"help": "worker processes for encoding"})
    on_error: Literal["raise", "skip"] = field(
        default="raise", metadata={"help": "bad record: stop, or skip and count"}
    )
    user_name: str = field(default="You", metadata={"help": "the user's name in role-play cards (PIPPA)"})
    max_query_tokens: int = field(default=512, metadata={"help": "TL;DR: cut posts so the query fits"})

    def validate(self) -> None:
        """Fail before any work, saying what to change; normalise names (``PIPPA`` → ``pippa``)."""
        from llm.data.templates import TEMPLATES

        if not self.tokenizer:
            raise ValueError(
                "--tokenizer is required: a hub id, a local directory, or tiny:bytelevel / tiny:metaspace"
            )
        self.dataset = get_source(self.dataset).name  # raises with the known names
        self.template = self.template.lower()

        if self.template.lower() not in TEMPLATES:
            raise ValueError(
                f"--template {self.template!r} is unknown; known: {', '.join(sorted(TEMPLATES))}"
            )
        if self.max_length < 16:
            raise ValueError(f"--max_length {self.max_length} is too small (at least 16)")
        if not 0.0 <= self.validation_split < 1.0:
            raise ValueError(f"--validation_split {self.validation_split} must be in [0, 1)")
        kind = get_source(self.dataset).kind
        if self.stack and kind == "preference":
            raise ValueError("--stack packs chat samples; preference pairs are not packed (drop --stack)")
        if self.gatt and kind != "chat":
            raise ValueError(f"--gatt makes samples from chats; {self.dataset} is a {kind} source")
        if self.num_proc < 1:
            raise ValueError("--num_proc must be at least 1")


@dataclass
class ProcessArguments:
    """Where ``process_chats`` writes, and the seed of its split and row order."""

    output: str | None = field(default=None, metadata={"help": "output directory"})
    overwrite: bool = field(
        default=False, metadata={"help": "replace an existing output made from other inputs"}
    )
    seed: int = field(default=0, metadata={"help": "seed for the validation split and the row order"})


@dataclass
class Report:
    records_read: int = 0
    records_kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)  # changes made to kept records, e.g. posts cut
    rows: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    tokens: int = 0
    trained_tokens: int = 0
    windows: WindowStats = field(default_factory=WindowStats)
    truncated: int = 0
    truncated_tokens: int = 0
    packing_efficiency: float | None = None
    lengths: list[int] = field(default_factory=list)

    def check(self) -> None:
        """Rows in = kept + dropped, always."""
        dropped = sum(self.dropped.values())
        if self.records_kept + dropped != self.records_read or self.records_kept < 0:
            raise AssertionError(
                f"record accounting broke: kept {self.records_kept} + dropped {dropped} "
                f"!= read {self.records_read}"
            )


# ---------------------------------------------------------------------------------------------------- reading


def resolve_files(patterns: list[str]) -> list[Path]:
    files: list[Path] = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matched:
            raise FileNotFoundError(f"--data_files {pattern!r} matches no file")
        for m in matched:
            path = Path(m)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such file")
            files.append(path)
    return files


def iter_file(path: Path) -> Iterator[tuple[str, Any]]:
    """``(record_id, record_or_RecordError)`` for every record of a JSONL, JSON or parquet file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist()):
            yield f"{path}:row {i}", row
        return
    raw = path.read_bytes()
    if not raw.strip():
        yield str(path), RecordError(str(path), "<file>", "empty file: no records")
        return
    if suffix == ".json" and raw.lstrip()[:1] == b"[":
        try:
            records = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            yield str(path), RecordError(str(path), "<file>", f"malformed JSON ({e})")
            return
        for i, record in enumerate(records):
            yield f"{path}:item {i}", record
        return
    for line_no, line in enumerate(raw.split(b"\n"), start=1):
        record_id = f"{path}:{line_no}"
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            yield (
                record_id,
                RecordError(
                    record_id, "<line>", f"not UTF-8 (byte {e.start}: {line[e.start : e.start + 1]!r})"
                ),
            )
            continue
        try:
            yield record_id, json.loads(text)
        except json.JSONDecodeError as e:
            yield record_id, RecordError(record_id, "<line>", f"malformed JSON ({e.msg} at column {e.colno})")


def iter_hub(source: Source) -> Iterator[tuple[str, Any]]:
    """Records of the source's hub dataset (needs the network; tests never come here)."""
    if source.hub_id is None:
        raise ValueError(f"source {source.name!r} has no hub dataset: pass --data_files")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise OSError(f"cannot download {source.hub_id} with HF_HUB_OFFLINE=1: pass local --data_files")
    if source.hub_file:
        from huggingface_hub import hf_hub_download

        yield from iter_file(Path(hf_hub_download(source.hub_id, source.hub_file, repo_type="dataset")))
        return
    import datasets

    for split, ds in datasets.load_dataset(source.hub_id).items():
        for i, row in enumerate(ds):
            yield f"{source.hub_id}[{split}]:{i}", row


def convert_records(
    args: DataArguments, source: Source, tokenizer: Any, report: Report
) -> list[tuple[int, Any]]:
    """``(record index, item)`` for every kept record; bad ones raise, or are counted under ``skip``."""
    files = resolve_files(args.data_files) if args.data_files else None
    stream = (r for f in files for r in iter_file(f)) if files else iter_hub(source)
    kwargs: dict[str, Any] = {}
    if source.name == "pippa":
        kwargs["user_name"] = args.user_name
    if source.name in ("tldr", "tldr_comparisons", "summarize_from_feedback"):
        kwargs.update(
            max_query_tokens=args.max_query_tokens,
            count=lambda s: len(tokenizer(s, add_special_tokens=False)["input_ids"]),
            notes=report.notes,
        )
    items = []
    for record_id, record in tqdm(stream, desc="reading", unit=" records", leave=False):
        index = report.records_read
        report.records_read += 1
        try:
            if isinstance(record, RecordError):
                raise record
            items.append((index, source.convert(record, record_id, **kwargs)))
        except RecordError as e:
            if args.on_error == "raise":
                raise
            report.dropped[e.reason] += 1
    return items


# --------------------------------------------------------------------------------------------------- encoding


def _chat_samples(
    encoder: Encoder, args: DataArguments, items: list[tuple[int, Conversation]], report: Report
) -> list[tuple[int, Sample]]:
    """Samples of every record, in input order; a record that yields nothing to train is dropped, counted."""
    convs: list[tuple[int, Conversation]] = []
    for index, conv in items:
        if not args.gatt:
            convs.append((index, conv))
            continue
        instruction = conv.character or _system_text(conv)
        if instruction is None:
            report.dropped["GAtt: no card or system prompt to use as the instruction"] += 1
            continue
        made = training_conversations(conv, instruction, skip_first=args.gatt_skip_first)
        if not made:
            report.dropped[f"GAtt: no reply after the first {args.gatt_skip_first}"] += 1
        convs.extend((index, c) for c in made)

    encoded: list[tuple[int, Sample]] = []
    if args.stack:
        for index, conv in tqdm(convs, desc="windows", unit=" chats", leave=False):
            encoded.extend(
                (index, s)
                for s in windows(conv, encoder, args.max_length, args.context_turns, report.windows)
            )
    else:
        for start in tqdm(range(0, len(convs), 64), desc="encoding", unit=" batches", leave=False):
            chunk = convs[start : start + 64]
            for (index, _), sample in zip(chunk, encoder.encode_batch([c for _, c in chunk]), strict=True):
                sample, cut = truncate(sample, args.max_length)
                if cut:
                    report.truncated += 1
                    report.truncated_tokens += cut
                encoded.append((index, sample))

    trained_records = {index for index, s in encoded if s.num_trained}
    untrained = {index for index, _ in convs} - trained_records
    if untrained:
        report.dropped["nothing to train (no reply the mask policy trains)"] += len(untrained)
    return [(index, s) for index, s in encoded if s.num_trained]


def _system_text(conv: Conversation) -> str | None:
    if conv.messages and conv.messages[0].role == "system" and conv.messages[0].content.strip():
        return conv.messages[0].content
    return None


def _worker(job: tuple[dict, list[tuple[int, Any]]]) -> tuple[list[tuple[int, Sample]], Report]:
    """Encode one chunk in a worker process (``--num_proc``)."""
    arg_dict, items = job
    args = DataArguments(**arg_dict)
    encoder = build_encoder(args)
    report = Report()
    return _chat_samples(encoder, args, items, report), report


def encode_chats(
    args: DataArguments, items: list[tuple[int, Conversation]], report: Report, encoder: Encoder
):
    if args.num_proc == 1 or len(items) < 2 * args.num_proc:
        return _chat_samples(encoder, args, items, report)
    from multiprocessing import get_context

    chunks = [items[i :: args.num_proc] for i in range(args.num_proc)]
    with get_context("spawn").Pool(args.num_proc) as pool:
        results = pool.map(_worker, [(asdict(args), chunk) for chunk in chunks])
    samples: list[tuple[int, Sample]] = []
    for part, sub in results:
        samples.extend(part)
        report.truncated += sub.truncated
        report.truncated_tokens += sub.truncated_tokens
        report.dropped.update(sub.dropped)
        for key, value in asdict(sub.windows).items():
            setattr(report.windows, key, getattr(report.windows, key) + value)
    samples.sort(key=lambda pair: pair[0])  # input order, whatever the workers did
    return samples


def chat_rows(
    args: DataArguments, samples: list[tuple[int, Sample]], report: Report, seed: int
) -> dict[str, list]:
    report.samples += len(samples)
    report.lengths.extend(len(s) for _, s in samples)
    report.tokens += sum(len(s) for _, s in samples)
    if not args.stack:
        report.trained_tokens += sum(s.num_trained for _, s in samples)
        return {
            "input_ids": [s.input_ids for _, s in samples],
            "labels": [s.labels for _, s in samples],
            "source_index": [i for i, _ in samples],
        }
    rows, efficiency = pack([s for _, s in samples], [i for i, _ in samples], args.max_length, seed)
    report.trained_tokens += sum(sum(1 for x in r.labels if x != IGNORE_INDEX) for r in rows)
    report.packing_efficiency = efficiency
    return {
        "input_ids": [r.input_ids for r in rows],
        "labels": [r.labels for r in rows],
        "position_ids": [r.position_ids for r in rows],
        "source_index": [r.sources for r in rows],
    }


def preference_rows(
    encoder: Encoder, args: DataArguments, items: list[tuple[int, PreferencePair]], report: Report
):
    cols: dict[str, list] = {
        k: []
        for k in (
            "chosen_input_ids",
            "chosen_labels",
            "rejected_input_ids",
            "rejected_labels",
            "source_index",
        )
    }
    for index, pair in tqdm(items, desc="encoding pairs", unit=" pairs", leave=False):
        if not pair.chosen.strip() or not pair.rejected.strip():
            report.dropped["pair with an empty side"] += 1
            continue
        if pair.chosen.strip() == pair.rejected.strip():
            report.dropped["pair with identical sides"] += 1
            continue
        for side, text in (("chosen", pair.chosen), ("rejected", pair.rejected)):
            conv = Conversation((*pair.prompt.messages, Message("assistant", text)), pair.prompt.character)
            sample, cut = truncate(encoder.encode(conv), args.max_length)
            if cut:
                report.truncated += 1
                report.truncated_tokens += cut
            cols[f"{side}_input_ids"].append(sample.input_ids)
            cols[f"{side}_labels"].append(sample.labels)
            report.tokens += len(sample)
            report.trained_tokens += sample.num_trained
            report.lengths.append(len(sample))
        cols["source_index"].append(index)
        report.samples += 1
    return cols


def text_rows(
    tokenizer: Any, args: DataArguments, items: list[tuple[int, str]], report: Report
) -> dict[str, list]:
    """Documents joined by EOS, cut into rows of ``max_length`` (the last row may be shorter)."""
    if tokenizer.eos_token_id is None:
        raise ValueError("text processing joins documents with EOS; this tokenizer has no eos_token")
    rows: dict[str, list] = {"input_ids": [], "labels": [], "source_index": []}
    buf: list[int] = []
    starts: list[tuple[int, int]] = []  # (position in buf, document index)
    for start in tqdm(range(0, len(items), 256), desc="tokenizing", unit=" batches", leave=False):
        chunk = items[start : start + 256]
        encoded = tokenizer([t for _, t in chunk], add_special_tokens=False)["input_ids"]
        for (index, _), ids in zip(chunk, encoded, strict=True):
            starts.append((len(buf), index))
            buf.extend(ids)
            buf.append(tokenizer.eos_token_id)
    for offset in range(0, len(buf), args.max_length):
        row = buf[offset : offset + args.max_length]
        first_doc = max((i for pos, i in starts if pos <= offset), default=0)
        rows["input_ids"].append(row)
        rows["labels"].append(list(row))
        rows["source_index"].append(first_doc)
    report.tokens = report.trained_tokens = len(buf)
    report.samples = len(items)
    report.lengths = [len(r) for r in rows["input_ids"]]
    return rows


# ------------------------------------------------------------------------------------------------- the command


def build_encoder(args: DataArguments) -> Encoder:
    from llm.data.templates import get_template
    from llm.models.tokenizer import add_template_tokens, load_tokenizer

    tokenizer = load_tokenizer(args.tokenizer)
    template = get_template(args.template, tokenizer)
    add_template_tokens(tokenizer, template)
    return Encoder(tokenizer, template, mask=args.mask)


def fingerprint(args: DataArguments, tokenizer: Any, seed: int) -> str:
    """Content hash of everything the output depends on (data bytes, tokenizer, options) — not file names."""
    h = hashlib.sha256()
    h.update(f"v{FORMAT_VERSION}".encode())
    ignored = ("data_files", "num_proc")
    options = {k: v for k, v in asdict(args).items() if k not in ignored}
    options["seed"] = seed
    h.update(json.dumps(options, sort_keys=True).encode())
    h.update(tokenizer.backend_tokenizer.to_str().encode())
    h.update(json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str).encode())
    h.update(str(getattr(tokenizer, "chat_template", "")).encode())
    if args.data_files:
        for path in resolve_files(args.data_files):
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    else:
        h.update(f"hub:{get_source(args.dataset).hub_id}".encode())
    return h.hexdigest()[:20]


def cache_root() -> Path:
    return Path(os.environ.get("LLM_TRAIN_CACHE", Path.home() / ".cache" / "llm-train")) / "processed"


def process(args: DataArguments, run: ProcessArguments) -> dict:
    """Run the whole pipeline; returns the stats written to ``stats.json``."""
    args.validate()
    if not run.output:
        raise ValueError("--output is required: the directory to write the dataset to")
    t0 = time.perf_counter()
    encoder = build_encoder(args)
    tokenizer = encoder.tokenizer
    key = fingerprint(args, tokenizer, run.seed)
    output, cached = Path(run.output), cache_root() / key
    previous = output / "stats.json"
    if previous.exists() and json.loads(previous.read_text()).get("fingerprint") == key:
        stats = json.loads(previous.read_text())
        stats["cached"] = True
        return stats
    if output.exists() and any(output.iterdir()) and not run.overwrite:
        raise FileExistsError(
            f"{output} exists and was made from other inputs; pass --overwrite to replace it"
        )
    if (cached / "stats.json").exists():
        _replace_dir(cached, output)
        stats = json.loads((output / "stats.json").read_text())
        stats["cached"] = True
        return stats

    source = get_source(args.dataset)
    report = Report()
    items = convert_records(args, source, tokenizer, report)
    splits = _split(items, args.validation_split, run.seed)

    columns = {}
    for name, part in splits.items():
        if source.kind == "chat":
            samples = encode_chats(args, part, report, encoder)
            columns[name] = chat_rows(args, samples, report, run.seed)
        elif source.kind == "preference":
            columns[name] = preference_rows(encoder, args, part, report)
        else:
            columns[name] = text_rows(tokenizer, args, part, report)
        report.rows[name] = len(next(iter(columns[name].values())))
    report.records_kept = report.records_read - sum(report.dropped.values())
    report.check()

    stats = _stats(args, report, key, time.perf_counter() - t0)
    tmp = Path(f"{output}.tmp-{os.getpid()}")
    _save(columns, tokenizer, stats, report.lengths, args.max_length, tmp)
    _replace_dir(tmp, output)
    shutil.rmtree(tmp, ignore_errors=True)
    with contextlib.suppress(OSError):  # the cache makes a re-run instant, wherever its output goes
        _replace_dir(output, cached)
    return stats


def _split(items: list, fraction: float, seed: int) -> dict[str, list]:
    """Train / validation by record (so windows of one chat never straddle the split), input order kept."""
    if not fraction:
        return {"train": items}
    n_val = max(1, round(len(items) * fraction))
    held = set(random.Random(seed).sample(range(len(items)), n_val))
    return {
        "train": [x for k, x in enumerate(items) if k not in held],
        "validation": [x for k, x in enumerate(items) if k in held],
    }


def _stats(args: DataArguments, report: Report, key: str, seconds: float) -> dict:
    lengths = sorted(report.lengths)
    return {
        "fingerprint": key,
        "source": get_source(args.dataset).name,
        "template": args.template,
        "tokenizer": args.tokenizer,
        "max_length": args.max_length,
        "mask": args.mask,
        "stacked": args.stack,
        "gatt": args.gatt,
        "records_read": report.records_read,
        "records_kept": report.records_kept,
        "records_dropped": dict(sorted(report.dropped.items())),
        "records_changed": dict(sorted(report.notes.items())),
        "rows": report.rows,
        "samples": report.samples,
        "tokens": report.tokens,
        "trained_tokens": report.trained_tokens,
        "trained_fraction": round(report.trained_tokens / report.tokens, 4) if report.tokens else 0.0,
        "windows": asdict(report.windows) if args.stack else None,
        "truncated_samples": report.truncated + report.windows.truncated,
        "truncated_tokens": report.truncated_tokens + report.windows.truncated_tokens,
        "packing_efficiency": round(report.packing_efficiency, 4)
        if report.packing_efficiency is not None
        else None,
        "sample_length": {
            "min": lengths[0] if lengths else 0,
            "median": lengths[len(lengths) // 2] if lengths else 0,
            "max": lengths[-1] if lengths else 0,
        },
        "seconds": round(seconds, 2),
    }


def _save(columns: dict, tokenizer: Any, stats: dict, lengths: list[int], max_length: int, out: Path) -> None:
    import datasets

    shutil.rmtree(out, ignore_errors=True)
    datasets.DatasetDict(
        {name: datasets.Dataset.from_dict(cols) for name, cols in columns.items()}
    ).save_to_disk(str(out))
    tokenizer.save_pretrained(str(out / "tokenizer"))
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    _histogram(lengths, max_length, out / "lengths.png", stats)


def _histogram(lengths: list[int], max_length: int, path: Path, stats: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    ax.hist(lengths, bins=60, color="#4C72B0")
    ax.axvline(max_length, color="#C44E52", linestyle="--", label=f"max_length {max_length}")
    ax.set_xlabel("sample length (tokens)")
    ax.set_ylabel("samples")
    ax.set_title(f"{stats['source']} · {stats['template']} · {len(lengths)} samples")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _replace_dir(src: Path, dst: Path) -> None:
    if src.resolve() == dst.resolve():
        return
    tmp = Path(f"{dst}.incoming-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, tmp)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)


def print_summary(stats: dict, output: str) -> None:
    p = print
    p(f"{'(cached) ' if stats.get('cached') else ''}wrote {output}")
    p(
        f"  records   read {stats['records_read']}   kept {stats['records_kept']}   "
        f"dropped {sum(stats['records_dropped'].values())}"
    )
    for reason, n in stats["records_dropped"].items():
        p(f"            dropped {n}: {reason}")
    for change, n in stats.get("records_changed", {}).items():
        p(f"            changed {n}: {change}")
    p(f"  rows      {', '.join(f'{k} {v}' for k, v in stats['rows'].items())}   (samples {stats['samples']})")
    p(f"  tokens    {stats['tokens']}   trained {stats['trained_tokens']} ({stats['trained_fraction']:.1%})")
    if stats["windows"]:
        w = stats["windows"]
        p(
            f"  windows   {w['windows']} from {w['chats_split']} long chats split; "
            f"{w['untrained_windows_skipped']} windows with nothing to train skipped"
        )
    p(f"  truncated {stats['truncated_samples']} samples ({stats['truncated_tokens']} tokens cut)")
    if stats["packing_efficiency"] is not None:
        p(f"  packing   efficiency {stats['packing_efficiency']:.2%} of {stats['max_length']}-token rows")
    p(
        f"  lengths   min {stats['sample_length']['min']}  median {stats['sample_length']['median']}  "
        f"max {stats['sample_length']['max']}   (histogram: {output}/lengths.png)"
    )


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    parser = HfArgumentParser(
        (DataArguments, ProcessArguments),
        prog="python -m llm.data.process_chats",
        description="Turn raw chat data into training rows.",
    )
    args, run = parser.parse_args_into_dataclasses(args=argv)
    try:
        stats = process(args, run)
    except (RecordError, ValueError, OSError) as e:
        print(f"process_chats: error: {e}", file=sys.stderr)
        return 2
    print_summary(stats, run.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
