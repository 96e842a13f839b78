"""``make demo-rlhf``: "Learning to Summarize from Human Feedback" on a CPU, in minutes, with the controls that
keep RLHF honest.

1. **SFT** a small Llama from scratch on the bundled TL;DR posts (``llm/data/samples/tldr_sft_sample.jsonl``):
   query + " " + reference summary + EOS, loss on the summary.
2. **Two reward models** from the SFT checkpoint on the bundled comparisons
   (``llm/data/samples/tldr_comparisons_sample.jsonl``), split by post: the *optimised* one on half the posts,
   a *held-out* one on the other half. The policy is trained against the first and never sees the second,
   which scores every rollout all the same: reward bought by exploiting the first's quirks shows as the
   first rising while the second does not (Gao et al. 2022).
3. **PPO** of the SFT policy against the optimised reward model with the TL;DR recipe's own controls: the
   KL penalty to the SFT policy adapted towards a target (Ziegler et al.), the missing-EOS penalty, GAE,
   whitened advantages, clipped losses.
4. **GRPO** from the same SFT policy against the same reward model: no critic, G samples per post, the KL as
   a loss term (k3), clip-higher.

Printed at the end: both runs' optimised and held-out reward, KL, EOS rate and entropy at the start and the end;
drawn in ``runs/demo-rlhf/reward_vs_kl.png``: each reward's change against the KL to the SFT policy.

    $ make demo-rlhf                 # or: llm-train demo-rlhf [--run_dir runs/demo-rlhf] [--rl_steps 40]

The hyper-parameters of the four stages are a recipe, ``configs/demo_rlhf.yaml`` (shipped as
``llm/configs/demo_rlhf.yaml``); ``--recipe FILE`` puts your own on top of it (:mod:`llm.commands.recipes`).

The models are tiny and the data is 300 posts: the reward models learn part of the preference — the pipeline
and its controls, not the paper's numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from llm.commands.cli import run_command
from llm.commands.recipes import Section, apply_flags, load_recipe
from llm.data.output import check_run_target, claim_run, finish_run
from llm.data.process import DataArguments
from llm.data.samples import TLDR_COMPARISONS_SAMPLE as COMPARISONS
from llm.data.samples import TLDR_SFT_SAMPLE as SFT_DATA
from llm.data.tokenizer import build_tokenizer
from llm.models.loading import ModelArguments
from llm.train import rm, sft
from llm.train.args import StageArguments
from llm.train.grpo import trainer as grpo_trainer
from llm.train.grpo.trainer import GRPOArguments
from llm.train.grpo.trainer import train as train_grpo
from llm.train.online.metrics import reward_vs_kl
from llm.train.ppo import trainer as ppo_trainer
from llm.train.ppo.trainer import PPOArguments
from llm.train.ppo.trainer import train as train_ppo


def tokenizer_for_sample(out: Path) -> str:
    """A byte-level BPE trained on the sample's text (seconds, offline), saved where the stages can load it."""
    texts = []
    for path in (SFT_DATA, COMPARISONS):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            texts.extend(v for v in record.values() if isinstance(v, str))
    tokenizer = build_tokenizer("bytelevel", vocab_size=4000, corpus=texts)
    tokenizer.save_pretrained(str(out))
    return str(out)


def split_by_post(comparisons: Path, out: Path) -> tuple[Path, Path]:
    """The comparisons in two files, every post's comparisons on one side (alternate posts, in file order):
    the two reward models never judge the same post."""
    rows = [json.loads(line) for line in comparisons.read_text().splitlines() if line.strip()]
    posts = list(dict.fromkeys(r["prompt"] for r in rows))
    side = {post: k % 2 for k, post in enumerate(posts)}
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / "comparisons_optimised.jsonl", out / "comparisons_held_out.jsonl")
    for k, path in enumerate(paths):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows if side[r["prompt"]] == k))
    return paths


def stage(title: str) -> float:
    print(f"\n── {title}", flush=True)
    return time.perf_counter()


def optimised_key(history: list[dict]) -> str:
    """The optimised reward model's own score (before the missing-EOS penalty): ppo's, or grpo's source."""
    return "rm_score_mean" if "rm_score_mean" in history[0] else "reward/reward_model"


