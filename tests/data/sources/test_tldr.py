"""TL;DR sources on the bundled samples and on fixture records in each exact schema."""

import json

import datasets
import pytest

from llm.data.encode import IGNORE_INDEX
from llm.data.process import DataArguments, ProcessArguments, process
from llm.data.sources.tldr import (
    SummarizeFromFeedback,
    TldrComparisons,
    TldrSFT,
    build_query,
    normalize_query,
)
from llm.data.tokenizer import build_tokenizer
from llm.errors import RecordError
from tests.helpers import REPO

DATA = REPO / "llm" / "data" / "samples"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))


def test_sft_record_becomes_query_and_reference_completion():
    record = {"prompt": "SUBREDDIT: r/pets\nTITLE: Cat\nPOST: My cat sings.\nTL;DR: ", "label": "Cat sings."}
    conv = TldrSFT.to_conversation(record)
    assert conv.messages[0].content == "SUBREDDIT: r/pets\nTITLE: Cat\nPOST: My cat sings.\nTL;DR:"
    assert conv.messages[1].content == "Cat sings."


def test_comparison_prompts_get_their_tldr_marker():
    pair = TldrComparisons.to_preference(
        {
            "prompt": "SUBREDDIT: r/pets\nTITLE: Cat\nPOST: My cat sings.",
            "chosen": "TL;DR: A.",
            "rejected": "TL;DR: B",
        }
    )
    assert pair.prompt.messages[0].content.endswith("POST: My cat sings.\nTL;DR:")
    assert (pair.chosen_text, pair.rejected_text) == ("A.", "B")
    assert (
        normalize_query("SUBREDDIT: r/a\n\nTITLE: b\n\nPOST: c")
        == "SUBREDDIT: r/a\n\nTITLE: b\n\nPOST: c\n\nTL;DR:"
    )


def feedback_record(**over):
    record = {
        "info": {
            "id": "t3_1",
            "post": "First line.\nSecond line is here.",
            "title": "Help",
            "subreddit": "pets",
        },
        "summaries": [
            {"text": " cat sings", "policy": "sup1", "note": None},
            {"text": "dog", "policy": "ref"},
        ],
        "choice": 1,
        "worker": "w1",
        "batch": "b1",
        "split": "train",
        "extra": {"confidence": 8},
    }
    record.update(over)
    return record


def test_summarize_from_feedback_uses_choice_and_builds_the_query():
    pair = SummarizeFromFeedback.to_preference(feedback_record())
    assert pair.prompt.messages[0].content == (
        "SUBREDDIT: r/pets\n\nTITLE: Help\n\nPOST: First line.\nSecond line is here.\n\nTL;DR:"
    )
    assert (pair.chosen_text, pair.rejected_text) == ("dog", "cat sings")


def test_summarize_from_feedback_truncates_at_the_last_newline_that_fits():
    count = lambda s: len(s.split())  # noqa: E731
    pair = SummarizeFromFeedback.to_preference(feedback_record(), max_query_tokens=10, count=count)
    assert pair.prompt.messages[0].content.endswith("POST: First line.\n\nTL;DR:")
    assert pair.meta["query_truncated"] is True
    query, cut = build_query("pets", "Help", "no newline here at all", 8, count)
    assert cut and count(query) <= 8


@pytest.mark.parametrize(
    ("over", "field"),
    [
        (
            {"info": {"id": "cnn", "post": None, "article": "News.", "title": "T", "subreddit": None}},
            "info.post",
        ),
        ({"choice": 2}, "choice"),
        ({"summaries": [{"text": "one"}]}, "summaries"),
        ({"info": "x"}, "info"),
    ],
)
def test_summarize_from_feedback_bad_records(over, field):
    with pytest.raises(RecordError) as err:
        SummarizeFromFeedback.to_preference(feedback_record(**over), "sff.jsonl:4")
    assert err.value.field == field


def test_bundled_sft_sample_processes_with_the_plain_template(tmp_path):
    args = DataArguments(
        dataset="tldr",
        data_files=[str(DATA / "tldr_sft_sample.jsonl")],
        tokenizer="tiny:bytelevel",
        template="plain",
        max_length=1024,
    )
    stats = process(args, ProcessArguments(str(tmp_path / "sft")))
    assert stats["records_kept"] == 300 and stats["records_dropped"] == {}
    assert stats["records_changed"]["TL;DR posts cut to fit max_query_tokens"] > 0  # the long posts
    assert stats["truncated_samples"] == 0
    row = datasets.load_from_disk(str(tmp_path / "sft"))["train"][0]
    tok = build_tokenizer("bytelevel")
    trained = [t for t, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != IGNORE_INDEX]
    text = tok.backend_tokenizer.decode(row["input_ids"], skip_special_tokens=False)
    label = json.loads((DATA / "tldr_sft_sample.jsonl").read_text().splitlines()[0])["label"]
    assert text.endswith("TL;DR: " + label + "</s>")  # query + " " + summary + EOS
    assert tok.backend_tokenizer.decode(trained, skip_special_tokens=False) == " " + label + "</s>"


def test_bundled_comparisons_drop_bad_pairs_and_count_them(tmp_path):
    args = DataArguments(
        dataset="tldr_comparisons",
        data_files=[str(DATA / "tldr_comparisons_sample.jsonl")],
        tokenizer="tiny:bytelevel",
        template="plain",
        max_length=1024,
    )
    stats = process(args, ProcessArguments(str(tmp_path / "cmp")))
    assert stats["records_read"] == 400
    assert stats["records_dropped"] == {"pair with an empty side": 2, "pair with identical sides": 2}
    rows = datasets.load_from_disk(str(tmp_path / "cmp"))["train"]
    assert len(rows) == 396 and 99 not in rows["source_index"]  # line 100 is an identical pair
    first = rows[0]
    prompt_len = next(i for i, lab in enumerate(first["chosen_labels"]) if lab != IGNORE_INDEX)
    assert first["chosen_input_ids"][:prompt_len] == first["rejected_input_ids"][:prompt_len]
