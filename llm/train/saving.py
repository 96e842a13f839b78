"""Saves that a kill cannot leave half-done: Trainer checkpoints and the final model of a run.

A run folder holds the final model at its top level (a standard Hugging Face directory) and the Trainer's
``checkpoint-N`` folders beside it. Both are written so that a process killed at any filesystem call leaves
either the previous complete state or nothing that looks complete — never new weights beside an old
``llm_train.json`` (whose template ``chat`` and ``grpo`` would then use):

- **Checkpoints** (:class:`Trainer`): the Trainer writes ``checkpoint-N`` inside the hidden
  staging folder :data:`CHECKPOINT_STAGING` of the run; once every rank is done, rank 0 renames it into
  place (one atomic rename) and only then rotates old checkpoints away. ``checkpoint-N`` is complete or
  absent, so ``--resume_from_checkpoint true`` always finds a complete one.
- **The final model** (:func:`save_final`): every file is written into :data:`FINAL_STAGING` first. The
  swap then runs under the sentinel :data:`~llm.models.checkpoint.SAVING` (loaders refuse a folder that
  holds it): the old model's files are moved aside into :data:`FINAL_ASIDE`, the new ones moved in with
  ``llm_train.json`` last, the sentinel removed, the old files deleted. :func:`recover_final` (run before a
  stage writes the folder again) puts the old model back after a kill mid-swap.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> def write(tmp):  # what a stage's save writes
    ...     (tmp / "model.bin").write_text("new")
    ...     (tmp / INFO_FILE).write_text("{}")
    >>> save_final(out, write)
    >>> sorted(p.name for p in out.iterdir()), json.loads((out / INFO_FILE).read_text())
    (['llm_train.json', 'model.bin'], {'files': ['llm_train.json', 'model.bin']})

``llm_train.json`` lists the model's files, so the next save knows exactly which files to replace.

Both also stop at the end of a turn wherever they are served (:func:`stop_at_turn_end`): ``transformers serve``,
vLLM and llama.cpp stop on ``generation_config.json``'s ``eos_token_id``, which the model's config fills
with the tokenizer's EOS alone — not ``<|im_end|>`` or ``<|eot_id|>``, the token a chat model is trained to
end its reply with.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import transformers
from transformers.trainer_utils import sort_checkpoints

from llm.data.templates import get_template
from llm.errors import UserError
from llm.inference.stops import turn_ends
from llm.models.checkpoint import INFO_FILE, SAVING

CHECKPOINT_STAGING = ".llm-train-checkpoint.tmp"
FINAL_STAGING = ".llm-train-final.tmp"
FINAL_ASIDE = ".llm-train-final.old"
DELETING = ".llm-train-deleting-"  # + the name of a checkpoint being rotated away
GENERATION_CONFIG = "generation_config.json"
STAGING_NAMES = (CHECKPOINT_STAGING, FINAL_STAGING, FINAL_ASIDE, SAVING)  # what a killed save may leave


def _fsync_dir(directory: Path) -> None:
    """Make the renames in ``directory`` durable (a power cut must not undo the order they were made in)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def staging_for_final(out: Path) -> Path:
    """The empty folder inside ``out`` that the new final model is written into (same filesystem as ``out``,
    and the same path on every rank, since under ZeRO-3 every rank writes its part of the weights)."""
    staged = out / FINAL_STAGING
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    return staged


def swap_final(out: Path, staged: Path) -> None:
    """Put the complete model in ``staged`` at the top level of ``out``, replacing the previous one.

    Order (each step one rename or write; :func:`recover_final` undoes a kill between any two):
    the sentinel → the old model's files aside (``llm_train.json`` first) → the new files in (``llm_train.json``
    last) → sentinel removed → old files deleted.
    """
    new = sorted(p.name for p in staged.iterdir())
    if INFO_FILE not in new:
        raise RuntimeError(f"{staged}: no {INFO_FILE}; refusing to put an unmarked model in place")
    old = set(final_files(out)) | {name for name in new if (out / name).exists()}
    sentinel = out / SAVING
    sentinel.write_text(json.dumps({"new": new, "old": sorted(old)}) + "\n")
    aside = out / FINAL_ASIDE
    shutil.rmtree(aside, ignore_errors=True)
    aside.mkdir()
    for name in sorted(old, key=lambda n: n != INFO_FILE):  # the old model stops looking complete first
        if (out / name).exists():
            os.replace(out / name, aside / name)
    for name in sorted(new, key=lambda n: n == INFO_FILE):  # and the new one starts looking complete last
        os.replace(staged / name, out / name)
    _fsync_dir(out)
    sentinel.unlink()
    shutil.rmtree(aside, ignore_errors=True)
    shutil.rmtree(staged, ignore_errors=True)


