"""Reward models: a causal LM body with a scalar head, read at the last real token.

The Stiennon et al. / Huang et al. details, each visible here:

- ``AutoModelForSequenceClassification`` with one output over any causal LM body;
- the scalar head initialised with std ``1/√(d_model+1)``, bias 0 (:func:`init_reward_head`);
- the reward read at the last non-padding token — the EOS of the response — found from the attention mask,
  so it is right with left or right padding and with a pad token equal to EOS (:func:`last_token_rewards`);
- dropout off;
- after training, a bias so that the reference (chosen) responses of the training set score 0 on average,
  stored in the checkpoint's config as ``reward_bias`` and added by :func:`score` and the server.

>>> import torch
>>> values = torch.tensor([[1.0, 2.0, 3.0, 0.0], [5.0, 6.0, 7.0, 8.0]])     # [B, T] per-token rewards
>>> mask = torch.tensor([[1, 1, 1, 0], [0, 1, 1, 1]])                     # right- and left-padded
>>> last_token_rewards(values, mask).tolist()
[3.0, 8.0]
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Generator, Sequence
from typing import Any

import torch

from llm.data.collate import pad
from llm.models.checkpoint import require_complete
from llm.models.loading import MODEL_CONFIGS


def last_token_rewards(values: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``values[b, t]`` at each row's last position with ``attention_mask == 1``. [B, T] → [B]."""
    positions = torch.arange(values.shape[1], device=values.device)
    last = (positions * attention_mask.to(positions.dtype)).argmax(dim=1)  # rightmost real token
    return values.gather(1, last[:, None]).squeeze(1)


def init_reward_head(model: Any) -> None:
    """Head weights ~ N(0, 1/√(d+1)), bias 0 (Huang et al. 2024)."""
    head = model.score
    d = head.weight.shape[1]
    torch.nn.init.normal_(head.weight, std=1.0 / math.sqrt(d + 1))
    if head.bias is not None:
        torch.nn.init.zeros_(head.bias)


def disable_dropout(model: Any) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    for key, value in list(vars(model.config).items()):
        if "dropout" in key and isinstance(value, float):
            setattr(model.config, key, 0.0)


