"""`llm-train grpo` on a tiny policy: the critic-free estimators by hand, the start of training, learning a
reward with bounded KL, rewards by name, a reward server, two processes agreeing with one."""

import json
import os
import subprocess
import sys

import pytest
import torch

from llm.errors import UserError
from llm.train.grpo import core
from llm.train.grpo.trainer import GRPOArguments, train
from llm.train.rewards import build_rewards, held_out_sources, reward_from_spec
from tests.helpers import REPO
from tests.helpers.ports import free_port, served_reward_model

PROMPTS = REPO / "tests" / "fixtures" / "ppo_prompts.jsonl"


# ── the math, by hand ────────────────────────────────────────────────────────────────────────────────


def test_a_group_with_equal_rewards_gets_zero_advantage_under_every_estimator():
    rewards = torch.tensor([0.7, 0.7, 0.7, 0.1, 0.9, 0.5])
    for scale in ("group", "batch", "none"):
        assert core.group_advantages(rewards, 3, scale)[:3].tolist() == [0.0, 0.0, 0.0]
    assert core.rloo_advantages(rewards, 3)[:3].abs().max() < 1e-6
    assert float(core.zero_variance_groups(rewards, 3)) == 1.0


def test_leave_one_out_and_group_scaling_by_hand():
    r = torch.tensor([0.1, 0.9, 0.5])
    loo = core.rloo_advantages(r, 3).tolist()
    assert loo == pytest.approx([0.1 - 0.7, 0.9 - 0.3, 0.5 - 0.5])
    # Dr. GRPO keeps the scale of the rewards; GRPO divides by the group's (unbiased) std, 0.4 here.
    assert core.group_advantages(r, 3, "none").tolist() == pytest.approx([-0.4, 0.4, 0.0])
    assert core.group_advantages(r, 3, "group").tolist() == pytest.approx([-1.0, 1.0, 0.0], abs=1e-3)


def test_token_level_normalisation_by_hand():
    per_token_adv = torch.tensor([1.0, 3.0])  # one completion of 1 token, one of 3
    mask = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    zeros = torch.zeros(2, 3)
    grpo, _ = core.clipped_policy_loss(zeros, zeros, per_token_adv, mask, loss_type="grpo")
    dapo, _ = core.clipped_policy_loss(zeros, zeros, per_token_adv, mask, loss_type="dapo")
    dr, _ = core.clipped_policy_loss(zeros, zeros, per_token_adv, mask, loss_type="dr_grpo")
    assert float(grpo) == pytest.approx(-(1 + 3) / 2)  # each completion weighs the same
    assert float(dapo) == pytest.approx(-(1 + 3 * 3) / 4)  # each token weighs the same
    assert float(dr) == pytest.approx(-(1 + 3 * 3) / 6)  # a constant: B × T


def test_clip_higher_lets_a_positive_advantage_rise_further():
    old = torch.zeros(1, 1)
    new = torch.log(torch.tensor([[1.25]]))  # ratio 1.25
    mask = torch.ones(1, 1)
    symmetric, stats = core.clipped_policy_loss(new, old, torch.tensor([1.0]), mask, epsilon=0.2)
    higher, _ = core.clipped_policy_loss(new, old, torch.tensor([1.0]), mask, epsilon=0.2, epsilon_high=0.28)
    assert float(symmetric) == pytest.approx(-1.2) and float(stats["clipped"]) == 1.0
    assert float(higher) == pytest.approx(-1.25)


def test_k3_is_zero_where_the_policies_agree_and_positive_elsewhere():
    logp = torch.log(torch.tensor([0.2, 0.5, 0.3]))
    assert core.k3_kl(logp, logp).abs().max() == 0
    assert (core.k3_kl(logp, torch.log(torch.tensor([0.4, 0.4, 0.2]))) > 0).all()


# ── rewards ──────────────────────────────────────────────────────────────────────────────────────────


def test_checks_are_reward_functions_by_name():
    cases = {
        "check:language=french": (
            " le chat est sur la table et je pense que vous",
            " the cat is on the table",
        ),
        "check:ending=?": (" Shall we?", " We shall."),
        "check:forbidden=weather": (" Lovely day.", " Lovely weather."),
        "check:max_words=3": (" Yes, indeed.", " Yes, indeed, very much so."),
        "check:persona=Mira": (" I am Mira.", " As an AI language model, I cannot."),
        "check:no_user_turn=Sam": (" Come in.", " Come in.\nSam: thanks"),
    }
    for spec, (good, bad) in cases.items():
        assert reward_from_spec(spec)(["p", "p"], [good, bad]) == [1.0, 0.0], spec
    rewards = build_rewards(["check:ending=?", "check:max_words=3"], None, None, None, [2.0, 1.0], "cpu")
    total, parts = rewards(["p"], [" Yes, indeed?"])
    assert total == [3.0] and parts == {"check:ending=?": [1.0], "check:max_words=3": [1.0]}
    with pytest.raises(UserError, match="unknown check"):
        reward_from_spec("check:rhyme=moon")
    with pytest.raises(UserError, match="2 weights for 1 reward sources"):
        build_rewards(["check:ending=?"], None, None, None, [1.0, 2.0], "cpu")


