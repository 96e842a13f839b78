"""``llm-train serve-reward``: a trained reward model behind HTTP, with dynamic batching.

    llm-train serve-reward --model runs/rm                                 # http://127.0.0.1:8000, no token
    llm-train serve-reward --model runs/rm --port 0 --device cuda:7 --max-batch 64 --max-length 2048
    llm-train serve-reward --model runs/rm --host 0.0.0.0 --token-file ~/.config/rm.token
    python -m llm.serve.server --model runs/rm ...                         # the same, without the CLI

The protocol is OpenRLHF's ``--remote_rm_url`` one, so their PPO can use this server and our PPO theirs:

- ``POST /get_reward`` ``{"query": ["full text", ...], "prompts": [...], "labels": [...]}`` answers
  ``{"rewards": [float, ...]}``, one normalised reward per text, in order. ``query`` holds prompt + response
  as rendered for training; ``prompts`` and ``labels`` are accepted and ignored.
- ``GET /health`` answers ``{"status": "ok", "model": DIR, "queue": n, "in_flight": n, ...counters}``.
- Errors answer ``{"error": reason}``: 400 malformed JSON or ``query``, 401 missing or wrong bearer token,
  404 unknown path, 411 no ``Content-Length``, 413 body or a text over the limits, 500 scoring failed,
  503 shutting down. A failed request never stops the server.

**Dynamic batching.** Request threads only parse and validate; they queue their texts with an event to
wait on. One worker thread owns the model: it takes the first queued request, keeps collecting requests
until ``--max-batch`` texts or ``--max-wait-ms`` after the first (waiting only while more requests are
being received, so a lone client pays no wait), scores them together with
:func:`llm.models.reward.score` (length-sorted, right-padded; a text's reward does not depend on its
batch-mates) and hands every request its slice. The scorer sorts a batch by token length and cuts it into
forwards of at most ``--max-batch-tokens`` padded tokens, so similar lengths share a forward. If a batch
fails, its requests are scored one by one, so a bad request fails alone. ``--max-batch 1 --max-wait-ms 0``
is one text per forward.

**Safety.** Binds 127.0.0.1 unless ``--host`` says otherwise (a warning when a non-loopback address has no
token). With ``--token-file`` every path needs ``Authorization: Bearer <token>`` (constant-time compare).
``Content-Length`` is checked before the body is read, every socket read has ``--socket-timeout`` and a
body must arrive within it, so a slow or hostile client cannot hold a thread for ever.

**Shutdown.** SIGTERM or SIGINT stops accepting connections, lets every accepted request finish (the
worker drains its queue), then exits 0. A second signal exits at once.

Only the ready line goes to stdout (``serving reward model DIR on http://HOST:PORT (batch ≤ N, wait ≤ M
ms)``, flushed: scripts wait for it; ``--port 0`` picks a free port and the line shows it); logs go to
stderr (``--verbose``: one line per batch and per request).
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import ipaddress
import json
import logging
import os
import queue
import re
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger("llm.serve")

Scorer = Callable[[list[str]], list[float]]

# Padded tokens per forward (--max-batch-tokens). On CPU a forward of a few hundred tokens is already
# efficient and padding plus quadratic attention make big batches slower (bench/reward_server.py); a GPU
# needs large forwards to be busy.
DEFAULT_BATCH_TOKENS_CPU = 1024
DEFAULT_BATCH_TOKENS_GPU = 65536

# Past this, an over-limit body is not read at all (the client may see a reset instead of the 413).
DRAIN_LIMIT = 16 << 20


# --------------------------------------------------------------------------------------------- batching


@dataclass
class Job:
    """One request's texts, and where the worker leaves its rewards (or why it has none)."""

    texts: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    rewards: list[float] | None = None
    error: str | None = None

    def finish(self, rewards: list[float] | None = None, error: str | None = None) -> None:
        self.rewards, self.error = rewards, error
        self.done.set()


