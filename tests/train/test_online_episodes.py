"""Multi-turn RL episodes (``llm-train grpo --env roleplay``): the token sequence built while the policy plays
is the one trained on, only the policy's tokens carry a loss, and the loss's log-probs are a fresh forward's.

A scripted policy that writes exactly the tokens of its replies' training render makes the strongest check:
the episode must then *be* that render, token for token, with the encoder's own label mask — on every
template, with the instruction in the system slot or in the first user turn, with a card or plain text.
"""

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from llm.data.conversation import Conversation, Message
from llm.data.encode import IGNORE_INDEX, Encoder
from llm.data.gatt import place_instruction, sampling_conversation
from llm.errors import UserError
from llm.eval.checks import DEFAULT_CHECKS, Check
from llm.eval.simulate import ListedUserTurns, ModelUserSide, given_to
from llm.inference.repliers import Reply
from llm.models.tiny import build_llama
from llm.train.grpo.trainer import GRPOArguments, train
from llm.train.online.episodes import RoleplayEnv, Unasked, batch_of, run_episodes, turn_reward
from llm.train.online.metrics import exact_means
from llm.train.online.roleplay import _COIN, RoleplayEpisodes, roleplay_user_side
from llm.train.rewards import Rewards, RewardSource
from tests.helpers import REPO
from tests.helpers.losses import trained_runs

TEMPLATES = ("chatml", "llama2", "llama3", "vicuna", "baichuan2", "pygmalion", "metharme")
QUESTION = next(c for c in DEFAULT_CHECKS if c.kind == "ending")
CARD = next(c for c in DEFAULT_CHECKS if c.character is not None)
USERS = [["hello {{char}}", "what is this place, {{user}}?", "and the ship?"], ["hi", "tell me more", "bye"]]
REPLIES = [["Aye, welcome aboard?", "A tea stall.", "She flew true?"], ["Hello.", "More?", "Farewell."]]


class ScriptedPolicy:
    """Writes, for episode ``b`` at turn ``k``, the tokens ``scripts[b][k]``: a stand-in for ``generate``."""

    def __init__(self, scripts: list[list[list[int]]], pad_id: int):
        self.scripts, self.pad_id, self.turn = scripts, pad_id, 0
        self.device, self.training = torch.device("cpu"), False

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    def generate(self, input_ids, attention_mask, max_new_tokens, **_):
        new = [self.scripts[b][self.turn] for b in range(input_ids.shape[0])]
        self.turn += 1
        width = max(len(n) for n in new)
        rows = [n + [self.pad_id] * (width - len(n)) for n in new]
        return torch.cat([input_ids, torch.tensor(rows)], dim=1)


def plain(check: Check, users: list[str], replies: list[str], name: str) -> Conversation:
    """The user turns (as said to ``check``'s character) and the replies, alternating; nothing given."""
    bot = check.character.name if check.character else "Assistant"
    said = [u.replace("{{char}}", bot).replace("{{user}}", name) for u in users]
    messages = [Message(role, text) for pair in zip(said, [*replies, None]) for role, text in zip(("user", "assistant"), pair) if text is not None]  # fmt: skip
    return Conversation(tuple(messages))


def expected(check: Check, placement: str, users: list[str], replies: list[str], name: str) -> Conversation:
    return place_instruction(plain(check, users, replies, name), given_to(check, name), placement)


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize(
    "check,placement", [(QUESTION, "first_user"), (CARD, "system"), (CARD, "first_user")]
)
def test_a_scripted_episode_is_its_training_render_token_for_token(tokenizer, template, check, placement):
    encoder = Encoder(tokenizer, template)
    renders = [
        encoder.encode(expected(check, placement, u, r, "Sam")) for u, r in zip(USERS, REPLIES, strict=True)
    ]
    scripts = [[s.input_ids[a:b] for a, b in trained_runs(s.labels)] for s in renders]
    assert all(len(s) == 3 for s in scripts)
    envs = [RoleplayEnv(check, ListedUserTurns(USERS), 3, seat, placement, "Sam") for seat in range(2)]
    episodes = run_episodes(ScriptedPolicy(scripts, tokenizer.pad_token_id or 0), encoder, envs, 64, 1.0)
    for episode, render, replies in zip(episodes, renders, REPLIES, strict=True):
        end = trained_runs(render.labels)[-1][
            1
        ]  # an episode ends with its last end-of-turn token (no template tail)
        assert episode.ids == render.input_ids[:end]
        assert [t >= 0 for t in episode.turn_of] == [label != IGNORE_INDEX for label in render.labels[:end]]
        assert episode.replies == replies and episode.ended == [True] * 3
        assert episode.rewards == [float(check.passed(r)) for r in replies]