# ── the loop ─────────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    from llm.data.tokenizer import build_tokenizer
    from llm.models.tiny import build_llama

    out = tmp_path_factory.mktemp("start")
    tok = build_tokenizer("bytelevel")
    build_llama(tok).save_pretrained(out)
    tok.save_pretrained(out)
    (out / "llm_train.json").write_text(json.dumps({"stage": "sft", "template": "chatml"}))
    return out


def grpo_args(start, out, **kw):
    base = dict(
        model_name_or_path=str(start), dataset="openai", data_files=[str(PROMPTS)], reward_fn=["tests.helpers.ppo_rewards:letter_e"],
        max_steps=20, rollout_batch_size=32, num_generations=8, response_length=16, learning_rate=3e-3,
        beta=0.04, output_dir=str(out), sample_rows=0,
    )  # fmt: skip
    base.update(kw)
    return GRPOArguments(**base)


@pytest.fixture(scope="module")
def learning_run(start, tmp_path_factory):
    out = tmp_path_factory.mktemp("grpo")
    return train(grpo_args(start, out)), out


@pytest.mark.slow
def test_start_of_training(learning_run):
    history, _ = learning_run
    first = history[0]
    assert first["first_ratio"] == pytest.approx(1.0, abs=1e-6) and first["first_clipfrac"] == 0.0
    assert first["kl"] == 0.0  # π = π_ref in the first rollout
    assert history[1]["kl"] > 0.0


@pytest.mark.slow
def test_reward_rises_and_kl_stays_bounded(learning_run):
    history, out = learning_run
    start_reward = sum(h["reward_mean"] for h in history[:4]) / 4
    end_reward = sum(h["reward_mean"] for h in history[-4:]) / 4
    assert end_reward > start_reward + 0.15, [round(h["reward_mean"], 3) for h in history]
    assert max(h["kl"] for h in history) < 1.0  # per token, k3
    line = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert {
        "reward/tests.helpers.ppo_rewards:letter_e",
        "zero_variance_groups",
        "time_update",
        "completion_length",
    } <= set(line)
    assert (out / "grpo_curves.png").stat().st_size > 1000
    assert json.loads((out / "policy" / "llm_train.json").read_text())["stage"] == "grpo"


@pytest.mark.parametrize("advantage", ["rloo", "reinforce_pp"])
def test_the_other_estimators_run_and_start_at_ratio_one(start, tmp_path, advantage):
    history = train(grpo_args(start, tmp_path, advantage=advantage, max_steps=2, loss_type="dapo", epsilon_high=0.28,
                              rollout_batch_size=16, response_length=8, held_out_reward=["check:ending=?"],
                              num_iterations=2, mini_batch_size=16))  # fmt: skip
    assert history[0]["first_ratio"] == pytest.approx(1.0, abs=1e-6) and len(history) == 2
    # a held-out source is logged, never optimised: the reward is the one source's alone
    assert all(
        h["reward_mean"] == pytest.approx(h["reward/tests.helpers.ppo_rewards:letter_e"]) for h in history
    )
    assert all(0.0 <= h["held_out/check:ending=?"] <= 1.0 for h in history)


def test_truncated_completions_can_be_left_out(start, tmp_path):
    """A random tiny policy never writes EOS in 16 tokens: masked out, nothing is left to learn from."""
    history = train(grpo_args(start, tmp_path, max_steps=1, mask_truncated_completions=True, beta=0.0))
    assert (
        history[0]["eos_rate"] == 0.0 and history[0]["loss"] == 0.0 and history[0]["completion_length"] == 0.0
    )
    # and with the missing-EOS penalty, every completion scores the penalty
    history = train(grpo_args(start, tmp_path / "penalty", max_steps=1, missing_eos_penalty=-3.0))
    assert history[0]["reward_mean"] == -3.0 and history[0]["reward/tests.helpers.ppo_rewards:letter_e"] > 0


