"""``llm-train serve-reward`` and :class:`RewardClient`: real server processes on loopback, a tiny random
reward model, scores checked against in-process :func:`score` of the same checkpoint.

The protocol's error paths run against a :class:`RewardServer` in a thread of this process with a fake
scorer (no model, no process start-up), where slow and failing scores are easy to make; the batching
worker is tested in-process too, where batches are deterministic. Real processes are kept for what only a
process shows: the command line, the ready line on stdout, SIGTERM, a crash and a restart.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from llm.commands.cli import parse
from llm.commands.serve_reward import PROG, ServeRewardArguments, main
from llm.data.tokenizer import build_tokenizer
from llm.errors import ServiceError, UserError
from llm.inference.reward_client import RewardClient, RewardServerError
from llm.models.reward import build_reward_model, load_reward_model, score
from llm.serve.app import RequestError, parse_query
from llm.serve.batching import BatchWorker, ModelScorer, WorkerClosed
from llm.serve.config import ServerConfig, read_token
from llm.serve.server import RewardServer, load_scorer
from tests.helpers import REPO
from tests.helpers.ports import free_port

TOKEN = "s3cret-token"
LIMITS = ["--max_body_bytes", "64KiB", "--max_text_chars", "2000"]
COMMAND = "import sys; from llm.commands.serve_reward import main; sys.exit(main())"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
WORDS = "the sea light storm ship tea book sword garden rain wind night keeper ghost café 日本語 🙂".split()
READY = re.compile(r"serving reward model \S+ on (http://\S+) \(batch ≤ \d+, wait ≤ [\d.]+ ms\)$")


# ------------------------------------------------------------------------------------------- helpers


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


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("rm") / "tiny-rm"
    tok = build_tokenizer("bytelevel")
    model = build_reward_model(None, tok, config_name="tiny")
    model.save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def model(checkpoint):
    """The tiny model and its tokenizer, in this process; torch on one thread meanwhile (on a busy machine
    two spinning OpenMP threads are many times slower than one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield load_reward_model(str(checkpoint))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(model):
    return lambda texts: score(*model, texts)


@pytest.fixture(scope="module")
def servers(checkpoint):
    """Every server process of the module, started together (start-up is mostly imports): "a" open with
    small limits, "restart" on a known port, "sigterm" to be stopped."""
    started = {
        "a": Server(checkpoint, "--max_wait_ms", "20", *LIMITS),
        "restart": Server(checkpoint, port=free_port()),
        "sigterm": Server(checkpoint),
    }
    try:
        for server in started.values():
            server.wait_ready()
        yield started
    finally:
        stop_all(list(started.values()))


@pytest.fixture(scope="module")
def urls(servers) -> dict[str, str]:
    return {name: server.url for name, server in servers.items()}


@pytest.fixture(scope="module")
def fake():
    """An in-process server with the fake scorer, small limits and short timeouts."""
    config = ServerConfig(
        model="fake",
        port=0,
        max_wait_ms=0,
        max_body_bytes=64 << 10,
        max_text_chars=2000,
        max_request_tokens=5000,  # the fake scorer counts a character as a token
        socket_timeout=1.0,
        request_timeout=1.0,
    )
    with in_thread(config, fake_scorer) as server:
        yield server


@pytest.fixture(scope="module")
def token_server(checkpoint, model):
    """An in-process server of the real model with a token, cutting batches into forwards of ≤ 64 tokens."""
    config = ServerConfig(model=str(checkpoint), port=0, token=TOKEN, max_batch_tokens=64)
    with in_thread(config, ModelScorer(*model, max_texts=32, max_tokens=64, max_length=None)) as server:
        yield server


# --------------------------------------------------------------------------------- worker, in-process


def test_worker_batches_what_is_queued_and_holds_what_does_not_fit():
    batches = []
    worker = BatchWorker(
        lambda texts: batches.append(len(texts)) or lengths(texts), max_batch=4, max_wait_s=0.0
    )
    jobs = [
        worker.submit(t) for t in (["a"], ["bb", "c"], ["ddd", "e"], ["f" * (i + 1) for i in range(9)], ["g"])
    ]
    worker.start()  # everything is queued already: batches are decided by max_batch alone
    worker.stop()
    # In arrival order: [a, bb, c]; [ddd, e] held over; the 9-text job cut into slices of max_batch: after
    # its first slice it yields to [g], which has had nothing yet: g waits for one slice, not for all of it.
    assert batches == [3, 2, 4, 1, 4, 1]
    assert [job.rewards for job in jobs] == [
        [1.0],
        [2.0, 1.0],
        [3.0, 1.0],
        [float(i) for i in range(1, 10)],
        [1.0],
    ]
    assert worker.stats()["max_requests_per_batch"] == 2 and worker.stats()["requests"] == 5


def test_worker_scores_a_big_job_in_slices_shortest_first_and_answers_in_order():
    for max_tokens, expected in (
        (None, [["a", "bb"], ["ccc", "dddd"]]),
        (4, [["a", "bb"], ["ccc"], ["dddd"]]),
    ):
        seen = []
        worker = BatchWorker(
            lambda t, seen=seen: seen.append(list(t)) or lengths(t),
            max_batch=2,
            max_wait_s=0.0,
            max_tokens=max_tokens,
        )
        job = worker.submit(["ccc", "a", "bb", "dddd"], costs=[3, 1, 2, 4])
        worker.start()
        worker.stop()
        assert seen == expected and job.rewards == [3.0, 1.0, 2.0, 4.0]  # padded tokens: texts × longest


def test_worker_serves_whole_requests_in_arrival_order_whatever_their_size():
    seen = []
    worker = BatchWorker(lambda t: seen.append(t[0]) or lengths(t), max_batch=1, max_wait_s=0.0)
    worker.submit(["long"], costs=[600])
    for i in range(5):
        worker.submit([f"s{i}"], costs=[10])
    worker.start()
    worker.stop()
    assert seen == ["long", "s0", "s1", "s2", "s3", "s4"]  # a long text is not starved by shorter ones


def test_worker_waits_for_more_requests_up_to_max_wait():
    worker = BatchWorker(lengths, max_batch=8, max_wait_s=0.5)
    worker.start()
    first = worker.submit(["a"])
    time.sleep(0.05)  # well inside the wait: joins the same batch
    second = worker.submit(["bb"])
    assert first.done.wait(5) and second.done.wait(5)
    worker.stop()
    assert worker.stats()["batches"] == 1 and second.rewards == [2.0]


def test_worker_does_not_wait_when_no_request_is_coming():
    worker = BatchWorker(lengths, max_batch=8, max_wait_s=5.0, more_coming=lambda: False)
    worker.start()
    started = time.monotonic()
    assert worker.submit(["a"]).done.wait(5) and time.monotonic() - started < 2.5
    worker.stop()


def test_worker_failure_fails_the_bad_request_only():
    worker = BatchWorker(fake_scorer, max_batch=8, max_wait_s=0.0)
    good, bad, after = worker.submit(["ok", "xyz"]), worker.submit(["boom"]), worker.submit(["later"])
    worker.start()  # one batch of the three; it fails, then each request is scored on its own
    worker.stop()
    assert bad.rewards is None and bad.error == "scoring failed: RuntimeError: out of memory"
    assert good.rewards == [2.0, 3.0] and after.rewards == [5.0]
    assert worker.stats()["failed_batches"] == 1


def test_worker_calls_back_and_skips_abandoned_jobs_and_refuses_after_stop():
    called = []
    worker = BatchWorker(lengths, max_batch=8, max_wait_s=0.0)
    kept = worker.submit(["ab"], on_done=lambda: called.append("kept"))
    dropped = worker.submit(["cd"], on_done=lambda: called.append("dropped"))
    dropped.abandoned = True  # its request timed out: nobody waits for it
    worker.start()
    worker.stop()
    assert kept.rewards == [2.0] and dropped.rewards is None and sorted(called) == ["dropped", "kept"]
    assert worker.stats()["abandoned"] == 1 and worker.stats()["texts"] == 1
    with pytest.raises(WorkerClosed):
        worker.submit(["late"])


def test_scores_do_not_depend_on_batching(model, reference):
    texts = make_texts(random.Random(4), 24)
    expected = [reference([text])[0] for text in texts[:6]] + reference(texts[6:])
    for max_texts, max_tokens in ((32, 64), (32, 100_000), (1, 100_000), (5, 300)):
        scorer = ModelScorer(*model, max_texts=max_texts, max_tokens=max_tokens, max_length=None)
        assert close(scorer(texts), expected), (max_texts, max_tokens)
    assert scorer.forwards > 1


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b"{not json", 400, "malformed JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"prompts": []}', 400, 'missing "query"'),
        (b'{"query": "text"}', 400, "list of strings"),
        (b'{"query": ["a", 3]}', 400, '"query"[1] must be a string'),
        (b'{"query": ["abcd"]}', 413, "over the limit of 3"),
        (b'{"query": ["a", ""]}', 400, '"query"[1] is empty'),
        (b"\xff\xfe{", 400, "malformed JSON"),
        (
            b'{"query": ["a\\ud800b"]}',
            400,
            "\"query\"[0] is not valid Unicode: a lone surrogate '\\ud800' at character 1",
        ),
        (b'{"query": ["ok", "\\udfff"]}', 400, '"query"[1] is not valid Unicode'),
        (b'{"query": ["a", "b", "c"]}', 413, '"query" has 3 texts, over the limit of 2 per request'),
    ],
)
def test_parse_query_rejects(body, status, words):
    with pytest.raises(RequestError) as e:
        parse_query(body, max_text_chars=3, max_texts=2)
    assert e.value.status == status and words in e.value.reason


