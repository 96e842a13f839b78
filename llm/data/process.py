"""Raw chat data → training rows: the library behind ``llm-train process`` (``python -m llm.data.process_chats``).

    llm-train process --dataset PIPPA --data_files llm/data/samples/pippa_sample.jsonl \\
        --tokenizer tiny:metaspace --template pygmalion --max_length 2048 --stack --output runs/pippa

Top to bottom (:func:`process`): read records (local JSON / JSONL / parquet files or globs, else the
source's hub id) → convert them with the named source (bad records raise, or with ``--on_error skip`` are
counted by reason) → split train / validation by record → encode with the template and masking policy
(optionally as GAtt samples) → long chats cut into windows and everything packed into rows (``--stack``),
or each record one row, truncated to ``--max_length`` and counted → one complete directory, swapped into
place by renames (:mod:`llm.data.output`) → a copy in the cache, keyed by everything the rows depend on.

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
- ``.llm-train-complete``: written last; without it the directory is not a finished output.

A run that keeps no row at all is an error (:class:`NothingToTrain`) naming the drop reasons, never an
empty dataset that fails later in training.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from llm.data.conversation import Conversation, LabeledCompletion, Message, PreferencePair
from llm.data.encode import IGNORE_INDEX, Encoder, Sample
from llm.data.gatt import training_conversations
from llm.data.output import (
    check_target,
    completion_key,
    copy_complete,
    is_complete,
    mark_complete,
    recover,
    staging_dir,
    swap_into_place,
)
from llm.data.sillytavern import ST_CONTEXT_HELP, ST_INSTRUCT_HELP, is_spec, preset_template
from llm.data.sillytavern import label as template_label
from llm.data.sources import Source, get_source
from llm.data.sources.files import hub_revision, iter_hub, iter_records, resolve_files
from llm.data.stacking import WindowStats, pack, truncate, windows
from llm.data.templates import TEMPLATES, get_template
from llm.data.tokenizer import add_template_tokens, load_tokenizer
from llm.errors import RecordError, UserError

FORMAT_VERSION = 2  # bump when the output layout or the encoding changes: old caches stop matching


@dataclass
class DataArguments:
    """The data options, shared by ``process`` and the training stages (which process on the fly)."""

    dataset: str = field(
        default="PIPPA",
        metadata={
            "help": "source format: pippa, sharegpt, openai, tldr, tldr_comparisons, summarize_from_feedback, "
            "preference (TRL formats), hh_rlhf, kto, text (case-insensitive)"
        },
    )
    data_files: list[str] | None = field(
        default=None,
        metadata={"help": "local JSON / JSONL / parquet files or globs (default: the source's hub id)"},
    )
    revision: str | None = field(
        default=None, metadata={"help": "hub dataset revision (branch, tag or commit) when no --data_files"}
    )
    tokenizer: str | None = field(
        default=None,
        metadata={"help": "hub id, local dir, or tiny:bytelevel / tiny:metaspace (default: the model's own)"},
    )
    template: str = field(default="pygmalion", metadata={"help": "chat template (see llm.data.templates)"})
    st_context: str | None = field(default=None, metadata={"help": ST_CONTEXT_HELP})
    st_instruct: str | None = field(default=None, metadata={"help": ST_INSTRUCT_HELP})
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
    truncation: Literal["keep_end", "drop"] = field(
        default="keep_end",
        metadata={
            "help": "preference pairs over --max_length: keep_end cuts the shared prompt from its start, then "
            "the completions' ends; drop leaves the pair out (counted)"
        },
    )

    def validate(self) -> None:
        """Fail before any work, saying what to change; normalise names (``PIPPA`` → ``pippa``)."""
        if not self.tokenizer:
            raise UserError(
                "--tokenizer is required: a hub id, a local directory, or tiny:bytelevel / tiny:metaspace"
            )
        self.dataset = get_source(self.dataset).name  # raises with the known names
        self.template = preset_template(self.st_context, self.st_instruct) or self.template
        if not is_spec(self.template):
            self.template = self.template.lower()
        if self.template not in TEMPLATES and not is_spec(self.template):
            raise UserError(f"--template {self.template!r} is unknown; known: {', '.join(sorted(TEMPLATES))}")
        if self.max_length < 16:
            raise UserError(f"--max_length {self.max_length} is too small (at least 16)")
        if not 0.0 <= self.validation_split < 1.0:
            raise UserError(f"--validation_split {self.validation_split} must be in [0, 1)")
        kind = get_source(self.dataset).kind
        if self.stack and kind in ("preference", "unpaired"):
            raise UserError("--stack packs chat samples; preference data is not packed (drop --stack)")
        if self.truncation not in ("keep_end", "drop"):
            raise UserError(f"--truncation {self.truncation!r}: choose keep_end or drop")
        if self.gatt and kind != "chat":
            raise UserError(f"--gatt makes samples from chats; {self.dataset} is a {kind} source")
        if self.num_proc < 1:
            raise UserError("--num_proc must be at least 1")
        if self.context_turns < 0 or self.gatt_skip_first < 0 or self.max_query_tokens < 1:
            raise UserError("--context_turns and --gatt_skip_first must be ≥ 0, --max_query_tokens ≥ 1")
        if self.mask not in ("assistant", "last", "all", "none"):
            raise UserError(f"--mask {self.mask!r}: choose assistant, last, all or none")
        if self.on_error not in ("raise", "skip"):
            raise UserError(f"--on_error {self.on_error!r}: choose raise or skip")


@dataclass
class ProcessArguments:
    """Where ``process`` writes, and the seed of its split and row order."""

    output: str | None = field(default=None, metadata={"help": "output directory"})
    overwrite: bool = field(
        default=False,
        metadata={"help": "replace an existing output of ours made from other inputs (never other files)"},
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

    def drops(self) -> str:
        return ", ".join(f"{n} {reason}" for reason, n in sorted(self.dropped.items())) or "none"


class NothingToTrain(UserError):
    """Every record was dropped (or a split came out empty); ``stats`` has the counts by reason."""

    def __init__(self, message: str, stats: dict):
        super().__init__(message)
        self.stats = stats


# ---------------------------------------------------------------------------------------------------- reading


def record_stream(args: DataArguments, source: Source) -> Iterator[tuple[str, Any]]:
    """``(record_id, record or RecordError)`` from the local files, else from the source's hub dataset."""
    if args.data_files:
        return (r for f in resolve_files(args.data_files) for r in iter_records(f))
    return iter_hub(source.hub_id, source.hub_file, args.revision, source.name)


