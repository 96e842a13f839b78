"""Online RL without a critic (``llm-train grpo``): GRPO, Dr. GRPO, DAPO, RLOO and REINFORCE++ in one loop.

    llm-train grpo --model_name_or_path runs/sft --data_files prompts.jsonl --reward_fn check:ending=? \\
        --num_generations 8 --advantage grpo --beta 0.04 --output_dir runs/grpo

Each iteration, top to bottom (the run, prompt, sampling and reward flags are ``ppo``'s, declared once in
:mod:`llm.train.online.args`; the math is :mod:`llm.train.grpo.core`):

    rollout    ``rollout_batch_size / num_generations`` prompts, ``num_generations`` completions each
               (sampled at ``temperature``; ``model.generate``, or a colocated vLLM engine with ``--use_vllm``),
               cut after the first EOS. ``--env`` names the episode source (:mod:`llm.train.online.environments`):
               with ``roleplay`` a prompt is an episode instead: an instruction
               given once, ``--turns`` replies to a simulated user (:mod:`llm.train.online.episodes`);
               ``--env_guided k`` of each group sample with the instruction at every turn (GAtt's sampling)
               and are trained as if it was given once: off-policy guidance for a behaviour never sampled
    reward     the weighted sum of the reward sources (:mod:`llm.train.rewards`): functions, checks, a reward
               server, a reward model; a completion that never ended can be left out (``--mask_truncated_completions``)
               or scored ``--missing_eos_penalty``; episodes add the instruction's check per turn and combine
               turns by ``--turn_reward``; ``--held_out_reward`` sources are logged, never optimised
    advantage  ``grpo``: group-normalised (``--scale_rewards group|batch|none``; none is Dr. GRPO); ``rloo``:
               leave-one-out baseline; ``reinforce_pp``: per-token KL in the reward, batch-whitened returns
    update     ``--num_iterations`` passes of clipped updates (``--epsilon``, ``--epsilon_high`` for DAPO's
               clip-higher) with the loss aggregated by ``--loss_type grpo|dr_grpo|dapo``, plus ``β`` · the k3
               KL to the reference (``--beta``; REINFORCE++ puts it in the reward instead), minus an
               optional entropy bonus (``--entropy_coef``)
    log        metrics.jsonl (reward mean and std, each source's mean, KL, clip fraction, completion length,
               share of groups with zero reward variance, time split; sums over all processes, so N processes
               log what one would), a few samples; PNG curves at the end (reward against KL among them)

Guided episodes are trained with the same clipped loss and no importance weight: their ratio's denominator
is the policy's own probability of the guided reply in the unguided conversation (1 on the first pass), so
a guided reply with a positive advantage is learnt as a GAtt sample would be, weighted by its advantage. The
bias is deliberate: the true weight (the reply's probability without the reminder over its probability with
it) is about 0 for exactly the replies worth learning.

There is no value model: the group of completions of the same prompt is the baseline. The reference model is
the starting policy, frozen; the KL to it is reported every iteration whether or not it is in the loss.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llm.data.encode import Encoder
from llm.errors import UserError
from llm.inference.rollout import Generator, HFGenerator, VLLMGenerator
from llm.models.checkpoint import checkpoint_template
from llm.models.reward import disable_dropout
from llm.train.grpo import core
from llm.train.online.args import (
    GroupArguments,
    PromptArguments,
    RewardArguments,
    RunArguments,
    SamplingArguments,
    retuned,
)
from llm.train.online.environments import ENVIRONMENTS
from llm.train.online.metrics import exact_means, part_metric, plot_curves, process_sum, record
from llm.train.online.roleplay import RoleplayArguments
from llm.train.online.run import claim_output, close_run, open_run, start_accelerator
from llm.train.online.source import Batch, Setup, config_of
from llm.train.rewards import Rewards

KL_UNIT = "k3 per token"  # what the ``kl`` metric measures
ENV_HELP = (
    "the episode source: single_turn (prompts, G completions each), roleplay (an episode is a conversation, the "
    "policy replies at every turn), or one added to llm.train.online.environments"
)


@dataclass
class EstimatorArguments:
    """The advantage estimator and the clipped loss."""

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
    entropy_coef: float = field(
        default=0.0,
        metadata={
            "help": "entropy bonus: the loss minus this × the policy tokens' entropy (as verl's entropy_coeff); "
            "keeps a rarely sampled behaviour from dying out before it is rewarded"
        },
    )
    epsilon: float = field(default=0.2, metadata={"help": "ratio clip (low side)"})
    epsilon_high: float | None = field(default=None, metadata={"help": "ratio clip, high side (DAPO: 0.28)"})
    num_iterations: int = field(default=1, metadata={"help": "updates per batch of rollouts"})
    mini_batch_size: int | None = field(
        default=None, metadata={"help": "completions per optimiser step (default: all)"}
    )

    def check_estimator(self) -> None:
        if self.beta < 0 or self.epsilon <= 0 or (self.epsilon_high is not None and self.epsilon_high <= 0):
            raise UserError("--beta must be ≥ 0, --epsilon and --epsilon_high > 0")
        if self.entropy_coef < 0:
            raise UserError(f"--entropy_coef {self.entropy_coef}: must be ≥ 0 (a bonus; 0 for none)")
        for name, allowed in (("advantage", ("grpo", "rloo", "reinforce_pp")), ("scale_rewards", ("group", "batch", "none")),
                              ("loss_type", ("grpo", "dr_grpo", "dapo"))):  # fmt: skip
            if getattr(self, name) not in allowed:
                raise UserError(f"--{name} {getattr(self, name)!r}: choose {', '.join(allowed)}")


@dataclass
class EngineArguments:
    """What samples single-turn completions: ``model.generate``, or a colocated vLLM engine."""

    use_vllm: bool = field(
        default=False, metadata={"help": "generate with a colocated vLLM engine (GPU, extra vllm)"}
    )
    vllm_gpu_memory_utilization: float = field(
        default=0.3, metadata={"help": "--use_vllm: share of the GPU's memory vLLM may take"}
    )


@dataclass
class GRPOArguments(
    RunArguments, PromptArguments, SamplingArguments, GroupArguments, RewardArguments, RoleplayArguments,
    EngineArguments, EstimatorArguments,
):  # fmt: skip
    """Critic-free online RL. Defaults follow DeepSeekMath's GRPO unless a comment says otherwise."""

    output_dir: str = retuned(RunArguments, "output_dir", "runs/grpo")
    learning_rate: float = retuned(RunArguments, "learning_rate", 1e-6, help="constant")
    env: str = field(default="single_turn", metadata={"help": ENV_HELP})
    env_options: list[str] | None = field(
        default=None, metadata={"help": "NAME=VALUE for a field of the --env's config that no flag sets"}
    )

    def environment(self) -> tuple[type, Any]:
        """The ``--env`` source class and its config, built from these flags and checked."""
        if self.env not in ENVIRONMENTS:
            raise UserError(f"--env {self.env!r}: choose {', '.join(ENVIRONMENTS)}")
        source, config_class = ENVIRONMENTS[self.env]
        return source, config_of(config_class, self, self.env_options)

    def validate(self) -> None:
        self.check_run("grpo", "the starting policy")
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
        self.check_estimator()
        source, config = self.environment()
        if getattr(config, "env_reward", None) == "gated" and not self.reward_count:
            raise UserError(
                "--env_reward gated: give the reward the check gates (--reward_fn, --reward_url or "
                "--reward_model_path)"
            )
        if getattr(config, "turn_reward", None) == "turn" and self.advantage == "reinforce_pp":
            raise UserError("--turn_reward turn needs --advantage grpo or rloo (advantages within a group)")
        if self.use_vllm:
            if source is not ENVIRONMENTS["single_turn"][0]:
                raise UserError(
                    f"--use_vllm samples single-turn completions; --env {self.env} uses model.generate"
                )
            vllm_generator_available()
        self.check_rewards(required=not config.rewards_optional)  # last: imports the functions


