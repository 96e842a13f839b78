"""Multi-turn role-play RL against the GAtt ablation's world: does ``grpo --env roleplay`` teach a model to keep an
instruction given once, and how does it compare with Ghost Attention?

The world, the start model and the evaluation are those of ``bench/gatt_ablation.py`` (its functions, its
data recipe, its seed): a tiny Llama trained from random init on plain multi-turn chats, chats with a
one-reply request, and single-turn chats that start with "Always answer in French." or "Always end your reply
with a question." and obey it once. The start model obeys an instruction only in the turn that carries it.

Five models, one evaluation (the instruction once, in the first user turn; held-out user turns; greedy replies;
adherence at turns 1–8, the no-instruction control and the other-rule leak that must stay at 0):

1. **start**: the start model.
2. **GAtt**: the start model fine-tuned ``--steps`` steps on base data plus GAtt samples (as the ablation).
3. **RL**: the start model trained with ``llm-train grpo --env roleplay``: episodes of ``--turns`` turns, the
   instruction given once, user turns from training chats (not the evaluation's), each reply rewarded by the
   instruction's check plus 1 when it answers the user in the world's grammar (``--judge``:
   ``gatt_ablation:well_formed``, without which β 0 passed the checks with word salad), each turn's tokens by
   their own turn's advantage (``--turn_reward turn``); half of the groups are controls (``--controls``,
   ``grpo --env_controls``: no instruction, a reply rewarded for obeying none), without which RL teaches
   "always answer in French" instead of "keep what you were told"; a reply that also obeys the other rule
   fails its check (``--exclusive``, ``grpo --env_exclusive``: without it, told French, the guided run
   below ended its French replies with "?" too); ``--iterations`` updates, sampled at temperature 1.5, and
   no KL term (``--beta 0``, as DAPO and Dr. GRPO): with β 0.04 the pull back to the start model outweighed
   the rare French samples (measured).
4. **RL guided**: the same, with ``--guided`` of the G episodes of each group sampled with the instruction at
   every user turn and trained with it given once (``grpo --env_guided``): GAtt's sampling inside the RL
   loop, the rest of the group the on-policy baseline.
5. **GAtt then RL**: the GAtt model, then the same RL as 3.

In dev runs (same world and start model, 8-turn episodes, 64 per iteration, G 8, learning rate 5e-4 unless
said): 2 guided per group with a third of the groups controls taught French and "?" at every turn within
60 iterations, but "?" spread to the controls (1.00 at every turn) and, told French, to the French replies
(1.00); with half the groups controls the controls held (0 at every turn) and French came by about
iteration 60, but told French the replies still ended in "?" (1.00); with ``--exclusive`` too, French came
later (about iteration 70; 0.79 over turns 2–8 after 80) and without the leak (0). Learning rate 2e-4
with 1 guided per group kept the controls but had not found French after 60 iterations; β 0.04 with 1
guided had not after 49; 4 guided per group with ``--exclusive`` was no faster than 2 by iteration 60.

What else was tried for French from the start model without guidance, each in dev runs on this world and
start model (8-turn episodes, 64 per iteration, G 8, 40 to 120 iterations each), none reaching French after
turn 1 (the README lists them with figures):
``--env_reward gated`` (``--env_reward``: the answer reward paid only to replies that pass their check, so an
English answer to a French instruction earns nothing) at temperature 2.0 (French answers after turn 1: 0.6%
of the start model's samples against 0.1% at 1.5), learning rate 5e-4 or 1e-3, β 0, 0.02, 0.05 or 0.1, an
entropy bonus of 0.01 (``--entropy_coef``; at 0.05 the replies ran to the length limit); the
same without control groups; 256 episodes per iteration for 60 iterations; the check weighted above the answer reward (``--judge_weight 0.5``); checks
alone first (after 50 iterations 9–16% of the samples after turn 1 pass as French, nearly all word salad
such as ``the huff est warm pruv est small …``), then gated or weighted answers (the salad unlearnt, French
with it). The failure is exploration: as the answers sharpen, the model stops sampling French after
turn 1 at all (0 of 1,400 at temperature 2.0 after 120 gated iterations, from 1.6%) before the rare French
answers have taught it anything.

    .venv/bin/python bench/rl_roleplay.py                          # about 14 minutes on 2 CPU cores
    .venv/bin/python bench/rl_roleplay.py --iterations 40 --turns 4
    .venv/bin/python bench/rl_roleplay.py --smoke --work_dir /tmp/rl   # every step at tiny sizes

Prints a table (model × family × turn) and writes ``rl_roleplay.json`` and ``rl_roleplay.png`` to
``--work_dir``. Budgets: GAtt costs ``--steps`` SFT steps of ``--batch_size`` chats plus the GAtt sampling; RL
costs ``--iterations`` updates, each on ``--rollout_batch_size`` episodes it sampled itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gatt_ablation as world  # noqa: E402
from machine import cpu_model  # noqa: E402

from llm.train.online.metrics import smooth  # noqa: E402

FAMILIES = [*world.ALWAYS, "all", "unasked", "other", "answers"]
# --smoke: every model (start, GAtt, three RL runs), the evaluation, table and figure at tiny sizes
SMOKE = {**world.SMOKE, "iterations": 1, "rollout_batch_size": 4, "num_generations": 2, "guided": 1,
         "eval_turns": 2}  # fmt: skip


def reinforce(
    init: Path, checks: Path, user_chats: Path, out: Path, args, guided: int = 0
) -> tuple[Path, list[dict]]:
    """``llm-train grpo --env roleplay`` from ``init``: the ablation's instructions as checks, given once;
    ``guided`` episodes of each group sampled with the instruction at every turn (``--env_guided``)."""
    from llm.train.grpo.trainer import GRPOArguments, train

    history = train(
        GRPOArguments(
            model_name_or_path=str(init), output_dir=str(out), env="roleplay", env_checks=str(checks),
            env_user_turns=[str(user_chats)], env_placement="first_user", turns=args.turns,
            turn_reward=args.turn_reward, num_generations=args.num_generations, rollout_batch_size=args.rollout_batch_size,
            response_length=24, temperature=args.temperature, max_steps=args.iterations,
            learning_rate=args.rl_lr, beta=args.beta, seed=args.seed, sample_rows=0, env_controls=args.controls,
            reward_fn=["gatt_ablation:well_formed"] if args.judge else None, env_reward=args.env_reward,
            reward_weights=[args.judge_weight] if args.judge else None, entropy_coef=args.entropy_coef,
            env_guided=guided, env_exclusive=bool(args.exclusive),
        )
    )  # fmt: skip
    return out / "policy", history


def reply_rates(model_dir: Path, eval_users: Path, args) -> tuple[dict[int, float], dict[int, float]]:
    """Two shares of greedy replies at each turn, over the evaluation's chats:

    - *answers*: replies that answer the user's turn in the world's grammar (any form: see
      ``gatt_ablation.is_answer``), chats with each instruction and without one. Adherence alone would pass
      word salad made of French function words; this would not.
    - *other*: in the chats given an instruction, replies that also show the *other* instruction's behaviour
      (told French, ending with "?"; told "?", in French): obeying what nobody asked, as the control does
      without any instruction."""
    from llm.data.conversation import Conversation, Message
    from llm.data.encode import Encoder
    from llm.eval.simulate import ListedUserTurns, UserView
    from llm.inference.repliers import LocalReplier, Sampling
    from llm.models.loading import load_for_inference

    behaviours = world.always_checks()

    model, tokenizer = load_for_inference(model_dir)
    replier = LocalReplier(model, Encoder(tokenizer, "chatml"), Sampling(max_new_tokens=24), batch_size=64)
    users = ListedUserTurns.from_chats([str(eval_users)], seats=args.conversations, turns=args.turns)
    families = [None, *world.ALWAYS]
    chats = [(family, seat) for family in families for seat in range(args.conversations)]
    histories: list[list[Message]] = [[] for _ in chats]
    answers, other = {}, {}
    for turn in range(1, args.turns + 1):
        views = [UserView(seat, tuple(h), "Assistant", "User") for (_, seat), h in zip(chats, histories)]
        asked = users(views, turn)
        for (family, _), h, text in zip(chats, histories, asked):
            given = family is not None and turn == 1
            h.append(Message("user", world._with(world.ALWAYS[family], text) if given else text))
        replies = replier([Conversation(tuple(h)) for h in histories])
        for h, r in zip(histories, replies):
            h.append(Message("assistant", r.text))
        answers[turn] = sum(world.is_answer(r.text, text) for r, text in zip(replies, asked)) / len(replies)
        told = [(family, r.text) for (family, _), r in zip(chats, replies) if family is not None]
        other[turn] = sum(
            any(check.passed(text) for f, check in behaviours.items() if f != family) for family, text in told
        ) / len(told)
    return answers, other


def print_table(results: dict, turns: int, report: dict) -> None:
    print(
        f"\nRole-play RL vs GAtt — {report['date']}, {report['machine']}, {report['seconds']} s in all; "
        f"tiny Llama of {report['parameters']:,} parameters"
    )
    a = report["args"]
    print(
        f"GAtt: {a['steps']} SFT steps × {a['batch_size']} chats (half GAtt samples) | RL: {a['iterations']} "
        f"iterations × {a['rollout_batch_size']} episodes of {a['turns']} turns (G = {a['num_generations']}, "
        f"lr {a['rl_lr']}, β {a['beta']}, T {a['temperature']}, reward {a.get('env_reward', 'sum')}, controls "
        f"{a['controls']}, exclusive {a.get('exclusive', 0)}; RL guided: {a.get('guided', 0)} of G guided)"
    )
    print(
        f"instruction given once, in the first user turn; {a['conversations']} held-out chats per instruction; "
        "greedy replies"
    )
    print("unasked: no instruction at all, share of replies in French or ending with '?' (should stay 0)")
    print("other: told one rule, share of replies that obey the other one too (should stay 0)")
    print(
        "answers: share of replies that answer the user's turn in the world's grammar, any instruction or none\n"
    )
    header = f"{'model':<15}{'instruction':<12}" + "".join(f"{'t' + str(t):>7}" for t in range(1, turns + 1))
    print(header)
    print("-" * len(header))
    for name, curves in results.items():
        for family in FAMILIES:
            row = "".join(f"{curves.get(family, {}).get(t, float('nan')):7.2f}" for t in range(1, turns + 1))
            print(f"{name:<15}{family:<12}{row}")


def plot(results: dict, histories: dict, turns: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"start": ("#555555", ":"), "GAtt": ("#4C72B0", "-"), "RL": ("#DD8452", "-"),
              "RL guided": ("#C44E52", "-"), "GAtt then RL": ("#55A868", "--")}  # fmt: skip
    panels = {**{f: f"{f}: {world.ALWAYS[f]!r}" for f in world.ALWAYS}, "unasked": "control: no instruction",
              "other": "told one rule, obeys the other too", "answers": "replies that answer the user (all chats)"}  # fmt: skip
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(25, 3.6), dpi=110)
    xs = list(range(1, turns + 1))
    for ax, (family, title) in zip(axes, panels.items(), strict=False):
        for name, curves in results.items():
            color, line = styles.get(name, ("black", "-"))
            ax.plot(
                xs,
                [curves.get(family, {}).get(t) for t in xs],
                line,
                color=color,
                label=name,
                marker="o",
                markersize=4,
            )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("turn (instruction given once, at turn 1)")
        ax.set_xticks(xs)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("replies that obey (control, other: French or '?')")
    axes[len(panels) - 1].legend(loc="center right", fontsize=8)
    ax = axes[-1]
    families = {"language": "#DD8452", "format": "#4C72B0", "unasked": "#55A868"}
    lines = {"RL": "-", "RL guided": "-."}
    for name, history in histories.items():
        line = lines.get(name, "--")
        for family, color in families.items():
            key = f"reward/check/{family}"  # the share of that family's replies that passed (all turns)
            drawn = [h for h in history if key in h]  # iterations whose batch had that family
            if drawn:
                values = smooth([h[key] for h in drawn], 5)
                ax.plot([h["iteration"] for h in drawn], values, line, color=color, label=f"{name}: {family}")
        drawn = [h for h in history if "reward/check/on_policy" in h]  # guided runs: the unguided episodes
        if drawn:
            values = smooth([h["reward/check/on_policy"] for h in drawn], 5)
            ax.plot(
                [h["iteration"] for h in drawn],
                values,
                ":",
                color="black",
                label=f"{name}: unguided episodes",
            )
        if not any(f"reward/check/{family}" in h for h in history for family in families):  # older runs
            values = smooth([h["reward_mean"] for h in history], 5)
            ax.plot([h["iteration"] for h in history], values, line, color="black", label=f"{name}: reward")
    ax.set_title("RL: replies passing their check, by instruction\n(unasked: control groups; running mean of 5)",
                 fontsize=9)  # fmt: skip
    ax.set_xlabel("iteration")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.suptitle("Multi-turn role-play RL vs Ghost Attention (tiny Llama, CPU)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work_dir", default="runs/rl_roleplay")
    p.add_argument("--start_steps", type=int, default=500, help="steps of the start model from random init")
    p.add_argument("--steps", type=int, default=250, help="GAtt fine-tuning steps (as the ablation)")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3, help="SFT learning rate (start model, GAtt)")
    p.add_argument("--gatt_dialogues", type=int, default=240)
    p.add_argument("--requests", type=float, default=0.4, help="as the ablation's --requests")
    p.add_argument("--iterations", type=int, default=120, help="RL iterations (updates)")
    p.add_argument("--turns", type=int, default=8, help="policy turns per RL episode")
    p.add_argument("--rollout_batch_size", type=int, default=64, help="episodes per RL iteration")
    p.add_argument("--num_generations", type=int, default=8)
    p.add_argument("--rl_lr", type=float, default=5e-4)
    p.add_argument("--beta", type=float, default=0.0, help="KL term (0: none, as DAPO; see the docstring)")
    p.add_argument("--temperature", type=float, default=1.5)
    p.add_argument("--turn_reward", default="turn", help="mean, min, last, or turn (turn-level advantages)")
    p.add_argument("--judge", type=int, default=1, help="1: reward each reply for answering the user too")
    p.add_argument("--entropy_coef", type=float, default=0.0, help="entropy bonus (grpo --entropy_coef)")
    p.add_argument("--judge_weight", type=float, default=1.0, help="weight of the answer reward")
    p.add_argument(
        "--env_reward", default="sum", help="sum: check + answer reward; gated: check × answer reward"
    )
    p.add_argument("--controls", type=float, default=0.5, help="share of RL episodes with no instruction")
    p.add_argument(
        "--guided", type=int, default=2, help="RL guided: episodes per group sampled with reminders"
    )
    p.add_argument("--exclusive", type=int, default=1, help="1: a reply that also obeys the other rule fails")
    p.add_argument("--conversations", type=int, default=24, help="held-out chats per instruction")
    p.add_argument("--eval_turns", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--replot", action="store_true", help="redraw table and figure from --work_dir's JSON")
    p.add_argument("--base_chats", type=int, default=6000, help="start-model chats (fine-tunes: half)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs (seconds)")
    args = p.parse_args(argv)
    if args.smoke:  # its sizes become the defaults; a flag given still wins
        p.set_defaults(**SMOKE)
        args = p.parse_args(argv)
    if args.replot:
        report = json.loads((Path(args.work_dir) / "rl_roleplay.json").read_text())
        turns = report["args"]["eval_turns"]
        results = {name: {f: {int(t): v for t, v in c.items()} for f, c in curves.items()}
                   for name, curves in report["adherence"].items()}  # fmt: skip
        print_table(results, turns, report)
        plot(results, report["rl_history"], turns, Path(args.work_dir) / "rl_roleplay.png")
        return 0

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LLM_TRAIN_CACHE", str(Path(args.work_dir) / "cache"))
    from transformers.utils import logging

    logging.set_verbosity_error()
    t0 = time.perf_counter()
    work = Path(args.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rng = random.Random(args.seed)
    eval_args = argparse.Namespace(conversations=args.conversations, turns=args.eval_turns)

    # The ablation's data, drawn in the same order; RL's user turns come from training chats of their own.
    data = world.draw_world(work, rng, args, args.eval_turns)
    rl_users = world.write_jsonl(
        work / "rl_users.jsonl", [world.plain_dialogue(rng, args.turns) for _ in range(200)]
    )
    pool, eval_users, tune_base = data.pool, data.eval_users, data.tune_base

    # 1. The start model.
    print(
        f"[{time.perf_counter() - t0:5.0f}s] training the start model ({args.start_steps} steps)", flush=True
    )
    start, parameters = world.start_model(work, data, args)

    # 2. GAtt, as the ablation does it.
    print(f"[{time.perf_counter() - t0:5.0f}s] GAtt: gatt-synthesize, then {args.steps} steps", flush=True)
    gatt_records, _ = world.gatt_samples(start, work, data, rng, args)
    half = len(tune_base) // 2
    with_gatt = world.write_jsonl(work / "tune_with_gatt.jsonl", tune_base[:half] + gatt_records[:half])
    gatt = world.train(start, [with_gatt], work / "gatt", args.steps, work / "tokenizer", args)

    # 3–4. RL from the start model and from the GAtt model.
    histories = {}
    print(
        f"[{time.perf_counter() - t0:5.0f}s] RL from the start model ({args.iterations} iterations)",
        flush=True,
    )
    rl, histories["RL"] = reinforce(start, pool, rl_users, work / "rl", args)
    print(
        f"[{time.perf_counter() - t0:5.0f}s] RL from the start model, {args.guided} of each group guided "
        f"({args.iterations} iterations)",
        flush=True,
    )
    rl_guided, histories["RL guided"] = reinforce(
        start, pool, rl_users, work / "rl_guided", args, args.guided
    )
    print(
        f"[{time.perf_counter() - t0:5.0f}s] RL from the GAtt model ({args.iterations} iterations)",
        flush=True,
    )
    gatt_rl, histories["GAtt then RL"] = reinforce(gatt, pool, rl_users, work / "gatt_rl", args)

    print(f"[{time.perf_counter() - t0:5.0f}s] evaluating", flush=True)
    models = {"start": start, "GAtt": gatt, "RL": rl, "RL guided": rl_guided, "GAtt then RL": gatt_rl}
    results = {name: world.evaluate(path, eval_users, eval_args) for name, path in models.items()}
    for name, path in models.items():
        results[name]["answers"], results[name]["other"] = reply_rates(path, eval_users, eval_args)
    report = {
        "machine": cpu_model(),
        "date": time.strftime("%Y-%m-%d"),
        "seconds": round(time.perf_counter() - t0),
        "parameters": parameters,
        "args": vars(args),
        "adherence": results,
        "rl_history": histories,
    }
    (work / "rl_roleplay.json").write_text(json.dumps(report, indent=2) + "\n")
    print_table(results, args.eval_turns, report)
    plot(results, histories, args.eval_turns, work / "rl_roleplay.png")
    print(f"wrote {work}/rl_roleplay.json and {work}/rl_roleplay.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