def convert_records(
    args: DataArguments, source: Source, tokenizer: Any, report: Report
) -> list[tuple[int, Any]]:
    """``(record index, item)`` for every kept record; bad ones raise, or are counted under ``skip``."""
    kwargs: dict[str, Any] = {}
    if source.name == "pippa":
        kwargs.update(user_name=args.user_name, notes=report.notes)
    if source.name in ("tldr", "tldr_comparisons", "summarize_from_feedback"):
        kwargs.update(
            max_query_tokens=args.max_query_tokens,
            count=(lambda s: len(tokenizer(s, add_special_tokens=False)["input_ids"])) if tokenizer else None,
            notes=report.notes,
        )
    items = []
    for record_id, record in tqdm(record_stream(args, source), desc="reading", unit=" records", leave=False):
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
        if conv.character is not None:
            instruction: Any = conv.character
        elif _system_text(conv) is not None:
            # The system prompt is the instruction: it moves to the system slot once, not twice.
            instruction, conv = _system_text(conv), replace(conv, messages=conv.messages[1:])
        else:
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
) -> list[tuple[int, Sample]]:
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


def fit_pair(chosen: Sample, rejected: Sample, max_length: int) -> tuple[Sample, Sample, int]:
    """Both sides of a pair within ``max_length``: the shared prompt loses tokens from its start first (both
    sides the same), and only then are the completions cut at the end. Returns the sides and the tokens cut.

    >>> c, r = Sample([1, 2, 3, 4, 5], [-100, -100, -100, 4, 5]), Sample([1, 2, 3, 6], [-100, -100, -100, 6])
    >>> fit_pair(c, r, 3)
    (Sample(input_ids=[3, 4, 5], labels=[-100, 4, 5]), Sample(input_ids=[3, 6], labels=[-100, 6]), 4)
    """
    overflow = max(len(chosen), len(rejected)) - max_length
    if overflow <= 0:
        return chosen, rejected, 0
    shared = 0
    for a, b in zip(chosen.input_ids, rejected.input_ids):
        if a != b:
            break
        shared += 1
    # Never cut into a trained token: the prompt is what precedes the first one on either side.
    first_trained = min(
        next((i for i, x in enumerate(s.labels) if x != IGNORE_INDEX), len(s)) for s in (chosen, rejected)
    )
    left = min(overflow, shared, first_trained)
    sides = [Sample(s.input_ids[left:], s.labels[left:]) for s in (chosen, rejected)]
    cut = 2 * left
    for k, s in enumerate(sides):
        s, end_cut = truncate(s, max_length)
        sides[k], cut = s, cut + end_cut
    return sides[0], sides[1], cut


