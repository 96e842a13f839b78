"""``llm-train grpo`` with sampling replaced by a script, so that runs on different numbers of processes see the
same rollouts: the data-parallel agreement test launches it with ``torch.distributed.run``.

    python -m torch.distributed.run --nproc_per_node 2 -m tests.helpers.grpo_scripted --model_name_or_path … (grpo flags)

(run from the repository root, so that ``tests.helpers.ppo_rewards`` imports for ``--reward_fn``)
"""

import sys

import torch

from llm.commands.cli import parse
from llm.train.args import shutdown_distributed
from llm.train.grpo.trainer import GRPOArguments, train


class ScriptedGenerator:
    """Responses that depend only on the prompt and the row's place in its group: the same prompt drawn by
    any process gets the same ``group_size`` completions, of different lengths (some never end)."""

    def __init__(
        self, group_size: int, response_length: int, eos_id: int, vocab: tuple[int, int] = (20, 780)
    ):
        self.group_size, self.length, self.eos_id, self.vocab = group_size, response_length, eos_id, vocab

    @torch.no_grad()
    def __call__(self, model, queries: torch.Tensor, query_mask: torch.Tensor) -> torch.Tensor:
        rows = []
        for b, (query, mask) in enumerate(zip(queries, query_mask, strict=True)):
            ids = query[mask.bool()].tolist()
            key = sum((k + 1) * t for k, t in enumerate(ids)) % 1_000_003
            place = b % self.group_size
            rng = torch.Generator().manual_seed(key * self.group_size + place)
            row = torch.randint(*self.vocab, (self.length,), generator=rng)
            end = (key + 3 * place) % (self.length + 3)  # past the end: this completion never ends
            if end < self.length:
                row[end] = self.eos_id
            rows.append(row)
        return torch.stack(rows).to(queries.device)


def run(argv: list[str]) -> list[dict]:
    (args,) = parse((GRPOArguments,), argv, "grpo_scripted")
    args.validate()
    from transformers import AutoTokenizer

    eos_id = AutoTokenizer.from_pretrained(args.model_name_or_path).eos_token_id
    return train(args, generator=ScriptedGenerator(args.num_generations, args.response_length, eos_id))


if __name__ == "__main__":
    run(sys.argv[1:])
    shutdown_distributed()
