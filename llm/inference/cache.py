"""Multi-turn generation that reads each conversation once: every conversation's KV cache kept across turns.

A conversation's prompt at turn *t+1* starts with its prompt at turn *t* (the templates guarantee it: every
inference prompt is a token prefix of the next one), so the keys and values computed for turn *t* — the
prompt and the reply generated after it — hold for turn *t+1* up to where the ids first differ. A
:class:`PrefixCache` remembers, for each conversation it has served, the ids it holds keys and values for;
a new prompt reuses the entry sharing its longest common prefix and only the rest is run through the model
(the new user turn and the template's scaffolding). Nothing needs to name a conversation: a probe asked in a
branch (conversation + a question that is not kept) finds the conversation's entry the same way, and the next
real turn finds the part the branch shares with it. The keys and values of a position depend only on the
tokens up to it, so a shared prefix is all that reuse needs; a mismatch anywhere (a reply re-tokenised
differently, an exchange dropped to fit the context) just means a shorter reuse.

How a batch of rows with different cached lengths ``m_i`` and new lengths ``n_i`` is laid out for
``model.generate`` (``P = max m_i``, ``N = max n_i``; ``.`` a pad, masked out; the position ids follow from
the mask, so each row's new tokens continue at ``m_i``)::

    cache (P)        new (N)
    . . c c c c  |  . n n        row 0: m=4 cached, n=2 new
    c c c c c c  |  n n n        row 1: m=6, n=3
    . . . . . .  |  n n n        row 2: nothing cached (a first turn), n=3

The cached part is handed to ``generate`` as a batched ``DynamicCache`` of length ``P`` (each row's entry
left-padded with zeros); ``generate`` runs only the last ``N`` columns and then decodes as usual, so
sampling, stop strings and stopping criteria are exactly those of a plain call. After it, each row's keys
and values (cached + new + generated tokens, pads left out) become that conversation's entry, replacing the
one it went on from (a probe's branch thus takes over from its conversation's entry; the next real turn
reuses all they share, and the branch's own tail is left to eviction). Entries are dropped least recently
used first once they hold more than ``max_tokens`` tokens, and all of them when the model's weights change
(a training step, a weight load).

>>> cache = PrefixCache(max_tokens=100)
>>> cache.longest_prefix([1, 2, 3])
(None, 0)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from itertools import count
from typing import Any

import torch
from transformers import DynamicCache

from llm.data.collate import pad

# Tokens kept, all conversations together: 64 conversations of 1,000 tokens. A token costs
# layers × 2 × kv_heads × head_dim × 4 bytes in float32: 46 KB for SmolLM2-135M (3 GB in all).
DEFAULT_MAX_TOKENS = 1 << 16


@dataclass
class Entry:
    """One conversation's keys and values: ``layers[l] = (keys, values)``, each ``[heads, len(ids), dim]``."""

    ids: torch.Tensor  # [T] the tokens the keys and values were computed for, in order
    layers: list[tuple[torch.Tensor, torch.Tensor]]
    prompt_length: int  # how many of ``ids`` were the prompt (the rest were generated)


@dataclass
class CachedBatch:
    """What ``model.generate`` gets, and what :meth:`PrefixCache.store` needs to keep each row afterwards."""

    input_ids: torch.Tensor  # [B, P + N]: cached part (left-padded) | new part (left-padded)
    attention_mask: torch.Tensor  # [B, P + N]: 0 at every pad
    kv: Any  # a DynamicCache of length P (empty when nothing is reused), filled in place by generate
    sources: list[int | None]  # the entry each row reused
    reused: list[int]  # m_i: how many of each row's prompt ids came from the cache

    def generate_kwargs(self) -> dict[str, Any]:
        """``input_ids``, ``attention_mask`` and the cache, for ``model.generate``."""
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask, "cache": self.kv}


def cacheable(model: Any) -> bool:
    """Whether every layer attends to the whole past (no sliding window, no recurrent state): the layout above
    holds only then; other models get a full prefill every turn."""
    config = getattr(model, "config", None)
    if config is None:
        return False
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    types = getattr(text, "layer_types", None)
    if types is not None:
        return all(t == "full_attention" for t in types)
    return getattr(text, "sliding_window", None) is None or not getattr(text, "use_sliding_window", True)


