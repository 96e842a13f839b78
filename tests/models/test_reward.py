"""The reward model (llm/models/reward.py): the head's initialisation, the reward read at the last real token
whatever the padding, and a score that does not depend on its batch mates."""

import math

import pytest
import torch

from llm.data.tokenizer import build_tokenizer
from llm.models.reward import build_reward_model, forward_rewards, init_reward_head, score


def test_head_init_statistics():
    tok = build_tokenizer("bytelevel")
    model = build_reward_model(None, tok, config_name="tiny")
    model.score = torch.nn.Linear(1023, 1, bias=True)
    init_reward_head(model)
    assert float(model.score.weight.std()) == pytest.approx(1 / math.sqrt(1024), rel=0.15)
    assert float(model.score.bias.abs().max()) == 0.0


def test_reward_is_read_at_the_last_real_token_with_any_padding():
    tok = build_tokenizer("bytelevel")
    model = build_reward_model(None, tok, config_name="tiny").eval()
    ids = tok("the sea is wide</s>", add_special_tokens=False)["input_ids"]
    pad = tok.pad_token_id
    alone = forward_rewards(model, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
    right = forward_rewards(model, torch.tensor([ids + [pad] * 3]), torch.tensor([[1] * len(ids) + [0] * 3]))
    left = forward_rewards(model, torch.tensor([[pad] * 3 + ids]), torch.tensor([[0] * 3 + [1] * len(ids)]))
    torch.testing.assert_close(right, alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(left, alone, rtol=1e-5, atol=1e-5)
    # A pad token equal to EOS does not move the read point: it comes from the mask, not the ids.
    eos = tok.eos_token_id
    same = forward_rewards(model, torch.tensor([ids + [eos] * 2]), torch.tensor([[1] * len(ids) + [0] * 2]))
    torch.testing.assert_close(same, alone, rtol=1e-5, atol=1e-5)


def test_score_does_not_depend_on_batch_mates():
    tok = build_tokenizer("bytelevel")
    model = build_reward_model(None, tok, config_name="tiny").eval()
    texts = ["a</s>", "the light is old and the sea is wide</s>", "tea</s>", "storm " * 30 + "</s>"]
    together = score(model, tok, texts, batch_size=4)
    alone = [score(model, tok, [t])[0] for t in texts]
    assert together == pytest.approx(alone, abs=1e-4)