# ------------------------------------------------------------------------------------ the command line


def test_every_flag_is_snake_case_and_a_yaml_file_works(tmp_path, checkpoint, capsys):
    from transformers import HfArgumentParser

    parser = HfArgumentParser((ServeRewardArguments,), prog=PROG)
    names = {f.name for f in fields(ServeRewardArguments)}
    flags = [a.option_strings[0] for a in parser._actions if a.dest != "help"]
    assert sorted(flags) == sorted(f"--{name}" for name in names)
    assert all(re.fullmatch(r"--[a-z][a-z0-9_]*", flag) for flag in flags), flags
    assert {"--max_batch", "--max_wait_ms", "--token_file", "--max_body_bytes"} <= set(flags)

    config = tmp_path / "serve.yaml"
    config.write_text(f"model: {checkpoint}\nmax_batch: 64\nmax_body_bytes: 1MiB\nverbose: true\n")
    (args,) = parse((ServeRewardArguments,), [str(config), "--max_wait_ms", "5"], PROG)
    assert (args.model, args.max_batch, args.max_wait_ms, args.verbose) == (str(checkpoint), 64, 5.0, True)
    assert args.server_config().max_body_bytes == 1 << 20 and args.host == "127.0.0.1"
    config.write_text(f"model: {checkpoint}\nmax_batch: 0\n")
    assert main([str(config)]) == 2  # read from the file, refused before any model loads
    assert "llm-train serve-reward: error: --max_batch 0: must be 1 or more" in capsys.readouterr().err


