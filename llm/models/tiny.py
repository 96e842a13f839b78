"""Tiny tokenizers and models built locally, for tests, benchmarks and the CPU demo (no downloads).

Two tokenizer families cover how real models split text:

- ``bytelevel``: GPT-2 / Llama 3 / Qwen style byte-level BPE (``Ġ`` marks a space);
- ``metaspace``: SentencePiece style (Llama 2 / Mistral / Baichuan): ``▁`` marks a space, a prefix ``▁`` at
  the start of the text, newlines kept apart, byte fallback for characters the vocabulary lacks.

Both carry every control token the bundled templates use, as special tokens.

    >>> tok = build_tokenizer("bytelevel")
    >>> tok.convert_ids_to_tokens(tok("<|im_start|>user")["input_ids"])[0]
    '<|im_start|>'
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

TokenizerKind = Literal["bytelevel", "metaspace"]

SPECIAL_TOKENS: tuple[str, ...] = (
    "<unk>",
    "<s>",
    "</s>",
    "<pad>",
    "<|im_start|>",
    "<|im_end|>",
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<reserved_106>",
    "<reserved_107>",
    "<|system|>",
    "<|user|>",
    "<|model|>",
)

_WORDS = (
    "the a an and or but if then so because while when where who what why how I you we they she he it "
    "is are was were be been have has had do does did can could will would shall should may might must "
    "hello hi hey thanks please sorry yes no maybe okay well oh ah hmm "
    "sea light storm ship tea book sword garden rain wind night morning story song map star moon sun "
    "keeper captain knight detective cook ghost bard engineer friend traveller stranger "
    "walk look smile laugh nod sigh whisper shout run sit stand open close take give tell ask answer "
    "old new little big quiet loud warm cold dark bright strange gentle brave tired happy sad "
    "USER ASSISTANT You Persona Scenario START assistant user system model INST SYS"
).split()


def _corpus(n_lines: int = 3000, seed: int = 0) -> Iterable[str]:
    rng = random.Random(seed)
    punct = [".", ",", "!", "?", ":", " *", "* ", "\n", "'", '"']
    extras = [
        "naïve café",
        "日本語のテキスト",
        "مرحبا بالعالم",
        "שלום עולם",
        "emoji 🙂🚀",
        "x\u0301y",
        "1234 5678",
    ]
    for _ in range(n_lines):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 20))]
        line = " ".join(w + (rng.choice(punct) if rng.random() < 0.15 else "") for w in words)
        if rng.random() < 0.05:
            line += " " + rng.choice(extras)
        yield line


@lru_cache(maxsize=4)
def _backend(kind: TokenizerKind, vocab_size: int):
    return _train_backend(kind, vocab_size, _corpus())


def _train_backend(kind: TokenizerKind, vocab_size: int, corpus: Iterable[str]):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    if kind == "bytelevel":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(corpus, trainer=trainer)
        return tok
    if kind == "metaspace":
        import json

        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex("\n"), behavior="isolated"),
                pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True),
            ]
        )
        # No Strip step: decoding a slice of ids gives back exactly its text (tests compare spans).
        tok.decoder = decoders.Sequence(
            [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
        )
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
        )
        tok.train_from_iterator(corpus, trainer=trainer)
        spec = json.loads(tok.to_str())
        vocab = spec["model"]["vocab"]
        for byte in range(256):  # SentencePiece byte fallback: <0x00> … <0xFF>
            vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
        spec["model"]["byte_fallback"] = True
        return Tokenizer.from_str(json.dumps(spec))
    raise ValueError(f"unknown tokenizer kind {kind!r}; choose bytelevel or metaspace")


def build_tokenizer(
    kind: TokenizerKind = "bytelevel", vocab_size: int = 1000, corpus: Iterable[str] | None = None
):
    """A ``PreTrainedTokenizerFast`` trained in about a second, on ``corpus`` or a small synthetic one."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = _backend(kind, vocab_size) if corpus is None else _train_backend(kind, vocab_size, corpus)

    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(backend.to_str()),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in ("<s>", "</s>", "<unk>", "<pad>")],
    )


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
