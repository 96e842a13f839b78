"""Reward server throughput and latency: dynamic batching versus one text per forward; an ordinary client's
latency beside a hostile one, before and after the server scored requests in slices (issue 22).

**Table 1, batching.** Two ``llm-train serve-reward`` processes on loopback serve the same model on the same machine:

- ``batched``: ``--max_batch 32 --max_wait_ms 10`` (the defaults);
- ``one per forward``: ``--max_batch 1 --max_wait_ms 0``.

**Model.** A random reward model of ``MODEL_CONFIGS["small"]`` shape (Llama, hidden 256, 4 layers, 4 heads)
built by ``build_reward_model(None, tok, config_name="small")`` after ``torch.manual_seed(0)``, fp32, CPU,
with a byte-level BPE of 8,000 tokens trained on the texts (seconds, offline); saved to a temporary
directory that both servers load. Rewards of a random model mean nothing; the cost of computing them is
what is measured.

**Requests.** Each request is one text of realistic TL;DR length: ``prompt + " " + summary`` (chosen and
rejected) of ``llm/data/samples/tldr_comparisons_sample.jsonl``, taken in a fixed shuffled order. For every
number of concurrent clients (1, 16, 64: threads of this process, each sending its next request as soon as
the last is answered, through :class:`llm.inference.reward_client.RewardClient` with no retries) and each server, the
first ``--warmup`` requests are not timed, then ``--requests`` are. ``req/s`` = timed requests / wall
time; ``p50``/``p99`` = percentiles of the time from sending a request to having its reward;
``texts/batch`` = texts scored / batches the worker collected, ``texts/forward`` = texts scored / model
forwards (the server cuts a batch into forwards of similar lengths under a token budget), both from
``GET /health``. The two servers are
measured alternately at each concurrency, so a change in background load hits both.

    $ .venv/bin/python bench/reward_server.py [--requests 200] [--warmup 10] [--clients 1 16 64]
        [--threads N] [--device cuda]

``--threads`` sets the servers' ``OMP_NUM_THREADS`` (default 1: the clients of this process need CPU too,
and spinning OpenMP threads on a busy core are many times slower than one thread). About 2-4 minutes on 2
cores. Prints the machine, the date, the versions (the server is FastAPI on uvicorn), the load average
before and after, and one table.

Reading the table: on CPU a forward of one ~250-token text already keeps a core busy, so batching cannot
buy much throughput there, and padding plus attention that grows with the longest text make big
batches slower; the server therefore cuts each batch into forwards of ≤ 1024 padded tokens of similar
lengths on CPU (65536 on GPU, where large forwards are what keeps the device busy).

**Table 2, a hostile client** (``--tables hostile``, about a minute). One server at a time, the same
checkpoint but the ``tiny`` shape (hidden 64, 2 layers: a loaded 2-core machine scores it fast enough to
measure in seconds) with a 2,048-position context: "before" is the server as it was at commit
``--before`` (default ``ac75bfa``, extracted with ``git archive``: whole requests first come first served,
no default ``--max_length``, no caps per request; more commits may follow, each a row "at REV"), "after"
is this checkout's (long texts scored in chunks of 256 tokens, a short request run between two chunks),
all with default flags. An
ordinary client sends requests back to back — of 1 text, and of 32 texts (what the trainer's
:class:`RewardClient` sends by default) — for ``--window`` seconds quiet, then for ``--window`` seconds
while a hostile client sends, again and again, the largest request the new server accepts: 128 texts of
16,000 characters (each over 2,048 tokens: 128 × 2,048 = the 262,144-token budget per request, 2 MB of
JSON; the old server accepted larger ones still). The hostile cells start once the hostile request is parsed and queued (being
scored): its parsing and tokenizing, ~1 s of a core once per request, is not what the cells measure. A request unanswered within the window counts as
``> window``. ``hostile texts/s`` is what the hostile client got scored meanwhile (``GET /health``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import queue
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import cpu_model  # noqa: E402  (bench/machine.py; bench/ is on the path of a bench script)

from llm.inference.reward_client import RewardClient  # noqa: E402

DATA = ROOT / "llm" / "data" / "samples" / "tldr_comparisons_sample.jsonl"
SERVE = "import sys; from llm.commands.serve_reward import main; sys.exit(main())"  # llm-train serve-reward
MODEL_CONFIG = "small"
VOCAB = 8000  # at most: the sample's texts give fewer merges
SERVERS = {
    "batched (≤32, 10 ms)": ["--max_batch", "32", "--max_wait_ms", "10"],
    "one per forward": ["--max_batch", "1", "--max_wait_ms", "0"],
}


def load_texts() -> list[str]:
    texts = []
    with DATA.open() as f:
        for line in f:
            record = json.loads(line)
            texts += [f"{record['prompt']} {record['chosen']}", f"{record['prompt']} {record['rejected']}"]
    random.Random(0).shuffle(texts)
    return texts


def build_checkpoint(texts: list[str], path: Path, config: str = MODEL_CONFIG) -> dict:
    """A random reward model (``MODEL_CONFIGS[config]``) and its tokenizer, saved to ``path``; token
    statistics of ``texts``."""
    import torch

    from llm.data.tokenizer import build_tokenizer
    from llm.models.reward import build_reward_model

    torch.manual_seed(0)
    tokenizer = build_tokenizer("bytelevel", vocab_size=VOCAB, corpus=texts)
    model = build_reward_model(None, tokenizer, config_name=config)
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    return {"mean_tokens": statistics.mean(lengths), "max_tokens": max(lengths), "vocab": len(tokenizer)}


def start_server(model: Path, args: list[str], threads: int, device: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-c", SERVE, "--model", str(model), "--port", "0", "--device", device]
    proc = subprocess.Popen(
        [*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env
    )
    line = proc.stdout.readline()
    match = re.search(r" on (http://\S+) ", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, match.group(1)


def health(url: str) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{url}/health", timeout=30) as response:
        return json.loads(response.read())


def run_clients(url: str, texts: list[str], clients: int, n: int) -> tuple[float, list[float]]:
    """``clients`` threads sending the ``n`` texts one per request; (wall seconds, latencies)."""
    todo: queue.Queue[str] = queue.Queue()
    for text in texts[:n]:
        todo.put(text)
    client = RewardClient(url, retries=0, timeout=600)
    latencies: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        while True:
            try:
                text = todo.get_nowait()
            except queue.Empty:
                return
            sent = time.perf_counter()
            client.score([text])
            with lock:
                latencies.append(time.perf_counter() - sent)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(url: str, texts: list[str], clients: int, args: argparse.Namespace, offset: int) -> dict:
    rotated = texts[offset:] + texts[:offset]  # a different slice per setting, the same for both servers
    run_clients(url, rotated, clients, args.warmup)
    before = health(url)
    wall, latencies = run_clients(url, rotated[args.warmup :], clients, args.requests)
    after = health(url)
    return {
        "rps": len(latencies) / wall,
        "p50": 1e3 * percentile(latencies, 0.50),
        "p99": 1e3 * percentile(latencies, 0.99),
        "per_batch": (after["texts"] - before["texts"]) / max(1, after["batches"] - before["batches"]),
        "per_forward": (after["texts"] - before["texts"]) / max(1, after["forwards"] - before["forwards"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per setting")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests before each setting")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--threads", type=int, default=1, help="servers' OMP_NUM_THREADS (default 1)")
    parser.add_argument("--device", default="cpu", help="the servers' --device (default cpu)")
    parser.add_argument(
        "--tables", nargs="+", choices=["batching", "hostile"], default=["batching", "hostile"]
    )
    parser.add_argument("--window", type=float, default=5.0, help="seconds of each hostile-table setting")
    parser.add_argument(
        "--before",
        nargs="+",
        default=[BEFORE],
        help="commits of the servers to compare with, each measured in the same run ('none': skip)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs (seconds)")
    args = parser.parse_args(argv)
    if args.smoke:  # its sizes become the defaults; a flag given still wins
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    texts = load_texts()
    if "hostile" in args.tables:
        hostile_table(args, texts)
    if "batching" not in args.tables:
        return 0
    started, load_before = time.perf_counter(), os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "rm-small"
        meta = build_checkpoint(texts, model)
        servers = {
            name: start_server(model, flags, args.threads, args.device) for name, flags in SERVERS.items()
        }
        try:
            rows = []
            for i, clients in enumerate(args.clients):
                for name, (_, url) in servers.items():
                    rows.append((clients, name, measure(url, texts, clients, args, offset=97 * i)))
                    print(f"  {clients:>3} clients, {name}: {rows[-1][2]['rps']:.1f} req/s", file=sys.stderr)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
            for proc, _ in servers.values():
                proc.wait(60)
    meta["load"] = (load_before, os.getloadavg())
    report(args, meta, texts, rows, time.perf_counter() - started)
    return 0


def report(args: argparse.Namespace, meta: dict, texts: list[str], rows: list, seconds: float) -> None:
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print(f"\nReward server, {now}")
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs, server OMP_NUM_THREADS={args.threads}; python "
        f"{platform.python_version()}, torch {version('torch')}, transformers {version('transformers')}, "
        f"fastapi {version('fastapi')}, uvicorn {version('uvicorn')}; "
        f"1-min load average {meta['load'][0][0]:.1f} before, {meta['load'][1][0]:.1f} after"
    )
    print(
        f"model: {MODEL_CONFIG} (hidden 256, 4 layers, 4 heads, vocab {meta['vocab']}), random init, fp32, {args.device}; "
        f"texts: {len(texts)} TL;DR prompt + summary, mean {meta['mean_tokens']:.0f} tokens "
        f"(max {meta['max_tokens']})"
    )
    print(
        f"each setting: {args.requests} timed requests of 1 text after {args.warmup} warm-up; "
        f"clients are threads of this process (RewardClient), loopback HTTP"
    )
    print()
    print("| clients | serving               |  req/s | p50 ms | p99 ms | texts/batch | texts/forward |")
    print("|--------:|:----------------------|-------:|-------:|-------:|------------:|--------------:|")
    for clients, name, r in rows:
        print(
            f"| {clients:>7} | {name:<21} | {r['rps']:>6.1f} | {r['p50']:>6.0f} | {r['p99']:>6.0f} "
            f"| {r['per_batch']:>11.1f} | {r['per_forward']:>13.1f} |"
        )
    print(f"\n({seconds:.0f} s in all)")


# --------------------------------------------------------------------------------- the hostile client

BEFORE = "ac75bfa"  # the last commit before requests were scored in slices with caps (issue 22)
# --smoke: both tables at tiny sizes, no git history ("before" skipped); its numbers mean nothing
SMOKE = {"requests": 4, "warmup": 1, "clients": [1, 2], "window": 0.5, "before": ["none"]}
HOSTILE_TEXTS, HOSTILE_CHARS = 128, 16_000
ORDINARY_SIZES = (1, 32)


def old_tree(rev: str, into: Path) -> Path:
    """The package as it was at ``rev`` (``git archive``), to run the "before" server from."""
    archive = subprocess.run(["git", "archive", rev, "llm"], cwd=ROOT, capture_output=True, check=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def start_at(tree: Path, model: Path, threads: int, device: str) -> tuple[subprocess.Popen, str]:
    """A server run from ``tree`` (this checkout, or an old one)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    env["PYTHONPATH"] = str(tree)
    cmd = [sys.executable, "-c", SERVE, "--model", str(model), "--port", "0", "--device", device]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tree, env=env
    )
    match = re.search(r" on (http://\S+) ", proc.stdout.readline())
    if not match:
        proc.kill()
        raise RuntimeError(f"the server from {tree} did not start")
    return proc, match.group(1)