def test_main_refuses_bad_setup(tmp_path, checkpoint, capsys):
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    spaced = tmp_path / "spaced"
    spaced.write_text("two words\n")
    bad = [
        (["--model", str(tmp_path / "missing")], "no such directory"),
        (["--token_file", str(empty)], "empty"),
        (["--token_file", str(spaced)], "one word of ASCII"),
        (["--token_file", str(tmp_path / "none")], "No such file"),
        (["--max_batch", "0"], "--max_batch 0: must be 1 or more"),
        (["--port", "70000"], "--port 70000: not a port"),
        (["--max_body_bytes", "4 lots"], "--max_body_bytes: not a size"),
        (["--request_timeout", "0"], "--request_timeout 0: must be more than 0"),
        (["--shutdown_timeout", "-1"], "--shutdown_timeout -1: must be more than 0"),
        (["--max_texts", "0"], "--max_texts 0: must be 1 or more"),
        (["--max_request_tokens", "0"], "--max_request_tokens 0: must be 1 or more"),
        (["--max_batch", "8", "--bogus", "1"], "unknown arguments: --bogus 1"),
    ]
    for argv, words in bad:
        argv = argv if argv[0] == "--model" else ["--model", str(checkpoint), *argv]
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("llm-train serve-reward: error: ") and words in err, err


