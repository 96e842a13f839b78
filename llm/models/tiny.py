"""Tiny random-init models built locally, for tests, benchmarks and the CPU demo (no downloads).

>>> from llm.data.tokenizer import build_tokenizer
>>> model = build_llama(build_tokenizer("bytelevel"))
>>> model.config.num_hidden_layers, model.config.hidden_size, model.config.intermediate_size
(2, 64, 256)

Any other ``LlamaConfig`` field given is taken as given, including the ones with defaults here
(``bench/dpo_throughput.py`` builds the ``small`` shape this way):

>>> big = build_llama(build_tokenizer("bytelevel"), hidden_size=128, intermediate_size=384,
...                   num_key_value_heads=2, tie_word_embeddings=False)
>>> c = big.config
>>> c.intermediate_size, c.num_attention_heads, c.num_key_value_heads, c.tie_word_embeddings
(384, 4, 2, False)
"""

from __future__ import annotations


def build_llama(tokenizer, hidden_size: int = 64, layers: int = 2, heads: int = 4, seed: int = 0, **config):
    """A random-init ``LlamaForCausalLM`` sized for CPU tests, its vocabulary matching ``tokenizer``.

    ``config`` holds any other ``LlamaConfig`` field; each one given replaces the default below.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    defaults = {
        "vocab_size": len(tokenizer),
        "intermediate_size": hidden_size * 4,
        "num_key_value_heads": heads,
        "max_position_embeddings": 4096,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "tie_word_embeddings": True,
    }
    cfg = LlamaConfig(
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        **{**defaults, **config},
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg)
