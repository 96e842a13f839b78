"""Ghost Attention ablation on CPU: two tiny models from the same start, with and without GAtt data.

A synthetic chat world small enough for a tiny Llama to learn in minutes, with instructions a program
can check (the same checks as ``llm-train eval roleplay``):

- the user asks about a thing: ``tell me about zorp``; the assistant answers ``the zorp is red .``
- ``Always answer in French.`` → ``le zorp est rouge .`` (checked with ``in_language(reply, "french")``, a language
  identifier: the adjective is French too, so that the reply reads as French and not as word salad)
- ``Always end your reply with a question.`` → ``the zorp is red ?`` (checked with ``ends_with(reply, "?")``)

The base data is what instruction data usually is: plain multi-turn chats; chats where *one* user turn
asks for something for that reply only (``Answer this one in French.``); and single-turn chats that
start with an "Always …" instruction and obey it once. No chat in it shows whether "Always …" still holds
turns later — exactly the gap GAtt fills.

The experiment, top to bottom, all through the platform's own commands (``process_chats``, ``sft``,
``gatt-synthesize``, the role-play evaluation):

1. **start**: a tiny Llama trained from random init on the base data.
2. **GAtt data**: ``gatt-synthesize`` with the start model as sampler on held-out plain chats; each
   chat gets an "Always …" instruction attached to every user turn, replies sampled at the command's
   defaults (temperature 0.7; a reply failing its instruction's check is re-sampled up to twice, and a
   chat ends at one that still fails); training samples carry the instruction once (first user turn)
   and train only their final reply.
3. **without GAtt**: the start model fine-tuned ``--steps`` more steps on fresh base data.
   **with GAtt**: the start model fine-tuned the same steps on the first half of that base data plus up
   to as many GAtt samples.
4. **evaluation**: for each instruction, ``--conversations`` simulated chats with the instruction given
   once in the first user turn and held-out user turns after it; compliance at turns 1 to 8.

    .venv/bin/python bench/gatt_ablation.py                 # about 3½ minutes on 2 CPU cores
    .venv/bin/python bench/gatt_ablation.py --requests 0    # base data without one-reply requests
    .venv/bin/python bench/gatt_ablation.py --work_dir /tmp/gatt --start_steps 400 --steps 200
    .venv/bin/python bench/gatt_ablation.py --smoke --work_dir /tmp/gatt   # every step at tiny sizes

Prints a table (family × turn for both models) and writes ``adherence.json`` and ``gatt_ablation.png``
to ``--work_dir``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import cpu_model  # noqa: E402

NOUNS = (
    "zorp blick fenn quad mirel tosk varn glim pruv sket dunn hollo brak wisp tarn vell cobb frim lusk "
    "nard pell skiv torb yarr zell gant huff jorn krell moop"
).split()
ADJECTIVES = "red big old new soft cold warm dark tall small".split()
FRENCH = dict(zip(ADJECTIVES, "rouge grand vieux nouveau doux froid chaud sombre haut petit".split()))
# --smoke: every step (start model, gatt-synthesize, both fine-tunes, evaluation, table, figure) in seconds
SMOKE = {"start_steps": 2, "steps": 2, "batch_size": 4, "gatt_dialogues": 4, "conversations": 2, "turns": 2,
         "base_chats": 40}  # fmt: skip
ASKS = ("tell me about {}", "what about {}", "and {} then", "describe {} please", "now {}")

# Persistent instructions (what GAtt should keep alive) and their one-reply counterparts.
ALWAYS = {"language": "Always answer in French.", "format": "Always end your reply with a question."}
ONCE = {"language": "Answer this one in French.", "format": "End this one with a question."}
CHECKS = {"language": ("language", "french"), "format": ("ending", "?")}


def always_checks() -> dict:
    """Each family's "Always …" instruction as a :class:`llm.eval.checks.Check` (family → check)."""
    from llm.eval.checks import Check

    return {family: Check(family, text, *CHECKS[family]) for family, text in ALWAYS.items()}


