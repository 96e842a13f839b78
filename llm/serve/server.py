"""``llm-train serve-reward``: a trained reward model behind HTTP (FastAPI on uvicorn), with dynamic batching.

    llm-train serve-reward --model runs/rm                                 # http://127.0.0.1:8000, no token
    llm-train serve-reward --model runs/rm --port 0 --device cuda:7 --max_batch 64 --max_length 2048
    llm-train serve-reward --model runs/rm --host 0.0.0.0 --token_file ~/.config/rm.token
    llm-train serve-reward rm.yaml --port 8001                             # flags from a YAML file

The flags are :class:`llm.commands.serve_reward.ServeRewardArguments`; this module is the server itself
(:func:`serve` with a :class:`ServerConfig`, or :class:`RewardServer` to run one in a thread).

The protocol is OpenRLHF's ``--remote_rm_url`` one, so their PPO can use this server and our PPO theirs:

- ``POST /get_reward`` ``{"query": ["full text", ...], "prompts": [...], "labels": [...]}`` answers
  ``{"rewards": [float, ...]}``, one normalised reward per text, in order. ``query`` holds prompt + response
  as rendered for training; ``prompts`` and ``labels`` are accepted and ignored.
- ``GET /health`` answers ``{"status": "ok", "model": NAME, "queue": n, "in_flight": n, ...limits and
  counters}``: the model's folder name, never its path; ``abandoned`` counts requests dropped unscored
  because their client left or they timed out.
- Every error answers ``{"error": reason}`` (FastAPI's own 404, 405 and validation errors too, and uvicorn's
  answer to malformed HTTP): 400 malformed JSON, ``query`` or HTTP, 401 missing or wrong bearer token,
  404 unknown path, 405 wrong method, 408 body not received in time, 411 no ``Content-Length`` (or a
  chunked body), 413 body, a text, the number of texts or the tokens of a request over the limits, 500
  scoring failed, 503 shutting down, 504 scoring took over ``--request_timeout``. A failed request never
  stops the server.

**What one request may cost.** Each text is cut to its last ``--max_length`` tokens — by default the length
the reward model was trained with (``llm_train.json``, as its Trainer saw the texts), else the model's
positions; never more than its positions. A request holds at most ``--max_texts`` texts (256) and
``--max_request_tokens`` tokens after the cut (262,144), besides ``--max_body_bytes`` and
``--max_text_chars``: beyond, 413 naming the limit, before anything is queued.

**Dynamic batching, and no client can stall the others.** Request handlers are coroutines on uvicorn's
event loop: they read the body, have it parsed and measured in tokens on a small thread pool (off the loop),
then queue their texts. One worker thread (:class:`BatchWorker`) owns the model. When idle it takes the
first queued request and keeps collecting requests until ``--max_batch`` texts or ``--max_wait_ms`` after
the first (waiting only while more requests are being received, so a lone client pays no wait). Each batch
is planned afresh from every request received (:func:`plan_batch`): the requests that have had the fewest
tokens scored so far first, then in arrival order (so requests that fit in a batch are served first come
first served, and a request scored in slices gives way to any request that has had less), whole requests
while they fit in ``--max_batch`` texts and ``--max_batch_tokens`` padded tokens, and a request too big for
that scored in slices, its shortest texts first. The worker runs a batch one step at a time — a forward of
≤ ``--max_batch_tokens`` padded tokens, or, for a text longer than that, a chunk of 256 tokens on CPU run
with a KV cache (:func:`llm.models.reward.prefill_reward`; the same reward) — and a request that comes
first in that order overtakes a batch under way between two steps. So a client sending the largest request
allowed, again and again, delays an ordinary request by about one step; ``bench/reward_server.py``
measures it. A request whose client
closes its connection, or that times out, is dropped before the rest of it is scored. The worker wakes
each handler through an asyncio future that it resolves with ``loop.call_soon_threadsafe``: a waiting request holds no thread and never blocks the loop.
The scorer (:class:`ModelScorer`) sorts a batch by token length and cuts it into forwards of at most
``--max_batch_tokens`` padded tokens (:func:`plan_forwards`), so similar lengths share a forward; a text's
reward does not depend on its batch-mates. If a batch fails, its requests are scored one by one, so a bad
request fails alone. ``--max_batch 1 --max_wait_ms 0`` is one text per forward.

**Safety.** Binds 127.0.0.1 unless ``--host`` says otherwise; a server bound beyond loopback refuses to
start without ``--token_file``. With ``--token_file`` every path, ``/health`` included, needs ``Authorization: Bearer <token>``
(constant-time compare; a 401 carries ``WWW-Authenticate``). ``Content-Length`` is checked before the body
is read; the body, and the first request's headers, must arrive within ``--socket_timeout`` seconds, so a
slow or trickling client cannot hold the server. An answer given before the body was read (401, 404, 413
…) first reads and drops a body of up to 16 MiB, unless the client asked ``Expect: 100-continue``: closing
a socket with unread data sends a reset, and the client would lose the answer.

**Shutdown.** SIGTERM or SIGINT stops accepting connections; requests already received are scored for up
to ``--shutdown_timeout`` seconds (10), the rest answered 503 (our client retries those on another server),
and the process exits 0 — within the timeout plus the forward under way. A request arriving meanwhile gets
503; uvicorn's own ``timeout_graceful_shutdown`` (2 s later) is the backstop. A second signal exits at once.

Only the ready line goes to stdout (``serving reward model DIR on http://HOST:PORT (batch ≤ N, wait ≤ M
ms)``, flushed once the socket is listening: scripts wait for it; ``--port 0`` picks a free port and the line
shows it). The port is bound before the model loads, so a taken port fails at once. Logs go to stderr
(``--verbose``: one line per batch and per request); uvicorn's access log is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import ipaddress
import json
import logging
import os
import queue
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm.errors import UserError
from llm.models.checkpoint import INFO_FILE, read_info
from llm.models.reward import load_reward_model, prefill_reward, reward_bias, score

try:
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.requests import ClientDisconnect
    from uvicorn.protocols.http.h11_impl import H11Protocol
except ImportError as e:  # pragma: no cover
    raise ImportError(
        f"the reward server needs FastAPI and uvicorn: pip install 'llm-train[serve]' ({e})"
    ) from e

log = logging.getLogger("llm.serve")

Scorer = Callable[[list[str]], list[float]]

# Padded tokens per forward (--max_batch_tokens). On CPU a forward of a few hundred tokens is already
# efficient and padding plus quadratic attention make big batches slower (bench/reward_server.py); a GPU
# needs large forwards to be busy.
DEFAULT_BATCH_TOKENS_CPU = 1024
DEFAULT_BATCH_TOKENS_GPU = 65536
# Tokens per chunk of a long text (scored with a KV cache, a short request may run between two chunks). On
# CPU a chunk of 256 costs about what an ordinary request's forward does; a GPU runs whole texts.
DEFAULT_CHUNK_TOKENS_CPU = 256

# Past this, the body of a refused request is not read at all (the client may see a reset, not the answer).
DRAIN_LIMIT = 16 << 20
PREPARE_THREADS = 4
BACKLOG = 1024  # a burst of clients waits in the backlog instead of retrying dropped SYNs
ROUTES = "try POST /get_reward or GET /health"
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # a valid pair decodes to one character: any left is alone


# --------------------------------------------------------------------------------------------- batching


@dataclass
class Job:
    """One request's texts, and where the worker leaves its rewards (or why it has none).

    ``costs`` are the texts' tokens (after truncation to ``--max_length``): what scoring them costs;
    ``served`` counts the tokens scored so far, and ``turn`` is the arrival order: together they order the
    work (:func:`plan_batch`). The worker scores a job in slices, possibly over
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


