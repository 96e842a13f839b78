"""Two "nodes" on one machine: network namespaces joined by a veth pair, each launching the project's own
scripts with ``NNODES=2`` as a user would on two real machines; every run compared with one node x two
processes (same host, same seeds), and two failure drills: node 1 killed mid-run (then a relaunch that
resumes), and node 1's link cut (a silent peer: ``--ddp_timeout`` ends the run).

    $ sudo .venv/bin/python scripts/rehearse_multinode.py            # make rehearse-multinode (root: ip netns)
    $ sudo .venv/bin/python scripts/rehearse_multinode.py --only sft drill --keep /tmp/rehearsal

It prints the table of docs/scaling.md (about 5 minutes on 2 CPU cores).

The plumbing (root only; nothing leaves the machine, both veth ends live inside the namespaces)::

    node0 (netns) 10.77.0.1/24 ──veth── 10.77.0.2/24 node1 (netns)

Each node runs, unchanged, ``scripts/run_finetune.sh`` (SFT, ZeRO-3, ``LAUNCHER=torchrun``),
``scripts/run_dpo.sh`` (DPO, ZeRO-2, ``LAUNCHER=torchrun``) and ``scripts/run_grpo.sh`` (GRPO under
``accelerate launch --num_machines 2``) with ``NNODES=2 NODE_RANK=i MASTER_ADDR=10.77.0.1 NUM_GPUS=1`` on
gloo (no GPU: one CPU process per node). ``GLOO_SOCKET_IFNAME`` names the node's interface, as on real
machines whose host name resolves to an address gloo cannot use. The namespaces and the veth pair are
removed on exit, on failure and on Ctrl-C (and SIGTERM).

Exit status: 0 when every comparison and the drill passed, 1 otherwise, 77 when namespaces cannot be
created here (not root, no ``ip``) — the test skips on that.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "scripts")]  # llm, and repeat_distributed's tiny inputs
SUBNET = "10.77.0"  # node i has SUBNET.(i+1)/24
MASTER_ADDR = f"{SUBNET}.1"
MASTER_PORT = 29500  # inside the namespaces: private to this rehearsal, cannot collide with the host's
SKIP = 77  # exit status: namespaces cannot be created here
STEPS = 4  # optimizer steps of each run
DRILL_STEPS, DRILL_SAVE, DRILL_KILL_AFTER = (
    12,
    3,
    5,
)  # the drill: save every 3 steps, kill node 1 after step 5
DRILL_BOUND_S = 60  # node 0 must be gone this long after node 1 was killed
CUT_TIMEOUT_S = 20  # --ddp_timeout of the cut-link drill: a silent peer ends the run after this
CUT_BOUND_S = CUT_TIMEOUT_S + 30  # both nodes must be gone this long after the link went down


# ---------------------------------------------------------------- the two nodes


@dataclass(frozen=True)
class Node:
    rank: int
    netns: str
    ifname: str

    @property
    def addr(self) -> str:
        return f"{SUBNET}.{self.rank + 1}"


def namespaces_unavailable() -> str | None:
    """Why two namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    if os.geteuid() != 0:
        return "not root: `ip netns add` needs CAP_SYS_ADMIN"
    return None


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def kill_node(node: Node, sig: int = signal.SIGKILL) -> int:
    """Signal every process in the node's namespace (a machine losing power); how many there were."""
    pids = [int(p) for p in sh("ip", "netns", "pids", node.netns, check=False).stdout.split()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return len(pids)


@contextlib.contextmanager
def two_nodes(tag: str) -> Iterator[tuple[Node, Node]]:
    """Namespaces ``mn<tag>-0`` and ``mn<tag>-1`` joined by a veth pair; removed (processes killed first)
    however the block ends."""
    nodes = (Node(0, f"mn{tag}-0", f"mn{tag}a"), Node(1, f"mn{tag}-1", f"mn{tag}b"))
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` runs on SIGTERM
    try:
        for node in nodes:
            sh("ip", "netns", "add", node.netns)
        sh("ip", "link", "add", nodes[0].ifname, "type", "veth", "peer", "name", nodes[1].ifname)
        for node in nodes:
            sh("ip", "link", "set", node.ifname, "netns", node.netns)
            run_in = ("ip", "netns", "exec", node.netns, "ip")
            sh(*run_in, "addr", "add", f"{node.addr}/24", "dev", node.ifname)
            sh(*run_in, "link", "set", node.ifname, "up")
            sh(*run_in, "link", "set", "lo", "up")
        ping = sh(
            "ip", "netns", "exec", nodes[1].netns, "ping", "-c", "1", "-W", "2", MASTER_ADDR, check=False
        )
        if ping.returncode != 0 and shutil.which("ping"):
            raise RuntimeError(f"node 1 cannot reach node 0 at {MASTER_ADDR}: {ping.stdout}{ping.stderr}")
        yield nodes
    finally:
        for node in nodes:
            kill_node(node)
        for node in nodes:  # deleting a namespace deletes the veth end inside it, and so the pair
            sh("ip", "netns", "del", node.netns, check=False)
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------- inputs and launches


def write_inputs(root: Path) -> dict[str, Path]:
    """The tiny saved Llamas, chats and pairs of the two-process tests, plus GRPO's prompts."""
    from repeat_distributed import write_inputs as distributed_inputs

    inputs = distributed_inputs(root)
    prompts = [
        {"messages": [{"role": "user", "content": f"say something about the number {i}"}]} for i in range(8)
    ]
    inputs["prompts"] = root / "prompts.jsonl"
    inputs["prompts"].write_text("".join(json.dumps(p) + "\n" for p in prompts))
    return inputs


COMMON = {
    "template": "chatml", "max_length": 256, "per_device_train_batch_size": 2, "learning_rate": 1e-3,
    "logging_steps": 1, "max_steps": STEPS, "report_to": "none", "save_strategy": "no", "use_cpu": True,
    "seed": 0, "disable_tqdm": True,
}  # fmt: skip


def sft_config(inputs: dict[str, Path], **override) -> dict:
    return {**COMMON, "model_name_or_path": str(inputs["policy"]), "dataset": "openai",
            "data_files": str(inputs["chats"]), "deepspeed": "configs/deepspeed/zero3.json", **override}  # fmt: skip


def dpo_flags(inputs: dict[str, Path]) -> list[str]:
    """run_dpo.sh sets 7B-scale flags; these (later on the line, so they win) make it a tiny CPU run."""
    flags = {**COMMON, "ref_model_name_or_path": str(inputs["ref"]), "deepspeed": "configs/deepspeed/zero2.json",
             "bf16": False, "attn_implementation": "sdpa", "gradient_checkpointing": False, "template": "chatml",
             "gradient_accumulation_steps": 1, "validation_split": 0, "eval_strategy": "no",
             "lr_scheduler_type": "linear", "warmup_steps": 0}  # fmt: skip
    return flags_argv(flags)


def grpo_flags(inputs: dict[str, Path]) -> list[str]:
    flags = {"model_name_or_path": str(inputs["policy"]), "dataset": "openai", "data_files": str(inputs["prompts"]),
             "reward_fn": "tests.helpers.ppo_rewards:letter_e", "max_steps": 3, "rollout_batch_size": 8, "mini_batch_size": 4,
             "num_generations": 4, "response_length": 8, "learning_rate": 3e-3, "beta": 0.1,
             "report_to": "none", "max_prompt_length": 64, "temperature": 1.0, "seed": 0,
             "template": "chatml"}  # fmt: skip
    return flags_argv(flags)


def flags_argv(flags: dict) -> list[str]:
    from llm.commands.cli import yaml_to_argv

    return yaml_to_argv(flags)


SCRIPTS = {  # stage: (script, how the output folder is given)
    "sft": "scripts/run_finetune.sh",
    "dpo": "scripts/run_dpo.sh",
    "grpo": "scripts/run_grpo.sh",
}


def launch_argv(stage: str, inputs: dict[str, Path], out: Path, config: Path, extra: list[str]) -> list[str]:
    """The script's command line as a user types it (the environment carries NNODES and the rest)."""
    if stage == "sft":
        return ["bash", SCRIPTS[stage], *extra]
    if stage == "dpo":
        return [
            "bash",
            SCRIPTS[stage],
            str(inputs["policy"]),
            str(inputs["pairs"]),
            str(out),
            *dpo_flags(inputs),
            *extra,
        ]
    return ["bash", SCRIPTS[stage], *grpo_flags(inputs), *extra]


def base_env(work: Path, name: str) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO),  # the reward function tests.helpers.ppo_rewards:letter_e
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "LLM_TRAIN_CACHE": str(work / "cache" / name),  # each node its own cache, as on its own disk
        "TORCHELASTIC_ERROR_FILE": "",
    }


def stage_env(stage: str, out: Path, config: Path | None, nnodes: int, node_rank: int, nproc: int) -> dict:
    env = {"NNODES": str(nnodes), "NODE_RANK": str(node_rank), "NUM_GPUS": str(nproc), "OUTPUT_DIR": str(out),
           "LAUNCHER": "torchrun"}  # fmt: skip
    if stage == "sft":
        env["CONFIG"] = str(config)
    if stage == "grpo":
        env["REWARD"] = "checks"  # the reward comes from --reward_fn
    return env


@dataclass
class Run:
    name: str
    returncode: int
    seconds: float
    log: str


def launch(cmds: list[tuple[list[str], dict[str, str]]], logs: Path, name: str, timeout: int) -> list[Run]:
    """Start every command at once (one per node), wait for all; each one's log in ``logs``."""
    start = time.perf_counter()
    procs = []
    for i, (cmd, env) in enumerate(cmds):
        log = (logs / f"{name}-{i}.log").open("w")
        procs.append((subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT), log))
    runs = []
    for i, (proc, log) in enumerate(procs):
        try:
            code = proc.wait(timeout=max(1, timeout - (time.perf_counter() - start)))
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        log.close()
        text = (logs / f"{name}-{i}.log").read_text(errors="replace")
        runs.append(Run(f"{name}-{i}", code, time.perf_counter() - start, text))
    return runs


def in_node(node: Node, cmd: list[str]) -> list[str]:
    return ["ip", "netns", "exec", node.netns, "env", f"GLOO_SOCKET_IFNAME={node.ifname}",
            f"MASTER_ADDR={MASTER_ADDR}", f"MASTER_PORT={MASTER_PORT}", *cmd]  # fmt: skip


def run_stage(
    stage: str,
    inputs: dict[str, Path],
    work: Path,
    logs: Path,
    nodes: tuple[Node, Node] | None,
    extra: list[str] = (),
    out: Path | None = None,
    timeout: int = 600,
    name: str | None = None,
    config: dict | None = None,
) -> tuple[Path, list[Run]]:
    """``stage`` on two nodes (``nodes`` given) or on one node x two processes (``nodes`` None); SFT's YAML
    is ``config`` (default :func:`sft_config`)."""
    name = name or f"{stage}-{'two-nodes' if nodes else 'one-node'}"
    out = out or work / name
    config_file = work / f"{name}.yaml"
    if stage == "sft":
        import yaml

        config_file.write_text(yaml.safe_dump(config or sft_config(inputs)))
    config = config_file
    cmd = launch_argv(stage, inputs, out, config, list(extra))
    if nodes is None:
        from socket import socket

        with socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**base_env(work, name), **stage_env(stage, out, config, 1, 0, 2), "MASTER_PORT": str(port)}
        return out, launch([(cmd, env)], logs, name, timeout)
    cmds = [(in_node(n, cmd), {**base_env(work, f"{name}-{n.rank}"), **stage_env(stage, out, config, 2, n.rank, 1)})
            for n in nodes]  # fmt: skip
    return out, launch(cmds, logs, name, timeout)


# ---------------------------------------------------------------- the failure drill


@dataclass
class Drill:
    checkpoint: int  # the newest complete checkpoint-N when node 1 was killed (what a relaunch resumes from)
    node0_exit: int
    node0_seconds: float  # from the kill to node 0's exit
    cause: str  # the one line node 0 printed
    resumed_steps: int  # steps the relaunch trained (its logged losses)
    history_steps: list[int]  # the steps in the resumed run's log_history.json
    relaunch_exit: tuple[int, ...]
    # against the same run uninterrupted on one node x two processes (None: it failed)
    step1_diff: float | None
    weights_diff: float | None

    @property
    def passed(self) -> bool:
        return (
            self.node0_exit != 0
            and self.node0_seconds <= DRILL_BOUND_S
            and bool(self.cause)
            and self.checkpoint >= DRILL_SAVE
            and self.resumed_steps == DRILL_STEPS - self.checkpoint
            and self.history_steps == list(range(1, DRILL_STEPS + 1))
            and self.relaunch_exit == (0, 0)
            and self.step1_diff is not None
            and self.step1_diff <= BOUNDS["step-1 loss"]
            and self.weights_diff is not None
            and self.weights_diff <= BOUNDS["final weights"]
        )


def cause_line(log: str) -> str:
    """Our one-line error (``llm-train sft: error: ...``) in a node's log, or ""."""
    return next((line.strip() for line in log.splitlines() if line.startswith("llm-train sft: error:")), "")


def failure_drill(
    inputs: dict[str, Path],
    work: Path,
    logs: Path,
    nodes: tuple[Node, Node],
    timeout: int = 600,
    parallel: bool = False,
) -> Drill:
    """SFT on two nodes, a checkpoint every DRILL_SAVE steps; node 1 killed (SIGKILL to every process in its
    namespace) once checkpoint-DRILL_SAVE exists; node 0 must exit non-zero within DRILL_BOUND_S with a
    one-line cause. Then both nodes relaunch with ``--resume_from_checkpoint true`` and must train exactly
    the steps after the newest complete checkpoint, up to DRILL_STEPS, ending where the same run, never
    interrupted, ends on one node x two processes: the same step-1 loss and the same final weights."""
    import yaml

    from llm.train.resume import last_checkpoint

    out = work / "drill"
    config = sft_config(inputs, max_steps=DRILL_STEPS, save_strategy="steps", save_steps=DRILL_SAVE)
    config_file = work / "drill.yaml"
    config_file.write_text(yaml.safe_dump(config))

    def uninterrupted() -> tuple[Path, list[Run]]:
        return run_stage(
            "sft", inputs, work, logs, None, timeout=timeout, name="drill-uninterrupted", config=config
        )

    baseline = ThreadPoolExecutor(1).submit(uninterrupted) if parallel else None
    procs = []
    for n in nodes:
        env = {**base_env(work, f"drill-{n.rank}"), **stage_env("sft", out, config_file, 2, n.rank, 1)}
        log = (logs / f"drill-{n.rank}.log").open("w")
        cmd = in_node(n, ["bash", SCRIPTS["sft"]])
        procs.append(subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.time() + timeout
    while not (out / f"checkpoint-{DRILL_SAVE}").is_dir():
        if time.time() > deadline or any(p.poll() is not None for p in procs):
            kill_node(nodes[0]), kill_node(nodes[1])
            raise RuntimeError(
                f"the drill's run ended before checkpoint-{DRILL_SAVE} (logs: {logs}/drill-*.log)"
            )
        time.sleep(0.02)
    kill_node(nodes[1])
    killed = time.perf_counter()
    try:
        code = procs[0].wait(timeout=DRILL_BOUND_S * 3)
    except subprocess.TimeoutExpired:
        kill_node(nodes[0])
        code = procs[0].wait()
    seconds = time.perf_counter() - killed
    procs[1].wait()
    checkpoint = int(last_checkpoint(out).name.split("-")[1])  # a save may have finished meanwhile
    _, runs = run_stage("sft", inputs, work, logs, nodes, ["--resume_from_checkpoint", "true"], out, timeout,
                        name="drill-resume", config=config)  # fmt: skip
    history = (
        json.loads((out / "log_history.json").read_text()) if (out / "log_history.json").exists() else []
    )
    whole, (base,) = baseline.result() if baseline else uninterrupted()
    compared = base.returncode == 0 and all(r.returncode == 0 for r in runs)
    return Drill(
        checkpoint=checkpoint,
        node0_exit=code,
        node0_seconds=seconds,
        cause=cause_line((logs / "drill-0.log").read_text(errors="replace")),
        resumed_steps=runs[0].log.count("{'loss'"),
        history_steps=[e["step"] for e in history if "loss" in e],
        relaunch_exit=tuple(r.returncode for r in runs),
        step1_diff=abs(first_loss(out) - first_loss(whole)) if compared else None,
        weights_diff=max_weight_diff(out, whole) if compared else None,
    )


@dataclass
class Cut:
    exits: tuple[int, ...]
    seconds: tuple[float, ...]  # from the cut to each node's exit
    causes: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return all(c != 0 for c in self.exits) and max(self.seconds) <= CUT_BOUND_S and all(self.causes)


def cut_drill(inputs: dict[str, Path], work: Path, logs: Path, nodes: tuple[Node, Node]) -> Cut:
    """SFT on two nodes with ``--ddp_timeout CUT_TIMEOUT_S``; once it trains, node 1's link goes down (no
    process dies, no connection is reset: a silent peer). Both nodes must exit non-zero within CUT_BOUND_S,
    each with its one-line cause. The link is up again afterwards."""
    import yaml

    config_file = work / "cut.yaml"
    config = sft_config(inputs, max_steps=100_000, ddp_timeout=CUT_TIMEOUT_S)
    config_file.write_text(yaml.safe_dump(config))
    procs = []
    for n in nodes:
        env = {**base_env(work, f"cut-{n.rank}"), **stage_env("sft", work / "cut", config_file, 2, n.rank, 1)}
        log = (logs / f"cut-{n.rank}.log").open("w")
        cmd = in_node(n, ["bash", SCRIPTS["sft"]])
        procs.append(subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.time() + 600
    while "{'loss'" not in (logs / "cut-0.log").read_text(errors="replace"):
        if time.time() > deadline or any(p.poll() is not None for p in procs):
            kill_node(nodes[0]), kill_node(nodes[1])
            raise RuntimeError(f"the cut drill's run never trained (logs: {logs}/cut-*.log)")
        time.sleep(0.05)
    sh("ip", "netns", "exec", nodes[1].netns, "ip", "link", "set", nodes[1].ifname, "down")
    cut = time.perf_counter()
    exits, seconds = [], []
    for node, proc in zip(nodes, procs, strict=True):
        try:
            exits.append(proc.wait(timeout=max(1, CUT_BOUND_S * 2 - (time.perf_counter() - cut))))
        except subprocess.TimeoutExpired:
            kill_node(node)
            exits.append(proc.wait())
        seconds.append(time.perf_counter() - cut)
    sh("ip", "netns", "exec", nodes[1].netns, "ip", "link", "set", nodes[1].ifname, "up")
    causes = tuple(cause_line((logs / f"cut-{n.rank}.log").read_text(errors="replace")) for n in nodes)
    return Cut(tuple(exits), tuple(seconds), causes)


# ---------------------------------------------------------------- comparisons and the table


@dataclass
class Row:
    run: str  # e.g. "SFT, ZeRO-3"
    launcher: str
    measure: str  # what is compared
    diff: float | None  # two nodes against one node x two processes; None: a run failed
    bound: float
    seconds: tuple[float, float]  # two nodes, one node
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.diff is not None and self.diff <= self.bound


def first_loss(out: Path) -> float:
    history = json.loads((out / "log_history.json").read_text())
    return next(e["loss"] for e in history if "loss" in e and e.get("step") == 1)


def max_weight_diff(a: Path, b: Path) -> float:
    """The largest absolute difference between two saved models' tensors (same names, same shapes)."""
    from safetensors.torch import load_file

    def load(folder: Path) -> dict:
        return {k: v for f in sorted(folder.glob("*.safetensors")) for k, v in load_file(f).items()}

    left, right = load(a), load(b)
    if left.keys() != right.keys() or not left:
        raise ValueError(f"{a} and {b} hold different tensors")
    return max((left[k].float() - right[k].float()).abs().max().item() for k in left)


def max_stat_diff(a: Path, b: Path) -> tuple[float, int, int]:
    """The largest absolute difference between two ``metrics.jsonl``'s statistics (timings left out), how
    many were compared, and over how many lines (iterations); every line must log the same keys."""
    rows = [[json.loads(line) for line in (p / "metrics.jsonl").read_text().splitlines()] for p in (a, b)]
    if len(rows[0]) != len(rows[1]) or not rows[0]:
        raise ValueError(f"{a} and {b} logged {len(rows[0])} and {len(rows[1])} iterations")
    worst, count = 0.0, 0
    for x, y in zip(*rows, strict=True):
        keys = {k for k in x if not k.startswith("time_")}
        if keys != {k for k in y if not k.startswith("time_")}:
            raise ValueError(f"different statistics logged: {sorted(keys ^ set(y))}")
        worst = max([worst, *(abs(x[k] - y[k]) for k in keys)])
        count += len(keys)
    return worst, count, len(rows[0])


STAGES = {  # stage: (run, launcher as the user starts it)
    "sft": ("SFT, ZeRO-3", "run_finetune.sh (torchrun)"),
    "dpo": ("DPO, ZeRO-2", "run_dpo.sh (torchrun)"),
    "grpo": ("GRPO", "run_grpo.sh (accelerate launch)"),
}
BOUNDS = {"step-1 loss": 1e-6, "final weights": 1e-5, "every statistic": 1e-6}


def both(first: Callable[[], Any], second: Callable[[], Any], parallel: bool) -> tuple[Any, Any]:
    """``first()`` and ``second()``, one after the other or (``parallel``) at the same time: the test's way to
    spend less wall time, at the price of seconds measured on a busier machine."""
    if not parallel:
        return first(), second()
    with ThreadPoolExecutor(2) as pool:  # threads only wait for the launched processes
        a, b = pool.submit(first), pool.submit(second)
        return a.result(), b.result()


def compare(stage: str, inputs, work, logs, nodes, timeout: int, parallel: bool = False) -> list[Row]:
    """``stage`` on the two nodes and on one node x two processes; the rows of the table."""
    (two, two_runs), (one, one_runs) = both(
        lambda: run_stage(stage, inputs, work, logs, nodes, timeout=timeout),
        lambda: run_stage(stage, inputs, work, logs, None, timeout=timeout),
        parallel,
    )
    run, launcher = STAGES[stage]
    seconds = (max(r.seconds for r in two_runs), one_runs[0].seconds)
    measures = ["every statistic"] if stage == "grpo" else ["step-1 loss", "final weights"]
    failed = [r for r in two_runs + one_runs if r.returncode != 0]
    if failed:
        note = "; ".join(f"{r.name} exit {r.returncode} (log: {logs / r.name}.log)" for r in failed)
        return [Row(run, launcher, m, None, BOUNDS[m], seconds, note) for m in measures]
    if stage == "grpo":
        diff, count, iterations = max_stat_diff(two, one)
        return [Row(run, launcher, "every statistic", diff, BOUNDS["every statistic"], seconds,
                    f"{count} values: {count // iterations} a line x {iterations} iterations")]  # fmt: skip
    return [
        Row(run, launcher, "step-1 loss", abs(first_loss(two) - first_loss(one)), BOUNDS["step-1 loss"], seconds,
            f"{first_loss(two):.6f}"),
        Row(run, launcher, "final weights", max_weight_diff(two, one), BOUNDS["final weights"], seconds),
    ]  # fmt: skip


def fmt(diff: float | None) -> str:
    return "failed" if diff is None else f"{diff:.1e}"


def table(rows: list[Row], drill: Drill | None, cut: Cut | None = None) -> str:
    lines = [
        "| run | launched with | compared (two nodes vs one node x 2) | max abs diff | bound | s (2 nodes / 1) | ok |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        diff = fmt(r.diff)
        note = f" ({r.note})" if r.note else ""
        lines.append(f"| {r.run} | {r.launcher} | {r.measure}{note} | {diff} | {r.bound:.0e} | "
                     f"{r.seconds[0]:.0f} / {r.seconds[1]:.0f} | {'yes' if r.passed else 'NO'} |")  # fmt: skip
    if drill is not None:
        lines += [
            "",
            f"Failure drill (SFT, ZeRO-3, {DRILL_STEPS} steps, a checkpoint every {DRILL_SAVE}): node 1 killed "
            f"(SIGKILL, every process) after checkpoint-{DRILL_SAVE}.",
            f"  node 0: exit {drill.node0_exit} {drill.node0_seconds:.1f} s after the kill (bound {DRILL_BOUND_S} s)",
            f"  node 0 said: {drill.cause or '(no one-line cause)'}",
            f"  relaunch of both nodes with --resume_from_checkpoint true: exit {drill.relaunch_exit}, resumed "
            f"from checkpoint-{drill.checkpoint}, trained {drill.resumed_steps} steps "
            f"(steps {drill.checkpoint + 1}-{DRILL_STEPS}); log_history steps "
            f"{drill.history_steps[0] if drill.history_steps else '-'}-"
            f"{drill.history_steps[-1] if drill.history_steps else '-'}, each once: "
            f"{'yes' if drill.history_steps == list(range(1, DRILL_STEPS + 1)) else 'NO'}",
            f"  against the same {DRILL_STEPS} steps uninterrupted on one node x 2 processes: step-1 loss "
            f"{fmt(drill.step1_diff)} (bound {BOUNDS['step-1 loss']:.0e}), final weights {fmt(drill.weights_diff)} "
            f"(bound {BOUNDS['final weights']:.0e})",
            f"  drill passed: {'yes' if drill.passed else 'NO'}",
        ]
    if cut is not None:
        lines += [
            "",
            f"Cut link (SFT, ZeRO-3, --ddp_timeout {CUT_TIMEOUT_S}): node 1's interface down mid-run, no process "
            "killed (a silent peer).",
            *(f"  node {i}: exit {c} {t:.1f} s after the cut (bound {CUT_BOUND_S} s): {w or '(no one-line cause)'}"
              for i, (c, t, w) in enumerate(zip(cut.exits, cut.seconds, cut.causes, strict=True))),
            f"  cut drill passed: {'yes' if cut.passed else 'NO'}",
        ]  # fmt: skip
    return "\n".join(lines)


def rehearse(
    only: list[str], work: Path, timeout: int = 600, parallel: bool = False
) -> tuple[list[Row], Drill | None, Cut | None]:
    """The rehearsal in ``work``: inputs, the two nodes, each stage of ``only`` compared, the drills; the runs
    on one node at the same time as those on two (``parallel``) or after them."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    inputs = write_inputs(work)
    rows, drill, cut = [], None, None
    with two_nodes(f"{os.getpid() % 100000}") as nodes:
        for stage in (s for s in STAGES if s in only):
            rows += compare(stage, inputs, work, logs, nodes, timeout, parallel)
            print(table(rows[-1:] if stage == "grpo" else rows[-2:], None).splitlines()[-1], flush=True)
        if "drill" in only:
            drill = failure_drill(inputs, work, logs, nodes, timeout, parallel)
        if "cut" in only:
            cut = cut_drill(inputs, work, logs, nodes)
    return rows, drill, cut


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", nargs="+", choices=[*STAGES, "drill", "cut"], default=[*STAGES, "drill", "cut"]
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="work in this folder and keep it (runs, logs)"
    )
    parser.add_argument("--timeout", type=int, default=600, help="seconds before one launch counts as hung")
    args = parser.parse_args(argv)
    reason = namespaces_unavailable()
    if reason:
        print(f"rehearse_multinode: skipped: {reason}", file=sys.stderr)
        return SKIP
    with contextlib.ExitStack() as stack:
        work = args.keep or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="rehearse-multinode-"))
        )
        start = time.perf_counter()
        rows, drill, cut = rehearse(args.only, work, args.timeout)
        passed = all(r.passed for r in rows) and all(d is None or d.passed for d in (drill, cut))
        if not passed and args.keep is None:  # the logs outlive the temporary folder
            kept = Path(tempfile.mkdtemp(prefix="rehearse-multinode-logs-"))
            shutil.copytree(work / "logs", kept, dirs_exist_ok=True)
            print(f"logs: {kept}")
    print(f"\n{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, no GPU; "
          f"two network namespaces ({MASTER_ADDR}, {SUBNET}.2) x 1 CPU process, gloo; "
          f"{time.perf_counter() - start:.0f} s in all\n")  # fmt: skip
    print(table(rows, drill, cut))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
