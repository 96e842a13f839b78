"""Ghost Attention data synthesis (``llm-train gatt-synthesize``): chats + an instruction pool → a GAtt
training set, sampled from a model (so it sits above the inference and eval layers).

    llm-train gatt-synthesize --data_files chats.jsonl --model runs/sft --output runs/gatt-data
    llm-train gatt-synthesize --dataset PIPPA --data_files pippa.jsonl --model runs/sft --output runs/gatt-rp
    llm-train gatt-synthesize --data_files chats.jsonl --api_base http://127.0.0.1:8000/v1 \\
        --api_model Qwen/Qwen2.5-72B-Instruct --tokenizer runs/sft --template chatml --output runs/gatt-data

Top to bottom (Llama 2 §3.3; :mod:`llm.data.gatt` has the recipe drawn out):

1. **Dialogues**: any chat source, read by the ``process`` readers (bad records raise, or with
   ``--on_error skip`` are counted by reason). Only the user turns are kept (at most ``--max_turns``),
   with the system message and anything before the first user turn (a role-play greeting).
2. **Instruction**: for a role-play chat the character card itself (``--use_card``); otherwise one drawn
   from the pool (:mod:`llm.eval.instructions`: 1 to ``--max_combine`` families, half shortened).
3. **Sampling**: the instruction is attached to *every* user turn and the replies are sampled turn by turn
   — all dialogues' turn *k* in one batched call — with a local checkpoint (``--model``; KV cache,
   through the template it was trained with) or an OpenAI-compatible endpoint (``--api_base``). A
   dialogue ends early, counted, at a reply that is empty or runs into ``--max_new_tokens``.
4. **Training samples**: the instruction only once at the start (``--placement system`` or
   ``first_user``), one sample per sampled reply after the first ``--skip_first``, each trained on that
   final reply only (``Message.train``), written to ``OUTPUT/gatt.jsonl`` (OpenAI messages records with
   ``train`` flags, readable by ``process --dataset openai``) and encoded into ``OUTPUT`` as a
   ``process`` output, so ``llm-train sft --dataset_path OUTPUT`` trains on it directly.
   ``stats.json`` has the usual processing report plus a ``gatt_synthesis`` section.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm
from transformers import set_seed

from llm.data.conversation import Character, Conversation, Message, resolve_placeholders
from llm.data.encode import Encoder
from llm.data.gatt import sampling_conversation, training_conversations
from llm.data.output import check_target, input_paths, mark_complete, write_output
from llm.data.process import DataArguments, ProcessArguments, Report, build_encoder, convert_records, process
from llm.data.sources import Source, detect_source, get_source
from llm.data.sources.files import iter_records, resolve_files
from llm.data.templates import TEMPLATES
from llm.errors import RecordError, UserError
from llm.eval.checks import Check
from llm.eval.instructions import Drawn, Pool, draw, load_pool
from llm.eval.suite import suite_checks
from llm.inference.cache import PrefixCache
from llm.inference.context import fit as fit_context
from llm.inference.repliers import LocalReplier, OpenAIReplier, Replier, Reply, Sampling
from llm.models.checkpoint import checkpoint_template, require_kind
from llm.models.loading import load_for_inference

# --instructions: the persistence suite's train families (never its held-out ones)
SUITE_TRAIN = "suite:train"


@dataclass
class SynthesisArguments:
    """Everything ``gatt-synthesize`` takes; checked by :meth:`validate` before anything loads."""

    data_files: list[str] | None = field(
        default=None,
        metadata={"help": "chat files (JSON / JSONL / parquet, globs): the user turns come from here"},
    )
    output: str | None = field(default=None, metadata={"help": "output directory (a process output)"})
    dataset: str | None = field(
        default=None, metadata={"help": "source format (pippa, sharegpt, openai …); default: detected"}
    )
    model: str | None = field(default=None, metadata={"help": "local checkpoint that samples the replies"})
    api_base: str | None = field(
        default=None,
        metadata={"help": "OpenAI-compatible API root that samples instead, e.g. http://host:8000/v1"},
    )
    api_model: str | None = field(default=None, metadata={"help": "model name to ask the API for"})
    api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "environment variable holding the API key (if any)"}
    )
    tokenizer: str | None = field(
        default=None, metadata={"help": "tokenizer of the model to train (default: --model's)"}
    )
    template: str | None = field(
        default=None, metadata={"help": "chat template (default: --model's llm_train.json)"}
    )
    instructions: str | None = field(
        default=None,
        metadata={
            "help": "instruction pool JSON (default: the bundled one), or suite:train: the persistence suite's "
            "train families, one check per dialogue, its probe asked at some user turns"
        },
    )
    probe_share: float = field(
        default=0.3,
        metadata={
            "help": "suite:train: share of the user turns after --skip_first that ask the check's probe"
        },
    )
    per_dialogue: bool = field(
        default=False,
        metadata={
            "help": "one training sample per dialogue with every sampled reply after --skip_first trained "
            "(the same replies as one sample per reply, in fewer tokens)"
        },
    )
    use_card: bool = field(
        default=True, metadata={"help": "role-play chats: the character card is the instruction"}
    )
    max_combine: int = field(default=2, metadata={"help": "most instruction families combined in one"})
    shorten: float = field(default=0.5, metadata={"help": "share of instructions in their short form"})
    max_turns: int = field(default=8, metadata={"help": "user turns kept per dialogue"})
    skip_first: int = field(default=1, metadata={"help": "no training sample for the first k replies"})
    placement: Literal["system", "first_user"] = field(
        default="system", metadata={"help": "where the instruction goes in training samples"}
    )
    check_replies: bool = field(
        default=True,
        metadata={
            "help": "end a dialogue at a reply that fails its instruction's program check (a pool entry's "
            "'check'; a card's persona check) instead of training on it"
        },
    )
    resample: int = field(
        default=2,
        metadata={"help": "re-sample a failing reply up to N times first (needs --temperature > 0)"},
    )
    max_new_tokens: int = field(default=128, metadata={"help": "longest sampled reply, in tokens"})
    unfinished: Literal["end", "cut"] = field(
        default="end",
        metadata={
            "help": "a reply that runs into --max_new_tokens: end its dialogue there, or cut it at its last "
            "full sentence and go on (the samples then teach replies that end; counted)"
        },
    )
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature (0: greedy)"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling mass"})
    repetition_penalty: float = field(
        default=1.0,
        metadata={
            "help": "penalty on a reply repeating its own tokens (not the prompt's); 1: none; local only"
        },
    )
    batch_size: int = field(default=16, metadata={"help": "dialogues per generation batch"})
    max_dialogues: int | None = field(default=None, metadata={"help": "use only the first N dialogues"})
    max_length: int = field(default=2048, metadata={"help": "tokens per encoded sample (longer: truncated)"})
    user_name: str = field(default="You", metadata={"help": "the user's name in role-play cards (PIPPA)"})
    on_error: Literal["raise", "skip"] = field(
        default="raise", metadata={"help": "bad record: stop, or skip and count"}
    )
    seed: int = field(default=0, metadata={"help": "seed for instruction draws and sampling"})
    overwrite: bool = field(
        default=False, metadata={"help": "replace an existing output of ours (never a folder of other files)"}
    )

    def validate(self, sampler_given: bool = False) -> None:
        """``sampler_given``: a replier comes from the caller, so neither --model nor --api_base is needed."""
        if not self.data_files:
            raise UserError("--data_files is required: the chats whose user turns are replayed")
        if not self.output:
            raise UserError("--output is required: the directory to write the GAtt dataset to")
        if bool(self.model) == bool(self.api_base) and not (sampler_given and not self.model):
            raise UserError(
                "give exactly one sampler: --model DIR (local) or --api_base URL (with --api_model)"
            )
        if sampler_given and not (self.tokenizer and self.template):
            raise UserError("a sampler given in code needs --tokenizer and --template to encode the samples")
        if self.model and not Path(self.model).is_dir():
            raise FileNotFoundError(f"--model {self.model}: no such directory")
        if self.model:
            require_kind(self.model, "causal_lm", "--model", "gatt-synthesize")
        if self.api_base:
            if not self.api_model:
                raise UserError("--api_base needs --api_model (the model name the server serves)")
            if not (self.tokenizer and self.template):
                raise UserError(
                    "with --api_base, name the model you will train: --tokenizer and --template "
                    "(the samples are encoded for it)"
                )
        if self.template and self.template.lower() not in TEMPLATES:
            raise UserError(f"--template {self.template!r} is unknown; known: {', '.join(sorted(TEMPLATES))}")
        if self.dataset:
            source = get_source(self.dataset)
            if source.kind != "chat" or source.name == "tldr":
                raise UserError(f"--dataset {self.dataset}: {_not_chats(source)}")
        for name, value, low in (
            ("max_turns", self.max_turns, 1),
            ("max_combine", self.max_combine, 1),
            ("max_new_tokens", self.max_new_tokens, 1),
            ("batch_size", self.batch_size, 1),
            ("skip_first", self.skip_first, 0),
            ("resample", self.resample, 0),
        ):
            if value < low:
                raise UserError(f"--{name} {value}: must be {low} or more")
        if self.skip_first >= self.max_turns:
            raise UserError(
                f"--skip_first {self.skip_first} leaves nothing to train of --max_turns {self.max_turns} turns"
            )
        if self.instructions and self.instructions.startswith("suite") and self.instructions != SUITE_TRAIN:
            raise UserError(
                f"--instructions {self.instructions}: training takes {SUITE_TRAIN} only; the suite's held-out "
                "families measure whether persistence carries over to instructions never trained on"
            )
        if self.unfinished not in ("end", "cut"):
            raise UserError(f"--unfinished {self.unfinished!r}: choose end or cut")
        if not 0.0 <= self.probe_share <= 1.0:
            raise UserError(f"--probe_share {self.probe_share}: must be in [0, 1]")
        if not 0.0 <= self.shorten <= 1.0:
            raise UserError(f"--shorten {self.shorten}: must be in [0, 1]")
        if self.placement not in ("system", "first_user"):
            raise UserError(f"--placement {self.placement!r}: choose system or first_user")
        check_target(Path(self.output), [*resolve_files(self.data_files), *input_paths(self)], self.overwrite)


def _not_chats(source: Source) -> str:
    if source.name == "tldr":
        return "TL;DR posts are single-turn summaries; GAtt replays multi-turn chats"
    return f"a {source.kind} source; GAtt replays multi-turn chats"


# ── dialogues and instructions ───────────────────────────────────────────────────────────────────────


@dataclass
class Dialogue:
    """What sampling replays: the opening (system message, greeting), the user turns, the instruction."""

    index: int  # position of the record in the input
    opening: tuple[Message, ...]
    user_turns: list[str]
    character: Character | None
    instruction: str | Character
    drawn: Drawn | None = None  # None when the instruction is the character card or a suite check
    checks: tuple[Check, ...] = ()  # the check of every part a program can check, on every reply
    families: tuple[str, ...] = ("character",)  # of the instruction, for the report and the samples' metadata
    probe_turns: frozenset[int] = frozenset()  # user turns (0-based) that ask a suite check's probe
    probe_checks: tuple[Check, ...] = ()  # checked on the replies to those only (a persona fact)
    replies: list[str] = field(default_factory=list)
    ended: str | None = None  # why sampling stopped before the last user turn

    def obeys(self, reply: str, turn: int = 0) -> bool:
        """The reply to user turn ``turn`` passes every check of the instruction, and at a probe turn the
        probe's own checks (True when nothing can be checked)."""
        probed = self.probe_checks if turn in self.probe_turns else ()
        return all(c.passed(reply) for c in (*self.checks, *probed))

    def conversation(self, upto: int | None = None) -> Conversation:
        """The dialogue as sampled so far (no instruction), ending with user turn ``upto`` if given."""
        messages = list(self.opening)
        for k, reply in enumerate(self.replies):
            messages += [Message("user", self.user_turns[k]), Message("assistant", reply)]
        if upto is not None:
            messages.append(Message("user", self.user_turns[upto]))
        return Conversation(tuple(messages), self.character)


