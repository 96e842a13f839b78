"""The README's install is enough to train: a fresh virtual environment (no system site-packages, so nothing the
test suite's own environment holds can stand in for a missing dependency) with a torch build, then
``pip install -e ".[data]"``, imports every training and command module and runs ``llm-train sft --max_steps 1``
on a tiny local checkpoint. Packages come from pip's configured indexes and cache (a local wheel mirror where
the machine has one); the test skips when no package index answers."""

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCUMENTED_EXTRAS = "data"  # README: Install for your own use: pip install -e ".[data]"
# Modules that need an extra beyond the documented one, each named in pyproject.toml's optional dependencies.
OPTIONAL = {"llm.commands.serve_reward": "serve", "llm.commands.web": "web"}


def pip(python: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.mark.slow
def test_the_documented_install_trains(checkpoint, tmp_path, request):
    import torch

    env_dir = tmp_path / "venv"
    request.addfinalizer(lambda: shutil.rmtree(env_dir, ignore_errors=True))  # 1.6 GB: not kept with tmp_path
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    python = env_dir / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(tmp_path / "probe"), "pyyaml"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if probe.returncode:
        pytest.skip(f"no package index reachable: {probe.stderr.strip().splitlines()[-1:]}")
    # "Install a torch build for your machine first" (not what this test is about): the build running the
    # tests, from pip's configured sources, else the CPU build of its version from PyTorch's index.
    done = pip(python, f"torch=={torch.__version__}")
    if done.returncode:
        public = torch.__version__.split("+")[0]
        done = pip(python, f"torch=={public}", "--index-url", "https://download.pytorch.org/whl/cpu")
    if done.returncode:
        pytest.skip(f"no torch {torch.__version__} build to install: {done.stderr.strip().splitlines()[-1:]}")
    done = pip(python, "-e", f"{REPO}[{DOCUMENTED_EXTRAS}]")
    assert done.returncode == 0, done.stderr[-3000:]

    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env = {**clean, "HF_HUB_OFFLINE": "1", "LLM_TRAIN_CACHE": str(tmp_path / "cache")}
    walk = (
        "import importlib, pkgutil, llm.train, llm.commands\n"
        f"optional = {OPTIONAL!r}\n"
        "for package in (llm.train, llm.commands):\n"
        "    for m in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if m.name not in optional and not m.name.endswith('.__main__'):\n"
        "            importlib.import_module(m.name)\n"
        "print(llm.__file__)\n"
    )
    done = subprocess.run([str(python), "-c", walk], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str(REPO / "llm" / "__init__.py")  # the editable install, not another copy

    out = tmp_path / "sft"
    argv = [
        "sft", "--model_name_or_path", str(checkpoint), "--dataset", "pippa",
        "--data_files", str(REPO / "llm" / "data" / "samples" / "pippa_sample.jsonl"), "--template", "chatml",
        "--max_length", "256", "--max_steps", "1", "--per_device_train_batch_size", "2", "--output_dir", str(out),
        "--report_to", "none", "--save_strategy", "no", "--use_cpu", "true", "--disable_tqdm", "true",
    ]  # fmt: skip
    done = subprocess.run(
        [str(env_dir / "bin" / "llm-train"), *argv], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "model.safetensors").exists() and (out / "llm_train.json").exists()
    assert sys.prefix != str(env_dir)  # the run used the fresh environment, not this one
