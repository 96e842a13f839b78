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


def logits_at_labels(batch: dict[str, Any]) -> dict[str, Any]:
    """The batch plus ``logits_to_keep``, a ``[B, T]`` mask of the positions whose *next* token is trained, and
    ``shift_labels``, those next tokens flattened: a causal LM then projects onto its vocabulary and takes the
    cross-entropy only there, as TRL's ``SFTTrainer`` does. The loss is the same (mean over trained tokens);
    what is saved is the LM head and the log-softmax over every untrained position — on SmolLM2 (vocabulary
    49,152, hidden 576) a large part of a LoRA step on CPU. A batch with nothing trained is left as it is.

    >>> import torch
    >>> out = logits_at_labels({"input_ids": torch.tensor([[5, 6, 7, 8]]), "labels": torch.tensor([[-100, -100, 7, 8]])})
    >>> out["logits_to_keep"].tolist(), out["shift_labels"].tolist()
    ([[False, True, True, False]], [7, 8])
    """
    import torch

    labels = batch["labels"]
    shifted = torch.nn.functional.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:]  # [B, T] the next token
    keep = shifted != IGNORE_INDEX
    if not keep.any():
        return batch
    return {**batch, "logits_to_keep": keep, "shift_labels": shifted[keep]}


@dataclass
class LogitsAtLabels:
    """A collator whose batches carry :func:`logits_at_labels`' two keys (for models whose ``forward`` takes
    ``logits_to_keep``; see :func:`accepts_logits_to_keep`)."""

    inner: Any

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return logits_at_labels(self.inner(features))


