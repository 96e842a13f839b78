"""process (python -m llm.data.process_chats) end to end on fixture files: layout, invariants, bad input, cache."""

import json
from collections import Counter

import datasets
import pytest

from llm.commands.process import main
from llm.data.encode import IGNORE_INDEX
from llm.data.process import DataArguments, ProcessArguments, process
from llm.data.samples import PIPPA_SAMPLE as SAMPLE
from llm.errors import RecordError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))


def run(tmp_path, name, seed=0, overwrite=False, **kwargs):
    kwargs.setdefault("data_files", [str(SAMPLE)])
    kwargs.setdefault("tokenizer", "tiny:metaspace")
    stats = process(DataArguments(**kwargs), ProcessArguments(str(tmp_path / name), overwrite, seed))
    return stats, datasets.load_from_disk(str(tmp_path / name))


def out(tmp_path):
    return ProcessArguments(str(tmp_path / "o"))


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def per_sample(row):
    """Split a packed row at its position-id restarts: [(source, input_ids, labels)]."""
    starts = [i for i, p in enumerate(row["position_ids"]) if p == 0] + [len(row["input_ids"])]
    return [
        (src, row["input_ids"][a:b], row["labels"][a:b])
        for src, a, b in zip(row["source_index"], starts[:-1], starts[1:], strict=True)
    ]


def trained(ids, labels):
    return [t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE_INDEX]


def test_unstacked_rows_map_one_to_one_to_records_in_order(tmp_path):
    stats, ds = run(tmp_path, "flat", max_length=16384, tokenizer="tiny:bytelevel", template="chatml")
    train = ds["train"]
    assert train["source_index"] == list(range(stats["records_read"]))
    assert stats["records_kept"] + sum(stats["records_dropped"].values()) == stats["records_read"]
    assert stats["truncated_samples"] == 0
    assert set(train.column_names) == {"input_ids", "labels", "source_index"}
    assert (tmp_path / "flat" / "lengths.png").stat().st_size > 1000
    assert (tmp_path / "flat" / "tokenizer" / "tokenizer.json").exists()


def test_stacking_trains_every_trained_token_exactly_once(tmp_path):
    _, flat = run(tmp_path, "flat", max_length=16384)
    stats, stacked = run(tmp_path, "stacked", max_length=1024, stack=True)
    assert stats["windows"]["truncated"] == 0 and stats["windows"]["chats_split"] > 0
    assert stats["packing_efficiency"] > 0.8
    expected = {r["source_index"]: Counter(trained(r["input_ids"], r["labels"])) for r in flat["train"]}
    got: dict[int, Counter] = {}
    for row in stacked["train"]:
        assert len(row["input_ids"]) <= 1024
        for src, ids, labels in per_sample(row):
            assert labels[0] == IGNORE_INDEX  # never predicted from the previous sample
            got.setdefault(src, Counter()).update(trained(ids, labels))
    assert got == expected


def test_bad_input_raises_with_file_line_and_field(tmp_path):
    path = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
            '{"messages": [',
        ],
    )
    rc = main(
        [
            "--dataset",
            "openai",
            "--data_files",
            str(path),
            "--tokenizer",
            "tiny:bytelevel",
            "--output",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2
    with pytest.raises(RecordError, match=r"bad.jsonl:2: field '<line>': malformed JSON"):
        process(
            DataArguments(dataset="openai", data_files=[str(path)], tokenizer="tiny:bytelevel"), out(tmp_path)
        )


def test_skip_counts_every_drop_by_reason(tmp_path):
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                json.dumps(good).encode(),
                b'{"messages": [',  # malformed JSON
                b'{"messages": [{"role": "user", "content": "\xff"}]}',  # not UTF-8
                json.dumps({"messages": [{"role": "user"}]}).encode(),  # missing field
                json.dumps({"messages": [{"role": "user", "content": 7}]}).encode(),  # wrong type
                json.dumps({"messages": []}).encode(),  # empty conversation
                json.dumps(
                    {"messages": [{"role": "user", "content": "only a question"}]}
                ).encode(),  # nothing to train
                json.dumps(good).encode(),
            ]
        )
    )
    stats, ds = run(
        tmp_path, "o", dataset="openai", data_files=[str(path)], on_error="skip", template="chatml"
    )
    assert stats["records_read"] == 8 and stats["records_kept"] == 2
    assert stats["records_dropped"] == {
        "empty conversation": 1,
        "malformed JSON": 1,
        "missing field": 1,
        "not UTF-8": 1,
        "nothing to train (no reply the mask policy trains)": 1,
        "wrong type": 1,
    }
    assert ds["train"]["source_index"] == [0, 7]


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(RecordError, match="empty file"):
        process(
            DataArguments(dataset="openai", data_files=[str(path)], tokenizer="tiny:bytelevel"), out(tmp_path)
        )


