"""``llm-train serve-reward``: a trained reward model behind HTTP (FastAPI on uvicorn), with dynamic batching —
the start-up: bind, load the model, serve, shut down.

    llm-train serve-reward --model runs/rm                                 # http://127.0.0.1:8000, no token
    llm-train serve-reward --model runs/rm --port 0 --device cuda:7 --max_batch 64 --max_length 2048
    llm-train serve-reward --model runs/rm --host 0.0.0.0 --token_file ~/.config/rm.token
    llm-train serve-reward rm.yaml --port 8001                             # flags from a YAML file

The flags are :class:`llm.commands.serve_reward.ServeRewardArguments`, parsed into a
:class:`llm.serve.config.ServerConfig`; this module runs the server (:func:`serve`, or :class:`RewardServer`
to run one in a thread). The server is three modules, each its own job:

- :mod:`llm.serve.batching`: the worker thread that owns the model and batches the requests' texts;
- :mod:`llm.serve.app`: the HTTP layer — the protocol (OpenRLHF's ``POST /get_reward``, ``GET /health``),
  its errors and limits, and the protections against hostile clients;
- this module: the socket, the model, uvicorn, the ready line and the shutdown.

**What one request may cost.** Each text is cut to its last ``--max_length`` tokens — by default the length
the reward model was trained with (``llm_train.json``, as its Trainer saw the texts), else the model's
positions; never more than its positions (:func:`context_length`).

**Safety.** Binds 127.0.0.1 unless ``--host`` says otherwise; a server bound beyond loopback refuses to
start without ``--token_file`` (:class:`~llm.serve.config.ServerConfig`). The HTTP layer checks the token,
the body's size and deadline, and the first request's headers' deadline (:mod:`llm.serve.app`).

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

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from llm.errors import UserError
from llm.models.checkpoint import INFO_FILE, read_info
from llm.models.reward import load_reward_model
from llm.serve.app import RewardService, build_app, protocol_class
from llm.serve.batching import BatchWorker, ModelScorer, Scorer
from llm.serve.config import ServerConfig

try:
    import uvicorn
except ImportError as e:  # pragma: no cover
    raise ImportError(f"the reward server needs uvicorn: pip install 'llm-train[serve]' ({e})") from e

log = logging.getLogger(__name__)

# Padded tokens per forward (--max_batch_tokens). On CPU a forward of a few hundred tokens is already
# efficient and padding plus quadratic attention make big batches slower (bench/reward_server.py); a GPU
# needs large forwards to be busy.
DEFAULT_BATCH_TOKENS_CPU = 1024
DEFAULT_BATCH_TOKENS_GPU = 65536
# Tokens per chunk of a long text (scored with a KV cache, a short request may run between two chunks). On
# CPU a chunk of 256 costs about what an ordinary request's forward does; a GPU runs whole texts.
DEFAULT_CHUNK_TOKENS_CPU = 256

BACKLOG = 1024  # a burst of clients waits in the backlog instead of retrying dropped SYNs


# --------------------------------------------------------------------------------------------- the model


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


# --------------------------------------------------------------------------------------------- server


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


class _Uvicorn(uvicorn.Server):
    """uvicorn's server without its signal handlers: signals are :func:`serve`'s (:func:`stop_on_signals`).

    The one override of uvicorn's server left, because uvicorn has no setting to leave signals alone: its
    handlers would set only ``should_exit`` (our shutdown must also start the worker's ``--shutdown_timeout``
    at the signal, so that the requests left get their 503 before uvicorn's backstop cancels them), and
    after the shutdown it re-raises the signal it caught, so the process would die of SIGTERM instead of
    exiting 0. (In a thread other than the main one uvicorn installs none anyway.)
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # the same, for uvicorn < 0.29
        pass


class RewardServer:
    """A listening socket, the HTTP service (:class:`llm.serve.app.RewardService`: the app's routes, with
    the batching worker) and uvicorn; :meth:`run` serves until :meth:`stop`.

    The socket is bound when the server is made, before the model loads (a taken port fails at once);
    :meth:`load` gives it its scorer. ``run`` may run in any thread (signals are :func:`serve`'s business).
    The ready line is given from FastAPI's lifespan start-up, the framework's hook for "the app is about to
    serve": the socket is already listening then (bound and listening since ``__init__``), so a client that
    connects on reading it waits in the backlog at most until uvicorn accepts.
    """

    def __init__(self, config: ServerConfig):
        self.config = config
        self.socket = bind(config.host, config.port)
        self.service = RewardService(config)
        self.app = build_app(self.service, lifespan=self._lifespan)
        self._uvicorn = _Uvicorn(
            uvicorn.Config(
                self.app,
                http=protocol_class(header_timeout=config.socket_timeout),
                loop="asyncio",
                ws="none",
                lifespan="on",
                interface="asgi3",
                log_config=None,
                access_log=False,
                server_header=False,
                headers=[("server", "llm-reward")],
                backlog=BACKLOG,
                # A backstop only: the worker fails what is left at --shutdown_timeout (503), so the
                # requests are answered before uvicorn would cancel them.
                timeout_graceful_shutdown=config.shutdown_timeout + 2,
            )
        )
        self._on_ready: Callable[[str], None] = lambda line: None

    @property
    def worker(self) -> BatchWorker | None:
        return self.service.worker

    @property
    def scorer(self) -> Scorer | None:
        return self.service.scorer

    @property
    def stopping(self) -> bool:
        """Shutting down: requests that arrive now are answered 503."""
        return self.service.stopping

    @stopping.setter
    def stopping(self, value: bool) -> None:
        self.service.stopping = value

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
        self.service.attach(scorer)

    def ready_line(self) -> str:
        assert self.worker is not None
        return (
            f"serving reward model {self.config.model} on {self.url} "
            f"(batch ≤ {self.worker.max_batch}, wait ≤ {1e3 * self.worker.max_wait_s:g} ms)"
        )

    def run(self, on_ready: Callable[[str], None] = lambda line: None) -> None:
        """Serve until :meth:`stop`; then every request received is answered and the worker drained.
        ``on_ready`` gets the ready line once the socket is served."""
        worker = self.worker
        if worker is None:
            raise RuntimeError("load() the scorer first")
        self._on_ready = on_ready
        worker.start()
        try:
            self._uvicorn.run(sockets=[self.socket])
        finally:
            self.stopping = True
            # uvicorn has answered every request (or given up on it): nobody waits for what is left.
            worker.drain_by(time.monotonic())
            worker.stop(self.config.shutdown_timeout)
            self.service.close()
        log.info("stopped: %s", worker.stats())

    def stop(self) -> None:
        """Stop accepting connections and finish the requests received within ``--shutdown_timeout`` (the
        rest answer 503); safe from a signal handler or another thread."""
        self.stopping = True
        if self.worker is not None:
            self.worker.drain_by(time.monotonic() + self.config.shutdown_timeout)
        self._uvicorn.should_exit = True

    def close(self) -> None:
        self.socket.close()
        self.service.close()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        """FastAPI's start-up hook: the ready line (the socket listens already, see the class docstring)."""
        self._on_ready(self.ready_line())
        yield


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