def plan_batch(jobs: Sequence[Job], max_texts: int, max_tokens: int | None) -> list[Slice]:
    """The next batch: the jobs with the fewest tokens scored so far first, then by arrival (``turn``), each
    whole while it fits in ``max_texts`` texts and ``max_tokens`` padded tokens (texts × longest); the first
    job that does not fit ends the batch, unless the batch is empty: then it gives a slice that fits (one
    text at least; a job's texts go shortest first, see :class:`Job`).

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

    for job in sorted(jobs, key=lambda j: (j.served, j.turn)):
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
    started: float = field(default_factory=time.perf_counter)
    done: int = 0

    def key(self) -> tuple[int, int]:
        """Its place in :func:`plan_batch`'s order (tokens scored so far, arrival), counting its own steps."""
        return min((job.served + self.done, job.turn) for job, _, _ in self.batch)


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
    step, not for a long text.
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
    ):
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError(f"max_batch {max_batch} must be ≥ 1 and max_wait_s {max_wait_s} ≥ 0")
        self._scorer = scorer
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
        """Start the next batch if it comes before the running one (or none runs), then run one step."""
        busy = {id(job) for running in self._running for job, _, _ in running.batch}
        idle = [job for job in self._active if id(job) not in busy]
        batch = plan_batch(idle, self.max_batch, self.max_tokens) if idle else []
        if batch and (
            not self._running
            or (
                len(self._running) <= MAX_SUSPENDED
                and (batch[0][0].served, batch[0][0].turn) < self._running[-1].key()
            )
        ):
            texts = [job.texts[i] for job, start, end in batch for i in job.order[start:end]]
            self._running.append(Running(batch, texts, scorer_steps(self._scorer, texts)))
        if not self._running:
            return
        running = self._running[-1]
        try:
            running.done = next(running.steps)
            return
        except StopIteration as end:
            self._running.pop()
            rewards = end.value
        except Exception:  # a bad batch (OOM, a text the model chokes on …) must not stop the server
            self._running.pop()
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


