"""Online RL without a critic (``llm-train grpo``): GRPO, Dr. GRPO, DAPO, RLOO and REINFORCE++ in one loop.

    llm-train grpo --model_name_or_path runs/sft --data_files prompts.jsonl --reward_fn check:ending=? \\
        --num_generations 8 --advantage grpo --beta 0.04 --output_dir runs/grpo

Each iteration, top to bottom (the same data, generation, reward and logging flags as ``ppo`` where they
mean the same; the math is :mod:`llm.train.grpo.core`):

    rollout    ``rollout_batch_size / num_generations`` prompts, ``num_generations`` completions each
               (sampled at ``temperature``), cut after the first EOS
    reward     the weighted sum of the reward sources (:mod:`llm.train.rewards`): functions, checks, a reward
               server, a reward model; a completion that never ended can be left out (``--mask_truncated_completions``)
    advantage  ``grpo``: group-normalised (``--scale_rewards group|batch|none``; none is Dr. GRPO); ``rloo``:
               leave-one-out baseline; ``reinforce_pp``: per-token KL in the reward, batch-whitened returns
    update     ``--num_iterations`` passes of clipped updates (``--epsilon``, ``--epsilon_high`` for DAPO's
               clip-higher) with the loss aggregated by ``--loss_type grpo|dr_grpo|dapo``, plus ``β`` · the k3
               KL to the reference (``--beta``; REINFORCE++ puts it in the reward instead)
    log        metrics.jsonl (reward mean and std, each source's mean, KL, clip fraction, completion length,
               share of groups with zero reward variance, time split), a few samples; PNG curves at the end

There is no value model: the group of completions of the same prompt is the baseline. The reference model is
the starting policy, frozen; the KL to it is reported every iteration whether or not it is in the loss.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
from accelerate import Accelerator
from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

from llm.data.collate import pad
from llm.errors import UserError
from llm.inference.rollout import Generator, HFGenerator
from llm.models.checkpoint import checkpoint_template, write_info
from llm.models.resolve import resolve_model
from llm.models.reward import disable_dropout
from llm.train.grpo import core
from llm.train.ppo.core import truncate_after_eos
from llm.train.ppo.trainer import PromptArguments, load_prompts, response_logprobs
from llm.train.rewards import Rewards, build_rewards
from llm.train.rl_metrics import trackers


@dataclass
class GRPOArguments(PromptArguments):
    """Critic-free online RL. Defaults follow DeepSeekMath's GRPO unless a comment says otherwise."""

    model_name_or_path: str = field(
        default=None, metadata={"help": "the starting policy (and the reference)"}
    )
    output_dir: str = field(default="runs/grpo", metadata={"help": "where metrics, curves and the policy go"})
    # rewards
    reward_fn: list[str] | None = field(
        default=None, metadata={"help": "module:function (texts → floats) or check:KIND=VALUE, one or more"}
    )
    reward_url: list[str] | None = field(default=None, metadata={"help": "reward server URL(s), sharded"})
    reward_token_file: str | None = field(default=None, metadata={"help": "bearer token for --reward_url"})
    reward_model_path: str | None = field(default=None, metadata={"help": "a local reward model"})
    reward_weights: list[float] | None = field(
        default=None, metadata={"help": "one weight per source (default 1)"}
    )
    # sampling
    num_generations: int = field(default=8, metadata={"help": "G: completions per prompt"})
    response_length: int = field(default=64, metadata={"help": "most new tokens per completion"})
    temperature: float = field(
        default=1.0, metadata={"help": "sampling temperature; log-probs use logits/T too"}
    )
    top_k: int = field(default=0, metadata={"help": "0: off"})
    top_p: float = field(default=1.0, metadata={"help": "1: off"})
    mask_truncated_completions: bool = field(
        default=False, metadata={"help": "leave completions that never reached EOS out of the loss (DAPO)"}
    )
    use_vllm: bool = field(default=False, metadata={"help": "generate with vLLM (GPU, extra vllm)"})
    # estimator and loss
    advantage: Literal["grpo", "rloo", "reinforce_pp"] = field(
        default="grpo", metadata={"help": "grpo (group-normalised), rloo (leave-one-out) or reinforce_pp"}
    )
    scale_rewards: Literal["group", "batch", "none"] = field(
        default="group", metadata={"help": "GRPO's std scaling; none is Dr. GRPO"}
    )
    loss_type: Literal["grpo", "dr_grpo", "dapo"] = field(
        default="grpo",
        metadata={"help": "per-sequence mean (grpo), constant (dr_grpo) or token-level (dapo)"},
    )
    beta: float = field(
        default=0.04, metadata={"help": "KL coefficient (k3 in the loss; in the reward for reinforce_pp)"}
    )
    epsilon: float = field(default=0.2, metadata={"help": "ratio clip (low side)"})
    epsilon_high: float | None = field(default=None, metadata={"help": "ratio clip, high side (DAPO: 0.28)"})
    num_iterations: int = field(default=1, metadata={"help": "updates per batch of rollouts"})
    mini_batch_size: int | None = field(
        default=None, metadata={"help": "completions per optimiser step (default: all)"}
    )
    # optimisation
    max_steps: int = field(default=100, metadata={"help": "iterations"})
    rollout_batch_size: int = field(default=64, metadata={"help": "completions per iteration per process"})
    learning_rate: float = field(default=1e-6, metadata={"help": "constant"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping"})
    seed: int = field(default=0, metadata={"help": "base seed; each process adds its rank"})
    sample_rows: int = field(default=2, metadata={"help": "samples shown per logged iteration"})
    report_to: str = field(default="none", metadata={"help": "tracker: tensorboard, wandb, all or none"})

    def validate(self) -> None:
        if not self.model_name_or_path:
            raise UserError("--model_name_or_path is required: the starting policy")
        self.model_name_or_path = resolve_model(self.model_name_or_path)
        if self.num_generations < 2:
            raise UserError("--num_generations must be 2 or more: the group is the baseline")
        if self.rollout_batch_size % self.num_generations:
            raise UserError(
                f"--rollout_batch_size {self.rollout_batch_size} must be a multiple of --num_generations "
                f"{self.num_generations}"
            )
        if self.mini_batch_size is not None and (
            self.mini_batch_size < 1 or self.rollout_batch_size % self.mini_batch_size
        ):
            raise UserError("--rollout_batch_size must be a multiple of --mini_batch_size")
        if self.response_length < 1 or self.temperature <= 0 or self.max_steps < 1 or self.num_iterations < 1:
            raise UserError(
                "--response_length, --max_steps and --num_iterations must be ≥ 1, --temperature > 0"
            )
        if self.beta < 0 or self.epsilon <= 0 or (self.epsilon_high is not None and self.epsilon_high <= 0):
            raise UserError("--beta must be ≥ 0, --epsilon and --epsilon_high > 0")
        for name, allowed in (("advantage", ("grpo", "rloo", "reinforce_pp")), ("scale_rewards", ("group", "batch", "none")),
                              ("loss_type", ("grpo", "dr_grpo", "dapo"))):  # fmt: skip
            if getattr(self, name) not in allowed:
                raise UserError(f"--{name} {getattr(self, name)!r}: choose {', '.join(allowed)}")
        if not (self.reward_fn or self.reward_url or self.reward_model_path):
            raise UserError(
                "give a reward: --reward_fn (module:function or check:KIND=VALUE), --reward_url or --reward_model_path"
            )
        if self.use_vllm:
            vllm_generator_available()


def vllm_generator_available() -> None:
    """vLLM generation is optional: refused, with what is missing, where it cannot run."""
    import importlib.util

    if not torch.cuda.is_available():
        raise UserError(
            "--use_vllm needs a CUDA GPU; without one, leave it off (generation uses model.generate)"
        )
    if importlib.util.find_spec("vllm") is None:
        raise UserError("--use_vllm needs vLLM: pip install -e '.[vllm]' (or leave --use_vllm off)")
    raise UserError(
        "--use_vllm is not wired into this loop yet: leave it off (see the README's Online RL section)"
    )


def advantages_for(args: GRPOArguments, rewards: torch.Tensor, logprobs, ref_logprobs, mask) -> torch.Tensor:
    """[B] (grpo, rloo) or [B, T] (reinforce_pp) advantages of one batch of rollouts."""
    if args.advantage == "grpo":
        return core.group_advantages(rewards, args.num_generations, args.scale_rewards)
    if args.advantage == "rloo":
        return core.rloo_advantages(rewards, args.num_generations)
    return core.reinforce_pp_advantages(rewards, logprobs, ref_logprobs, mask, args.beta)


def train(
    args: GRPOArguments, generator: Generator | None = None, rewards: Rewards | None = None
) -> list[dict]:
    """The whole run; returns the per-iteration metrics (also written to ``metrics.jsonl``)."""
    args.validate()
    out = Path(args.output_dir)
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(), log_with=trackers(args.report_to), project_dir=str(out)
    )
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:
        raise RuntimeError(f"launched {launched} processes but accelerate sees {accelerator.num_processes}")
    set_seed(args.seed + accelerator.process_index)
    template_name = checkpoint_template(args.model_name_or_path, args.template)
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    policy = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, dtype=torch.float32)
    ref_policy = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, dtype=torch.float32)
    for m in (policy, ref_policy):
        disable_dropout(m)
    ref_policy.requires_grad_(False).eval()
    rewards = rewards or build_rewards(
        args.reward_fn, args.reward_url, args.reward_token_file, args.reward_model_path, args.reward_weights,
        str(accelerator.device),
    )  # fmt: skip
    prompts, dropped = load_prompts(args, tokenizer, template_name)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=args.learning_rate, eps=1e-8)
    policy, optimizer = accelerator.prepare(policy, optimizer)
    ref_policy.to(accelerator.device)
    generator = generator or HFGenerator(
        args.response_length, args.temperature, args.top_k, args.top_p, pad_id
    )
    if accelerator.log_with:
        accelerator.init_trackers(
            "grpo", config={k: v for k, v in asdict(args).items() if isinstance(v, int | float | str)}
        )
    rng = torch.Generator().manual_seed(args.seed + accelerator.process_index)
    history: list[dict] = []
    groups = args.rollout_batch_size // args.num_generations
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.jsonl").write_text("")
        print(f"GRPO ({args.advantage}, loss {args.loss_type}): {len(prompts)} prompts (dropped {dropped}), "
              f"{args.max_steps} iterations × {groups} prompts × {args.num_generations} completions "
              f"× {accelerator.num_processes} process(es)")  # fmt: skip

    for iteration in range(1, args.max_steps + 1):
        unwrapped = accelerator.unwrap_model(policy)
        t0 = time.perf_counter()
        picks = (
            torch.randint(len(prompts), (groups,), generator=rng)
            .repeat_interleave(args.num_generations)
            .tolist()
        )
        queries, query_mask = pad([prompts[i] for i in picks], pad_id, side="left")
        queries, query_mask = queries.to(accelerator.device), query_mask.to(accelerator.device)
        unwrapped.eval()
        raw = generator(unwrapped, queries, query_mask)
        responses, mask, has_eos = truncate_after_eos(raw, tokenizer.eos_token_id, pad_id)
        t_generate = time.perf_counter() - t0

        t1 = time.perf_counter()
        prompt_texts = [
            tokenizer.decode(q[m.bool()].tolist(), skip_special_tokens=False)
            for q, m in zip(queries, query_mask, strict=True)
        ]
        completions = [
            tokenizer.decode(r[m.bool()].tolist(), skip_special_tokens=True)
            for r, m in zip(responses, mask, strict=True)
        ]
        total, parts = rewards(prompt_texts, completions)
        scores = torch.tensor(total, dtype=torch.float32, device=accelerator.device)
        t_score = time.perf_counter() - t1

        t2 = time.perf_counter()
        if args.mask_truncated_completions:
            mask = mask * has_eos[:, None].float()
        with torch.no_grad():
            old_logprobs, _ = response_logprobs(unwrapped, queries, query_mask, responses, args.temperature)
            ref_logprobs, _ = response_logprobs(ref_policy, queries, query_mask, responses, args.temperature)
            old_logprobs, ref_logprobs = old_logprobs * mask, ref_logprobs * mask
            advantages = advantages_for(args, scores, old_logprobs, ref_logprobs, mask)
            kl_before = (core.k3_kl(old_logprobs, ref_logprobs) * mask).sum() / mask.sum().clamp(min=1)
        t_reference = time.perf_counter() - t2

        t3 = time.perf_counter()
        stats = _update(args, accelerator, policy, optimizer, queries, query_mask, responses, mask, old_logprobs,
                        ref_logprobs, advantages)  # fmt: skip
        t_update = time.perf_counter() - t3

        local = {
            "reward_mean": scores.mean(),
            "reward_std": scores.std() if scores.numel() > 1 else torch.tensor(0.0),
            "kl": kl_before,
            "completion_length": mask.sum(1).float().mean(),
            "eos_rate": has_eos.float().mean(),
            "zero_variance_groups": core.zero_variance_share(scores, args.num_generations),
            **{f"reward/{name}": torch.tensor(values).float().mean() for name, values in parts.items()},
            **stats,
        }
        metrics = {
            k: float(accelerator.gather(v.detach().to(accelerator.device).reshape(1)).mean())
            for k, v in local.items()
        }
        metrics.update(
            iteration=iteration,
            learning_rate=args.learning_rate,
            time_generate=t_generate,
            time_score=t_score,
            time_reference=t_reference,
            time_update=t_update,
        )
        history.append(metrics)
        _log(accelerator, out, metrics, prompt_texts, completions, total, args.sample_rows)

    if accelerator.is_main_process:
        plot_curves(history, out / "grpo_curves.png", "GRPO" if args.advantage == "grpo" else args.advantage)
        unwrapped = accelerator.unwrap_model(policy)
        unwrapped.save_pretrained(str(out / "policy"))
        tokenizer.save_pretrained(str(out / "policy"))
        write_info(out / "policy", "grpo", {"template": template_name})
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return history