def ordinary(url: str, texts: list[str], size: int, seconds: float) -> tuple[list[float], int]:
    """Requests of ``size`` texts back to back for ``seconds``: (latencies of the answered, unanswered)."""
    client = RewardClient(url, retries=0, timeout=seconds, max_batch=size)
    latencies, unanswered, i = [], 0, 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        batch = [texts[(i + k) % len(texts)] for k in range(size)]
        i += size
        sent = time.perf_counter()
        try:
            client.score(batch)
            latencies.append(time.perf_counter() - sent)
        except Exception:  # timed out: it waited the whole window
            unanswered += 1
    return latencies, unanswered


class Hostile(threading.Thread):
    """Sends the same big request again and again until :meth:`stop` (or the server goes away)."""

    def __init__(self, url: str, texts: list[str]):
        super().__init__(daemon=True)
        long = " ".join(texts)
        chunks = [(long[i * 997 :] + long)[:HOSTILE_CHARS] for i in range(HOSTILE_TEXTS)]
        self.body = json.dumps({"query": chunks}).encode()
        self.url = url + "/get_reward"
        self.stopped = threading.Event()

    def run(self) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while not self.stopped.is_set():
            request = urllib.request.Request(self.url, self.body, {"Content-Type": "application/json"})
            try:
                with opener.open(request, timeout=3600) as response:
                    response.read()
            except Exception:
                if not self.stopped.is_set():
                    time.sleep(0.1)

    def stop(self) -> None:
        self.stopped.set()