# --------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class ServerConfig:
    """A server's settings, parsed (a token, not its file; bytes, not ``4MiB``). The field names are the
    flags of ``llm-train serve-reward``, and the defaults are theirs."""

    model: str
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    max_batch: int = 32
    max_wait_ms: float = 10.0
    max_batch_tokens: int | None = None
    device: str | None = None
    dtype: str = "float32"
    max_body_bytes: int = 4 << 20
    max_text_chars: int = 100_000
    max_length: int | None = None  # None: the model's (see context_length)
    max_texts: int = 256
    max_request_tokens: int = 262_144
    socket_timeout: float = 30.0
    request_timeout: float = 600.0
    shutdown_timeout: float = 10.0

    def __post_init__(self) -> None:
        sizes = (
            "max_batch",
            "max_batch_tokens",
            "max_text_chars",
            "max_length",
            "max_body_bytes",
            "max_texts",
        )
        for name in (*sizes, "max_request_tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"--{name} {value}: must be 1 or more")
        if self.max_wait_ms < 0:
            raise UserError(f"--max_wait_ms {self.max_wait_ms:g}: must be 0 or more")
        for name in ("socket_timeout", "request_timeout", "shutdown_timeout"):
            if not getattr(self, name) > 0:
                raise UserError(f"--{name} {getattr(self, name):g}: must be more than 0 seconds")
        if self.token is None and not is_loopback(self.host):
            raise UserError(
                f"--host {self.host}: a server reachable from other machines needs --token_file "
                "(anyone who can reach it could use the model); or bind 127.0.0.1"
            )
        if not 0 <= self.port <= 65535:
            raise UserError(f"--port {self.port}: not a port (0 to 65535; 0 picks a free one)")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise UserError(f"--dtype {self.dtype}: expected float32, bfloat16 or float16")


def parse_size(text: str) -> int:
    """Bytes from ``4194304``, ``4MiB``, ``512KiB``, ``4MB``, ``1G`` (K/M/G alone are binary).

    >>> [parse_size(s) for s in ("100", "4MiB", "512 KiB", "2KB", "1G")]
    [100, 4194304, 524288, 2000, 1073741824]
    """
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(i?B?)\s*", str(text), flags=re.IGNORECASE)
    if not match:
        raise UserError(f"not a size: {text!r} (e.g. 4MiB, 65536)")
    number, prefix, suffix = match.groups()
    power = "KMG".find(prefix.upper()) + 1 if prefix else 0
    base = 1000 if suffix.upper() == "B" else 1024
    return int(number) * base**power


def read_token(path: str) -> str:
    """The bearer token in ``path``, stripped; an error if the file is missing or holds no token."""
    file = Path(path).expanduser()
    token = file.read_text(encoding="utf-8").strip()  # OSError when missing: reported by the command
    if not token:
        raise UserError(f"--token_file {path}: empty")
    if not token.isascii() or any(c.isspace() for c in token):
        raise UserError(f"--token_file {path}: the token must be one word of ASCII characters")
    if file.stat().st_mode & 0o004:
        log.warning("--token_file %s is readable by every user: chmod 600 it", path)
    return token


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only.

    >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "10.1.2.3")]
    [True, True, True, False, False]
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: assume it is reachable from outside
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one); OSError naming the address if not."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait for TIME_WAIT
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