@dataclass
class SynthesisReport:  # counters like process.Report's, of other things: dialogues, replies, samples
    dialogues_read: int = 0
    dialogues_used: int = 0
    dropped: Counter = field(default_factory=Counter)
    cut_to_max_turns: int = 0
    instructions: Counter = field(default_factory=Counter)  # card / pool / shortened / combined-k
    families: Counter = field(default_factory=Counter)
    replies_sampled: int = 0
    replies_checked: int = 0
    replies_failing_first_try: int = 0
    replies_resampled: int = 0
    ended_early: Counter = field(default_factory=Counter)
    context_turns_dropped: int = 0
    replies_cut_at_sentence: int = 0  # ran into --max_new_tokens, kept up to their last full sentence
    samples: int = 0
    samples_shortened: int = 0  # oldest exchanges left out to fit --max_length
    samples_too_long: int = 0  # not even the first exchange and the final turn fit: left out


def make_dialogue(
    index: int, conv: Conversation, pool: Pool | list[Check], rng: random.Random, args: SynthesisArguments
) -> tuple[Dialogue | None, str | None]:
    """The dialogue to replay, or ``(None, reason)`` when the record cannot give a training sample."""
    conv = resolve_placeholders(conv)
    first_user = next((k for k, m in enumerate(conv.messages) if m.role == "user"), None)
    if first_user is None:
        return None, "no user turn"
    opening = conv.messages[:first_user]
    user_turns = [m.content for m in conv.messages[first_user:] if m.role == "user"]
    if len(user_turns) <= args.skip_first:
        return None, f"at most --skip_first {args.skip_first} user turns: nothing to train"
    if isinstance(pool, list):  # suite checks: the next in the shuffled cycle, its probe at some turns
        return suite_dialogue(index, opening, user_turns, conv.character, pool, rng, args), None
    if args.use_card and conv.character is not None:
        instruction: str | Character = conv.character
        drawn = None
        checks = (Check("character", "the character card", "persona", conv.character.name),)
    else:
        drawn = draw(pool, rng, args.max_combine, args.shorten)
        instruction = drawn.text
        checks = tuple(c for c in (part.check() for part in drawn.parts) if c is not None)
    if not args.check_replies:
        checks = ()
    families = drawn.families if drawn else ("character",)
    return Dialogue(index, opening, user_turns, conv.character, instruction, drawn, checks, families), None


