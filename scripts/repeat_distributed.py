"""Run the two-process DeepSpeed paths (SFT and DPO under ZeRO-2 and ZeRO-3, gloo on CPU) many times in a row
and count the runs that fail: a non-zero exit, a rank killed by a signal, or a missing saved model.

Issue 22 row 12: a finished two-process ZeRO-3 run sometimes aborted at exit *after* saving (rank 1: SIGABRT,
"terminate called without an active exception"), so torchrun reported failure. One run proves nothing; this
runs each path ``--runs`` times (default 10), optionally beside ``--stress`` busy-looping processes that
load the CPUs as a full ``make test`` does, and prints one table.

    $ .venv/bin/python scripts/repeat_distributed.py                      # 4 paths x 10 runs (~20 min, 2 cores)
    $ .venv/bin/python scripts/repeat_distributed.py --paths sft-zero3 --runs 30 --stress 2

Every run's log is kept under ``--logs`` (default: a temporary folder, printed). Exit status: 0 when
every run passed, 1 otherwise. To see where a rank dies, run it with ``PYTHONFAULTHANDLER=1`` (Python
stacks) and ``ulimit -c unlimited`` (a core in the repository root, for ``gdb -ex "thread apply all bt"``).

What it found (see ``llm.train.args.shutdown_distributed``): the aborting thread is a gloo worker
(``ProcessGroupGloo::runLoop``) dropping a finished all-gather (``~AsyncAllgatherWork``, ZeRO-3's
``checkpoint_event_epilogue`` after the save), whose last tensor reference needs the GIL, while the main
thread is already in ``Py_FinalizeEx``: CPython ends the worker with ``pthread_exit``, and the forced unwind
through a ``noexcept`` destructor calls ``std::terminate``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PATHS = {  # name: (stage, DeepSpeed config)
    "sft-zero2": ("sft", "zero2.json"),
    "sft-zero3": ("sft", "zero3.json"),
    "dpo-zero2": ("dpo", "zero2.json"),
    "dpo-zero3": ("dpo", "zero3.json"),
}


@dataclass
class Outcome:
    path: str
    run: int
    returncode: int
    seconds: float
    saved: bool
    note: str  # what the log says went wrong, "" when nothing did

    @property
    def failed(self) -> bool:
        return self.returncode != 0 or not self.saved


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_inputs(root: Path) -> dict[str, Path]:
    """A tiny saved Llama, four chats (SFT) and eight preference pairs (DPO), as the distributed tests use."""
    from llm.data.tokenizer import build_tokenizer
    from llm.models.tiny import build_llama

    tok = build_tokenizer("bytelevel")
    for name, seed in (("policy", 3), ("ref", 1)):
        build_llama(tok, seed=seed).save_pretrained(root / name)
        tok.save_pretrained(root / name)
    chats = []
    for i in range(4):
        chats.append({"messages": [
            {"role": "user", "content": f"tell me about the sea {i} " * (i + 1)},
            {"role": "assistant", "content": f"the sea is wide and the light is old {i} " * (2 + i)},
        ]})  # fmt: skip
    pairs = []
    for i in range(8):
        prompt = [{"role": "user", "content": f"End every reply with a question. Tell me about ship {i}."}]
        pairs.append({
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": f"the ship {i} is fine, is it not ?"}],
            "rejected": [{"role": "assistant", "content": f"the ship {i} is fine ."}],
        })  # fmt: skip
    (root / "chats.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chats))
    (root / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return {
        "policy": root / "policy",
        "ref": root / "ref",
        "chats": root / "chats.jsonl",
        "pairs": root / "pairs.jsonl",
    }


def stage_argv(stage: str, inputs: dict[str, Path], out: Path, config: str) -> list[str]:
    common = [
        "--model_name_or_path", str(inputs["policy"]), "--template", "chatml", "--max_length", "256",
        "--per_device_train_batch_size", "2", "--learning_rate", "1e-3", "--logging_steps", "1", "--max_steps", "3",
        "--report_to", "none", "--save_strategy", "no", "--use_cpu", "--seed", "0", "--disable_tqdm", "true",
        "--output_dir", str(out), "--deepspeed", str(REPO / "configs" / "deepspeed" / config),
    ]  # fmt: skip
    if stage == "sft":
        return [*common, "--dataset", "openai", "--data_files", str(inputs["chats"])]
    return [*common, "--dataset", "preference", "--data_files", str(inputs["pairs"]),
            "--ref_model_name_or_path", str(inputs["ref"])]  # fmt: skip


def what_went_wrong(log: str) -> str:
    """The first telling line of a failed run's log."""
    for needle in ("terminate called", "Signal 6", "SIGABRT", "SIGSEGV", "Traceback", "Error", "error"):
        for line in log.splitlines():
            if needle in line:
                return line.strip()[:160]
    return ""


