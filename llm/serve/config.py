"""The reward server's settings, parsed: :class:`ServerConfig` (the flags of ``llm-train serve-reward``),
checked once when made, and the parsers of the flags that need one (sizes, the token file).

>>> ServerConfig(model="runs/rm").max_texts, parse_size("4MiB")
(256, 4194304)
>>> ServerConfig(model="runs/rm", host="0.0.0.0")
Traceback (most recent call last):
...
llm.errors.UserError: --host 0.0.0.0: a server reachable from other machines needs --token_file (anyone who can reach it could use the model); or bind 127.0.0.1
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from llm.errors import UserError

log = logging.getLogger(__name__)


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
    max_starve_ms: float = 1000.0
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
        if not self.max_starve_ms > 0:
            raise UserError(f"--max_starve_ms {self.max_starve_ms:g}: must be more than 0")
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