def suite_dialogue(
    index: int,
    opening: tuple[Message, ...],
    user_turns: list[str],
    character: Character | None,
    suite: list[Check],
    rng: random.Random,
    args: SynthesisArguments,
) -> Dialogue:
    """A dialogue given the suite check ``suite[index % len(suite)]`` (the caller shuffles ``suite``): its
    probe replaces ``--probe_share`` of the user turns after ``--skip_first`` (at least one), the ones whose
    replies are trained, so that training sees the very question evaluation asks many turns later.

    A check on a card's fact (a ``mentions`` check with a character) holds only for the probe's answer; every
    reply must keep the card's name. Any other check (capitals, an opening word, a language …) holds for
    every reply.

    >>> from llm.eval.suite import suite_checks
    >>> args = SynthesisArguments(probe_share=0.5, max_turns=4)
    >>> shout = next(c for c in suite_checks("train") if c.kind == "case")
    >>> d = suite_dialogue(0, (), ["a", "b", "c", "d"], None, [shout], random.Random(0), args)
    >>> sorted(d.probe_turns), [d.user_turns[k] == shout.probe for k in range(4)], d.families
    ([2, 3], [False, False, True, True], ('case',))
    >>> d.obeys("I LOVE RAIN.", 2), d.obeys("i love rain.", 1)
    (True, False)
    """
    check = suite[index % len(suite)]
    after = list(range(min(args.skip_first, len(user_turns) - 1), min(len(user_turns), args.max_turns)))
    probed = frozenset(rng.sample(after, max(1, round(args.probe_share * len(after)))))
    turns = [check.probe if k in probed and check.probe else u for k, u in enumerate(user_turns)]
    if check.character is not None and check.kind == "mentions":
        card = check.character
        every, at_probe = (Check("character", "the character card", "persona", card.name, card),), (check,)
    else:
        every, at_probe = (check,), ()
    if not args.check_replies:
        every, at_probe = (), ()
    return Dialogue(
        index, opening, turns, character, check.given, None, every, (check.family,), probed, at_probe
    )


