"""Tokenizers for the data layer: loading one (hub id, directory, or a tiny one built locally), giving it
the control tokens a template needs, and the tiny tokenizers that tests, benchmarks and the CPU demo use.

    >>> tok = load_tokenizer("tiny:bytelevel")  # built locally, for tests and the demo
    >>> tok.convert_ids_to_tokens(tok("<|im_start|>user")["input_ids"])[0]
    '<|im_start|>'
    >>> tok = load_tokenizer("Qwen/Qwen2.5-0.5B")  # a hub id or local directory  # doctest: +SKIP

Two tiny tokenizer families cover how real models split text:

- ``bytelevel``: GPT-2 / Llama 3 / Qwen style byte-level BPE (``Ġ`` marks a space);
- ``metaspace``: SentencePiece style (Llama 2 / Mistral / Baichuan): ``▁`` marks a space, a prefix ``▁`` at
  the start of the text, newlines kept apart, byte fallback for characters the vocabulary lacks.

Both carry every control token the bundled templates use, as special tokens.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Literal

from llm.data.templates import ChatTemplate
from llm.errors import UserError

TINY_PREFIX = "tiny:"

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
    raise UserError(f"unknown tokenizer kind {kind!r}; choose bytelevel or metaspace")


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


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False) -> Any:
    """A fast tokenizer from a hub id, a local directory, or ``tiny:bytelevel`` / ``tiny:metaspace``."""
    if name_or_path.startswith(TINY_PREFIX):
        return build_tokenizer(name_or_path[len(TINY_PREFIX) :])
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name_or_path, use_fast=True, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise UserError(
            f"cannot load a tokenizer from {name_or_path!r}: not a local directory with tokenizer files, and "
            f"not reachable on the hub ({str(e).splitlines()[0]})"
        ) from None


def add_template_tokens(tokenizer: Any, template: ChatTemplate) -> list[str]:
    """Add the template's control tokens that ``tokenizer`` does not have as single tokens.

    Returns the tokens added (resize the model's embeddings after: ``model.resize_token_embeddings``).
    """
    missing = [
        t for t in sorted(template.controls) if len(tokenizer(t, add_special_tokens=False)["input_ids"]) != 1
    ]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    return missing
