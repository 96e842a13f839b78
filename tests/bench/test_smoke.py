"""Every ``bench/*.py`` runs in ``make test``: ``--smoke`` takes the script's own code paths at tiny sizes and
must print its table, so a benchmark cannot rot unnoticed (issue 24: ``bench/dpo_throughput.py`` crashed for
weeks after a change to ``build_llama``, and the README's DPO table could no longer be reproduced).

Each script runs as a subprocess from the repository root, as a user runs it, with ``HF_HUB_OFFLINE=1`` and its
temporary files under the test's folder. A new bench gets an entry in ``SMOKES`` (its header line, and any flags
besides ``--smoke``); a bench without one fails here, so none is silently left out. The numbers a smoke run
prints mean nothing; only that the run finishes and prints its table is checked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.helpers import REPO

ROOT = REPO
BENCH = ROOT / "bench"


@dataclass(frozen=True)
class Smoke:
    """How to smoke-run one bench: the header line of its table (a regular expression, matched against a
    whole line), its arguments (``{tmp}``: the test's folder), or why it is not run here."""

    header: str = ""
    args: tuple[str, ...] = ("--smoke",)
    skip: str = ""


WORK = ("--smoke", "--work_dir", "{tmp}/work")  # benches that write their results into a folder
SMOKES = {
    "dpo_throughput.py": Smoke(r"method\s+pairs/s\s+trained tokens/s\s+vs TRL"),
    "encode.py": Smoke(r"path\s+conv/s\s+tokens/s\s+vs plain"),
    "gatt_ablation.py": Smoke(r"model\s+instruction\s+t1\s+t2", WORK),
    "gpu_check.py": Smoke(
        skip="smoke-run on CPU (--tiny --device cpu) by tests/bench/test_gpu_check.py::test_tiny_run_end_to_end"
    ),
    "machine.py": Smoke(skip="a helper the benches import (the CPU's name), no table"),
    "multiturn_cache.py": Smoke(r"tiny: \d+ conversations × \d+ turns, .*"),
    "packing.py": Smoke(
        r"method\s+\|\s+rows\s+efficiency\s+time \(s\)\s+\|\s+rows\s+efficiency\s+time \(s\)"
    ),
    "ppo_step.py": Smoke(r"loop\s+iteration\s+generation\s+scoring\s+ref/old logps\s+update"),
    "real_persistence.py": Smoke(r"\| model \| train t1 \| train t2 \| train t2-8 \|.*", WORK),
    "real_speed.py": Smoke(r"method\s+steps\s+trained tok/s\s+peak RSS MB\s+loss\s+vs TRL\s+vs bare", WORK),
    "reward_server.py": Smoke(r"\| clients \| serving\s+\|\s+req/s \|.*"),
    "rl_roleplay.py": Smoke(r"model\s+instruction\s+t1\s+t2", WORK),
    "sft_throughput.py": Smoke(r"method\s+steps\s+real tok/s\s+padding\s+trained.*vs TRL\s+vs pad"),
    "text_rows.py": Smoke(r"\s*documents\s+rows \|\s+linear docs/s\s+s \|\s+quadratic docs/s\s+s"),
}
# The second table of reward_server.py (the hostile client), checked beside the first.
HOSTILE_HEADER = r"\| server \| ordinary request \| quiet p50 ms \|.*"
# real_speed.py's DPO and GRPO tables, checked beside its SFT table.
REAL_SPEED_HEADERS = (
    r"method\s+pairs/s\s+trained tok/s\s+peak RSS MB\s+vs TRL",
    r"method\s+s/iter\s+generate\s+reward\s+logps\s+update\s+peak RSS MB\s+reward curve",
)
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py"))


def table_after(header: str, stdout: str) -> list[str]:
    """The lines after the first line that is ``header``, up to the next blank line.

    >>> table_after(r"a\\s+b", "# note\\na   b\\n---\\n1   2\\n\\nend")
    ['---', '1   2']
    >>> table_after(r"x", "a\\nb")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    AssertionError: no table header matching 'x' in:...
    """
    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if re.fullmatch(header, line.rstrip())), None)
    if start is None:
        raise AssertionError(f"no table header matching {header!r} in:\n{stdout[-3000:]}")
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append(line)
    return rows


def test_every_bench_has_a_smoke_run():
    """Cheap, not slow: a new bench without an entry, or an entry whose script lost ``--smoke``, fails here
    even where the slow tests are not run."""
    assert SCRIPTS, BENCH
    missing = [s for s in SCRIPTS if s not in SMOKES]
    assert not missing, f"add these to SMOKES in tests/bench/test_smoke.py (and give them --smoke): {missing}"
    for script in SCRIPTS:
        smoke = SMOKES[script]
        if not smoke.skip:
            assert "--smoke" in smoke.args and '"--smoke"' in (BENCH / script).read_text(), script


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_smoke(script, tmp_path):
    smoke = SMOKES.get(script)
    if smoke is None:
        pytest.fail(f"bench/{script} has no entry in SMOKES")
    if smoke.skip:
        pytest.skip(smoke.skip)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        # One thread: on a machine shared by other jobs, torch's spinning OpenMP threads made these runs 5-10x
        # slower (measured: ppo_step.py --smoke 200 s with 2 threads at load 8, 44 s with 1).
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "TMPDIR": str(tmp_path),  # the benches' temporary folders (some are kept for inspection)
        "LLM_TRAIN_CACHE": str(tmp_path / "cache"),
    }
    args = [a.format(tmp=tmp_path) for a in smoke.args]
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    assert table_after(smoke.header, proc.stdout), proc.stdout[-3000:]  # the header, then at least one row
    if script == "reward_server.py":
        assert table_after(HOSTILE_HEADER, proc.stdout), proc.stdout[-3000:]
    if script == "real_speed.py":
        for header in REAL_SPEED_HEADERS:
            assert table_after(header, proc.stdout), proc.stdout[-3000:]
        assert (tmp_path / "work" / "real_speed.png").exists()