def read_dialogues(args: SynthesisArguments, report: SynthesisReport) -> list[Dialogue]:
    if args.dataset:
        source = get_source(args.dataset)
    else:  # detect from the first readable record
        first = next(
            (
                r
                for f in resolve_files(args.data_files)
                for _, r in iter_records(f)
                if not isinstance(r, RecordError)
            ),
            None,
        )
        if first is None:
            raise UserError(f"--data_files {' '.join(args.data_files)}: no readable record")
        source = detect_source(first)
        if source.kind != "chat" or source.name == "tldr":
            raise UserError(f"the records look like {source.name}: {_not_chats(source)}")
    data = DataArguments(
        dataset=source.name, data_files=args.data_files, user_name=args.user_name, on_error=args.on_error
    )
    read = Report()
    items = convert_records(data, source, None, read)
    report.dialogues_read = read.records_read
    report.dropped.update(read.dropped)
    if args.max_dialogues is not None:
        report.dropped["beyond --max_dialogues"] += max(0, len(items) - args.max_dialogues)
        items = items[: args.max_dialogues]

    rng = random.Random(args.seed)
    pool: Pool | list[Check]
    if args.instructions == SUITE_TRAIN:
        pool = suite_checks("train")
        rng.shuffle(pool)  # dialogue i gets check i mod n: every check as often as the next
    else:
        pool = load_pool(args.instructions)
    dialogues = []
    for index, conv in items:
        dialogue, reason = make_dialogue(index, conv, pool, rng, args)
        if dialogue is None:
            report.dropped[reason] += 1
            continue
        if len(dialogue.user_turns) > args.max_turns:
            dialogue.user_turns = dialogue.user_turns[: args.max_turns]
            report.cut_to_max_turns += 1
        if isinstance(pool, list):
            report.instructions[SUITE_TRAIN] += 1
            report.families.update(dialogue.families)
        elif dialogue.drawn is None:
            report.instructions["character card"] += 1
        else:
            report.instructions["from the pool"] += 1
            report.instructions["shortened"] += dialogue.drawn.shortened
            report.instructions[f"{len(dialogue.drawn.families)} families combined"] += 1
            report.families.update(dialogue.drawn.families)
        dialogues.append(dialogue)
    return dialogues