class RecordingPolicy(ScriptedPolicy):
    """A scripted policy that also keeps the prompts it was given, unpadded."""

    def __init__(self, scripts, pad_id):
        super().__init__(scripts, pad_id)
        self.prompts: list[list[list[int]]] = []

    def generate(self, input_ids, attention_mask, max_new_tokens, **kw):
        self.prompts.append(
            [row[mask.bool()].tolist() for row, mask in zip(input_ids, attention_mask, strict=True)]
        )
        return super().generate(input_ids, attention_mask, max_new_tokens, **kw)


@pytest.mark.parametrize("template", ["chatml", "llama2", "llama3"])
@pytest.mark.parametrize("check,placement", [(QUESTION, "first_user"), (CARD, "system")])
def test_a_guided_episode_samples_with_the_instruction_at_every_turn_and_trains_it_given_once(
    tokenizer, template, check, placement
):
    """GAtt's sampling inside the RL loop: the policy sees the instruction attached to every user turn, the
    trained sequence is the conversation with the instruction given once, and the replies are the same ids."""
    encoder = Encoder(tokenizer, template)
    renders = [
        encoder.encode(expected(check, placement, u, r, "Sam")) for u, r in zip(USERS, REPLIES, strict=True)
    ]
    scripts = [[s.input_ids[a:b] for a, b in trained_runs(s.labels)] for s in renders]
    envs = [
        RoleplayEnv(check, ListedUserTurns(USERS), 3, seat, placement, "Sam", guided=seat == 0)
        for seat in range(2)
    ]
    policy = RecordingPolicy(scripts, tokenizer.pad_token_id or 0)
    episodes = run_episodes(policy, encoder, envs, 64, 1.0)
    for b, (episode, render) in enumerate(zip(episodes, renders, strict=True)):
        end = trained_runs(render.labels)[-1][1]
        assert episode.ids == render.input_ids[:end]  # trained: given once, whether guided or not
        assert [t >= 0 for t in episode.turn_of] == [label != IGNORE_INDEX for label in render.labels[:end]]
        for k in range(3):
            so_far = plain(check, USERS[b][: k + 1], REPLIES[b][:k], "Sam")
            if b == 0:  # guided: every user turn carries the instruction
                prompt = sampling_conversation(so_far, given_to(check, "Sam"))
            else:
                prompt = place_instruction(so_far, given_to(check, "Sam"), placement)
            assert policy.prompts[k][b] == encoder.encode_prompt(prompt)
        assert (episode.sampled_ids is not None) == (b == 0)
    said = check.instruction if check.character is None else check.character.persona[:40]
    assert tokenizer.decode(policy.prompts[2][0]).count(said) == 3  # sampled: at every turn
    assert tokenizer.decode(episodes[0].ids).count(said) == 1  # trained: given once


@pytest.fixture(scope="module")
def policy(tokenizers):
    return build_llama(tokenizers["bytelevel"], seed=3)


def sampled_episodes(policy, tokenizer, user_side, turns=3, n=4, max_new_tokens=10):
    encoder = Encoder(tokenizer, "chatml")
    generated: list[torch.Tensor] = []
    original = policy.generate

    def recording(**kw):
        out = original(**kw)
        generated.append(out[:, kw["input_ids"].shape[1] :])
        return out

    policy.generate = recording
    try:
        torch.manual_seed(0)
        envs = [RoleplayEnv(QUESTION, user_side, turns, seat) for seat in range(n)]
        return run_episodes(policy, encoder, envs, max_new_tokens, 1.0), generated, encoder
    finally:
        del policy.generate


