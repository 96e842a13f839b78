"""What the reward server's tests share: a ``serve-reward`` process, an in-process server, raw HTTP, a fake
scorer."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from llm.serve.config import ServerConfig
from llm.serve.server import RewardServer
from tests.helpers import REPO

TOKEN = "s3cret-token"


LIMITS = ["--max_body_bytes", "64KiB", "--max_text_chars", "2000"]


COMMAND = "import sys; from llm.commands.serve_reward import main; sys.exit(main())"


NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


WORDS = "the sea light storm ship tea book sword garden rain wind night keeper ghost café 日本語 🙂".split()


READY = re.compile(r"serving reward model \S+ on (http://\S+) \(batch ≤ \d+, wait ≤ [\d.]+ ms\)$")


class Server:
    """``llm-train serve-reward`` in a subprocess; ``url`` once its ready line is read."""

    def __init__(self, model: Path, *args: str, port: int = 0):
        self.log = (model.parent / f"server-{time.monotonic_ns()}.log").open("w+")
        cmd = [sys.executable, "-c", COMMAND, "--model", str(model), "--device", "cpu", "--port", str(port)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [*cmd, *args],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            encoding="utf-8",
            cwd=REPO,
            env=env,
        )
        self.url = ""

    def wait_ready(self, timeout: float = 60.0) -> Server:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            line = ""
        match = READY.match(line)
        if not match:
            self.stop()
            self.log.seek(0)
            pytest.fail(f"server not ready: {line!r}\n{self.log.read()[-3000:]}")
        self.url = match.group(1)
        return self

    def stop(self) -> None:
        stop_all([self])


def stop_all(servers: list[Server]) -> None:
    """SIGTERM them all first, then wait: they shut down in parallel."""
    for server in servers:
        if server.proc.poll() is None:
            server.proc.terminate()
    for server in servers:
        try:
            server.proc.wait(15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
        server.proc.stdout.close()
        server.log.close()


@contextlib.contextmanager
def in_thread(config: ServerConfig, scorer):
    """A :class:`RewardServer` served by a thread of this process until the block ends."""
    server = RewardServer(config)
    server.load(scorer)
    ready = threading.Event()
    thread = threading.Thread(target=server.run, kwargs={"on_ready": lambda line: ready.set()}, daemon=True)
    thread.start()
    try:
        assert ready.wait(30), "the in-process server did not start"
        yield server
    finally:
        server.stop()
        thread.join(30)
        server.close()


def request(url: str, body: bytes | None = None, headers: dict | None = None, method: str | None = None):
    """(status, parsed JSON) of one HTTP request; HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with NO_PROXY.open(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get_reward(base: str, texts: list[str], headers: dict | None = None):
    return request(f"{base}/get_reward", json.dumps({"query": texts}).encode(), headers)


def health(base: str, headers: dict | None = None) -> dict:
    status, payload = request(f"{base}/health", headers=headers)
    assert status == 200, payload
    return payload


def raw_send(base: str, head: str, body: bytes = b"") -> socket.socket:
    """A connection that has sent ``head`` and ``body`` (maybe only part of the body Content-Length says)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(head.encode() + body)
    return sock


def raw_answer(sock: socket.socket, rest: bytes = b"") -> tuple[int, dict]:
    with sock:
        sock.sendall(rest)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, after = data.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(after.partition(b"\r\n\r\n")[2])


def raw_http(base: str, head: str) -> tuple[int, dict]:
    """Send bare request headers (no body) over a socket: for what urllib will not send."""
    return raw_answer(raw_send(base, head))


def make_texts(rng: random.Random, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60))) for _ in range(n)]


def close(got: list[float], expected: list[float]) -> bool:
    return len(got) == len(expected) and all(abs(g - e) < 1e-4 for g, e in zip(got, expected))


def lengths(texts: list[str]) -> list[float]:
    return [float(len(t)) for t in texts]


SLOW_DONE = threading.Event()  # set: "slow" is scored at once (the scorer is no longer held up)
SLOW_DONE.set()


def fake_scorer(texts: list[str]) -> list[float]:
    """Length as the reward; "boom" fails its batch, "slow" waits for SLOW_DONE (5 s at most)."""
    if "boom" in texts:
        raise RuntimeError("out of memory")
    if "slow" in texts:
        SLOW_DONE.wait(5)
    return lengths(texts)


@contextlib.contextmanager
def slow_scoring():
    """Within the block, scoring "slow" takes until the block ends."""
    SLOW_DONE.clear()
    try:
        yield
    finally:
        SLOW_DONE.set()


ERRORS = [
    ("/get_reward", b"{not json", 400, "malformed JSON"),
    ("/get_reward", b'{"query": "one text"}', 400, "list of strings"),
    ("/get_reward", b'{"query": ["ok", null]}', 400, "must be a string"),
    ("/get_reward", json.dumps({"query": ["x" * 1000] * 70}).encode(), 413, "body of"),
    ("/get_reward", json.dumps({"query": ["ok", "x" * 2001]}).encode(), 413, "2001 characters"),
    ("/get_reward", b'{"query": ["ok", "boom"]}', 500, "scoring failed: RuntimeError: out of memory"),
    ("/get_reward", b'{"query": ["slow"]}', 504, "scoring did not finish within 1 s"),
    ("/rewards", b'{"query": ["ok"]}', 404, "no such path: POST /rewards"),
    ("/health", b'{"query": ["ok"]}', 405, "method not allowed: POST /health"),
    (
        "/get_reward",
        json.dumps({"query": ["a"] * 257}).encode(),
        413,
        '"query" has 257 texts, over the limit of 256',
    ),
    (
        "/get_reward",
        b'{"query": ["ok", "a\\ud800b"]}',
        400,
        '"query"[1] is not valid Unicode: a lone surrogate',
    ),
]


class Ticks:
    """A fake scorer taking ``per_text`` seconds a text (a slow model); counts the texts it scored."""

    def __init__(self, per_text: float = 0.05):
        self.per_text = per_text
        self.scored = 0

    def __call__(self, texts: list[str]) -> list[float]:
        time.sleep(self.per_text * len(texts))
        self.scored += len(texts)
        return lengths(texts)


def ticking(**overrides) -> ServerConfig:
    """One text per batch, so a request of n texts is n slices of work."""
    return ServerConfig(**{"model": "ticks", "port": 0, "max_batch": 1, "max_wait_ms": 0, **overrides})


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


@contextlib.contextmanager
def http_server(handler):
    """A stdlib HTTP server on loopback answering with ``handler(request_handler)``; yields its URL."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            handler(self)

        do_GET = do_POST

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
