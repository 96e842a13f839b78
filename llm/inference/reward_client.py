"""Client of ``llm-train serve-reward`` and of any OpenRLHF-style ``POST /get_reward`` server (stdlib only).

    from llm.inference.reward_client import RewardClient, RewardServerError

    client = RewardClient(["http://10.0.0.5:8000", "http://10.0.0.6:8000/get_reward"], token=token)
    rewards = client.score(texts)             # one float per text, in the order of texts

``score`` cuts the texts into one contiguous shard per URL (and each shard into requests of at most
``max_batch`` texts), sends them in parallel threads and joins the answers in order. Every request has a
``timeout`` (seconds, per socket operation) and is retried ``retries`` times with exponential backoff
(``backoff``·2ⁿ s, jittered, capped at 30 s) on connection errors, timeouts, 5xx and 429 (honouring
``Retry-After``); retry n of a request goes to URL ``(home + n) mod len(urls)``, so a dead server's share
moves to the live ones. Any other 4xx (bad request, wrong token, text too long) raises at once with the
server's reason: retrying would not help. When a request's retries are spent, :class:`RewardServerError`
names the URLs tried and the last error, and the other requests of the call stop retrying.

Environment proxies are ignored: reward servers sit next to the trainer, and an ``http_proxy`` meant for
the internet would otherwise catch ``127.0.0.1`` too. Redirects are not followed: a reward server answers
itself, and following one would hand the bearer token, and the choice of rewards, to another host; a
``3xx`` raises :class:`RewardServerError` naming both URLs.

By default a call sends at most ``max_batch=32`` texts per request (the server's default batch, well under
its per-request caps of 256 texts and 262,144 tokens); the server batches concurrent requests together.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

from llm.errors import ServiceError

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
MAX_THREADS_PER_URL = 8


class RewardServerError(ServiceError):
    """A reward request that failed for good: ``status`` is the HTTP status when a server refused it, and
    ``urls`` the servers tried. A :class:`~llm.errors.ServiceError`: commands report it in one line."""

    def __init__(self, message: str, status: int | None = None, urls: Sequence[str] = ()):
        super().__init__(message)
        self.status = status
        self.urls = list(urls)


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def normalise_url(url: str) -> str:
    """The ``/get_reward`` endpoint of a server given by its base URL or by the endpoint itself.

    >>> normalise_url("http://host:8000/"), normalise_url("http://host:8000/get_reward")
    ('http://host:8000/get_reward', 'http://host:8000/get_reward')
    """
    url = url.strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url if parts.path.endswith("/get_reward") else url + "/get_reward"


def plan_requests(n: int, n_urls: int, max_batch: int | None) -> list[tuple[int, int, int]]:
    """``(start, end, home URL)`` of each request: one contiguous shard per URL, cut into ≤ max_batch.

    >>> plan_requests(7, 2, None), plan_requests(7, 2, 2)
    ([(0, 4, 0), (4, 7, 1)], [(0, 2, 0), (2, 4, 0), (4, 6, 1), (6, 7, 1)])
    """
    shards = min(n, n_urls)
    bounds = [-(-n * i // shards) for i in range(shards + 1)] if shards else [0]
    step = max_batch or n or 1
    return [
        (start, min(start + step, bounds[i + 1]), i)
        for i in range(shards)
        for start in range(bounds[i], bounds[i + 1], step)
    ]


class RewardClient:
    """Scores texts on one or more reward servers; see the module docstring for the retry policy."""

    def __init__(
        self,
        urls: str | Sequence[str],
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_batch: int | None = 32,
    ):
        urls = [urls] if isinstance(urls, str) else list(urls)
        if not urls:
            raise ValueError("no reward server URL")
        if timeout <= 0 or retries < 0 or backoff < 0 or (max_batch is not None and max_batch < 1):
            raise ValueError("timeout must be > 0, retries and backoff ≥ 0, max_batch ≥ 1")
        self.urls = [normalise_url(u) for u in urls]
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_batch = max_batch
        self.retry_count = 0  # retries made so far, for monitoring
        self._lock = threading.Lock()
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _RefuseRedirects)

    def score(self, texts: Sequence[str]) -> list[float]:
        """One reward per text, in order; :class:`RewardServerError` if some texts could not be scored."""
        texts = list(texts)
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise TypeError(f"texts[{bad}] is a {type(texts[bad]).__name__}, not a str")
        plan = plan_requests(len(texts), len(self.urls), self.max_batch)
        if not plan:
            return []
        abort = threading.Event()
        if len(plan) == 1:
            start, end, home = plan[0]
            return self._request(texts[start:end], home, abort)
        pool = ThreadPoolExecutor(min(len(plan), MAX_THREADS_PER_URL * len(self.urls)), "reward-client")
        try:
            futures = [pool.submit(self._request, texts[s:e], home, abort) for s, e, home in plan]
            wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in futures if f.done() and f.exception()), None)
            if failed is not None:
                abort.set()  # the call has failed: the other requests stop retrying
                raise failed.exception()
            return [reward for future in futures for reward in future.result()]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _request(self, texts: list[str], home: int, abort: threading.Event) -> list[float]:
        body = json.dumps({"query": texts}).encode()
        tried: list[str] = []
        last: _Retryable | None = None
        for attempt in range(self.retries + 1):
            if abort.is_set():
                raise RewardServerError("cancelled: another request of this call failed", urls=tried)
            url = self.urls[(home + attempt) % len(self.urls)]
            if url not in tried:
                tried.append(url)
            try:
                return self._post(url, body, len(texts))
            except _Retryable as e:
                last = e
            if attempt < self.retries:
                delay = self._delay(attempt, last.retry_after)
                with self._lock:
                    self.retry_count += 1
                log.warning("%s; retry %d/%d in %.2f s", last, attempt + 1, self.retries, delay)
                abort.wait(delay)
        raise RewardServerError(
            f"reward server {', '.join(tried)} failed {self.retries + 1} attempt(s); last error: {last}",
            urls=tried,
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.backoff * 2**attempt, MAX_BACKOFF) * random.uniform(0.5, 1.0)  # jitter: no herds
        return min(max(delay, retry_after or 0.0), MAX_BACKOFF)

    def _post(self, url: str, body: bytes, n: int) -> list[float]:
        request = urllib.request.Request(url, data=body, headers=self._headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as e:
            reason = _reason(e)
            if e.code == 429 or e.code >= 500:
                raise _Retryable(f"{url}: HTTP {e.code}: {reason}", _retry_after(e)) from None
            raise RewardServerError(f"{url}: HTTP {e.code}: {reason}", status=e.code, urls=[url]) from None
        except (OSError, http.client.HTTPException) as e:  # refused, reset, timed out, cut short
            raise _Retryable(f"{url}: {_describe(e)}") from None
        return _rewards(payload, n, url)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Every redirect is an error: the request (and its token) goes nowhere else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 (urllib's signature)
        raise RewardServerError(
            f"{req.full_url}: HTTP {code} redirect to {newurl} refused: a reward server must answer "
            "itself (the request and its token are not sent elsewhere)",
            status=code,
            urls=[req.full_url],
        )


def _rewards(payload: bytes, n: int, url: str) -> list[float]:
    try:
        rewards = json.loads(payload)["rewards"]
        if len(rewards) != n:
            raise ValueError(f"{len(rewards)} rewards for {n} texts")
        return [float(r) for r in rewards]
    except (ValueError, TypeError, KeyError) as e:
        raise RewardServerError(f"{url}: not a reward answer ({e}): {payload[:200]!r}", urls=[url]) from None


def _reason(error: urllib.error.HTTPError) -> str:
    """The server's ``{"error": reason}``, else the start of its body, else the status phrase."""
    try:
        text = error.read(4096).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        text = ""
    try:
        return str(json.loads(text)["error"])
    except (ValueError, TypeError, KeyError):
        return text.strip()[:200] or str(error.reason)


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    try:
        return float(error.headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, str):
        error = error.reason
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