def weights_version(model: Any) -> tuple[int, int]:
    """What changes whenever the weights do: every parameter's in-place write counter (an optimizer step,
    ``load_state_dict``, a LoRA merge all write in place) and where the parameters live (``model.to(...)``
    makes new ones). Cached keys and values computed before a change are stale after it."""
    params = list(model.parameters())
    return sum(p._version for p in params), hash(tuple(p.data_ptr() for p in params))


class PrefixCache:
    """Keys and values of the conversations a model has been generating for, keyed by their token ids."""

    def __init__(self, max_tokens: int = DEFAULT_MAX_TOKENS):
        if max_tokens < 1:
            raise ValueError(f"max_tokens {max_tokens}: must be 1 or more")
        self.max_tokens = max_tokens
        self.entries: OrderedDict[int, Entry] = OrderedDict()  # least recently used first
        self._keys = count()
        self._version: tuple[int, int] | None = None
        self.reused_tokens = self.prefilled_tokens = 0  # totals, for reports and tests

    @property
    def tokens(self) -> int:
        """Tokens held, all entries together."""
        return sum(len(e.ids) for e in self.entries.values())

    def clear(self) -> None:
        self.entries.clear()

    def drop(self, key: int | None) -> None:
        """Forget one entry (a finished conversation); unknown keys are ignored."""
        if key is not None:
            self.entries.pop(key, None)

    def longest_prefix(self, ids: list[int]) -> tuple[int | None, int]:
        """The entry sharing the longest prefix with ``ids``, and its length — at most ``len(ids) - 1``, so
        that at least one token is run to give the next token's logits.

        >>> cache = PrefixCache()
        >>> cache.entries[7] = Entry(torch.tensor([1, 2, 3, 9]), [], prompt_length=3)
        >>> cache.longest_prefix([1, 2, 3, 4, 5]), cache.longest_prefix([1, 2, 3]), cache.longest_prefix([5])
        ((7, 3), (7, 2), (None, 0))
        """
        best, best_len = None, 0
        query = torch.tensor(ids, dtype=torch.long)
        for key, entry in self.entries.items():
            n = min(len(entry.ids), len(ids) - 1)
            if n <= best_len:
                continue
            differs = (entry.ids[:n] != query[:n]).nonzero()
            common = int(differs[0]) if len(differs) else n
            if common > best_len:
                best, best_len = key, common
        return best, best_len

    def prepare(self, model: Any, prompts: list[list[int]], pad_id: int) -> CachedBatch:
        """The batch for ``model.generate``: each prompt's longest cached prefix reused, the rest to run."""
        device = model.device
        version = weights_version(model)
        if version != self._version:
            self.clear()  # the weights changed since these were computed
            self._version = version
        found = [self.longest_prefix(ids) for ids in prompts]
        sources = [key for key, _ in found]
        reused = [m for _, m in found]
        width = max(reused)
        if width == 0:  # nothing to reuse: exactly a plain left-padded batch, and an empty cache to fill
            input_ids, mask = pad(prompts, pad_id, side="left")
            self.prefilled_tokens += sum(len(p) for p in prompts)
            return CachedBatch(input_ids.to(device), mask.to(device), DynamicCache(), sources, reused)
        old_ids, old_mask = pad([p[:m] for p, m in zip(prompts, reused, strict=True)], pad_id, side="left")
        new_ids, new_mask = pad([p[m:] for p, m in zip(prompts, reused, strict=True)], pad_id, side="left")
        layers = []
        template = next(self.entries[k] for k in sources if k is not None).layers
        for layer, (k0, v0) in enumerate(template):
            keys = k0.new_zeros(len(prompts), k0.shape[0], width, k0.shape[2])  # [B, heads, P, dim]
            values = v0.new_zeros(len(prompts), v0.shape[0], width, v0.shape[2])
            for row, (key, m) in enumerate(zip(sources, reused, strict=True)):
                if m:
                    k, v = self.entries[key].layers[layer]
                    keys[row, :, width - m :] = k[:, :m]
                    values[row, :, width - m :] = v[:, :m]
            layers.append((keys, values))
        for key in dict.fromkeys(k for k in sources if k is not None):
            self.entries.move_to_end(key)  # recently used
        self.reused_tokens += sum(reused)
        self.prefilled_tokens += sum(len(p) - m for p, m in zip(prompts, reused, strict=True))
        return CachedBatch(
            torch.cat([old_ids, new_ids], dim=1).to(device),
            torch.cat([old_mask, new_mask], dim=1).to(device),
            DynamicCache(layers),
            sources,
            reused,
        )

    def store(self, batch: CachedBatch, output: torch.Tensor, kv: Any, pad_id: int) -> list[int]:
        """Keep each row's keys and values after ``generate`` (``output``: its ``[B, P + N + G]`` ids, ``kv``:
        the cache it filled) as that conversation's entry, in place of the one it went on from; returns the
        entries' keys.

        A finished row is filled with ``pad_id`` while others go on: those trailing pads are not kept (one
        is, when the pad is also the end-of-turn token).
        """
        length = kv.get_seq_length()  # the last generated token was never run: it has no keys yet
        width = batch.input_ids.shape[1]
        mask = torch.cat(
            [batch.attention_mask, batch.attention_mask.new_ones(len(output), output.shape[1] - width)], 1
        )
        tensors = [(layer.keys, layer.values) for layer in kv.layers]
        keys = []
        for row in range(len(output)):
            positions = mask[row, :length].nonzero().squeeze(1)  # [T] the row's real tokens
            ids = output[row, positions]
            generated = len(positions) - int(batch.attention_mask[row].sum())
            trailing = _trailing(ids[len(ids) - generated :].tolist(), pad_id)
            keep = len(ids) - max(trailing - 1, 0)
            positions, ids = positions[:keep], ids[:keep]
            layers = [(k[row, :, positions].clone(), v[row, :, positions].clone()) for k, v in tensors]
            key = next(self._keys)
            self.entries[key] = Entry(ids.cpu(), layers, len(ids) - generated)
            keys.append(key)
        for source, m in zip(batch.sources, batch.reused, strict=True):
            if source in self.entries and m >= self.entries[source].prompt_length - 1:
                # The row went on from (or asked again) that entry's whole prompt: the same conversation,
                # later or in a branch; the new entry serves it from now on. A row that shared only a part
                # (another conversation with the same system prompt) leaves it.
                self.drop(source)
        while len(self.entries) > 1 and self.tokens > self.max_tokens:
            self.entries.popitem(last=False)
        if self.tokens > self.max_tokens:
            self.clear()
        return keys


