"""Data safety: never delete what is not ours, swap outputs atomically, caches that cannot lie, every bad
input a clear error — each defect found by trying to break the data layer and the CLI, as a test."""

import contextlib
import json
import os
import shutil
from pathlib import Path

import datasets
import pytest

from llm.commands import main as cli
from llm.data import output as out_mod
from llm.data.output import MARKER, is_complete, recover, swap_into_place
from llm.data.process import DataArguments, NothingToTrain, ProcessArguments, process
from llm.data.samples import PIPPA_SAMPLE, TLDR_COMPARISONS_SAMPLE
from llm.data.sources import get_source
from llm.data.sources.files import iter_records
from llm.errors import RecordError, UserError

CHAT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]}
TOK = {"tokenizer": "tiny:bytelevel", "template": "chatml", "dataset": "openai"}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))


def jsonl(path: Path, records, newline_at_end=True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records)
    path.write_text(text + ("\n" if newline_at_end else ""))
    return path


def run(data_files, output, overwrite=False, **kwargs):
    args = DataArguments(data_files=[str(f) for f in data_files], **{**TOK, **kwargs})
    return process(args, ProcessArguments(str(output), overwrite))


# ── 1. --overwrite never deletes what is not ours ────────────────────────────────────────────────────


def test_overwrite_never_deletes_the_input_folder(tmp_path):
    folder = tmp_path / "d"
    chats = jsonl(folder / "chats.jsonl", [CHAT])
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds the input"):
        run([chats], folder, overwrite=True)
    assert chats.exists() and (folder / "notes.txt").read_text() == "mine"


def test_overwrite_never_empties_the_current_directory(tmp_path, monkeypatch):
    chats = jsonl(tmp_path / "in" / "chats.jsonl", [CHAT])
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("mine")
    monkeypatch.chdir(work)
    for target in (".", str(tmp_path)):
        with pytest.raises(UserError, match="current directory or one above"):
            run([chats], target, overwrite=True)
    assert (work / "keep.txt").read_text() == "mine"


def test_a_folder_of_other_files_is_never_replaced_even_with_overwrite(tmp_path, capsys):
    chats = jsonl(tmp_path / "chats.jsonl", [CHAT])
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("years of work")
    argv = ["process", "--data_files", str(chats), "--output", str(theirs), "--overwrite", "true"]
    assert cli([*argv, "--dataset", "openai", "--tokenizer", "tiny:bytelevel", "--template", "chatml"]) == 2
    err = capsys.readouterr().err
    assert "did not write (thesis.tex)" in err and "never replaced" in err
    assert (theirs / "thesis.tex").read_text() == "years of work"
    with pytest.raises(UserError, match="is a file"):
        run([chats], theirs / "thesis.tex", overwrite=True)


def test_our_own_output_is_replaced_only_with_overwrite(tmp_path):
    chats = jsonl(tmp_path / "chats.jsonl", [CHAT])
    run([chats], tmp_path / "o")
    other = jsonl(tmp_path / "other.jsonl", [CHAT, CHAT])
    with pytest.raises(FileExistsError, match="--overwrite"):
        run([other], tmp_path / "o")
    stats = run([other], tmp_path / "o", overwrite=True)
    assert stats["records_read"] == 2 and is_complete(tmp_path / "o")


def test_sft_keeps_processed_data_out_of_the_users_folders(tmp_path, monkeypatch, capsys):
    """`sft --output_dir proj/run` with the input in proj/data: processed rows go to the cache, proj/data
    stays; `--output_dir proj` (a folder holding the input) is refused before anything runs (issue 22)."""
    from llm.commands.sft import main as sft

    project = tmp_path / "proj"
    chats = jsonl(project / "data" / "chats.jsonl", [CHAT] * 4)
    (project / "data" / "README").write_text("my data")
    argv = ["--model_config", "tiny", "--tokenizer", "tiny:bytelevel", "--dataset", "openai", "--template",
            "chatml", "--data_files", str(chats), "--max_steps", "1", "--report_to", "none"]  # fmt: skip
    argv += ["--use_cpu", "true", "--save_strategy", "no", "--max_length", "64"]
    assert sft([*argv, "--output_dir", str(project)]) == 2
    assert "holds the input" in capsys.readouterr().err
    assert sorted(p.name for p in project.iterdir()) == ["data"]
    assert sft([*argv, "--output_dir", str(project / "run")]) == 0
    assert sorted(p.name for p in (project / "data").iterdir()) == ["README", "chats.jsonl"]
    assert (project / "run" / "llm_train.json").exists()
    assert any((tmp_path / "cache" / "processed").iterdir())


