"""``llm-train serve-reward`` and :class:`RewardClient`: real server processes on loopback, a tiny random
reward model, scores checked against in-process :func:`score` of the same checkpoint.

The batching worker is also tested in-process with a fake scorer, where batches are deterministic.
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from llm.models.reward import build_reward_model, load_reward_model, score
from llm.models.tiny import build_tokenizer
from llm.serve import RewardClient, RewardServerError
from llm.serve.server import BatchWorker, RequestError, main, parse_query

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-token"
LIMITS = ["--max-body-bytes", "64KiB", "--max-text-chars", "2000"]
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
WORDS = "the sea light storm ship tea book sword garden rain wind night keeper ghost café 日本語 🙂".split()


# ------------------------------------------------------------------------------------------- helpers


class Server:
    """``python -m llm.serve.server`` in a subprocess; ``url`` once its ready line is read."""

    def __init__(self, model: Path, *args: str, port: int = 0):
        self.log = (model.parent / f"server-{time.monotonic_ns()}.log").open("w+")
        cmd = [sys.executable, "-m", "llm.serve.server", "--model", str(model), "--device", "cpu"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [*cmd, "--port", str(port), *args],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            encoding="utf-8",
            cwd=ROOT,
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
        match = re.match(r"serving reward model \S+ on (http://\S+) \(batch ≤ \d+, wait ≤ [\d.]+ ms\)$", line)
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_texts(rng: random.Random, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60))) for _ in range(n)]


def close(got: list[float], expected: list[float]) -> bool:
    return len(got) == len(expected) and all(abs(g - e) < 1e-4 for g, e in zip(got, expected))


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
def reference(checkpoint):
    model, tokenizer = load_reward_model(str(checkpoint))

    def reference_scores(texts: list[str]) -> list[float]:
        # One thread: on a busy machine two spinning OpenMP threads are many times slower than one.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return score(model, tokenizer, texts)
        finally:
            torch.set_num_threads(threads)

    return reference_scores


@pytest.fixture(scope="module")
def servers(checkpoint):
    """Every server of the module, started together (start-up is mostly imports): "a" open, "token"
    with a token and small forwards, "restart" on a known port, "sigterm" to be stopped."""
    token_file = checkpoint.parent / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    started = {
        "a": Server(checkpoint, "--max-wait-ms", "20", *LIMITS),
        "token": Server(checkpoint, "--token-file", str(token_file), "--max-batch-tokens", "64"),
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


# --------------------------------------------------------------------------------- worker, in-process


def lengths(texts: list[str]) -> list[float]:
    return [float(len(t)) for t in texts]


def test_worker_batches_what_is_queued_and_holds_what_does_not_fit():
    batches = []
    worker = BatchWorker(
        lambda texts: batches.append(len(texts)) or lengths(texts), max_batch=4, max_wait_s=0.0
    )
    jobs = [worker.submit(t) for t in (["a"], ["bb", "c"], ["ddd", "e"], ["f"] * 9, ["g"])]
    worker.start()  # everything is queued already: batches are decided by max_batch alone
    worker.stop()
    assert batches == [3, 2, 9, 1]  # [a,bb,c]; [ddd,e] held over; 9 > max_batch alone; [g]
    assert [job.rewards for job in jobs[:3]] == [[1.0], [2.0, 1.0], [3.0, 1.0]]
    assert worker.stats()["max_requests_per_batch"] == 2 and worker.stats()["requests"] == 5


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
    def fragile(texts):
        if "boom" in texts:
            raise RuntimeError("out of memory")
        return lengths(texts)

    worker = BatchWorker(fragile, max_batch=8, max_wait_s=0.0)
    good, bad, after = worker.submit(["ok", "xyz"]), worker.submit(["boom"]), worker.submit(["later"])
    worker.start()  # one batch of the three; it fails, then each request is scored on its own
    worker.stop()
    assert bad.rewards is None and bad.error == "scoring failed: RuntimeError: out of memory"
    assert good.rewards == [2.0, 3.0] and after.rewards == [5.0]
    assert worker.stats()["failed_batches"] == 1


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
    ],
)
def test_parse_query_rejects(body, status, words):
    with pytest.raises(RequestError) as e:
        parse_query(body, max_text_chars=3)
    assert e.value.status == status and words in e.value.reason


def test_main_refuses_bad_setup(tmp_path, checkpoint, capsys):
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    assert main(["--model", str(tmp_path / "missing")]) == 2
    assert main(["--model", str(checkpoint), "--token-file", str(empty)]) == 2
    assert main(["--model", str(checkpoint), "--token-file", str(tmp_path / "none")]) == 2
    assert main(["--model", str(checkpoint), "--max-batch", "0"]) == 2
    err = capsys.readouterr().err
    assert "no such directory" in err and "empty" in err and "--max-batch 0" in err


# ------------------------------------------------------------------------------------- real servers


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
    assert after["queue"] == 0


BAD_REQUESTS = [
    ("/get_reward", b"{not json", 400, "malformed JSON"),
    ("/get_reward", b'{"query": "one text"}', 400, "list of strings"),
    ("/get_reward", b'{"query": ["ok", null]}', 400, "must be a string"),
    ("/get_reward", json.dumps({"query": ["x" * 1000] * 70}).encode(), 413, "body of"),
    ("/get_reward", json.dumps({"query": ["ok", "x" * 2001]}).encode(), 413, "2001 characters"),
    ("/rewards", b'{"query": ["ok"]}', 404, "no such path"),
]


@pytest.mark.slow
@pytest.mark.parametrize("path, body, status, words", BAD_REQUESTS, ids=lambda v: str(v)[:20])
def test_bad_requests_are_refused_and_the_server_goes_on(urls, reference, path, body, status, words):
    got, payload = request(urls["a"] + path, body, {"Content-Type": "application/json"})
    assert got == status and words in payload["error"]
    status, payload = get_reward(urls["a"], ["still serving"])
    assert status == 200 and close(payload["rewards"], reference(["still serving"]))


@pytest.mark.slow
def test_bad_headers_and_paths(urls):
    base = urls["a"]
    assert raw_http(base, "POST /get_reward HTTP/1.0\r\n\r\n")[0] == 411
    status, payload = raw_http(base, "POST /get_reward HTTP/1.0\r\nContent-Length: 1000000000000\r\n\r\n")
    assert status == 413 and "over the limit" in payload["error"]
    assert raw_http(base, "POST /get_reward HTTP/1.0\r\nContent-Length: -5\r\n\r\n")[0] == 400
    assert request(base + "/nothing")[0] == 404
    assert get_reward(base, ["fine"])[0] == 200


@pytest.mark.slow
def test_token_is_required(urls, reference):
    base, good = urls["token"], {"Authorization": f"Bearer {TOKEN}"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        status, payload = get_reward(base, ["hi"], headers)
        assert status == 401 and "token" in payload["error"]
        assert request(base + "/health", headers=headers)[0] == 401
    status, payload = get_reward(base, ["hi"], good)
    assert status == 200 and close(payload["rewards"], reference(["hi"]))
    assert health(base, good)["status"] == "ok"
    assert close(RewardClient(base, token=TOKEN).score(["hi"]), reference(["hi"]))
    client = RewardClient(base, retries=3, backoff=5.0)  # a 401 is never retried: no 5 s wait
    started = time.monotonic()
    with pytest.raises(RewardServerError, match="401.*token") as e:
        client.score(["hi"])
    assert e.value.status == 401 and client.retry_count == 0 and time.monotonic() - started < 3


@pytest.mark.slow
def test_client_shards_across_servers_in_order(urls, reference):
    texts = make_texts(random.Random(1), 45)
    good = {"Authorization": f"Bearer {TOKEN}"}  # "a" has no token and ignores the header
    before = [health(urls[k], good)["texts"] for k in ("a", "token")]
    client = RewardClient([urls["a"], urls["token"] + "/get_reward"], token=TOKEN, max_batch=4)
    assert close(client.score(texts), reference(texts))
    after = [health(urls[k], good) for k in ("a", "token")]
    assert [y["texts"] - x for x, y in zip(before, after)] == [23, 22]  # contiguous halves, one per server
    assert after[1]["forwards"] > after[1]["batches"]  # "token" cuts batches into forwards of ≤ 64 tokens
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
    expected = reference(texts)
    for i, (status, payload) in enumerate(answers):
        assert status == 200 and close(payload["rewards"], expected[2 * i : 2 * i + 2])