@pytest.mark.slow
def test_an_entropy_bonus_raises_the_entropy_where_no_reward_says_anything(start, tmp_path):
    """Every group flat (a reward that is always 1): the advantages are 0, and only the bonus has a gradient."""
    from llm.models.loading import load_for_inference
    from llm.train.online.forward import sequence_logprobs

    flat = dict(
        reward_fn=["check:max_words=1000"], beta=0.0, max_steps=3, rollout_batch_size=16, response_length=8
    )
    histories = {
        coef: train(grpo_args(start, tmp_path / str(coef), entropy_coef=coef, **flat)) for coef in (0.0, 1.0)
    }
    assert all(h["zero_variance_groups"] == 1.0 for history in histories.values() for h in history)
    ids = torch.randint(0, 200, (4, 12), generator=torch.Generator().manual_seed(0))

    def entropy(model_dir):
        model, _ = load_for_inference(model_dir)
        with torch.no_grad():
            return float(sequence_logprobs(model, ids, torch.ones_like(ids), 1.0)[1].mean())

    without, with_bonus = (entropy(tmp_path / str(coef) / "policy") for coef in (0.0, 1.0))
    assert with_bonus > without + 1e-3, (without, with_bonus)
    assert histories[1.0][-1]["loss"] < 0  # the loss is the bonus alone, negated
    with pytest.raises(UserError, match="--entropy_coef -0.1"):
        grpo_args(start, tmp_path, entropy_coef=-0.1).validate()


def test_a_flat_batch_leaves_the_policy_alone_unless_weight_decay_is_asked_for(start, tmp_path):
    """Every group flat, β 0: no gradient at all. With AdamW's torch default (0.01) the weights still shrank;
    our default is 0, as TrainingArguments and TRL have it, and --weight_decay puts it back."""
    from safetensors.torch import load_file

    flat = dict(
        reward_fn=["check:max_words=1000"], beta=0.0, max_steps=2, rollout_batch_size=16, response_length=8
    )
    before = load_file(start / "model.safetensors")
    for decay in (0.0, 0.1):
        train(grpo_args(start, tmp_path / str(decay), weight_decay=decay, **flat))
        after = load_file(tmp_path / str(decay) / "policy" / "model.safetensors")
        moved = [name for name in before if not torch.equal(before[name], after[name])]
        if decay == 0.0:
            assert not moved, moved
        else:
            assert moved and all(after[n].norm() < before[n].norm() for n in moved)


def test_wrong_arguments():
    with pytest.raises(UserError, match="multiple of --num_generations"):
        GRPOArguments(
            model_name_or_path="x", reward_fn=["a:b"], rollout_batch_size=10, num_generations=4
        ).validate()
    with pytest.raises(UserError, match="give a reward"):
        GRPOArguments(model_name_or_path="x").validate()
    with pytest.raises(UserError, match="--held_out_reward 'runs/no-such-rm': not a reward-model directory"):
        held_out_sources(["runs/no-such-rm"], "cpu")
    with pytest.raises(UserError, match="--use_vllm needs a CUDA GPU"):
        GRPOArguments(model_name_or_path="x", reward_fn=["a:b"], use_vllm=True).validate()


@pytest.mark.slow
def test_two_cpu_processes_agree_with_one(start, tmp_path):
    """The same global batch (scripted sampling) on one process and split over two: every logged statistic
    matches. Batch-std scaling, DAPO's token-level mean and the KL term are the ones that drift when a
    process normalises by its own share of the batch."""
    from tests.helpers.grpo_scripted import run

    def argv(out, per_process):
        return [
            "--model_name_or_path", str(start), "--dataset", "openai", "--data_files", str(PROMPTS),
            "--reward_fn", "tests.helpers.ppo_rewards:letter_e", "--max_steps", "3", "--rollout_batch_size", str(per_process),
            "--num_generations", "4", "--response_length", "8", "--learning_rate", "3e-3", "--output_dir", str(out),
            "--sample_rows", "0", "--scale_rewards", "batch", "--loss_type", "dapo", "--beta", "0.1",
            "--num_iterations", "2",
        ]  # fmt: skip

    one = run(argv(tmp_path / "one", 16))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           "-m", "tests.helpers.grpo_scripted", *argv(tmp_path / "two", 8)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    two = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    ranks = [(tmp_path / "two" / f"metrics-rank{r}.jsonl").read_text().splitlines() for r in (0, 1)]
    untimed = [
        [{k: v for k, v in json.loads(line).items() if not k.startswith("time_")} for line in rank]
        for rank in ranks
    ]
    assert untimed[0] == untimed[1]  # each process logs the same numbers
    assert len(one) == len(two) == 3
    assert one[1]["kl"] > 0 and one[0]["reward_std"] > 0 and one[1]["clipfrac"] > 0  # something to compare
    for a, b in zip(one, two, strict=True):
        keys = {k for k in a if not k.startswith("time_")}
        assert keys == {k for k in b if not k.startswith("time_")}
        for key in sorted(keys):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (a["iteration"], key)