def test_a_sampled_episode_trains_exactly_the_tokens_the_policy_wrote(policy, tokenizers):
    tokenizer = tokenizers["bytelevel"]
    users = ListedUserTurns([["zebra one", "zebra two", "zebra three"]])
    episodes, generated, encoder = sampled_episodes(policy, tokenizer, users)
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert len(generated) == 3  # one batched generate per turn, every episode in it
    for b, episode in enumerate(episodes):
        for k in range(3):
            wrote = generated[k][b].tolist()
            wrote = wrote[: wrote.index(end_id) + 1] if end_id in wrote else wrote
            assert [t for t, turn in zip(episode.ids, episode.turn_of, strict=True) if turn == k] == wrote
            assert episode.ended[k] == (end_id in wrote)
            assert (
                tokenizer.decode([t for t in wrote if t != end_id], skip_special_tokens=True).strip()
                == episode.replies[k]
            )
        untrained = tokenizer.decode(
            [t for t, turn in zip(episode.ids, episode.turn_of, strict=True) if turn < 0]
        )
        trained = tokenizer.decode(
            [t for t, turn in zip(episode.ids, episode.turn_of, strict=True) if turn >= 0]
        )
        assert untrained.count("zebra") == 3 and "zebra" not in trained  # no user token carries a loss
        assert untrained.count(QUESTION.instruction) == 1  # the instruction, once
        # What the policy saw at each turn is the render of the conversation so far, then its own tokens.
        first_reply = episode.turn_of.index(0)
        assert episode.ids[:first_reply] == encoder.encode_prompt(episode.contexts[0])


def test_the_loss_logprobs_equal_a_fresh_forward_over_the_exact_sequence(policy, tokenizers):
    """Through the trainer's own batch: padded, batched log-probs at the trained tokens are those of a
    forward over each episode's ids alone."""
    tokenizer = tokenizers["bytelevel"]
    args = GRPOArguments(model_name_or_path="x", env="roleplay", turns=3, num_generations=2, response_length=10,
                         temperature=0.7)  # fmt: skip
    source = RoleplayEpisodes(args, ListedUserTurns(USERS), 2, rewards=None)
    torch.manual_seed(1)
    batch = source.rollout(policy, Encoder(tokenizer, "chatml"), lambda n: [0, 1], "cpu")
    logp, _ = batch.forward(policy, None)
    assert batch.mask.shape == logp.shape and batch.mask.sum() > 0
    ids, attention, turn_of = batch_of(source.last_episodes, tokenizer.pad_token_id)
    assert torch.equal((turn_of >= 0).float(), batch.mask)
    for b, episode in enumerate(source.last_episodes):
        with torch.no_grad():
            logits = policy(input_ids=torch.tensor([episode.ids])).logits[0, :-1].float() / 0.7
        fresh = torch.log_softmax(logits, -1).gather(-1, torch.tensor(episode.ids[1:])[:, None]).squeeze(-1)
        n = len(episode.ids) - 1
        trained = batch.mask[b, :n].bool()
        assert torch.allclose(logp[b, :n][trained], fresh[trained], atol=1e-5)
        assert not batch.mask[b, n:].any()  # padding is never trained


def test_a_model_playing_the_user_answers_every_episode_in_one_call_per_turn(policy, tokenizers):
    calls = []

    def user_model(conversations):
        calls.append(len(conversations))
        return [Reply(f"quokka {len(calls)}") for _ in conversations]

    side = ModelUserSide(user_model, first_turns=ListedUserTurns([["hello there"]]))
    episodes, _, _ = sampled_episodes(policy, tokenizers["bytelevel"], side, turns=3, n=4)
    assert calls == [4, 4]  # turns 2 and 3, all four episodes at once
    for episode in episodes:
        said = [m.content for m in episode.conversation.messages if m.role == "user"]
        assert said[1:] == ["quokka 1", "quokka 2"]
        trained = [t for t, turn in zip(episode.ids, episode.turn_of, strict=True) if turn >= 0]
        assert "quokka" not in tokenizers["bytelevel"].decode(trained)


def test_episode_rewards_from_checks_and_sources_per_turn(policy, tokenizers):
    seen = []

    def by_conversation(prompts, completions, conversations):
        seen.extend(conversations)
        return [0.25] * len(completions)

    args = GRPOArguments(model_name_or_path="x", env="roleplay", turns=3, num_generations=2, response_length=6,
                         turn_reward="min")  # fmt: skip
    rewards = Rewards([RewardSource("quarter", by_conversation)], [2.0])
    source = RoleplayEpisodes(args, ListedUserTurns(USERS), 2, rewards)
    batch = source.rollout(policy, Encoder(tokenizers["bytelevel"], "chatml"), lambda n: [0], "cpu")
    episodes = source.last_episodes
    assert len(seen) == 2 * 3  # every reply of every episode, in one call
    for conv, (b, k) in zip(seen, [(b, k) for b in range(2) for k in range(3)], strict=True):
        assert conv.messages[-1] == Message("assistant", episodes[b].replies[k])
        assert conv.messages[-2].role == "user"
    for b, episode in enumerate(episodes):
        assert float(batch.scores[b]) == pytest.approx(turn_reward([r + 0.5 for r in episode.rewards], "min"))
    assert batch.parts["quarter"] == [0.25] * 6 and set(batch.parts) >= {"check/turn_1", "check/turn_3"}


