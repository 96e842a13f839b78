"""Online RL without a critic (``llm-train grpo``): GRPO, Dr. GRPO, DAPO, RLOO and REINFORCE++ in one loop.

    llm-train grpo --model_name_or_path runs/sft --data_files prompts.jsonl --reward_fn check:ending=? \\
        --num_generations 8 --advantage grpo --beta 0.04 --output_dir runs/grpo

Each iteration, top to bottom (the same data, generation, reward and logging flags as ``ppo`` where they
mean the same; the math is :mod:`llm.train.grpo.core`):

    rollout    ``rollout_batch_size / num_generations`` prompts, ``num_generations`` completions each
               (sampled at ``temperature``; ``model.generate``, or a colocated vLLM engine with ``--use_vllm``),
               cut after the first EOS. With ``--env roleplay`` a prompt is an episode instead: an instruction
               given once, ``--turns`` replies to a simulated user (:mod:`llm.train.grpo.episodes`);
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

import json
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llm.data.collate import pad
from llm.data.conversation import Message
from llm.data.encode import Encoder
from llm.data.output import finish_run
from llm.errors import UserError
from llm.eval.checks import DEFAULT_CHECKS, SHOWN_KINDS, Check
from llm.eval.instructions import load_checks
from llm.eval.simulate import ListedUserTurns, ModelUserSide, UserSide
from llm.inference.repliers import LocalReplier, Sampling
from llm.inference.rollout import Generator, HFGenerator, VLLMGenerator
from llm.models.checkpoint import checkpoint_template, write_info
from llm.models.loading import load_for_inference
from llm.models.resolve import resolve_model
from llm.models.reward import disable_dropout
from llm.train.grpo import core
from llm.train.grpo.episodes import (
    Episode,
    RoleplayEnv,
    Unasked,
    batch_of,
    exclusive,
    run_episodes,
    sequence_logprobs,
    turn_reward,
)
from llm.train.ppo.core import penalize_missing_eos, truncate_after_eos
from llm.train.ppo.trainer import PromptArguments, load_prompts, require_checkpoint_kinds, response_logprobs
from llm.train.rewards import HELD_OUT_HELP, Rewards, build_rewards, reward_from_spec
from llm.train.rl_metrics import claim_output, reward_vs_kl, start_accelerator
from llm.train.saving import save_final


@dataclass
class GRPOArguments(PromptArguments):
    """Critic-free online RL. Defaults follow DeepSeekMath's GRPO unless a comment says otherwise."""

    model_name_or_path: str = field(
        default=None, metadata={"help": "the starting policy (and the reference)"}
    )
    output_dir: str = field(default="runs/grpo", metadata={"help": "where metrics, curves and the policy go"})
    overwrite: bool = field(
        default=False,
        metadata={"help": "replace a run of ours in --output_dir (never a folder of other files)"},
    )
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
    held_out_reward: list[str] | None = field(default=None, metadata={"help": HELD_OUT_HELP})
    # sampling
    num_generations: int = field(default=8, metadata={"help": "G: completions per prompt"})
    response_length: int = field(default=64, metadata={"help": "most new tokens per completion"})
    temperature: float = field(
        default=1.0, metadata={"help": "sampling temperature; log-probs use logits/T too"}
    )
    top_k: int = field(default=0, metadata={"help": "0: off"})
    top_p: float = field(default=1.0, metadata={"help": "1: off"})
    missing_eos_penalty: float | None = field(
        default=None, metadata={"help": "the score of completions that never reached EOS (as ppo's)"}
    )
    mask_truncated_completions: bool = field(
        default=False, metadata={"help": "leave completions that never reached EOS out of the loss (DAPO)"}
    )
    use_vllm: bool = field(
        default=False, metadata={"help": "generate with a colocated vLLM engine (GPU, extra vllm)"}
    )
    vllm_gpu_memory_utilization: float = field(
        default=0.3, metadata={"help": "--use_vllm: share of the GPU's memory vLLM may take"}
    )
    # multi-turn episodes
    env: Literal["none", "roleplay"] = field(
        default="none",
        metadata={"help": "roleplay: an episode is a conversation, the policy replies at every turn"},
    )
    env_checks: str | None = field(
        default=None,
        metadata={"help": "roleplay: checks file or instruction pool (default: the bundled checks)"},
    )
    env_user_turns: list[str] | None = field(
        default=None,
        metadata={"help": "roleplay: chat files whose user turns the user says (default: bundled)"},
    )
    env_user_model: str | None = field(
        default=None,
        metadata={"help": "roleplay: a checkpoint that plays the user (after a listed first turn)"},
    )
    env_user_template: str | None = field(
        default=None, metadata={"help": "roleplay: chat template of --env_user_model (default: its own)"}
    )
    turns: int = field(default=4, metadata={"help": "roleplay: policy turns per episode"})
    turn_reward: Literal["mean", "min", "last", "turn"] = field(
        default="mean",
        metadata={
            "help": "roleplay: an episode's reward from its turns' (mean, min, last), or turn: each turn's tokens "
            "get that turn's advantage, its reward against the group's at the same turn"
        },
    )
    env_placement: Literal["system", "first_user"] = field(
        default="first_user", metadata={"help": "roleplay: where the instruction is given, once"}
    )
    user_name: str = field(default="User", metadata={"help": "roleplay: the user's name"})
    env_controls: float = field(
        default=0.0,
        metadata={
            "help": "roleplay: share of groups given no instruction, each reply rewarded when it does none of "
            "what the instructions ask (language, ending): without them RL can win by always obeying"
        },
    )
    env_guided: int = field(
        default=0,
        metadata={
            "help": "roleplay: episodes per group (of --num_generations) sampled with the instruction attached to "
            "every user turn (GAtt's sampling) and trained as if given once: how RL finds an instruction kept "
            "for many turns when the policy never samples one; the rest of the group is the on-policy baseline"
        },
    )
    env_exclusive: bool = field(
        default=False,
        metadata={
            "help": "roleplay: a reply passes its check only when it also shows none of the other checks' "
            "behaviours (languages, endings): told to answer in French, a French reply ending in '?' fails"
        },
    )
    env_reward: Literal["sum", "gated"] = field(
        default="sum",
        metadata={
            "help": "roleplay: a reply's reward is its check plus the reward sources (sum), or the sources only "
            "when it passes its check, else 0 (gated: obeying with a bad reply earns nothing, and neither "
            "does a good reply that ignores the instruction)"
        },
    )
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
    # optimisation
    max_steps: int = field(default=100, metadata={"help": "iterations"})
    rollout_batch_size: int = field(default=64, metadata={"help": "completions per iteration per process"})
    learning_rate: float = field(default=1e-6, metadata={"help": "constant"})
    weight_decay: float = field(
        default=0.0,
        metadata={
            "help": "AdamW's decoupled weight decay (0, as TrainingArguments and TRL default; torch's own is 0.01)"
        },
    )
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping"})
    seed: int = field(default=0, metadata={"help": "base seed; each process adds its rank"})
    sample_rows: int = field(default=2, metadata={"help": "samples shown per logged iteration"})
    report_to: str = field(default="none", metadata={"help": "tracker: tensorboard, wandb, all or none"})

    def validate(self) -> None:
        if not self.model_name_or_path:
            raise UserError("--model_name_or_path is required: the starting policy")
        self.model_name_or_path = resolve_model(self.model_name_or_path)
        require_checkpoint_kinds(self, "grpo")
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
        if self.entropy_coef < 0:
            raise UserError(f"--entropy_coef {self.entropy_coef}: must be ≥ 0 (a bonus; 0 for none)")
        for name, allowed in (("advantage", ("grpo", "rloo", "reinforce_pp")), ("scale_rewards", ("group", "batch", "none")),
                              ("loss_type", ("grpo", "dr_grpo", "dapo"))):  # fmt: skip
            if getattr(self, name) not in allowed:
                raise UserError(f"--{name} {getattr(self, name)!r}: choose {', '.join(allowed)}")
        if self.env not in ("none", "roleplay"):
            raise UserError(f"--env {self.env!r}: choose none or roleplay")
        if self.env == "roleplay":
            if not 0.0 <= self.env_controls < 1.0:
                raise UserError(f"--env_controls {self.env_controls}: a share in [0, 1)")
            if self.env_user_turns and self.env_user_model:
                raise UserError(
                    "give --env_user_turns (listed) or --env_user_model (a model plays the user), not both"
                )
            if self.turns < 1:
                raise UserError(f"--turns {self.turns}: must be 1 or more")
            if self.turn_reward not in ("mean", "min", "last", "turn"):
                raise UserError(f"--turn_reward {self.turn_reward!r}: choose mean, min, last or turn")
            if not 0 <= self.env_guided < self.num_generations:
                raise UserError(
                    f"--env_guided {self.env_guided}: between 0 and --num_generations − 1 "
                    f"({self.num_generations - 1}); a group needs on-policy episodes to be the guided ones' baseline"
                )
            if self.env_reward not in ("sum", "gated"):
                raise UserError(f"--env_reward {self.env_reward!r}: choose sum or gated")
            if self.env_reward == "gated" and not (
                self.reward_fn or self.reward_url or self.reward_model_path
            ):
                raise UserError(
                    "--env_reward gated: give the reward the check gates (--reward_fn, --reward_url or "
                    "--reward_model_path)"
                )
            if self.turn_reward == "turn" and self.advantage == "reinforce_pp":
                raise UserError(
                    "--turn_reward turn needs --advantage grpo or rloo (advantages within a group)"
                )
        elif not (self.reward_fn or self.reward_url or self.reward_model_path):
            raise UserError(
                "give a reward: --reward_fn (module:function or check:KIND=VALUE), --reward_url or --reward_model_path"
            )
        if self.use_vllm:
            if self.env != "none":
                raise UserError(
                    "--use_vllm samples single-turn completions; --env roleplay uses model.generate"
                )
            vllm_generator_available()
        for spec in self.reward_fn or []:
            reward_from_spec(spec)  # a function imported and checked, a check parsed: last, before any model


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
    args: GRPOArguments, rewards: torch.Tensor, logprobs, ref_logprobs, mask, reduce: core.Reduce
) -> torch.Tensor:
    """[B] (grpo, rloo) or [B, T] (reinforce_pp) advantages of one batch of rollouts."""
    if args.advantage == "grpo":
        return core.group_advantages(rewards, args.num_generations, args.scale_rewards, reduce=reduce)
    if args.advantage == "rloo":
        return core.rloo_advantages(rewards, args.num_generations)
    return core.reinforce_pp_advantages(rewards, logprobs, ref_logprobs, mask, args.beta, reduce)


def _part_metric(name: str) -> str:
    """``reward/NAME`` for a part of the reward, ``held_out/NAME`` (as named) for one never optimised."""
    return name if name.startswith("held_out/") else f"reward/{name}"


def exact_means(
    tallies: dict[str, tuple[Any, Any]], reduce: core.Reduce, optional: Collection[str] = ()
) -> dict[str, float]:
    """``{name: (sum, count)}`` of this process → ``{name: Σ sums ÷ Σ counts}`` over all processes, in one
    collective call (a mean of per-process means would weigh a process with fewer tokens as much). Every
    process must pass the same names in the same order; a name in ``optional`` that no process counted
    (an instruction nobody drew this iteration) is left out rather than logged as 0.

    >>> exact_means({"kl": (torch.tensor(3.0), 4), "empty": (0.0, 0)}, lambda t: t)
    {'kl': 0.75, 'empty': 0.0}
    >>> exact_means({"kl": (torch.tensor(3.0), 4), "empty": (0.0, 0)}, lambda t: t, optional={"empty"})
    {'kl': 0.75}
    """
    pairs = torch.tensor(
        [[float(total), float(count)] for total, count in tallies.values()], dtype=torch.float64
    )
    summed = reduce(pairs).tolist()
    return {
        name: (total / count if count else 0.0)
        for name, (total, count) in zip(tallies, summed, strict=True)
        if count or name not in optional
    }


