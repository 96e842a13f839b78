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
TL;DR default (Huang et al. 2024); the math lives in :mod:`llm.train.ppo.core`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llm.data.collate import accepts_logits_to_keep, pad
from llm.data.conversation import Conversation
from llm.data.encode import Encoder
from llm.data.output import finish_run
from llm.data.sources import get_source
from llm.data.sources.files import iter_hub, iter_records, resolve_files
from llm.errors import RecordError, UserError
from llm.inference.rollout import Generator, HFGenerator
from llm.models.checkpoint import checkpoint_template, require_kind, write_info
from llm.models.resolve import resolve_model
from llm.models.reward import build_reward_model, disable_dropout, token_values
from llm.train.ppo import core
from llm.train.rewards import HELD_OUT_HELP, build_rewards, reward_from_spec
from llm.train.rl_metrics import claim_output, reward_vs_kl, start_accelerator
from llm.train.rl_metrics import record as record_metrics
from llm.train.saving import save_final


@dataclass
class PromptArguments:
    """Where an online-RL loop's prompts come from (``ppo`` and ``grpo`` read them alike)."""

    dataset: str = field(default="tldr", metadata={"help": "prompt source (process names)"})
    dataset_path: str | None = field(
        default=None,
        metadata={"help": "a process output: each row's prompt is what precedes its last reply"},
    )
    data_files: list[str] | None = field(
        default=None, metadata={"help": "local prompt files (default: hub id)"}
    )
    template: str | None = field(default=None, metadata={"help": "default: the checkpoint's llm_train.json"})
    max_prompt_length: int = field(default=512, metadata={"help": "longer prompts are dropped and counted"})
    max_prompts: int | None = field(default=None, metadata={"help": "use only the first N prompts"})


@dataclass
class PPOArguments(PromptArguments):
    """PPO for RLHF. Defaults follow the TL;DR recipe (Huang et al. 2024) unless a comment says otherwise."""

    model_name_or_path: str = field(
        default=None, metadata={"help": "the SFT checkpoint: policy and reference"}
    )
    output_dir: str = field(default="runs/ppo", metadata={"help": "where metrics, curves and the policy go"})
    overwrite: bool = field(
        default=False,
        metadata={"help": "replace a run of ours in --output_dir (never a folder of other files)"},
    )
    # reward and value
    reward_model_path: str | None = field(default=None, metadata={"help": "a local reward model"})
    reward_url: list[str] | None = field(default=None, metadata={"help": "serve-reward URL(s), sharded"})
    reward_token_file: str | None = field(default=None, metadata={"help": "bearer token for --reward_url"})
    reward_fn: list[str] | None = field(
        default=None, metadata={"help": "module:function (texts → floats) or check:KIND=VALUE, one or more"}
    )
    reward_weights: list[float] | None = field(
        default=None, metadata={"help": "one weight per reward source (default 1)"}
    )
    value_model_path: str | None = field(default=None, metadata={"help": "default: the local reward model"})
    held_out_reward: list[str] | None = field(default=None, metadata={"help": HELD_OUT_HELP})
    # sampling
    response_length: int = field(
        default=53, metadata={"help": "new tokens per rollout (fixed-length sampling)"}
    )
    temperature: float = field(
        default=0.7, metadata={"help": "sampling temperature; log-probs use logits/T too"}
    )
    top_k: int = field(default=0, metadata={"help": "0: off"})
    top_p: float = field(default=1.0, metadata={"help": "1: off"})
    missing_eos_penalty: float | None = field(
        default=None, metadata={"help": "score of responses without EOS"}
    )
    # optimisation
    max_steps: int = field(default=100, metadata={"help": "PPO iterations"})
    rollout_batch_size: int = field(default=64, metadata={"help": "prompts per iteration per process"})
    mini_batch_size: int = field(default=16, metadata={"help": "rollouts per optimiser step"})
    ppo_epochs: int = field(default=4, metadata={"help": "passes over each batch of rollouts"})
    learning_rate: float = field(default=3e-6, metadata={"help": "annealed linearly to 0"})
    weight_decay: float = field(
        default=0.0,
        metadata={
            "help": "AdamW's decoupled weight decay (0, as TrainingArguments and TRL default; torch's own is 0.01)"
        },
    )
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
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping"})
    seed: int = field(default=0, metadata={"help": "base seed; each process adds its rank"})
    sample_rows: int = field(default=3, metadata={"help": "samples shown per logged iteration"})
    report_to: str = field(
        default="tensorboard", metadata={"help": "tracker: tensorboard, wandb, all (installed ones) or none"}
    )

    def validate(self) -> None:
        if not self.model_name_or_path:
            raise UserError("--model_name_or_path is required: the SFT checkpoint")
        self.model_name_or_path = resolve_model(self.model_name_or_path)
        require_checkpoint_kinds(self, "ppo")
        if isinstance(self.reward_fn, str):  # the Python API's old shape: one spec
            self.reward_fn = [self.reward_fn]
        if not (self.reward_fn or self.reward_url or self.reward_model_path):
            raise UserError(
                "give a reward: --reward_fn (module:function or check:KIND=VALUE), --reward_url or --reward_model_path"
            )
        if self.reward_weights and len(self.reward_weights) != reward_count(self):
            raise UserError(
                f"--reward_weights: {len(self.reward_weights)} weights for {reward_count(self)} reward sources"
            )
        if self.mini_batch_size < 1 or self.rollout_batch_size % self.mini_batch_size:
            raise UserError("--rollout_batch_size must be a multiple of --mini_batch_size")
        if self.response_length < 1 or self.temperature <= 0:
            raise UserError("--response_length must be ≥ 1 and --temperature > 0")
        if self.max_steps < 1 or self.rollout_batch_size < 1 or self.ppo_epochs < 1:
            raise UserError("--max_steps, --rollout_batch_size and --ppo_epochs must be 1 or more")
        if self.report_to not in ("tensorboard", "wandb", "all", "none"):
            raise UserError(f"--report_to {self.report_to!r}: choose tensorboard, wandb, all or none")
        for spec in self.reward_fn or []:
            reward_from_spec(spec)  # a function imported and checked, a check parsed: last, before any model


