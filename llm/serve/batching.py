"""Dynamic batching for the reward server: the one thread that owns the model (:class:`BatchWorker`), the
plan of each batch (:func:`plan_batch`) and of its forwards (:func:`plan_forwards`), and the model behind
them (:class:`ModelScorer`). No HTTP here: :mod:`llm.serve.app` submits each request's texts as a
:class:`Job` and waits for its rewards.

>>> worker = BatchWorker(lambda texts: [float(len(t)) for t in texts], max_batch=8, max_wait_s=0.0)
>>> job = worker.submit(["a", "bb"])
>>> worker.start(); worker.stop()
>>> job.rewards
[1.0, 2.0]

**No client can stall the others.** When idle the worker takes the first queued request and keeps
collecting requests until ``--max_batch`` texts or ``--max_wait_ms`` after the first (waiting only while
more requests are being received, so a lone client pays no wait). Each batch is planned afresh from every
request received (:func:`plan_batch`): the requests that have had the fewest tokens scored so far first,
then in arrival order (so requests that fit in a batch are served first come first served, and a request
scored in slices gives way to any request that has had less), whole requests while they fit in
``--max_batch`` texts and ``--max_batch_tokens`` padded tokens, and a request too big for that scored in
slices, its shortest texts first. The worker runs a batch one step at a time — a forward of ≤
``--max_batch_tokens`` padded tokens, or, for a text longer than that, a chunk of 256 tokens on CPU run with
a KV cache (:func:`llm.models.reward.prefill_reward`; the same reward) — and a request that comes first in
that order overtakes a batch under way between two steps. So a client sending the largest request allowed,
again and again, delays an ordinary request by about one step; ``bench/reward_server.py`` measures it.
Fewest-tokens-first alone would starve a request of long texts while short requests keep coming (each new
one has had nothing scored), so a request that has had no step for ``--max_starve_ms`` goes first
(:func:`priority`): it gets a step at least that often, and an ordinary request waits one step more. A
request whose client closes its connection, or that times out, is dropped before the rest of it is scored.

The scorer (:class:`ModelScorer`) sorts a batch by token length and cuts it into forwards of at most
``--max_batch_tokens`` padded tokens (:func:`plan_forwards`), so similar lengths share a forward; a text's
reward does not depend on its batch-mates. If a batch fails, its requests are scored one by one, so a bad
request fails alone. ``--max_batch 1 --max_wait_ms 0`` is one text per forward.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from llm.models.reward import prefill_reward, reward_bias, score

log = logging.getLogger(__name__)

Scorer = Callable[[list[str]], list[float]]


@dataclass
class Job:
    """One request's texts, and where the worker leaves its rewards (or why it has none).

    ``costs`` are the texts' tokens (after truncation to ``--max_length``): what scoring them costs;
    ``served`` counts the tokens scored so far, ``turn`` is the arrival order and ``last_step`` when it last
    made progress: together they order the work (:func:`priority`). The worker scores a job in slices, possibly over
    several batches, shortest texts first (``order``: similar lengths share a forward, little is padding);
    the first ``scored`` texts of ``order`` have their rewards in ``partial``. ``on_done`` is called (from the
    worker thread) once ``done`` is set; ``abandoned`` tells the worker that nobody waits for the answer any
    more (the request timed out, or its client left), so the rest is not scored.
    """

    texts: list[str]
    on_done: Callable[[], None] | None = None
    costs: list[int] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    rewards: list[float] | None = None
    error: str | None = None
    status: int = 500  # the HTTP status that goes with ``error``
    abandoned: bool = False
    scored: int = 0
    partial: list[float] = field(default_factory=list)
    turn: int = 0
    served: int = 0
    order: list[int] = field(default_factory=list)
    last_step: float = 0.0  # the worker's clock when it arrived or last had a step scored (see priority)

    def __post_init__(self) -> None:
        if self.costs is None:
            self.costs = [1] * len(self.texts)
        if len(self.costs) != len(self.texts):
            raise ValueError(f"{len(self.costs)} costs for {len(self.texts)} texts")
        self.order = sorted(range(len(self.texts)), key=self.costs.__getitem__)
        self.partial = [0.0] * len(self.texts)

    def cost(self, position: int) -> int:
        """The cost of the text at ``position`` in scoring order."""
        return self.costs[self.order[position]]

    def finish(self, rewards: list[float] | None = None, error: str | None = None, status: int = 500) -> None:
        self.rewards, self.error, self.status = rewards, error, status
        self.done.set()
        if self.on_done is not None:
            try:
                self.on_done()
            except Exception:  # the waiter is gone (its event loop closed): nothing to tell
                log.debug("could not hand a job its answer", exc_info=True)


class WorkerClosed(RuntimeError):
    """The worker takes no more jobs: the server is shutting down."""


Slice = tuple[Job, int, int]  # texts order[start:end] of a job


Priority = tuple[int, float, int]  # smaller goes first: see priority()


def priority(served: int, turn: int, last_step: float, now: float, starve_after: float | None) -> Priority:
    """A job's place in the worker's order: overdue jobs (no step for ``starve_after`` seconds) first, the
    longest waiting first; then the fewest tokens scored so far, then arrival (``turn``).

    >>> fresh, starved = priority(0, 9, last_step=10.0, now=10.2, starve_after=1.0), priority(900, 1, 8.0, 10.2, 1.0)
    >>> sorted([fresh, starved]) == [starved, fresh], priority(900, 1, 8.0, 10.2, None) > fresh
    (True, True)
    """
    if starve_after is not None and now - last_step >= starve_after:
        return (0, last_step, turn)
    return (1, served, turn)


def plan_batch(
    jobs: Sequence[Job],
    max_texts: int,
    max_tokens: int | None,
    now: float = 0.0,
    starve_after: float | None = None,
) -> list[Slice]:
    """The next batch: the jobs in :func:`priority` order (overdue first, then the fewest tokens scored so
    far, then by arrival), each whole while it fits in ``max_texts`` texts and ``max_tokens`` padded tokens
    (texts × longest); the first job that does not fit ends the batch, unless the batch is empty: then it
    gives a slice that fits (one text at least; a job's texts go shortest first, see :class:`Job`).

    Requests that fit in a batch are thus served in arrival order (none has been served), and a request
    being scored in slices yields to every request that has had less: a client sending the largest request
    the server accepts, again and again, delays an ordinary request by about the forward under way.

    >>> big, small = Job(["x"] * 5, costs=[4] * 5, turn=1), Job(["y", "z"], costs=[1, 2], turn=2)
    >>> [(job.texts[0], s, e) for job, s, e in plan_batch([big, small], max_texts=3, max_tokens=None)]
    [('x', 0, 3)]
    >>> big.scored, big.served = 3, 12    # what the worker does after scoring that slice
    >>> [(job.texts[0], s, e) for job, s, e in plan_batch([big, small], max_texts=3, max_tokens=None)]
    [('y', 0, 2)]
    >>> [(job.texts[0], s, e) for job, s, e in plan_batch([Job(["x"] * 5, costs=[4] * 5)], 3, max_tokens=8)]
    [('x', 0, 2)]
    """
    batch: list[Slice] = []
    texts = longest = 0

    def fits(n: int, length: int) -> bool:
        return n <= max_texts and (max_tokens is None or n * length <= max_tokens)

    for job in sorted(jobs, key=lambda j: priority(j.served, j.turn, j.last_step, now, starve_after)):
        rest, biggest = (
            len(job.texts) - job.scored,
            job.cost(len(job.texts) - 1),
        )  # sorted: the last is longest
        if fits(texts + rest, max(longest, biggest)):
            batch.append((job, job.scored, len(job.texts)))
            texts, longest = texts + rest, max(longest, biggest)
            continue
        if not batch:
            end = job.scored + 1
            while end < len(job.texts) and fits(end - job.scored + 1, job.cost(end)):
                end += 1
            batch.append((job, job.scored, end))
        break
    return batch


@dataclass
class Running:
    """A batch being scored one step at a time (a forward, or a chunk of a long text): its slices, its
    texts, the scorer's steps (see :func:`scorer_steps`) and the tokens they have scored so far."""

    batch: list[Slice]
    texts: list[str]
    steps: Generator[int, None, list[float]]
    last_step: float  # the worker's clock at its start or its last step
    started: float = field(default_factory=time.perf_counter)
    done: int = 0

    def key(self, now: float, starve_after: float | None) -> Priority:
        """Its place in :func:`priority`'s order, counting its own steps and waiting since its last one."""
        return min(
            priority(job.served + self.done, job.turn, self.last_step, now, starve_after)
            for job, _, _ in self.batch
        )


def scorer_steps(scorer: Scorer, texts: list[str]) -> Generator[int, None, list[float]]:
    """The scorer's ``steps(texts)`` when it has them (:meth:`ModelScorer.steps`), else one step: all of
    ``scorer(texts)``."""
    steps = getattr(scorer, "steps", None)
    if steps is not None:
        return steps(texts)

    def at_once() -> Generator[int, None, list[float]]:
        yield from ()  # a generator that yields nothing: its first step scores everything
        return scorer(texts)

    return at_once()


# A batch waits under one that overtook it; each may hold a long text's KV cache, so their number is
# bounded: past it, a new batch waits for the one under way to end.
MAX_SUSPENDED = 4


class BatchWorker:
    """The one thread that scores: batches of ≤ ``max_batch`` texts (and ≤ ``max_tokens`` padded tokens)
    from the jobs received (:func:`plan_batch`: fewest tokens scored so far first, then arrival order; a big
    job in slices).

    When idle, a batch starts with the next job and takes the jobs queued after it; if they hold fewer than
    ``max_batch`` texts it waits for more up to ``max_wait_s`` — only while ``more_coming()`` says a
    request is on its way (the server counts requests being received): a lone client pays no wait.
    Between batches every job received joins the plan, so a new request never waits for a big one to end.
    A scorer with ``steps`` (:class:`ModelScorer`: a forward, or a chunk of a long text, per step) is run
    one step at a time, and between two steps a new batch whose first job comes before the running one
    in that order (it has had fewer tokens scored) overtakes it: the running batch waits, its progress
    kept, until the new one is done (at most ``MAX_SUSPENDED`` wait so). So a short request waits for one
    step, not for a long text. A job (or a waiting batch) that has had no step for ``starve_after_s``
    seconds goes before all others (:func:`priority`), so none waits for ever while others keep coming.
    Abandoned jobs are dropped unscored (counted in ``abandoned``); after :meth:`drain_by`'s deadline the
    jobs left are failed with status 503.

    >>> worker = BatchWorker(lambda texts: [float(len(t)) for t in texts], max_batch=4, max_wait_s=0.0)
    >>> jobs = [worker.submit(["a", "bb"]), worker.submit(["ccc"])]      # queued before the worker starts
    >>> worker.start(); worker.stop()
    >>> [job.rewards for job in jobs], worker.stats()["batches"]
    ([[1.0, 2.0], [3.0]], 1)
    """

    def __init__(
        self,
        scorer: Scorer,
        max_batch: int,
        max_wait_s: float,
        more_coming: Callable[[], bool] = lambda: True,
        max_tokens: int | None = None,
        starve_after_s: float | None = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError(f"max_batch {max_batch} must be ≥ 1 and max_wait_s {max_wait_s} ≥ 0")
        if starve_after_s is not None and starve_after_s <= 0:
            raise ValueError(f"starve_after_s {starve_after_s} must be > 0 (or None: never)")
        self._scorer = scorer
        self.starve_after_s = starve_after_s
        self._clock = clock  # injectable: the tests drive it step by step
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_tokens = max_tokens
        self._more_coming = more_coming
        self._queue: queue.Queue[Job | None] = queue.Queue()  # None: stop, after every job before it
        self._active: list[Job] = []  # received, not finished (worker thread only)
        self._running: list[Running] = []  # a stack: the last one runs, those under it wait (worker only)
        self._stopping = False
        self._closed = False
        self._deadline: float | None = None  # monotonic: fail what is left after it (shutting down)
        self._turns = 0  # the last turn given
        self._lock = threading.Lock()
        self._stats = {
            "requests": 0,
            "texts": 0,
            "batches": 0,
            "max_requests_per_batch": 0,
            "failed_batches": 0,
            "abandoned": 0,
        }
        self._thread = threading.Thread(target=self._run, name="reward-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(
        self,
        texts: Sequence[str],
        on_done: Callable[[], None] | None = None,
        costs: Sequence[int] | None = None,
    ) -> Job:
        job = Job(list(texts), on_done, list(costs) if costs is not None else None)
        with self._lock:  # with stop()'s lock: no job can land behind the stop marker and wait for ever
            if self._closed:
                raise WorkerClosed("the server is shutting down")
            self._turns += 1
            job.turn = self._turns
            job.last_step = self._clock()
            self._queue.put(job)
        return job

    def drain_by(self, deadline: float) -> None:
        """Fail (503) the jobs still unfinished at ``deadline`` (``time.monotonic()``), between batches."""
        self._deadline = deadline if self._deadline is None else min(self._deadline, deadline)

    def stop(self, timeout: float | None = None) -> None:
        """Take no more jobs, score every job already received (until the :meth:`drain_by` deadline), then
        end the thread; wait for it ``timeout`` seconds at most."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def queued(self) -> int:
        """Jobs received and not finished."""
        marker = self._closed and not self._stopping  # the stop marker is queued but is no job
        return max(0, self._queue.qsize() - marker) + len(self._active)

    def stats(self) -> dict[str, int]:
        with self._lock:
            stats = dict(self._stats)
        if hasattr(self._scorer, "forwards"):
            stats["forwards"] = self._scorer.forwards
        return stats

    def _run(self) -> None:
        while self._receive():
            self._drop_unwanted()
            self._step()
        for running in self._running:  # only when stopped with jobs left, which _drop_unwanted prevents
            running.steps.close()

    def _step(self) -> None:
        """Start the next batch if it comes before every running one (or none runs), then run one step: of
        the most overdue running batch if one is (see :func:`priority`), else of the newest."""
        now, starve_after = self._clock(), self.starve_after_s
        busy = {id(job) for running in self._running for job, _, _ in running.batch}
        idle = [job for job in self._active if id(job) not in busy]
        batch = plan_batch(idle, self.max_batch, self.max_tokens, now, starve_after) if idle else []
        if batch:
            first = batch[0][0]
            ahead = priority(first.served, first.turn, first.last_step, now, starve_after)
            if not self._running or (
                len(self._running) <= MAX_SUSPENDED
                and ahead < min(r.key(now, starve_after) for r in self._running)
            ):
                texts = [job.texts[i] for job, start, end in batch for i in job.order[start:end]]
                waited = min(job.last_step for job, _, _ in batch)  # an overdue job stays overdue
                self._running.append(Running(batch, texts, scorer_steps(self._scorer, texts), waited))
        if not self._running:
            return
        overdue = [r for r in self._running if r.key(now, starve_after)[0] == 0]
        running = min(overdue, key=lambda r: r.key(now, starve_after)) if overdue else self._running[-1]
        try:
            running.done = next(running.steps)
            running.last_step = self._clock()
            return
        except StopIteration as end:
            self._running.remove(running)
            rewards = end.value
        except Exception:  # a bad batch (OOM, a text the model chokes on …) must not stop the server
            self._running.remove(running)
            self._failed(running.batch, len(running.texts))
            return
        try:
            rewards = self._checked(rewards, running.texts)
        except Exception:
            self._failed(running.batch, len(running.texts))
            return
        self._scored(running, rewards)

    def _receive(self) -> bool:
        """Move queued jobs to the active ones: when idle, block for one and wait up to ``max_wait_s`` for
        more (see the class docstring); else take what is queued. False once stopped with nothing left."""
        if not self._active:
            if self._stopping:
                return False
            if not self._take(self._queue.get()):
                return False
            deadline = time.monotonic() + self.max_wait_s
            while sum(len(j.texts) - j.scored for j in self._active) < self.max_batch and not self._stopping:
                remaining = deadline - time.monotonic()
                wait = remaining > 0 and self._more_coming()
                try:
                    job = self._queue.get(timeout=remaining) if wait else self._queue.get_nowait()
                except queue.Empty:
                    break
                self._take(job)
        elif self._running and self._more_coming() and not self._stopping:
            # Mid-way through a long batch and a request is being received: it would overtake the next
            # step: give it the CPU (and the GIL) to arrive, up to max_wait_s, rather than start that step.
            with contextlib.suppress(queue.Empty):
                self._take(self._queue.get(timeout=self.max_wait_s))
        while not self._stopping:
            try:
                self._take(self._queue.get_nowait())
            except queue.Empty:
                break
        return True

    def _take(self, job: Job | None) -> bool:
        if job is None:
            self._stopping = True
            return False
        self._active.append(job)
        return True

    def _drop_unwanted(self) -> None:
        """Finish, unscored, the jobs nobody waits for, and every job once the shutdown deadline passed; a
        running batch is dropped when none of its jobs is wanted (else its unwanted jobs end with it)."""
        late = self._deadline is not None and time.monotonic() >= self._deadline
        for running in [r for r in self._running if all(job.abandoned or late for job, _, _ in r.batch)]:
            self._running.remove(running)
            running.steps.close()
        busy = {id(job) for running in self._running for job, _, _ in running.batch}
        for job in [j for j in self._active if (j.abandoned or late) and id(j) not in busy]:
            self._active.remove(job)
            if job.abandoned:
                with self._lock:
                    self._stats["abandoned"] += 1
                job.finish(error="abandoned: nobody waits for the answer any more")
            else:
                job.finish(
                    error="the server is shutting down: not scored within --shutdown_timeout", status=503
                )

    def _failed(self, batch: list[Slice], texts: int) -> None:
        log.exception("scoring a batch of %d requests (%d texts) failed", len(batch), texts)
        with self._lock:
            self._stats["failed_batches"] += 1
        # Each request on its own: one bad request then fails alone, not its batch-mates.
        if len(batch) == 1:
            self._fail(batch[0][0])
        else:
            for piece in batch:
                self._score_alone(piece)

    def _scored(self, running: Running, rewards: list[float]) -> None:
        offset = 0
        for job, start, end in running.batch:
            self._advance(job, end, rewards[offset : offset + end - start])
            offset += end - start
        with self._lock:
            s = self._stats
            s["batches"] += 1
            s["texts"] += len(running.texts)
            s["max_requests_per_batch"] = max(s["max_requests_per_batch"], len(running.batch))
        log.debug(
            "batch: %d requests, %d texts, %.1f ms",
            len(running.batch),
            len(running.texts),
            1e3 * (time.perf_counter() - running.started),
        )

    def _advance(self, job: Job, end: int, rewards: list[float]) -> None:
        for i, reward in zip(job.order[job.scored : end], rewards, strict=True):
            job.partial[i] = reward
            job.served += job.costs[i]
        job.scored = end
        job.last_step = self._clock()
        if job.scored < len(job.texts):
            return
        self._active.remove(job)
        with self._lock:
            self._stats["requests"] += 1
        job.finish(rewards=job.partial)

    def _score_alone(self, piece: Slice) -> None:
        job, start, end = piece
        try:
            self._advance(job, end, self._run_scorer([job.texts[i] for i in job.order[start:end]]))
        except Exception:
            self._fail(job)

    def _fail(self, job: Job) -> None:
        self._active.remove(job)
        job.finish(error=_describe_failure())

    def _run_scorer(self, texts: list[str]) -> list[float]:
        return self._checked(self._scorer(texts), texts)

    @staticmethod
    def _checked(rewards: Sequence[float], texts: list[str]) -> list[float]:
        rewards = [float(r) for r in rewards]
        if len(rewards) != len(texts):
            raise RuntimeError(f"the scorer returned {len(rewards)} rewards for {len(texts)} texts")
        return rewards


def _describe_failure() -> str:
    error = sys.exc_info()[1]
    return f"scoring failed: {type(error).__name__}: {error}"


# --------------------------------------------------------------------------------------------- scoring


def plan_forwards(lengths: Sequence[int], max_texts: int, max_tokens: int) -> list[list[int]]:
    """Which texts go in each forward: shortest first, and a new forward whenever the next text would take
    the padded batch (texts × longest) over ``max_tokens`` tokens or ``max_texts`` texts. Similar lengths
    share a forward, so little is padding; a text longer than ``max_tokens`` goes alone.

    >>> plan_forwards([5, 1, 3, 2, 9], max_texts=3, max_tokens=8)
    [[1, 3], [2], [0], [4]]
    """
    forwards: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        current = forwards[-1] if forwards else None
        if current is None or len(current) >= max_texts or (len(current) + 1) * lengths[i] > max_tokens:
            forwards.append([i])
        else:
            current.append(i)
    return forwards


class ModelScorer:
    """Texts → normalised rewards with :func:`llm.models.reward.score`, in the forwards of
    :func:`plan_forwards`; a text longer than ``chunk_tokens`` (alone in its forward) is run in chunks of
    ``chunk_tokens`` with a KV cache (:func:`llm.models.reward.prefill_reward`), the same reward to float
    precision. :meth:`steps` does it one forward or chunk at a time, so the worker can score a short
    request between two chunks of a long text. Only the worker thread calls it: it owns the model and the
    tokenizer. :meth:`lengths` (what each text costs, for the request's checks) runs in another thread, on
    its own copy of the tokenizer."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        max_texts: int,
        max_tokens: int,
        max_length: int | None,
        chunk_tokens: int | None = None,
    ):
        self.model, self.tokenizer = model, tokenizer
        self.max_texts, self.max_tokens, self.max_length = max_texts, max_tokens, max_length
        self.chunk_tokens = chunk_tokens or max_tokens
        self.forwards = 0
        self._measurer = copy.deepcopy(tokenizer)

    def lengths(self, texts: list[str]) -> list[int]:
        """Each text's tokens as scored: after keeping its last ``max_length``."""
        lengths = [len(ids) for ids in self._measurer(texts, add_special_tokens=False)["input_ids"]]
        return [min(n, self.max_length) for n in lengths] if self.max_length else lengths

    def __call__(self, texts: list[str]) -> list[float]:
        return run_to_end(self.steps(texts))

    def steps(self, texts: list[str]) -> Generator[int, None, list[float]]:
        """The rewards of ``texts``, as a generator: between two forwards or chunks (never after the last) it
        yields the tokens scored so far, and at the end it returns the rewards."""
        # Tokenized twice (here for lengths, in score() for ids): tokenizing is cheap next to a forward.
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        if self.max_length:
            encoded = [ids[-self.max_length :] for ids in encoded]  # keep the end, as score() does
        lengths = [len(ids) for ids in encoded]
        if 0 in lengths:
            raise ValueError(
                f"text {lengths.index(0)} has no tokens: there is no last token to read a reward at"
            )
        if max(lengths) > self.chunk_tokens:
            yield 0  # a long text's tokenizing is a step of its own (~15 ms for 16,000 characters on CPU)
        rewards = [0.0] * len(texts)
        bias = reward_bias(self.model)
        done = 0  # tokens scored so far
        for k, forward in enumerate(plan_forwards(lengths, self.max_texts, self.max_tokens)):
            if k:
                yield done
            if len(forward) == 1 and lengths[forward[0]] > self.chunk_tokens:
                i = forward[0]
                chunks = prefill_reward(self.model, encoded[i], self.chunk_tokens)
                while True:
                    try:
                        within = next(chunks)
                    except StopIteration as end:
                        rewards[i] = end.value + bias
                        break
                    yield done + within
            else:
                scored = score(
                    self.model, self.tokenizer, [texts[i] for i in forward], len(forward), self.max_length
                )
                for i, reward in zip(forward, scored):
                    rewards[i] = reward
            done += sum(lengths[i] for i in forward)
            self.forwards += 1
        return rewards


def run_to_end(steps: Generator[int, None, Any]) -> Any:
    """What a generator of steps returns, all its steps run."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