def hostile_table(args: argparse.Namespace, texts: list[str]) -> None:
    started, load_before = time.perf_counter(), os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "rm-tiny"
        meta = build_checkpoint(texts, model, config="tiny")
        trees = {}
        for rev in [r for r in args.before if r != "none"]:
            name = "before" if rev == BEFORE else f"at {rev}"
            trees[name] = old_tree(rev, Path(tmp) / rev)
        trees["after"] = ROOT
        for name, tree in trees.items():
            proc, url = start_at(tree, model, args.threads, args.device)
            hostile = Hostile(url, texts)
            try:
                ordinary(url, texts, 8, 1.0)  # warm-up
                quiet = {size: ordinary(url, texts, size, args.window) for size in ORDINARY_SIZES}
                hostile.start()
                deadline = time.monotonic() + 60
                while health(url)["queue"] == 0 and time.monotonic() < deadline:
                    time.sleep(0.05)  # the hostile request is received, parsed and queued: being scored
                for size in ORDINARY_SIZES:
                    before = health(url)["texts"]
                    got = ordinary(url, texts, size, args.window)
                    scored = health(url)["texts"] - before - size * len(got[0])
                    rows.append((name, size, quiet[size], got, scored / args.window))
                    print(f"  {name}, {size} text(s): done", file=sys.stderr)
            finally:
                hostile.stop()
                proc.kill()
                proc.wait(60)
    report_hostile(args, meta, rows, (load_before, os.getloadavg()), time.perf_counter() - started)