def context_length(asked: int | None, trained: int | None, positions: int | None) -> int | None:
    """Tokens kept of each text (its last ones): ``--max_length`` if given, else the length the reward model
    was trained with (``llm_train.json``: the texts as its Trainer saw them), else the model's positions;
    never more than its positions.

    >>> context_length(None, 1024, 2048), context_length(None, None, 2048), context_length(512, 1024, 2048)
    (1024, 2048, 512)
    >>> context_length(4096, None, 2048)
    Traceback (most recent call last):
    ...
    llm.errors.UserError: --max_length 4096: over the model's 2048 positions
    """
    if asked is not None and positions is not None and asked > positions:
        raise UserError(f"--max_length {asked}: over the model's {positions} positions")
    return asked or (min(trained, positions or trained) if trained else positions)


def trained_length(model_dir: str) -> int | None:
    """The ``max_length`` in the checkpoint's ``llm_train.json`` (None without one)."""
    if not (Path(model_dir) / INFO_FILE).is_file():
        return None
    return read_info(model_dir).max_length


def load_scorer(config: ServerConfig) -> ModelScorer:
    import torch

    if not Path(config.model).is_dir():
        raise FileNotFoundError(f"--model {config.model}: no such directory")
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, tokenizer = load_reward_model(config.model, device=device, dtype=getattr(torch, config.dtype))
    positions = next(
        (getattr(model.config, k) for k in POSITION_KEYS if getattr(model.config, k, None)), None
    )
    max_length = context_length(config.max_length, trained_length(config.model), positions)
    max_tokens = config.max_batch_tokens or (
        DEFAULT_BATCH_TOKENS_GPU if device != "cpu" else DEFAULT_BATCH_TOKENS_CPU
    )
    chunk_tokens = DEFAULT_CHUNK_TOKENS_CPU if device == "cpu" else None
    return ModelScorer(model, tokenizer, config.max_batch, max_tokens, max_length, chunk_tokens)


# --------------------------------------------------------------------------------------------- requests