# ── 2. the cache key covers the parse mode, the file boundaries and every option ─────────────────────


def test_the_same_bytes_as_json_and_jsonl_are_different_inputs(tmp_path):
    array = json.dumps([CHAT, CHAT])
    as_json = tmp_path / "a" / "chats.json"
    as_json.parent.mkdir()
    as_json.write_text(array)
    as_jsonl = tmp_path / "b" / "chats.jsonl"
    as_jsonl.parent.mkdir()
    as_jsonl.write_text(array)
    stats = run([as_json], tmp_path / "o1")
    assert stats["records_read"] == 2 and not stats["cached"]
    with pytest.raises(RecordError, match="chats.jsonl:1"):  # one line holding an array: not a chat record
        run([as_jsonl], tmp_path / "o2")


def test_file_boundaries_are_part_of_the_key(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", [CHAT], newline_at_end=False)
    b = jsonl(tmp_path / "b.jsonl", [CHAT])
    both = tmp_path / "both.jsonl"
    both.write_bytes(a.read_bytes() + b.read_bytes())  # the concatenation: one malformed line
    first = run([a, b], tmp_path / "o1")
    assert first["records_read"] == 2
    with pytest.raises(RecordError, match="malformed JSON"):
        run([both], tmp_path / "o2")
    again = run([b, a], tmp_path / "o3")  # order matters too (row order, source_index)
    assert again["fingerprint"] != first["fingerprint"]


# ── 3. an interrupted swap leaves a complete output, and a broken one is never a cache hit ───────────


class Killed(BaseException):
    """A kill: nothing after it runs, not even cleanup (our own finally blocks are disarmed too)."""


def complete_output(directory: Path, content: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "rows.txt").write_text(content)
    out_mod.mark_complete(directory, content)
    return directory


@pytest.mark.parametrize("kill_at", range(5))
def test_a_swap_killed_at_any_step_leaves_old_or_new_whole(tmp_path, monkeypatch, kill_at):
    """Every filesystem call of the swap (clear the aside name, rename aside, rename in, delete aside)
    raising in turn, as a killed process with a dead pid: the next run sees either the complete old or the
    complete new output at the output path, and no debris."""
    output = complete_output(tmp_path / "out", "old")
    staged = complete_output(tmp_path / ".out.tmp-4242424", "new")
    calls = []
    real_rename, real_rmtree = os.rename, shutil.rmtree

    def counting(fn):
        def wrapped(*args, **kwargs):
            if len(calls) == kill_at:
                raise Killed
            calls.append(fn.__name__)
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(out_mod.os, "getpid", lambda: 4242424)  # the killed run's pid: dead afterwards
    monkeypatch.setattr(out_mod.os, "rename", counting(real_rename))
    monkeypatch.setattr(out_mod.shutil, "rmtree", counting(real_rmtree))
    with contextlib.suppress(Killed):
        swap_into_place(staged, output)
    monkeypatch.undo()
    monkeypatch.setattr(out_mod, "_pid_alive", lambda pid: pid != 4242424)
    recover(output)
    assert is_complete(output)
    assert (output / "rows.txt").read_text() == ("new" if kill_at >= 3 else "old")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # debris of the dead run is gone


def test_a_run_killed_while_building_leaves_the_old_output(tmp_path, monkeypatch):
    chats = jsonl(tmp_path / "chats.jsonl", [CHAT])
    run([chats], tmp_path / "o")
    before = (tmp_path / "o" / "stats.json").read_text()
    other = jsonl(tmp_path / "other.jsonl", [CHAT, CHAT])
    monkeypatch.setattr("llm.data.process._histogram", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        run([other], tmp_path / "o", overwrite=True)
    assert (tmp_path / "o" / "stats.json").read_text() == before and is_complete(tmp_path / "o")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_an_incomplete_output_is_never_served_as_cached(tmp_path):
    chats = jsonl(tmp_path / "chats.jsonl", [CHAT, CHAT])
    run([chats], tmp_path / "o")
    (tmp_path / "o" / MARKER).unlink()  # half-deleted by a killed run of an older version
    shutil.rmtree(tmp_path / "o" / "train")
    shutil.rmtree(tmp_path / "cache")  # and no cache entry to copy from
    stats = run([chats], tmp_path / "o")
    assert not stats["cached"] and is_complete(tmp_path / "o")
    assert len(datasets.load_from_disk(str(tmp_path / "o"))["train"]) == 2


def test_stale_debris_of_dead_runs_is_removed(tmp_path):
    chats = jsonl(tmp_path / "chats.jsonl", [CHAT])
    for name in (".o.tmp-999999999", ".o.old-999999999"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "junk").write_text("x")
    run([chats], tmp_path / "o")
    assert not (tmp_path / ".o.tmp-999999999").exists() and not (tmp_path / ".o.old-999999999").exists()


# ── 4. crashes become file / line / field errors, and --on_error skip counts them ────────────────────


BAD_LINES = [
    ('{"messages": [{"role": "user", "content": "a\\ud800"}]}', "messages[0].content", "invalid string"),
    ("[" * 100_000 + "]" * 100_000, "<line>", "nested too deeply"),
    (
        '{"messages": [{"role": "user", "content": "x"}], "n": ' + "9" * 5000 + "}",
        "<line>",
        "number too large",
    ),
]


@pytest.mark.parametrize(("line", "field", "problem"), BAD_LINES)
def test_parser_failures_are_record_errors(tmp_path, line, field, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(CHAT) + "\n" + line + "\n")
    (_, good), (record_id, error) = list(iter_records(path))
    assert isinstance(error, RecordError) and record_id.endswith("bad.jsonl:2")
    assert error.field == field and error.problem.startswith(problem)
    stats = run([path], tmp_path / "o", on_error="skip")
    assert stats["records_kept"] == 1 and sum(stats["records_dropped"].values()) == 1


@pytest.mark.parametrize(
    ("source", "record", "field"),
    [
        ("sharegpt", {"conversations": [{"from": ["human"], "value": "hi"}]}, "conversations[0].from"),
        (
            "summarize_from_feedback",
            {"info": {"post": "p", "title": "t", "subreddit": "s"}, "summaries": [{"text": "a"}, {"text": "b"}],
             "choice": 1.0},
            "choice",
        ),
        ("pippa", {"bot_name": "M", "conversation": {"message": 5, "is_human": [True]}}, "conversation.message"),
        ("pippa", {"bot_name": "M", "conversation": {"message": "hello", "is_human": True}}, "conversation.message"),
        ("pippa", {"bot_name": "M", "bot_greeting": "a\ud800", "conversation": []}, "bot_greeting"),
    ],
)  # fmt: skip
def test_wrong_types_are_record_errors_naming_the_field(source, record, field):
    with pytest.raises(RecordError) as caught:
        get_source(source).convert(record, "f.jsonl:1")
    assert caught.value.field == field


def test_error_fields_are_named_as_the_source_writes_them():
    sff = {
        "info": {"post": "p", "title": 3, "subreddit": "s"},
        "summaries": [{"text": "a"}, {"t": "b"}],
        "choice": 0,
    }
    with pytest.raises(RecordError, match="'info.title'"):
        get_source("summarize_from_feedback").convert(sff, "f:1")
    sff["info"]["title"] = "t"
    with pytest.raises(RecordError, match=r"'summaries\[1\].text': missing"):
        get_source("summarize_from_feedback").convert(sff, "f:1")
    sharegpt = {"conversations": [{"from": "human", "value": "a"}, {"from": "system", "value": "b"}]}
    with pytest.raises(RecordError, match=r"'conversations\[1\].from': a system message after"):
        get_source("sharegpt").convert(sharegpt, "f:1")


def test_drop_reasons_are_precise(tmp_path):
    empty_name = {"bot_name": " ", "conversation": [{"message": "hi", "is_human": True}]}
    empty_chat = {"bot_name": "M", "conversation": []}
    path = jsonl(tmp_path / "p.jsonl", [empty_name, empty_chat])
    args = DataArguments(data_files=[str(path)], tokenizer="tiny:metaspace", dataset="pippa", on_error="skip")
    with pytest.raises(NothingToTrain) as caught:
        process(args, ProcessArguments(str(tmp_path / "o")))
    assert caught.value.stats["records_dropped"] == {"empty conversation": 1, "empty field": 1}


def test_pippa_redaction_tokens_become_the_user_name_and_are_counted(tmp_path):
    chat = {"bot_name": "Mira", "conversation": [
        {"message": "Hello [NAME_IN_MESSAGE_REDACTED], and [REDACTED]!", "is_human": False},
        {"message": "Hi, I'm [FIRST_NAME_REDACTED].", "is_human": True},
        {"message": "Welcome.", "is_human": False}]}  # fmt: skip
    conv = get_source("pippa").convert(chat, "f:1", user_name="Sam")
    assert [m.content for m in conv.messages[:2]] == ["Hello Sam, and Sam!", "Hi, I'm Sam."]
    path = jsonl(tmp_path / "p.jsonl", [chat])
    args = DataArguments(data_files=[str(path)], tokenizer="tiny:metaspace", dataset="pippa", user_name="Sam")
    stats = process(args, ProcessArguments(str(tmp_path / "o")))
    assert stats["records_changed"] == {"PIPPA redaction tokens filled with the user's name": 3}


# ── 5. empty results are errors ──────────────────────────────────────────────────────────────────────


def test_nothing_kept_is_an_error_with_the_reasons(tmp_path, capsys):
    only_user = {"messages": [{"role": "user", "content": "anyone?"}]}
    path = jsonl(tmp_path / "q.jsonl", [only_user, only_user])
    argv = ["process", "--data_files", str(path), "--output", str(tmp_path / "o"), "--dataset", "openai"]
    assert cli([*argv, "--tokenizer", "tiny:bytelevel", "--template", "chatml"]) == 2
    err = capsys.readouterr().err
    assert "no training row was made" in err and "2 nothing to train" in err
    assert not (tmp_path / "o").exists()


def test_a_split_that_leaves_nothing_to_train_is_an_error(tmp_path):
    one = jsonl(tmp_path / "one.jsonl", [CHAT])
    with pytest.raises(UserError, match="needs at least 2 usable records"):
        run([one], tmp_path / "o", validation_split=0.05)
    bad = jsonl(tmp_path / "bad.jsonl", ["{", "{"])
    with pytest.raises(NothingToTrain, match="no record could be used"):
        run([bad], tmp_path / "o", validation_split=0.5, on_error="skip")


def test_an_empty_json_array_is_an_empty_file(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("[]")
    with pytest.raises(RecordError, match="empty file"):
        run([path], tmp_path / "o")


# ── 6. preference pairs identical after truncation are dropped ───────────────────────────────────────


@pytest.mark.parametrize("max_length", [512, 64])
def test_pairs_are_checked_after_truncation(tmp_path, max_length):
    args = DataArguments(dataset="tldr_comparisons", data_files=[str(TLDR_COMPARISONS_SAMPLE)],
                         tokenizer="tiny:bytelevel", template="plain", max_length=max_length)  # fmt: skip
    try:
        stats = process(args, ProcessArguments(str(tmp_path / "o")))
    except NothingToTrain as e:  # at 64 tokens nothing may be left: then the reasons say why
        assert e.stats["records_dropped"]
        return
    rows = datasets.load_from_disk(str(tmp_path / "o"))["train"]
    for row in rows:
        assert row["chosen_input_ids"] != row["rejected_input_ids"]
        assert len(row["chosen_input_ids"]) <= max_length and len(row["rejected_input_ids"]) <= max_length
        assert any(x != -100 for x in row["chosen_labels"]) and any(x != -100 for x in row["rejected_labels"])
    assert stats["records_kept"] + sum(stats["records_dropped"].values()) == stats["records_read"]
    if max_length == 512:  # long posts lose the start of the shared prompt first: the summaries stay whole
        assert stats["truncated_samples"] > 0


# ── 7. sft checks its arguments before any model loads ───────────────────────────────────────────────


@pytest.fixture
def no_model(monkeypatch):
    monkeypatch.setattr("llm.train.sft.build_model", lambda *a, **k: pytest.fail("a model was built"))
    monkeypatch.setattr("llm.train.sft.prepare_data", lambda *a, **k: pytest.fail("data was processed"))


SFT = [
    "--model_config",
    "tiny",
    "--tokenizer",
    "tiny:bytelevel",
    "--data_files",
    str(PIPPA_SAMPLE),
    "--output_dir",
]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max_steps", "0"], "--max_steps 0: give a number of steps ≥ 1"),
        (["--max_steps", "-5"], "--max_steps -5"),
        (["--per_device_train_batch_size", "0"], "--per_device_train_batch_size 0: must be 1 or more"),
        (["--learning_rate", "-1"], "--learning_rate -1.0: must be ≥ 0"),
        (["--eval_strategy", "steps"], "evaluation needs a validation split"),
        (["--lora_alpha", "32"], "--lora_alpha set without --lora_r"),
    ],
)
def test_sft_bad_arguments_fail_before_anything_loads(tmp_path, capsys, no_model, extra, message):
    from llm.commands.sft import main as sft

    assert sft([*SFT, str(tmp_path / "run"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_sft_refuses_raw_data_flags_with_a_processed_dataset(tmp_path, capsys, no_model):
    from llm.commands.sft import main as sft

    processed = tmp_path / "rows"
    processed.mkdir()
    (processed / "stats.json").write_text(json.dumps({"fingerprint": "x", "rows": {"train": 1}}))
    argv = ["--model_config", "tiny", "--dataset_path", str(processed), "--output_dir", str(tmp_path / "run")]
    assert sft([*argv, "--stack", "true", "--max_length", "512"]) == 2
    assert "--max_length --stack: raw-data options, ignored with --dataset_path" in capsys.readouterr().err


def test_sft_model_and_config_problems_are_one_line(tmp_path, capsys, no_model):
    from llm.commands.sft import main as sft

    assert sft(["--model_name_or_path", str(tmp_path / "nowhere"), "--output_dir", str(tmp_path / "r")]) == 2
    assert "nowhere: no such directory" in capsys.readouterr().err
    config = tmp_path / "bad.yaml"
    config.write_text("max_steps: 3\nlearning_rate: [1e-3\n")
    assert sft([str(config)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:" in err and "not valid YAML" in err and "Traceback" not in err


# ── 8. text stats add the validation split, not replace with it ──────────────────────────────────────


def test_text_stats_count_both_splits(tmp_path):
    docs = jsonl(tmp_path / "docs.jsonl", [{"text": f"the sea {i} " * 20} for i in range(10)])
    args = DataArguments(dataset="text", data_files=[str(docs)], tokenizer="tiny:bytelevel", template="plain",
                         mask="all", max_length=32, validation_split=0.2)  # fmt: skip
    stats = process(args, ProcessArguments(str(tmp_path / "o")))
    rows = datasets.load_from_disk(str(tmp_path / "o"))
    tokens = sum(len(r) for split in rows.values() for r in split["input_ids"])
    assert stats["tokens"] == stats["trained_tokens"] == tokens and stats["samples"] == 10


# ── 9. chat: one message too long is refused, the session goes on ────────────────────────────────────


def test_an_overlong_chat_message_keeps_the_session(tmp_path):
    import io

    from llm.commands.chat import main as chat
    from llm.data.tokenizer import build_tokenizer
    from llm.models.tiny import build_llama

    tok = build_tokenizer("bytelevel")
    build_llama(tok, max_position_embeddings=64).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "llm_train.json").write_text(json.dumps({"stage": "sft", "template": "chatml"}))
    lines = "hi\n" + "word " * 200 + "\nstill here?\n\udcff\n"
    out = io.StringIO()
    rc = chat(["--model", str(tmp_path / "m"), "--max_new_tokens", "4", "--seed", "0"],
              stdin=io.StringIO(lines.encode("utf-8", "surrogateescape").decode("utf-8", "replace")), stdout=out)  # fmt: skip
    text = out.getvalue()
    assert rc == 0 and "does not fit the model's context" in text
    assert text.count("Assistant: ") == 3  # hi, the refused message, and the one after it
    assert "not UTF-8 text" in text


# ── property: junk in every field of every source is a UserError, and skip always accounts ───────────

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VALID = {
    "openai": CHAT,
    "sharegpt": {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
    "pippa": {"bot_name": "Mira", "bot_greeting": "Hi.", "bot_definitions": None, "bot_description": "A keeper.",
              "conversation": [{"message": "Hi.", "is_human": False}, {"message": "Yo", "is_human": True},
                               {"message": "Welcome.", "is_human": False}]},
    "tldr": {"prompt": "SUBREDDIT: r/a\n\nTITLE: t\n\nPOST: p\n\nTL;DR:", "label": "a summary"},
    "tldr_comparisons": {"prompt": "SUBREDDIT: r/a\n\nTITLE: t\n\nPOST: p", "chosen": "TL;DR: a", "rejected": "TL;DR: b"},
    "summarize_from_feedback": {"info": {"post": "p", "title": "t", "subreddit": "s"},
                                "summaries": [{"text": "a"}, {"text": "b"}], "choice": 1},
    "text": {"text": "the sea and the light"},
}  # fmt: skip
TEMPLATE_OF = {
    "pippa": "pygmalion",
    "tldr": "plain",
    "tldr_comparisons": "plain",
    "summarize_from_feedback": "plain",
}

junk_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["", " ", "\ud800", "a\udfff", "human", "gpt", "user", "assistant", "system"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)  # fmt: skip
RAW_JUNK = ["[" * 50_000, '{"text": ' + "9" * 5000 + "}", "{", '"\\ud800"', "\xff"]


def paths(value, prefix=()):
    """Every place in a JSON value: dict keys and list positions, at any depth."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*prefix, i))


def mutated(record, path, junk):
    record = json.loads(json.dumps(record))
    if not path:
        return junk
    target = record
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = junk
    return record


@st.composite
def junk_file(draw):
    source = draw(st.sampled_from(sorted(VALID)))
    base = VALID[source]
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["mutated", "mutated", "valid", "raw"]))
        if kind == "raw":
            lines.append(draw(st.sampled_from(RAW_JUNK)))
            continue
        record = base
        if kind == "mutated":
            path = draw(st.sampled_from(list(paths(base))))
            record = mutated(base, path, draw(junk_values))
        lines.append(json.dumps(record))  # lone surrogates become \ud800 escapes, as in real files
    return source, lines


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=junk_file())
def test_junk_is_always_a_user_error_and_skip_always_accounts(tmp_path_factory, case):
    source, lines = case
    work = tmp_path_factory.mktemp("junk")
    path = work / "junk.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass").replace(b"\xc3\xbf", b"\xff") + b"\n")
    options = {"dataset": source, "tokenizer": "tiny:bytelevel", "template": TEMPLATE_OF.get(source, "chatml"),
               "data_files": [str(path)], "max_length": 256}  # fmt: skip
    with contextlib.suppress(UserError):  # raise mode: our error type, or success
        process(DataArguments(**options), ProcessArguments(str(work / "raise")))
    try:
        stats = process(DataArguments(**options, on_error="skip"), ProcessArguments(str(work / "skip")))
    except NothingToTrain as e:
        stats = e.stats
    dropped = sum(stats["records_dropped"].values())
    assert stats["records_read"] == len(lines) == stats["records_kept"] + dropped
