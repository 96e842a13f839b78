"""``make demo-rlhf``: "Learning to Summarize from Human Feedback" in three stages, on a CPU, in minutes.

1. **SFT** a small Llama from scratch on the bundled TL;DR posts (``llm/data/samples/tldr_sft_sample.jsonl``):
   query + " " + reference summary + EOS, loss on the summary.
2. **Reward model** from the SFT checkpoint on the bundled comparisons
   (``llm/data/samples/tldr_comparisons_sample.jsonl``), chosen rewards centred at 0; held-out accuracy printed.
3. **PPO** of the SFT policy against that reward model, with the TL;DR implementation details (KL penalty
   to the SFT policy, GAE, whitened advantages, clipped losses, EOS truncation); reward and KL printed at the
   start and the end, curves in ``runs/demo-rlhf/ppo/ppo_curves.png``.

    $ make demo-rlhf                 # or: llm-train demo-rlhf [--run_dir runs/demo-rlhf] [--ppo_steps 40]

The models are tiny and the data is 300 posts: the reward model learns part of the preference, and PPO
raises its score while the KL to the SFT policy grows — the pipeline, not the paper's numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from llm.data.process import DataArguments
from llm.data.samples import TLDR_COMPARISONS_SAMPLE as COMPARISONS
from llm.data.samples import TLDR_SFT_SAMPLE as SFT_DATA
from llm.data.tokenizer import build_tokenizer
from llm.models.loading import ModelArguments
from llm.train import rm, sft
from llm.train.args import StageArguments
from llm.train.ppo.trainer import PPOArguments, train


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


def stage(title: str) -> float:
    print(f"\n── {title}", flush=True)
    return time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-train demo-rlhf", description=__doc__.splitlines()[0])
    parser.add_argument("--run_dir", default="runs/demo-rlhf")
    parser.add_argument("--model_config", default="tiny", help="named model config for the policy")
    parser.add_argument("--sft_steps", type=int, default=250)
    parser.add_argument("--rm_steps", type=int, default=150)
    parser.add_argument("--ppo_steps", type=int, default=40)
    args = parser.parse_args(argv)
    run = Path(args.run_dir)
    t0 = time.perf_counter()
    tokenizer = tokenizer_for_sample(run / "tokenizer")
    common = dict(
        report_to="none", save_strategy="no", use_cpu=True, seed=0, logging_steps=25, disable_tqdm=False
    )

    t = stage(f"1/3 SFT: a {args.model_config} Llama from scratch on {SFT_DATA.name}")
    metrics = sft.run(
        ModelArguments(model_config=args.model_config),
        DataArguments(dataset="tldr", data_files=[str(SFT_DATA)], tokenizer=tokenizer, template="plain",
                      max_length=512, max_query_tokens=400, validation_split=0.05),
        StageArguments(output_dir=str(run / "sft"), max_steps=args.sft_steps, per_device_train_batch_size=8,
                       learning_rate=3e-3, lr_scheduler_type="cosine", warmup_steps=0.05, eval_strategy="no",
                       **common),
    )  # fmt: skip
    print(f"SFT: held-out loss {metrics.get('eval_loss', float('nan')):.3f} ({time.perf_counter() - t:.0f}s)")

    t = stage("2/3 reward model from the SFT checkpoint on the comparisons")
    metrics = rm.run(
        ModelArguments(model_name_or_path=str(run / "sft")),
        DataArguments(dataset="tldr_comparisons", data_files=[str(COMPARISONS)], tokenizer=tokenizer,
                      template="plain", max_length=512, max_query_tokens=400, validation_split=0.1),
        StageArguments(output_dir=str(run / "rm"), max_steps=args.rm_steps, per_device_train_batch_size=16,
                       learning_rate=1e-3, lr_scheduler_type="cosine", eval_strategy="no", **common),
        rm.RewardArguments(),
    )  # fmt: skip
    print(f"reward model: held-out accuracy {metrics['eval_accuracy']:.3f} ({time.perf_counter() - t:.0f}s)")

    t = stage("3/3 PPO against the reward model")
    history = train(
        PPOArguments(
            model_name_or_path=str(run / "sft"), reward_model_path=str(run / "rm"), dataset="tldr",
            data_files=[str(SFT_DATA)], max_prompt_length=420, max_steps=args.ppo_steps, rollout_batch_size=32,
            mini_batch_size=16, response_length=32, learning_rate=1e-4,
            output_dir=str(run / "ppo"), report_to="none", sample_rows=1,
        )
    )  # fmt: skip
    first, last = history[0], history[-1]
    k = max(1, len(history) // 5)
    start = sum(h["reward_mean"] for h in history[:k]) / k
    end = sum(h["reward_mean"] for h in history[-k:]) / k
    print(
        f"\nPPO: reward {start:+.3f} → {end:+.3f} (mean of the first and last {k} iterations; "
        f"first {first['reward_mean']:+.3f}, last {last['reward_mean']:+.3f}), "
        f"KL {first['kl_mean']:.3f} → {last['kl_mean']:.3f} nats ({time.perf_counter() - t:.0f}s)"
    )
    print(f"curves: {run / 'ppo' / 'ppo_curves.png'}   metrics: {run / 'ppo' / 'metrics.jsonl'}")
    print(f"all three stages in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