def vllm_generator_available() -> None:
    """vLLM generation is optional: refused, with what is missing, where it cannot run."""
    import importlib.util

    if not torch.cuda.is_available():
        raise UserError(
            "--use_vllm needs a CUDA GPU; without one, leave it off (generation uses model.generate)"
        )
    if importlib.util.find_spec("vllm") is None:
        raise UserError("--use_vllm needs vLLM: pip install -e '.[vllm]' (or leave --use_vllm off)")


def advantages_for(
    args: EstimatorArguments, group_size: int, rewards: torch.Tensor, logprobs, ref_logprobs, mask,
    reduce: core.Reduce,
) -> torch.Tensor:  # fmt: skip
    """[B] (grpo, rloo) or [B, T] (reinforce_pp) advantages of one batch of rollouts, ``group_size`` each."""
    if args.advantage == "grpo":
        return core.group_advantages(rewards, group_size, args.scale_rewards, reduce=reduce)
    if args.advantage == "rloo":
        return core.rloo_advantages(rewards, group_size)
    return core.reinforce_pp_advantages(rewards, logprobs, ref_logprobs, mask, args.beta, reduce)


def generator_for(args: GRPOArguments, pad_id: int, seed: int, generator: Generator | None) -> Generator:
    """The given generator, else a colocated vLLM engine (``--use_vllm``), else ``model.generate``."""
    if generator is None and args.use_vllm:
        generator = VLLMGenerator.colocated(
            args.model_name_or_path, args.response_length, args.temperature, args.top_k, args.top_p, pad_id,
            args.vllm_gpu_memory_utilization, seed,
        )  # fmt: skip
    return generator or HFGenerator(args.response_length, args.temperature, args.top_k, args.top_p, pad_id)