class RequestError(Exception):
    """A request the server refuses: HTTP ``status`` and a reason for the client."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


def parse_query(body: bytes, max_text_chars: int, max_texts: int | None = None) -> list[str]:
    """The texts of a ``/get_reward`` body, or :class:`RequestError` saying what is wrong with it: 400 for
    what is not a list of non-empty strings of valid Unicode, 413 for over ``max_texts`` texts or a text over
    ``max_text_chars`` characters.

    >>> parse_query(b'{"query": ["a b", "c"], "prompts": ["a"]}', max_text_chars=10)
    ['a b', 'c']
    >>> parse_query(b'{"query": "a b"}', max_text_chars=10)
    Traceback (most recent call last):
    ...
    llm.serve.server.RequestError: "query" must be a list of strings, not str
    """
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RequestError(400, f"malformed JSON: {e}") from None
    if not isinstance(payload, dict):
        raise RequestError(400, f'the body must be a JSON object with "query", not {type(payload).__name__}')
    if "query" not in payload:
        raise RequestError(400, 'missing "query": a list of texts to score')
    query = payload["query"]
    if not isinstance(query, list):
        raise RequestError(400, f'"query" must be a list of strings, not {type(query).__name__}')
    if max_texts is not None and len(query) > max_texts:
        raise RequestError(413, f'"query" has {len(query)} texts, over the limit of {max_texts} per request')
    for i, text in enumerate(query):
        if not isinstance(text, str):
            raise RequestError(400, f'"query"[{i}] must be a string, not {type(text).__name__}')
        if not text:
            raise RequestError(400, f'"query"[{i}] is empty: there is no last token to read a reward at')
        surrogate = LONE_SURROGATE.search(text)
        if surrogate:  # JSON's \ud800 escapes decode to a str no tokenizer can encode
            raise RequestError(
                400,
                f'"query"[{i}] is not valid Unicode: a lone surrogate '
                f"{surrogate.group()!a} at character {surrogate.start()}",
            )
        if len(text) > max_text_chars:
            raise RequestError(
                413, f'"query"[{i}] has {len(text)} characters, over the limit of {max_text_chars}'
            )
    return query


def error_response(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


class Exchange:
    """One request's ``receive`` and ``send``, wrapped: the body must arrive by a deadline (408 if not),
    and an answer sent before the body was read first drains it (see the module docstring), or closes the
    connection when it cannot."""

    def __init__(self, scope: dict, receive: Callable, send: Callable, timeout: float):
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self._receive, self._send = receive, send
        declared = self.headers.get("content-length", "").strip()
        length = int(declared) if declared.isdigit() else None
        chunked = "transfer-encoding" in self.headers
        self.body_done = not chunked and not length  # nothing (more) to read
        self.drainable = (
            not chunked
            and length is not None
            and length <= DRAIN_LIMIT
            and "100-continue" not in self.headers.get("expect", "").lower()  # it sends only if asked
        )
        self.status: int | None = None
        self.error = b""

    async def receive(self) -> dict:
        if self.body_done:
            return await self._receive()
        try:
            message = await asyncio.wait_for(self._receive(), max(0.0, self.deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise RequestError(408, f"body not received within {self.timeout:g} s") from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_done = True
        return message

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            if not self.body_done and self.drainable:
                with contextlib.suppress(RequestError):  # past the deadline: give up and close
                    while not self.body_done:
                        await self.receive()
            if not self.body_done:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
        elif message["type"] == "http.response.body" and (self.status or 0) >= 400:
            self.error += message.get("body", b"")[:1000]
        await self._send(message)


class Guard:
    """The ASGI layer around the routes, for every path: 503 once shutting down, 401 without the token,
    the body deadline and drain (:class:`Exchange`), a JSON 500 for a bug, and the ``--verbose`` line."""

    def __init__(self, app: Callable, server: RewardServer):
        self.app = app
        self.server = server

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        exchange = Exchange(scope, receive, send, self.server.config.socket_timeout)
        try:
            if self.server.stopping:
                refusal = error_response(503, "the server is shutting down", {"Connection": "close"})
                await refusal(scope, exchange.receive, exchange.send)
            elif not self.server.authorized(exchange.headers.get("authorization", "")):
                refusal = error_response(
                    401, "missing or wrong bearer token", {"WWW-Authenticate": 'Bearer realm="reward"'}
                )
                await refusal(scope, exchange.receive, exchange.send)
            else:
                await self.app(scope, exchange.receive, exchange.send)
        except Exception as e:  # a bug: logged, answered, and the server goes on
            log.exception("unexpected error handling %s %s", scope.get("method"), scope.get("path"))
            if exchange.status is None:
                failure = error_response(500, f"internal error: {type(e).__name__}: {e}")
                await failure(scope, exchange.receive, exchange.send)
        finally:
            if log.isEnabledFor(logging.DEBUG):
                client = scope.get("client") or ("?", 0)
                reason = exchange.error.decode("utf-8", "replace") if exchange.error else ""
                log.debug(
                    "%s:%s %s %s → %s %s(%.1f ms)",
                    *client[:2],
                    scope.get("method"),
                    scope.get("path"),
                    exchange.status,
                    f"{reason} " if reason else "",
                    1e3 * (time.perf_counter() - started),
                )


class _H11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with a JSON answer to malformed HTTP (a bad request line, header or
    ``Content-Length``) and a deadline for a connection's first request line and headers."""

    header_timeout = 30.0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._headers_due = self.loop.call_later(self.header_timeout, self._headers_overdue)

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_due.cancel()
        super().connection_lost(exc)

    def _headers_overdue(self) -> None:
        if self.cycle is None and not self.transport.is_closing():
            log.debug("closing a connection that sent no request in %g s", self.header_timeout)
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        import h11

        body = json.dumps({"error": f"malformed HTTP request: {msg}"}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        try:
            for event in (
                h11.Response(status_code=400, headers=headers),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:  # too broken to answer at all
            pass
        self.transport.close()


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, telling when it listens; signals are :func:`serve`'s (uvicorn's own handlers
    would re-raise SIGTERM after the shutdown, and the process would not exit 0)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]):
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # the same, for uvicorn < 0.29
        pass


