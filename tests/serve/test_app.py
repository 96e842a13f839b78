"""The HTTP layer (llm/serve/app.py) against a server in a thread of this process with a fake scorer."""

from __future__ import annotations

import json
import threading
import time

import pytest

from llm.serve.app import RequestError, parse_query
from llm.serve.batching import WorkerClosed
from llm.serve.server import RewardServer
from tests.helpers.reward_server import (
    ERRORS,
    Ticks,
    get_reward,
    health,
    in_thread,
    raw_answer,
    raw_http,
    raw_send,
    request,
    slow_scoring,
    ticking,
    wait_until,
)


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


def test_parse_query_keeps_a_valid_surrogate_pair():
    assert parse_query(b'{"query": ["\\ud83d\\ude42 ok"]}', max_text_chars=10) == ["🙂 ok"]


def test_a_request_over_the_token_budget_is_refused(fake):
    status, payload = get_reward(fake.url, ["x" * 2000] * 3)
    assert (
        status == 413
        and '"query" holds 6000 tokens (after --max_length), over the limit of 5000' in (payload["error"])
    )
    assert get_reward(fake.url, ["x" * 2000] * 2)[0] == 200


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
