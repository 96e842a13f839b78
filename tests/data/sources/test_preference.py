"""Preference data: TRL's formats, HH-RLHF transcripts and KTO records as multi-turn pairs; the prompt encoded
once for both sides; only the continuations' assistant turns trained; drops counted by reason."""

import json

import datasets
import pytest

from llm.data.process import DataArguments, NothingToTrain, ProcessArguments, process
from llm.data.sources import detect_source, get_source
from llm.data.tokenizer import build_tokenizer
from llm.errors import RecordError

PROMPT = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Tea?"},
]
YES = [{"role": "assistant", "content": "Yes, with honey."}]
NO = [{"role": "assistant", "content": "No."}]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))


def encode(tmp_path, records, dataset="preference", **kwargs):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    args = DataArguments(
        dataset=dataset, data_files=[str(path)], tokenizer="tiny:bytelevel", template="chatml", **kwargs
    )
    stats = process(args, ProcessArguments(str(tmp_path / "o"), overwrite=True))
    return stats, datasets.load_from_disk(str(tmp_path / "o"))["train"]


def trained_text(ids, labels):
    return build_tokenizer("bytelevel").decode([t for t, lab in zip(ids, labels, strict=True) if lab != -100])


@pytest.mark.parametrize(
    "record",
    [
        {"prompt": PROMPT, "chosen": YES, "rejected": NO},  # conversational
        {"chosen": PROMPT + YES, "rejected": PROMPT + NO},  # implicit prompt
    ],
)
def test_trl_formats_give_the_same_multi_turn_pair(record):
    pair = get_source("preference").convert(record, "f:1")
    assert [m.content for m in pair.prompt.messages] == ["Hi", "Hello.", "Tea?"]
    assert (pair.chosen_text, pair.rejected_text) == ("Yes, with honey.", "No.")
    standard = get_source("preference").convert(
        {"prompt": "Tea?", "chosen": "Yes.", "rejected": "No."}, "f:1"
    )
    assert [m.role for m in standard.prompt.messages] == ["user"] and standard.chosen_text == "Yes."


def test_hh_rlhf_transcripts_split_at_the_first_difference():
    chosen = "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Tea?\n\nAssistant: Yes, with honey."
    rejected = "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Tea?\n\nAssistant: No."
    record = {"chosen": chosen, "rejected": rejected}
    assert detect_source(record).name == "hh_rlhf"
    pair = get_source("hh_rlhf").convert(record, "f:1")
    assert [m.role for m in pair.prompt.messages] == ["user", "assistant", "user"]
    assert (pair.chosen_text, pair.rejected_text) == ("Yes, with honey.", "No.")
    with pytest.raises(RecordError, match="'chosen': expected a transcript"):
        get_source("hh_rlhf").convert({"chosen": "no turns", "rejected": rejected}, "f:1")


def test_the_prompt_is_encoded_once_and_only_assistant_turns_are_trained(tmp_path):
    card = {"name": "Mira", "persona": "A keeper.", "user_name": "Sam"}
    follow = [{"role": "user", "content": "And milk?"}, {"role": "assistant", "content": "A drop."}]
    stats, rows = encode(
        tmp_path, [{"prompt": PROMPT, "chosen": YES + follow, "rejected": NO, "character": card}]
    )
    row = rows[0]
    p = row["prompt_length"]
    assert row["chosen_input_ids"][:p] == row["rejected_input_ids"][:p]
    assert all(lab == -100 for lab in row["chosen_labels"][:p] + row["rejected_labels"][:p])
    assert (
        trained_text(row["chosen_input_ids"], row["chosen_labels"])
        == "Yes, with honey.<|im_end|>A drop.<|im_end|>"
    )
    assert trained_text(row["rejected_input_ids"], row["rejected_labels"]) == "No.<|im_end|>"
    assert "Mira" in build_tokenizer("bytelevel").decode(row["chosen_input_ids"][:p])


def test_drops_are_counted_by_reason(tmp_path):
    long = [{"role": "assistant", "content": "word " * 300}]
    records = [
        {"prompt": PROMPT, "chosen": YES, "rejected": YES},  # identical sides
        {"prompt": PROMPT, "chosen": YES, "rejected": [{"role": "assistant", "content": " "}]},  # empty side
        {"prompt": PROMPT, "chosen": long, "rejected": NO},  # over --max_length
        {"prompt": PROMPT, "chosen": YES, "rejected": NO},
    ]
    stats, rows = encode(tmp_path, records, max_length=128, truncation="drop")
    assert stats["records_dropped"] == {
        "pair over --max_length (--truncation drop)": 1,
        "pair with an empty side": 1,
        "pair with identical sides": 1,
    }
    assert len(rows) == 1
    stats, rows = encode(tmp_path, records, max_length=128)  # keep_end: the long pair is kept, cut
    assert len(rows) == 2 and stats["truncated_samples"] == 1


def test_bad_preference_records_name_the_field(tmp_path):
    bad = [
        (
            {"prompt": PROMPT, "chosen": [{"role": "user", "content": "x"}], "rejected": NO},
            r"'chosen\[0\]\.role'",
        ),
        ({"prompt": PROMPT[:2], "chosen": YES, "rejected": NO}, "'prompt': must end with a user turn"),
        ({"prompt": PROMPT, "chosen": 5, "rejected": NO}, "'chosen': expected a list, got int"),
    ]
    for record, message in bad:
        with pytest.raises(RecordError, match=message):
            get_source("preference").convert(record, "f:1")


def test_kto_rows(tmp_path):
    records = [
        {"prompt": "Tea?", "completion": "Yes.", "label": True},
        {"prompt": PROMPT, "completion": NO, "label": False},
    ]
    stats, rows = encode(tmp_path, records, dataset="kto")
    assert rows["desirable"] == [True, False]
    assert trained_text(rows[0]["input_ids"], rows[0]["labels"]) == "Yes.<|im_end|>"
    with pytest.raises(RecordError, match="'label': expected true/false"):
        get_source("kto").convert({"prompt": "a", "completion": "b", "label": "yes"}, "f:1")
    with pytest.raises(NothingToTrain):
        encode(tmp_path, [{"prompt": "a", "completion": "b" * 500, "label": True}], dataset="kto",
               max_length=32, truncation="drop", on_error="skip")  # fmt: skip