def reward_count(args: Any) -> int:
    """How many reward sources the flags name: each --reward_fn spec, the URLs (one sharded server), the model."""
    return len(args.reward_fn or []) + bool(args.reward_url) + bool(args.reward_model_path)


def require_checkpoint_kinds(args: Any, command: str) -> None:
    """The policy a causal LM and a local reward model a reward model, by their config files, before either
    loads (``args``: ppo's or grpo's; a user model of ``--env roleplay`` is a causal LM too)."""
    for flag, need in (("model_name_or_path", "causal_lm"), ("reward_model_path", "reward_model"),
                       ("env_user_model", "causal_lm")):  # fmt: skip
        if getattr(args, flag, None):
            require_kind(getattr(args, flag), need, f"--{flag}", command)
    for spec in args.held_out_reward or []:
        if Path(spec).is_dir():  # a reward-model directory (the other specs are URLs, checks, functions)
            require_kind(spec, "reward_model", "--held_out_reward", command)


# ----------------------------------------------------------------------------------------------------- forward


def response_logprobs(
    model: Any, queries: torch.Tensor, query_mask: torch.Tensor, responses: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of the response tokens under ``model`` with logits ÷ temperature, and the entropy. [B, T].
    The LM head runs only over the positions that predict a response token (``logits_to_keep``, where the
    model takes it): the query's logits were computed and thrown away, a vocabulary-wide projection each."""
    ids, mask, positions = _joined(queries, query_mask, responses)
    keep = (
        {"logits_to_keep": responses.shape[1] + 1}
        if accepts_logits_to_keep(getattr(model, "module", model))
        else {}
    )
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False, **keep).logits
    logits = logits[:, -responses.shape[1] - 1 : -1].float() / temperature  # position i predicts token i+1
    logp = torch.log_softmax(logits, dim=-1).gather(-1, responses[..., None]).squeeze(-1)
    return logp, core.entropy_from_logits(logits)


