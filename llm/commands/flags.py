"""The flags many commands share, checked once for every command: one table of (flag, rule, what it needs).

:func:`llm.commands.cli.parse` checks the parsed values against :data:`RULES` before any argument dataclass
is built, so a wrong number is refused in one line before anything loads — including the ones
``TrainingArguments`` itself would reject with a traceback (``--warmup_steps -1``, a missing ``--deepspeed``
file). A flag is checked wherever a command has it; a value of None means "not given" and is never checked.
Checks that belong to one command only (``--num_generations`` ≥ 2 for ``grpo`` …) stay in its own
``validate()``.

>>> check_flags({"top_p": 0.9, "top_k": 0, "temperature": 0.0, "mini_batch_size": None})
>>> check_flags({"top_p": 5.0})
Traceback (most recent call last):
...
llm.errors.UserError: --top_p 5.0: must be in (0, 1]
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from llm.errors import UserError

# The longest row any command makes (tokens). Far above today's contexts, and low enough that the buffers
# sized by it (packing keeps one list per possible free length) fit in memory.
MAX_LENGTH_LIMIT = 1 << 20


def deepspeed_config(value: Any) -> bool:
    """A config file that exists, or what transformers also takes inline: a JSON object, or one in base64.

    >>> deepspeed_config("nope.json"), deepspeed_config('{"train_batch_size": 8}'), deepspeed_config("e30=")
    (False, True, True)
    """
    text = str(value).strip()
    if Path(text).is_file() or text.startswith("{"):
        return True
    try:
        return base64.b64decode(text, validate=True).lstrip().startswith(b"{")
    except ValueError:
        return False


# flag → (rule the value must pass, what the message says it must be). Comparisons are written so that
# NaN fails them all.
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    # sampling
    "temperature": (lambda v: v >= 0, "must be 0 (greedy) or more"),
    "top_p": (lambda v: 0 < v <= 1, "must be in (0, 1]"),
    "top_k": (lambda v: v >= 0, "must be ≥ 0 (0: off)"),
    "max_new_tokens": (lambda v: v >= 1, "must be 1 or more"),
    "response_length": (lambda v: v >= 1, "must be 1 or more"),
    # optimisation
    "learning_rate": (lambda v: v >= 0, "must be ≥ 0"),
    "weight_decay": (lambda v: v >= 0, "must be ≥ 0"),
    "max_grad_norm": (lambda v: v >= 0, "must be ≥ 0 (0: no clipping)"),
    "warmup_steps": (lambda v: v >= 0, "must be ≥ 0 (steps, or a share of them below 1)"),
    "ddp_timeout": (
        lambda v: v >= 1,
        "must be 1 second or more (how long a collective waits for a lost node)",
    ),
    "adam_epsilon": (lambda v: v >= 0, "must be ≥ 0"),
    # batch sizes and counts
    "per_device_train_batch_size": (lambda v: v >= 1, "must be 1 or more"),
    "per_device_eval_batch_size": (lambda v: v >= 1, "must be 1 or more"),
    "gradient_accumulation_steps": (lambda v: v >= 1, "must be 1 or more"),
    "rollout_batch_size": (lambda v: v >= 1, "must be 1 or more"),
    "mini_batch_size": (lambda v: v >= 1, "must be 1 or more"),
    "batch_size": (lambda v: v >= 1, "must be 1 or more"),
    "max_batch": (lambda v: v >= 1, "must be 1 or more"),
    "num_proc": (lambda v: v >= 1, "must be 1 or more"),
    "dataloader_num_workers": (lambda v: v >= 0, "must be ≥ 0"),
    "sample_rows": (lambda v: v >= 0, "must be ≥ 0 (0: none shown)"),
    "max_prompts": (lambda v: v >= 1, "must be 1 or more"),
    "max_prompt_length": (lambda v: v >= 1, "must be 1 or more"),
    "max_length": (lambda v: 1 <= v <= MAX_LENGTH_LIMIT, f"must be between 1 and {MAX_LENGTH_LIMIT} tokens"),
    "seed": (lambda v: 0 <= v < 2**32, "must be in [0, 2³²)"),
    # files
    "deepspeed": (deepspeed_config, "no such file (a DeepSpeed JSON config)"),
}


def check_flags(values: Mapping[str, Any]) -> None:
    """Every flag of ``values`` (name → parsed value) that has a rule, checked; the first one broken raises
    :class:`~llm.errors.UserError` naming the flag, the value and what it must be."""
    for name, value in values.items():
        if value is None or name not in RULES or isinstance(value, list | tuple | dict):
            continue
        rule, need = RULES[name]
        if not rule(value):
            raise UserError(f"--{name} {value}: {need}")
