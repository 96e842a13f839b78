"""Fixtures of the reward server's tests: a tiny reward model (as ``checkpoint``) in this process, servers
of it in child processes, and an in-process server with a fake scorer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from llm.models.reward import load_reward_model, score
from llm.serve.batching import ModelScorer
from llm.serve.config import ServerConfig
from tests.helpers.ports import free_port
from tests.helpers.reward_server import LIMITS, TOKEN, Server, fake_scorer, in_thread, stop_all


@pytest.fixture(scope="module")
def checkpoint(reward_checkpoint) -> Path:
    """Here the checkpoint is a reward model's (the root conftest's ``reward_checkpoint``)."""
    return reward_checkpoint


@pytest.fixture(scope="module")
def model(checkpoint):
    """The tiny model and its tokenizer, in this process; torch on one thread meanwhile (on a busy machine
    two spinning OpenMP threads are many times slower than one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield load_reward_model(str(checkpoint))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(model):
    return lambda texts: score(*model, texts)


@pytest.fixture(scope="module")
def servers(checkpoint):
    """Every server process of the module, started together (start-up is mostly imports): "a" open with
    small limits, "restart" on a known port, "sigterm" to be stopped."""
    started = {
        "a": Server(checkpoint, "--max_wait_ms", "20", *LIMITS),
        "restart": Server(checkpoint, port=free_port()),
        "sigterm": Server(checkpoint),
    }
    try:
        for server in started.values():
            server.wait_ready()
        yield started
    finally:
        stop_all(list(started.values()))


@pytest.fixture(scope="module")
def urls(servers) -> dict[str, str]:
    return {name: server.url for name, server in servers.items()}


@pytest.fixture(scope="module")
def fake():
    """An in-process server with the fake scorer, small limits and short timeouts."""
    config = ServerConfig(
        model="fake",
        port=0,
        max_wait_ms=0,
        max_body_bytes=64 << 10,
        max_text_chars=2000,
        max_request_tokens=5000,  # the fake scorer counts a character as a token
        socket_timeout=1.0,
        request_timeout=1.0,
    )
    with in_thread(config, fake_scorer) as server:
        yield server


@pytest.fixture(scope="module")
def token_server(checkpoint, model):
    """An in-process server of the real model with a token, cutting batches into forwards of ≤ 64 tokens."""
    config = ServerConfig(model=str(checkpoint), port=0, token=TOKEN, max_batch_tokens=64)
    with in_thread(config, ModelScorer(*model, max_texts=32, max_tokens=64, max_length=None)) as server:
        yield server
