"""Reward model serving: ``llm-train serve-reward`` (:mod:`llm.serve.server`) and its client.

from llm.serve import RewardClient
rewards = RewardClient("http://127.0.0.1:8000", token=token).score(texts)
"""

from llm.serve.client import RewardClient, RewardServerError

__all__ = ["RewardClient", "RewardServerError"]
