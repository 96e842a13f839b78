"""Trainer callbacks: loss curves as a PNG, the role-play evaluation at each evaluation, a time budget.

- :class:`RunFilesCallback` lists each checkpoint in the run folder's marker before it is written;
- :class:`LossCurveCallback` writes ``loss_curve.png`` into the run directory when training ends (people
  look, not read);
- :class:`RoleplayEvalCallback` runs ``llm-train eval roleplay`` on the model being trained;
- :class:`TimeBudget` ends training after a wall-clock budget (the demo fits its minutes on any machine).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from llm.data.encode import Encoder
from llm.data.output import record_written
from llm.data.sillytavern import is_spec
from llm.data.templates import TEMPLATES
from llm.errors import UserError
from llm.eval.checks import DEFAULT_CHECKS, Check
from llm.eval.roleplay import evaluate, validate_settings, write_report
from llm.eval.simulate import ListedUserTurns, UserSide
from llm.inference.repliers import LocalReplier, Sampling


def plot_losses(log_history: list[dict[str, Any]], path: Path, title: str = "") -> bool:
    """Train and eval loss against the step; False when there is nothing to plot."""
    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e and "step" in e]
    evals = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e and "step" in e]
    if not train and not evals:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", color="#4C72B0")
    if evals:
        ax.plot(*zip(*evals, strict=True), "o-", label="eval loss", color="#C44E52")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (mean over trained tokens)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_preferences(log_history: list[dict[str, Any]], path: Path, title: str = "") -> bool:
    """Rewards of chosen and rejected completions (and their margin), and reward accuracy — or, for KTO,
    the KL estimate — against the step, train and eval."""

    def series(key: str) -> list[tuple[int, float]]:
        return [(e["step"], e[key]) for e in log_history if key in e and "step" in e]

    right = "rewards/accuracies" if series("rewards/accuracies") else "kl"
    panels = (("rewards/chosen", "rewards/rejected", "rewards/margins"), (right,))
    if not any(series(k) or series(f"eval_{k}") for keys in panels for k in keys):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    for ax, keys in zip(axes, panels, strict=True):
        for key in keys:
            for name, style in ((key, "-"), (f"eval_{key}", "o--")):
                if series(name):
                    ax.plot(*zip(*series(name), strict=True), style, label=name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    axes[0].set_title("implicit rewards")
    axes[1].set_title(right)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


class PreferenceCurveCallback(TrainerCallback):
    """``preference_curves.png``: reward margins and accuracies, written when preference training ends."""

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            plot_preferences(
                state.log_history, Path(args.output_dir) / "preference_curves.png", Path(args.output_dir).name
            )


class RunFilesCallback(TrainerCallback):
    """Lists each ``checkpoint-N`` in the run folder's marker just before the Trainer writes it, so a run
    killed mid-save is still ours, and a checkpoint that rotation deletes is never the user's (the folder
    held nothing of theirs when the run claimed it: :func:`llm.data.output.check_run_target`)."""

    def _list_next_checkpoint(self, args, state, control, **kwargs):
        if control.should_save and state.is_world_process_zero:
            record_written(Path(args.output_dir), [f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"])

    on_step_end = on_epoch_end = _list_next_checkpoint


class LossCurveCallback(TrainerCallback):
    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            plot_losses(
                state.log_history, Path(args.output_dir) / "loss_curve.png", Path(args.output_dir).name
            )


class RoleplayEvalCallback(TrainerCallback):
    """Runs the role-play evaluation on the model being trained at every evaluation (main process only).

    Reports go to ``OUTPUT_DIR/roleplay_eval/step-{global_step}/`` and one summary line per evaluation to
    ``OUTPUT_DIR/roleplay_eval/history.jsonl``. Generation is greedy unless ``temperature`` is set, and any
    sampling draws from a forked RNG, so training's random stream is untouched. The model goes back to
    train mode afterwards. Under DeepSpeed ZeRO-3 (parameters sharded over ranks) one process cannot
    generate alone: the callback refuses to start; evaluate saved checkpoints with ``llm-train eval
    roleplay`` instead.
    """

    def __init__(
        self,
        template: str,
        tokenizer: Any = None,
        checks: Sequence[Check] = DEFAULT_CHECKS,
        conversations: int = 2,
        turns: Sequence[int] = (1, 2, 4),
        max_new_tokens: int = 48,
        temperature: float = 0.0,
        user_side: UserSide | None = None,
        placement: Literal["system", "first_user"] = "system",
        user_name: str = "User",
        batch_size: int = 16,
        seed: int = 0,
    ):
        if (template not in TEMPLATES and not is_spec(template)) or template == "plain":
            raise UserError(f"the role-play evaluation needs a chat template; got {template!r}")
        self.turns = validate_settings(conversations, turns, max_new_tokens, flag="--roleplay_eval_")
        self.template, self.tokenizer, self.checks = template, tokenizer, list(checks)
        self.conversations, self.placement, self.user_name = conversations, placement, user_name
        self.sampling = Sampling(max_new_tokens, temperature)
        self.user_side = user_side or ListedUserTurns.bundled(conversations)
        self.batch_size, self.seed = batch_size, seed
        self._encoder: Any = None
        self._last_step: int | None = None

    @classmethod
    def from_training(cls, training: Any, template: str | None) -> RoleplayEvalCallback:
        """From the ``--roleplay_eval_*`` fields of :class:`~llm.train.args.StageArguments`."""
        if not template:
            raise UserError("--roleplay_eval needs chat data rendered with a chat template")
        return cls(
            template,
            conversations=training.roleplay_eval_conversations,
            turns=training.roleplay_eval_turns,
            max_new_tokens=training.roleplay_eval_max_new_tokens,
            seed=training.seed,
        )

    def on_train_begin(self, args, state, control, **kwargs):
        from transformers.integrations import is_deepspeed_zero3_enabled

        if is_deepspeed_zero3_enabled():
            raise UserError(
                "--roleplay_eval generates on the main process alone, which ZeRO-3's sharded parameters "
                "do not allow; use ZeRO-2, or run llm-train eval roleplay on saved checkpoints"
            )

    def on_evaluate(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or state.global_step == self._last_step:
            return  # one evaluation per step (sft evaluates again after the last step)
        import torch

        self._last_step = state.global_step
        model = kwargs["model"]
        if self._encoder is None:
            tokenizer = self.tokenizer or kwargs.get("processing_class")
            if tokenizer is None:
                raise UserError("RoleplayEvalCallback needs a tokenizer: pass one, or give the Trainer one")
            self._encoder = Encoder(tokenizer, self.template)
        was_training = model.training
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        try:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(self.seed)
                replier = LocalReplier(model, self._encoder, self.sampling, self.batch_size)
                result = evaluate(
                    replier,
                    self.checks,
                    self.user_side,
                    self.conversations,
                    self.turns,
                    self._encoder.template,
                    self.placement,
                    self.user_name,
                    progress=False,
                )
        finally:
            model.train(was_training)
        root = Path(args.output_dir) / "roleplay_eval"
        write_report(result, root / f"step-{state.global_step}", f"step {state.global_step}")
        line = {
            "step": state.global_step,
            "epoch": state.epoch,
            **{k: v for k, v in result.to_json().items() if k not in ("checks", "adherence_by_check")},
        }
        with (root / "history.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")


class TimeBudget(TrainerCallback):
    """Ends training after ``seconds`` (with a last evaluation), so a run fits its time on any machine."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = time.perf_counter()

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if time.perf_counter() - self.start > self.seconds:
            control.should_training_stop = True
