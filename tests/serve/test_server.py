"""``llm-train serve-reward`` in real server processes on loopback (llm/serve/server.py, the start-up), a tiny
random reward model, scores checked against in-process :func:`score` of the same checkpoint; with them the
client (:class:`RewardClient`) against real servers, and the launch scripts' handling of the token.

Real processes are kept for what only a process shows: the ready line on stdout, SIGTERM, a crash and a
restart. The protocol's error paths run in-process with a fake scorer (test_app.py), the batching worker
in-process where batches are deterministic (test_batching.py), the command line in
tests/commands/test_serve_reward.py; the fixtures are in conftest.py, the helpers in tests.helpers.reward_server.
"""

from __future__ import annotations

import hmac
import json
import random
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from llm.errors import ServiceError, UserError
from llm.inference.reward_client import RewardClient, RewardServerError
from llm.models.reward import score
from llm.serve.config import ServerConfig
from llm.serve.server import load_scorer
from tests.helpers import REPO
from tests.helpers.reward_server import (
    ERRORS,
    TOKEN,
    WORDS,
    Server,
    Ticks,
    close,
    get_reward,
    health,
    in_thread,
    make_texts,
    raw_answer,
    raw_send,
    request,
    ticking,
)

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


# ------------------------------------------------------------------------------ the model's length


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
