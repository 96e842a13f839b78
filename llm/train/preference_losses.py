"""Preference optimisation as pure functions: per-sequence log-probs of a packed batch, and each loss.

Notation (FACTS.md): for a pair, ``π_c``/``π_r`` are the policy's summed log-probs of the chosen / rejected
completion, ``ρ_c``/``ρ_r`` the reference's, ``h = (π_c − ρ_c) − (π_r − ρ_r)``; ``|c|``, ``|r|`` the number of
completion tokens. Every loss returns one value per pair (or per completion for KTO); the trainer means them.

- ``sigmoid`` (DPO, Rafailov et al. 2023): −log σ(βh); with label smoothing ε (cDPO):
  −(1−ε) log σ(βh) − ε log σ(−βh). The default, and what most people mean by DPO.
- ``ipo`` (Azar et al. 2023): (h̄ − 1/(2β))², h̄ on per-token averaged log-probs. Less prone to drive the
  margin to infinity on deterministic preferences.
- ``hinge`` (SLiC): max(0, 1 − βh). A margin: pairs already separated stop pushing.
- ``simpo`` (Meng et al. 2024): −log σ(β(π_c/|c| − π_r/|r|) − γ), no reference model. Cheap, length-normalised.
- ``orpo`` (Hong et al. 2024): NLL(chosen) − λ log σ(log odds_c − log odds_r), odds = p/(1−p), p the
  length-averaged likelihood; no reference, no SFT stage needed.
- ``kto`` (Ethayarajh et al. 2024): unpaired; desirable λ_D(1 − σ(β(r − z))), undesirable
  λ_U(1 − σ(β(z − r))), r = π − ρ, z = max(0, mean KL estimate from mismatched pairs), detached. For data
  marked good or bad rather than ranked in pairs.

>>> import torch
>>> one = torch.tensor([1.0])
>>> round(float(dpo_loss(one * -4, one * -6, one * -5, one * -5, beta=0.5)[0]), 4)  # −log σ(0.5·2) = 0.3133
0.3133
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def sequence_logps(
    logits: torch.Tensor, labels: torch.Tensor, sequence_ids: torch.Tensor, num_sequences: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per sequence: summed log-probs of its trained tokens, their number, and the sum of their logits'
    means over the vocabulary (TRL's ``logits/*`` metric). Position ``t`` predicts token ``t + 1``.

    ``logits`` [R, T, V], ``labels`` [R, T] (−100 where untrained), ``sequence_ids`` [R, T] → three [N] tensors.

    >>> logits = torch.zeros(1, 4, 2)                   # uniform over 2 tokens: log-prob −log 2 each
    >>> labels = torch.tensor([[-100, 1, -100, 0]])      # sequence 0 trains token 1, sequence 1 token 3
    >>> logps, counts, _ = sequence_logps(logits, labels, torch.tensor([[0, 0, 1, 1]]), 2)
    >>> [round(x, 4) for x in logps.tolist()], counts.tolist()
    ([-0.6931, -0.6931], [1.0, 1.0])
    """
    logits = logits[:, :-1].float()  # [R, T-1, V]
    targets = labels[:, 1:]
    owners = sequence_ids[:, 1:]
    trained = targets != IGNORE_INDEX
    token_logps = logits.gather(-1, targets.clamp(min=0)[..., None]).squeeze(-1) - torch.logsumexp(logits, -1)
    index = owners[trained]
    zeros = torch.zeros(num_sequences, device=logits.device, dtype=torch.float32)
    logps = zeros.index_add(0, index, token_logps[trained])
    counts = zeros.index_add(0, index, torch.ones_like(token_logps[trained]))
    logit_means = zeros.index_add(0, index, logits.mean(-1)[trained].detach())
    return logps, counts, logit_means


