"""Critic-free policy-gradient math as pure tensor functions: GRPO, Dr. GRPO, DAPO, RLOO, REINFORCE++.

Shapes: ``B`` completions — ``B/G`` prompts × ``G`` completions each, a prompt's completions next to each
other — and ``T`` completion tokens; ``mask`` is 1 on completion tokens up to and including the first EOS.

    rewards [B] ──► advantages [B] (grpo: per group, scaled; rloo: leave one out)   ──┐
    scores [B], logprobs − ref_logprobs [B, T] ──► reinforce_pp: per-token, batch-whitened ─┤
    turn rewards [B, K] ──► per column as above ──► spread_over_turns (each token its turn's) [B, T] ─┤
    new logprobs, old logprobs, advantages ──► clipped_policy_loss (ε_low, ε_high; loss_type) + β · k3 KL

>>> import torch
>>> group_advantages(torch.tensor([1.0, 3.0, 2.0, 2.0]), group_size=2, scale="none").tolist()
[-1.0, 1.0, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

Scale = Literal["group", "batch", "none"]
LossType = Literal["grpo", "dr_grpo", "dapo"]
# Sums a tensor over the data-parallel processes (identity in one process): batch-level statistics are the
# whole batch's, so that N processes compute what one process would on their rows together.
Reduce = Callable[[torch.Tensor], torch.Tensor]


def _local(x: torch.Tensor) -> torch.Tensor:
    return x


def _groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    return rewards.view(-1, group_size)


def group_advantages(
    rewards: torch.Tensor, group_size: int, scale: Scale = "group", eps: float = 1e-4, reduce: Reduce = _local
) -> torch.Tensor:
    """GRPO (Shao et al. 2024): ``r_i − mean(group)``, divided by the group's std (``group``), the batch's
    (``batch``; over every process's rewards), or not at all (``none``: Dr. GRPO). A group whose rewards are
    all equal gets 0 everywhere.

    >>> [round(x, 4) for x in group_advantages(torch.tensor([1.0, 3.0, 5.0, 5.0]), group_size=2).tolist()]
    [-0.7071, 0.7071, 0.0, 0.0]
    """
    grouped = _groups(rewards, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if scale == "group":
        centred = centred / (grouped.std(dim=1, keepdim=True) + eps)
    elif scale == "batch":
        centred = centred / (masked_std(rewards, torch.ones_like(rewards), reduce) + eps)
    elif scale != "none":
        raise ValueError(f"unknown scale {scale!r}: group, batch or none")
    return centred.reshape(-1)


def spread_over_turns(turn_advantages: torch.Tensor, turn_of: torch.Tensor) -> torch.Tensor:
    """Per-token advantages of multi-turn episodes: each token gets the advantage of the turn that wrote it
    (``turn_of`` [B, T]: the turn, −1 for a token the policy did not write, which gets 0).

    >>> spread_over_turns(torch.tensor([[0.5, -1.0]]), torch.tensor([[-1, 0, 0, -1, 1, -1]])).tolist()
    [[0.0, 0.5, 0.5, 0.0, -1.0, 0.0]]
    """
    picked = turn_advantages.gather(1, turn_of.clamp(min=0))
    return torch.where(turn_of >= 0, picked, torch.zeros_like(picked))


def rloo_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """RLOO (Ahmadian et al. 2024): ``r_i`` minus the mean reward of the *other* ``G − 1`` completions.

    >>> rloo_advantages(torch.tensor([1.0, 2.0, 6.0]), group_size=3).tolist()  # 1 − 4, 2 − 3.5, 6 − 1.5
    [-3.0, -1.5, 4.5]
    """
    if group_size < 2:
        raise ValueError("RLOO needs at least 2 completions per prompt")
    grouped = _groups(rewards, group_size)
    others = (grouped.sum(dim=1, keepdim=True) - grouped) / (group_size - 1)
    return (grouped - others).reshape(-1)


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token KL estimate k3 = π_ref/π − log(π_ref/π) − 1 (≥ 0; 0 where the policies agree).

    >>> round(float(k3_kl(torch.tensor([-1.0]), torch.tensor([-2.0]))[0]), 4)  # e^−1 + 1 − 1
    0.3679
    """
    log_ratio = ref_logprobs - logprobs
    return torch.exp(log_ratio) - log_ratio - 1


def masked_mean_var(
    x: torch.Tensor, mask: torch.Tensor, reduce: Reduce = _local
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased variance of ``x`` where ``mask`` is 1, over every process's values.

    >>> [float(v) for v in masked_mean_var(torch.tensor([1.0, 3.0, 100.0]), torch.tensor([1.0, 1.0, 0.0]))]
    [2.0, 2.0]
    """
    n, total, squares = reduce(torch.stack([mask.sum(), (x * mask).sum(), (x * x * mask).sum()]))
    mean = total / n.clamp(min=1)
    return mean, ((squares - n * mean * mean) / (n - 1).clamp(min=1)).clamp(min=0)


def masked_std(x: torch.Tensor, mask: torch.Tensor, reduce: Reduce = _local) -> torch.Tensor:
    return masked_mean_var(x, mask, reduce)[1].sqrt()


def reinforce_pp_advantages(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
    reduce: Reduce = _local,
) -> torch.Tensor:
    """REINFORCE++ (Hu 2025): per-token reward −β·(log π − log π_ref), the score added at the last token;
    the advantage at ``t`` is the sum of the rewards from ``t`` on (γ = 1), whitened over every completion
    token of the batch (of every process). Returns [B, T], 0 where ``mask`` is 0.

    >>> a = reinforce_pp_advantages(torch.tensor([1.0, 0.0]), torch.zeros(2, 2), torch.zeros(2, 2),
    ...                             torch.ones(2, 2), kl_coef=0.1)
    >>> [round(x, 4) for x in a.flatten().tolist()]  # returns 1, 1, 0, 0 whitened
    [0.866, 0.866, -0.866, -0.866]
    """
    rewards = -kl_coef * (logprobs - ref_logprobs) * mask
    last = (mask.cumsum(1) == mask.sum(1, keepdim=True)) & mask.bool()
    rewards = rewards + last * scores[:, None]
    returns = torch.flip(torch.cumsum(torch.flip(rewards, [1]), 1), [1]) * mask
    mean, var = masked_mean_var(returns, mask, reduce)
    return (returns - mean) / (var.sqrt() + 1e-8) * mask


def clipped_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    loss_type: LossType = "grpo",
    tokens: torch.Tensor | float | None = None,
    max_length: int | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clipped surrogate −min(r·A, clip(r, 1−ε, 1+ε_high)·A) per token (``advantages`` [B] or [B, T]),
    aggregated as the ``loss_type`` says:

    - ``grpo``: mean over each completion's tokens, then over completions (long completions weigh less);
    - ``dr_grpo``: sum over tokens ÷ (B · T), a constant (Dr. GRPO: no length bias);
    - ``dapo``: sum over all tokens ÷ the number of completion tokens in the batch (DAPO: token-level).

    ``tokens`` and ``max_length`` are :func:`aggregate`'s. ``stats`` holds token sums (``ratio_sum``,
    ``clipped``) and the ``tokens`` they are over, so that means over processes and minibatches are exact.

    >>> mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    >>> loss, stats = clipped_policy_loss(torch.zeros(2, 2), torch.zeros(2, 2), torch.tensor([1.0, 2.0]), mask)
    >>> float(loss), float(stats["ratio_sum"] / stats["tokens"]), float(stats["clipped"])  # grpo: mean(−1, −2)
    (-1.5, 1.0, 0.0)
    >>> round(float(clipped_policy_loss(torch.zeros(2, 2), torch.zeros(2, 2), torch.tensor([1.0, 2.0]), mask,
    ...                                 loss_type="dapo")[0]), 4)  # (−1 − 1 − 2) / 3
    -1.3333
    """
    if advantages.dim() == 1:
        advantages = advantages[:, None].expand_as(logprobs)
    high = epsilon if epsilon_high is None else epsilon_high
    ratio = torch.exp((logprobs - old_logprobs) * mask)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - epsilon, 1 + high)
    per_token = torch.maximum(unclipped, clipped) * mask
    loss = aggregate(per_token, mask, loss_type, tokens, max_length)
    stats = {
        "ratio_sum": (ratio * mask).sum(),
        "clipped": ((clipped > unclipped).float() * mask).sum(),
        "tokens": mask.sum(),
    }
    return loss, stats


def aggregate(
    per_token: torch.Tensor,
    mask: torch.Tensor,
    loss_type: LossType,
    tokens: torch.Tensor | float | None = None,
    max_length: int | None = None,
) -> torch.Tensor:
    """Per-token values → one loss, by ``loss_type`` (see :func:`clipped_policy_loss`).

    ``dapo`` divides by ``tokens`` (default: the tokens of this batch; in an N-process run, the batch's over
    all processes ÷ N, because data parallelism averages the processes' gradients). ``dr_grpo`` divides by
    ``B × max_length``, a constant (default: ``T``, this batch's width; give the generation limit).

    >>> aggregate(torch.tensor([[2.0, 2.0], [4.0, 0.0]]), torch.tensor([[1.0, 1.0], [1.0, 0.0]]), "dr_grpo")
    tensor(2.)
    >>> aggregate(torch.tensor([[2.0, 2.0], [4.0, 0.0]]), torch.tensor([[1.0, 1.0], [1.0, 0.0]]), "dr_grpo", max_length=4)
    tensor(1.)
    """
    if loss_type == "grpo":
        return ((per_token * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()
    if loss_type == "dr_grpo":
        return (per_token * mask).sum() / (mask.shape[0] * (max_length or mask.shape[1]))
    if loss_type == "dapo":
        n = mask.sum() if tokens is None else torch.as_tensor(tokens, dtype=per_token.dtype)
        return (per_token * mask).sum() / n.clamp(min=1)
    raise ValueError(f"unknown loss_type {loss_type!r}: grpo, dr_grpo or dapo")


def zero_variance_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """How many groups have rewards all equal (no learning signal in GRPO / RLOO).

    >>> int(zero_variance_groups(torch.tensor([1.0, 1.0, 0.0, 1.0]), 2))
    1
    """
    grouped = _groups(rewards, group_size)
    return (grouped.max(dim=1).values == grouped.min(dim=1).values).float().sum()