def train(
    args: GRPOArguments, generator: Generator | None = None, rewards: Rewards | None = None
) -> list[dict]:
    """The whole run; returns the per-iteration metrics (also written to ``metrics.jsonl``)."""
    args.validate()
    claim_output(args, "grpo")
    out = Path(args.output_dir)
    accelerator = start_accelerator(args.report_to, out, args.seed)
    template_name = checkpoint_template(args.model_name_or_path, args.template)
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    policy = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, dtype=torch.float32)
    ref_policy = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, dtype=torch.float32)
    for m in (policy, ref_policy):
        disable_dropout(m)
    ref_policy.requires_grad_(False).eval()
    encoder = Encoder(tokenizer, template_name)
    if rewards is None and (
        args.reward_fn or args.reward_url or args.reward_model_path or args.held_out_reward
    ):
        rewards = build_rewards(
            args.reward_fn, args.reward_url, args.reward_token_file, args.reward_model_path, args.reward_weights,
            str(accelerator.device), args.held_out_reward or (), optional=args.env == "roleplay",
        )  # fmt: skip
    if args.env == "roleplay":
        episodes_source = RoleplayEpisodes(args, *roleplay_user_side(args), rewards)
        prompts, dropped = [], {}
    else:
        prompts, dropped = load_prompts(args, tokenizer, template_name)
    optimizer = torch.optim.AdamW(
        policy.parameters(), lr=args.learning_rate, eps=1e-8, weight_decay=args.weight_decay
    )
    policy, optimizer = accelerator.prepare(policy, optimizer)
    ref_policy.to(accelerator.device)
    if generator is None and args.use_vllm:
        generator = VLLMGenerator.colocated(
            args.model_name_or_path, args.response_length, args.temperature, args.top_k, args.top_p, pad_id,
            args.vllm_gpu_memory_utilization, args.seed + accelerator.process_index,
        )  # fmt: skip
    generator = generator or HFGenerator(
        args.response_length, args.temperature, args.top_k, args.top_p, pad_id
    )
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

    def reduce(t: torch.Tensor) -> torch.Tensor:
        return accelerator.reduce(t.to(accelerator.device), reduction="sum")

    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.jsonl").write_text("")  # ours: claim_output refused any other folder
        what = (
            f"{args.turns}-turn role-play episodes"
            if args.env == "roleplay"
            else f"{len(prompts)} prompts (dropped {dropped})"
        )
        print(f"GRPO ({args.advantage}, loss {args.loss_type}): {what}, {args.max_steps} iterations × {groups} "
              f"groups × {args.num_generations} × {accelerator.num_processes} process(es)")  # fmt: skip

    for iteration in range(1, args.max_steps + 1):
        unwrapped = accelerator.unwrap_model(policy)
        t0 = time.perf_counter()
        if args.env == "roleplay":
            batch = episodes_source.rollout(unwrapped, encoder, draw, accelerator.device)
        else:
            picks = draw(len(prompts))
            batch = single_turn_rollout(args, unwrapped, generator, tokenizer, prompts, picks, pad_id, rewards,
                                        accelerator.device)  # fmt: skip
        t_generate, t_score = batch.t_generate, time.perf_counter() - t0 - batch.t_generate
        mask, scores = batch.mask, batch.scores

        t2 = time.perf_counter()
        reuse = single_update(args, len(scores))  # then the update's own forward gives the old log-probs
        with torch.no_grad():
            old_logprobs = None if reuse else batch.forward(unwrapped, None)[0] * mask
            ref_logprobs = batch.forward(ref_policy, None)[0] * mask
            if batch.turn_scores is None:
                advantages = advantages_for(args, scores, old_logprobs, ref_logprobs, mask, reduce)
            else:  # --turn_reward turn: each turn against the group at the same turn, on that turn's tokens
                per_turn = [
                    advantages_for(args, column, None, None, None, reduce) for column in batch.turn_scores.T
                ]
                advantages = core.spread_over_turns(torch.stack(per_turn, dim=1), batch.turn_of)
            kl_before = None if reuse else (core.k3_kl(old_logprobs, ref_logprobs) * mask).sum()
        t_reference = time.perf_counter() - t2

        t3 = time.perf_counter()
        stats = _update(
            args, accelerator, policy, optimizer, batch, old_logprobs, ref_logprobs, advantages, reduce
        )
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
            **{_part_metric(name): (sum(values), len(values)) for name, values in batch.parts.items()},
            **stats,
        }  # fmt: skip
        metrics = exact_means(tallies, reduce, optional={_part_metric(name) for name in batch.parts})
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
        plot_curves(history, out / "grpo_curves.png", "GRPO" if args.advantage == "grpo" else args.advantage)
        unwrapped = accelerator.unwrap_model(policy)

        def write(staged: Path) -> None:
            unwrapped.save_pretrained(str(staged))
            tokenizer.save_pretrained(str(staged))
            write_info(staged, "grpo", {"template": template_name})

        save_final(out / "policy", write)  # staged and swapped in: a kill never leaves a mix
        finish_run(out)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return history