def summary(latencies: list[float], unanswered: int, window: float) -> tuple[str, str, str]:
    """p50, p99 in ms (``> window`` when a request went unanswered in the window), and the count."""
    n = len(latencies) + unanswered
    if not n:
        return "–", "–", "0"
    ordered = sorted(latencies) + [float("inf")] * unanswered

    def show(q: float) -> str:
        value = ordered[min(n - 1, round(q * (n - 1)))]
        return f"> {window * 1e3:.0f}" if value == float("inf") else f"{1e3 * value:.0f}"

    return (
        show(0.50),
        show(0.99),
        f"{len(latencies)}" + (f" (+{unanswered} unanswered)" if unanswered else ""),
    )


def report_hostile(args: argparse.Namespace, meta: dict, rows: list, load: tuple, seconds: float) -> None:
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print(f"\nReward server with a hostile client, {now}")
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs, server OMP_NUM_THREADS={args.threads}; "
        f"1-min load average {load[0][0]:.1f} before, {load[1][0]:.1f} after; model tiny (hidden 64, 2 layers, "
        f"vocab {meta['vocab']}), 2,048 positions, random init, fp32, {args.device}; ordinary texts: TL;DR "
        f"prompt + summary, mean {meta['mean_tokens']:.0f} tokens; hostile: {HOSTILE_TEXTS} texts of "
        f"{HOSTILE_CHARS:,} characters a request, back to back; {args.window:g} s per cell"
    )
    print()
    print(
        "| server | ordinary request | quiet p50 ms | quiet p99 ms | hostile p50 ms | hostile p99 ms "
        "| p99 ratio | requests quiet / hostile | hostile texts/s |"
    )
    print("|:--|--:|--:|--:|--:|--:|--:|--:|--:|")
    for name, size, quiet, hostile, rate in rows:
        q50, q99, qn = summary(*quiet, args.window)
        h50, h99, hn = summary(*hostile, args.window)
        ratio = "–"
        if quiet[0] and hostile[0] and not hostile[1]:
            ratio = f"{percentile(hostile[0], 0.99) / percentile(quiet[0], 0.99):.1f}×"
        elif hostile[1]:
            ratio = f"> {args.window / percentile(quiet[0], 0.99):.0f}×" if quiet[0] else "–"
        text = "text" if size == 1 else "texts"
        print(
            f"| {name} | {size} {text} | {q50} | {q99} | {h50} | {h99} | {ratio} | {qn} / {hn} | {rate:.1f} |"
        )
    print(f"\n({seconds:.0f} s in all)")


if __name__ == "__main__":
    sys.exit(main())
