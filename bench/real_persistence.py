"""Persistence on a real model: SmolLM2-135M-Instruct before and after GAtt, and after GAtt then RL.

The ``make demo-persistence`` pipeline (:mod:`llm.commands.demo_persistence`) at a larger size, with one more
stage, every model evaluated on the same conversations (the base model's user turns replayed):

1. **base**: the persistence suite (by default all 66 checks, ``--conversations`` each), the control, the
   chat loss on held-out chats of the bundled role-play sample.
2. **GAtt-SFT**: GAtt data sampled by the base model on the suite's train families (checked, re-sampled or
   dropped), LoRA SFT on it mixed with role-play chats.
3. **GAtt-SFT + RL** (``--rl_iterations`` > 0): ``llm-train grpo --env roleplay`` from the GAtt-SFT model,
   the train families' checks as rewards (episodes of ``--rl_turns`` turns, the instruction given once;
   ``--rl_guided`` episodes of each group sampled with it at every turn, for behaviours the model never
   samples; a share of episodes with no instruction, rewarded for doing none of the checks' behaviours).

Prints one table (train / held-out families at each measured turn and over turns 2–8, the control, the chat
loss) and writes ``real_persistence.json`` and ``real_persistence.png`` to ``--work_dir``.

    .venv/bin/python bench/real_persistence.py                          # about an hour on 2 CPU cores
    .venv/bin/python bench/real_persistence.py --rl_iterations 0        # base and GAtt-SFT only
    .venv/bin/python bench/real_persistence.py --smoke --work_dir /tmp/rp   # every step at tiny sizes
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import cpu_model  # noqa: E402

# --smoke: a tiny random checkpoint, one check per family, two turns, a step of each training
SMOKE = {"conversations": 1, "checks_per_family": 1, "turns": [1, 2], "max_new_tokens": 6, "gatt_dialogues": 6,
         "gatt_turns": 2, "chats": 4, "held_out_chats": 2, "minutes": 0.2, "max_steps": 2, "rl_iterations": 1,
         "rl_turns": 2, "rl_batch": 4, "rl_generations": 2}  # fmt: skip


def tiny_checkpoint(path: Path) -> str:
    """A tiny random Llama saved as our stages save one (chatml): the smoke run's "real" model."""
    from llm.data.tokenizer import build_tokenizer
    from llm.models.checkpoint import write_info
    from llm.models.tiny import build_llama

    tok = build_tokenizer("bytelevel")
    build_llama(tok).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    write_info(path, "sft", {"template": "chatml"})
    return str(path)


def scripted(conversations):
    """The smoke run's GAtt sampler: a random tiny model never ends a turn, so no dialogue would go on."""
    from llm.inference.repliers import Reply

    return [Reply("fine, thanks") for _ in conversations]


def reinforce(init: Path, run_dir: Path, args: argparse.Namespace) -> Path:
    """``grpo --env roleplay`` from ``init`` with the suite's train checks as rewards; the policy's folder."""
    from llm.eval.suite import suite_checks
    from llm.train.grpo.trainer import GRPOArguments, train

    checks = run_dir / "train_checks.json"
    checks.write_text(json.dumps([c.to_dict() for c in suite_checks("train")], indent=1))
    out = run_dir / "rl"
    train(
        GRPOArguments(
            model_name_or_path=str(init), output_dir=str(out), env="roleplay", env_checks=str(checks),
            env_user_turns=[str(run_dir / "dialogues.jsonl")], env_placement="system", turns=args.rl_turns,
            turn_reward="turn", num_generations=args.rl_generations, rollout_batch_size=args.rl_batch,
            response_length=args.recipe.max_new_tokens, temperature=1.0, max_steps=args.rl_iterations,
            learning_rate=args.rl_lr, beta=0.04, seed=args.recipe.seed, sample_rows=0, env_controls=0.25,
            env_guided=min(args.rl_guided, args.rl_generations - 1), overwrite=True,
        )
    )  # fmt: skip
    return out / "policy"


