"""``grpo`` with one update per batch (``--num_iterations 1``, one minibatch) takes the old policy's log-probs from
the update's own forward instead of a separate no-grad forward over every rollout (issue 24: the bench on
SmolLM2 against TRL's GRPOTrainer, which does the same). What it logs and learns must not change."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from llm.train.grpo import trainer as grpo
from llm.train.online.source import Batch
from tests.train.test_grpo import grpo_args, start  # noqa: F401  (start: the tiny policy fixture)


def run(start, out, monkeypatch, reuse: bool, **kw):  # noqa: F811
    monkeypatch.setattr(grpo, "single_update", lambda args, n: reuse)
    forwards = []
    original = Batch.__init__

    def counted(self, *a, **k):  # count every log-prob forward of the batch's rollouts
        original(self, *a, **k)
        inner = self.forward

        def forward(model, idx):
            forwards.append(idx)
            return inner(model, idx)

        self.forward = forward

    monkeypatch.setattr(Batch, "__init__", counted)
    history = grpo.train(grpo_args(start, out, max_steps=3, rollout_batch_size=16, response_length=8, **kw))
    weights = AutoModelForCausalLM.from_pretrained(out / "policy").state_dict()
    return history, len(forwards), weights


def test_one_forward_fewer_and_the_same_run(start, tmp_path, monkeypatch):  # noqa: F811
    reused, n_reused, weights_a = run(start, tmp_path / "reused", monkeypatch, True)
    separate, n_separate, weights_b = run(start, tmp_path / "separate", monkeypatch, False)
    assert n_separate - n_reused == 3  # one forward fewer per iteration (old policy; ref and update remain)
    for a, b in zip(reused, separate, strict=True):
        for key in ("reward_mean", "kl", "loss", "kl_loss", "ratio", "clipfrac", "first_ratio", "entropy"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key
    assert reused[0]["first_ratio"] == 1.0  # exactly: the old log-probs are the update's own
    for name, w in weights_a.items():
        torch.testing.assert_close(weights_b[name], w, rtol=1e-5, atol=1e-6, msg=name)


def test_which_settings_reuse_the_forward():
    args = grpo.GRPOArguments
    assert grpo.single_update(args(), 64)
    assert not grpo.single_update(args(num_iterations=2), 64)
    assert not grpo.single_update(args(mini_batch_size=16), 64)
    assert grpo.single_update(args(mini_batch_size=64), 64)
    assert not grpo.single_update(args(advantage="reinforce_pp"), 64)  # its advantages read the old log-probs


def test_response_logprobs_with_kept_logits_equal_the_full_forward():
    """``response_logprobs`` projects onto the vocabulary only where a response token is predicted: the same
    log-probs and entropies as slicing the full logits (what it did before)."""
    from llm.data.tokenizer import build_tokenizer
    from llm.models.tiny import build_llama
    from llm.train.online.forward import joined, response_logprobs

    model = build_llama(build_tokenizer("bytelevel"), seed=4).eval()
    torch.manual_seed(0)
    queries = torch.randint(5, 200, (3, 7))
    query_mask = torch.ones_like(queries)
    query_mask[0, :3] = 0  # left padding
    responses = torch.randint(5, 200, (3, 5))
    logp, entropy = response_logprobs(model, queries, query_mask, responses, 0.7)
    ids, mask, positions = joined(queries, query_mask, responses)
    full = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits
    full = full[:, queries.shape[1] - 1 : -1] / 0.7
    expected = torch.log_softmax(full, -1).gather(-1, responses[..., None]).squeeze(-1)
    torch.testing.assert_close(logp, expected, rtol=1e-5, atol=1e-6)
    assert entropy.shape == logp.shape == (3, 5)
