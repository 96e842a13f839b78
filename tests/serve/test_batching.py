"""The batching worker (llm/serve/batching.py), in-process where batches are deterministic."""

from __future__ import annotations

import random
import threading
import time

import pytest

from llm.serve.batching import BatchWorker, ModelScorer, WorkerClosed
from tests.helpers.reward_server import (
    Ticks,
    close,
    fake_scorer,
    get_reward,
    in_thread,
    lengths,
    make_texts,
    ticking,
    wait_until,
)


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