def reply(noun: str, adjective: str, rules: set[str]) -> str:
    """The assistant's answer about ``noun`` under the active rules ({"language", "format"})."""
    french = "language" in rules
    words = ["le", noun, "est", FRENCH[adjective]] if french else ["the", noun, "is", adjective]
    return " ".join(words) + (" ?" if "format" in rules else " .")


def _turn(rng: random.Random) -> tuple[str, str, str]:
    noun = rng.choice(NOUNS)
    return rng.choice(ASKS).format(noun), noun, rng.choice(ADJECTIVES)


def _with(instruction: str, text: str) -> str:
    return f"{instruction}\n\n{text}"  # how llm.data.gatt attaches an instruction to a user turn


def base_dialogue(rng: random.Random, requests: float = 0.4) -> dict:
    """One chat of the base data: a single "Always" turn (20%), a one-reply request (``requests``), or plain
    multi-turn (the rest)."""
    kind = rng.random()
    if kind < 0.2:
        family = rng.choice(sorted(ALWAYS))
        ask, noun, adj = _turn(rng)
        return {"messages": [
            {"role": "user", "content": _with(ALWAYS[family], ask)},
            {"role": "assistant", "content": reply(noun, adj, {family})},
        ]}  # fmt: skip
    n = rng.randint(1, 8)
    request_at = rng.randrange(n) if kind < 0.2 + requests else None
    family = rng.choice(sorted(ONCE))
    messages = []
    for t in range(n):
        ask, noun, adj = _turn(rng)
        rules = {family} if t == request_at else set()
        messages.append({"role": "user", "content": _with(ONCE[family], ask) if rules else ask})
        messages.append({"role": "assistant", "content": reply(noun, adj, rules)})
    return {"messages": messages}


def plain_dialogue(rng: random.Random, turns: int) -> dict:
    messages = []
    for _ in range(turns):
        ask, noun, adj = _turn(rng)
        messages += [
            {"role": "user", "content": ask},
            {"role": "assistant", "content": reply(noun, adj, set())},
        ]
    return {"messages": messages}


def is_answer(reply_text: str, user_text: str) -> bool:
    """Whether a reply is an answer of this world to the user's turn, in any of its forms: ``the|le NOUN
    is|est ADJECTIVE .|?`` about the noun the user asked about (English or French throughout)."""
    asked = [w for w in user_text.split() if w in NOUNS]
    words = reply_text.split()
    if len(words) != 5 or not asked or words[1] != asked[-1] or words[4] not in ".?":
        return False
    english = (words[0], words[2], words[3] in ADJECTIVES) == ("the", "is", True)
    return english or (words[0], words[2], words[3] in FRENCH.values()) == ("le", "est", True)