def final_files(out: Path) -> list[str]:
    """The files of the final model at the top of ``out``, as its ``llm_train.json`` lists them."""
    try:
        files = json.loads((out / INFO_FILE).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [
        name for name in files if isinstance(name, str) and "/" not in name and name not in ("", ".", "..")
    ]


def recover_final(out: Path) -> None:
    """Undo a final save that was killed: the previous model back in place (or no model, when there was
    none), the half-written new one gone. A no-op when the last save finished."""
    sentinel = out / SAVING
    if sentinel.is_file():
        try:
            swap = json.loads(sentinel.read_text())
        except ValueError:  # killed while writing the sentinel itself: nothing was moved yet
            swap = {"new": [], "old": []}
        aside, staged = out / FINAL_ASIDE, out / FINAL_STAGING
        for name in swap.get("new", []):
            if not (staged / name).exists() and (out / name).is_file():  # moved in already: it is new
                (out / name).unlink()
        if aside.is_dir():
            for entry in sorted(aside.iterdir(), key=lambda p: p.name == INFO_FILE):
                os.replace(entry, out / entry.name)
        _fsync_dir(out)
        sentinel.unlink()
    for debris in (
        FINAL_ASIDE,
        FINAL_STAGING,
        CHECKPOINT_STAGING,
        *(p.name for p in out.glob(f"{DELETING}*")),
    ):
        shutil.rmtree(out / debris, ignore_errors=True)


def with_turn_ends(generation_config: dict[str, Any], turn_end_ids: list[int]) -> dict[str, Any]:
    """``generation_config`` (the JSON of ``generation_config.json``) stopping on ``turn_end_ids`` too: its own
    EOS ids first, then the end-of-turn ids it lacks (as Llama 3's lists ``[<|end_of_text|>, <|eot_id|>]``).
    ``_from_model_config`` goes: the file no longer just repeats the model's config.

    >>> with_turn_ends({"eos_token_id": 2, "_from_model_config": True, "pad_token_id": 3}, [5, 2])
    {'eos_token_id': [2, 5], 'pad_token_id': 3}
    """
    own = generation_config.get("eos_token_id")
    own = [] if own is None else [own] if isinstance(own, int) else list(own)
    out = {k: v for k, v in generation_config.items() if k != "_from_model_config"}
    out["eos_token_id"] = list(dict.fromkeys([*own, *turn_end_ids]))
    return out


def stop_at_turn_end(model_dir: Path) -> list[int] | None:
    """Make the chat model saved in ``model_dir`` stop at the end of its turn when served: its
    ``generation_config.json`` gets the end-of-turn token of its chat template among its EOS ids.

    The end of turn is read from the saved Jinja ``chat_template`` — the template every OpenAI-compatible
    server renders the conversation with — as :func:`llm.inference.stops.turn_ends` finds it for our own
    ``chat`` (the template's end-of-turn token, then the tokenizer's EOS). Returns the EOS ids written, or
    None where there is nothing to serve as a chat: no ``generation_config.json`` (a reward model, LoRA
    adapters), no tokenizer or no ``chat_template`` (pre-training on plain text).
    """
    path = model_dir / GENERATION_CONFIG
    if not path.is_file():
        return None
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    except (OSError, ValueError):  # no tokenizer saved beside the weights
        return None
    if not getattr(tokenizer, "chat_template", None):
        return None
    try:
        _, ids = turn_ends(get_template("tokenizer", tokenizer), tokenizer)
    except (UserError, jinja2.TemplateError) as e:
        # A Jinja our probe cannot read: the weights are still worth saving, as they are.
        print(
            f"warning: {model_dir}: end-of-turn token not found from its chat_template ({e}); "
            f"{GENERATION_CONFIG} keeps the EOS of the model's config"
        )
        return None
    config = with_turn_ends(json.loads(path.read_text(encoding="utf-8")), ids)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return config["eos_token_id"]


def save_final(
    out: Path, write: Callable[[Path], None], is_main: bool = True, barrier: Callable = lambda: None
):
    """Write the final model with ``write(staging_dir)`` (on every rank; it must write ``llm_train.json``)
    and swap it into ``out`` on the main process."""
    out.mkdir(parents=True, exist_ok=True)
    staged = out / FINAL_STAGING
    if is_main:
        recover_final(out)
        staging_for_final(out)
    barrier()
    write(staged)
    barrier()
    if is_main:
        stop_at_turn_end(staged)
        listed = json.loads((staged / INFO_FILE).read_text())
        listed["files"] = sorted(p.name for p in staged.iterdir())
        (staged / INFO_FILE).write_text(json.dumps(listed, indent=2) + "\n")
        swap_final(out, staged)
    barrier()


def rotate(run_dir: Path, limit: int | None, best: str | None = None) -> None:
    """Keep the ``limit`` newest checkpoints (and the best one), as the Trainer's ``save_total_limit`` does —
    but each one is renamed out of the ``checkpoint-N`` namespace before it is deleted, so a kill mid-delete
    leaves debris that nothing mistakes for a checkpoint (:func:`recover_final` clears it)."""
    if not limit or limit <= 0:
        return
    checkpoints = sort_checkpoints(str(run_dir), use_mtime=True)  # oldest first
    if not checkpoints:
        return
    protected = {checkpoints[-1], *([str(Path(best))] if best else [])}  # the newest, for resuming; the best
    surplus = len(checkpoints) - max(limit, len(protected))
    for old in [c for c in checkpoints if c not in protected][: max(surplus, 0)]:
        trash = run_dir / f"{DELETING}{Path(old).name}"
        os.replace(old, trash)
        shutil.rmtree(trash)


class Trainer(transformers.Trainer):
    """``transformers.Trainer`` (a drop-in: every stage uses this one) whose ``checkpoint-N`` folders appear whole or not at all.

    The Trainer's own save runs unchanged, pointed at the staging folder (every rank writes there: model,
    optimizer, DeepSpeed shards, RNG state, ``trainer_state.json``); rank 0 then renames the finished
    ``checkpoint-N`` into the run folder and rotates old checkpoints — after the new one is in place, so a
    kill never leaves fewer complete checkpoints than ``save_total_limit`` asks for.
    """

    _staging_run_dir: str | None = None

    def _get_output_dir(self, trial: Any) -> str:
        return self._staging_run_dir or super()._get_output_dir(trial)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        run_dir = Path(super()._get_output_dir(trial))
        staging = run_dir / CHECKPOINT_STAGING
        name = f"checkpoint-{self.state.global_step}"
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)  # debris of a killed save
            staging.mkdir(parents=True)
        self.accelerator.wait_for_everyone()
        self._staging_run_dir = str(staging)
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging_run_dir = None
        if self.args.should_save:
            stop_at_turn_end(staging / name)  # a checkpoint-N is served too
        best = self.state.best_model_checkpoint
        if best is not None and Path(best).parent == staging:
            # The Trainer named the best checkpoint by where it was written; name it by where it will live.
            self.state.best_model_checkpoint = str(run_dir / Path(best).name)
            if self.args.should_save:
                self.state.save_to_json(str(staging / name / "trainer_state.json"))
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            target = run_dir / name
            if target.exists():  # a checkpoint of the same step from an earlier, resumed attempt
                shutil.rmtree(target)
            os.replace(staging / name, target)
            _fsync_dir(run_dir)
            shutil.rmtree(staging, ignore_errors=True)
            rotate(run_dir, self.args.save_total_limit, self.state.best_model_checkpoint)
        self.accelerator.wait_for_everyone()
