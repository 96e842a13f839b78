"""Tiny random-init models built locally, for tests, benchmarks and the CPU demo (no downloads).

>>> from llm.data.tokenizer import build_tokenizer
>>> model = build_llama(build_tokenizer("bytelevel"))
>>> model.config.num_hidden_layers, model.config.hidden_size
(2, 64)
"""

from __future__ import annotations


def build_llama(tokenizer, hidden_size: int = 64, layers: int = 2, heads: int = 4, seed: int = 0, **config):
    """A random-init ``LlamaForCausalLM`` sized for CPU tests, its vocabulary matching ``tokenizer``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=config.pop("max_position_embeddings", 4096),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=config.pop("tie_word_embeddings", True),
        **config,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg)