def well_formed(texts: list[str], conversations) -> list[float]:
    """A reward (``--reward_fn gatt_ablation:well_formed``): 1.0 for a reply that is an answer of this world to
    the user's last turn (:func:`is_answer`), else 0 — what keeps RL from passing the checks with word salad."""
    out = []
    for conversation in conversations:
        *_, user, reply = conversation.messages
        out.append(float(is_answer(reply.content, user.content)))
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    with path.open("w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    return path


def corpus() -> list[str]:
    rng = random.Random(123)
    texts = [json.dumps(base_dialogue(rng)) for _ in range(400)]
    return texts + list(ALWAYS.values()) + list(ONCE.values())


# ── the steps ────────────────────────────────────────────────────────────────────────────────────────


def train(init: Path, data_files: list[Path], out: Path, steps: int, tokenizer: Path, args) -> Path:
    """``llm-train sft`` from ``init`` on ``data_files`` (OpenAI messages records), ``steps`` steps."""
    from llm.data.process import DataArguments
    from llm.models.loading import ModelArguments
    from llm.train.args import StageArguments
    from llm.train.sft import run

    run(
        ModelArguments(model_name_or_path=str(init), attn_implementation="sdpa"),
        DataArguments(
            dataset="openai",
            data_files=[str(f) for f in data_files],
            tokenizer=str(tokenizer),
            template="chatml",
            max_length=512,
        ),
        StageArguments(
            output_dir=str(out),
            max_steps=steps,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.lr,
            lr_scheduler_type="constant",
            logging_steps=max(1, steps // 10),
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            seed=args.seed,
            disable_tqdm=True,
        ),
    )
    return out


@dataclass
class WorldData:
    """The data of one run, written under the work folder (``tune_base`` is kept in memory: each run mixes it)."""

    tokenizer: Path
    start_data: Path
    tune_base: list[dict]
    gatt_source: Path
    eval_users: Path
    pool: Path


def draw_world(work: Path, rng: random.Random, args, eval_turns: int) -> WorldData:
    """The tokenizer and the data, drawn from ``rng`` in a fixed order — both benches (this one and
    ``rl_roleplay.py``) call it, so the same seed gives them the same data: the base mixture (start model, and
    each fine-tune its own fresh draw), held-out plain chats for GAtt sampling and for the evaluation's user
    turns, and the instructions as a pool with their checks."""
    from llm.data.tokenizer import build_tokenizer

    tokenizer = build_tokenizer("bytelevel", vocab_size=600, corpus=corpus())
    tokenizer.save_pretrained(str(work / "tokenizer"))
    start_data = write_jsonl(
        work / "base_start.jsonl", [base_dialogue(rng, args.requests) for _ in range(args.base_chats)]
    )
    tune_base = [base_dialogue(rng, args.requests) for _ in range(args.base_chats // 2)]
    gatt_source = write_jsonl(
        work / "gatt_source.jsonl",
        [plain_dialogue(rng, rng.randint(2, 8)) for _ in range(args.gatt_dialogues)],
    )
    eval_users = write_jsonl(work / "eval_users.jsonl", [plain_dialogue(rng, eval_turns) for _ in range(200)])
    pool = work / "always_pool.json"
    pool.write_text(json.dumps({
        family: [{"text": text, "check": {"kind": CHECKS[family][0], "value": CHECKS[family][1]}}]
        for family, text in ALWAYS.items()
    }))  # fmt: skip
    return WorldData(work / "tokenizer", start_data, tune_base, gatt_source, eval_users, pool)


def start_model(work: Path, data: WorldData, args) -> tuple[Path, int]:
    """A tiny Llama from random init, trained ``args.start_steps`` steps on the base data. Returns its folder
    and its parameter count."""
    from transformers import AutoTokenizer

    from llm.models.tiny import build_llama

    tokenizer = AutoTokenizer.from_pretrained(str(data.tokenizer))
    init = work / "init"
    model = build_llama(
        tokenizer, hidden_size=128, layers=4, heads=4, seed=args.seed, max_position_embeddings=1024
    )
    model.save_pretrained(str(init))
    tokenizer.save_pretrained(str(init))
    parameters = sum(p.numel() for p in model.parameters())
    return train(init, [data.start_data], work / "start", args.start_steps, data.tokenizer, args), parameters


def gatt_samples(
    start: Path, work: Path, data: WorldData, rng: random.Random, args
) -> tuple[list[dict], dict]:
    """``gatt-synthesize`` with ``start`` as the sampler on the held-out chats: the samples, shuffled by
    ``rng``, and the command's statistics."""
    from llm.train.gatt_synthesis import SynthesisArguments, synthesize

    stats = synthesize(
        SynthesisArguments(
            data_files=[str(data.gatt_source)], output=str(work / "gatt_data"), model=str(start),
            instructions=str(data.pool), max_combine=1, shorten=0.0, placement="first_user",
            max_new_tokens=24, max_turns=8, batch_size=64, seed=args.seed, max_length=512,
        )
    )  # fmt: skip
    records = [json.loads(line) for line in (work / "gatt_data" / "gatt.jsonl").open()]
    rng.shuffle(records)
    return records, stats


def evaluate(model_dir: Path, eval_users: Path, args) -> dict[str, dict[int, float]]:
    """Adherence by family and turn: the instruction once in the first user turn, held-out user turns after."""
    from llm.data.encode import Encoder
    from llm.eval.roleplay import evaluate as adherence
    from llm.eval.simulate import ListedUserTurns
    from llm.inference.repliers import LocalReplier, Sampling
    from llm.models.loading import load_for_inference as load_model

    model, tokenizer = load_model(model_dir)
    replier = LocalReplier(model, Encoder(tokenizer, "chatml"), Sampling(max_new_tokens=24), batch_size=64)
    checks = list(always_checks().values())
    users = ListedUserTurns.from_chats([str(eval_users)], seats=args.conversations, turns=args.turns)
    turns = range(1, args.turns + 1)
    result = adherence(
        replier, checks, users, args.conversations, turns, placement="first_user", progress=False
    )
    curves = {family: dict(curve) for family, curve in result.adherence.items()}
    curves["unasked"] = unasked(replier, users, args)
    return curves


def unasked(replier, users, args) -> dict[int, float]:
    """The control: with no instruction at all, the share of replies in French or ending with "?" — a
    model that simply always did so would score 1.0 on adherence, and here too."""
    from llm.data.conversation import Conversation, Message
    from llm.eval.simulate import UserView

    checks = always_checks().values()
    histories: list[list[Message]] = [[] for _ in range(args.conversations)]
    rates = {}
    for turn in range(1, args.turns + 1):
        views = [UserView(seat, tuple(h), "Assistant", "User") for seat, h in enumerate(histories)]
        for h, text in zip(histories, users(views, turn)):
            h.append(Message("user", text))
        replies = replier([Conversation(tuple(h)) for h in histories])
        for h, r in zip(histories, replies):
            h.append(Message("assistant", r.text))
        obeyed = [any(check.passed(r.text) for check in checks) for r in replies]
        rates[turn] = sum(obeyed) / len(replies)
    return rates


def sampled_compliance(records: list[dict]) -> float:
    """Share of GAtt samples whose trained (final) reply obeys its instruction: the quality of the data."""
    family_of = {text: family for family, text in ALWAYS.items()}
    checks = always_checks()
    ok = 0
    for r in records:
        ok += checks[family_of[r["gatt"]["instruction"]]].passed(r["messages"][-1]["content"])
    return ok / len(records)


def print_table(results: dict, turns: int, report: dict) -> None:
    s = report["gatt_synthesis"]
    print(
        f"\nGAtt ablation — {report['date']}, {report['machine']}, {report['seconds']} s in all; "
        f"tiny Llama of {report['parameters']:,} parameters"
    )
    print(
        f"GAtt data: {s['samples']} samples from {s['dialogues_used']} chats sampled by the start model "
        f"({report['gatt_samples_used']} used); final replies obeying: {report['gatt_samples_obeying']:.0%}"
    )
    print(
        f"sampling: {s['replies_sampled']} replies (temperature 0.7), {s['replies_failing_first_try']} failed "
        f"their check at first, {s['replies_resampled']} re-sampled; chats ended early: "
        f"{dict(s['dialogues_ended_early']) or 0}"
    )
    print(
        f"instruction given once, in the first user turn; {report['args']['conversations']} chats each; "
        f"base data with {report['args']['requests']:.0%} one-reply requests"
    )
    print("unasked: no instruction at all, share of replies in French or ending with '?' (should stay 0)\n")
    header = f"{'model':<14}{'instruction':<12}" + "".join(f"{'t' + str(t):>7}" for t in range(1, turns + 1))
    print(header)
    print("-" * len(header))
    for name, curves in results.items():
        for family in [*ALWAYS, "all", "unasked"]:
            row = "".join(f"{curves[family].get(t, float('nan')):7.2f}" for t in range(1, turns + 1))
            print(f"{name:<14}{family:<12}{row}")


def plot(results: dict, turns: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"start": ("#555555", ":"), "without GAtt": ("#C44E52", "--"), "with GAtt": ("#4C72B0", "-")}
    panels = {**{f: f"{f}: {ALWAYS[f]!r}" for f in ALWAYS}, "unasked": "control: no instruction given"}
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.6), dpi=110, sharey=True)
    xs = list(range(1, turns + 1))
    for ax, (family, title) in zip(axes, panels.items()):
        for name, curves in results.items():
            color, line = styles.get(name, ("black", "-"))
            small = name == "start"  # drawn on top and smaller: it often lies on another curve
            ax.plot(
                xs, [curves[family].get(t) for t in xs], line, color=color, label=name,
                marker="s" if small else "o", markersize=3 if small else 6, zorder=3 if small else 2,
            )  # fmt: skip
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("turn (instruction given once, at turn 1)" if family != "unasked" else "turn")
        ax.set_xticks(xs)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("replies that obey (control: French or '?')")
    axes[-1].legend(loc="center right", fontsize=8)
    fig.suptitle("Ghost Attention ablation (tiny Llama, CPU)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work_dir", default="runs/gatt_ablation")
    p.add_argument("--start_steps", type=int, default=500, help="steps of the start model from random init")
    p.add_argument("--steps", type=int, default=250, help="fine-tuning steps of each compared model")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--gatt_dialogues", type=int, default=240, help="held-out chats gatt-synthesize replays")
    p.add_argument("--conversations", type=int, default=24, help="simulated chats per instruction")
    p.add_argument("--turns", type=int, default=8)
    p.add_argument(
        "--requests",
        type=float,
        default=0.4,
        help="share of base chats with a one-reply request (0: the base data never says how long an "
        "instruction lasts, so the model without GAtt generalises on its own)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--base_chats", type=int, default=6000, help="start-model chats (fine-tunes: half)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs (seconds)")
    args = p.parse_args(argv)
    if args.smoke:  # its sizes become the defaults; a flag given still wins
        p.set_defaults(**SMOKE)
        args = p.parse_args(argv)
    if not 0.0 <= args.requests <= 0.8:
        p.error(f"--requests {args.requests}: must be in [0, 0.8] (20% of the base chats are 'Always' turns)")

    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LLM_TRAIN_CACHE", str(Path(args.work_dir) / "cache"))
    from transformers.utils import logging

    logging.set_verbosity_error()
    t0 = time.perf_counter()
    work = Path(args.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rng = random.Random(args.seed)
    data = draw_world(work, rng, args, args.turns)

    # 1. The start model.
    print(
        f"[{time.perf_counter() - t0:5.0f}s] training the start model ({args.start_steps} steps)", flush=True
    )
    start, parameters = start_model(work, data, args)

    # 2. GAtt data sampled by the start model.
    print(f"[{time.perf_counter() - t0:5.0f}s] gatt-synthesize with the start model", flush=True)
    gatt_records, stats = gatt_samples(start, work, data, rng, args)
    tune_base, eval_users = data.tune_base, data.eval_users
    half = len(tune_base) // 2
    with_gatt = write_jsonl(work / "tune_with_gatt.jsonl", tune_base[:half] + gatt_records[:half])
    without_gatt = write_jsonl(work / "tune_without_gatt.jsonl", tune_base)

    # 3. The two compared models, same start, same steps.
    print(f"[{time.perf_counter() - t0:5.0f}s] fine-tuning without and with GAtt ({args.steps} steps each)")
    models = {
        "without GAtt": train(
            start, [without_gatt], work / "without_gatt", args.steps, work / "tokenizer", args
        ),
        "with GAtt": train(start, [with_gatt], work / "with_gatt", args.steps, data.tokenizer, args),
    }

    # 4. Adherence by turn.
    print(f"[{time.perf_counter() - t0:5.0f}s] evaluating", flush=True)
    results = {name: evaluate(path, eval_users, args) for name, path in {"start": start, **models}.items()}
    report = {
        "machine": cpu_model(),
        "date": time.strftime("%Y-%m-%d"),
        "seconds": round(time.perf_counter() - t0),
        "parameters": parameters,
        "args": vars(args),
        "gatt_synthesis": stats["gatt_synthesis"],
        "gatt_samples_used": min(half, len(gatt_records)),
        "gatt_samples_obeying": round(sampled_compliance(gatt_records), 4),
        "adherence": results,
    }
    (work / "adherence.json").write_text(json.dumps(report, indent=2) + "\n")
    print_table(results, args.turns, report)
    plot(results, args.turns, work / "gatt_ablation.png")
    print(f"wrote {work}/adherence.json and {work}/gatt_ablation.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
