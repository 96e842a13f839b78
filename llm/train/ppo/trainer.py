"""RLHF with PPO (``llm-train ppo``), step 3 of "Learning to Summarize from Human Feedback", our own loop on
``accelerate`` (which drives DeepSpeed on GPUs). Each iteration, top to bottom:

    rollout   sample ``response_length`` tokens per prompt (T 0.7, top_k 0, top_p 1), cut after the first EOS
    score     the reward sources of ``grpo`` (:mod:`llm.train.rewards`: a local reward model, ``/get_reward``
              servers, Python functions, ``check:KIND=VALUE``), weighted; no EOS → penalty
    advantage per-token reward −β·(log π − log π_ref), score at the last token; GAE(γ, λ); whitened advantages
    optimise  ``ppo_epochs`` passes of clipped policy + value losses over minibatches; LR annealed to 0
    log       metrics.jsonl, accelerate's trackers (TensorBoard, W&B), a table of samples; PNG curves at the end

The four roles: ``policy`` and ``ref_policy`` from ``--model_name_or_path`` (the SFT checkpoint),
``value_model`` from ``--value_model_path`` (default: the local reward model, else the policy's body with a
fresh scalar head), and the reward. Every implementation detail is a field of :class:`PPOArguments` with the
TL;DR default (Huang et al. 2024); the math lives in :mod:`llm.train.ppo.core`. The run, prompt, sampling and
reward flags are ``grpo``'s, declared once in :mod:`llm.train.online.args`; prompts, log-probs and metrics
come from :mod:`llm.train.online` too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llm.data.collate import pad
from llm.errors import UserError
from llm.inference.rollout import Generator, HFGenerator
from llm.models.checkpoint import checkpoint_template
from llm.models.reward import build_reward_model, disable_dropout, token_values
from llm.train.online.args import PromptArguments, RewardArguments, RunArguments, SamplingArguments, retuned
from llm.train.online.forward import joined, penalize_missing_eos, response_logprobs, truncate_after_eos
from llm.train.online.metrics import exact_means, part_metric, plot_curves, process_sum, record
from llm.train.online.prompts import load_prompts
from llm.train.online.run import claim_output, close_run, open_run, start_accelerator
from llm.train.ppo import core

KL_UNIT = "nats per response"  # what the ``kl`` metric measures


@dataclass
class PPOArguments(RunArguments, PromptArguments, SamplingArguments, RewardArguments):
    """PPO for RLHF. Defaults follow the TL;DR recipe (Huang et al. 2024) unless a comment says otherwise."""

    model_name_or_path: str = retuned(
        RunArguments, "model_name_or_path", None, "the SFT checkpoint: policy and reference"
    )
    output_dir: str = retuned(RunArguments, "output_dir", "runs/ppo")
    learning_rate: float = retuned(RunArguments, "learning_rate", 3e-6, "annealed linearly to 0")
    sample_rows: int = retuned(RunArguments, "sample_rows", 3)
    report_to: str = retuned(RunArguments, "report_to", "tensorboard")
    response_length: int = retuned(SamplingArguments, "response_length", 53)
    temperature: float = retuned(SamplingArguments, "temperature", 0.7)
    # value model
    value_model_path: str | None = field(default=None, metadata={"help": "default: the local reward model"})
    # optimisation
    mini_batch_size: int = field(default=16, metadata={"help": "rollouts per optimiser step"})
    ppo_epochs: int = field(default=4, metadata={"help": "passes over each batch of rollouts"})
    kl_coef: float = field(default=0.05, metadata={"help": "β of the per-token KL penalty"})
    adaptive_kl: bool = field(default=False, metadata={"help": "adapt β towards --kl_target"})
    kl_target: float = field(default=6.0, metadata={"help": "adaptive KL target (nats per response)"})
    kl_horizon: int = field(default=10_000, metadata={"help": "adaptive KL horizon (rollouts)"})
    gamma: float = field(default=1.0, metadata={"help": "GAE discount"})
    lam: float = field(default=0.95, metadata={"help": "GAE λ"})
    cliprange: float = field(default=0.2, metadata={"help": "policy ratio clip"})
    cliprange_value: float = field(default=0.2, metadata={"help": "value clip"})
    vf_coef: float = field(default=0.1, metadata={"help": "value loss coefficient"})
    whiten_rewards: bool = field(default=False, metadata={"help": "off in the released TL;DR runs"})

    def validate(self) -> None:
        self.check_run("ppo", "the SFT checkpoint")
        if isinstance(self.reward_fn, str):  # the Python API's old shape: one spec
            self.reward_fn = [self.reward_fn]
        if self.mini_batch_size < 1 or self.rollout_batch_size % self.mini_batch_size:
            raise UserError("--rollout_batch_size must be a multiple of --mini_batch_size")
        if self.response_length < 1 or self.temperature <= 0:
            raise UserError("--response_length must be ≥ 1 and --temperature > 0")
        if self.max_steps < 1 or self.rollout_batch_size < 1 or self.ppo_epochs < 1:
            raise UserError("--max_steps, --rollout_batch_size and --ppo_epochs must be 1 or more")
        self.check_rewards()  # last: imports the functions, before any model


# ----------------------------------------------------------------------------------------------------- forward


def response_values(
    value_model: Any, queries: torch.Tensor, query_mask: torch.Tensor, responses: torch.Tensor
):
    """V(state before each response token), [B, T]."""
    ids, mask, _ = joined(queries, query_mask, responses)
    values = token_values(value_model, ids, mask)
    return values[:, queries.shape[1] - 1 : -1]


class PolicyAndValue(torch.nn.Module):
    """Both trained models under one module, so one optimiser and one ``accelerator.prepare`` serve both,
    and a forward through the (possibly distributed) wrapper computes what a PPO step needs."""

    def __init__(self, policy: Any, value_model: Any):
        super().__init__()
        self.policy, self.value_model = policy, value_model

    def forward(self, queries, query_mask, responses, temperature: float):
        logp, entropy = response_logprobs(self.policy, queries, query_mask, responses, temperature)
        return logp, entropy, response_values(self.value_model, queries, query_mask, responses)


# ---------------------------------------------------------------------------------------------------- the loop


@dataclass
class Rollouts:
    queries: torch.Tensor  # [B, P] left-padded
    query_mask: torch.Tensor  # [B, P]
    responses: torch.Tensor  # [B, T], padded after the first EOS
    mask: torch.Tensor  # [B, T], 1 up to and including the first EOS
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor


def train(args: PPOArguments, generator: Generator | None = None) -> list[dict]:
    """The whole run; returns the per-iteration metrics (also written to ``metrics.jsonl``)."""
    args.validate()
    out = claim_output(args, "ppo")
    accelerator = start_accelerator(args.report_to, out, args.seed, args.ddp_timeout)
    template_name = checkpoint_template(args.model_name_or_path, args.template)

    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise UserError(
            "PPO needs a pad token distinct from EOS (Huang et al.): add one to the SFT tokenizer"
        )
    policy = AutoModelForCausalLM.from_pretrained(args.model_name_or_path)
    ref_policy = AutoModelForCausalLM.from_pretrained(args.model_name_or_path)
    value_path = args.value_model_path or args.reward_model_path or args.model_name_or_path
    value_model = build_reward_model(value_path, tokenizer)
    for m in (policy, ref_policy, value_model):
        disable_dropout(m)
    ref_policy.requires_grad_(False).eval()
    reward_sources = args.build(str(accelerator.device))
    prompts, dropped = load_prompts(args, tokenizer, template_name)

    model = PolicyAndValue(policy, value_model)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.learning_rate, eps=1e-5, weight_decay=args.weight_decay
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / max(1, args.max_steps))
    model, optimizer = accelerator.prepare(model, optimizer)
    ref_policy.to(accelerator.device)
    generator = generator or HFGenerator(
        args.response_length, args.temperature, args.top_k, args.top_p, tokenizer.pad_token_id
    )
    kl_control = core.AdaptiveKLController(args.kl_coef, args.kl_target, args.kl_horizon)
    if accelerator.log_with:
        accelerator.init_trackers(
            "ppo", config={k: v for k, v in vars(args).items() if isinstance(v, int | float | str)}
        )
    rng = torch.Generator().manual_seed(args.seed + accelerator.process_index)
    reduce = process_sum(accelerator)
    history: list[dict] = []
    open_run(accelerator, out, f"PPO: {len(prompts)} prompts (dropped {dropped}), {args.max_steps} iterations, "
                               f"{args.rollout_batch_size} rollouts × {accelerator.num_processes} process(es)")  # fmt: skip

    for iteration in range(1, args.max_steps + 1):
        unwrapped = accelerator.unwrap_model(model)
        t0 = time.perf_counter()
        picks = torch.randint(len(prompts), (args.rollout_batch_size,), generator=rng).tolist()
        queries, query_mask = pad([prompts[i] for i in picks], tokenizer.pad_token_id, side="left")
        queries, query_mask = queries.to(accelerator.device), query_mask.to(accelerator.device)
        unwrapped.policy.eval()
        raw = generator(unwrapped.policy, queries, query_mask)
        responses, mask, has_eos = truncate_after_eos(raw, tokenizer.eos_token_id, tokenizer.pad_token_id)
        t_generate = time.perf_counter() - t0

        texts = [
            tokenizer.decode(torch.cat([q[qm.bool()], r[m.bool()]]).tolist(), skip_special_tokens=False)
            for q, qm, r, m in zip(queries, query_mask, responses, mask, strict=True)
        ]
        prompt_texts = [
            tokenizer.decode(q[qm.bool()].tolist(), skip_special_tokens=False)
            for q, qm in zip(queries, query_mask, strict=True)
        ]
        completions = [  # what a check reads: the reply's words, no EOS
            tokenizer.decode(r[m.bool()].tolist(), skip_special_tokens=True)
            for r, m in zip(responses, mask, strict=True)
        ]
        t1 = time.perf_counter()
        total, parts = reward_sources(
            prompt_texts, completions, texts=texts
        )  # full-text sources score ``texts``
        rm_scores = torch.tensor(total, dtype=torch.float32, device=accelerator.device)
        scores = penalize_missing_eos(rm_scores, has_eos, args.missing_eos_penalty)
        t_score = time.perf_counter() - t1

        t2 = time.perf_counter()
        with torch.no_grad():
            logprobs, _ = response_logprobs(
                unwrapped.policy, queries, query_mask, responses, args.temperature
            )
            ref_logprobs, _ = response_logprobs(ref_policy, queries, query_mask, responses, args.temperature)
            values = response_values(unwrapped.value_model, queries, query_mask, responses) * mask
            logprobs, ref_logprobs = logprobs * mask, ref_logprobs * mask  # masked after EOS
            rewards, kl = core.kl_shaped_rewards(scores, logprobs, ref_logprobs, mask, kl_control.value)
            if args.whiten_rewards:
                rewards = core.whiten(rewards, mask, shift_mean=False)
            advantages, returns = core.gae(rewards, values, mask, args.gamma, args.lam)
            advantages = core.whiten(advantages, mask)
        batch = Rollouts(queries, query_mask, responses, mask, logprobs, values, advantages, returns)
        stats = _optimise(args, accelerator, model, optimizer, batch)
        schedule.step()
        if args.adaptive_kl:
            kl_control.update(float(kl.sum(1).mean()), args.rollout_batch_size * accelerator.num_processes)
        t_train = time.perf_counter() - t2

        n = float(len(scores))
        tallies = {  # name: (sum, count) on this process; the metric is Σ sums / Σ counts over processes
            "reward_mean": (scores.sum(), n),
            "rm_score_mean": (rm_scores.sum(), n),  # the weighted total before the missing-EOS penalty
            "reward_with_kl_mean": (rewards.sum(), n),
            "kl": (kl.sum(), n),
            "response_length": (mask.sum(), n),
            "eos_rate": (has_eos.float().sum(), n),
            **{part_metric(name): (sum(values), len(values)) for name, values in parts.items()},
            **stats,
        }
        metrics = exact_means(tallies, reduce)
        metrics["kl_mean"] = metrics["kl"]  # the name it had first, which readers of metrics.jsonl may use
        metrics.update(
            iteration=iteration,
            kl_coef=kl_control.value,
            learning_rate=schedule.get_last_lr()[0],
            time_generate=t_generate,
            time_score=t_score,
            time_train=t_train,
        )
        history.append(metrics)
        _log(accelerator, out, metrics, texts, scores, args.sample_rows)

    if accelerator.is_main_process:
        plot_curves(
            history, out / "ppo_curves.png",
            [("reward_mean", "reward (RM score)"), ("kl", "KL to the SFT policy"), ("entropy", "entropy")],
            ("kl", "KL to the SFT policy (nats per response)"), "rm_score_mean",
        )  # fmt: skip
    close_run(accelerator, out, "ppo", accelerator.unwrap_model(model).policy, tokenizer, template_name)
    return history


def _optimise(args: PPOArguments, accelerator: Any, model: Any, optimizer: Any, b: Rollouts) -> dict:
    """``ppo_epochs`` passes of minibatch updates. Returns ``{name: (sum, count)}`` over the minibatches of
    each stat, and the very first minibatch's ratio and clip fraction (1 and 0 by construction: the policy
    has not moved yet)."""
    model.train()
    collected: dict[str, list[torch.Tensor]] = {}
    first: dict[str, torch.Tensor] = {}
    n = b.queries.shape[0]
    for _ in range(args.ppo_epochs):
        order = torch.randperm(n)
        for start in range(0, n, args.mini_batch_size):
            idx = order[start : start + args.mini_batch_size].to(b.queries.device)
            logp, entropy, values = model(
                b.queries[idx], b.query_mask[idx], b.responses[idx], args.temperature
            )
            mask = b.mask[idx]
            pg_loss, pg_stats = core.policy_loss(
                logp, b.logprobs[idx], b.advantages[idx], mask, args.cliprange
            )
            vf_loss, vf_stats = core.value_loss(
                values, b.values[idx], b.returns[idx], mask, args.cliprange_value
            )
            loss = pg_loss + args.vf_coef * vf_loss
            accelerator.backward(loss)
            if args.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
            step = {
                "policy_loss": pg_loss.detach(),
                "value_loss": vf_loss.detach(),
                "entropy": core.masked_mean(entropy.detach(), mask),
                "explained_variance": core.explained_variance(b.values[idx], b.returns[idx], mask),
                **{k: v.detach() for k, v in {**pg_stats, **vf_stats}.items()},
            }
            if not first:
                first = {
                    "first_ratio": pg_stats["ratio"].detach(),
                    "first_clipfrac": pg_stats["clipfrac"].detach(),
                }
            for k, v in step.items():
                collected.setdefault(k, []).append(v)
    return {
        **{k: (torch.stack(v).sum(), len(v)) for k, v in collected.items()},
        **{k: (v, 1) for k, v in first.items()},
    }


def _log(accelerator, out: Path, metrics: dict, texts: list[str], scores, rows: int) -> None:
    if not record(accelerator, out, metrics, "ppo"):
        return
    print(
        f"iter {metrics['iteration']:4d}  reward {metrics['reward_mean']:+.3f}  kl {metrics['kl_mean']:.3f}  "
        f"entropy {metrics['entropy']:.2f}  clipfrac {metrics['clipfrac']:.3f}  eos {metrics['eos_rate']:.2f}  "
        f"gen/score/train {metrics['time_generate']:.1f}/{metrics['time_score']:.1f}/{metrics['time_train']:.1f}s"
    )
    for text, value in list(zip(texts, scores.tolist(), strict=True))[:rows]:
        print(f"    {value:+.2f} │ …{text[-110:]!r}")