def accepts_logits_to_keep(model: Any) -> bool:
    """Whether the (possibly LoRA-wrapped) model's ``forward`` takes ``logits_to_keep`` and computes its loss
    with transformers' causal-LM loss (which reads ``shift_labels``): the Llama family, Qwen, Mistral, ...;
    not custom code such as Baichuan2's."""
    import inspect

    from transformers.loss.loss_utils import LOSS_MAPPING

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        causal_loss = base.loss_function is LOSS_MAPPING["ForCausalLM"]
    except (AttributeError, KeyError):
        return False
    return causal_loss and "logits_to_keep" in inspect.signature(base.forward).parameters


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
    """Preference rows → one batch of *sequences* for DPO and its family: prompt shared, padding-free, or padded.

    Paired rows (``chosen_*`` / ``rejected_*``) give sequences ``chosen_0, rejected_0, chosen_1, …``;
    unpaired (KTO) rows give their completions, then — for KTO's reference point — one mismatched sequence
    per row: row ``i``'s prompt with row ``i+1``'s completion.

    **Prompt shared** (``share_prompt``, the default for pairs under masked attention — sdpa, eager): each pair
    is one row, its prompt once, then the chosen completion, then the rejected one; a 4-D attention mask lets
    the rejected tokens see the prompt but not the chosen ones, and ``position_ids`` restart the rejected
    completion where the prompt ends. Role-play prompts (card, history) are most of a pair's tokens, so a pair
    costs about half the forward of two sequences, with the same log-probs and gradients. Rows are filled on
    the left with a filler block, so every row's completions end at the same column, and the model computes
    logits only for the last ``logits_to_keep`` columns. The log-probs are read at ``target_index`` (into
    those logits, flattened), ``target_ids``, summed per ``target_sequence``::

        row      [fill | p p p | c c | r r r]       position_ids [0 | 0 1 2 | 3 4 | 3 4 5]
        targets  c's first token and r's first token are both read at the last prompt position

    **Padding-free** (``share_prompt=False``): each pair's chosen and rejected sequences end to end in one row
    (every sequence of the batch in one row with ``flatten``, for FlashAttention-2, whose varlen kernel keeps
    them apart and cannot take a 4-D mask), ``position_ids`` restarting at 0; ``sequence_ids[r, t]`` says
    which sequence the label at ``t`` belongs to (−1: none). **Padded**: each sequence its own right-padded
    row with an attention mask.

    >>> rows = [{"chosen_input_ids": [5, 6, 7], "chosen_labels": [-100, 6, 7],
    ...          "rejected_input_ids": [5, 8], "rejected_labels": [-100, 8]}]
    >>> batch = PreferenceCollator(share_prompt=False)(rows)
    >>> batch["input_ids"].tolist(), batch["position_ids"].tolist(), batch["sequence_ids"].tolist()
    ([[5, 6, 7, 5, 8]], [[0, 1, 2, 0, 1]], [[0, 0, 0, 1, 1]])
    >>> shared = PreferenceCollator()(rows)
    >>> shared["input_ids"].tolist(), shared["position_ids"].tolist()
    ([[5, 6, 7, 8]], [[0, 1, 2, 1]])
    >>> shared["target_ids"].tolist(), shared["target_sequence"].tolist(), shared["logits_to_keep"]
    ([6, 7, 8], [0, 0, 1], 4)
    """

    flatten: bool = False
    padded: bool = False
    share_prompt: bool = True
    filler_token_id: int = 0

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        paired = "chosen_input_ids" in features[0]
        if paired and self.share_prompt and not (self.flatten or self.padded):
            return self.shared(features)
        sequences, extra = self.sequences(features)
        if self.padded:
            ids, mask = pad([s[0] for s in sequences], self.filler_token_id)  # [N, T]
            labels, _ = pad([s[1] for s in sequences], IGNORE_INDEX)
            seq_ids = torch.where(
                mask.bool(), torch.arange(len(sequences))[:, None], torch.full_like(mask, -1)
            )
            batch = {"input_ids": ids, "labels": labels, "attention_mask": mask, "sequence_ids": seq_ids}
        else:
            group = len(sequences) if self.flatten else 2 if paired else 1
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

    def shared(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Pairs with their prompt once (see the class docstring)."""
        import torch

        parts = []
        for f in features:
            chosen, rejected = list(f["chosen_input_ids"]), list(f["rejected_input_ids"])
            c_labels, r_labels = list(f["chosen_labels"]), list(f["rejected_labels"])
            p = 0  # the shared prompt: common ids before either side's first trained token
            limit = min(_first_trained(c_labels), _first_trained(r_labels), len(chosen), len(rejected))
            while p < limit and chosen[p] == rejected[p]:
                p += 1
            if p == 0:  # `process` drops such pairs ("prompt encoded differently"): rows from elsewhere
                raise ValueError("a pair whose sides share no prompt tokens cannot share a prompt")
            parts.append((chosen[:p], chosen[p:], c_labels[p:], rejected[p:], r_labels[p:]))
        width = max(len(prompt) + len(c) + len(r) for prompt, c, _, r, _ in parts)
        keep = max(len(c) + len(r) for _, c, _, r, _ in parts) + 1
        ids, positions, segments = [], [], []
        target_index, target_ids, target_sequence = [], [], []
        for k, (prompt, c, c_labels, r, r_labels) in enumerate(parts):
            fill = width - len(prompt) - len(c) - len(r)
            ids.append([self.filler_token_id] * fill + prompt + c + r)
            positions.append(
                [*range(fill), *range(len(prompt) + len(c)), *range(len(prompt), len(prompt) + len(r))]
            )
            segments.append([0] * fill + [1] * len(prompt) + [2] * len(c) + [3] * len(r))
            last_prompt = fill + len(prompt) - 1
            for side, tokens, labels, start in (
                (0, c, c_labels, last_prompt + 1),
                (1, r, r_labels, last_prompt + 1 + len(c)),
            ):
                for t, (token, label) in enumerate(zip(tokens, labels, strict=True)):
                    if label == IGNORE_INDEX:
                        continue
                    source = last_prompt if t == 0 else start + t - 1  # the position that predicts it
                    target_index.append(k * keep + source - (width - keep))
                    target_ids.append(token)
                    target_sequence.append(2 * k + side)
        seg = torch.tensor(segments)  # [R, T]: 0 filler, 1 prompt, 2 chosen, 3 rejected
        i, j = seg[:, :, None], seg[:, None, :]
        causal = torch.ones(width, width, dtype=torch.bool).tril()
        sees = (i == j) | ((j == 1) & (i >= 2))  # own block; the completions also see the prompt
        batch = {
            "input_ids": torch.tensor(ids),
            "position_ids": torch.tensor(positions),
            "attention_mask": (causal & sees)[:, None],  # [R, 1, T, T]
            "logits_to_keep": keep,
            "target_index": torch.tensor(target_index),
            "target_ids": torch.tensor(target_ids),
            "target_sequence": torch.tensor(target_sequence),
        }
        if "ref_chosen_logps" in features[0]:
            batch["ref_logps"] = torch.tensor(
                [f[f"ref_{s}_logps"] for f in features for s in ("chosen", "rejected")]
            )
        return batch

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


def _first_trained(labels: Sequence[int]) -> int:
    return next((i for i, x in enumerate(labels) if x != IGNORE_INDEX), len(labels))
