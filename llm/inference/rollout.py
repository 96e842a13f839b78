"""The generation interface RL uses: left-padded prompt ids in, fixed-length responses out.

``llm-train ppo`` samples with :class:`HFGenerator` (``model.generate``); anything with the same call
(a vLLM engine, a fake in tests) can replace it.

>>> import torch
>>> from llm.data.tokenizer import build_tokenizer
>>> from llm.models.tiny import build_llama
>>> tok = build_tokenizer("bytelevel")
>>> generator = HFGenerator(response_length=5, temperature=1.0, top_k=0, top_p=1.0, pad_token_id=tok.pad_token_id)
>>> generator(build_llama(tok), torch.tensor([[3, 4, 5]]), torch.ones(1, 3, dtype=torch.long)).shape
torch.Size([1, 5])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


class Generator(Protocol):
    """Samples responses for prompts: ``[B, P]`` left-padded queries and mask → ``[B, T]`` response ids."""

    def __call__(self, model: Any, queries: torch.Tensor, query_mask: torch.Tensor) -> torch.Tensor: ...


@dataclass
class HFGenerator:
    response_length: int
    temperature: float
    top_k: int
    top_p: float
    pad_token_id: int

    @torch.no_grad()
    def __call__(self, model: Any, queries: torch.Tensor, query_mask: torch.Tensor) -> torch.Tensor:
        """[B, P] left-padded queries → [B, response_length] responses (EOS does not stop sampling)."""
        out = model.generate(
            input_ids=queries,
            attention_mask=query_mask,
            max_new_tokens=self.response_length,
            do_sample=True,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            eos_token_id=None,  # fixed-length sampling; everything after the first EOS is cut afterwards
            pad_token_id=self.pad_token_id,
            use_cache=True,
        )
        return out[:, queries.shape[1] :]
