"""Reward model serving: ``llm-train serve-reward`` (:mod:`llm.serve.server`, FastAPI on uvicorn: the
``serve`` extra) and its client (:mod:`llm.serve.client`, standard library only).

from llm.serve import RewardClient
rewards = RewardClient("http://127.0.0.1:8000", token=token).score(texts)

Importing this package does not import the server: a trainer that only calls a reward server needs
neither FastAPI nor uvicorn.
"""

from llm.serve.client import RewardClient, RewardServerError

__all__ = ["RewardClient", "RewardServerError"]