def row(name: str, measured, turns: list[int]) -> str:
    from llm.eval.persistence import later_mean

    cells = [name]
    for split in ("train", "held_out"):
        curve = measured.curves[split]
        cells += [f"{curve.mean.get(t, float('nan')):.2f}" for t in turns] + [f"{later_mean(curve):.2f}"]
    control = measured.curves["control"]
    cells += [f"{sum(control.mean.values()) / len(control.mean):.2f}", f"{measured.loss:.3f}"]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    from llm.commands.demo_persistence import Recipe

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work_dir", default="runs/bench-real-persistence")
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--conversations", type=int, default=2, help="evaluation conversations per suite check")
    p.add_argument("--checks_per_family", type=int, default=0, help="0: the whole suite (66 checks)")
    p.add_argument("--turns", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--max_new_tokens", type=int, default=48)
    p.add_argument("--gatt_dialogues", type=int, default=128)
    p.add_argument("--gatt_turns", type=int, default=4)
    p.add_argument("--chats", type=int, default=64)
    p.add_argument("--held_out_chats", type=int, default=20)
    p.add_argument("--minutes", type=float, default=10.0, help="LoRA SFT time budget")
    p.add_argument("--max_steps", type=int, default=600)
    p.add_argument("--rl_iterations", type=int, default=20, help="GRPO iterations after GAtt-SFT (0: none)")
    p.add_argument("--rl_turns", type=int, default=3, help="policy turns per RL episode")
    p.add_argument("--rl_batch", type=int, default=16, help="episodes per RL iteration")
    p.add_argument("--rl_generations", type=int, default=4, help="episodes per group")
    p.add_argument("--rl_guided", type=int, default=1, help="episodes per group sampled with reminders")
    p.add_argument("--rl_lr", type=float, default=1e-6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs (seconds)")
    args = p.parse_args(argv)
    if args.smoke:  # its sizes become the defaults; a flag given still wins
        p.set_defaults(**SMOKE)
        args = p.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LLM_TRAIN_CACHE", str(Path(args.work_dir) / "cache"))
    from llm.commands.demo_persistence import finetune, gatt_data, measure
    from llm.eval.persistence import plot_persistence
    from llm.models.resolve import resolve_model

    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    fields = {k: getattr(args, k) for k in Recipe.__dataclass_fields__ if hasattr(args, k)}
    recipe = replace(Recipe(), **fields, run_dir=str(work), template="chatml" if args.smoke else "tokenizer")
    recipe.gatt_check = not args.smoke  # a random model obeys nothing: the smoke run keeps every reply
    args.recipe = recipe
    base = tiny_checkpoint(work / "tiny") if args.smoke else resolve_model(args.model)
    t0 = time.perf_counter()
    seconds = {}

    measured = {"base": measure(base, recipe, work / "eval_base", "base")}
    seconds["base"] = time.perf_counter() - t0
    gatt = gatt_data(base, recipe, work, scripted if args.smoke else None)
    sft_dir, steps = finetune(base, recipe, work)
    measured["GAtt-SFT"] = measure(str(sft_dir), recipe, work / "eval_gatt_sft", "GAtt-SFT", measured["base"])
    seconds["GAtt-SFT"] = time.perf_counter() - t0 - sum(seconds.values())
    if args.rl_iterations:
        policy = reinforce(sft_dir, work, args)
        measured["GAtt-SFT + RL"] = measure(
            str(policy), recipe, work / "eval_rl", "GAtt-SFT + RL", measured["base"]
        )
        seconds["GAtt-SFT + RL"] = time.perf_counter() - t0 - sum(seconds.values())

    turns = sorted(set(recipe.turns))
    checks = measured["base"].result.conversations
    print(f"\nSmolLM2-135M-Instruct persistence ({'smoke: tiny random model; ' if args.smoke else ''}"
          f"{checks} conversations, greedy, {cpu_model()}, {time.strftime('%Y-%m-%d')})\n")  # fmt: skip
    head = ["model"] + [f"train t{t}" for t in turns] + ["train t2-8"]
    head += [f"held-out t{t}" for t in turns] + ["held-out t2-8", "control", "chat loss"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, m in measured.items():
        print(row(name, m, turns))
    print(f"\nGAtt samples {gatt['samples']} from {gatt['dialogues_used']} dialogues; LoRA steps {steps}; "
          f"seconds: {', '.join(f'{k} {v:.0f}' for k, v in seconds.items())}")  # fmt: skip
    plot_persistence({k: m.curves for k, m in measured.items()}, work / "real_persistence.png",
                     "SmolLM2-135M-Instruct: persistence by stage")  # fmt: skip
    report = {
        "recipe": {k: v for k, v in vars(args).items() if k != "recipe"},
        "gatt": {k: gatt[k] for k in ("samples", "dialogues_used", "replies_sampled", "replies_failing_first_try")},
        "lora_steps": steps,
        "models": {k: {"scores": {s: c.to_json() for s, c in m.curves.items()}, "chat_loss": m.loss}
                   for k, m in measured.items()},
        "seconds": seconds,
    }  # fmt: skip
    (work / "real_persistence.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
