"""A free loopback port for the tests that start servers or torch.distributed rendezvous, and a
`serve-reward` process on one."""

import contextlib
import socket
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


def free_port() -> int:
    """A port nobody listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served_reward_model(model_dir: Path):
    """``llm-train serve-reward --model MODEL_DIR --port 0`` in a child process; yields its URL, stops it after."""
    serve = "import sys; from llm.commands.serve_reward import main; sys.exit(main())"
    server = subprocess.Popen(
        [sys.executable, "-c", serve, "--model", str(model_dir), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        yield server.stdout.readline().split(" on ")[1].split(" ")[0]
    finally:
        server.terminate()
        server.wait(timeout=30)