@dataclass
class Batch:
    """One iteration's rollouts: how to get log-probs of their trained tokens from a model (all rows, or the
    rows ``idx``), which tokens are trained, and the rewards."""

    forward: Callable[[Any, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]]
    mask: torch.Tensor  # [B, T] trained tokens
    scores: torch.Tensor  # [B]
    parts: dict[str, list[float]]
    has_eos: torch.Tensor  # [B]
    completions: list[str]
    t_generate: float
    max_length: int  # most trained tokens a row can have (Dr. GRPO's constant)
    turn_scores: torch.Tensor | None = None  # [B, K] each turn's reward (--turn_reward turn)
    turn_of: torch.Tensor | None = None  # [B, T] the turn that wrote each token, −1 none (with turn_scores)


def single_turn_rollout(args, model, generator, tokenizer, prompts, picks, pad_id, rewards, device) -> Batch:
    """The prompts ``picks`` × G completions each, cut after EOS, scored by the reward sources."""
    t0 = time.perf_counter()
    rows = [prompts[i] for i in picks for _ in range(args.num_generations)]
    queries, query_mask = pad(rows, pad_id, side="left")
    queries, query_mask = queries.to(device), query_mask.to(device)
    model.eval()
    raw = generator(model, queries, query_mask)
    responses, mask, has_eos = truncate_after_eos(raw, tokenizer.eos_token_id, pad_id)
    t_generate = time.perf_counter() - t0
    prompt_texts = [
        tokenizer.decode(q[m.bool()].tolist(), skip_special_tokens=False)
        for q, m in zip(queries, query_mask, strict=True)
    ]
    completions = [
        tokenizer.decode(r[m.bool()].tolist(), skip_special_tokens=True)
        for r, m in zip(responses, mask, strict=True)
    ]
    total, parts = rewards(prompt_texts, completions)
    if args.mask_truncated_completions:
        mask = mask * has_eos[:, None].float()

    def forward(m, idx):
        rows = slice(None) if idx is None else idx
        return response_logprobs(m, queries[rows], query_mask[rows], responses[rows], args.temperature)

    scores = torch.tensor(total, dtype=torch.float32, device=device)
    scores = penalize_missing_eos(scores, has_eos.to(device), args.missing_eos_penalty)
    return Batch(forward, mask, scores, parts, has_eos, completions, t_generate, args.response_length)


