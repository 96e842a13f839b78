"""``llm-train serve-reward``: a trained reward model behind HTTP (:mod:`llm.serve.server`).

    llm-train serve-reward --model runs/rm                                 # http://127.0.0.1:8000, no token
    llm-train serve-reward --model runs/rm --port 0 --device cuda:7 --max_batch 64 --max_length 2048
    llm-train serve-reward --model runs/rm --host 0.0.0.0 --token_file ~/.config/rm.token
    llm-train serve-reward rm.yaml --port 8001                             # a YAML file of these flags

The protocol and limits are described in :mod:`llm.serve.app`, batching in :mod:`llm.serve.batching`,
start-up and shutdown in :mod:`llm.serve.server`. Only the ready line goes to stdout; bad flags (a missing
model directory, an empty token file, a size that is not one …) end with ``llm-train serve-reward: error:
<message>`` and exit status 2, before the model is loaded.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.models.checkpoint import require_kind
from llm.models.resolve import resolve_model
from llm.serve.config import ServerConfig, parse_size, read_token
from llm.serve.server import DEFAULT_BATCH_TOKENS_CPU, DEFAULT_BATCH_TOKENS_GPU, serve

PROG = "llm-train serve-reward"
DEFAULTS = ServerConfig  # one place for the defaults: the server's own (its class attributes)


@dataclass
class ServeRewardArguments:
    """The options of ``llm-train serve-reward`` (``HfArgumentParser``; a YAML file works too)."""

    model: str = field(metadata={"help": "reward model checkpoint directory (llm-train rm output)"})
    host: str = field(
        default=DEFAULTS.host, metadata={"help": "address to bind (127.0.0.1: this machine only)"}
    )
    port: int = field(
        default=DEFAULTS.port, metadata={"help": "port (0: a free one, shown in the ready line)"}
    )
    token_file: str | None = field(
        default=None, metadata={"help": "file holding a bearer token every request must carry"}
    )
    max_batch: int = field(
        default=DEFAULTS.max_batch, metadata={"help": "texts per batch, and per forward at most"}
    )
    max_wait_ms: float = field(
        default=DEFAULTS.max_wait_ms, metadata={"help": "wait this long for a batch to fill"}
    )
    max_starve_ms: float = field(
        default=DEFAULTS.max_starve_ms,
        metadata={"help": "a request with no step scored for this long goes first (none starves)"},
    )
    max_batch_tokens: int | None = field(
        default=None,
        metadata={
            "help": f"padded tokens per forward (default {DEFAULT_BATCH_TOKENS_CPU} on CPU, "
            f"{DEFAULT_BATCH_TOKENS_GPU} on GPU)"
        },
    )
    device: str | None = field(
        default=None, metadata={"help": "cuda, cuda:7, cpu … (default: cuda if available)"}
    )
    dtype: str = field(
        default=DEFAULTS.dtype,
        metadata={"help": "weights' dtype", "choices": ["float32", "bfloat16", "float16"]},
    )
    max_body_bytes: str = field(
        default="4MiB", metadata={"help": "request body limit: 4MiB, 512KiB, 65536 …"}
    )
    max_text_chars: int = field(
        default=DEFAULTS.max_text_chars, metadata={"help": "limit on each text's length, in characters"}
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "keep each text's last TOKENS tokens (default: the length the reward model was trained "
            "with, from its llm_train.json, else the model's positions)"
        },
    )
    max_texts: int = field(
        default=DEFAULTS.max_texts, metadata={"help": "texts per request at most (413 beyond)"}
    )
    max_request_tokens: int = field(
        default=DEFAULTS.max_request_tokens,
        metadata={"help": "tokens per request at most, after --max_length (413 beyond)"},
    )
    socket_timeout: float = field(
        default=DEFAULTS.socket_timeout, metadata={"help": "seconds a client may take to send a request"}
    )
    request_timeout: float = field(
        default=DEFAULTS.request_timeout, metadata={"help": "seconds a request may wait for scoring"}
    )
    shutdown_timeout: float = field(
        default=DEFAULTS.shutdown_timeout,
        metadata={"help": "after SIGTERM, seconds to finish the requests received (the rest get 503)"},
    )
    verbose: bool = field(default=False, metadata={"help": "log every batch and request (to stderr)"})

    def server_config(self) -> ServerConfig:
        """The parsed settings (token read, size in bytes); :class:`~llm.errors.UserError` or OSError
        if a flag is wrong."""
        self.model = resolve_model(self.model, "--model")
        if not Path(self.model).is_dir():
            raise FileNotFoundError(f"--model {self.model}: no such directory")
        require_kind(self.model, "reward_model", "--model", "serve-reward")
        try:
            body_bytes = parse_size(self.max_body_bytes)
        except ValueError as e:
            raise type(e)(f"--max_body_bytes: {e}") from None
        return ServerConfig(
            model=self.model,
            host=self.host,
            port=self.port,
            token=read_token(self.token_file) if self.token_file else None,
            max_batch=self.max_batch,
            max_wait_ms=self.max_wait_ms,
            max_starve_ms=self.max_starve_ms,
            max_batch_tokens=self.max_batch_tokens,
            device=self.device,
            dtype=self.dtype,
            max_body_bytes=body_bytes,
            max_text_chars=self.max_text_chars,
            max_length=self.max_length,
            max_texts=self.max_texts,
            max_request_tokens=self.max_request_tokens,
            socket_timeout=self.socket_timeout,
            request_timeout=self.request_timeout,
            shutdown_timeout=self.shutdown_timeout,
        )


def setup_logging(verbose: bool) -> None:
    """Logs to stderr (stdout holds the ready line only); ``--verbose``: a line per batch and request."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("llm.serve").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("uvicorn").setLevel(logging.INFO if verbose else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        (args,) = parse((ServeRewardArguments,), argv_or_sys(argv), PROG)
        setup_logging(args.verbose)
        serve(args.server_config())
        return 0

    return run_command(PROG, body)
