"""Loading tokenizers, and giving them the control tokens a template needs.

>>> tok = load_tokenizer("tiny:bytelevel")  # built locally, for tests and the demo
>>> tok = load_tokenizer("Qwen/Qwen2.5-0.5B")  # a hub id or local directory  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from llm.data.templates import ChatTemplate

TINY_PREFIX = "tiny:"


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False) -> Any:
    """A fast tokenizer from a hub id, a local directory, or ``tiny:bytelevel`` / ``tiny:metaspace``."""
    if name_or_path.startswith(TINY_PREFIX):
        from llm.models.tiny import build_tokenizer

        return build_tokenizer(name_or_path[len(TINY_PREFIX) :])
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name_or_path, use_fast=True, trust_remote_code=trust_remote_code)
    except OSError as e:
        raise OSError(
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
