"""PPO: the math by hand, the details that must hold at the start of training, and a tiny policy that learns."""

import json
import os
import subprocess
import sys

import pytest
import torch

from llm.train.ppo import core
from llm.train.ppo.trainer import PPOArguments, train
from tests.helpers import REPO
from tests.helpers.ports import free_port, served_reward_model

PROMPTS = REPO / "tests" / "fixtures" / "ppo_prompts.jsonl"


def test_gae_by_hand():
    rewards = torch.tensor([[0.0, 0.0, 1.0, 9.9]])
    values = torch.tensor([[0.1, 0.2, 0.3, 7.7]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # the 4th token is after EOS: ignored
    adv, ret = core.gae(rewards, values, mask, gamma=1.0, lam=0.95)
    d2 = 1.0 - 0.3
    d1 = 0.0 + 0.3 - 0.2
    d0 = 0.0 + 0.2 - 0.1
    a2, a1 = d2, d1 + 0.95 * d2
    a0 = d0 + 0.95 * a1
    torch.testing.assert_close(adv, torch.tensor([[a0, a1, a2, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[a0 + 0.1, a1 + 0.2, a2 + 0.3, 0.0]]))


def test_kl_shaped_rewards_by_hand():
    logp = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, -1.0]])
    ref = torch.tensor([[-1.2, -1.0, -0.5], [-1.0, -3.0, -1.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    rewards, kl = core.kl_shaped_rewards(torch.tensor([2.0, -1.0]), logp, ref, mask, kl_coef=0.5)
    torch.testing.assert_close(kl, torch.tensor([[0.2, -1.0, 0.0], [0.0, 2.0, 0.0]]))
    # −β·kl everywhere, the score added at each response's last (masked) token
    torch.testing.assert_close(rewards, torch.tensor([[-0.1, 0.5, 2.0], [0.0, -1.0 - 1.0, 0.0]]))


def test_whitening_and_truncation_and_penalty():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0], [4.0, 5.0, 6.0, -50.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    w = core.whiten(x, mask)
    assert float(core.masked_mean(w, mask)) == pytest.approx(0.0, abs=1e-6)
    assert float(core.masked_var(w, mask)) == pytest.approx(1.0, abs=1e-5)
    assert float(w[0, 3]) == 0.0  # masked entries stay out of it
    responses, m, has_eos = core.truncate_after_eos(torch.tensor([[4, 2, 4], [4, 4, 4]]), eos_id=2, pad_id=0)
    assert responses.tolist() == [[4, 2, 0], [4, 4, 4]] and m.tolist() == [[1, 1, 0], [1, 1, 1]]
    scores = core.penalize_missing_eos(torch.tensor([0.7, 0.7]), has_eos, -1.0)
    assert scores.tolist() == pytest.approx([0.7, -1.0])
    assert core.penalize_missing_eos(
        torch.tensor([0.7]), torch.tensor([False]), None
    ).tolist() == pytest.approx([0.7])


def test_losses_by_hand():
    old = torch.log(torch.tensor([[0.5, 0.5]]))
    new = torch.log(torch.tensor([[0.75, 0.25]]))  # ratios 1.5 and 0.5
    adv = torch.tensor([[1.0, 1.0]])
    loss, stats = core.policy_loss(new, old, adv, torch.ones(1, 2), clip=0.2)
    # max(−A·r, −A·clip(r)): token 1 → max(−1.5, −1.2) = −1.2; token 2 → max(−0.5, −0.8) = −0.5
    assert float(loss) == pytest.approx((-1.2 - 0.5) / 2)
    assert float(stats["clipfrac"]) == pytest.approx(0.5)
    vloss, vstats = core.value_loss(
        torch.tensor([[0.5]]), torch.tensor([[0.4]]), torch.tensor([[1.0]]), torch.ones(1, 1)
    )
    assert float(vloss) == pytest.approx(0.5 * 0.25) and float(vstats["vf_clipfrac"]) == 0.0


@pytest.fixture(scope="module")
def sft_checkpoint(tmp_path_factory):
    from llm.data.tokenizer import build_tokenizer
    from llm.models.tiny import build_llama

    out = tmp_path_factory.mktemp("sft")
    tok = build_tokenizer("bytelevel")
    build_llama(tok).save_pretrained(out)
    tok.save_pretrained(out)
    (out / "llm_train.json").write_text(json.dumps({"template": "chatml"}))
    return out


def ppo_args(sft, out, **kw):
    base = dict(
        model_name_or_path=str(sft), dataset="openai", data_files=[str(PROMPTS)], reward_fn="tests.helpers.ppo_rewards:letter_e",
        max_steps=20, rollout_batch_size=32, mini_batch_size=16, response_length=16, learning_rate=3e-3,
        output_dir=str(out), report_to="none", sample_rows=0,
    )  # fmt: skip
    base.update(kw)
    return PPOArguments(**base)


@pytest.fixture(scope="module")
def learning_run(sft_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("ppo")
    return train(ppo_args(sft_checkpoint, out, held_out_reward=["check:ending=?"])), out


@pytest.mark.slow
def test_start_of_training_details(learning_run):
    history, _ = learning_run
    first = history[0]
    assert first["first_ratio"] == pytest.approx(1.0, abs=1e-6)  # before any update, π = π_old
    assert first["first_clipfrac"] == 0.0
    assert first["kl_mean"] == 0.0  # π = π_ref in the first rollout
    assert history[1]["kl_mean"] != 0.0  # and not after the first update
    assert all(h["response_length"] <= 16 for h in history)


@pytest.mark.slow
def test_reward_rises_and_kl_stays_bounded(learning_run):
    """A tiny policy learns to write replies rich in the letter e; KL to the SFT policy stays under 10 nats."""
    history, out = learning_run
    start = sum(h["reward_mean"] for h in history[:4]) / 4
    end = sum(h["reward_mean"] for h in history[-4:]) / 4
    assert end > start + 0.15, [round(h["reward_mean"], 3) for h in history]
    assert max(h["kl_mean"] for h in history) < 10.0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 20 and {"iteration", "reward_mean", "kl_mean"} <= set(json.loads(lines[0]))
    # scored on every rollout, never optimised: logged beside the reward
    assert all(0.0 <= h["held_out/check:ending=?"] <= 1.0 for h in history)
    assert (out / "ppo_curves.png").stat().st_size > 1000
    assert (out / "policy" / "config.json").exists()


def test_wrong_arguments():
    with pytest.raises(ValueError, match="give a reward"):  # several sources are weighted (grpo's path)
        PPOArguments(model_name_or_path="x").validate()
    with pytest.raises(ValueError, match="multiple of --mini_batch_size"):
        PPOArguments(
            model_name_or_path="x", reward_fn="a:b", rollout_batch_size=10, mini_batch_size=4
        ).validate()
    with pytest.raises(ValueError, match="module:function"):
        PPOArguments(model_name_or_path="x", reward_fn="nofunction").validate()


@pytest.mark.slow
def test_two_cpu_processes_agree(sft_checkpoint, tmp_path):
    out = tmp_path / "ddp"
    argv = [
        "--model_name_or_path", str(sft_checkpoint), "--dataset", "openai", "--data_files", str(PROMPTS),
        "--reward_fn", "tests.helpers.ppo_rewards:letter_e", "--max_steps", "2", "--rollout_batch_size", "8",
        "--mini_batch_size", "4", "--response_length", "8", "--learning_rate", "1e-3", "--output_dir", str(out),
        "--report_to", "none", "--sample_rows", "0",
    ]  # fmt: skip
    port = str(free_port())
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
           "-m", "llm.commands", "ppo", *argv]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [(out / f"metrics-rank{r}.jsonl").read_text().splitlines() for r in (0, 1)]
    assert len(ranks[0]) == 2
    for a, b in zip(*ranks, strict=True):
        a, b = json.loads(a), json.loads(b)
        for key in ("reward_mean", "kl_mean", "policy_loss", "value_loss", "clipfrac"):
            assert a[key] == pytest.approx(b[key], rel=1e-6), key


@pytest.mark.slow
def test_the_same_run_through_a_real_serve_reward_process(sft_checkpoint, tmp_path):
    """PPO scored by a `serve-reward` process on loopback gets the rewards the same reward model gives
    in-process: same seed, same rollouts, same scores."""
    from llm.data.tokenizer import build_tokenizer
    from llm.models.reward import build_reward_model

    rm_dir = tmp_path / "rm"
    tok = build_tokenizer("bytelevel")
    build_reward_model(None, tok, config_name="tiny").save_pretrained(rm_dir)
    tok.save_pretrained(rm_dir)
    common = dict(
        max_steps=2,
        rollout_batch_size=8,
        mini_batch_size=4,
        response_length=8,
        reward_fn=None,
        value_model_path=str(rm_dir),
    )  # the same value model too, so the runs match
    with served_reward_model(rm_dir) as url:
        remote = train(ppo_args(sft_checkpoint, tmp_path / "remote", reward_url=[url], **common))
    local = train(ppo_args(sft_checkpoint, tmp_path / "local", reward_model_path=str(rm_dir), **common))
    for r, loc in zip(remote, local, strict=True):
        assert r["rm_score_mean"] == pytest.approx(loc["rm_score_mean"], abs=1e-4)
        assert r["kl_mean"] == pytest.approx(loc["kl_mean"], abs=1e-4)


def test_logprobs_use_the_temperature_and_ignore_left_padding(sft_checkpoint):
    from transformers import AutoModelForCausalLM

    from llm.train.online.forward import response_logprobs

    model = AutoModelForCausalLM.from_pretrained(sft_checkpoint).eval()
    query, responses = torch.tensor([[5, 6, 7, 8]]), torch.tensor([[9, 10, 11]])
    with torch.no_grad():
        logp, _ = response_logprobs(model, query, torch.ones_like(query), responses, temperature=0.7)
        logits = model(input_ids=torch.cat([query, responses], 1)).logits[0, 3:-1] / 0.7
        expected = torch.log_softmax(logits, -1).gather(-1, responses[0][:, None]).squeeze(-1)
        torch.testing.assert_close(logp[0], expected, rtol=1e-5, atol=1e-5)
        padded = torch.tensor([[0, 0, 5, 6, 7, 8]])  # the same query, left-padded
        logp_padded, _ = response_logprobs(model, padded, torch.tensor([[0, 0, 1, 1, 1, 1]]), responses, 0.7)
        torch.testing.assert_close(logp_padded, logp, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_learning_rate_anneals_to_zero_and_dropout_is_off(learning_run):
    history, out = learning_run
    lrs = [h["learning_rate"] for h in history]
    assert lrs == pytest.approx([3e-3 * (1 - i / 20) for i in range(1, 21)])
    config = json.loads((out / "policy" / "config.json").read_text())
    assert config.get("attention_dropout", 0.0) == 0.0


def test_prompts_from_processed_rows_are_the_inference_prompts(tmp_path, monkeypatch):
    """With --dataset_path, a row's prompt is the ids before its last reply: the encoder's inference prompt."""
    import datasets

    from llm.data.conversation import Conversation
    from llm.data.encode import Encoder
    from llm.data.process import DataArguments, ProcessArguments, process
    from llm.data.sources.openai_messages import to_conversation
    from llm.data.tokenizer import build_tokenizer
    from llm.train.online.prompts import prompts_from_rows

    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))
    process(
        DataArguments(
            dataset="openai", data_files=[str(PROMPTS)], tokenizer="tiny:bytelevel", template="chatml"
        ),
        ProcessArguments(str(tmp_path / "rows")),
    )
    rows = datasets.load_from_disk(str(tmp_path / "rows"))["train"]
    prompts, dropped = prompts_from_rows(rows, 512)
    enc = Encoder(build_tokenizer("bytelevel"), "chatml")
    first = to_conversation(json.loads(PROMPTS.read_text().splitlines()[0]))
    assert prompts[0] == enc.encode_prompt(Conversation(first.messages[:-1]))
    assert len(prompts) == len(rows) and dropped == {"prompt too long": 0, "no trained reply": 0}