# ── sampling ─────────────────────────────────────────────────────────────────────────────────────────


SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s|$)")


def cut_at_sentence(text: str) -> str:
    """``text`` up to its last complete sentence ("" when it has none): what is kept of a reply that ran
    into the token limit with ``--unfinished cut``.

    >>> cut_at_sentence("I love tea. It warms me. And on cold days I"), cut_at_sentence("No end here")
    ('I love tea. It warms me.', '')
    >>> cut_at_sentence('She said "Go!" and then we')
    'She said "Go!"'
    """
    ends = [m.end() for m in SENTENCE_END.finditer(text)]
    return text[: ends[-1]].rstrip() if ends else ""


def settle(reply: Reply, cut_unfinished: bool) -> Reply:
    """A reply that ran into the token limit, cut at its last full sentence (and so finished) when asked."""
    if reply.finished or reply.overflow or not cut_unfinished:
        return reply
    text = cut_at_sentence(reply.text)
    return replace(reply, text=text, finished=bool(text))


def sample_replies(
    dialogues: list[Dialogue],
    replier: Any,
    report: SynthesisReport,
    resample: int = 0,
    cut_unfinished: bool = False,
) -> None:
    """Turn by turn, every live dialogue's next reply in one call, the instruction on every user turn.

    A reply that fails its instruction's checks is sampled again, those of a turn together, up to
    ``resample`` times; one still failing ends its dialogue (so no sample trains it, or follows it). With
    ``cut_unfinished``, a reply that ran into the token limit is cut at its last full sentence first.
    """
    longest = max((len(d.user_turns) for d in dialogues), default=0)
    for turn in tqdm(range(longest), desc="sampling turns", unit=" turn"):
        live = [d for d in dialogues if d.ended is None and turn < len(d.user_turns)]
        if not live:
            break
        prompts = [sampling_conversation(d.conversation(upto=turn), d.instruction) for d in live]
        replies = replier(prompts)
        report.replies_cut_at_sentence += sum(
            cut_unfinished and not r.finished and not r.overflow for r in replies
        )
        replies = [settle(r, cut_unfinished) for r in replies]
        report.replies_sampled += len(live)
        report.replies_checked += sum(bool(d.checks) for d in live)
        failing = [
            k for k, d in enumerate(live) if not replies[k].overflow and not d.obeys(replies[k].text, turn)
        ]
        report.replies_failing_first_try += len(failing)
        for _ in range(resample):
            if not failing:
                break
            report.replies_resampled += len(failing)
            for k, again in zip(failing, replier([prompts[k] for k in failing]), strict=True):
                report.replies_cut_at_sentence += cut_unfinished and not again.finished and not again.overflow
                replies[k] = settle(again, cut_unfinished)
            failing = [k for k in failing if not live[k].obeys(replies[k].text, turn)]
        for dialogue, reply in zip(live, replies, strict=True):
            report.context_turns_dropped += reply.dropped_turns
            if reply.overflow:
                dialogue.ended = "the prompt outgrew the sampler's context (dialogue ended there)"
            elif not reply.finished:
                dialogue.ended = "a reply ran into --max_new_tokens (dialogue ended there)"
            elif not reply.text.strip():
                dialogue.ended = "an empty reply (dialogue ended there)"
            elif not dialogue.obeys(reply.text, turn):
                dialogue.ended = "a reply failed its instruction's check (dialogue ended there)"
            else:
                dialogue.replies.append(reply.text)
    for d in dialogues:
        if d.ended:
            report.ended_early[d.ended] += 1


