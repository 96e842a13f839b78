"""The launch scripts users copy (scripts/run_*.sh): each parses as bash, and every `llm-train` flag it
passes exists on the stage it calls — a renamed flag would otherwise surface only on a GPU node."""

import re
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((REPO / "scripts").glob("run_*.sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_the_script_parses(script):
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def stage_flags(stage: str) -> set[str]:
    from llm.train.grpo.trainer import GRPOArguments
    from llm.train.ppo.trainer import PPOArguments

    return {f.name for f in fields({"grpo": GRPOArguments, "ppo": PPOArguments}[stage])}


@pytest.mark.parametrize("script, stage", [("run_grpo.sh", "grpo"), ("run_summarize_rlhf.sh", "ppo")])
def test_every_flag_the_script_passes_exists(script, stage):
    flags = stage_flags(stage)
    used = set(re.findall(r"--([a-z_]+)", (REPO / "scripts" / script).read_text()))
    used -= {
        "num_processes",
        "multi_gpu",
        "num_machines",
        "machine_rank",
        "main_process_ip",
        "main_process_port",
        "num_gpus",
        "module",
        "no_local_rank",
        "index_url",
        "model",
        "port",
        "token_file",
        "device",
        "max_batch",
        "flag",
    }  # accelerate's, deepspeed's and serve-reward's own
    assert used <= flags, sorted(used - flags)
