"""The flags both online-RL loops (``ppo``, ``grpo``) take, each declared once: the run, the prompts, the
sampling and the rewards. A loop's argument class is these pieces side by side plus its own (PPO's value
model and GAE, GRPO's estimator and loss); functions take the piece they read, not the whole class.

Where the loops want different defaults (PPO samples at 0.7 as the TL;DR recipe, GRPO at 1.0), the loop
retunes the one declaration (:func:`retuned`), keeping its help text:

>>> from dataclasses import dataclass
>>> @dataclass
... class Mine(SamplingArguments):
...     temperature: float = retuned(SamplingArguments, "temperature", 0.5)
>>> Mine().temperature, Mine.__dataclass_fields__["temperature"].metadata["help"][:20]
(0.5, 'sampling temperature')
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from llm.errors import UserError
from llm.models.checkpoint import require_kind
from llm.models.resolve import resolve_model
from llm.train.rewards import HELD_OUT_HELP, Rewards, build_rewards, reward_from_spec


def retuned(base: type, name: str, default: Any, help: str | None = None) -> Any:
    """The field ``name`` of ``base`` with another default (and help, when given): a loop's own default for a
    shared flag, without a second declaration to drift."""
    (declared,) = [f for f in fields(base) if f.name == name]
    metadata = dict(declared.metadata) | ({"help": help} if help else {})
    return field(default=default, metadata=metadata)


@dataclass
class RunArguments:
    """The run: the starting policy (also the frozen reference), where it goes, the optimiser, the logs."""

    model_name_or_path: str = field(
        default=None, metadata={"help": "the starting policy (and the reference)"}
    )
    output_dir: str = field(default="runs/rl", metadata={"help": "where metrics, curves and the policy go"})
    overwrite: bool = field(
        default=False,
        metadata={"help": "replace a run of ours in --output_dir (never a folder of other files)"},
    )
    max_steps: int = field(default=100, metadata={"help": "iterations"})
    learning_rate: float = field(default=1e-6, metadata={"help": "the policy's learning rate"})
    weight_decay: float = field(
        default=0.0,
        metadata={
            "help": "AdamW's decoupled weight decay (0, as TrainingArguments and TRL default; torch's own is 0.01)"
        },
    )
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping"})
    seed: int = field(default=0, metadata={"help": "base seed; each process adds its rank"})
    ddp_timeout: int = field(
        default=1800,
        metadata={
            "help": "seconds a collective waits for another process (a dead or cut-off node) before failing"
        },
    )
    sample_rows: int = field(default=2, metadata={"help": "samples shown per logged iteration"})
    report_to: str = field(
        default="none", metadata={"help": "tracker: tensorboard, wandb, all (installed ones) or none"}
    )

    def check_run(self, command: str, purpose: str) -> None:
        """The policy given and resolved, a causal LM (and every other checkpoint the flags name, of its kind);
        the tracker known."""
        if not self.model_name_or_path:
            raise UserError(f"--model_name_or_path is required: {purpose}")
        self.model_name_or_path = resolve_model(self.model_name_or_path)
        require_checkpoint_kinds(self, command)
        if self.report_to not in ("tensorboard", "wandb", "all", "none"):
            raise UserError(f"--report_to {self.report_to!r}: choose tensorboard, wandb, all or none")


@dataclass
class PromptArguments:
    """Where an online-RL loop's prompts come from, read by the data layer's readers
    (:func:`llm.data.process.convert_records`), so every source option applies."""

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
    user_name: str | None = field(
        default=None,
        metadata={
            "help": "the user's name: {{user}} in PIPPA cards (default You) and in role-play episodes (default User)"
        },
    )
    max_query_tokens: int | None = field(
        default=None, metadata={"help": "TL;DR: cut posts so the query fits (default: not cut)"}
    )


@dataclass
class SamplingArguments:
    """How rollouts are sampled: fixed-length sampling, cut after the first EOS."""

    rollout_batch_size: int = field(default=64, metadata={"help": "rollouts per iteration per process"})
    response_length: int = field(default=64, metadata={"help": "most new tokens per rollout"})
    temperature: float = field(
        default=1.0, metadata={"help": "sampling temperature; log-probs use logits/T too"}
    )
    top_k: int = field(default=0, metadata={"help": "0: off"})
    top_p: float = field(default=1.0, metadata={"help": "1: off"})
    missing_eos_penalty: float | None = field(
        default=None, metadata={"help": "the score of rollouts that never reached EOS"}
    )


@dataclass
class GroupArguments:
    """GRPO's groups: several completions of one prompt, the group their baseline (PPO samples one)."""

    num_generations: int = field(default=8, metadata={"help": "G: completions per prompt"})
    mask_truncated_completions: bool = field(
        default=False, metadata={"help": "leave completions that never reached EOS out of the loss (DAPO)"}
    )


