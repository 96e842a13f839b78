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
from llm.data.output import check_run_target, claim_run, finish_run
from llm.data.process import DataArguments
from llm.data.samples import TLDR_COMPARISONS_SAMPLE as COMPARISONS
from llm.data.samples import TLDR_SFT_SAMPLE as SFT_DATA
from llm.data.tokenizer import build_tokenizer
from llm.models.loading import ModelArguments
from llm.train import rm, sft
from llm.train.args import StageArguments
from llm.train.grpo.trainer import GRPOArguments
from llm.train.grpo.trainer import train as train_grpo
from llm.train.ppo.trainer import PPOArguments
from llm.train.ppo.trainer import train as train_ppo
from llm.train.rl_metrics import reward_vs_kl


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


def main(argv: list[str] | None = None) -> int:
    """The demo; a target that is not ours (or a bad flag) is one line and exit 2, as in every command."""
    return run_command("llm-train demo-rlhf", lambda: run_demo(argv))


def run_demo(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-train demo-rlhf", description=__doc__.splitlines()[0])
    parser.add_argument("--run_dir", default="runs/demo-rlhf")
    parser.add_argument("--model_config", default="tiny", help="named model config for the policy")
    parser.add_argument("--sft_steps", type=int, default=250)
    parser.add_argument("--rm_steps", type=int, default=150, help="steps of each reward model")
    parser.add_argument("--rl_steps", "--ppo_steps", type=int, default=40, help="PPO and GRPO iterations")
    parser.add_argument(
        "--kl_target", type=float, default=4.0, help="PPO's adaptive-KL target, nats per summary"
    )
    args = parser.parse_args(argv)
    run = Path(args.run_dir)
    # A demo replaces its own previous run, never a folder of other files (llm.data.output).
    check_run_target(run, [SFT_DATA, COMPARISONS], overwrite=True)
    claim_run(run, overwrite=True, planned=DEMO_FILES)
    t0 = time.perf_counter()
    tokenizer = tokenizer_for_sample(run / "tokenizer")
    optimised_pairs, held_out_pairs = split_by_post(COMPARISONS, run / "comparisons")
    common = dict(
        report_to="none", save_strategy="no", use_cpu=True, seed=0, logging_steps=25, disable_tqdm=False
    )

    t = stage(f"1/4 SFT: a {args.model_config} Llama from scratch on {SFT_DATA.name}")
    metrics = sft.run(
        ModelArguments(model_config=args.model_config),
        DataArguments(dataset="tldr", data_files=[str(SFT_DATA)], tokenizer=tokenizer, template="plain",
                      max_length=512, max_query_tokens=400, validation_split=0.05),
        StageArguments(output_dir=str(run / "sft"), max_steps=args.sft_steps, per_device_train_batch_size=8,
                       learning_rate=3e-3, lr_scheduler_type="cosine", warmup_steps=0.05, eval_strategy="no",
                       **common),
    )  # fmt: skip
    print(f"SFT: held-out loss {metrics.get('eval_loss', float('nan')):.3f} ({time.perf_counter() - t:.0f}s)")

    accuracy = {}
    for name, pairs in (("rm", optimised_pairs), ("rm_held_out", held_out_pairs)):
        t = stage(f"2/4 reward model {name!r} from the SFT checkpoint on {pairs.name} (posts of its own)")
        metrics = rm.run(
            ModelArguments(model_name_or_path=str(run / "sft")),
            DataArguments(dataset="tldr_comparisons", data_files=[str(pairs)], tokenizer=tokenizer,
                          template="plain", max_length=512, max_query_tokens=400, validation_split=0.1),
            StageArguments(output_dir=str(run / name), max_steps=args.rm_steps, per_device_train_batch_size=16,
                           learning_rate=1e-3, lr_scheduler_type="cosine", eval_strategy="no", **common),
            rm.RewardArguments(),
        )  # fmt: skip
        accuracy[name] = metrics["eval_accuracy"]
        print(f"{name}: held-out accuracy {accuracy[name]:.3f} ({time.perf_counter() - t:.0f}s)")

    prompts = dict(dataset="tldr", data_files=[str(SFT_DATA)], max_prompt_length=420, report_to="none")
    # The penalty replaces the score of a summary that never ends, so it must be the worst score there is: this
    # reward model gives the SFT policy's summaries about −10 (the TL;DR script's −1 assumes one normalised to
    # mean 0 on them); −1 here would pay the policy to never stop.
    no_eos = -20.0
    t = stage(
        f"3/4 PPO against 'rm' (adaptive KL towards {args.kl_target} nats, missing-EOS penalty {no_eos})"
    )
    ppo = train_ppo(
        PPOArguments(
            model_name_or_path=str(run / "sft"), reward_model_path=str(run / "rm"),
            held_out_reward=[str(run / "rm_held_out")], max_steps=args.rl_steps, rollout_batch_size=32,
            mini_batch_size=16, response_length=32, learning_rate=1e-4, kl_coef=0.2, adaptive_kl=True,
            kl_target=args.kl_target, kl_horizon=160, missing_eos_penalty=no_eos,
            output_dir=str(run / "ppo"), sample_rows=1, **prompts,
        )
    )  # fmt: skip
    print(f"PPO: {time.perf_counter() - t:.0f}s")
    t = stage("4/4 GRPO against 'rm' (no critic; G = 8; KL as a loss term)")
    grpo = train_grpo(
        GRPOArguments(
            model_name_or_path=str(run / "sft"), reward_model_path=str(run / "rm"),
            held_out_reward=[str(run / "rm_held_out")], max_steps=args.rl_steps, rollout_batch_size=32,
            num_generations=8, response_length=32, learning_rate=1e-4, beta=0.1, temperature=0.7,
            missing_eos_penalty=no_eos,
            epsilon_high=0.28, output_dir=str(run / "grpo"), sample_rows=1, **prompts,
        )
    )  # fmt: skip
    print(f"GRPO: {time.perf_counter() - t:.0f}s")

    print(
        f"\nreward models: pairwise accuracy on their own held-out pairs: optimised {accuracy['rm']:.3f}, "
        f"held-out {accuracy['rm_held_out']:.3f}"
    )
    print(f"{'run':<6}{'(first → last fifth of the iterations)':<28}")
    print("\n".join(summary("PPO", ppo, "kl_mean", "nats per summary")))
    print("\n".join(summary("GRPO", grpo, "kl", "k3 per token")))
    plot({"PPO": (ppo, "kl_mean", "KL to the SFT policy (nats per summary)"),
          "GRPO": (grpo, "kl", "KL to the SFT policy (k3, per token)")}, run / "reward_vs_kl.png")  # fmt: skip
    print(
        f"reward vs KL: {run / 'reward_vs_kl.png'}   curves: {run}/ppo/ppo_curves.png, {run}/grpo/grpo_curves.png"
    )
    finish_run(run)
    print(f"all four stages in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