# --------------------------------------------------------------------------------------------- server


class RewardServer:
    """A listening socket, the batching worker and the FastAPI app; :meth:`run` serves until :meth:`stop`.

    The socket is bound when the server is made, before the model loads (a taken port fails at once);
    :meth:`load` gives it its scorer. ``run`` may run in any thread (signals are :func:`serve`'s business).
    """

    def __init__(self, config: ServerConfig):
        self.config = config
        self.socket = bind(config.host, config.port)
        self.worker: BatchWorker | None = None
        self.scorer: Scorer | None = None
        # Parsing and measuring requests (JSON, tokenizing) off the event loop; several at once, so a small
        # request is not queued behind the tokenizing of a big one.
        self._prepare_pool = ThreadPoolExecutor(PREPARE_THREADS, "reward-prepare")
        self.stopping = False
        self.in_flight = 0  # /get_reward requests not yet answered (changed on the event loop only)
        self.arriving = 0  # ... of which not yet queued for scoring (being received or parsed)
        self.app = build_app(self)
        protocol = type("Protocol", (_H11Protocol,), {"header_timeout": config.socket_timeout})
        self._uvicorn = _Uvicorn(
            uvicorn.Config(
                self.app,
                http=protocol,
                loop="asyncio",
                ws="none",
                lifespan="off",
                interface="asgi3",
                log_config=None,
                access_log=False,
                server_header=False,
                headers=[("server", "llm-reward")],
                backlog=BACKLOG,
                # A backstop only: the worker fails what is left at --shutdown_timeout (503), so the
                # requests are answered before uvicorn would cancel them.
                timeout_graceful_shutdown=config.shutdown_timeout + 2,
            ),
            on_started=self._announce,
        )
        self._on_ready: Callable[[str], None] = lambda line: None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()[:2]
        return host, port

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def load(self, scorer: Scorer | None = None) -> None:
        """Take ``scorer``, else load the model of ``config.model`` (its library chatter goes to stderr)."""
        if scorer is None:
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    scorer = load_scorer(self.config)
            except (UserError, OSError):
                raise
            except Exception as e:
                raise UserError(f"cannot load {self.config.model}: {type(e).__name__}: {e}") from e
        wait_s = self.config.max_wait_ms / 1e3
        self.scorer = scorer
        max_tokens = getattr(scorer, "max_tokens", None)
        self.worker = BatchWorker(
            scorer, self.config.max_batch, wait_s, lambda: self.arriving > 0, max_tokens
        )

    def ready_line(self) -> str:
        assert self.worker is not None
        return (
            f"serving reward model {self.config.model} on {self.url} "
            f"(batch ≤ {self.worker.max_batch}, wait ≤ {1e3 * self.worker.max_wait_s:g} ms)"
        )

    def run(self, on_ready: Callable[[str], None] = lambda line: None) -> None:
        """Serve until :meth:`stop`; then every request received is answered and the worker drained.
        ``on_ready`` gets the ready line once the socket is served."""
        if self.worker is None:
            raise RuntimeError("load() the scorer first")
        self._on_ready = on_ready
        self.worker.start()
        try:
            self._uvicorn.run(sockets=[self.socket])
        finally:
            self.stopping = True
            # uvicorn has answered every request (or given up on it): nobody waits for what is left.
            self.worker.drain_by(time.monotonic())
            self.worker.stop(self.config.shutdown_timeout)
            self._prepare_pool.shutdown(wait=False, cancel_futures=True)
        log.info("stopped: %s", self.worker.stats())

    def stop(self) -> None:
        """Stop accepting connections and finish the requests received within ``--shutdown_timeout`` (the
        rest answer 503); safe from a signal handler or another thread."""
        self.stopping = True
        if self.worker is not None:
            self.worker.drain_by(time.monotonic() + self.config.shutdown_timeout)
        self._uvicorn.should_exit = True

    def close(self) -> None:
        self.socket.close()
        self._prepare_pool.shutdown(wait=False, cancel_futures=True)

    def _announce(self) -> None:
        self._on_ready(self.ready_line())

    def authorized(self, header: str) -> bool:
        token = self.config.token
        if token is None:
            return True
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())

    def health(self) -> dict[str, Any]:
        assert self.worker is not None
        return {
            "status": "ok",
            "model": Path(self.config.model).name,  # its name, not where it lives on this machine
            "queue": self.worker.queued(),
            "in_flight": self.in_flight,
            "max_batch": self.worker.max_batch,
            "max_wait_ms": 1e3 * self.worker.max_wait_s,
            "max_length": getattr(self.scorer, "max_length", None),
            "max_texts": self.config.max_texts,
            "max_request_tokens": self.config.max_request_tokens,
            **self.worker.stats(),
        }

    async def get_reward(self, request: Request) -> list[float]:
        self.in_flight += 1
        try:
            self.arriving += 1
            try:
                body = await self._read_body(request)
                loop = asyncio.get_running_loop()
                texts, costs = await loop.run_in_executor(self._prepare_pool, self.prepare, body)
            finally:
                self.arriving -= 1  # before submitting: a lone request must not make the worker wait
            if not texts:
                return []
            job, answered = self._submit(texts, costs)
            return await self._wait(job, answered, request)
        finally:
            self.in_flight -= 1

    def prepare(self, body: bytes) -> tuple[list[str], list[int]]:
        """A body's texts and their tokens (as scored), within the limits of one request (413 beyond)."""
        config = self.config
        texts = parse_query(body, config.max_text_chars, config.max_texts)
        measure = getattr(self.scorer, "lengths", None)
        costs = (
            measure(texts) if measure and texts else [len(text) for text in texts]
        )  # fakes: a char a token
        empty = next((i for i, n in enumerate(costs) if n == 0), None)
        if empty is not None:
            raise RequestError(
                400, f'"query"[{empty}] has no tokens: there is no last token to read a reward at'
            )
        if sum(costs) > config.max_request_tokens:
            raise RequestError(
                413,
                f'"query" holds {sum(costs)} tokens (after --max_length), over the limit of '
                f"{config.max_request_tokens} per request: send fewer texts per request",
            )
        return texts, costs

    async def _read_body(self, request: Request) -> bytes:
        """The body, once its declared length is known to be within the limit (413 without reading it);
        all of it within ``socket_timeout`` (:class:`Exchange`)."""
        if "transfer-encoding" in request.headers:
            raise RequestError(411, "chunked bodies are not supported: send Content-Length")
        declared = request.headers.get("content-length")
        if declared is None:
            raise RequestError(411, "Content-Length required")
        if not declared.strip().isdigit():
            raise RequestError(400, f"bad Content-Length: {declared!r}")
        length, limit = int(declared), self.config.max_body_bytes
        if length > limit:
            raise RequestError(413, f"body of {length} bytes is over the limit of {limit} bytes")
        try:
            return await request.body()
        except ClientDisconnect:
            raise RequestError(400, "the client closed the connection mid-body") from None

    def _submit(self, texts: list[str], costs: list[int]) -> tuple[Job, asyncio.Future]:
        assert self.worker is not None
        loop = asyncio.get_running_loop()
        answered = loop.create_future()

        def resolve() -> None:
            if not answered.done():
                answered.set_result(None)

        try:
            job = self.worker.submit(texts, on_done=lambda: loop.call_soon_threadsafe(resolve), costs=costs)
        except WorkerClosed as e:
            raise RequestError(503, str(e)) from None
        return job, answered

    async def _wait(self, job: Job, answered: asyncio.Future, request: Request) -> list[float]:
        """The job's rewards; a job whose client leaves, or that takes over ``--request_timeout``, is
        abandoned: the worker drops what it has not scored yet."""
        gone = asyncio.ensure_future(client_gone(request))
        try:
            done, _ = await asyncio.wait(
                {answered, gone}, timeout=self.config.request_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            job.abandoned = True
            raise
        finally:
            gone.cancel()
        if answered not in done:
            job.abandoned = True
            if gone in done:
                raise RequestError(400, "the client closed the connection before its rewards were ready")
            raise RequestError(504, f"scoring did not finish within {self.config.request_timeout:g} s")
        if job.error is not None:
            raise RequestError(job.status, job.error)
        assert job.rewards is not None
        return job.rewards


async def client_gone(request: Request) -> None:
    """Returns once the client has closed its connection (the body has been read: the next ASGI message
    is ``http.disconnect``, sent when the connection is lost)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def build_app(server: RewardServer) -> FastAPI:
    """The routes, and handlers that turn every error into ``{"error": reason}``."""
    app = FastAPI(
        title="llm-train reward server",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
    )
    app.add_middleware(Guard, server=server)

    async def get_reward(request: Request) -> JSONResponse:
        return JSONResponse({"rewards": await server.get_reward(request)})

    async def health() -> JSONResponse:
        return JSONResponse(server.health())

    for path in ("/get_reward", "/get_reward/"):
        app.add_api_route(path, get_reward, methods=["POST"])
    for path in ("/health", "/health/"):
        app.add_api_route(path, health, methods=["GET"])

    @app.exception_handler(RequestError)
    async def refused(request: Request, e: RequestError) -> JSONResponse:
        return error_response(e.status, e.reason, e.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        where = f"{request.method} {request.url.path}"
        if e.status_code == 404:
            reason = f"no such path: {where} ({ROUTES})"
        elif e.status_code == 405:
            reason = f"method not allowed: {where} ({ROUTES})"
        else:
            reason = str(e.detail)
        return error_response(e.status_code, reason, getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        return error_response(400, f"invalid request: {e.errors()}")

    return app


# --------------------------------------------------------------------------------------------- start-up


@contextlib.contextmanager
def stop_on_signals(server: RewardServer) -> Iterator[None]:
    """SIGTERM or SIGINT: :meth:`RewardServer.stop`; a second one exits at once. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: Any) -> None:
        if server.stopping:
            log.warning("second signal: exiting now")
            os._exit(1)
        log.info("%s: finishing in-flight requests", signal.Signals(signum).name)
        server.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def print_ready(line: str) -> None:
    print(line, flush=True)


def serve(config: ServerConfig, scorer: Scorer | None = None) -> None:
    """What ``llm-train serve-reward`` runs: bind, load the model (or take ``scorer``), print the ready
    line, serve until SIGTERM/SIGINT, finish what was received, return."""
    server = RewardServer(config)
    try:
        server.load(scorer)
        with stop_on_signals(server):
            server.run(on_ready=print_ready)
    finally:
        server.close()