def _update(
    args,
    accelerator,
    policy,
    optimizer,
    queries,
    query_mask,
    responses,
    mask,
    old_logprobs,
    ref_logprobs,
    advantages,
) -> dict:
    """``num_iterations`` passes of minibatch updates; stats averaged, plus the very first minibatch's ratio and
    clip fraction (1 and 0 by construction: the policy has not moved yet)."""
    policy.train()
    n = queries.shape[0]
    size = args.mini_batch_size or n
    collected: dict[str, list[torch.Tensor]] = {}
    first: dict[str, torch.Tensor] = {}
    kl_in_loss = args.beta > 0 and args.advantage != "reinforce_pp"
    for _ in range(args.num_iterations):
        order = torch.randperm(n) if size < n else torch.arange(n)
        for start in range(0, n, size):
            idx = order[start : start + size].to(queries.device)
            logp, entropy = response_logprobs(
                policy, queries[idx], query_mask[idx], responses[idx], args.temperature
            )
            m = mask[idx]
            logp = logp * m
            loss, stats = core.clipped_policy_loss(
                logp, old_logprobs[idx], advantages[idx], m, args.epsilon, args.epsilon_high, args.loss_type
            )
            kl = core.aggregate(core.k3_kl(logp, ref_logprobs[idx]), m, args.loss_type)
            if kl_in_loss:
                loss = loss + args.beta * kl
            accelerator.backward(loss)
            if args.max_grad_norm:
                accelerator.clip_grad_norm_(policy.parameters(), args.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
            step = {"loss": loss.detach(), "kl_loss": kl.detach(), "entropy": (entropy.detach() * m).sum() / m.sum().clamp(min=1),
                    **{k: v.detach() for k, v in stats.items()}}  # fmt: skip
            if not first:
                first = {"first_ratio": stats["ratio"].detach(), "first_clipfrac": stats["clipfrac"].detach()}
            for k, v in step.items():
                collected.setdefault(k, []).append(v)
    return {**{k: torch.stack(v).mean() for k, v in collected.items()}, **first}


def _log(accelerator, out: Path, metrics: dict, prompts, completions, scores, rows: int) -> None:
    if accelerator.num_processes > 1:  # every rank keeps its own copy: they must agree
        with (out / f"metrics-rank{accelerator.process_index}.jsonl").open("a") as f:
            f.write(json.dumps(metrics) + "\n")
    if not accelerator.is_main_process:
        return
    with (out / "metrics.jsonl").open("a") as f:
        f.write(json.dumps(metrics) + "\n")
    if accelerator.log_with:
        accelerator.log(
            {f"grpo/{k}": v for k, v in metrics.items() if k != "iteration"}, step=metrics["iteration"]
        )
    print(
        f"iter {metrics['iteration']:4d}  reward {metrics['reward_mean']:+.3f} ± {metrics['reward_std']:.3f}  "
        f"kl {metrics['kl']:.4f}  clipfrac {metrics['clipfrac']:.3f}  length {metrics['completion_length']:.1f}  "
        f"flat groups {metrics['zero_variance_groups']:.2f}  "
        f"gen/score/ref/update {metrics['time_generate']:.1f}/{metrics['time_score']:.1f}/"
        f"{metrics['time_reference']:.1f}/{metrics['time_update']:.1f}s"
    )
    for completion, score in list(zip(completions, scores, strict=True))[:rows]:
        print(f"    {score:+.2f} │ {completion[:110]!r}")


def plot_curves(history: list[dict], path: Path, title: str) -> None:
    """Reward, KL to the reference, and reward against KL (over-optimisation shows as reward bought with KL)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = [h["iteration"] for h in history]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.5), dpi=110)
    for ax, key, label in zip(axes[:3], ("reward_mean", "kl", "completion_length"),
                              ("reward", "KL to the reference (k3, per token)", "completion length"), strict=True):  # fmt: skip
        ax.plot(it, [h[key] for h in history], color="#4C72B0")
        ax.set_xlabel("iteration")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[3].scatter(
        [h["kl"] for h in history], [h["reward_mean"] for h in history], c=it, cmap="viridis", s=12
    )
    axes[3].set_xlabel("KL to the reference")
    axes[3].set_ylabel("reward")
    axes[3].set_title("reward vs KL (colour: iteration)")
    axes[3].grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