@pytest.mark.slow
def test_a_served_reward_model_is_learnt_through_reward_url(start, tmp_path):
    """GRPO scored by a `serve-reward` process on loopback: the rewards are those the same model gives
    in-process (same seed, same rollouts), and the policy raises them with the KL bounded."""
    from llm.data.tokenizer import build_tokenizer
    from llm.models.reward import build_reward_model

    rm_dir = tmp_path / "rm"
    tok = build_tokenizer("bytelevel")
    torch.manual_seed(2)  # the same reward model whatever ran before
    rm = build_reward_model(None, tok, config_name="tiny")
    # Blocks that add nothing: the score is a function of the last token alone, which a policy can learn.
    with torch.no_grad():
        for layer in rm.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    rm.save_pretrained(rm_dir)
    tok.save_pretrained(rm_dir)
    common = dict(reward_fn=None, rollout_batch_size=16, response_length=8, max_prompts=1)  # no prompt noise
    with served_reward_model(rm_dir) as url:
        remote = train(grpo_args(start, tmp_path / "remote", reward_url=[url], max_steps=30, **common))
    local = train(grpo_args(start, tmp_path / "local", reward_model_path=str(rm_dir), max_steps=2, **common))
    for r, loc in zip(remote, local, strict=False):
        assert r["reward_mean"] == pytest.approx(loc["reward_mean"], abs=1e-4)
    rewards = [h["reward_mean"] for h in remote]
    # the mean of the last five iterations above the first five's by two standard errors of such a mean
    # (5 × 16 scores each): a rise, not noise
    standard_error = remote[0]["reward_std"] / (5 * 16) ** 0.5
    assert sum(rewards[-5:]) / 5 > sum(rewards[:5]) / 5 + 2 * standard_error, rewards
    assert max(h["kl"] for h in remote) < 1.0


class FakeVLLM:
    """vLLM's surface that VLLMGenerator uses: generate() on token-id prompts, and the in-process model that
    load_weights() reaches. Writes responses one token short, to check the padding."""

    def __init__(self, length: int, tokens: tuple[int, ...] = (7,)):
        self.length, self.tokens, self.prompts, self.loaded = length, tokens, [], []
        runner = type("Runner", (), {"model": type("Model", (), {"load_weights": self._load})()})()
        worker = type("Worker", (), {"model_runner": runner})()
        self.llm_engine = type(
            "Engine", (), {"model_executor": type("Executor", (), {"driver_worker": worker})()}
        )()

    def _load(self, weights):
        self.loaded.append({name: tensor.clone() for name, tensor in weights})

    def generate(self, prompts, params, use_tqdm=True):
        self.prompts.append([p["prompt_token_ids"] for p in prompts])
        outs = [  # the completions take turns over ``tokens``: a group's rewards differ when the tokens do
            type("Completion", (), {"token_ids": [self.tokens[i % len(self.tokens)]] * (self.length - 1)})()
            for i in range(len(prompts))
        ]
        return [type("Output", (), {"outputs": [out]})() for out in outs]


def test_the_vllm_generator_gets_unpadded_prompts_and_the_weights_after_every_update(start, tmp_path):
    """--use_vllm's generator, driven through a fake engine (vLLM itself needs a GPU): prompts go in without
    their left padding, responses come back at fixed length, and the engine gets the policy after each update."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llm.inference.rollout import VLLMGenerator

    tokenizer = AutoTokenizer.from_pretrained(start)
    # Replies of "e"s and of another token: letter_e scores them apart, so every update has a gradient.
    engine = FakeVLLM(length=8, tokens=(7, tokenizer.convert_tokens_to_ids("e")))
    generator = VLLMGenerator(engine, None, response_length=8, pad_token_id=0)
    history = train(
        grpo_args(start, tmp_path, max_steps=2, rollout_batch_size=16, response_length=8), generator
    )
    assert len(history) == 2 and len(engine.prompts) == 2 and len(engine.loaded) == 2
    pad = AutoTokenizer.from_pretrained(start).pad_token_id
    assert all(ids and ids[0] != pad for batch in engine.prompts for ids in batch)  # no left padding
    assert len({len(ids) for batch in engine.prompts for ids in batch}) > 1  # prompts of their own lengths
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "policy").state_dict()
    assert all(torch.equal(engine.loaded[-1][name], saved[name]) for name in saved)  # the final weights
    assert any(not torch.equal(engine.loaded[0][n], engine.loaded[1][n]) for n in saved)  # and they moved
    with pytest.raises(UserError, match="--use_vllm samples single-turn"):
        GRPOArguments(model_name_or_path=str(start), env="roleplay", use_vllm=True).validate()
