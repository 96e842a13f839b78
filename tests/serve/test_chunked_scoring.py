"""Long texts scored in chunks with a KV cache (:func:`llm.models.reward.prefill_reward`), and the reward
server's worker running a short request between two chunks of a long text (issue 22, row 5).

The scores must not change: a chunked text scores as the whole text does, left- or right-padded in a batch,
with the checkpoint's ``reward_bias`` and the ``--max_length`` cut. The worker's order is checked with a fake
scorer whose steps are logged, so it is deterministic.
"""

from __future__ import annotations

import itertools
import random
import threading

import pytest
import torch

from llm.data.collate import pad
from llm.data.tokenizer import build_tokenizer
from llm.models.reward import build_reward_model, chunked_reward, forward_rewards, prefill_reward, score
from llm.serve.batching import MAX_SUSPENDED, BatchWorker, ModelScorer

WORDS = "the sea light storm ship tea book sword garden rain wind night keeper ghost café 日本語 🙂".split()


@pytest.fixture(scope="module")
def model():
    """A tiny random reward model (float32) with a normalisation bias, and its tokenizer; torch on one
    thread meanwhile (two spinning OpenMP threads are slower on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tokenizer = build_tokenizer("bytelevel")
    rm = build_reward_model(None, tokenizer, config_name="tiny").eval()
    rm.config.reward_bias = 0.75
    try:
        yield rm, tokenizer
    finally:
        torch.set_num_threads(threads)


def make_texts(rng: random.Random, n: int, most: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, most))) for _ in range(n)]


def test_chunked_reward_equals_the_whole_text_padded_left_or_right(model):
    rm, _ = model
    rng = torch.Generator().manual_seed(1)
    rows = [torch.randint(3, 200, (n,), generator=rng).tolist() for n in (1, 37, 150, 301)]
    for side in ("left", "right"):
        ids, mask = pad(rows, 0, side=side)
        whole = forward_rewards(rm, ids, mask).tolist()  # the reward the trainer and score() compute
        for chunk in (1, 7, 64, 150, 1000):
            got = [chunked_reward(rm, row, chunk) for row in rows]
            assert max(abs(g - w) for g, w in zip(got, whole)) < 1e-5, (side, chunk)


def test_prefill_yields_between_chunks_only(model):
    rm, _ = model
    assert list(prefill_reward(rm, list(range(3, 13)), chunk_tokens=4)) == [4, 8]  # 3 chunks: 2 pauses
    assert list(prefill_reward(rm, list(range(3, 11)), chunk_tokens=8)) == []  # one chunk: no pause


def test_model_scorer_chunks_long_texts_with_the_same_scores_bias_and_cut(model):
    rm, tokenizer = model
    texts = make_texts(random.Random(2), 12, most=120)  # up to ~300 tokens
    for max_length in (None, 90):
        expected = score(rm, tokenizer, texts, max_length=max_length)  # includes reward_bias 0.75
        whole = ModelScorer(rm, tokenizer, max_texts=32, max_tokens=128, max_length=max_length)
        chunked = ModelScorer(
            rm, tokenizer, max_texts=32, max_tokens=128, max_length=max_length, chunk_tokens=16
        )
        steps, pauses = chunked.steps(texts), 0
        while True:
            try:
                next(steps)
                pauses += 1
            except StopIteration as end:
                got = end.value
                break
        assert max(abs(g - e) for g, e in zip(got, expected)) < 1e-5
        assert max(abs(g - e) for g, e in zip(whole(texts), expected)) < 1e-5
        # A pause between forwards, and between the 16-token chunks of every text longer than 128.
        tokens = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
        long = [min(n, max_length or n) for n in tokens if min(n, max_length or n) > 128]
        assert pauses >= chunked.forwards - 1 + sum((n - 1) // 16 for n in long)
        assert long or max_length


class Stepping:
    """A fake scorer with steps: a text of n characters takes n steps (chunks); every step is logged as
    (text, chunk) and ``hooks[(text, chunk)]`` runs when that step does (to submit a request mid-text)."""

    def __init__(self):
        self.log: list[tuple[str, int]] = []
        self.hooks: dict[tuple[str, int], object] = {}

    def __call__(self, texts: list[str]) -> list[float]:
        raise AssertionError("the worker runs a scorer with steps one step at a time")

    def steps(self, texts: list[str]):
        done = 0
        for k, text in enumerate(texts):
            for chunk in range(len(text)):
                if k or chunk:
                    yield done
                self.log.append((text, chunk))
                self.hooks.pop((text, chunk), lambda: None)()
                done += 1
        return [float(len(t)) for t in texts]


def test_a_short_request_runs_between_two_chunks_of_a_long_text():
    scorer = Stepping()
    worker = BatchWorker(scorer, max_batch=4, max_wait_s=0.0)
    short = []
    scorer.hooks[("LLLLL", 0)] = lambda: short.append(worker.submit(["s"]))
    scorer.hooks[("LLLLL", 2)] = lambda: short.append(worker.submit(["tt"]))
    long = worker.submit(["LLLLL"])
    worker.start()
    assert long.done.wait(10)
    worker.stop()
    # "s" waits for one chunk, not for the five; "tt" (2 chunks) overtakes too, and the long text goes on.
    assert scorer.log == [("LLLLL", 0), ("s", 0), ("LLLLL", 1), ("LLLLL", 2), ("tt", 0), ("tt", 1)] + [
        ("LLLLL", c) for c in (3, 4)
    ]
    assert long.rewards == [5.0] and [job.rewards for job in short] == [[1.0], [2.0]]
    assert worker.stats()["batches"] == 3 and worker.stats()["requests"] == 3


def test_a_long_text_is_not_starved_and_overtaking_is_bounded():
    scorer = Stepping()
    worker = BatchWorker(scorer, max_batch=1, max_wait_s=0.0)
    later = []
    # Each new long request (none scored yet) overtakes the one under way, MAX_SUSPENDED deep at most.
    for n in range(MAX_SUSPENDED + 2):
        scorer.hooks[(f"L{n}" * 3, 0)] = lambda n=n: later.append(worker.submit([f"L{n + 1}" * 3]))
    first = worker.submit(["L0" * 3])
    worker.start()
    assert first.done.wait(10)
    worker.stop()
    starts = [text for text, chunk in scorer.log if chunk == 0]
    assert starts[: MAX_SUSPENDED + 1] == [f"L{n}" * 3 for n in range(MAX_SUSPENDED + 1)]
    # The one past the bound waited for the one under way to end; every job was answered.
    deepest = f"L{MAX_SUSPENDED}" * 3
    assert scorer.log.index((f"L{MAX_SUSPENDED + 1}" * 3, 0)) > scorer.log.index((deepest, len(deepest) - 1))
    assert first.rewards == [6.0] and all(job.rewards for job in later)


def test_an_abandoned_long_text_stops_between_chunks():
    scorer = Stepping()
    worker = BatchWorker(scorer, max_batch=4, max_wait_s=0.0)
    jobs = []
    scorer.hooks[("x" * 50, 3)] = lambda: setattr(jobs[0], "abandoned", True)  # its client left
    jobs.append(worker.submit(["x" * 50]))
    worker.start()
    assert jobs[0].done.wait(10)
    worker.stop()
    assert jobs[0].rewards is None and "abandoned" in jobs[0].error
    assert len(scorer.log) == 4 and worker.stats()["abandoned"] == 1  # no chunk after the one under way


def test_mid_way_through_a_long_text_the_worker_waits_for_a_request_being_received():
    scorer = Stepping()
    coming = threading.Event()  # the server's "a request is being received (not yet queued)"
    worker = BatchWorker(scorer, max_batch=4, max_wait_s=5.0, more_coming=coming.is_set)
    short = []

    def arrive_later() -> None:  # its body takes 50 ms to come in; the long text's chunks take microseconds
        coming.set()
        threading.Timer(0.05, lambda: (short.append(worker.submit(["s"])), coming.clear())).start()

    scorer.hooks[("LLLLL", 0)] = arrive_later
    long = worker.submit(["LLLLL"])
    worker.start()
    assert long.done.wait(10)
    worker.stop()
    assert scorer.log[:3] == [("LLLLL", 0), ("s", 0), ("LLLLL", 1)] and short[0].rewards == [1.0]


def test_short_requests_that_keep_coming_do_not_starve_a_long_text():
    """Fewest-tokens-first alone starves a long text while short requests keep coming (each new one has had
    nothing scored); after ``starve_after_s`` without a step it goes first, so it gets a chunk every
    ``starve_after_s + 1`` steps and the short requests wait one step more. The clock is the step count."""

    def run(starve_after: float | None) -> tuple[list[str], list[int]]:
        scorer = Stepping()
        worker = BatchWorker(
            scorer, max_batch=1, max_wait_s=0.0, starve_after_s=starve_after, clock=lambda: len(scorer.log)
        )
        shorts = [chr(0x4E00 + k) for k in range(40)]  # one-character texts: one step each
        for text, after in zip(shorts, shorts[1:], strict=False):  # each short request brings the next
            scorer.hooks[(text, 0)] = lambda after=after: worker.submit([after])
        long = worker.submit(["L" * 6])
        worker.submit([shorts[0]])
        worker.start()
        assert long.done.wait(10)
        worker.stop()
        assert long.rewards == [6.0]
        texts = [text for text, _ in scorer.log]
        return texts, [i for i, text in enumerate(texts) if text == "L" * 6]

    texts, chunks = run(starve_after=None)  # the old order: the long text waits for all 40
    assert chunks[1] == 41 and len(texts) == 46
    texts, chunks = run(starve_after=3)
    assert len(chunks) == 6 and max(b - a for a, b in itertools.pairwise(chunks)) == 4
    assert chunks[-1] == 20  # done after 15 short requests, not 40; and 3 short ones between two chunks
    assert all(len(set(texts[a + 1 : b])) == 3 for a, b in itertools.pairwise(chunks))
