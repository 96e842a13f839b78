"""The reference every packing test compares against: each sample's own loss, alone, no packing."""

import torch

from llm.data.encode import IGNORE_INDEX


def separate_loss(model, samples):
    """Token-weighted mean of each sample's own loss (each sample alone, no packing)."""
    total, count = 0.0, 0
    with torch.no_grad():
        for s in samples:
            out = model(
                input_ids=torch.tensor([s.input_ids]), labels=torch.tensor([s.labels]), use_cache=False
            )
            n = sum(1 for lab in s.labels[1:] if lab != IGNORE_INDEX)
            total += out.loss.item() * n
            count += n
    return total / count