def target_logps(
    logits: torch.Tensor, target_ids: torch.Tensor, target_sequence: torch.Tensor, num_sequences: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The same three per-sequence sums as :func:`sequence_logps`, from logits already gathered at the
    positions that predict each target token (the prompt-shared layout). ``logits`` [N, V], targets [N].

    >>> logps, counts, _ = target_logps(torch.zeros(3, 2), torch.tensor([1, 0, 1]), torch.tensor([0, 0, 1]), 2)
    >>> [round(x, 4) for x in logps.tolist()], counts.tolist()
    ([-1.3863, -0.6931], [2.0, 1.0])
    """
    logits = logits.float()
    token_logps = logits.gather(-1, target_ids[:, None]).squeeze(-1) - torch.logsumexp(logits, -1)
    zeros = torch.zeros(num_sequences, device=logits.device, dtype=torch.float32)
    logps = zeros.index_add(0, target_sequence, token_logps)
    counts = zeros.index_add(0, target_sequence, torch.ones_like(token_logps))
    logit_means = zeros.index_add(0, target_sequence, logits.mean(-1).detach())
    return logps, counts, logit_means


def dpo_loss(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """−(1−ε) log σ(βh) − ε log σ(−βh), per pair.

    >>> one = torch.tensor([1.0])
    >>> round(float(dpo_loss(one * -4, one * -6, one * -5, one * -5, beta=0.5, label_smoothing=0.1)[0]), 4)
    0.4133
    """
    h = (chosen - ref_chosen) - (rejected - ref_rejected)
    return -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)


def ipo_loss(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    chosen_tokens: torch.Tensor,
    rejected_tokens: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """(h̄ − 1/(2β))², h̄ from per-token averaged log-ratios (as TRL computes IPO).

    >>> one = torch.tensor([1.0])
    >>> float(ipo_loss(one * -4, one * -6, one * -5, one * -5, one * 2, one * 1, beta=0.5)[0])  # (0.5 + 1 − 1)²
    0.25
    """
    h = (chosen - ref_chosen) / chosen_tokens.clamp(min=1) - (
        rejected - ref_rejected
    ) / rejected_tokens.clamp(min=1)
    return (h - 1 / (2 * beta)) ** 2


def hinge_loss(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """max(0, 1 − βh).

    >>> one = torch.tensor([1.0])
    >>> float(hinge_loss(one * -4, one * -6, one * -5, one * -5, beta=0.25)[0])  # 1 − 0.25·2
    0.5
    """
    return torch.relu(1 - beta * ((chosen - ref_chosen) - (rejected - ref_rejected)))


def simpo_loss(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    chosen_tokens: torch.Tensor,
    rejected_tokens: torch.Tensor,
    beta: float,
    gamma: float,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """−log σ(β(π_c/|c| − π_r/|r|) − γ), no reference.

    >>> one = torch.tensor([1.0])
    >>> round(float(simpo_loss(one * -2, one * -6, one * 2, one * 2, beta=2.0, gamma=1.0)[0]), 4)  # −log σ(2·2 − 1)
    0.0486
    """
    margin = beta * (chosen / chosen_tokens.clamp(min=1) - rejected / rejected_tokens.clamp(min=1)) - gamma
    return -(1 - label_smoothing) * F.logsigmoid(margin) - label_smoothing * F.logsigmoid(-margin)


def orpo_odds_loss(
    chosen: torch.Tensor, rejected: torch.Tensor, chosen_tokens: torch.Tensor, rejected_tokens: torch.Tensor
) -> torch.Tensor:
    """−log σ(log odds_c − log odds_r), odds = p/(1−p), p = exp(length-averaged log-prob); ORPO adds
    λ times this to the chosen NLL.

    >>> one = torch.tensor([1.0])
    >>> p_c, p_r = torch.log(one * 0.5), torch.log(one * 0.2)    # log odds 0 and log 0.25
    >>> round(float(orpo_odds_loss(p_c, p_r, one, one)[0]), 4)   # −log σ(log 4) = log 1.25
    0.2231
    """
    avg_c = chosen / chosen_tokens.clamp(min=1)
    avg_r = rejected / rejected_tokens.clamp(min=1)
    log_odds = (avg_c - avg_r) - (torch.log1p(-torch.exp(avg_c)) - torch.log1p(-torch.exp(avg_r)))
    return -F.logsigmoid(log_odds)


def kto_loss(
    logps: torch.Tensor,
    ref_logps: torch.Tensor,
    desirable: torch.Tensor,
    kl: torch.Tensor,
    beta: float,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> torch.Tensor:
    """Per completion: λ_D(1 − σ(β(r − z))) if desirable, λ_U(1 − σ(β(z − r))) if not; r = π − ρ,
    z = max(0, kl), detached (the reference point, not a path for gradients).

    >>> r = torch.tensor([-1.0, -1.0])
    >>> loss = kto_loss(r + 1, r, torch.tensor([True, False]), torch.tensor(0.0), beta=1.0)  # r = 1
    >>> [round(x, 4) for x in loss.tolist()]  # 1 − σ(1), 1 − σ(−1)
    [0.2689, 0.7311]
    """
    z = kl.detach().clamp(min=0)
    r = logps - ref_logps
    good = desirable_weight * (1 - torch.sigmoid(beta * (r - z)))
    bad = undesirable_weight * (1 - torch.sigmoid(beta * (z - r)))
    return torch.where(desirable, good, bad)
