"""``--env single_turn`` (the default): prompts from a data source, ``num_generations`` completions each, cut
after the first EOS and scored by the reward sources (:mod:`llm.train.rewards`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from llm.data.collate import pad
from llm.data.encode import Encoder
from llm.errors import UserError
from llm.train.online.args import GroupArguments, PromptArguments, SamplingArguments
from llm.train.online.forward import penalize_missing_eos, response_logprobs, truncate_after_eos
from llm.train.online.prompts import load_prompts
from llm.train.online.source import Batch, Draw, Setup
from llm.train.rewards import Rewards


@dataclass
class SingleTurnConfig(PromptArguments, SamplingArguments, GroupArguments):
    """The prompts, the sampling and the groups: the flags of the same names."""

    rewards_optional = False  # a completion is scored by the reward sources alone


class SingleTurn:
    """Each iteration: ``draw`` picks prompts, each sampled ``num_generations`` times by the generator."""

    def __init__(self, config: SingleTurnConfig, prompts: list[list[int]], dropped: dict, setup: Setup):
        if setup.rewards is None:
            raise UserError("give a reward: --reward_fn, --reward_url or --reward_model_path")
        self.config, self.prompts, self.dropped = config, prompts, dropped
        self.tokenizer, self.generator, self.rewards = setup.tokenizer, setup.generator, setup.rewards

    @classmethod
    def build(cls, config: SingleTurnConfig, setup: Setup) -> SingleTurn:
        return cls(config, *load_prompts(config, setup.tokenizer, setup.template_name), setup)

    def describe(self) -> str:
        return f"{len(self.prompts)} prompts (dropped {self.dropped})"

    def rollout(self, model: Any, encoder: Encoder, draw: Draw, device: Any) -> Batch:
        picks = draw(len(self.prompts))
        return single_turn_rollout(
            self.config, model, self.generator, self.tokenizer, [self.prompts[i] for i in picks], self.rewards,
            device,
        )  # fmt: skip


def single_turn_rollout(
    config: SingleTurnConfig, model: Any, generator: Any, tokenizer: Any, prompts: list[list[int]],
    rewards: Rewards, device: Any,
) -> Batch:  # fmt: skip
    """``prompts`` × G completions each, cut after EOS, scored by the reward sources."""
    t0 = time.perf_counter()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = [prompt for prompt in prompts for _ in range(config.num_generations)]
    queries, query_mask = pad(rows, pad_id, side="left")
    queries, query_mask = queries.to(device), query_mask.to(device)
    model.eval()
    raw = generator(model, queries, query_mask)
    responses, mask, has_eos = truncate_after_eos(raw, tokenizer.eos_token_id, pad_id)
    t_generate = time.perf_counter() - t0
    prompt_texts = [
        tokenizer.decode(q[m.bool()].tolist(), skip_special_tokens=False)
        for q, m in zip(queries, query_mask, strict=True)
    ]
    completions = [
        tokenizer.decode(r[m.bool()].tolist(), skip_special_tokens=True)
        for r, m in zip(responses, mask, strict=True)
    ]
    total, parts = rewards(prompt_texts, completions)
    if config.mask_truncated_completions:
        mask = mask * has_eos[:, None].float()

    def forward(m, idx):
        rows = slice(None) if idx is None else idx
        return response_logprobs(m, queries[rows], query_mask[rows], responses[rows], config.temperature)

    scores = torch.tensor(total, dtype=torch.float32, device=device)
    scores = penalize_missing_eos(scores, has_eos.to(device), config.missing_eos_penalty)
    return Batch(forward, mask, scores, parts, has_eos, completions, t_generate, config.response_length)
