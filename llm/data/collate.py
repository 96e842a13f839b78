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


@dataclass
class PreferenceCollator:
    """Preference rows → one batch of *sequences* for DPO and its family, padding-free or padded.

    Paired rows (``chosen_*`` / ``rejected_*``) give sequences ``chosen_0, rejected_0, chosen_1, …``;
    unpaired (KTO) rows give their completions, then — for KTO's reference point — one mismatched sequence
    per row: row ``i``'s prompt with row ``i+1``'s completion. ``sequence_ids[r, t]`` says which sequence
    the label at position ``t`` belongs to (−1: no sequence), so per-sequence log-probs are one
    ``index_add`` away (:func:`llm.train.preference_losses.sequence_logps`).

    Padding-free (``padded=False``), each pair is one row — its chosen and rejected sequences end to end,
    ``position_ids`` restarting at 0 — filled up with a filler sample (``flatten=False``, for sdpa / eager), or
    every sequence of the batch in one row (``flatten=True``, for FlashAttention-2)::

        pair 0   [c0 c0 c0 | r0 r0]          position_ids [0 1 2 | 0 1]      sequence_ids [0 0 0 | 1 1]
        pair 1   [c1 c1 | r1 r1 r1]          position_ids [0 1 | 0 1 2]      sequence_ids [2 2 | 3 3 3]

    Padded, each sequence is its own right-padded row with an attention mask.

    >>> rows = [{"chosen_input_ids": [5, 6, 7], "chosen_labels": [-100, 6, 7],
    ...          "rejected_input_ids": [5, 8], "rejected_labels": [-100, 8]}]
    >>> batch = PreferenceCollator()(rows)
    >>> batch["input_ids"].tolist(), batch["position_ids"].tolist(), batch["sequence_ids"].tolist()
    ([[5, 6, 7, 5, 8]], [[0, 1, 2, 0, 1]], [[0, 0, 0, 1, 1]])
    >>> batch["labels"].tolist()
    [[-100, 6, 7, -100, 8]]
    """

    flatten: bool = False
    padded: bool = False
    filler_token_id: int = 0

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        sequences, extra = self.sequences(features)
        if self.padded:
            ids, mask = pad([s[0] for s in sequences], self.filler_token_id)  # [N, T]
            labels, _ = pad([s[1] for s in sequences], IGNORE_INDEX)
            seq_ids = torch.where(
                mask.bool(), torch.arange(len(sequences))[:, None], torch.full_like(mask, -1)
            )
            batch = {"input_ids": ids, "labels": labels, "attention_mask": mask, "sequence_ids": seq_ids}
        else:
            group = len(sequences) if self.flatten else 2 if "chosen_input_ids" in features[0] else 1
            rows = []
            for start in range(0, len(sequences), group):
                row: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])
                for k, (ids, labels) in enumerate(sequences[start : start + group], start=start):
                    row[0].extend(ids)
                    row[1].extend(labels)
                    row[2].extend(range(len(ids)))
                    row[3].extend([k] * len(ids))
                rows.append(row)
            longest = max(len(r[0]) for r in rows)
            fill = [longest - len(r[0]) for r in rows]
            batch = {
                "input_ids": torch.tensor([r[0] + [self.filler_token_id] * n for r, n in zip(rows, fill)]),
                "labels": torch.tensor([r[1] + [IGNORE_INDEX] * n for r, n in zip(rows, fill)]),
                "position_ids": torch.tensor([r[2] + list(range(n)) for r, n in zip(rows, fill)]),
                "sequence_ids": torch.tensor([r[3] + [-1] * n for r, n in zip(rows, fill)]),
            }
        return {**batch, **extra}

    @staticmethod
    def sequences(
        features: Sequence[dict[str, Any]],
    ) -> tuple[list[tuple[list[int], list[int]]], dict[str, Any]]:
        """``(ids, labels)`` of every sequence of the batch (first label −100), and the per-row extras."""
        import torch

        def first_untrained(ids, labels) -> tuple[list[int], list[int]]:
            return list(ids), [IGNORE_INDEX, *list(labels)[1:]]

        extra: dict[str, Any] = {}
        if "chosen_input_ids" in features[0]:
            sequences = [
                first_untrained(f[f"{side}_input_ids"], f[f"{side}_labels"])
                for f in features
                for side in ("chosen", "rejected")
            ]
            if "ref_chosen_logps" in features[0]:
                extra["ref_logps"] = torch.tensor(
                    [f[f"ref_{side}_logps"] for f in features for side in ("chosen", "rejected")]
                )
            return sequences, extra
        sequences = [first_untrained(f["input_ids"], f["labels"]) for f in features]
        n = len(features)
        for i, f in enumerate(features):  # KTO's mismatched pairs: prompt i, completion i+1
            other = features[(i + 1) % n]
            p, q = f["prompt_length"], other["prompt_length"]
            ids = list(f["input_ids"][:p]) + list(other["input_ids"][q:])
            labels = [IGNORE_INDEX] * p + list(other["labels"][q:])
            sequences.append(first_untrained(ids, labels))
        extra["desirable"] = torch.tensor([bool(f["desirable"]) for f in features])
        return sequences, extra