class WorkerClosed(RuntimeError):
    """The worker takes no more jobs: the server is shutting down."""


class BatchWorker:
    """The one thread that scores: collects queued jobs into batches of ≤ ``max_batch`` texts.

    A batch starts with the oldest job and takes the jobs queued after it until it holds ``max_batch``
    texts or ``max_wait_s`` has passed since it started; jobs already queued are taken without waiting,
    and the worker waits only while ``more_coming()`` says a request is on its way (the server counts
    requests being received): a lone client pays no wait.
    A job that would overflow the batch is held over to start the next one (arrival order is kept); a job
    larger than ``max_batch`` is scored alone (the scorer splits a batch into forwards as it sees fit).

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
    ):
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError(f"max_batch {max_batch} must be ≥ 1 and max_wait_s {max_wait_s} ≥ 0")
        self._scorer = scorer
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._more_coming = more_coming
        self._queue: queue.Queue[Job | None] = queue.Queue()  # None: stop, after every job before it
        self._held: Job | None = None
        self._stopping = False
        self._closed = False
        self._lock = threading.Lock()
        self._stats = {
            "requests": 0,
            "texts": 0,
            "batches": 0,
            "max_requests_per_batch": 0,
            "failed_batches": 0,
        }
        self._thread = threading.Thread(target=self._run, name="reward-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, texts: Sequence[str]) -> Job:
        job = Job(list(texts))
        with self._lock:  # with stop()'s lock: no job can land behind the stop marker and wait for ever
            if self._closed:
                raise WorkerClosed("the server is shutting down")
            self._queue.put(job)
        return job

    def stop(self, timeout: float | None = None) -> None:
        """Take no more jobs, score every job already queued, then end the thread."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def queued(self) -> int:
        """Jobs waiting for a batch (not counting the one being scored)."""
        marker = self._closed and not self._stopping  # the stop marker is queued but is no job
        return max(0, self._queue.qsize() - marker) + (self._held is not None)

    def stats(self) -> dict[str, int]:
        with self._lock:
            stats = dict(self._stats)
        if hasattr(self._scorer, "forwards"):
            stats["forwards"] = self._scorer.forwards
        return stats

    def _run(self) -> None:
        while (first := self._next_job()) is not None:
            self._score(self._collect(first))

    def _next_job(self) -> Job | None:
        """The held-over job, else the next queued one (blocking); None once stopped and drained."""
        if self._held is not None:
            job, self._held = self._held, None
            return job
        if self._stopping:
            return None
        job = self._queue.get()
        if job is None:
            self._stopping = True
        return job

    def _collect(self, first: Job) -> list[Job]:
        batch, size = [first], len(first.texts)
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_batch and not self._stopping:
            remaining = deadline - time.monotonic()
            wait = remaining > 0 and self._more_coming()
            try:
                job = self._queue.get(timeout=remaining) if wait else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._stopping = True
                break
            if size + len(job.texts) > self.max_batch:
                self._held = job
                break
            batch.append(job)
            size += len(job.texts)
        return batch

    def _score(self, batch: list[Job]) -> None:
        texts = [text for job in batch for text in job.texts]
        started = time.perf_counter()
        try:
            rewards = self._run_scorer(texts)
        except Exception:  # a bad batch (OOM, a text the model chokes on …) must not stop the server
            log.exception("scoring a batch of %d requests (%d texts) failed", len(batch), len(texts))
            with self._lock:
                self._stats["failed_batches"] += 1
            # Each request on its own: one bad request then fails alone, not its batch-mates.
            if len(batch) == 1:
                batch[0].finish(error=_describe_failure())
            else:
                for job in batch:
                    self._score_alone(job)
            return
        start = 0
        for job in batch:
            job.finish(rewards=rewards[start : start + len(job.texts)])
            start += len(job.texts)
        with self._lock:
            s = self._stats
            s["batches"] += 1
            s["requests"] += len(batch)
            s["texts"] += len(texts)
            s["max_requests_per_batch"] = max(s["max_requests_per_batch"], len(batch))
        log.debug(
            "batch: %d requests, %d texts, %.1f ms",
            len(batch),
            len(texts),
            1e3 * (time.perf_counter() - started),
        )

    def _score_alone(self, job: Job) -> None:
        try:
            job.finish(rewards=self._run_scorer(job.texts))
        except Exception:
            job.finish(error=_describe_failure())

    def _run_scorer(self, texts: list[str]) -> list[float]:
        rewards = [float(r) for r in self._scorer(texts)]
        if len(rewards) != len(texts):
            raise RuntimeError(f"the scorer returned {len(rewards)} rewards for {len(texts)} texts")
        return rewards