def response_values(
    value_model: Any, queries: torch.Tensor, query_mask: torch.Tensor, responses: torch.Tensor
):
    """V(state before each response token), [B, T]."""
    ids, mask, _ = _joined(queries, query_mask, responses)
    values = token_values(value_model, ids, mask)
    return values[:, queries.shape[1] - 1 : -1]


def _joined(queries, query_mask, responses):
    ids = torch.cat([queries, responses], dim=1)
    mask = torch.cat([query_mask, torch.ones_like(responses)], dim=1)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions


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


def prompts_from_rows(rows: Any, max_length: int) -> tuple[list[list[int]], dict]:
    """Prompts of a processed dataset: each row's ids before its last trained span. Because an inference
    prompt's ids are a prefix of the training ids (see llm/data/encode.py), that is exactly the history plus
    the generation prompt."""
    prompts, dropped = [], {"prompt too long": 0, "no trained reply": 0}
    for ids, labels in zip(rows["input_ids"], rows["labels"], strict=True):
        trained = [i for i, lab in enumerate(labels) if lab != -100]
        if not trained:
            dropped["no trained reply"] += 1
            continue
        start = trained[-1]
        while start > 0 and labels[start - 1] != -100:
            start -= 1
        if start > max_length:
            dropped["prompt too long"] += 1
            continue
        prompts.append(list(ids[:start]))
    return prompts, dropped


def load_prompts(args: PromptArguments, tokenizer: Any, template_name: str) -> tuple[list[list[int]], dict]:
    """Prompt ids rendered with the generation prompt: each chat up to its last user turn, or a TL;DR query."""
    if args.dataset_path:
        import datasets

        rows = datasets.load_from_disk(args.dataset_path)["train"]
        if "input_ids" not in rows.column_names or "position_ids" in rows.column_names:
            raise UserError(
                f"{args.dataset_path}: PPO prompts come from unstacked chat rows (process without --stack)"
            )
        prompts, dropped = prompts_from_rows(rows, args.max_prompt_length)
        return prompts[: args.max_prompts] if args.max_prompts else prompts, dropped
    source = get_source(args.dataset)
    encoder = Encoder(tokenizer, template_name)
    stream = (
        (r for f in resolve_files(args.data_files) for r in iter_records(f))
        if args.data_files
        else iter_hub(source.hub_id, source.hub_file, None, source.name)
    )
    prompts, dropped = [], {"prompt too long": 0, "no user turn": 0}
    for record_id, record in stream:
        if isinstance(record, RecordError):
            raise record
        item = source.convert(record, record_id)
        conv = item.prompt if hasattr(item, "prompt") else item
        last_user = max((i for i, m in enumerate(conv.messages) if m.role == "user"), default=None)
        if last_user is None:
            dropped["no user turn"] += 1
            continue
        ids = encoder.encode_prompt(Conversation(conv.messages[: last_user + 1], conv.character))
        if len(ids) > args.max_prompt_length:
            dropped["prompt too long"] += 1
            continue
        prompts.append(ids)
        if args.max_prompts and len(prompts) >= args.max_prompts:
            break
    if not prompts:
        raise UserError(
            "no usable prompts (dropped: " + ", ".join(f"{k} {v}" for k, v in dropped.items()) + ")"
        )
    return prompts, dropped