def test_rerun_is_cached_and_other_inputs_never_overwrite(tmp_path):
    first, _ = run(tmp_path, "o")
    again, _ = run(tmp_path, "o")
    assert again["cached"] and again["fingerprint"] == first["fingerprint"]
    elsewhere, ds = run(tmp_path, "p")  # same inputs, new output: copied from the cache
    assert elsewhere["cached"] and len(ds["train"]) == first["rows"]["train"]
    # Same file name, other content: a different fingerprint, and no silent overwrite.
    copy = tmp_path / "data.jsonl"
    copy.write_text(SAMPLE.read_text())
    base, _ = run(tmp_path, "q", data_files=[str(copy)])
    assert base["fingerprint"] == first["fingerprint"]  # keyed by content, not by file name
    copy.write_text("\n".join(SAMPLE.read_text().splitlines()[:50]) + "\n")
    with pytest.raises(FileExistsError, match="--overwrite"):
        run(tmp_path, "q", data_files=[str(copy)])
    stats, ds = run(tmp_path, "q", data_files=[str(copy)], overwrite=True)
    assert stats["records_read"] == 50 and len(ds["train"]) == 50


def test_validation_split_is_by_record(tmp_path):
    stats, ds = run(tmp_path, "o", stack=True, max_length=1024, validation_split=0.1, seed=3)
    train = {s for r in ds["train"] for s in r["source_index"]}
    val = {s for r in ds["validation"] for s in r["source_index"]}
    assert train.isdisjoint(val) and len(val) == 20 and len(train | val) == 200


def test_gatt_samples_train_only_the_final_reply(tmp_path):
    stats, ds = run(tmp_path, "g", gatt=True, template="chatml", tokenizer="tiny:bytelevel", max_length=16384)
    row = ds["train"][0]
    runs, inside = 0, False
    for lab in row["labels"]:
        if lab != IGNORE_INDEX and not inside:
            runs += 1
        inside = lab != IGNORE_INDEX
    assert runs == 1  # one trained span: the final reply
    assert stats["samples"] > stats["records_kept"]


def test_sharegpt_and_text_sources(tmp_path):
    sg = write_jsonl(
        tmp_path / "sg.jsonl",
        [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}],
    )
    stats, ds = run(tmp_path, "sg", dataset="sharegpt", data_files=[str(sg)], template="vicuna")
    assert stats["records_kept"] == 1 and stats["trained_tokens"] > 0
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"text": "the sea " * 50}, {"text": "a light " * 50}])
    stats, ds = run(
        tmp_path, "txt", dataset="text", data_files=[str(docs)], max_length=64, tokenizer="tiny:bytelevel"
    )
    rows = ds["train"]
    assert all(len(r) == 64 for r in rows["input_ids"][:-1])
    eos = 2  # </s> in the tiny tokenizers
    assert sum(r.count(eos) for r in rows["input_ids"]) == 2  # documents joined by EOS
    assert rows["labels"] == rows["input_ids"]


def test_wrong_options_fail_before_work(tmp_path):
    tok = {"tokenizer": "tiny:bytelevel"}
    with pytest.raises(ValueError, match="known: hh_rlhf, kto, openai, pippa"):
        process(DataArguments(dataset="alpaca", **tok), out(tmp_path))
    with pytest.raises(ValueError, match="--stack packs chat samples"):
        process(DataArguments(dataset="tldr_comparisons", stack=True, **tok), out(tmp_path))
    with pytest.raises(FileNotFoundError, match="matches no file"):
        process(DataArguments(data_files=["nowhere/*.jsonl"], **tok), out(tmp_path))
    with pytest.raises(OSError, match="HF_HUB_OFFLINE"):
        process(DataArguments(**tok), out(tmp_path))
    with pytest.raises(ValueError, match="--tokenizer is required"):
        process(DataArguments(data_files=[str(SAMPLE)]), out(tmp_path))
    assert main(["--data_files", str(SAMPLE), "--tokenizer", "tiny:bytelevel"]) == 2  # --output is required


@pytest.mark.slow  # worker processes
def test_worker_processes_give_the_same_rows(tmp_path, monkeypatch):
    _, one = run(tmp_path, "one", stack=True, max_length=1024)
    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "fresh-cache"))  # really recompute
    stats, two = run(tmp_path, "two", stack=True, max_length=1024, num_proc=2)
    assert not stats.get("cached")
    assert one["train"]["input_ids"] == two["train"]["input_ids"]
    assert one["train"]["source_index"] == two["train"]["source_index"]
