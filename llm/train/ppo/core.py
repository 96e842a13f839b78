"""The math of PPO for RLHF as pure tensor functions (Huang et al. 2024, "The N+ Implementation Details of
RLHF with PPO"; Stiennon et al. 2020). Shapes: ``B`` rollouts, ``T`` response tokens; ``mask`` is 1 on
response tokens up to and including the first EOS, 0 after it.

    scores ──────────────────────────────────┐
    logprobs, ref_logprobs ─► kl_shaped_rewards ─► rewards [B, T] ─► gae(values) ─► advantages, returns
                                                                     whiten(advantages)
    new logprobs, old logprobs, advantages ─► policy_loss (clipped)     new values ─► value_loss (clipped)

The rollouts' cut after EOS and the missing-EOS penalty are both loops' (they live in
:mod:`llm.train.online.forward`, and are importable from here as PPO's math).

>>> import torch
>>> whiten(torch.tensor([[1.0, 3.0]]), torch.ones(1, 2)).tolist()
[[-0.7071067690849304, 0.7071067690849304]]
"""

from __future__ import annotations

import torch

from llm.train.online.forward import penalize_missing_eos as penalize_missing_eos
from llm.train.online.forward import truncate_after_eos as truncate_after_eos


def kl_shaped_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards ``−β·(log π − log π_ref)``, plus the score at each response's last token.

    Returns (rewards [B, T], kl [B, T]); both zero where ``mask`` is 0.

    >>> r, kl = kl_shaped_rewards(torch.tensor([1.0]), torch.tensor([[-1.0, -2.0, -3.0]]),
    ...                           torch.tensor([[-1.5, -2.0, -1.0]]), torch.tensor([[1.0, 1.0, 0.0]]), 0.1)
    >>> [[round(v, 4) for v in row] for row in r.tolist()], kl.tolist()
    ([[-0.05, 1.0, 0.0]], [[0.5, 0.0, 0.0]])
    """
    kl = torch.where(mask.bool(), logprobs - ref_logprobs, torch.zeros_like(logprobs))
    rewards = -kl_coef * kl
    last = (mask.sum(dim=1).long() - 1).clamp(min=0)
    rewards = rewards.scatter_add(1, last[:, None], scores[:, None].to(rewards.dtype))
    return torch.where(mask.bool(), rewards, torch.zeros_like(rewards)), kl


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over the masked response tokens. Returns (advantages, returns).

    δ_t = r_t + γ·V_{t+1} − V_t (V after the last token is 0);  A_t = δ_t + γλ·A_{t+1}.

    >>> adv, ret = gae(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]), torch.ones(1, 2), 1.0, 0.5)
    >>> adv.tolist(), ret.tolist()     # δ = [0 + .5 − .5, 1 − .5] = [0, .5]; A = [0 + .5·.5, .5]
    ([[0.25, 0.5]], [[0.75, 1.0]])
    """
    values = values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    T = rewards.shape[1]
    for t in reversed(range(T)):
        next_value = values[:, t + 1] if t + 1 < T else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, (advantages + values) * mask


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unbiased variance over the masked entries."""
    mean = masked_mean(x, mask)
    n = mask.sum()
    return ((x - mean) ** 2 * mask).sum() / (n - 1).clamp(min=1)


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """Normalise over unmasked entries to mean 0 (unless ``shift_mean`` is False) and std 1."""
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out * mask


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip: float = 0.2,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate loss; stats: clip fraction, approximate KL (k3-free ½(log r)²), mean ratio.

    >>> loss, stats = policy_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([[1.0, -1.0]]), torch.ones(1, 2))
    >>> float(loss), float(stats["clipfrac"]), float(stats["ratio"])
    (0.0, 0.0, 1.0)
    """
    log_ratio = (logprobs - old_logprobs) * mask
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    stats = {
        "clipfrac": masked_mean((clipped > unclipped).float(), mask),
        "approx_kl": masked_mean(0.5 * log_ratio**2, mask),
        "ratio": masked_mean(ratio, mask),
    }
    return loss, stats


# The same signature as policy_loss: both are PPO's clipped losses, on values instead of log-probs.
def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip: float = 0.2,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped value loss ½·max((V − R)², (clip(V) − R)²); stats: clip fraction.

    >>> loss, stats = value_loss(torch.tensor([[1.0]]), torch.tensor([[0.0]]), torch.tensor([[2.0]]), torch.ones(1, 1))
    >>> round(float(loss), 4), float(stats["vf_clipfrac"])     # clipped V = 0.2: ½·max(1, 3.24)
    (1.62, 1.0)
    """
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    loss_unclipped = (values - returns) ** 2
    loss_clipped = (clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(loss_unclipped, loss_clipped), mask)
    return loss, {"vf_clipfrac": masked_mean((loss_clipped > loss_unclipped).float(), mask)}


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 − Var(R − V) / Var(R) over the masked tokens: 1 is a perfect value model, 0 no better than a constant."""
    return 1.0 - masked_var(returns - values, mask) / masked_var(returns, mask).clamp(min=1e-8)


class AdaptiveKLController:
    """Ziegler et al. 2019: move β so the observed KL tracks ``target`` over ``horizon`` samples.

    >>> c = AdaptiveKLController(0.05, target=6.0, horizon=10_000)
    >>> c.update(current_kl=12.0, n_steps=100)   # KL twice the target: β grows (error clipped at 0.2)
    >>> round(c.value, 6)
    0.0501
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: int):
        self.value, self.target, self.horizon = init_kl_coef, target, horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon
