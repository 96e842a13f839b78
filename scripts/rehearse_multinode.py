"""Two "nodes" on one machine: network namespaces joined by a veth pair, each launching the project's own
scripts with ``NNODES=2`` as a user would on two real machines; every run compared with one node x two
processes (same host, same seeds), and a failure drill (node 1 killed mid-run, then a resumed relaunch).

    $ sudo .venv/bin/python scripts/rehearse_multinode.py            # make rehearse-multinode (root: ip netns)
    $ sudo .venv/bin/python scripts/rehearse_multinode.py --only sft drill --keep /tmp/rehearsal

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUBNET = "10.77.0"  # node i has SUBNET.(i+1)/24
MASTER_ADDR = f"{SUBNET}.1"
MASTER_PORT = 29500  # inside the namespaces: private to this rehearsal, cannot collide with the host's
SKIP = 77  # exit status: namespaces cannot be created here
STEPS = 4  # optimizer steps of each run
DRILL_STEPS, DRILL_SAVE, DRILL_KILL_AFTER = 12, 3, 5  # the drill: save every 3 steps, kill node 1 after step 5
DRILL_BOUND_S = 60  # node 0 must be gone this long after node 1 was killed


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
        ping = sh("ip", "netns", "exec", nodes[1].netns, "ping", "-c", "1", "-W", "2", MASTER_ADDR, check=False)
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
    sys.path.insert(0, str(REPO / "scripts"))
    from repeat_distributed import write_inputs as distributed_inputs

    inputs = distributed_inputs(root)
    prompts = [{"messages": [{"role": "user", "content": f"say something about the number {i}"}]} for i in range(8)]
    inputs["prompts"] = root / "prompts.jsonl"
    inputs["prompts"].write_text("".join(json.dumps(p) + "\n" for p in prompts))
    return inputs


COMMON = {
    "template": "chatml", "max_length": 256, "per_device_train_batch_size": 2, "learning_rate": 1e-3,
    "logging_steps": 1, "max_steps": STEPS, "report_to": "none", "save_strategy": "no", "use_cpu": True,
    "seed": 0, "disable_tqdm": True, "overwrite": True,
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
             "reward_fn": "ppo_rewards:letter_e", "max_steps": 3, "rollout_batch_size": 8, "mini_batch_size": 4,
             "num_generations": 4, "response_length": 8, "learning_rate": 3e-3, "beta": 0.1,
             "report_to": "none", "max_prompt_length": 64, "temperature": 1.0, "seed": 0,
             "template": "chatml"}  # fmt: skip
    return flags_argv(flags)


def flags_argv(flags: dict) -> list[str]:
    sys.path.insert(0, str(REPO))
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
        return ["bash", SCRIPTS[stage], str(inputs["policy"]), str(inputs["pairs"]), str(out), *dpo_flags(inputs), *extra]
    return ["bash", SCRIPTS[stage], *grpo_flags(inputs), *extra]


def base_env(work: Path, name: str) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{REPO}:{REPO / 'tests'}",  # tests/: the reward function ppo_rewards:letter_e
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


def run_stage(stage, inputs, work, logs, nodes, extra=(), out=None, timeout=600, name=None) -> tuple[Path, list[Run]]:
    """``stage`` on two nodes (``nodes`` given) or on one node x two processes (``nodes`` None)."""
    name = name or f"{stage}-{'two-nodes' if nodes else 'one-node'}"
    out = out or work / name
    config = work / f"{name}.yaml"
    if stage == "sft":
        import yaml

        config.write_text(yaml.safe_dump(sft_config(inputs)))
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