def train(
    args: GRPOArguments, generator: Generator | None = None, rewards: Rewards | None = None
) -> list[dict]:
    """The whole run; returns the per-iteration metrics (also written to ``metrics.jsonl``)."""
    args.validate()
    out = claim_output(args, "grpo")
    accelerator = start_accelerator(args.report_to, out, args.seed, args.ddp_timeout)
    template_name = checkpoint_template(args.model_name_or_path, args.template)
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    policy = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, dtype=torch.float32)
    ref_policy = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, dtype=torch.float32)
    for m in (policy, ref_policy):
        disable_dropout(m)
    ref_policy.requires_grad_(False).eval()
    encoder = Encoder(tokenizer, template_name)
    source_class, config = args.environment()
    if rewards is None:
        rewards = args.build(str(accelerator.device), optional=config.rewards_optional)
    optimizer = torch.optim.AdamW(
        policy.parameters(), lr=args.learning_rate, eps=1e-8, weight_decay=args.weight_decay
    )
    policy, optimizer = accelerator.prepare(policy, optimizer)
    ref_policy.to(accelerator.device)
    generator = generator_for(args, pad_id, args.seed + accelerator.process_index, generator)
    source = source_class.build(config, Setup(tokenizer, template_name, rewards, generator))
    if accelerator.log_with:
        accelerator.init_trackers(
            "grpo", config={k: v for k, v in asdict(args).items() if isinstance(v, int | float | str)}
        )
    # Every process draws the same prompts (or instructions) for the whole batch and takes its share, so that
    # N processes roll out what one process would; the sampling itself is seeded per process.
    shared_rng = torch.Generator().manual_seed(args.seed)
    history: list[dict] = []
    groups = args.rollout_batch_size // args.num_generations
    share = slice(accelerator.process_index * groups, (accelerator.process_index + 1) * groups)

    def draw(choices: int) -> list[int]:
        return torch.randint(choices, (groups * accelerator.num_processes,), generator=shared_rng)[
            share
        ].tolist()

    reduce = process_sum(accelerator)
    open_run(accelerator, out, f"GRPO ({args.advantage}, loss {args.loss_type}): {source.describe()}, "
                               f"{args.max_steps} iterations × {groups} groups × {args.num_generations} × "
                               f"{accelerator.num_processes} process(es)")  # fmt: skip

    for iteration in range(1, args.max_steps + 1):
        unwrapped = accelerator.unwrap_model(policy)
        t0 = time.perf_counter()
        batch = source.rollout(unwrapped, encoder, draw, accelerator.device)
        t_generate, t_score = batch.t_generate, time.perf_counter() - t0 - batch.t_generate
        mask, scores = batch.mask, batch.scores

        t2 = time.perf_counter()
        reuse = single_update(args, len(scores))  # then the update's own forward gives the old log-probs
        with torch.no_grad():
            old_logprobs = None if reuse else batch.forward(unwrapped, None)[0] * mask
            ref_logprobs = batch.forward(ref_policy, None)[0] * mask
            if batch.turn_scores is None:
                advantages = advantages_for(
                    args, args.num_generations, scores, old_logprobs, ref_logprobs, mask, reduce
                )
            else:  # --turn_reward turn: each turn against the group at the same turn, on that turn's tokens
                per_turn = [
                    advantages_for(args, args.num_generations, column, None, None, None, reduce)
                    for column in batch.turn_scores.T
                ]
                advantages = core.spread_over_turns(torch.stack(per_turn, dim=1), batch.turn_of)
            kl_before = None if reuse else (core.k3_kl(old_logprobs, ref_logprobs) * mask).sum()
        t_reference = time.perf_counter() - t2

        t3 = time.perf_counter()
        stats = _update(
            args, accelerator, policy, optimizer, batch, old_logprobs, ref_logprobs, advantages, reduce,
            args.max_grad_norm,
        )  # fmt: skip
        if hasattr(generator, "sync"):  # a vLLM engine samples the next batch from the updated policy
            generator.sync(accelerator.unwrap_model(policy))
        t_update = time.perf_counter() - t3
        if kl_before is None:  # measured in the update's forward, before its step
            kl_before = stats.pop("kl_before")

        n = float(len(scores))
        tallies = {  # name: (sum, count) on this process; the metric is Σ sums / Σ counts over processes
            "reward_mean": (scores.sum(), n),
            "kl": (kl_before, mask.sum()),
            "completion_length": (mask.sum(), n),
            "eos_rate": (batch.has_eos.float().sum(), n),
            "zero_variance_groups": (core.zero_variance_groups(scores, args.num_generations), n / args.num_generations),
            **{part_metric(name): (sum(values), len(values)) for name, values in batch.parts.items()},
            **stats,
        }  # fmt: skip
        metrics = exact_means(tallies, reduce, optional={part_metric(name) for name in batch.parts})
        metrics["reward_std"] = float(core.masked_std(scores, torch.ones_like(scores), reduce))
        metrics.update(
            iteration=iteration,
            learning_rate=args.learning_rate,
            time_generate=t_generate,
            time_score=t_score,
            time_reference=t_reference,
            time_update=t_update,
        )
        history.append(metrics)
        _log(accelerator, out, metrics, batch.completions, scores.tolist(), args.sample_rows)

    if accelerator.is_main_process:
        plot_curves(
            history, out / "grpo_curves.png",
            [("reward_mean", "reward"), ("kl", "KL to the reference (k3, per token)"), ("completion_length", "completion length")],
            ("kl", "KL to the reference (k3, per token)"), "reward_mean",
            "GRPO" if args.advantage == "grpo" else args.advantage,
        )  # fmt: skip
    close_run(accelerator, out, "grpo", accelerator.unwrap_model(policy), tokenizer, template_name)
    return history


