"""The prompts of an online-RL loop, as token ids with the generation prompt: each chat up to its last user
turn, or a TL;DR query. Records are read by the data layer's readers (:func:`llm.data.process.convert_records`),
so a source's options apply as they do in ``process`` (PIPPA's ``--user_name``, TL;DR's ``--max_query_tokens``);
or the prompts are those of a processed dataset (``--dataset_path``).
"""

from __future__ import annotations

from typing import Any

from llm.data.conversation import Conversation
from llm.data.encode import Encoder
from llm.data.process import DataArguments, Report, convert_records
from llm.data.sources import get_source
from llm.errors import UserError
from llm.train.online.args import PromptArguments


def prompts_from_rows(rows: Any, max_length: int) -> tuple[list[list[int]], dict]:
    """Prompts of a processed dataset: each row's ids before its last trained span. Because an inference
    prompt's ids are a prefix of the training ids (see llm/data/encode.py), that is exactly the history plus
    the generation prompt.

    >>> prompts_from_rows({"input_ids": [[1, 2, 3, 4], [5, 6]], "labels": [[-100, -100, 3, 4], [-100, -100]]}, 8)
    ([[1, 2]], {'prompt too long': 0, 'no trained reply': 1})
    """
    prompts, dropped = [], {"prompt too long": 0, "no trained reply": 0}
    for ids, labels in zip(rows["input_ids"], rows["labels"], strict=True):
        trained = [i for i, lab in enumerate(labels) if lab != -100]
        if not trained:
            dropped["no trained reply"] += 1
            continue
        start = trained[-1]
        while start > 0 and labels[start - 1] != -100:
            start -= 1
        if start > max_length:
            dropped["prompt too long"] += 1
            continue
        prompts.append(list(ids[:start]))
    return prompts, dropped


def reading_arguments(args: PromptArguments) -> DataArguments:
    """The data layer's options for reading the prompt records (the source's defaults where not given)."""
    options: dict[str, Any] = {"max_query_tokens": args.max_query_tokens}
    if args.user_name is not None:
        options["user_name"] = args.user_name
    return DataArguments(dataset=args.dataset, data_files=args.data_files, **options)


def load_prompts(args: PromptArguments, tokenizer: Any, template_name: str) -> tuple[list[list[int]], dict]:
    """Prompt ids rendered with the generation prompt, and the prompts dropped by reason."""
    if args.dataset_path:
        import datasets

        rows = datasets.load_from_disk(args.dataset_path)["train"]
        if "input_ids" not in rows.column_names or "position_ids" in rows.column_names:
            raise UserError(
                f"{args.dataset_path}: PPO prompts come from unstacked chat rows (process without --stack)"
            )
        prompts, dropped = prompts_from_rows(rows, args.max_prompt_length)
        return prompts[: args.max_prompts] if args.max_prompts else prompts, dropped
    encoder = Encoder(tokenizer, template_name)
    items = convert_records(reading_arguments(args), get_source(args.dataset), tokenizer, Report())
    prompts, dropped = [], {"prompt too long": 0, "no user turn": 0}
    for _, item in items:
        conv = item.prompt if hasattr(item, "prompt") else item
        last_user = max((i for i, m in enumerate(conv.messages) if m.role == "user"), default=None)
        if last_user is None:
            dropped["no user turn"] += 1
            continue
        ids = encoder.encode_prompt(Conversation(conv.messages[: last_user + 1], conv.character))
        if len(ids) > args.max_prompt_length:
            dropped["prompt too long"] += 1
            continue
        prompts.append(ids)
        if args.max_prompts and len(prompts) >= args.max_prompts:
            break
    if not prompts:
        raise UserError(
            "no usable prompts (dropped: " + ", ".join(f"{k} {v}" for k, v in dropped.items()) + ")"
        )
    return prompts, dropped