def test_gated_episode_rewards_pay_the_sources_only_to_replies_that_pass_their_check(policy, tokenizers):
    """--env_reward gated: check × sources. A reply that obeys with a bad answer, or answers well but ignores
    the instruction, earns 0; the sum would pay both (and so teach the policy the easy one first)."""
    torch.manual_seed(0)  # a draw with replies of both kinds
    args = GRPOArguments(model_name_or_path="x", env="roleplay", turns=3, num_generations=4, response_length=6,
                         turn_reward="turn", env_reward="gated")  # fmt: skip
    rewards = Rewards(
        [RewardSource("quarter", lambda prompts, completions, _: [0.25] * len(completions))], [2.0]
    )
    source = RoleplayEpisodes(args, ListedUserTurns(USERS), 2, rewards)
    source.checks = [Check("short", "Be brief.", "max_words", 2)]  # passes or fails by chance
    batch = source.rollout(policy, Encoder(tokenizers["bytelevel"], "chatml"), lambda n: [0], "cpu")
    checks = [e.rewards for e in source.last_episodes]
    assert batch.turn_scores.tolist() == [[0.5 * passed for passed in turns] for turns in checks]
    assert {0.0, 1.0} <= {r for turns in checks for r in turns}  # both kinds of reply were drawn
    with pytest.raises(UserError, match="--env_reward gated: give the reward"):
        replace(args, reward_fn=None).validate()


def test_control_episodes_give_nothing_and_reward_replies_that_obey_nothing(tmp_path, checkpoint):
    """Rewarding checks alone pays a model that always answers in French; a control group (no instruction)
    pays the opposite, so only a model that keeps what it was told earns both."""
    french = Check("language", "Always answer in French.", "language", "french")
    checks = tmp_path / "checks.json"
    checks.write_text(json.dumps([QUESTION.to_dict(), french.to_dict()]))
    args = GRPOArguments(model_name_or_path="x", env="roleplay", env_checks=str(checks), turns=2, num_generations=2,
                         env_controls=0.5)  # fmt: skip
    source = RoleplayEpisodes(args, ListedUserTurns(USERS), 2, None)
    draws = iter([[0, _COIN - 1], [0, 1], [1, 0]])  # coins: the first group a control; checks; seats
    envs = source.environments(lambda n: next(draws))
    assert [type(e.check) for e in envs] == [Unasked, Unasked, Check, Check] and envs[2].check == french
    assert [m.content for m in envs[0].reset().messages] == ["hi"]  # nothing given
    assert envs[2].reset().messages[0].content.startswith("Always answer in French.")
    control = envs[0].check
    assert control.passed("It is red.") and not control.passed("Is it red?")
    assert not control.passed("le zorp est rouge et je le vois .")
    only_forbidden = tmp_path / "forbidden.json"
    only_forbidden.write_text(json.dumps([Check("f", "Never say tea.", "forbidden", "tea").to_dict()]))
    with pytest.raises(UserError, match="a kind a plain reply fails"):
        RoleplayEpisodes(replace(args, env_checks=str(only_forbidden)), ListedUserTurns(USERS), 2, None)
    with pytest.raises(UserError, match="--env_controls 1.0"):
        replace(args, model_name_or_path=str(checkpoint), env_controls=1.0).validate()


def test_env_guided_guides_the_first_episodes_of_each_instructed_group_and_logs_them_apart(
    policy, tokenizers
):
    """--env_guided 1 of G 2: one episode of each instructed group samples with the instruction at every turn,
    the other is the on-policy baseline; a control group has nothing to be guided by."""
    args = GRPOArguments(model_name_or_path="x", env="roleplay", turns=2, num_generations=2, response_length=6,
                         env_guided=1, env_controls=0.5)  # fmt: skip
    source = RoleplayEpisodes(args, ListedUserTurns(USERS), 2, None)
    source.checks = [QUESTION]
    draws = iter([[_COIN - 1, 0], [0, 0], [0, 1]])  # coins: the first group instructed, the second a control
    envs = source.environments(lambda n: next(draws))
    assert [e.guided for e in envs] == [True, False, True, False]
    for env in envs:
        env.reset()
    assert [env.guide() is not None for env in envs] == [True, False, False, False]
    draws = iter([[_COIN - 1, 0], [0, 0], [0, 1]])
    batch = source.rollout(policy, Encoder(tokenizers["bytelevel"], "chatml"), lambda n: next(draws), "cpu")
    guided, on_policy = source.last_episodes[0], source.last_episodes[1]
    assert guided.sampled_ids is not None and on_policy.sampled_ids is None
    assert (
        batch.parts["check/guided"] == guided.rewards and batch.parts["check/on_policy"] == on_policy.rewards
    )
    for wrong in (2, -1):
        with pytest.raises(UserError, match=f"--env_guided {wrong}: between 0 and --num_generations"):
            replace(args, model_name_or_path=str(REPO / "missing"), env_guided=wrong).validate()