def run_once(name: str, run: int, inputs: dict[str, Path], work: Path, logs: Path, timeout: int) -> Outcome:
    stage, config = PATHS[name]
    out = work / f"{name}-{run}"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
        "-m", "llm.commands", stage, *stage_argv(stage, inputs, out, config),
    ]  # fmt: skip
    env = {
        **os.environ,
        "LLM_TRAIN_CACHE": str(work / "cache"),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        returncode, log = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as e:
        returncode, log = -9, f"timed out after {timeout} s\n{e.stdout or ''}{e.stderr or ''}"
    seconds = time.perf_counter() - start
    saved = (out / "llm_train.json").exists() and any(out.glob("*.safetensors"))
    outcome = Outcome(name, run, returncode, seconds, saved, "")
    (logs / f"{name}-{run}.log").write_text(log if isinstance(log, str) else log.decode(errors="replace"))
    if outcome.failed:
        outcome.note = what_went_wrong(log) or ("no saved model" if not saved else f"exit {returncode}")
    return outcome


def busy(stop_at: float) -> None:
    """One CPU-bound loop, as another test of a loaded ``make test`` would be."""
    x = 0
    while time.time() < stop_at:
        x = (x * 31 + 7) % 1_000_003


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each path, in a row")
    parser.add_argument("--paths", nargs="+", choices=sorted(PATHS), default=list(PATHS))
    parser.add_argument("--stress", type=int, default=0, help="busy-looping processes beside the runs")
    parser.add_argument("--logs", type=Path, default=None, help="where the runs' logs go")
    parser.add_argument("--timeout", type=int, default=600, help="seconds before one run counts as hung")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="repeat-distributed-") as tmp:
        work = Path(tmp)
        logs = args.logs or Path(tempfile.mkdtemp(prefix="repeat-distributed-logs-"))
        logs.mkdir(parents=True, exist_ok=True)
        inputs = write_inputs(work)
        stress = [
            multiprocessing.Process(target=busy, args=(time.time() + 24 * 3600,), daemon=True)
            for _ in range(args.stress)
        ]
        for p in stress:
            p.start()
        outcomes: list[Outcome] = []
        try:
            for name in args.paths:
                for run in range(1, args.runs + 1):
                    outcome = run_once(name, run, inputs, work, logs, args.timeout)
                    outcomes.append(outcome)
                    status = f"FAILED ({outcome.note})" if outcome.failed else "ok"
                    print(f"{name} run {run}/{args.runs}: exit {outcome.returncode}, {outcome.seconds:.0f} s, {status}",
                          flush=True)  # fmt: skip
        finally:
            for p in stress:
                p.terminate()
                p.join()

    print(f"\n{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"{args.stress} stress processes, torch.distributed.run --nproc_per_node 2 (gloo, DeepSpeed on CPU)")  # fmt: skip
    print("\n| path | runs | failures | median s/run |\n| --- | --- | --- | --- |")
    for name in args.paths:
        mine = [o for o in outcomes if o.path == name]
        seconds = sorted(o.seconds for o in mine)
        print(f"| {name} | {len(mine)} | {sum(o.failed for o in mine)} | {seconds[len(seconds) // 2]:.0f} |")
    failed = [o for o in outcomes if o.failed]
    for o in failed:
        print(
            f"  {o.path} run {o.run}: exit {o.returncode}: {o.note}  (log: {logs / f'{o.path}-{o.run}.log'})"
        )
    print(f"\n{len(outcomes) - len(failed)}/{len(outcomes)} runs passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