def fit(conv: Conversation, encoder: Encoder, max_length: int) -> tuple[Conversation | None, int]:
    """``conv`` made to fit ``max_length`` tokens by the shared context policy (its oldest exchanges after
    the first left out), and how many went; None when even the first exchange and the final turn do not
    fit. The instruction (system slot or first user turn) and the trained final reply always stay: cutting
    the sample's end, as plain truncation would, would cut exactly the reply it trains."""
    fitted = fit_context(conv, lambda c: encoder.encode(c).input_ids, max_length)
    return (fitted.conversation if fitted.ids is not None else None), fitted.dropped


def training_records(
    dialogues: list[Dialogue], args: SynthesisArguments, report: SynthesisReport, encoder: Any
) -> list[dict]:
    """The GAtt training samples as OpenAI messages records (with ``train`` flags) plus where they came from,
    each made to fit ``--max_length`` (:func:`fit`)."""
    records = []
    for d in dialogues:
        greetings = sum(m.role == "assistant" for m in d.opening)  # --skip_first counts sampled replies only
        samples = (  # no reply sampled: nothing to train, and no user turn to place the instruction in
            training_conversations(
                d.conversation(),
                d.instruction,
                args.skip_first + greetings,
                args.placement,
                args.per_dialogue,
            )
            if d.replies
            else []
        )
        if not samples:
            report.dropped[f"sampling ended before reply {args.skip_first + 1}: nothing to train"] += 1
            continue
        report.dialogues_used += 1
        meta = {
            "source_index": d.index,
            "instruction": d.instruction if isinstance(d.instruction, str) else "character card",
            "families": list(d.families),
            "shortened": bool(d.drawn and d.drawn.shortened),
        }
        for conv in samples:
            fitted, dropped = fit(conv, encoder, args.max_length)
            if fitted is None:
                report.samples_too_long += 1
                continue
            report.samples_shortened += dropped > 0
            records.append({**fitted.to_dict(), "gatt": meta})
    report.samples = len(records)
    return records


def build_replier(args: SynthesisArguments) -> tuple[Replier, str, str]:
    """The sampler, and the tokenizer and template the samples are encoded with."""
    sampling = Sampling(
        args.max_new_tokens,
        args.temperature,
        args.top_p if args.temperature else 1.0,
        args.repetition_penalty,
    )
    if args.api_base:
        key = os.environ.get(args.api_key_env)
        return OpenAIReplier(args.api_base, args.api_model, key, sampling), args.tokenizer, args.template
    model_dir = Path(args.model)
    template = checkpoint_template(model_dir, args.template)
    model, tokenizer = load_for_inference(model_dir)
    # Each dialogue's keys and values kept from turn to turn: a turn (or a resample) runs only its new tokens.
    replier = LocalReplier(model, Encoder(tokenizer, template), sampling, args.batch_size, PrefixCache())
    return replier, args.tokenizer or str(model_dir), template