@pytest.mark.parametrize("on", [True, False])
def test_env_exclusive_fails_a_reply_that_also_obeys_an_instruction_not_given(tmp_path, on):
    """Told to answer in French, a French reply ending in '?' passes its check; with --env_exclusive it fails,
    since ending in '?' is another instruction's behaviour (else RL learns to do both whatever it is told)."""
    french = Check("language", "Always answer in French.", "language", "french")
    checks = tmp_path / "checks.json"
    checks.write_text(json.dumps([french.to_dict(), QUESTION.to_dict()]))
    args = GRPOArguments(model_name_or_path="x", env="roleplay", env_checks=str(checks), turns=3, num_generations=2,
                         env_exclusive=on)  # fmt: skip
    source = RoleplayEpisodes(args, ListedUserTurns(USERS), 2, None)
    draws = iter([[0], [0], [0]])  # coin, check (French), seat
    env = source.environments(lambda n: next(draws))[0]
    env.reset()
    rewards = [
        env.step(reply)[1] for reply in ("le zorp est rouge ?", "le zorp est rouge .", "the zorp is red .")
    ]
    assert rewards == ([0.0, 1.0, 0.0] if on else [1.0, 1.0, 0.0])
    assert env.unasked == ((QUESTION,) if on else ())


def test_every_process_logs_the_same_metric_names_whatever_instructions_it_drew(policy, tokenizers, tmp_path):
    """Processes draw different instructions, yet all present the same names to the one reduce call (else it
    fails or hangs); an instruction nobody drew is left out of the log rather than logged as 0."""
    french = Check("language", "Always answer in French.", "language", "french")
    checks = tmp_path / "checks.json"
    checks.write_text(json.dumps([QUESTION.to_dict(), french.to_dict()]))
    args = GRPOArguments(model_name_or_path="x", env="roleplay", env_checks=str(checks), turns=2, num_generations=2,
                         response_length=4, env_controls=0.5)  # fmt: skip
    source = RoleplayEpisodes(args, ListedUserTurns(USERS), 2, None)
    encoder = Encoder(tokenizers["bytelevel"], "chatml")
    names = []
    for coin, check in ((_COIN - 1, 0), (_COIN - 1, 1), (0, 0)):  # format; French; a control
        draws = iter([[coin], [check], [0]])
        names.append(list(source.rollout(policy, encoder, lambda n, d=draws: next(d), "cpu").parts))
    assert names[0] == names[1] == names[2]
    assert {"check/format", "check/language", "check/unasked"} <= set(names[0])
    tallies = {f"reward/{n}": (1.0, 0) if n == "check/language" else (1.0, 2) for n in names[0]}
    logged = exact_means(tallies, lambda t: t, optional=set(tallies))
    assert "reward/check/language" not in logged and logged["reward/check/format"] == 0.5


def test_turn_level_advantages_reach_exactly_their_turns_tokens(policy, tokenizers):
    """--turn_reward turn: the tokens of reply k carry the group-normalised reward of turn k, nothing else."""
    from llm.train.grpo import core

    args = GRPOArguments(model_name_or_path="x", env="roleplay", turns=3, num_generations=4, response_length=6,
                         turn_reward="turn")  # fmt: skip
    source = RoleplayEpisodes(args, ListedUserTurns(USERS), 2, None)
    source.checks = [Check("short", "Be brief.", "max_words", 2)]  # passes or fails by chance
    batch = source.rollout(policy, Encoder(tokenizers["bytelevel"], "chatml"), lambda n: [0], "cpu")
    episodes = source.last_episodes
    assert batch.turn_scores.tolist() == [e.rewards for e in episodes]
    assert torch.equal(batch.turn_of >= 0, batch.mask > 0)
    per_turn = torch.stack([core.group_advantages(c, 4) for c in batch.turn_scores.T], dim=1)
    advantages = core.spread_over_turns(per_turn, batch.turn_of)
    for b in range(4):
        for k in range(3):
            on_turn = advantages[b][batch.turn_of[b] == k]
            assert on_turn.numel() > 0 and torch.all(on_turn == per_turn[b, k])
        assert torch.all(advantages[b][batch.turn_of[b] < 0] == 0)
    with pytest.raises(UserError, match="--advantage grpo or rloo"):
        replace(args, advantage="reinforce_pp").validate()