def train(args: PPOArguments, generator: Generator | None = None) -> list[dict]:
    """The whole run; returns the per-iteration metrics (also written to ``metrics.jsonl``)."""
    args.validate()
    claim_output(args, "ppo")
    out = Path(args.output_dir)
    accelerator = start_accelerator(args.report_to, out, args.seed)
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
    reward_sources = build_rewards(
        args.reward_fn, args.reward_url, args.reward_token_file, args.reward_model_path, args.reward_weights,
        str(accelerator.device), args.held_out_reward or (),
    )  # fmt: skip
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
    history: list[dict] = []
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.jsonl").write_text("")  # ours: claim_output refused any other folder
        print(f"PPO: {len(prompts)} prompts (dropped {dropped}), {args.max_steps} iterations, "
              f"{args.rollout_batch_size} rollouts × {accelerator.num_processes} process(es)")  # fmt: skip

    for iteration in range(1, args.max_steps + 1):
        unwrapped = accelerator.unwrap_model(model)
        t0 = time.perf_counter()
        picks = torch.randint(len(prompts), (args.rollout_batch_size,), generator=rng).tolist()
        queries, query_mask = pad([prompts[i] for i in picks], tokenizer.pad_token_id, side="left")
        queries, query_mask = queries.to(accelerator.device), query_mask.to(accelerator.device)
        unwrapped.policy.eval()
        raw = generator(unwrapped.policy, queries, query_mask)
        responses, mask, has_eos = core.truncate_after_eos(
            raw, tokenizer.eos_token_id, tokenizer.pad_token_id
        )
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
        scores = core.penalize_missing_eos(rm_scores, has_eos, args.missing_eos_penalty)
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

        local = {
            "reward_mean": scores.mean(),
            "rm_score_mean": rm_scores.mean(),  # the weighted total before the missing-EOS penalty
            "reward_with_kl_mean": rewards.sum(1).mean(),
            "kl_mean": kl.sum(1).mean(),
            "response_length": mask.sum(1).float().mean(),
            "eos_rate": has_eos.float().mean(),
            **{
                name if name.startswith("held_out/") else f"reward/{name}": torch.tensor(
                    values, device=accelerator.device
                ).mean()
                for name, values in parts.items()
            },
            **stats,
        }
        metrics = {k: float(accelerator.gather(v.detach().reshape(1)).mean()) for k, v in local.items()}
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
        _plot(history, out)
        unwrapped = accelerator.unwrap_model(model)

        def write(staged: Path) -> None:
            unwrapped.policy.save_pretrained(str(staged))
            tokenizer.save_pretrained(str(staged))
            write_info(staged, "ppo", {"template": template_name})

        save_final(out / "policy", write)  # staged and swapped in: a kill never leaves a mix
        finish_run(out)
    accelerator.wait_for_everyone()
    accelerator.end_training()  # closes the trackers (and leaves the process group)
    return history


def _optimise(args: PPOArguments, accelerator: Any, model: Any, optimizer: Any, b: Rollouts) -> dict:
    """``ppo_epochs`` passes of minibatch updates; stats averaged, plus the very first minibatch's ratio
    and clip fraction (1 and 0 by construction: the policy has not moved yet)."""
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
    return {**{k: torch.stack(v).mean() for k, v in collected.items()}, **first}


def _log(accelerator, out: Path, metrics: dict, texts: list[str], scores, rows: int) -> None:
    if not record_metrics(accelerator, out, metrics, "ppo"):
        return
    print(
        f"iter {metrics['iteration']:4d}  reward {metrics['reward_mean']:+.3f}  kl {metrics['kl_mean']:.3f}  "
        f"entropy {metrics['entropy']:.2f}  clipfrac {metrics['clipfrac']:.3f}  eos {metrics['eos_rate']:.2f}  "
        f"gen/score/train {metrics['time_generate']:.1f}/{metrics['time_score']:.1f}/{metrics['time_train']:.1f}s"
    )
    for text, value in list(zip(texts, scores.tolist(), strict=True))[:rows]:
        print(f"    {value:+.2f} │ …{text[-110:]!r}")


def _plot(history: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.5), dpi=110)
    it = [h["iteration"] for h in history]
    for ax, key, label in zip(
        axes[:3],
        ("reward_mean", "kl_mean", "entropy"),
        ("reward (RM score)", "KL to the SFT policy", "entropy"),
        strict=True,
    ):
        ax.plot(it, [h[key] for h in history], color="#4C72B0")
        ax.set_xlabel("iteration")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    reward_vs_kl(axes[3], history, "kl_mean", "rm_score_mean", "KL to the SFT policy (nats per response)")
    fig.tight_layout()
    fig.savefig(out / "ppo_curves.png")
    plt.close(fig)