def synthesize(args: SynthesisArguments, replier: Replier | None = None) -> dict:
    """The whole command; returns the stats written to ``OUTPUT/stats.json``.

    ``replier`` replaces the sampler named by the arguments (tests, or a model already in memory); then
    ``--tokenizer`` and ``--template`` name what the samples are encoded for.
    """
    args.validate(sampler_given=replier is not None)
    t0 = time.perf_counter()
    set_seed(args.seed)
    report = SynthesisReport()
    dialogues = read_dialogues(args, report)  # cheap errors before a model loads
    if replier is None:
        replier, tokenizer, template = build_replier(args)
    else:
        tokenizer, template = args.tokenizer, args.template
    data = DataArguments(
        dataset="openai", tokenizer=tokenizer, template=template, max_length=args.max_length, mask="assistant"
    )
    data.validate()
    encoder = build_encoder(data)  # what the samples will be encoded with: lengths are counted in its tokens
    resample = args.resample if args.temperature > 0 else 0  # greedy would give the same reply again
    sample_replies(dialogues, replier, report, resample, args.unfinished == "cut")
    records = training_records(dialogues, args, report, encoder)
    if not records:
        raise UserError("no GAtt training sample was made; see the counts: " + json.dumps(_section(report)))

    with tempfile.TemporaryDirectory(prefix="gatt-") as scratch:
        jsonl = Path(scratch) / "gatt.jsonl"
        with jsonl.open("w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        data.data_files = [str(jsonl)]
        processed = process(data, ProcessArguments(output=None, seed=args.seed))  # encoded, in the cache
        stats = {k: v for k, v in processed.items() if k not in ("cached", "output")}
        if stats["records_kept"] != len(records):  # fit() makes every sample encodable; say so if one was not
            raise UserError(
                f"encoding kept {stats['records_kept']} of {len(records)} GAtt samples: "
                f"{stats['records_dropped']}"
            )
        stats["gatt_synthesis"] = {
            **_section(report),
            "sampler": _sampler_name(args, replier),
            "options": {
                k: v for k, v in asdict(args).items() if k not in ("output", "overwrite", "data_files")
            },
            "seconds": round(time.perf_counter() - t0, 2),
        }

        def build(staged: Path) -> None:
            shutil.copytree(processed["output"], staged, dirs_exist_ok=True)
            shutil.copy(jsonl, staged / "gatt.jsonl")
            (staged / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
            mark_complete(staged, stats["fingerprint"])

        write_output(Path(args.output), build, resolve_files(args.data_files), args.overwrite)
    return stats


def _sampler_name(args: SynthesisArguments, replier: Any) -> str:
    if args.api_base:
        return f"api {args.api_base} ({args.api_model})"
    return f"model {args.model}" if args.model else f"in-memory {type(replier).__name__}"


def _section(report: SynthesisReport) -> dict:
    return {
        "dialogues_read": report.dialogues_read,
        "dialogues_used": report.dialogues_used,
        "dialogues_dropped": dict(sorted(report.dropped.items())),
        "dialogues_cut_to_max_turns": report.cut_to_max_turns,
        "dialogues_ended_early": dict(sorted(report.ended_early.items())),
        "instructions": dict(sorted(report.instructions.items())),
        "families": dict(sorted(report.families.items())),
        "replies_sampled": report.replies_sampled,
        "replies_checked": report.replies_checked,
        "replies_failing_first_try": report.replies_failing_first_try,
        "replies_resampled": report.replies_resampled,
        "context_turns_dropped": report.context_turns_dropped,
        "replies_cut_at_sentence": report.replies_cut_at_sentence,
        "samples": report.samples,
        "samples_shortened_to_fit": report.samples_shortened,
        "samples_too_long_left_out": report.samples_too_long,
    }
