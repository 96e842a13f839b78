"""Collators: rows of ``input_ids`` / ``labels`` (/ ``position_ids``) → a training batch.

**Padding-free** (the default): the rows of a batch are laid end to end in one sequence, no padding, no
attention mask; ``position_ids`` restart at 0 at every sample, which is how transformers isolates them
(FlashAttention-2 varlen, or a block-diagonal mask for sdpa/eager when ``use_cache=False``). The first label
of every sample is set to −100, so no sample is trained to predict its first token from the sample before::

    rows       [a0 a1 a2]            [b0 b1 | c0 c1]   (the second row is already packed: positions 0 1 0 1)
    input_ids  [[a0   a1 a2 b0   b1 c0   c1]]
    labels     [[-100 a1 a2 -100 b1 -100 c1]]
    position   [[0    1  2  0    1  0    1 ]]

>>> batch = PaddingFreeCollator()([{"input_ids": [5, 6, 7], "labels": [5, 6, 7]}, {"input_ids": [8, 9], "labels": [-100, 9]}])
>>> batch["input_ids"].tolist(), batch["labels"].tolist(), batch["position_ids"].tolist()
([[5, 6, 7, 8, 9]], [[-100, 6, 7, -100, 9]], [[0, 1, 2, 0, 1]])

**Padded**: the familiar layout (pad to the longest row, attention mask), for comparison and for models
that cannot take packed sequences. It refuses packed rows, whose samples it could not keep apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llm.data.encode import IGNORE_INDEX


@dataclass
class PaddingFreeCollator:
    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        input_ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for f in features:
            ids = list(f["input_ids"])
            pos = list(f["position_ids"]) if f.get("position_ids") is not None else list(range(len(ids)))
            lab = list(f["labels"])
            for k, p in enumerate(pos):
                if p == 0:
                    lab[k] = IGNORE_INDEX
            input_ids.extend(ids)
            labels.extend(lab)
            positions.extend(pos)
        return {
            "input_ids": torch.tensor([input_ids], dtype=torch.long),  # [1, T]
            "labels": torch.tensor([labels], dtype=torch.long),
            "position_ids": torch.tensor([positions], dtype=torch.long),
        }


@dataclass
class PaddedCollator:
    pad_token_id: int

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        if any(f.get("position_ids") is not None and list(f["position_ids"]).count(0) > 1 for f in features):
            raise ValueError("padded batches cannot keep packed samples apart; use the padding-free collator")
        longest = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), longest), self.pad_token_id, dtype=torch.long)  # [B, T]
        labels = torch.full((len(features), longest), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(features), longest), dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"])
            labels[i, :n] = torch.tensor(f["labels"])
            labels[i, 0] = IGNORE_INDEX
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
