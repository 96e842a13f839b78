"""`ppo` takes its reward through `grpo`'s path (llm.train.rewards): `check:KIND=VALUE` specs, several sources with
weights, each source's mean logged; checks read the reply's words, while functions, servers and reward models
still score the whole decoded rollout, EOS included, as before."""

import json

import pytest
import torch

from llm.commands.ppo import main as ppo
from llm.errors import UserError
from llm.train.ppo.trainer import PPOArguments, train
from tests.helpers import FIXTURES

PROMPTS = FIXTURES / "ppo_prompts.jsonl"
SEEN: list[str] = []  # the full texts the function below was given


def ends_with_eos(texts: list[str]) -> list[float]:
    """A full-text reward (loaded as --reward_fn tests.train.test_ppo_reward_path:ends_with_eos): 1.0 when the text ends
    with the tiny tokenizer's EOS, as a reward model's training rows do."""
    SEEN.extend(texts)
    return [float(t.endswith("</s>")) for t in texts]


def small(checkpoint, out, **kw) -> PPOArguments:
    base = dict(
        model_name_or_path=str(checkpoint), dataset="openai", data_files=[str(PROMPTS)], max_steps=1,
        rollout_batch_size=4, mini_batch_size=4, response_length=6, ppo_epochs=1, output_dir=str(out),
        report_to="none", sample_rows=0,
    )  # fmt: skip
    return PPOArguments(**{**base, **kw})


def test_ppo_reward_fn_check_works_from_the_command_line(checkpoint, tmp_path):
    """The issue's command: it used to fail importing a module named `check`."""
    argv = [
        "--model_name_or_path", str(checkpoint), "--dataset", "openai", "--data_files", str(PROMPTS),
        "--reward_fn", "check:ending=?", "--max_steps", "1", "--rollout_batch_size", "4", "--mini_batch_size", "4",
        "--response_length", "4", "--ppo_epochs", "1", "--output_dir", str(tmp_path / "run"), "--report_to", "none",
        "--sample_rows", "0",
    ]  # fmt: skip
    assert ppo(argv) == 0
    (line,) = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(line)["reward/check:ending=?"] in (0.0, 0.25, 0.5, 0.75, 1.0)


def test_checks_read_the_reply_and_full_text_sources_the_whole_rollout(checkpoint, tmp_path):
    """Scripted replies " Why?" + EOS: the check passes (it reads "Why?", not "Why?</s>"), the function gets the
    rollout decoded whole with its EOS, and the weights make the total."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    reply = [*tokenizer.encode(" Why?", add_special_tokens=False), tokenizer.eos_token_id]
    given = []

    def scripted(model, queries, query_mask):
        given.append((queries, query_mask))
        return torch.tensor([reply] * queries.shape[0])

    SEEN.clear()
    args = small(
        checkpoint, tmp_path / "run", reward_fn=["check:ending=?", "tests.train.test_ppo_reward_path:ends_with_eos"],
        reward_weights=[2.0, 1.0], held_out_reward=["check:ending=?"], response_length=len(reply), max_steps=2,
    )  # fmt: skip
    for step in train(args, generator=scripted):  # two iterations: the reward sources last the whole run
        assert step["reward/check:ending=?"] == 1.0
        assert step["reward/tests.train.test_ppo_reward_path:ends_with_eos"] == 1.0
        assert step["held_out/check:ending=?"] == 1.0  # held-out checks read the reply alone too
        assert step["rm_score_mean"] == pytest.approx(3.0)  # 2 · 1 + 1 · 1
    queries, mask = given[0]
    whole = [
        tokenizer.decode([*q[m.bool()].tolist(), *reply], skip_special_tokens=False)
        for q, m in zip(queries, mask, strict=True)
    ]
    assert SEEN[: len(whole)] == whole and whole[0].endswith("<|im_start|>assistant\n Why?</s>")


def test_reward_flags_are_grpos():
    one = PPOArguments(model_name_or_path="x", reward_fn="check:ending=?")  # the old shape: one string
    one.validate()
    assert one.reward_fn == ["check:ending=?"]
    for kw, message in (
        ({}, "give a reward: --reward_fn"),
        ({"reward_fn": ["check:ending=?"], "reward_weights": [1.0, 2.0]}, "2 weights for 1 reward sources"),
        ({"reward_fn": ["check:colour=red"]}, "check:colour: unknown check"),
        ({"reward_fn": ["check:max_words=lots"]}, "check:max_words=lots"),
    ):
        with pytest.raises(UserError, match=message):
            PPOArguments(model_name_or_path="x", **kw).validate()
    both = PPOArguments(
        model_name_or_path="x",
        reward_fn=["check:ending=?"],
        reward_url=["http://127.0.0.1:1"],
        reward_weights=[1, 2],
    )
    both.validate()  # several sources, weighted, as grpo takes them
