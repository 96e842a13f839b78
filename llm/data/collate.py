"""Collators: rows of ``input_ids`` / ``labels`` (/ ``position_ids``) → a training batch.

**Padding-free** (the default): no attention mask; ``position_ids`` restart at 0 at every sample, which is
how transformers keeps samples apart (FlashAttention-2 varlen, or a block-diagonal mask for sdpa/eager when
``use_cache=False``). The first label of every sample is set to −100, so no sample is trained to predict its
first token from the sample before. Two layouts, the same loss:

- ``flatten=True`` — the rows of a batch end to end in one sequence, not a single pad token (best with
  FlashAttention-2, whose varlen kernel costs nothing for the joins)::

      rows       [a0 a1 a2]            [b0 b1 | c0 c1]   (the second row is already packed: positions 0 1 0 1)
      input_ids  [[a0   a1 a2 b0   b1 c0   c1]]
      labels     [[-100 a1 a2 -100 b1 -100 c1]]
      position   [[0    1  2  0    1  0    1 ]]

- ``flatten=False`` — one row per batch row, shorter rows filled up with a filler *sample* (positions
  restarting at 0, labels −100) that no real token attends to. For attention that builds a mask (sdpa and
  eager, e.g. on CPU) this is cheaper: the mask is per row, not over the whole batch::

      input_ids  [[a0   a1 a2]        [[b0   b1 c0   c1]
      labels      [-100 a1 a2 -100]     [-100 b1 -100 c1]]
      position    [0    1  2  0   ]     [0    1  0    1 ]]      (a's row filled with one filler token)

>>> rows = [{"input_ids": [5, 6, 7], "labels": [5, 6, 7]}, {"input_ids": [8, 9], "labels": [-100, 9]}]
>>> batch = PaddingFreeCollator(flatten=True)(rows)
>>> batch["input_ids"].tolist(), batch["labels"].tolist(), batch["position_ids"].tolist()
([[5, 6, 7, 8, 9]], [[-100, 6, 7, -100, 9]], [[0, 1, 2, 0, 1]])
>>> PaddingFreeCollator(flatten=False)(rows)["position_ids"].tolist()
[[0, 1, 2], [0, 1, 0]]

**Padded**: the familiar layout (pad to the longest row, attention mask), for comparison and for models
that cannot take packed sequences. It refuses packed rows, whose samples it could not keep apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from llm.data.encode import IGNORE_INDEX
from llm.errors import UserError


@dataclass
class PaddingFreeCollator:
    flatten: bool = True
    filler_token_id: int = 0  # any id: filler tokens are their own sample, unattended and untrained

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        rows = [_row(f) for f in features]
        if self.flatten:
            rows = [tuple(sum((list(r[k]) for r in rows), []) for k in range(3))]
        else:
            longest = max(len(ids) for ids, _, _ in rows)
            rows = [
                (ids + [self.filler_token_id] * (longest - len(ids)),
                 labels + [IGNORE_INDEX] * (longest - len(ids)),
                 positions + list(range(longest - len(ids))))
                for ids, labels, positions in rows
            ]  # fmt: skip
        return {
            "input_ids": torch.tensor([r[0] for r in rows], dtype=torch.long),  # [B, T] (B = 1 when flat)
            "labels": torch.tensor([r[1] for r in rows], dtype=torch.long),
            "position_ids": torch.tensor([r[2] for r in rows], dtype=torch.long),
        }


def padding_free_for(model: Any, tokenizer: Any) -> PaddingFreeCollator:
    """The padding-free layout that suits the model's attention: one long sequence for FlashAttention-2's
    varlen kernel, rows for attention that builds a mask (sdpa, eager)."""
    flatten = getattr(model.config, "_attn_implementation", None) == "flash_attention_2"
    return PaddingFreeCollator(flatten=flatten, filler_token_id=tokenizer.pad_token_id or 0)


def _row(feature: dict[str, Any]) -> tuple[list[int], list[int], list[int]]:
    """(ids, labels, positions) of one row, with every sample's first label set to −100."""
    ids = list(feature["input_ids"])
    positions = (
        list(feature["position_ids"]) if feature.get("position_ids") is not None else list(range(len(ids)))
    )
    labels = [IGNORE_INDEX if p == 0 else lab for lab, p in zip(feature["labels"], positions, strict=True)]
    return ids, labels, positions


def pad(
    rows: Sequence[Sequence[int]], value: int, side: Literal["left", "right"] = "right"
) -> tuple[Any, Any]:
    """Rows of ids → ``(ids [B, T], attention_mask [B, T])``, filled with ``value`` on ``side`` — the one
    padding helper (collators, reward scoring, batched generation, PPO queries).

    >>> ids, mask = pad([[5, 6, 7], [8]], value=0, side="left")
    >>> ids.tolist(), mask.tolist()
    ([[5, 6, 7], [0, 0, 8]], [[1, 1, 1], [0, 0, 1]])
    """
    import torch

    longest = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), longest), value, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        span = slice(longest - len(row), longest) if side == "left" else slice(0, len(row))
        ids[i, span] = torch.as_tensor(list(row), dtype=torch.long)
        mask[i, span] = 1
    return ids, mask


@dataclass
class PaddedCollator:
    pad_token_id: int

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        if any(f.get("position_ids") is not None and list(f["position_ids"]).count(0) > 1 for f in features):
            raise UserError("padded batches cannot keep packed samples apart; use the padding-free collator")
        ids, mask = pad([f["input_ids"] for f in features], self.pad_token_id)  # [B, T]
        labels, _ = pad([f["labels"] for f in features], IGNORE_INDEX)
        labels[:, 0] = IGNORE_INDEX
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
