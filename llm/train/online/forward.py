"""What both online-RL loops compute from a model and its rollouts: log-probs of the sampled tokens under
logits ÷ temperature, the entropy there, and the cut after the first EOS. Shapes: ``B`` rollouts, ``T``
response tokens (or, for :func:`sequence_logprobs`, the whole sequence).

>>> import torch
>>> truncate_after_eos(torch.tensor([[5, 2, 7, 8], [5, 6, 7, 8]]), eos_id=2, pad_id=0)
(tensor([[5, 2, 0, 0],
        [5, 6, 7, 8]]), tensor([[1., 1., 0., 0.],
        [1., 1., 1., 1.]]), tensor([ True, False]))
"""

from __future__ import annotations

from typing import Any

import torch

from llm.data.collate import accepts_logits_to_keep


def truncate_after_eos(
    responses: torch.Tensor, eos_id: int, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Everything after the first EOS becomes padding. Returns (responses, mask, has_eos). [B, T]."""
    is_eos = responses == eos_id
    has_eos = is_eos.any(dim=1)
    first = torch.where(
        has_eos,
        is_eos.float().argmax(dim=1),
        torch.full_like(has_eos, responses.shape[1] - 1, dtype=torch.long),
    )
    positions = torch.arange(responses.shape[1], device=responses.device)[None, :]
    mask = (positions <= first[:, None]).float()
    return torch.where(mask.bool(), responses, torch.full_like(responses, pad_id)), mask, has_eos


def penalize_missing_eos(scores: torch.Tensor, has_eos: torch.Tensor, penalty: float | None) -> torch.Tensor:
    """Responses that never ended get ``penalty`` instead of their score (−1 in the TL;DR recipe).

    >>> penalize_missing_eos(torch.tensor([0.5, 0.5]), torch.tensor([True, False]), -1.0).tolist()
    [0.5, -1.0]
    """
    if penalty is None:
        return scores
    return torch.where(has_eos, scores, torch.full_like(scores, penalty))


def token_logprobs(
    logits: torch.Tensor, targets: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-prob of each target under logits ÷ temperature, and the entropy there. [B, T, V], [B, T] → [B, T].

    >>> logp, entropy = token_logprobs(torch.zeros(1, 1, 4), torch.tensor([[2]]), temperature=0.7)
    >>> round(float(logp), 4), round(float(entropy), 4)  # uniform over 4: log ¼, log 4
    (-1.3863, 1.3863)
    """
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return logp.gather(-1, targets[..., None]).squeeze(-1), -(logp.exp() * logp).sum(-1)


def joined(
    queries: torch.Tensor, query_mask: torch.Tensor, responses: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded queries followed by their responses: ``(ids, attention mask, position ids)``, [B, P + T]."""
    ids = torch.cat([queries, responses], dim=1)
    mask = torch.cat([query_mask, torch.ones_like(responses)], dim=1)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions


def response_logprobs(
    model: Any, queries: torch.Tensor, query_mask: torch.Tensor, responses: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of the response tokens under ``model`` with logits ÷ temperature, and the entropy. [B, T].
    The LM head runs only over the positions that predict a response token (``logits_to_keep``, where the
    model takes it): the query's logits would be a vocabulary-wide projection each, computed and thrown away."""
    ids, mask, positions = joined(queries, query_mask, responses)
    width = responses.shape[1]
    keep = {"logits_to_keep": width + 1} if accepts_logits_to_keep(getattr(model, "module", model)) else {}
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False, **keep).logits
    return token_logprobs(logits[:, -width - 1 : -1], responses, temperature)  # position i predicts i+1


def sequence_logprobs(
    model: Any, ids: torch.Tensor, mask: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-prob of token ``t`` given the tokens before it, for ``t ≥ 1``, logits ÷ temperature, and the
    entropy there. [B, T] → two [B, T−1]."""
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits
    return token_logprobs(logits[:, :-1], ids[:, 1:], temperature)
