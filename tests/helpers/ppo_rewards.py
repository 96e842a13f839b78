"""Reward functions for the PPO tests (loaded as --reward_fn ppo_rewards:NAME with tests/ on the path)."""


def letter_e(texts: list[str]) -> list[float]:
    """Count of the letter e in the reply, capped at 20, in tenths: a dense signal a tiny policy can learn."""
    replies = [t.rsplit("assistant\n", 1)[-1] for t in texts]
    return [min(r.count("e"), 20) / 10 for r in replies]