def _describe_failure() -> str:
    error = sys.exc_info()[1]
    return f"scoring failed: {type(error).__name__}: {error}"


# --------------------------------------------------------------------------------------------- requests


class RequestError(Exception):
    """A request the server refuses: HTTP ``status`` and a reason for the client."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def parse_query(body: bytes, max_text_chars: int) -> list[str]:
    """The texts of a ``/get_reward`` body, or :class:`RequestError` saying what is wrong with it.

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
    for i, text in enumerate(query):
        if not isinstance(text, str):
            raise RequestError(400, f'"query"[{i}] must be a string, not {type(text).__name__}')
        if not text:
            raise RequestError(400, f'"query"[{i}] is empty: there is no last token to read a reward at')
        if len(text) > max_text_chars:
            raise RequestError(
                413, f'"query"[{i}] has {len(text)} characters, over the limit of {max_text_chars}'
            )
    return query


class Gauge:
    """How many requests are in some stage now (thread-safe)."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            self.value += 1
        try:
            yield
        finally:
            with self._lock:
                self.value -= 1


@dataclass(frozen=True)
class ServeConfig:
    model_name: str
    token: str | None = None
    max_body_bytes: int = 4 << 20
    max_text_chars: int = 100_000
    socket_timeout: float = 30.0
    request_timeout: float = 600.0


class RewardHTTPServer(ThreadingHTTPServer):
    """A thread per connection; ``server_close()`` joins them, so accepted requests finish at shutdown."""

    daemon_threads = False
    block_on_close = True
    request_queue_size = 1024  # a burst of clients waits in the backlog instead of retrying dropped SYNs

    def __init__(self, address: tuple[str, int], config: ServeConfig):
        self.address_family = _address_family(address[0])
        self.config = config
        self.worker: BatchWorker | None = None  # set once the model is loaded; serving starts after
        self.in_flight = Gauge()  # /get_reward requests not yet answered
        self.arriving = Gauge()  # ... of which not yet queued for scoring (being received or parsed)
        super().__init__(address, RewardHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS round trip that can stall start-up.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def requests_arriving(self) -> bool:
        return self.arriving.value > 0

    def health(self) -> dict[str, Any]:
        assert self.worker is not None
        return {
            "status": "ok",
            "model": self.config.model_name,
            "queue": self.worker.queued(),
            "in_flight": self.in_flight.value,
            "max_batch": self.worker.max_batch,
            "max_wait_ms": 1e3 * self.worker.max_wait_s,
            **self.worker.stats(),
        }

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A bug in one request is logged, never printed bare to stderr by socketserver; the server goes on.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            log.debug("connection from %s lost", client_address)
        else:
            log.exception("unexpected error handling a request from %s", client_address)


class RewardHandler(BaseHTTPRequestHandler):
    server: RewardHTTPServer
    server_version = "llm-reward"
    sys_version = ""
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive thread delays shutdown
    _unread = 0  # body bytes the client sent that nobody read: drained before closing (see _drain)

    def setup(self) -> None:
        self.timeout = self.server.config.socket_timeout  # StreamRequestHandler puts it on the socket
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        if not self._authorized():
            return
        if self._route() == "/health":
            self._send_json(200, self.server.health())
        else:
            self._send_error(404, f"no such path: GET {self._route()} (try POST /get_reward or GET /health)")

    def do_POST(self) -> None:
        try:
            if not self._authorized():
                return
            if self._route() != "/get_reward":
                self._unread = self._declared_length()
                self._send_error(404, f"no such path: POST {self._route()} (try POST /get_reward)")
                return
            with self.server.in_flight.held():
                self._get_reward()
        finally:
            self._drain()

    def _get_reward(self) -> None:
        try:
            with self.server.arriving.held():
                texts = parse_query(self._read_body(), self.server.config.max_text_chars)
                job = self._submit(texts) if texts else None
            rewards = self._wait(job) if job else []
        except RequestError as e:
            self._send_error(e.status, e.reason)
            return
        except (TimeoutError, ConnectionError) as e:
            log.debug("%s: body not received: %s", self.address_string(), e)
            self.close_connection = True
            return
        self._send_json(200, {"rewards": rewards})

    def _submit(self, texts: list[str]) -> Job:
        assert self.server.worker is not None
        try:
            return self.server.worker.submit(texts)
        except WorkerClosed as e:
            raise RequestError(503, str(e)) from None

    def _wait(self, job: Job) -> list[float]:
        if not job.done.wait(self.server.config.request_timeout):
            raise RequestError(504, f"scoring did not finish within {self.server.config.request_timeout:g} s")
        if job.error is not None:
            raise RequestError(500, job.error)
        assert job.rewards is not None
        return job.rewards

    def _route(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def _authorized(self) -> bool:
        token = self.server.config.token
        if token is None:
            return True
        scheme, _, given = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
        self._unread = self._declared_length()
        self._send_error(401, "missing or wrong bearer token", {"WWW-Authenticate": 'Bearer realm="reward"'})
        return False

    def _declared_length(self) -> int:
        try:
            return max(0, int(self.headers.get("Content-Length", 0)))
        except ValueError:
            return 0

    def _read_body(self) -> bytes:
        """The body, once its declared length is known to be within the limit; all of it within the socket
        timeout (a per-read timeout alone lets a client trickle a byte at a time for ever)."""
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(411, "chunked bodies are not supported: send Content-Length")
        declared = self.headers.get("Content-Length")
        if declared is None:
            raise RequestError(411, "Content-Length required")
        if not re.fullmatch(r"\s*\d+\s*", declared):
            raise RequestError(400, f"bad Content-Length: {declared!r}")
        length = int(declared)
        self._unread = length
        limit = self.server.config.max_body_bytes
        if length > limit:
            raise RequestError(413, f"body of {length} bytes is over the limit of {limit} bytes")
        deadline = time.monotonic() + self.server.config.socket_timeout
        chunks = []
        while self._unread:
            if time.monotonic() > deadline:
                raise TimeoutError(f"body not received within {self.server.config.socket_timeout:g} s")
            chunk = self.rfile.read1(min(self._unread, 1 << 16))
            if not chunk:
                raise ConnectionError("the client closed the connection mid-body")
            chunks.append(chunk)
            self._unread -= len(chunk)
        return b"".join(chunks)

    def _drain(self) -> None:
        """Read and drop an unread body after an early answer: closing a socket with unread data sends a
        reset, and the client would lose the answer (a 401, 404 or 413) already on its way."""
        left = self._unread if self._unread <= DRAIN_LIMIT else 0
        deadline = time.monotonic() + self.server.config.socket_timeout
        with contextlib.suppress(OSError):
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        self._unread = 0

    def _send_error(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        log.debug("%s: %d %s", self.address_string(), status, reason)
        self._send_json(status, {"error": reason}, headers)

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (ConnectionError, TimeoutError) as e:  # the client left: nothing to answer
            log.debug("%s: answer not delivered: %s", self.address_string(), e)
            self.close_connection = True


def _address_family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


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


# --------------------------------------------------------------------------------------------- start-up


def parse_size(text: str) -> int:
    """Bytes from ``4194304``, ``4MiB``, ``512KiB``, ``4MB``, ``1G`` (K/M/G alone are binary).

    >>> [parse_size(s) for s in ("100", "4MiB", "512 KiB", "2KB", "1G")]
    [100, 4194304, 524288, 2000, 1073741824]
    """
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(i?B?)\s*", text, flags=re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4MiB, 65536)")
    number, prefix, suffix = match.groups()
    power = "KMG".find(prefix.upper()) + 1 if prefix else 0
    base = 1000 if suffix.upper() == "B" else 1024
    return int(number) * base**power


def read_token(path: str) -> str:
    """The bearer token in ``path``, stripped; an error if the file is missing or holds no token."""
    file = Path(path).expanduser()
    token = file.read_text(encoding="utf-8").strip()  # OSError when missing: reported by main
    if not token:
        raise ValueError(f"--token-file {path}: empty")
    if not token.isascii() or any(c.isspace() for c in token):
        raise ValueError(f"--token-file {path}: the token must be one word of ASCII characters")
    if file.stat().st_mode & 0o004:
        log.warning("--token-file %s is readable by every user: chmod 600 it", path)
    return token


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
    :func:`plan_forwards`. Only the worker thread calls it: it owns the model and the tokenizer."""

    def __init__(self, model: Any, tokenizer: Any, max_texts: int, max_tokens: int, max_length: int | None):
        self.model, self.tokenizer = model, tokenizer
        self.max_texts, self.max_tokens, self.max_length = max_texts, max_tokens, max_length
        self.forwards = 0

    def __call__(self, texts: list[str]) -> list[float]:
        from llm.models.reward import score

        # Tokenized twice (here for lengths, in score() for ids): tokenizing is cheap next to a forward.
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        if 0 in lengths:
            raise ValueError(
                f"text {lengths.index(0)} has no tokens: there is no last token to read a reward at"
            )
        if self.max_length:
            lengths = [min(n, self.max_length) for n in lengths]
        rewards = [0.0] * len(texts)
        for forward in plan_forwards(lengths, self.max_texts, self.max_tokens):
            scored = score(
                self.model, self.tokenizer, [texts[i] for i in forward], len(forward), self.max_length
            )
            for i, reward in zip(forward, scored):
                rewards[i] = reward
            self.forwards += 1
        return rewards


