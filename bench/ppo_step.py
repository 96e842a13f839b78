"""PPO and GRPO iteration time and its split, and rollout speed against plain ``model.generate``.

One fixed tiny setup (a random ``small`` Llama policy, 64 chat prompts of the PPO test fixture, a reward
function, 32 rollouts of 32 tokens, 4 PPO epochs of minibatches of 16), on one machine in one run:

- the time per iteration split into generation / scoring / training, as ``llm-train ppo`` logs it;
- the same for ``llm-train grpo`` on the same prompts and rollout budget (32 completions of 32 tokens: 8
  prompts × G = 4, or 4 prompts × G = 8), one update pass of minibatches of 16, split into generation /
  scoring / reference and old log-probs / update — no value model to run or train;
- rollout tokens/s of our generator (``HFGenerator``: sampling at T 0.7, top_k 0, top_p 1, fixed length)
  against a plain ``model.generate`` call with the same sampling settings on the same batch.

    $ .venv/bin/python bench/ppo_step.py [--iterations 6] [--rollouts 32] [--response_length 32] [--smoke]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.helpers.ppo_rewards: the reward function of the PPO tests
# --smoke: PPO, both GRPO groupings and both generators, tiny sizes (one minibatch); its numbers mean nothing
SMOKE = {"iterations": 2, "rollouts": 16, "response_length": 8, "repeats": 1, "model": "tiny"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--rollouts", type=int, default=32)
    parser.add_argument("--response_length", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="small", help="policy shape (MODEL_CONFIGS): small or tiny")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs (seconds)")
    args = parser.parse_args()
    if args.smoke:  # its sizes become the defaults; a flag given still wins
        parser.set_defaults(**SMOKE)
        args = parser.parse_args()

    from transformers import AutoModelForCausalLM

    from llm.data.collate import pad
    from llm.data.tokenizer import build_tokenizer
    from llm.inference.rollout import HFGenerator
    from llm.models.loading import MODEL_CONFIGS
    from llm.models.tiny import build_llama
    from llm.train.grpo.trainer import GRPOArguments
    from llm.train.grpo.trainer import train as grpo_train
    from llm.train.online.prompts import load_prompts
    from llm.train.ppo.trainer import PPOArguments, train

    work = Path(tempfile.mkdtemp(prefix="ppo-bench-"))
    tok = build_tokenizer("bytelevel")
    cfg = MODEL_CONFIGS[args.model]
    policy = build_llama(
        tok, hidden_size=cfg["hidden_size"], layers=cfg["num_hidden_layers"], heads=cfg["num_attention_heads"]
    )
    policy.save_pretrained(work / "sft")
    tok.save_pretrained(work / "sft")
    (work / "sft" / "llm_train.json").write_text(json.dumps({"template": "chatml"}))
    ppo = PPOArguments(
        model_name_or_path=str(work / "sft"), dataset="openai",
        data_files=[str(REPO / "tests" / "fixtures" / "ppo_prompts.jsonl")], reward_fn="tests.helpers.ppo_rewards:letter_e",
        max_steps=args.iterations, rollout_batch_size=args.rollouts, mini_batch_size=16,
        response_length=args.response_length, learning_rate=1e-4, output_dir=str(work / "ppo"), report_to="none",
        sample_rows=0,
    )  # fmt: skip
    history = train(ppo)[1:]  # the first iteration pays for warm-up
    grpo = {}
    for g in (4, 8):
        run = GRPOArguments(
            model_name_or_path=str(work / "sft"), dataset="openai",
            data_files=[str(REPO / "tests" / "fixtures" / "ppo_prompts.jsonl")], reward_fn=["tests.helpers.ppo_rewards:letter_e"],
            max_steps=args.iterations, rollout_batch_size=args.rollouts, num_generations=g, mini_batch_size=16,
            response_length=args.response_length, temperature=0.7, learning_rate=1e-4,
            output_dir=str(work / f"grpo{g}"), sample_rows=0,
        )  # fmt: skip
        grpo[g] = grpo_train(run)[1:]

    # Rollout speed: our generator against plain generate, same model, batch and sampling settings.
    model = AutoModelForCausalLM.from_pretrained(work / "sft").eval()
    prompts, _ = load_prompts(ppo, tok, "chatml")
    queries, mask = pad((prompts * 4)[: args.rollouts], tok.pad_token_id, side="left")
    ours = HFGenerator(args.response_length, 0.7, 0, 1.0, tok.pad_token_id)

    def plain():
        with torch.no_grad():
            model.generate(
                input_ids=queries, attention_mask=mask, max_new_tokens=args.response_length, do_sample=True,
                temperature=0.7, top_k=0, top_p=1.0, pad_token_id=tok.pad_token_id, eos_token_id=None,
            )  # fmt: skip

    def timed(fn) -> float:
        fn()  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    t_ours = timed(lambda: ours(model, queries, mask))
    t_plain = timed(plain)
    tokens = args.rollouts * args.response_length

    gen = statistics.mean(h["time_generate"] for h in history)
    score = statistics.mean(h["time_score"] for h in history)
    trn = statistics.mean(h["time_train"] for h in history)
    total = gen + score + trn
    print(f"PPO step, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads; torch {torch.__version__}"
    )
    print(f"setup: {args.model} Llama ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params), "
          f"{args.rollouts} rollouts × {args.response_length} tokens, 4 PPO epochs, minibatch 16, CPU")  # fmt: skip
    print(f"iteration (mean of {len(history)} after the first): {total:.2f}s = generation {gen:.2f}s "
          f"({gen / total:.0%}) + scoring {score:.3f}s ({score / total:.0%}) + training {trn:.2f}s ({trn / total:.0%})")  # fmt: skip
    print(f"rollout: ours {tokens / t_ours:,.0f} tokens/s, plain generate {tokens / t_plain:,.0f} tokens/s "
          f"→ {t_plain / t_ours:.2f}x")  # fmt: skip
    print(
        f"\n{'loop':<14} {'iteration':>10} {'generation':>11} {'scoring':>8} {'ref/old logps':>14} {'update':>8}"
    )
    print(f"{'ppo':<14} {total:>9.2f}s {gen:>10.2f}s {score:>7.3f}s {'(in train)':>14} {trn:>7.2f}s")
    for g, runs in grpo.items():
        parts = [
            statistics.mean(h[k] for h in runs)
            for k in ("time_generate", "time_score", "time_reference", "time_update")
        ]
        print(
            f"{'grpo G=' + str(g):<14} {sum(parts):>9.2f}s {parts[0]:>10.2f}s {parts[1]:>7.3f}s {parts[2]:>13.2f}s {parts[3]:>7.2f}s"
        )


if __name__ == "__main__":
    main()