def single_update(args: GRPOArguments, rollouts: int) -> bool:
    """Whether an iteration makes one optimiser step from the policy that sampled it (one pass, one minibatch,
    advantages that do not read the policy's log-probs): the update's forward then *is* the old policy's, so
    its detached log-probs are the old ones (ratio 1, as TRL does) and a separate no-grad forward over every
    rollout is saved.

    >>> single_update(GRPOArguments(), 64), single_update(GRPOArguments(num_iterations=2), 64)
    (True, False)
    >>> single_update(GRPOArguments(mini_batch_size=16), 64), single_update(GRPOArguments(advantage="reinforce_pp"), 64)
    (False, False)
    """
    one_batch = (args.mini_batch_size or rollouts) >= rollouts
    return args.num_iterations == 1 and one_batch and args.advantage != "reinforce_pp"


def _update(
    args: EstimatorArguments, accelerator, policy, optimizer, batch: Batch, old_logprobs, ref_logprobs, advantages,
    reduce, max_grad_norm: float,
) -> dict:  # fmt: skip
    """``num_iterations`` passes of minibatch updates. Returns ``{name: (sum, count)}`` tallies: the loss
    per optimiser step, entropy, ratio and clip fraction per token, and the very first minibatch's ratio and
    clip fraction (1 and 0 by construction: the policy has not moved yet). ``old_logprobs`` None
    (:func:`single_update`): the first forward's own, detached; ``kl_before`` then holds the summed k3 KL of
    that forward to the reference."""
    policy.train()
    mask = batch.mask
    n = mask.shape[0]
    size = args.mini_batch_size or n
    kl_in_loss = args.beta > 0 and args.advantage != "reinforce_pp"
    zero = torch.zeros((), dtype=torch.float64)
    tallies = {name: [zero, zero] for name in ("loss", "kl_loss", "entropy", "ratio", "clipfrac")}

    def add(name: str, total: torch.Tensor, count: torch.Tensor | float) -> None:
        tallies[name][0] = tallies[name][0] + float(total)
        tallies[name][1] = tallies[name][1] + float(count)

    first: dict[str, tuple] = {}
    for _ in range(args.num_iterations):
        order = torch.randperm(n) if size < n else torch.arange(n)
        for start in range(0, n, size):
            idx = order[start : start + size].to(mask.device)
            m = mask[idx]
            # DAPO's token-level mean is over the minibatch of every process: data parallelism then averages
            # the processes' gradients, so each divides by the average token count of a process.
            tokens = (
                reduce(m.sum().detach()) / accelerator.num_processes if args.loss_type == "dapo" else None
            )
            logp, entropy = batch.forward(policy, idx)
            logp = logp * m
            token_kl = core.k3_kl(logp, ref_logprobs[idx])
            if old_logprobs is None:  # one step from the sampling policy: this forward is the old policy's
                old = logp.detach()
                kl_before = (token_kl.detach() * m).sum()
            else:
                old = old_logprobs[idx]
            loss, stats = core.clipped_policy_loss(
                logp, old, advantages[idx], m, args.epsilon, args.epsilon_high, args.loss_type,
                tokens, batch.max_length,
            )  # fmt: skip
            kl = core.aggregate(token_kl, m, args.loss_type, tokens, batch.max_length)
            if kl_in_loss:
                loss = loss + args.beta * kl
            if args.entropy_coef:  # aggregated as the policy loss is, so the two keep their ratio
                bonus = core.aggregate(entropy, m, args.loss_type, tokens, batch.max_length)
                loss = loss - args.entropy_coef * bonus
            accelerator.backward(loss)
            if max_grad_norm:
                accelerator.clip_grad_norm_(policy.parameters(), max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
            add("loss", loss.detach(), 1)
            add("kl_loss", kl.detach(), 1)
            add("entropy", (entropy.detach() * m).sum(), stats["tokens"])
            add("ratio", stats["ratio_sum"].detach(), stats["tokens"])
            add("clipfrac", stats["clipped"], stats["tokens"])
            if not first:
                first = {
                    "first_ratio": (stats["ratio_sum"].detach(), stats["tokens"]),
                    "first_clipfrac": (stats["clipped"], stats["tokens"]),
                }
    before = {"kl_before": kl_before} if old_logprobs is None else {}
    return {**{name: tuple(pair) for name, pair in tallies.items()}, **first, **before}


def _log(accelerator, out: Path, metrics: dict, completions, scores, rows: int) -> None:
    if not record(accelerator, out, metrics, "grpo"):
        return
    print(
        f"iter {metrics['iteration']:4d}  reward {metrics['reward_mean']:+.3f} ± {metrics['reward_std']:.3f}  "
        f"kl {metrics['kl']:.4f}  clipfrac {metrics['clipfrac']:.3f}  length {metrics['completion_length']:.1f}  "
        f"flat groups {metrics['zero_variance_groups']:.2f}  "
        f"gen/score/ref/update {metrics['time_generate']:.1f}/{metrics['time_score']:.1f}/"
        f"{metrics['time_reference']:.1f}/{metrics['time_update']:.1f}s"
    )
    for completion, score in list(zip(completions, scores, strict=True))[:rows]:
        print(f"    {score:+.2f} │ {completion[:110]!r}")