def test_a_taken_port_fails_before_the_model_loads(checkpoint, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        started = time.monotonic()
        assert main(["--model", str(checkpoint), "--port", str(taken.getsockname()[1])]) == 2
    assert time.monotonic() - started < 3
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err


def test_loopback_by_default_and_a_token_required_elsewhere(caplog, checkpoint, capsys):
    assert ServerConfig(model="m").host == "127.0.0.1" and ServeRewardArguments(model="m").host == "127.0.0.1"
    server = RewardServer(ServerConfig(model="m", port=0))
    server.close()
    assert not caplog.records
    for host in ("0.0.0.0", "::", "10.1.2.3", "example.org"):
        with pytest.raises(UserError, match=f"--host {host}: .* needs --token_file"):
            ServerConfig(model="m", host=host, port=0)
    assert main(["--model", str(checkpoint), "--host", "0.0.0.0", "--port", "0"]) == 2  # before binding
    assert "error: --host 0.0.0.0: a server reachable from other machines needs" in capsys.readouterr().err
    server = RewardServer(ServerConfig(model="m", host="0.0.0.0", port=0, token="t"))
    server.close()
    assert not caplog.records


def test_world_readable_token_file_warns(tmp_path, caplog):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    path.chmod(0o644)
    assert read_token(str(path)) == TOKEN and "readable by every user" in caplog.text


# ---------------------------------------------------------------------- the protocol, fake scorer


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


@pytest.mark.parametrize("path, body, status, words", ERRORS, ids=lambda v: str(v)[:20])
def test_errors_answer_a_reason_and_the_server_goes_on(fake, path, body, status, words):
    with slow_scoring():
        got, payload = request(fake.url + path, body, {"Content-Type": "application/json"})
    assert got == status and list(payload) == ["error"] and words in payload["error"], payload
    assert get_reward(fake.url, ["still", "serving"]) == (200, {"rewards": [5.0, 7.0]})


def test_bad_headers_and_paths_answer_json(fake):
    base = fake.url
    status, payload = raw_http(base, "POST /get_reward HTTP/1.0\r\n\r\n")
    assert status == 411 and "Content-Length required" in payload["error"]
    head = "POST /get_reward HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    status, payload = raw_answer(raw_send(base, head, b"5\r\nhello\r\n0\r\n\r\n"))
    assert status == 411 and "chunked" in payload["error"]
    status, payload = raw_http(base, "POST /get_reward HTTP/1.0\r\nContent-Length: 1000000000000\r\n\r\n")
    assert status == 413 and "over the limit" in payload["error"]
    status, payload = raw_http(base, "POST /get_reward HTTP/1.0\r\nContent-Length: -5\r\n\r\n")
    assert status == 400 and "malformed HTTP" in payload["error"]
    status, payload = request(base + "/nothing")
    assert status == 404 and "try POST /get_reward or GET /health" in payload["error"]
    assert get_reward(base, []) == (200, {"rewards": []})
    assert request(base + "/get_reward/", b'{"query": ["fine"]}') == (200, {"rewards": [4.0]})


def test_a_refusal_reaches_a_client_still_sending_its_body(fake):
    """An answer given before the body is read (here 413 on Content-Length) drains the body first: a
    socket closed on unread data would reset the connection and lose the answer."""
    body = json.dumps({"query": ["x" * 1000] * 4000}).encode()  # 4 MB: more than socket buffers hold
    for _ in range(3):
        status, payload = request(fake.url + "/get_reward", body)
        assert status == 413 and "over the limit of 65536 bytes" in payload["error"]


def test_a_slow_body_or_silent_client_cannot_hold_the_server(fake):
    started = time.monotonic()
    silent = raw_send(fake.url, "POST /get_re")  # headers that never end
    sock = raw_send(fake.url, "POST /get_reward HTTP/1.0\r\nContent-Length: 100\r\n\r\n", b'{"query"')
    status, payload = raw_answer(sock)  # the rest of the body never comes
    assert status == 408 and "body not received within 1 s" in payload["error"]
    silent.settimeout(10)
    assert silent.recv(100) == b"" and time.monotonic() - started < 5  # closed by the server
    silent.close()
    assert get_reward(fake.url, ["ok"]) == (200, {"rewards": [2.0]})


def test_a_header_flood_answers_json_400_and_the_server_goes_on(fake):
    """Headers that never stop coming are cut at h11's 16 KiB (uvicorn's protocol, answered in JSON by ours)."""
    flood = "".join(f"X-Pad-{i}: {'a' * 100}\r\n" for i in range(300))  # 30 KB, never ended
    status, payload = raw_answer(raw_send(fake.url, f"GET /health HTTP/1.1\r\nHost: x\r\n{flood}"))
    assert status == 400 and "malformed HTTP request" in payload["error"]
    assert get_reward(fake.url, ["ok"]) == (200, {"rewards": [2.0]})


def test_waiting_requests_do_not_block_the_event_loop(fake):
    with slow_scoring():  # the worker is busy with "slow" until the end of the block
        slow = threading.Thread(target=get_reward, args=(fake.url, ["slow"]))
        slow.start()
        time.sleep(0.1)
        started = time.monotonic()
        # Answered while the slow request still waits (a blocked loop would answer after its 504).
        assert health(fake.url)["in_flight"] == 1 and time.monotonic() - started < 0.8
    slow.join(10)


def test_shutting_down_answers_503(fake, monkeypatch):
    fake.stopping = True  # as after SIGTERM: requests that arrive now are refused
    try:
        assert get_reward(fake.url, ["ok"]) == (503, {"error": "the server is shutting down"})
        assert request(fake.url + "/health")[0] == 503
    finally:
        fake.stopping = False

    def closed(texts, on_done=None, costs=None):
        raise WorkerClosed("the server is shutting down")

    monkeypatch.setattr(fake.worker, "submit", closed)
    assert get_reward(fake.url, ["ok"]) == (503, {"error": "the server is shutting down"})


# ------------------------------------------------------------------------------ the real model


@pytest.mark.slow
def test_ready_line_on_stdout_shows_loopback_and_the_port_picked(servers):
    for server in servers.values():
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0


@pytest.mark.slow
def test_concurrent_requests_match_in_process_scores(urls, reference):
    rng = random.Random(0)
    requests = [make_texts(rng, rng.randint(1, 8)) for _ in range(200)]
    answers: list = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def send(i):
        start.wait()
        answers[i] = get_reward(urls["a"], requests[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    expected = reference([text for texts in requests for text in texts])
    for texts, (status, payload) in zip(requests, answers):
        assert status == 200, payload
        assert close(payload["rewards"], expected[: len(texts)])
        expected = expected[len(texts) :]
    assert get_reward(urls["a"], []) == (200, {"rewards": []})


@pytest.mark.slow
def test_concurrent_requests_share_batches(urls):
    before = health(urls["a"])
    start = threading.Barrier(64)
    statuses = []

    def send(i):
        start.wait()
        statuses.append(get_reward(urls["a"], [f"text number {i}"])[0])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    after = health(urls["a"])
    assert statuses == [200] * 64
    assert after["requests"] - before["requests"] == 64
    # 64 requests at once, each batch waiting 20 ms for more: fewer batches than requests.
    assert after["batches"] - before["batches"] < 64
    assert after["max_requests_per_batch"] > 1
    assert after["queue"] == 0 and after["in_flight"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("path, body, status, words", ERRORS[:5] + ERRORS[7:], ids=lambda v: str(v)[:20])
def test_bad_requests_are_refused_and_the_server_goes_on(urls, reference, path, body, status, words):
    got, payload = request(urls["a"] + path, body, {"Content-Type": "application/json"})
    assert got == status and words in payload["error"]
    status, payload = get_reward(urls["a"], ["still serving"])
    assert status == 200 and close(payload["rewards"], reference(["still serving"]))


@pytest.mark.slow
def test_token_is_required(token_server, reference, monkeypatch):
    base, good = token_server.url, {"Authorization": f"Bearer {TOKEN}"}
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        status, payload = get_reward(base, ["hi"], headers)
        assert status == 401 and "token" in payload["error"]
        assert request(base + "/health", headers=headers)[0] == 401  # /health is behind the token too
        assert request(base + "/nothing", headers=headers)[0] == 401  # every path is
    assert (b"wrong", TOKEN.encode()) in compared  # the token is compared in constant time
    status, payload = get_reward(base, ["hi"], good)
    assert status == 200 and close(payload["rewards"], reference(["hi"]))
    assert health(base, good)["status"] == "ok"
    assert close(RewardClient(base, token=TOKEN).score(["hi"]), reference(["hi"]))
    client = RewardClient(base, retries=3, backoff=5.0)  # a 401 is never retried: no 5 s wait
    started = time.monotonic()
    with pytest.raises(RewardServerError, match="401.*token") as e:
        client.score(["hi"])
    assert e.value.status == 401 and client.retry_count == 0 and time.monotonic() - started < 3
    assert isinstance(e.value, ServiceError)  # commands report it in one line


@pytest.mark.slow
def test_a_401_reaches_a_client_still_sending_its_body(token_server):
    body = json.dumps({"query": ["x" * 1000] * 3000}).encode()
    status, payload = request(token_server.url + "/get_reward", body)
    assert status == 401 and "token" in payload["error"]


@pytest.mark.slow
def test_client_shards_across_servers_in_order(urls, token_server, reference):
    texts = make_texts(random.Random(1), 45)
    good = {"Authorization": f"Bearer {TOKEN}"}  # "a" has no token and ignores the header
    bases = [urls["a"], token_server.url]
    before = [health(base, good) for base in bases]
    client = RewardClient([bases[0], bases[1] + "/get_reward"], token=TOKEN, max_batch=4)
    assert close(client.score(texts), reference(texts))
    after = [health(base, good) for base in bases]
    assert [y["texts"] - x["texts"] for x, y in zip(before, after)] == [23, 22]  # contiguous halves
    # The token server cuts its 6 requests into batches (and forwards) of ≤ 64 padded tokens.
    assert after[1]["requests"] - before[1]["requests"] == 6
    assert after[1]["forwards"] - before[1]["forwards"] >= after[1]["batches"] - before[1]["batches"] > 6
    assert client.score([]) == []


@pytest.mark.slow
def test_client_does_not_retry_refusals(urls):
    client = RewardClient(urls["a"], retries=3, backoff=5.0)
    with pytest.raises(RewardServerError, match="2001 characters") as e:
        client.score(["fine", "x" * 2001])
    assert e.value.status == 413 and client.retry_count == 0


def test_client_gives_up_on_a_dead_server():
    url = f"http://127.0.0.1:{free_port()}"
    client = RewardClient([url], retries=2, backoff=0.05, timeout=2)
    started = time.monotonic()
    with pytest.raises(RewardServerError, match=re.escape(url)) as e:
        client.score(["anyone there?"])
    assert time.monotonic() - started < 5 and "3 attempt" in str(e.value) and client.retry_count == 2
    assert isinstance(e.value, ServiceError) and e.value.urls == [f"{url}/get_reward"]


@pytest.mark.slow
def test_client_survives_a_server_restart(servers, checkpoint, reference):
    first = servers["restart"]  # a crash, then a new server on the same port, mid-loop
    pool = make_texts(random.Random(2), 30)
    expected = reference(pool)
    client = RewardClient(first.url, retries=10, backoff=0.1, timeout=10)
    restarted, results, errors = threading.Event(), [], []

    def loop():
        try:
            after_restart = 0
            while after_restart < 3 and len(results) < 10_000:
                i = len(results) % 25
                results.append((i, client.score(pool[i : i + 5])))
                after_restart += restarted.is_set()
        except Exception as e:  # reported by the assertion below
            errors.append(e)

    thread = threading.Thread(target=loop)
    thread.start()
    second = None
    try:
        while len(results) < 3 and thread.is_alive():
            time.sleep(0.01)
        first.proc.kill()
        first.proc.wait()
        second = Server(checkpoint, port=int(first.url.rsplit(":", 1)[1])).wait_ready()
        restarted.set()
        thread.join(60)
    finally:
        if second is not None:
            second.stop()
    assert not errors and not thread.is_alive()
    assert client.retry_count > 0  # requests did fail while no server was up
    for i, rewards in results:
        assert close(rewards, expected[i : i + 5])


@pytest.mark.slow
def test_sigterm_finishes_in_flight_requests(servers, reference):
    server = servers["sigterm"]
    texts = make_texts(random.Random(3), 16)
    bodies = [json.dumps({"query": texts[2 * i : 2 * i + 2]}).encode() for i in range(8)]
    head = "POST /get_reward HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n"
    # Eight requests stopped half-way through their bodies: in flight, whatever the speed of scoring.
    socks = [raw_send(server.url, head.format(len(body)), body[:10]) for body in bodies]
    deadline = time.monotonic() + 20
    while health(server.url)["in_flight"] < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.proc.send_signal(signal.SIGTERM)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # it stops accepting new connections ...
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except OSError:
            break
        time.sleep(0.02)
    else:
        pytest.fail("still accepting connections 10 s after SIGTERM")
    assert server.proc.poll() is None  # ... but waits for the requests it has
    answers = [raw_answer(sock, body[10:]) for sock, body in zip(socks, bodies)]
    assert server.proc.wait(30) == 0
    assert server.proc.stdout.read() == ""  # stdout held the ready line only
    expected = reference(texts)
    for i, (status, payload) in enumerate(answers):
        assert status == 200 and close(payload["rewards"], expected[2 * i : 2 * i + 2])


# ------------------------------------------------- one request's cost is bounded; no client stalls others


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


def test_parse_query_keeps_a_valid_surrogate_pair():
    assert parse_query(b'{"query": ["\\ud83d\\ude42 ok"]}', max_text_chars=10) == ["🙂 ok"]


def test_a_request_over_the_token_budget_is_refused(fake):
    status, payload = get_reward(fake.url, ["x" * 2000] * 3)
    assert (
        status == 413
        and '"query" holds 6000 tokens (after --max_length), over the limit of 5000' in (payload["error"])
    )
    assert get_reward(fake.url, ["x" * 2000] * 2)[0] == 200


def test_a_big_request_does_not_hold_up_a_small_one():
    ticks = Ticks(per_text=0.02)
    with in_thread(ticking(), ticks) as server:
        answers = []
        big = threading.Thread(target=lambda: answers.append(get_reward(server.url, ["tick"] * 75)))  # 1.5 s
        big.start()
        wait_until(lambda: ticks.scored > 0)
        started = time.monotonic()
        assert get_reward(server.url, ["ok"]) == (200, {"rewards": [2.0]})
        assert time.monotonic() - started < 0.6  # one slice of the big one at most, not all of it
        assert ticks.scored < 50
        big.join(20)
    assert answers == [(200, {"rewards": [4.0] * 75})]


def test_a_client_that_leaves_is_not_scored_and_is_counted():
    ticks = Ticks()
    with in_thread(ticking(), ticks) as server:
        body = json.dumps({"query": ["tick"] * 40}).encode()  # 2 s of scoring
        sock = raw_send(
            server.url, f"POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n", body
        )
        wait_until(lambda: ticks.scored >= 2)
        sock.close()
        wait_until(lambda: health(server.url)["abandoned"] == 1, timeout=2)
        left_at = ticks.scored
        time.sleep(0.3)
        assert ticks.scored == left_at < 20  # dropped before the rest was scored
        info = health(server.url)
        assert info["in_flight"] == 0 and info["queue"] == 0 and info["requests"] == 0


def test_stop_finishes_within_the_shutdown_timeout_and_answers_503():
    ticks = Ticks()
    server = RewardServer(ticking(shutdown_timeout=0.5))
    server.load(ticks)
    ready = threading.Event()
    thread = threading.Thread(target=server.run, kwargs={"on_ready": lambda line: ready.set()}, daemon=True)
    thread.start()
    try:
        assert ready.wait(30)
        answers = []
        big = threading.Thread(target=lambda: answers.append(get_reward(server.url, ["tick"] * 200)))  # 10 s
        big.start()
        wait_until(lambda: ticks.scored > 0)
        started = time.monotonic()
        server.stop()  # what SIGTERM does
        thread.join(10)
        assert not thread.is_alive() and time.monotonic() - started < 2.0
        big.join(10)
        assert answers[0][0] == 503 and "not scored within --shutdown_timeout" in answers[0][1]["error"]
        assert ticks.scored < 40
    finally:
        server.stop()
        thread.join(10)
        server.close()


def test_health_names_the_model_not_its_path():
    with in_thread(ticking(model="/home/someone/secret-project/runs/rm-final"), Ticks()) as server:
        info = health(server.url)
    assert info["model"] == "rm-final" and "secret" not in json.dumps(info)
    assert (info["max_texts"], info["max_request_tokens"]) == (256, 262_144)


def test_texts_are_cut_to_the_length_the_model_was_trained_with(checkpoint, model, tmp_path):
    trained = tmp_path / "rm"
    shutil.copytree(checkpoint, trained)
    (trained / "llm_train.json").write_text(json.dumps({"stage": "rm", "max_length": 16}))
    long = " ".join(WORDS * 4)
    scorer = load_scorer(ServerConfig(model=str(trained), device="cpu"))
    assert scorer.max_length == 16 and scorer.lengths([long, "a"]) == [16, 1]
    assert close(scorer([long]), score(*model, [long], max_length=16))
    assert not close(scorer([long]), score(*model, [long]))  # the cut matters for this text
    # No llm_train.json: the model's positions; --max_length over them is refused.
    assert load_scorer(ServerConfig(model=str(checkpoint), device="cpu")).max_length == 2048
    assert load_scorer(ServerConfig(model=str(checkpoint), device="cpu", max_length=64)).max_length == 64
    with pytest.raises(UserError, match="--max_length 4096: over the model's 2048 positions"):
        load_scorer(ServerConfig(model=str(checkpoint), device="cpu", max_length=4096))


# ------------------------------------------------------------------------------- the client's safety


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


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_client_follows_no_redirect_and_never_forwards_the_token(code):
    seen = []

    def elsewhere(h):  # another host: records what reaches it, and would hand out rewards
        seen.append(dict(h.headers))
        body = json.dumps({"rewards": [42.0]}).encode()
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    with http_server(elsewhere) as other:

        def redirect(h):
            h.send_response(code)
            h.send_header("Location", f"{other}/get_reward")
            h.send_header("Content-Length", "0")
            h.end_headers()

        with http_server(redirect) as server:
            client = RewardClient(server, token=TOKEN, retries=3, backoff=5.0)
            with pytest.raises(RewardServerError) as e:
                client.score(["hi"])
    message = str(e.value)
    assert f"{server}/get_reward: HTTP {code} redirect to {other}/get_reward refused" in message
    assert not seen and client.retry_count == 0 and e.value.status == code


# ------------------------------------------------------------------------------- the scripts' secrets


@pytest.mark.parametrize("script", ["scripts/run_grpo.sh", "scripts/run_summarize_rlhf.sh"])
def test_scripts_pass_the_token_to_curl_from_a_file(script):
    text = (REPO / script).read_text()
    curls = [line for line in text.splitlines() if "curl " in line and not line.strip().startswith("#")]
    assert curls and all('-H @"$HEADER"' in line and "Bearer" not in line for line in curls)
    assert "HEADER=$(mktemp)" in text and 'rm -f "$HEADER"' in text


def test_gpu_check_logs_to_a_folder_of_its_own():
    text = (REPO / "bench" / "gpu_check.sh").read_text()
    assert 'OUT="${OUT:-$(mktemp -d' in text and "/tmp/gpu_check.log" not in text.replace("XXXXXX/", "")


@pytest.mark.skipif(not shutil.which("curl"), reason="no curl")
def test_curl_reads_the_bearer_header_from_a_file(tmp_path):
    """The scripts' way of asking /health: the header from a file, accepted by the server."""
    header = tmp_path / "header"
    header.write_text(f"Authorization: Bearer {TOKEN}\n")
    with in_thread(ticking(token=TOKEN), Ticks()) as server:
        ok = subprocess.run(["curl", "-sf", "-H", f"@{header}", f"{server.url}/health"], capture_output=True)
        without = subprocess.run(["curl", "-sf", f"{server.url}/health"], capture_output=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["model"] == "ticks"
    assert without.returncode != 0