def token_values(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The head's value at every position, [B, T] (before the stored normalisation bias)."""
    body = model.base_model if hasattr(model, "base_model") else model.model
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # left padding keeps positions right
    hidden = body(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
    ).last_hidden_state
    return model.score(hidden).squeeze(-1).float()


def forward_rewards(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Raw rewards (no normalisation bias) of a padded batch. [B, T] → [B]."""
    return last_token_rewards(token_values(model, input_ids, attention_mask), attention_mask)


@torch.no_grad()
def prefill_reward(model: Any, ids: Sequence[int], chunk_tokens: int) -> Generator[int, None, float]:
    """The raw reward (no normalisation bias) of one text's token ids, its body run over ``chunk_tokens``
    tokens at a time with a KV cache: a generator that yields the tokens done after every chunk but the
    last, and returns the reward. Between chunks the caller may run other forwards (the reward server
    scores short requests there), so no single step costs more than one chunk. One text, no padding: the
    positions are 0 … T-1 as in :func:`token_values`, and the head reads the last token's hidden state.

    >>> from transformers import LlamaConfig, LlamaForSequenceClassification
    >>> _ = torch.manual_seed(0)
    >>> shape = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    >>> model = LlamaForSequenceClassification(LlamaConfig(vocab_size=32, num_labels=1, **shape)).eval()
    >>> ids = list(range(1, 11))
    >>> steps = prefill_reward(model, ids, chunk_tokens=4)
    >>> next(steps), next(steps)            # after 4 and 8 tokens: the caller's turn; 2 more, then the end
    (4, 8)
    >>> whole = forward_rewards(model, torch.tensor([ids]), torch.ones(1, 10, dtype=torch.long)).detach()
    >>> abs(chunked_reward(model, ids, chunk_tokens=4) - float(whole[0])) < 1e-5
    True
    """
    from transformers import DynamicCache

    if chunk_tokens < 1 or not ids:
        raise ValueError(f"chunk_tokens {chunk_tokens} must be ≥ 1 and ids non-empty")
    body = model.base_model if hasattr(model, "base_model") else model.model
    device = next(model.parameters()).device
    input_ids = torch.tensor([list(ids)], device=device)  # [1, T]
    cache = DynamicCache(config=model.config)
    # transformers 5.x renamed ``past_key_values`` to ``cache``; remote-code models may keep the old name.
    cache_arg = "cache" if "cache" in inspect.signature(body.forward).parameters else "past_key_values"
    for start in range(0, len(ids), chunk_tokens):
        if start:
            yield start  # the chunks before this one are done: the caller may run something else first
        end = min(len(ids), start + chunk_tokens)
        hidden = body(
            input_ids=input_ids[:, start:end],
            position_ids=torch.arange(start, end, device=device)[None],
            use_cache=True,
            **{cache_arg: cache},
        ).last_hidden_state  # [1, end - start, d]
    return float(model.score(hidden[:, -1]).squeeze(-1).float()[0])


def chunked_reward(model: Any, ids: Sequence[int], chunk_tokens: int) -> float:
    """:func:`prefill_reward` run to its end: the raw reward of one text, computed chunk by chunk."""
    steps = prefill_reward(model, ids, chunk_tokens)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def reward_bias(model: Any) -> float:
    return float(getattr(model.config, "reward_bias", 0.0) or 0.0)


def build_reward_model(
    name_or_path: str | None, tokenizer: Any, config_name: str | None = None, **kwargs
) -> Any:
    """A reward model from a causal LM checkpoint (or a named config from scratch), head freshly initialised
    unless the checkpoint already is a reward model."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, LlamaConfig

    if config_name:
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            num_labels=1,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=False,
            **MODEL_CONFIGS[config_name],
        )
        model = AutoModelForSequenceClassification.from_config(config, **kwargs)
        init_reward_head(model)
    else:
        config = AutoConfig.from_pretrained(
            name_or_path, trust_remote_code=kwargs.get("trust_remote_code", False)
        )
        is_reward_model = getattr(config, "num_labels", None) == 1 and any(
            a.endswith("ForSequenceClassification") for a in (config.architectures or [])
        )
        model = AutoModelForSequenceClassification.from_pretrained(name_or_path, num_labels=1, **kwargs)
        if not is_reward_model:
            init_reward_head(model)
    if model.get_input_embeddings().weight.shape[0] < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    model.config.pad_token_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    model.config.use_cache = False
    disable_dropout(model)
    return model


def load_reward_model(
    path: str, device: str | None = None, dtype: torch.dtype = torch.float32
) -> tuple[Any, Any]:
    """A trained reward model and its tokenizer, ready to score (eval mode, on ``device``)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    require_complete(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=dtype)
    disable_dropout(model)
    model.eval()
    if device:
        model.to(device)
    return model, tokenizer


@torch.no_grad()
def score(
    model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int = 16, max_length: int | None = None
) -> list[float]:
    """Normalised rewards of full texts (prompt + response, as rendered for training).

    Texts are tokenized without adding special tokens (the text carries its own), sorted by length and
    right-padded per batch; a text's score does not depend on which others share its batch.
    """
    if not texts:
        return []
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    if max_length:
        encoded = [ids[-max_length:] for ids in encoded]  # keep the end: the reward is read there
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    pad_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    device = next(model.parameters()).device
    out = [0.0] * len(encoded)
    bias = reward_bias(model)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids, mask = pad([encoded[i] for i in chunk], pad_id)
        rewards = forward_rewards(model, ids.to(device), mask.to(device))
        for row, i in enumerate(chunk):
            out[i] = float(rewards[row]) + bias
    return out
