"""``llm_train.json``: what a checkpoint was trained with, written once per stage and read in one place.

Every stage that saves a checkpoint writes it beside the weights: the stage (``pretrain``, ``sft``, ``rm``,
``ppo`` …), and the data it was trained on — template, masking policy, max length, source, data
fingerprint. Commands that load a checkpoint read its template from here, so a chat or an evaluation
renders exactly as training did.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> _ = write_info(out, "sft", {"template": "chatml", "mask": "assistant", "max_length": 2048})
    >>> read_info(out).template, read_info(out).stage
    ('chatml', 'sft')
    >>> checkpoint_template(out, override="llama3")
    'llama3'
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llm.errors import UserError

INFO_FILE = "llm_train.json"
# Present in a run folder while its final model is being swapped in (llm.train.saving): the files at the top
# may be half old, half new, so nothing may load them until the next stage run restores the previous model.
SAVING = ".llm-train-saving"
STAGES = ("pretrain", "sft", "rm", "dpo", "ppo", "grpo", "gatt")


@dataclass(frozen=True)
class CheckpointInfo:
    """The contents of ``llm_train.json``; ``template`` is None for checkpoints trained on plain text."""

    stage: str
    template: str | None = None
    mask: str | None = None
    max_length: int | None = None
    source: str | None = None
    fingerprint: str | None = None


def write_info(
    out: str | Path, stage: str, stats: dict[str, Any] | None = None, **extra: Any
) -> CheckpointInfo:
    """Write ``out/llm_train.json`` for ``stage`` from a ``process`` output's stats (plus ``extra`` fields)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
    stats = stats or {}
    fields = {k: stats.get(k) for k in ("template", "mask", "max_length", "source", "fingerprint")}
    if stats.get("source") == "text":
        fields["template"] = None  # a pre-training checkpoint has no chat template
    fields.update({k: v for k, v in extra.items() if k in CheckpointInfo.__dataclass_fields__})
    info = CheckpointInfo(stage=stage, **fields)
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    (path / INFO_FILE).write_text(json.dumps(asdict(info), indent=2) + "\n")
    return info


def require_complete(model_dir: str | Path, flag: str = "--model") -> None:
    """Refuse a checkpoint whose final save was interrupted (it holds :data:`SAVING`).

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()); _ = (out / SAVING).write_text("{}")
    >>> require_complete(out)
    Traceback (most recent call last):
    ...
    llm.errors.UserError: --model ...: its last save was interrupted ...
    """
    if (Path(model_dir) / SAVING).exists():
        raise UserError(
            f"{flag} {model_dir}: its last save was interrupted (it holds {SAVING}), so its files may be half "
            "old, half new; run the stage that wrote it again (its previous model is restored first), or "
            "resume it with --resume_from_checkpoint"
        )


def read_info(model_dir: str | Path) -> CheckpointInfo:
    """``model_dir/llm_train.json``; a clear error naming the file (and key) when it is missing or wrong."""
    require_complete(model_dir)
    path = Path(model_dir) / INFO_FILE
    if not path.is_file():
        raise UserError(f"{model_dir}: no {INFO_FILE} (not a checkpoint written by llm-train)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    known = CheckpointInfo.__dataclass_fields__
    return CheckpointInfo(**{"stage": "sft", **{k: v for k, v in data.items() if k in known}})


def has_chat_template(model_dir: Path) -> bool:
    """Whether the checkpoint's tokenizer files carry a Jinja chat template."""
    if (model_dir / "chat_template.jinja").is_file():
        return True
    try:
        return bool(json.loads((model_dir / "tokenizer_config.json").read_text()).get("chat_template"))
    except (OSError, ValueError):
        return False


def checkpoint_template(model_dir: str | Path, override: str | None = None, flag: str = "--template") -> str:
    """``override`` if given, else the chat template the checkpoint at ``model_dir`` was trained with — or, for a
    checkpoint not written by llm-train that carries its own Jinja template, ``tokenizer`` (render with that)."""
    if override:
        return override
    path = Path(model_dir) / INFO_FILE
    if not path.is_file():
        if has_chat_template(Path(model_dir)):
            return "tokenizer"  # not ours, but it brings its own chat template: render with that
        raise UserError(
            f"{model_dir}: no {INFO_FILE} (not written by llm-train) and no chat template of its own, so the "
            f"chat template is unknown; name it with {flag}"
        )
    info = read_info(model_dir)
    if not info.template:
        raise UserError(
            f"{path}: key 'template' is empty (a {info.stage} checkpoint trained on plain text?); "
            f"name a template with {flag}"
        )
    return info.template


# What a command needs → (architecture name endings that are it, stages of ours that are it, in words).
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "causal_lm": (
        ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration"),
        ("pretrain", "sft", "dpo", "ppo", "grpo", "gatt"),
        "a causal LM (an sft, pretrain, dpo, ppo or grpo output, or a base model)",
    ),
    "reward_model": (("ForSequenceClassification",), ("rm",), "a reward model (an llm-train rm output)"),
}


def checkpoint_kind(model_dir: str | Path) -> tuple[str | None, str]:
    """Which of :data:`KINDS` a checkpoint folder is, and how we know (its architectures and our stage), from
    ``config.json`` and ``llm_train.json`` alone (no weights); the kind is None where it cannot be told (a
    hub id, no config, an architecture of neither kind).

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> _ = (out / "config.json").write_text('{"architectures": ["LlamaForSequenceClassification"]}')
    >>> _ = write_info(out, "rm")
    >>> checkpoint_kind(out)
    ('reward_model', 'LlamaForSequenceClassification, stage rm')
    """
    path = Path(model_dir)
    try:
        architectures = json.loads((path / "config.json").read_text(encoding="utf-8")).get("architectures")
    except (OSError, ValueError, AttributeError):
        architectures = None
    names = [a for a in architectures or [] if isinstance(a, str)]
    try:
        stage = json.loads((path / INFO_FILE).read_text(encoding="utf-8")).get("stage")
    except (OSError, ValueError, AttributeError):
        stage = None
    evidence = ", ".join([*names, *([f"stage {stage}"] if isinstance(stage, str) else [])])
    for kind, (endings, stages, _) in KINDS.items():
        if any(a.endswith(endings) for a in names) or (not names and stage in stages):
            return kind, evidence
    return None, evidence


def require_kind(model_dir: str | Path, need: str, flag: str, command: str) -> None:
    """Refuse, before anything loads, a checkpoint that is positively the other kind than ``need`` (a reward
    model given to ``chat``, a causal LM to ``serve-reward``): it would load with a random head and run.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> _ = (out / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    >>> require_kind(out, "reward_model", "--model", "serve-reward")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llm.errors.UserError: --model ...: a causal LM (LlamaForCausalLM), and serve-reward needs a reward model ...
    """
    kind, evidence = checkpoint_kind(model_dir)
    if kind is not None and kind != need:
        what = KINDS[kind][2].split(" (")[0]
        raise UserError(f"{flag} {model_dir}: {what} ({evidence}), and {command} needs {KINDS[need][2]}")