def _trailing(ids: list[int], pad_id: int) -> int:
    """How many ``pad_id`` end ``ids``.

    >>> _trailing([5, 0, 0], 0), _trailing([0, 5], 0)
    (2, 0)
    """
    n = 0
    while n < len(ids) and ids[len(ids) - 1 - n] == pad_id:
        n += 1
    return n


@dataclass
class Generated:
    """What :func:`generate` returns: ``sequences[:, width:]`` are the generated ids; ``keys`` name each row's
    cache entry afterwards (None without a cache), for :meth:`PrefixCache.drop` once a conversation ends."""

    sequences: torch.Tensor  # [B, width + G]
    width: int
    keys: list[int | None]
    output: Any  # what ``model.generate`` returned (a ModelOutput with ``return_dict_in_generate=True``)


def generate(
    model: Any, prompts: list[list[int]], pad_id: int, cache: PrefixCache | None = None, **kwargs: Any
) -> Generated:
    """``model.generate`` on ``prompts`` (left-padded), through ``cache`` when given and the model is
    :func:`cacheable`, else as a plain call. ``kwargs`` go to ``model.generate`` unchanged, except a callable
    ``at_width(width)``, called with the input width and its result merged in (per-row stop criteria and a
    penalty on the reply's own tokens need to know where the prompt ends).
    """
    at_width = kwargs.pop("at_width", None)
    batch = cache.prepare(model, prompts, pad_id) if cache is not None and cacheable(model) else None
    if batch is None:
        input_ids, mask = pad(prompts, pad_id, side="left")  # [B, W]
        inputs: dict[str, Any] = {
            "input_ids": input_ids.to(model.device),
            "attention_mask": mask.to(model.device),
        }
    else:
        inputs = batch.generate_kwargs()
    width = inputs["input_ids"].shape[1]
    if at_width is not None:
        kwargs.update(at_width(width))
    # The cache object is filled in place: what comes back is what any ``generate`` call returns.
    output = model.generate(**inputs, pad_token_id=pad_id, use_cache=True, **kwargs)
    sequences = output if isinstance(output, torch.Tensor) else output.sequences  # [B, width + G]
    keys = [None] * len(prompts) if batch is None else cache.store(batch, sequences, batch.kv, pad_id)
    return Generated(sequences, width, keys, output)