def summary(name: str, history: list[dict], kl_key: str, kl_unit: str) -> list[str]:
    """Start and end (means of the first and last fifth of the iterations) of what tells a healthy run."""
    k = max(1, len(history) // 5)

    def mean(key: str, part: list[dict]) -> float:
        return sum(h[key] for h in part) / len(part)

    held = next(key for key in history[0] if key.startswith("held_out/"))
    optimised = optimised_key(history)
    rows = []
    for label, key, unit in (("optimised RM", optimised, ""), ("held-out RM", held, ""),
                             (f"KL ({kl_unit})", kl_key, ""), ("EOS rate", "eos_rate", ""),
                             ("entropy", "entropy", "")):  # fmt: skip
        a, b = mean(key, history[:k]), mean(key, history[-k:])
        rows.append(f"{name:<6}{label:<28}{a:+9.3f} → {b:+9.3f}   ({b - a:+.3f}){unit}")
    return rows


def plot(histories: dict[str, tuple[list[dict], str, str]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(histories), figsize=(6 * len(histories), 3.8), dpi=110)
    for ax, (name, (history, kl_key, kl_label)) in zip(axes, histories.items(), strict=True):
        optimised = optimised_key(history)
        reward_vs_kl(ax, history, kl_key, optimised, kl_label)
        ax.set_title(f"{name}: reward vs KL (running mean of 5)", fontsize=10)
    fig.suptitle("demo-rlhf: the optimised reward model and the held-out one, against KL to the SFT policy")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# What the demo writes in its --run_dir, claimed before it writes them.
DEMO_FILES = ("tokenizer", "comparisons", "sft", "rm", "rm_held_out", "ppo", "grpo", "reward_vs_kl.png")

# What a recipe holds: each section the keyword arguments of one class, but for what the demo sets itself
# (its data files, tokenizer, checkpoints and output folders).
DATA_FIXED = ("dataset", "data_files", "tokenizer")
RL_FIXED = (
    "dataset",
    "data_files",
    "model_name_or_path",
    "reward_model_path",
    "held_out_reward",
    "output_dir",
)
RECIPE = {
    "sft": {
        "model": Section(ModelArguments, fixed=("model_name_or_path",)),
        "data": Section(DataArguments, fixed=DATA_FIXED),
        "training": Section(StageArguments, fixed=("output_dir",)),
    },
    "rm": {
        "data": Section(DataArguments, fixed=DATA_FIXED),
        "training": Section(StageArguments, fixed=("output_dir",)),
        "reward": Section(rm.RewardArguments),
    },
    "ppo": Section(PPOArguments, fixed=RL_FIXED),
    "grpo": Section(GRPOArguments, fixed=RL_FIXED),
}

# The flags that override the recipe: flag → the recipe keys it sets.
FLAGS = {
    "model_config": ("sft.model.model_config",),
    "sft_steps": ("sft.training.max_steps",),
    "rm_steps": ("rm.training.max_steps",),  # both reward models
    "rl_steps": ("ppo.max_steps", "grpo.max_steps"),
    "kl_target": ("ppo.kl_target",),
}


def sft_arguments(recipe: dict, run: Path, tokenizer: str):
    """The SFT stage's arguments: the recipe's ``sft`` section and the demo's paths."""
    return (
        ModelArguments(**recipe["sft"]["model"]),
        DataArguments(
            dataset="tldr", data_files=[str(SFT_DATA)], tokenizer=tokenizer, **recipe["sft"]["data"]
        ),
        StageArguments(output_dir=str(run / "sft"), **recipe["sft"]["training"]),
    )


def rm_arguments(recipe: dict, run: Path, tokenizer: str, name: str, pairs: Path):
    """Reward model ``name``'s arguments (both reward models share the recipe's ``rm`` section)."""
    return (
        ModelArguments(model_name_or_path=str(run / "sft")),
        DataArguments(
            dataset="tldr_comparisons", data_files=[str(pairs)], tokenizer=tokenizer, **recipe["rm"]["data"]
        ),  # fmt: skip
        StageArguments(output_dir=str(run / name), **recipe["rm"]["training"]),
        rm.RewardArguments(**recipe["rm"]["reward"]),
    )


def rl_arguments(recipe: dict, run: Path, name: str):
    """PPO's or GRPO's arguments (``name``: ``ppo`` or ``grpo``), against the optimised reward model, scored
    by the held-out one too."""
    cls = {"ppo": PPOArguments, "grpo": GRPOArguments}[name]
    return cls(
        model_name_or_path=str(run / "sft"), reward_model_path=str(run / "rm"),
        held_out_reward=[str(run / "rm_held_out")], dataset="tldr", data_files=[str(SFT_DATA)],
        output_dir=str(run / name), **recipe[name],
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """The demo; a target that is not ours (or a bad flag) is one line and exit 2, as in every command."""
    return run_command("llm-train demo-rlhf", lambda: run_demo(argv))


def run_demo(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-train demo-rlhf", description=__doc__.splitlines()[0])
    parser.add_argument("--run_dir", default="runs/demo-rlhf")
    parser.add_argument("--recipe", dest="recipe_file", help="a YAML recipe on top of configs/demo_rlhf.yaml")
    parser.add_argument("--model_config", help="named model config for the policy (recipe: tiny)")
    parser.add_argument("--sft_steps", type=int, help="SFT steps (recipe: 250)")
    parser.add_argument("--rm_steps", type=int, help="steps of each reward model (recipe: 150)")
    parser.add_argument("--rl_steps", "--ppo_steps", type=int, help="PPO and GRPO iterations (recipe: 40)")
    parser.add_argument(
        "--kl_target", type=float, help="PPO's adaptive-KL target, nats per summary (recipe: 4)"
    )
    args = parser.parse_args(argv)
    recipe = load_recipe("demo_rlhf", RECIPE, args.recipe_file)
    apply_flags(recipe, vars(args), FLAGS)
    run = Path(args.run_dir)
    # A demo replaces its own previous run, never a folder of other files (llm.data.output).
    check_run_target(run, [SFT_DATA, COMPARISONS], overwrite=True)
    claim_run(run, overwrite=True, planned=DEMO_FILES)
    t0 = time.perf_counter()
    tokenizer = tokenizer_for_sample(run / "tokenizer")
    optimised_pairs, held_out_pairs = split_by_post(COMPARISONS, run / "comparisons")

    t = stage(
        f"1/4 SFT: a {recipe['sft']['model'].get('model_config')} Llama from scratch on {SFT_DATA.name}"
    )
    metrics = sft.run(*sft_arguments(recipe, run, tokenizer))
    print(f"SFT: held-out loss {metrics.get('eval_loss', float('nan')):.3f} ({time.perf_counter() - t:.0f}s)")

    accuracy = {}
    for name, pairs in (("rm", optimised_pairs), ("rm_held_out", held_out_pairs)):
        t = stage(f"2/4 reward model {name!r} from the SFT checkpoint on {pairs.name} (posts of its own)")
        metrics = rm.run(*rm_arguments(recipe, run, tokenizer, name, pairs))
        accuracy[name] = metrics["eval_accuracy"]
        print(f"{name}: held-out accuracy {accuracy[name]:.3f} ({time.perf_counter() - t:.0f}s)")

    # The missing-EOS penalty must be the worst score there is (configs/demo_rlhf.yaml says why).
    ppo_args = rl_arguments(recipe, run, "ppo")
    t = stage(f"3/4 PPO against 'rm' (adaptive KL towards {ppo_args.kl_target} nats, missing-EOS penalty "
              f"{ppo_args.missing_eos_penalty})")  # fmt: skip
    ppo = train_ppo(ppo_args)
    print(f"PPO: {time.perf_counter() - t:.0f}s")
    grpo_args = rl_arguments(recipe, run, "grpo")
    t = stage(f"4/4 GRPO against 'rm' (no critic; G = {grpo_args.num_generations}; KL as a loss term)")
    grpo = train_grpo(grpo_args)
    print(f"GRPO: {time.perf_counter() - t:.0f}s")

    print(
        f"\nreward models: pairwise accuracy on their own held-out pairs: optimised {accuracy['rm']:.3f}, "
        f"held-out {accuracy['rm_held_out']:.3f}"
    )
    print(f"{'run':<6}{'(first → last fifth of the iterations)':<28}")
    runs = {"PPO": (ppo, ppo_trainer.KL_UNIT), "GRPO": (grpo, grpo_trainer.KL_UNIT)}  # both log ``kl``
    for name, (history, unit) in runs.items():
        print("\n".join(summary(name, history, "kl", unit)))
    plot({name: (history, "kl", f"KL to the SFT policy ({unit})") for name, (history, unit) in runs.items()},
         run / "reward_vs_kl.png")  # fmt: skip
    print(
        f"reward vs KL: {run / 'reward_vs_kl.png'}   curves: {run}/ppo/ppo_curves.png, {run}/grpo/grpo_curves.png"
    )
    finish_run(run)
    print(f"all four stages in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
