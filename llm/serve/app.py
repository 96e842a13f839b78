"""The reward server's HTTP layer: the FastAPI app (:func:`build_app`) and what its routes do
(:class:`RewardService`), with the protections that keep a hostile or broken client from holding it.

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

Request handlers are coroutines on uvicorn's event loop: they read the body, have it parsed and measured in
tokens on a small thread pool (off the loop), then submit their texts to the batching worker
(:class:`llm.serve.batching.BatchWorker`). The worker wakes each handler through an asyncio future that it
resolves with ``loop.call_soon_threadsafe``: a waiting request holds no thread and never blocks the loop.

**What one request may cost.** Each text is cut to its last ``--max_length`` tokens. A request holds at most
``--max_texts`` texts (256) and ``--max_request_tokens`` tokens after the cut (262,144), besides
``--max_body_bytes`` and ``--max_text_chars``: beyond, 413 naming the limit, before anything is queued.

**Hostile clients**, each stopped where the framework offers a hook, else in the smallest piece of our own:

- the token: with ``--token_file`` every path, ``/health`` included, needs ``Authorization: Bearer <token>``
  (constant-time compare; a 401 carries ``WWW-Authenticate``) — :class:`Guard`, a Starlette middleware;
- slow bodies: ``Content-Length`` is checked before the body is read, and the body must arrive within
  ``--socket_timeout`` seconds (408) — :class:`Exchange`, the middleware's wrapper of ``receive``;
- an answer given before the body was read (401, 404, 413 …) first reads and drops a body of up to 16 MiB,
  unless the client asked ``Expect: 100-continue``: closing a socket with unread data sends a reset, and the
  client would lose the answer — :class:`Exchange`, wrapping ``send``;
- silent connections and malformed HTTP: the first request line and headers must arrive within
  ``--socket_timeout`` seconds, and malformed HTTP gets a JSON 400 — :class:`GuardedH11Protocol`, given to
  uvicorn through its ``http=`` setting, because uvicorn has no hook for either (its keep-alive timeout
  starts only after a first response; its 400 is plain text). Header floods are h11's
  ``max_incomplete_event_size`` (16 KiB; a 400 through the same protocol).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from llm.serve.batching import BatchWorker, Job, Scorer, WorkerClosed
from llm.serve.config import ServerConfig

try:
    import h11
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

log = logging.getLogger(__name__)

# Past this, the body of a refused request is not read at all (the client may see a reset, not the answer).
DRAIN_LIMIT = 16 << 20
PREPARE_THREADS = 4
ROUTES = "try POST /get_reward or GET /health"
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # a valid pair decodes to one character: any left is alone


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
    llm.serve.app.RequestError: "query" must be a list of strings, not str
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
    """The ASGI middleware around the routes (Starlette's ``add_middleware``), for every path: 503 once
    shutting down, 401 without the token, the body deadline and drain (:class:`Exchange`), a JSON 500 for a
    bug, and the ``--verbose`` line. A pure ASGI middleware, not ``BaseHTTPMiddleware``: it must wrap
    ``receive`` and ``send`` themselves."""

    def __init__(self, app: Callable, service: RewardService):
        self.app = app
        self.service = service

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        exchange = Exchange(scope, receive, send, self.service.config.socket_timeout)
        try:
            if self.service.stopping:
                refusal = error_response(503, "the server is shutting down", {"Connection": "close"})
                await refusal(scope, exchange.receive, exchange.send)
            elif not self.service.authorized(exchange.headers.get("authorization", "")):
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


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with a JSON answer to malformed HTTP (a bad request line, header or
    ``Content-Length``) and a deadline for a connection's first request line and headers.

    The one subclass of uvicorn's internals left, handed to uvicorn through its ``http=`` setting (the hook
    for a protocol class): uvicorn has no setting for either behaviour. Its ``timeout_keep_alive`` starts
    only once a first response is sent, so a client that connects and never finishes its headers (slowloris)
    would hold a connection for ever; and its 400 for malformed HTTP is plain text, written before any ASGI
    middleware runs. Make one with :func:`protocol_class`.
    """

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


def protocol_class(header_timeout: float) -> type[GuardedH11Protocol]:
    """:class:`GuardedH11Protocol` with its deadline for a first request's headers (``--socket_timeout``):
    uvicorn makes one protocol object per connection from the class it is given."""
    return type("Protocol", (GuardedH11Protocol,), {"header_timeout": header_timeout})


class RewardService:
    """What the routes do, and the state they share: the settings, the batching worker (made by
    :meth:`attach`, which gives it its scorer), the requests in flight and the shutdown flag. The start-up
    (:class:`llm.serve.server.RewardServer`) runs it under uvicorn; :func:`build_app` routes to it.

    ``in_flight`` and ``arriving`` change on the event loop only; ``arriving`` (requests being received or
    parsed) tells the worker whether waiting ``--max_wait_ms`` for more is worth it.
    """

    def __init__(self, config: ServerConfig):
        self.config = config
        self.worker: BatchWorker | None = None
        self.scorer: Scorer | None = None
        # Parsing and measuring requests (JSON, tokenizing) off the event loop; several at once, so a small
        # request is not queued behind the tokenizing of a big one.
        self._prepare_pool = ThreadPoolExecutor(PREPARE_THREADS, "reward-prepare")
        self.stopping = False
        self.in_flight = 0  # /get_reward requests not yet answered
        self.arriving = 0  # ... of which not yet queued for scoring (being received or parsed)

    def attach(self, scorer: Scorer) -> BatchWorker:
        """Score with ``scorer``: the worker that batches for it (not started)."""
        self.scorer = scorer
        self.worker = BatchWorker(
            scorer,
            self.config.max_batch,
            self.config.max_wait_ms / 1e3,
            lambda: self.arriving > 0,
            getattr(scorer, "max_tokens", None),
            self.config.max_starve_ms / 1e3,
        )
        return self.worker

    def close(self) -> None:
        """Drop the parsing threads' queued work (safe to call twice)."""
        self._prepare_pool.shutdown(wait=False, cancel_futures=True)

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
            "max_starve_ms": self.config.max_starve_ms,
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


def build_app(service: RewardService, lifespan: Callable | None = None) -> FastAPI:
    """The routes of ``service``, its :class:`Guard`, and handlers that turn every error into
    ``{"error": reason}``; ``lifespan`` is FastAPI's start-up and shutdown hook (the server's ready line)."""
    app = FastAPI(
        title="llm-train reward server",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
    )
    app.add_middleware(Guard, service=service)

    async def get_reward(request: Request) -> JSONResponse:
        return JSONResponse({"rewards": await service.get_reward(request)})

    async def health() -> JSONResponse:
        return JSONResponse(service.health())

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