def load_scorer(args: argparse.Namespace) -> ModelScorer:
    import torch

    from llm.models.reward import load_reward_model

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, tokenizer = load_reward_model(args.model, device=device, dtype=getattr(torch, args.dtype))
    max_tokens = args.max_batch_tokens or (
        DEFAULT_BATCH_TOKENS_GPU if device != "cpu" else DEFAULT_BATCH_TOKENS_CPU
    )
    return ModelScorer(model, tokenizer, args.max_batch, max_tokens, args.max_length)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llm-train serve-reward",
        description="Serve a reward model over HTTP (POST /get_reward, GET /health), batching concurrent requests.",
    )
    p.add_argument(
        "--model",
        required=True,
        metavar="DIR",
        help="reward model checkpoint directory (llm-train rm output)",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int, default=8000, help="port (0: a free one, shown in the ready line)")
    p.add_argument(
        "--token-file", metavar="FILE", help="file holding a bearer token every request must carry"
    )
    p.add_argument(
        "--max-batch",
        type=int,
        default=32,
        metavar="N",
        help="texts per batch, and per forward at most (default 32)",
    )
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=10.0,
        metavar="MS",
        help="wait this long for a batch to fill (default 10)",
    )
    p.add_argument(
        "--max-batch-tokens",
        type=int,
        metavar="TOKENS",
        help=f"padded tokens per forward (default {DEFAULT_BATCH_TOKENS_CPU} on CPU, {DEFAULT_BATCH_TOKENS_GPU} on GPU)",
    )
    p.add_argument("--device", help="cuda, cuda:7, cpu … (default: cuda if available)")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    p.add_argument(
        "--max-body-bytes",
        type=parse_size,
        default="4MiB",
        metavar="SIZE",
        help="request body limit (default 4MiB)",
    )
    p.add_argument(
        "--max-text-chars", type=int, default=100_000, help="limit on each text's length (default 100000)"
    )
    p.add_argument(
        "--max-length", type=int, metavar="TOKENS", help="keep each text's last TOKENS tokens (default: all)"
    )
    p.add_argument(
        "--socket-timeout", type=float, default=30.0, help="seconds a client may take to send (default 30)"
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        default=600.0,
        help="seconds a request may wait for scoring (default 600)",
    )
    p.add_argument("--verbose", action="store_true", help="log every batch and request (to stderr)")
    return p


