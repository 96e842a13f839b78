"""``--resume_from_checkpoint``, checked before any data or model loads: the folder a Trainer stage resumes
from, with every file it will read readable.

The Trainer reads a checkpoint only after the data is processed and the model is loaded, and a damaged file
then ends in a 30-line traceback. :func:`check_resume` reads each file the cheap way instead — the header of
a safetensors file against the file's size, the zip directory of a ``torch.save`` file (small ones loaded
whole, ``weights_only``), the JSON of ``trainer_state.json`` — and names the first one that is damaged.

``true`` means the last ``checkpoint-N`` of ``--output_dir``, as in transformers (which only understands the
boolean from Python, not the flag's text).

    >>> check_resume(None, "runs/sft") is None
    True
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

from llm.errors import UserError

FLAG = "--resume_from_checkpoint"
CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE = "trainer_state.json"
# Weights a checkpoint may hold (the first found is checked; an index names its shards); a DeepSpeed
# checkpoint may hold its engine's state (global_stepN/, "latest") instead of whole weights.
WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.safetensors",
    "adapter_model.bin",
)
FULL_LOAD_BYTES = 16 << 20  # torch files this small (RNG, scheduler state) are loaded whole


def last_checkpoint(output_dir: str | Path) -> Path | None:
    """The ``checkpoint-N`` folder of ``output_dir`` with the largest N, or None."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    found = [
        (int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_NAME.match(p.name)) and p.is_dir()
    ]
    return max(found)[1] if found else None


def check_resume(arg: str | None, output_dir: str | Path) -> str | None:
    """The checkpoint folder to resume from (None: start afresh), every file in it checked; a
    :class:`~llm.errors.UserError` naming the flag and the first file that cannot be read."""
    if arg is None or str(arg).strip().lower() in ("", "false", "none"):
        return None
    if str(arg).strip().lower() == "true":
        found = last_checkpoint(output_dir)
        if found is None:
            raise UserError(
                f"{FLAG} true: no checkpoint-N folder in --output_dir {output_dir} to resume from"
            )
        path = found
    else:
        path = Path(arg)
    if not path.exists():
        raise UserError(f"{FLAG} {path}: no such folder")
    if not path.is_dir():
        raise UserError(f"{FLAG} {path}: a file, not a checkpoint folder")
    if not any(path.iterdir()):
        raise UserError(f"{FLAG} {path}: an empty folder, not a checkpoint")
    if not (path / TRAINER_STATE).is_file():
        raise UserError(
            f"{FLAG} {path}: no {TRAINER_STATE}, so not a Trainer checkpoint (a checkpoint-N folder)"
        )
    for file in files_to_check(path):
        problem = CHECKS[kind_of(file)](file)
        if problem:
            raise UserError(f"{FLAG} {path}: {file.relative_to(path)} is {problem}")
    return str(path)


def files_to_check(path: Path) -> list[Path]:
    """The files the Trainer will read: the state, the weights (or a DeepSpeed engine's), the torch files."""
    weights = [path / name for name in WEIGHTS if (path / name).is_file()]
    deepspeed = [p for p in path.glob("global_step*") if p.is_dir()]
    if not weights and not deepspeed:
        raise UserError(
            f"{FLAG} {path}: no weights ({', '.join(WEIGHTS[:3])} …), so not a complete checkpoint"
        )
    for index in [w for w in weights if w.name.endswith(".index.json")]:
        weights += [path / shard for shard in sorted(set(read_index(index).values()))]
    torch_files = sorted(p for pattern in ("*.pt", "*.pth", "*.bin") for p in path.glob(pattern))
    torch_files = [p for p in torch_files if p.name != "training_args.bin"]  # saved, never read back
    return [path / TRAINER_STATE, *dict.fromkeys([*weights, *torch_files])]


def read_index(index: Path) -> dict[str, str]:
    """``weight_map`` of a sharded checkpoint's index (tensor → shard file name)."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(
            f"{FLAG} {index.parent}: {index.name} is not a weights index ({type(e).__name__})"
        ) from None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise UserError(f"{FLAG} {index.parent}: {index.name} is not a weights index (weight_map)")
    return weight_map


def kind_of(file: Path) -> str:
    if file.name.endswith(".json"):
        return "json"
    if file.suffix == ".safetensors":
        return "safetensors"
    return "torch"


def json_problem(file: Path) -> str | None:
    """Why ``file`` is not a JSON object, or None.

    >>> import tempfile
    >>> bad = Path(tempfile.mkdtemp()) / "trainer_state.json"
    >>> _ = bad.write_text('{"global_step": 3, "log_')
    >>> json_problem(bad)
    'not valid JSON (truncated or damaged: Unterminated string starting at: line 1 column 20)'
    """
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8 text (damaged)"
    except json.JSONDecodeError as e:
        return f"not valid JSON (truncated or damaged: {e.msg}: line {e.lineno} column {e.colno})"
    return None if isinstance(data, dict) else "not a JSON object"


def safetensors_problem(file: Path) -> str | None:
    """Why ``file`` is not a complete safetensors file, or None: its header (an 8-byte length, then JSON
    naming each tensor's byte range) must parse, and the ranges must end exactly where the file does.

    >>> import tempfile
    >>> header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    >>> good = Path(tempfile.mkdtemp()) / "model.safetensors"
    >>> _ = good.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    >>> safetensors_problem(good) is None
    True
    >>> _ = good.write_bytes(struct.pack("<Q", len(header)) + header + bytes(5))
    >>> safetensors_problem(good)
    'truncated (5 of 8 bytes of tensor data)'
    """
    size = file.stat().st_size
    with file.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return "truncated (no safetensors header)"
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            return "truncated or not a safetensors file (its header runs past the end of the file)"
        try:
            header = json.loads(f.read(length))
            ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return "not a safetensors file (its header is not valid)"
    data = size - 8 - length
    expected = max(ends, default=0)
    if data < expected:
        return f"truncated ({data} of {expected} bytes of tensor data)"
    return None


def torch_problem(file: Path) -> str | None:
    """Why ``file`` is not a complete ``torch.save`` file, or None: its zip directory (written last) must be
    there; a small file is loaded whole (``weights_only``, so nothing in it runs)."""
    try:
        with zipfile.ZipFile(file) as archive:
            archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return "truncated or not a PyTorch file (no zip directory at its end)"
    if file.stat().st_size <= FULL_LOAD_BYTES:
        import torch
        from transformers.trainer_pt_utils import safe_globals  # numpy's RNG state, as the Trainer allows

        try:
            with safe_globals():
                torch.load(file, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 — any failure to unpickle means the Trainer's load fails too
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            return f"damaged (torch.load: {first[:120]})"
    return None


CHECKS: dict[str, Callable[[Path], str | None]] = {
    "json": json_problem,
    "safetensors": safetensors_problem,
    "torch": torch_problem,
}