def test_turn_reward():
    assert turn_reward([1.0, 0.0, 1.0], "mean") == pytest.approx(2 / 3)
    assert turn_reward([1.0, 0.0, 1.0], "min") == 0.0 and turn_reward([0.0, 1.0], "last") == 1.0
    with pytest.raises(ValueError, match="mean, min, last or turn"):
        turn_reward([1.0], "max")


def test_llm_train_grpo_env_roleplay_starts_at_ratio_one_and_logs_every_turn(tmp_path, checkpoint):
    checks = tmp_path / "checks.json"
    checks.write_text(json.dumps([QUESTION.to_dict()]))
    args = GRPOArguments(
        model_name_or_path=str(checkpoint), env="roleplay", env_checks=str(checks), turns=2, num_generations=4,
        rollout_batch_size=8, response_length=8, max_steps=2, learning_rate=1e-3, output_dir=str(tmp_path / "out"),
        reward_fn=["check:max_words=3"], sample_rows=0, held_out_reward=["check:ending=?"], env_controls=0.5,
    )  # fmt: skip
    history = train(args)
    first = history[0]
    assert "held_out/check:ending=?" in first and "reward/held_out/check:ending=?" not in first
    assert any(k.startswith("reward/check/") and not k.startswith("reward/check/turn_") for k in first)
    assert first["first_ratio"] == pytest.approx(1.0, abs=1e-6) and first["first_clipfrac"] == 0.0
    assert first["kl"] == 0.0 and history[1]["kl"] > 0.0
    assert {"reward/check/turn_1", "reward/check/turn_2", "reward/check:max_words=3"} <= set(first)
    assert (tmp_path / "out" / "grpo_curves.png").exists()
    assert json.loads((tmp_path / "out" / "policy" / "llm_train.json").read_text())["stage"] == "grpo"


@pytest.mark.slow
def test_two_processes_that_draw_different_instructions_log_the_same_metrics(tmp_path, checkpoint):
    """Two CPU processes of ``--env roleplay`` with two instructions: where they drew different ones (checked
    below with the trainer's own draw), they still agree on every logged name and number, and finish."""
    from tests.helpers.ports import free_port

    french = Check("language", "Always answer in French.", "language", "french")
    checks = tmp_path / "checks.json"
    checks.write_text(json.dumps([QUESTION.to_dict(), french.to_dict()]))
    flags = dict(model_name_or_path=str(checkpoint), env="roleplay", env_checks=str(checks), turns=2,
                 num_generations=2, rollout_batch_size=2, response_length=6, max_steps=3, learning_rate=1e-3,
                 output_dir=str(tmp_path / "two"), sample_rows=0, seed=0)  # fmt: skip
    # The draw of train(): one shared generator, each process taking its share (here one group each).
    args = GRPOArguments(**flags)
    source = RoleplayEpisodes(args, *roleplay_user_side(args), None)
    shared = torch.Generator().manual_seed(0)
    drawn = []
    for _ in range(flags["max_steps"]):
        envs = source.environments(lambda n: torch.randint(n, (2,), generator=shared).tolist())
        drawn.append((envs[0].check.family, envs[2].check.family))  # process 0's group, process 1's
    assert any(a != b for a, b in drawn), drawn  # the case this test is about
    argv = [f"--{k}={v}" for k, v in flags.items()]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           "-m", "tests.helpers.grpo_scripted", *argv]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [(tmp_path / "two" / f"metrics-rank{r}.jsonl").read_text().splitlines() for r in (0, 1)]
    untimed = [[{k: v for k, v in json.loads(line).items() if not k.startswith("time_")} for line in rank] for rank in ranks]  # fmt: skip
    assert untimed[0] == untimed[1] and len(untimed[0]) == 3
    for line, (a, b) in zip(untimed[0], drawn, strict=True):  # both drawn families logged, no other
        families = {k.removeprefix("reward/check/") for k in line if k.startswith("reward/check/")}
        assert families - {"turn_1", "turn_2"} == {a, b}