def check_args(args: argparse.Namespace) -> None:
    if not Path(args.model).is_dir():
        raise FileNotFoundError(f"--model {args.model}: no such directory")
    for name in ("max_batch", "max_batch_tokens", "max_text_chars", "max_length", "max_body_bytes"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} {value}: must be 1 or more")
    if args.max_wait_ms < 0 or args.socket_timeout <= 0 or args.request_timeout <= 0:
        raise ValueError("--max-wait-ms must be ≥ 0, --socket-timeout and --request-timeout > 0")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port}: not a port")


def serve(server: RewardHTTPServer, worker: BatchWorker) -> None:
    """Serve until SIGTERM/SIGINT, then finish what was accepted: listener closed, request threads joined
    (their jobs still get scored), worker drained."""
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stopping.is_set():
            log.warning("second signal: exiting now")
            os._exit(1)
        stopping.set()
        log.info("%s: finishing in-flight requests", signal.Signals(signum).name)
        # shutdown() waits for serve_forever, which runs in this very thread: call it from another one.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        print(ready_line(server, worker), flush=True)
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        worker.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    log.info("stopped: %s", worker.stats())


def ready_line(server: RewardHTTPServer, worker: BatchWorker) -> str:
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    return (
        f"serving reward model {server.config.model_name} on http://{shown}:{port} "
        f"(batch ≤ {worker.max_batch}, wait ≤ {1e3 * worker.max_wait_s:g} ms)"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        check_args(args)
        token = read_token(args.token_file) if args.token_file else None
        config = ServeConfig(
            model_name=args.model,
            token=token,
            max_body_bytes=args.max_body_bytes,
            max_text_chars=args.max_text_chars,
            socket_timeout=args.socket_timeout,
            request_timeout=args.request_timeout,
        )
        # Bind before loading: a taken port fails in a second, not after minutes of loading weights.
        server = RewardHTTPServer((args.host, args.port), config)
    except (ValueError, OSError) as e:
        print(f"llm-train serve-reward: error: {e}", file=sys.stderr)
        return 2
    if token is None and not is_loopback(args.host):
        log.warning(
            "serving on %s without --token-file: anyone who can reach this address can use the model",
            args.host,
        )
    try:
        # Libraries print banners on import (DeepSpeed's accelerator line): stdout holds the ready line only.
        with contextlib.redirect_stdout(sys.stderr):
            scorer = load_scorer(args)
    except Exception as e:
        server.server_close()
        print(f"llm-train serve-reward: error: cannot load {args.model}: {e}", file=sys.stderr)
        return 2
    worker = BatchWorker(scorer, args.max_batch, args.max_wait_ms / 1e3, server.requests_arriving)
    server.worker = worker
    worker.start()
    serve(server, worker)
    return 0


if __name__ == "__main__":
    sys.exit(main())