def continuation(prompt: Conversation, messages: tuple[Message, ...]) -> Conversation:
    """The prompt untrained, then the continuation with only its assistant turns trained (whatever the masking
    policy): the conversation a preference side is encoded from.

    >>> conv = continuation(Conversation((Message("user", "Tea?"),)), (Message("assistant", "Yes."),))
    >>> [(m.role, m.train) for m in conv.messages]
    [('user', False), ('assistant', True)]
    """
    head = tuple(replace(m, train=False) for m in prompt.messages)
    tail = tuple(replace(m, train=m.role == "assistant") for m in messages)
    return Conversation(head + tail, prompt.character)


def first_trained(sample: Sample) -> int:
    return next((i for i, x in enumerate(sample.labels) if x != IGNORE_INDEX), len(sample))


def preference_rows(
    encoder: Encoder, args: DataArguments, items: list[tuple[int, PreferencePair]], report: Report
) -> dict[str, list]:
    """Chosen and rejected rows of every pair, the prompt encoded once for both (``prompt_length`` tokens,
    the same on both sides). A pair is dropped and counted when a side is empty, the sides are identical
    (before or after fitting ``max_length``), the prompt would encode differently for the two sides, or,
    with ``--truncation drop``, it is longer than ``max_length``."""
    names = ("chosen_input_ids", "chosen_labels", "rejected_input_ids", "rejected_labels")
    cols: dict[str, list] = {k: [] for k in (*names, "prompt_length", "source_index")}
    kept = []
    for index, pair in items:
        if not pair.chosen_text.strip() or not pair.rejected_text.strip():
            report.dropped["pair with an empty side"] += 1
        elif pair.chosen == pair.rejected or pair.chosen_text.strip() == pair.rejected_text.strip():
            report.dropped["pair with identical sides"] += 1
        else:
            kept.append((index, pair))
    for start in tqdm(range(0, len(kept), 64), desc="encoding pairs", unit=" batches", leave=False):
        chunk = kept[start : start + 64]
        convs = [continuation(p.prompt, side) for _, p in chunk for side in (p.chosen, p.rejected)]
        encoded = encoder.encode_batch(convs)
        for k, (index, _) in enumerate(chunk):
            chosen, rejected = encoded[2 * k], encoded[2 * k + 1]
            shared = first_trained(chosen)
            if first_trained(rejected) != shared or chosen.input_ids[:shared] != rejected.input_ids[:shared]:
                report.dropped["prompt encoded differently for the two sides"] += 1
                continue
            too_long = max(len(chosen), len(rejected)) > args.max_length
            if too_long and args.truncation == "drop":
                report.dropped["pair over --max_length (--truncation drop)"] += 1
                continue
            chosen, rejected, cut = fit_pair(chosen, rejected, args.max_length)
            if chosen.input_ids == rejected.input_ids:
                report.dropped["pair identical after truncation to --max_length"] += 1
                continue
            if not chosen.num_trained or not rejected.num_trained:
                report.dropped["pair with a side cut away by --max_length"] += 1
                continue
            if cut:
                report.truncated += 1
                report.truncated_tokens += cut
            for side, sample in (("chosen", chosen), ("rejected", rejected)):
                cols[f"{side}_input_ids"].append(sample.input_ids)
                cols[f"{side}_labels"].append(sample.labels)
                report.tokens += len(sample)
                report.trained_tokens += sample.num_trained
                report.lengths.append(len(sample))
            cols["prompt_length"].append(first_trained(chosen))
            cols["source_index"].append(index)
            report.samples += 1
    return cols


