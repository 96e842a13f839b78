"""The online-RL core (llm/train/online): a new episode source is one small module and one registry row (the
example of docs/grpo.md, "Adding an environment", registered here and trained for an iteration); its config
takes the loop's flags and --env_options; prompts read through the data layer's readers, so source options
apply; ppo and grpo share one base and never import each other."""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from llm.data.conversation import Conversation, Message
from llm.data.samples import PIPPA_SAMPLE, TLDR_SFT_SAMPLE
from llm.data.tokenizer import build_tokenizer
from llm.errors import UserError
from llm.train.grpo.trainer import GRPOArguments, train
from llm.train.online.args import GroupArguments, PromptArguments, SamplingArguments
from llm.train.online.environments import ENVIRONMENTS
from llm.train.online.episodes import run_episodes
from llm.train.online.prompts import load_prompts
from llm.train.online.roleplay import episode_batch

REPO = Path(__file__).resolve().parent.parent


# ── the docs' example: llm/train/online/echo.py ──────────────────────────────────────────────────────────
class Echo:
    """The user says a word each turn; a reply that repeats it earns 1."""

    def __init__(self, words: list[str], turns: int):
        self.words, self.turns, self.turn = words, turns, 0

    def reset(self) -> Conversation:
        self.turn = 0
        return Conversation((Message("user", f"say {self.words[0]}"),))

    def step(self, reply: str) -> tuple[str | None, float]:
        reward = float(self.words[self.turn % len(self.words)] in reply)
        self.turn += 1
        return (None if self.turn == self.turns else f"say {self.words[self.turn % len(self.words)]}"), reward


@dataclass
class EchoConfig(SamplingArguments, GroupArguments):
    words: str = "red,blue"  # --env_options words=tea,cake
    turns: int = 2  # grpo --turns
    turn_reward: str = "mean"  # grpo --turn_reward
    rewards_optional = True  # the echo is the reward


class EchoEpisodes:
    def __init__(self, config: EchoConfig):
        self.config = config

    @classmethod
    def build(cls, config, setup):
        return cls(config)

    def describe(self) -> str:
        return f"{self.config.turns}-turn echo episodes"

    def rollout(self, model, encoder, draw, device):
        c, words = self.config, self.config.words.split(",")
        envs = [
            Echo(words[p:] + words[:p], c.turns) for p in draw(len(words)) for _ in range(c.num_generations)
        ]
        t0 = time.perf_counter()
        episodes = run_episodes(model, encoder, envs, c.response_length, c.temperature, c.top_p)
        per_turn = [list(e.rewards) for e in episodes]
        parts = {"echo": [r for e in episodes for r in e.rewards]}
        pad_id = encoder.tokenizer.pad_token_id or 0
        return episode_batch(episodes, per_turn, parts, c, pad_id, device, time.perf_counter() - t0)


# ── and its one registry row, in llm/train/online/environments.py ──────────────────────────────────────
@pytest.fixture
def echo(monkeypatch):
    monkeypatch.setitem(ENVIRONMENTS, "echo", (EchoEpisodes, EchoConfig))


def test_a_registered_environment_trains_an_iteration(echo, checkpoint, tmp_path):
    args = GRPOArguments(
        model_name_or_path=str(checkpoint), env="echo", env_options=["words=tea,cake,pie"], turns=2,
        num_generations=2, rollout_batch_size=4, response_length=6, max_steps=1, output_dir=str(tmp_path / "o"),
        sample_rows=0,
    )  # fmt: skip
    source, config = args.environment()
    assert source is EchoEpisodes and (config.words, config.turns, config.num_generations) == (
        "tea,cake,pie",
        2,
        2,
    )
    (metrics,) = train(args)
    assert "reward/echo" in metrics and metrics["first_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["completion_length"] > 0  # the policy's own tokens were trained
    assert json.loads((tmp_path / "o" / "policy" / "llm_train.json").read_text())["stage"] == "grpo"


def test_env_options_are_checked_against_the_config(echo):
    args = GRPOArguments(model_name_or_path="x", env="echo", env_options=["colour=red"])
    with pytest.raises(UserError, match="--env_options 'colour=red'.*words"):
        args.environment()
    with pytest.raises(UserError, match="--env 'nope': choose single_turn, none, roleplay"):
        GRPOArguments(model_name_or_path="x", env="nope").environment()


def test_prompts_are_read_with_the_sources_options():
    """PIPPA's --user_name and TL;DR's --max_query_tokens reach the prompts, as they reach process's rows."""
    tok = build_tokenizer("bytelevel")
    for file, dataset, option, check in (
        (PIPPA_SAMPLE, "pippa", {"user_name": "Zorblax"}, lambda old, new: "Zorblax" in new and "Zorblax" not in old),
        (TLDR_SFT_SAMPLE, "tldr", {"max_query_tokens": 60}, lambda old, new: len(new) < len(old) and "TL;DR:" in new),
    ):  # fmt: skip
        plain = PromptArguments(
            dataset=dataset, data_files=[str(file)], max_prompt_length=10_000, max_prompts=8
        )
        before, _ = load_prompts(plain, tok, "chatml")
        after, _ = load_prompts(PromptArguments(**{**vars(plain), **option}), tok, "chatml")
        assert len(before) == len(after)
        assert any(check(tok.decode(old), tok.decode(new)) for old, new in zip(before, after, strict=True)), (
            dataset
        )


def test_ppo_and_grpo_stand_side_by_side():
    for loop, other in (("ppo", "grpo"), ("grpo", "ppo")):
        for path in (REPO / "llm" / "train" / loop).glob("*.py"):
            assert f"train.{other}" not in path.read_text(), f"{path} imports {other}"
