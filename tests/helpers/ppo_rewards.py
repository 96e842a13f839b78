"""Reward functions for the PPO tests (``--reward_fn tests.helpers.ppo_rewards:NAME``, from the
repository root)."""


def letter_e(texts: list[str]) -> list[float]:
    """Count of the letter e in the reply, capped at 20, in tenths: a dense signal a tiny policy can learn."""
    replies = [t.rsplit("assistant\n", 1)[-1] for t in texts]
    return [min(r.count("e"), 20) / 10 for r in replies]