def unpaired_rows(
    encoder: Encoder, args: DataArguments, items: list[tuple[int, LabeledCompletion]], report: Report
) -> dict[str, list]:
    """KTO rows: the prompt untrained, the completion trained, ``desirable`` true or false."""
    cols: dict[str, list] = {
        k: [] for k in ("input_ids", "labels", "desirable", "prompt_length", "source_index")
    }
    for start in tqdm(range(0, len(items), 64), desc="encoding completions", unit=" batches", leave=False):
        chunk = items[start : start + 64]
        encoded = encoder.encode_batch([continuation(c.prompt, c.completion) for _, c in chunk])
        for (index, item), sample in zip(chunk, encoded, strict=True):
            if len(sample) > args.max_length:
                if args.truncation == "drop":
                    report.dropped["completion over --max_length (--truncation drop)"] += 1
                    continue
                sample, _, cut = fit_pair(sample, sample, args.max_length)
                report.truncated += 1
                report.truncated_tokens += cut // 2
            if not sample.num_trained:
                report.dropped["completion cut away by --max_length"] += 1
                continue
            cols["input_ids"].append(sample.input_ids)
            cols["labels"].append(sample.labels)
            cols["desirable"].append(item.desirable)
            cols["prompt_length"].append(first_trained(sample))
            cols["source_index"].append(index)
            report.samples += 1
            report.tokens += len(sample)
            report.trained_tokens += sample.num_trained
            report.lengths.append(len(sample))
    return cols