@dataclass
class RewardArguments:
    """The reward sources (:mod:`llm.train.rewards`), one path for both loops."""

    reward_fn: list[str] | None = field(
        default=None, metadata={"help": "module:function (texts → floats) or check:KIND=VALUE, one or more"}
    )
    reward_url: list[str] | None = field(default=None, metadata={"help": "reward server URL(s), sharded"})
    reward_token_file: str | None = field(default=None, metadata={"help": "bearer token for --reward_url"})
    reward_model_path: str | None = field(default=None, metadata={"help": "a local reward model"})
    reward_weights: list[float] | None = field(
        default=None, metadata={"help": "one weight per reward source (default 1)"}
    )
    held_out_reward: list[str] | None = field(default=None, metadata={"help": HELD_OUT_HELP})

    @property
    def reward_count(self) -> int:
        """How many reward sources the flags name: each --reward_fn spec, the URLs (one sharded server), the
        model."""
        return len(self.reward_fn or []) + bool(self.reward_url) + bool(self.reward_model_path)

    def check_rewards(self, required: bool = True) -> None:
        """A reward given (unless not ``required``), one weight per source; each spec imported and checked,
        each check parsed: call it last, before any model loads."""
        if isinstance(self.reward_fn, str):  # the Python API's old shape: one spec
            self.reward_fn = [self.reward_fn]
        if required and not self.reward_count:
            raise UserError(
                "give a reward: --reward_fn (module:function or check:KIND=VALUE), --reward_url or --reward_model_path"
            )
        if self.reward_weights and len(self.reward_weights) != self.reward_count:
            raise UserError(
                f"--reward_weights: {len(self.reward_weights)} weights for {self.reward_count} reward sources"
            )
        for spec in self.reward_fn or []:
            reward_from_spec(spec)

    def build(self, device: str, optional: bool = False) -> Rewards | None:
        """The weighted sources and the held-out ones; None when ``optional`` and no source is named."""
        if optional and not (self.reward_count or self.held_out_reward):
            return None
        return build_rewards(
            self.reward_fn, self.reward_url, self.reward_token_file, self.reward_model_path, self.reward_weights,
            device, self.held_out_reward or (), optional=optional,
        )  # fmt: skip


def require_checkpoint_kinds(args: Any, command: str) -> None:
    """The policy a causal LM and a local reward model a reward model, by their config files, before either
    loads (``args``: ppo's or grpo's; a user model of ``--env roleplay`` is a causal LM too)."""
    for flag, need in (("model_name_or_path", "causal_lm"), ("reward_model_path", "reward_model"),
                       ("env_user_model", "causal_lm")):  # fmt: skip
        if getattr(args, flag, None):
            require_kind(getattr(args, flag), need, f"--{flag}", command)
    for spec in getattr(args, "held_out_reward", None) or []:
        if Path(spec).is_dir():  # a reward-model directory (the other specs are URLs, checks, functions)
            require_kind(spec, "reward_model", "--held_out_reward", command)
