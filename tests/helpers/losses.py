"""The reference every packing test compares against (each sample's own loss, alone, no packing), and the
trained runs of a label row that the mask tests read."""

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


def trained_runs(labels: list[int]) -> list[tuple[int, int]]:
    """Maximal runs of trained positions, as ``[start, end)``.

    >>> trained_runs([IGNORE_INDEX, 5, 6, IGNORE_INDEX, 7])
    [(1, 3), (4, 5)]
    """
    runs, start = [], None
    for i, label in enumerate([*labels, IGNORE_INDEX]):
        if label != IGNORE_INDEX and start is None:
            start = i
        elif label == IGNORE_INDEX and start is not None:
            runs.append((start, i))
            start = None
    return runs