def text_rows(
    tokenizer: Any, documents: Iterable[tuple[int, str]], max_length: int, report: Report
) -> Iterator[tuple[list[int], int]]:
    """Documents in, rows out: each ``(row ids, index of the first document in it)``.

    Documents are joined by EOS and cut into rows of ``max_length`` tokens (the last may be shorter). One
    pass, linear, holding less than a row plus one tokenizer batch of tokens at a time.

    >>> from llm.data.tokenizer import build_tokenizer
    >>> tok = build_tokenizer("bytelevel")
    >>> rows = list(text_rows(tok, [(0, "the sea"), (1, "a light"), (2, "the ship")], 4, Report()))
    >>> [(len(ids), first) for ids, first in rows]
    [(4, 0), (4, 1), (1, 2)]
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise UserError("text processing joins documents with EOS; this tokenizer has no eos_token")
    buf: list[int] = []
    buf_start = 0  # offset of buf[0] in the whole joined stream
    starts: deque[tuple[int, int]] = deque()  # (offset, document index) of documents still in buf

    def rows_from_buffer(final: bool) -> Iterator[tuple[list[int], int]]:
        nonlocal buf, buf_start
        used = 0
        while len(buf) - used >= max_length or (final and used < len(buf)):
            row = buf[used : used + max_length]
            row_start = buf_start + used
            while len(starts) > 1 and starts[1][0] <= row_start:
                starts.popleft()
            yield row, starts[0][1]
            used += len(row)
        buf, buf_start = buf[used:], buf_start + used

    def add(batch: list[tuple[int, str]]) -> None:
        encoded = tokenizer([t for _, t in batch], add_special_tokens=False)["input_ids"]
        for (index, _), ids in zip(batch, encoded, strict=True):
            starts.append((buf_start + len(buf), index))
            buf.extend(ids)
            buf.append(eos)
            report.samples += 1
            report.tokens += len(ids) + 1
            report.trained_tokens += len(ids) + 1

    batch: list[tuple[int, str]] = []
    for doc in tqdm(documents, desc="tokenizing", unit=" docs", leave=False):
        batch.append(doc)
        if len(batch) == 256:
            add(batch)
            batch = []
            yield from rows_from_buffer(final=False)
    if batch:
        add(batch)
    yield from rows_from_buffer(final=True)


def text_columns(tokenizer: Any, documents: list[tuple[int, str]], max_length: int, report: Report) -> dict:
    cols: dict[str, list] = {"input_ids": [], "labels": [], "source_index": []}
    for ids, first in text_rows(tokenizer, documents, max_length, report):
        cols["input_ids"].append(ids)
        cols["labels"].append(list(ids))
        cols["source_index"].append(first)
        report.lengths.append(len(ids))
    return cols


# ------------------------------------------------------------------------------------------------- the command


def build_encoder(args: DataArguments) -> Encoder:
    tokenizer = load_tokenizer(args.tokenizer)
    template = get_template(args.template, tokenizer)
    add_template_tokens(tokenizer, template)
    return Encoder(tokenizer, template, mask=args.mask)


def fingerprint(args: DataArguments, tokenizer: Any, seed: int) -> str:
    """Content hash of everything the rows depend on: each input file's parse mode (suffix), length and
    bytes in order (not its name or place), or the hub dataset and its commit; the source, every option
    that changes rows, the seed and the tokenizer."""
    h = hashlib.sha256()
    h.update(f"v{FORMAT_VERSION}".encode())
    options = {k: v for k, v in asdict(args).items() if k not in ("data_files", "num_proc", "revision")}
    options["seed"] = seed
    h.update(json.dumps(options, sort_keys=True).encode())
    h.update(tokenizer.backend_tokenizer.to_str().encode())
    h.update(json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str).encode())
    h.update(str(getattr(tokenizer, "chat_template", "")).encode())
    if args.data_files:
        for path in resolve_files(args.data_files):
            # Length-prefixed: a.jsonl + b.jsonl never hash like the file of their concatenation.
            h.update(f"\0file {path.suffix.lower()} {path.stat().st_size}\0".encode())
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    else:
        source = get_source(args.dataset)
        commit = hub_revision(source.hub_id, args.revision) if source.hub_id else "none"
        h.update(f"hub:{source.hub_id}:{source.hub_file}@{commit}".encode())
    return h.hexdigest()[:20]


def cache_root() -> Path:
    return Path(os.environ.get("LLM_TRAIN_CACHE", Path.home() / ".cache" / "llm-train")) / "processed"


def process(args: DataArguments, run: ProcessArguments) -> dict:
    """Run the whole pipeline; returns the stats written to ``stats.json`` (plus ``output`` and ``cached``).

    With ``run.output`` None the rows live in the cache only (``stats["output"]`` says where): the training
    stages use that, so their processed data never shares a folder with the user's files.
    """
    args.validate()
    t0 = time.perf_counter()
    encoder = build_encoder(args)
    key = fingerprint(args, encoder.tokenizer, run.seed)
    cached = cache_root() / key
    output = Path(run.output) if run.output else cached
    inputs = resolve_files(args.data_files) if args.data_files else []
    recover(output)
    if is_complete(output) and completion_key(output) == key:
        return _finished(output, cached=True)
    check_target(output, inputs, run.overwrite, key)
    recover(cached)
    if output != cached and is_complete(cached) and completion_key(cached) == key:
        copy_complete(cached, output)
        return _finished(output, cached=True)

    staged = staging_dir(output)
    try:
        stats = _build(args, run.seed, encoder, key, t0, staged)
        swap_into_place(staged, output)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    if output != cached:
        try:  # the cache makes a re-run instant, wherever its output goes
            copy_complete(output, cached)
        except OSError as e:
            print(f"note: could not cache the processed data in {cached}: {e}")
    return {**stats, "output": str(output), "cached": False}


def _finished(output: Path, cached: bool) -> dict:
    stats = json.loads((output / "stats.json").read_text())
    return {**stats, "output": str(output), "cached": cached}


def _build(args: DataArguments, seed: int, encoder: Encoder, key: str, t0: float, out: Path) -> dict:
    """Read, convert, split, encode and save into ``out`` (complete, marker last); returns the stats."""
    source = get_source(args.dataset)
    report = Report()
    items = convert_records(args, source, encoder.tokenizer, report)
    if not items:
        raise NothingToTrain(
            f"no record could be used ({report.records_read} read; dropped: {report.drops()})",
            _stats(args, report, key, 0.0),
        )
    splits = _split(items, args.validation_split, seed)
    columns = {}
    for name, part in splits.items():
        if source.kind == "chat":
            samples = encode_chats(args, part, report, encoder)
            columns[name] = chat_rows(args, samples, report, seed)
        elif source.kind == "preference":
            columns[name] = preference_rows(encoder, args, part, report)
        elif source.kind == "unpaired":
            columns[name] = unpaired_rows(encoder, args, part, report)
        else:
            columns[name] = text_columns(encoder.tokenizer, part, args.max_length, report)
        report.rows[name] = len(next(iter(columns[name].values())))
    report.records_kept = report.records_read - sum(report.dropped.values())
    report.check()
    stats = _stats(args, report, key, time.perf_counter() - t0)
    if report.rows.get("train", 0) == 0:
        held = f" ({report.rows['validation']} validation rows)" if report.rows.get("validation") else ""
        raise NothingToTrain(
            f"no training row was made{held}: {report.records_read} records read, {report.records_kept} kept; "
            f"dropped: {report.drops()}",
            stats,
        )
    _save(columns, encoder.tokenizer, stats, report.lengths, args.max_length, out)
    mark_complete(out, key)
    return stats


def _split(items: list, fraction: float, seed: int) -> dict[str, list]:
    """Train / validation by record (so windows of one chat never straddle the split), input order kept."""
    if not fraction:
        return {"train": items}
    if len(items) < 2:
        raise UserError(
            f"--validation_split {fraction} needs at least 2 usable records to hold one out; {len(items)} kept"
        )
    n_val = min(len(items) - 1, max(1, round(len(items) * fraction)))
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
    ax.set_title(f"{stats['source']} · {template_label(stats['template'])} · {len(lengths)} samples")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def load_processed(path: Path, need: set[str] | None = None) -> tuple[Any, Any, dict]:
    """The ``(train, validation or None, stats)`` of a complete ``process`` output; clear errors for a
    directory that is not one, is unfinished, or lacks the columns ``need``."""
    import datasets

    if not (path / "stats.json").is_file():
        raise UserError(f"{path}: not a process output (no stats.json)")
    if not is_complete(path) and not (path / "train").is_dir():
        raise UserError(f"{path}: an unfinished process output (no completion marker); process it again")
    splits = datasets.load_from_disk(str(path))
    stats = json.loads((path / "stats.json").read_text())
    train = splits["train"]
    if len(train) == 0:
        raise UserError(f"{path}: the train split has no rows (see {path}/stats.json for what was dropped)")
    if need and not need <= set(train.column_names):
        raise UserError(
            f"{path}: rows have {', '.join(sorted(train.column_names))}; this stage needs {', '.join(sorted(need))}"
        )
    return train, splits.get("validation"), stats