def roleplay_user_side(args: GRPOArguments, seats: int = 16) -> tuple[UserSide, int]:
    """Who says the user's turns in ``--env roleplay`` episodes, and how many seats (distinct users) it has:
    listed turns of held-out chats, the bundled list, or a model (its first turn listed)."""
    if args.env_user_turns:
        listed = ListedUserTurns.from_chats(args.env_user_turns, seats, args.turns)
    else:
        listed = ListedUserTurns.bundled(seats)
    if not args.env_user_model:
        return listed, len(listed.lists)
    user_dir = resolve_model(args.env_user_model, "--env_user_model")
    user_template = checkpoint_template(user_dir, args.env_user_template, flag="--env_user_template")
    model, tokenizer = load_for_inference(user_dir, flag="--env_user_model")
    sampling = Sampling(args.response_length, args.temperature, args.top_p)
    replier = LocalReplier(
        model, Encoder(tokenizer, user_template), sampling, batch_size=args.rollout_batch_size
    )
    return ModelUserSide(replier, first_turns=listed), len(listed.lists)


_COIN = 1 << 20  # draw(_COIN) / _COIN: a uniform draw in [0, 1) from the shared generator


class RoleplayEpisodes:
    """``--env roleplay``: each group is one instruction (a check) and one seat of the user side, played G
    times. A reply's reward is its check (1 or 0) plus the weighted reward sources given, if any (each
    scoring the reply in its conversation so far), or with ``--env_reward gated`` the sources times the check;
    an episode's is its turns' by ``--turn_reward``."""

    def __init__(self, args: GRPOArguments, user_side: UserSide, seats: int, rewards: Rewards | None):
        self.args, self.user_side, self.seats, self.rewards = args, user_side, seats, rewards
        self.last_episodes: list[Episode] = []
        self.checks = load_checks(args.env_checks) if args.env_checks else list(DEFAULT_CHECKS)
        self.control: Unasked | None = None
        if args.env_controls > 0:
            if not any(c.kind in SHOWN_KINDS for c in self.checks):
                raise UserError(
                    f"--env_controls: no check in {args.env_checks or 'the bundled checks'} is of a kind a plain "
                    f"reply fails ({', '.join(SHOWN_KINDS)}), so a control episode would have nothing to refuse"
                )
            self.control = Unasked(tuple(self.checks))

    @property
    def families(self) -> list[str]:
        """Every instruction family an episode can have (the controls' too), drawn this iteration or not."""
        controls = [self.control.family] if self.control else []
        return list(dict.fromkeys([c.family for c in self.checks] + controls))

    def environments(self, draw: Callable[[int], list[int]]) -> list[RoleplayEnv]:
        """One group per drawn instruction, each with a drawn seat of the user side; a drawn share of the groups
        (``--env_controls``) are controls instead. The first ``--env_guided`` episodes of a group are guided
        (controls have nothing to be guided by)."""
        args, envs = self.args, []
        coins = draw(_COIN)  # drawn even without controls: the same seats and checks whatever the share
        for c, seat, coin in zip(draw(len(self.checks)), draw(self.seats), coins, strict=True):
            check = self.control if self.control and coin < args.env_controls * _COIN else self.checks[c]
            unasked = exclusive(check, self.checks) if args.env_exclusive and isinstance(check, Check) else ()
            play = (check, self.user_side, args.turns, seat, args.env_placement, args.user_name)
            envs += [
                RoleplayEnv(*play, guided=g < args.env_guided, unasked=unasked)
                for g in range(args.num_generations)
            ]
        return envs

    def rollout(self, model, encoder, draw, device) -> Batch:
        args = self.args
        t0 = time.perf_counter()
        episodes = run_episodes(
            model, encoder, self.environments(draw), args.response_length, args.temperature, args.top_p
        )
        t_generate = time.perf_counter() - t0
        self.last_episodes = episodes  # for a look at them (tests, debugging)
        per_turn = [list(e.rewards) for e in episodes]  # the checks
        parts = {f"check/turn_{k + 1}": [e.rewards[k] for e in episodes] for k in range(args.turns)}
        # Each instruction's mean over turns. Every family is listed, drawn or not, so that all processes
        # present the same metrics to the one reduce call; one nobody drew is left out of the log.
        for family in self.families:
            parts[f"check/{family}"] = [
                r for e in episodes if e.env.check.family == family for r in e.rewards
            ]
        if args.env_guided:  # the guided episodes' checks, and the others' (the policy on its own)
            given = [e for e in episodes if not isinstance(e.env.check, Unasked)]
            parts["check/guided"] = [r for e in given if e.sampled_ids is not None for r in e.rewards]
            parts["check/on_policy"] = [r for e in given if e.sampled_ids is None for r in e.rewards]
        if self.rewards is not None:  # every reply of every episode in one call per source
            where = [(b, k) for b, e in enumerate(episodes) for k in range(len(e.replies))]
            contexts = [episodes[b].contexts[k] for b, k in where]
            replies = [episodes[b].replies[k] for b, k in where]
            prompts = [encoder.tokenizer.decode(encoder.encode_prompt(c)) for c in contexts]
            said = [replace(c, messages=(*c.messages, Message("assistant", r))) for c, r in zip(contexts, replies, strict=True)]  # fmt: skip
            total, by_source = self.rewards(prompts, replies, said)
            gated = args.env_reward == "gated"
            for (b, k), value in zip(where, total, strict=True):
                per_turn[b][k] = per_turn[b][k] * value if gated else per_turn[b][k] + value
            parts.update(by_source)
        pad_id = encoder.tokenizer.pad_token_id if encoder.tokenizer.pad_token_id is not None else 0
        ids, attention, turn_of = batch_of(episodes, pad_id)
        mask = (turn_of >= 0).float()
        if args.mask_truncated_completions:  # a reply that never ended carries no loss
            for b, e in enumerate(episodes):
                for k, ended in enumerate(e.ended):
                    if not ended:
                        mask[b][turn_of[b] == k] = 0.0
        ids, attention, mask = ids.to(device), attention.to(device), mask.to(device)
        scores = torch.tensor([turn_reward(r, args.turn_reward) for r in per_turn], device=device)

        def forward(m, idx):
            rows = slice(None) if idx is None else idx
            return sequence_logprobs(m, ids[rows], attention[rows], args.temperature)

        has_eos = torch.tensor([all(e.ended) for e in episodes])
        completions = [" │ ".join(e.replies) for e in episodes]
        turn_scores = None
        if args.turn_reward == "turn":
            if len({len(r) for r in per_turn}) != 1:
                raise UserError("--turn_reward turn: every episode must play the same number of turns")
            turn_scores = torch.tensor(per_turn, device=device)
        return Batch(
            forward, mask, scores, parts, has_eos, completions, t_generate, args.turns * args.response_length,
            turn_scores, turn_of.to(device),
        )  # fmt: skip


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
    args, accelerator, policy, optimizer, batch: Batch, old_logprobs, ref_logprobs, advantages, reduce
) -> dict:
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
            if old_logprobs is None:  # one step from the sampling policy: this forward is the old policy's
                old = logp.detach()
                kl_before = (core.k3_kl(old, ref_logprobs[idx]) * m).sum()
            else:
                old = old_logprobs[idx]
            loss, stats = core.clipped_policy_loss(
                logp, old, advantages[idx], m, args.epsilon, args.epsilon_high, args.loss_type,
                tokens, batch.max_length,
            )  # fmt: skip
            kl = core.aggregate(
                core.k3_kl(logp, ref_logprobs[idx]), m, args.loss_type, tokens, batch.max_length
            )
            if kl_in_loss:
                loss = loss + args.beta * kl
            if args.entropy_coef:  # aggregated as the policy loss is, so the two keep their ratio
                bonus = core.aggregate(entropy, m, args.loss_type, tokens, batch.max_length)
                loss = loss - args.entropy_coef * bonus
            accelerator.backward(loss)
            if args.max_grad_norm:
                accelerator.clip_grad_norm_(policy.parameters(), args.max_grad_norm)
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
    reward_vs_kl(axes[3], history, "kl", "reward_mean", "KL to the reference (k3, per token)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
