import json

import pytest

from llm.data.sources import detect_source, get_source, pippa
from llm.data.sources.files import read_records
from llm.errors import RecordError


def record(**overrides):
    base = {
        "submission_timestamp": 1673000000000,
        "categories": ["Fantasy"],
        "bot_id": "b1",
        "bot_name": "Mira",
        "bot_greeting": "*lifts the lamp* Who goes there?",
        "bot_definitions": "{{char}}: Welcome.\n{{user}}: Thanks.\nEND_OF_DIALOG\n{{char}}: Again?",
        "bot_description": "{{char}} keeps the lighthouse.",
        "conversation": [
            {"message": "*lifts the lamp* Who goes there?", "is_human": False},
            {"message": "Just me.", "is_human": True},
            {"message": "Come in.", "is_human": False},
        ],
    }
    base.update(overrides)
    return base


def test_greeting_is_not_added_twice():
    conv = pippa.to_conversation(record())
    assert [m.role for m in conv.messages] == ["assistant", "user", "assistant"]
    assert conv.messages[0].content == "*lifts the lamp* Who goes there?"


def test_greeting_prepended_when_chat_starts_with_the_human():
    conv = pippa.to_conversation(record(conversation=[{"message": "Hi", "is_human": True}]))
    assert [m.role for m in conv.messages] == ["assistant", "user"]


def test_nulls_read_as_empty():
    conv = pippa.to_conversation(record(bot_description=None, bot_definitions=None, categories=None))
    assert conv.character.persona == "" and conv.character.example_dialogue == ""


def test_card_fields_and_end_of_dialog():
    card = pippa.to_conversation(record()).character
    assert card.name == "Mira" and card.user_name == "You"
    assert card.example_dialogue == "{{char}}: Welcome.\n{{user}}: Thanks.\n<START>\n{{char}}: Again?"


def test_consecutive_bot_messages_merge_and_name_prefix_strips():
    conv = pippa.to_conversation(
        record(
            conversation=[
                {"message": "Greetings.", "is_human": False},
                {"message": "Mira: *waves*", "is_human": False},
                {"message": "Hello\\nthere", "is_human": True},
            ]
        )
    )
    assert conv.messages[0].content == "Greetings.\n\n*waves*"
    assert conv.messages[1].content == "Hello\nthere"


def test_flattened_conversation_from_datasets():
    flat = {"message": ["Hi there.", "Hello"], "is_human": [False, True]}
    conv = pippa.to_conversation(record(conversation=flat))
    assert [m.content for m in conv.messages] == ["Hi there.", "Hello"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"bot_name": None}, "bot_name"),
        ({"bot_name": "  "}, "bot_name"),
        ({"conversation": []}, "conversation"),
        ({"conversation": "hi"}, "conversation"),
        ({"conversation": [{"message": 3, "is_human": True}]}, "conversation[0].message"),
        ({"conversation": [{"message": "x", "is_human": "yes"}]}, "conversation[0].is_human"),
        ({"conversation": [{"message": "x"}]}, "conversation[0].is_human"),
        ({"bot_description": 5}, "bot_description"),
    ],
)
def test_bad_pippa_records_name_the_field(overrides, field):
    with pytest.raises(RecordError) as err:
        pippa.to_conversation(record(**overrides), record_id="pippa.jsonl:9")
    assert err.value.field == field and err.value.record == "pippa.jsonl:9"


def test_missing_required_field():
    bad = record()
    del bad["conversation"]
    with pytest.raises(RecordError, match="pippa.jsonl:2: field 'conversation': missing"):
        pippa.to_conversation(bad, record_id="pippa.jsonl:2")


def test_detect_and_registry():
    assert detect_source(record()).name == "pippa"
    assert detect_source({"messages": []}).name == "openai"
    assert detect_source({"conversations": []}).name == "sharegpt"
    assert detect_source({"prompt": "p", "label": "l"}).name == "tldr"
    assert detect_source({"prompt": "p", "chosen": "a", "rejected": "b"}).name == "preference"  # TRL standard
    assert (
        detect_source({"prompt": "SUBREDDIT: r/a\nPOST: p", "chosen": "a", "rejected": "b"}).name
        == "tldr_comparisons"
    )
    assert detect_source({"text": "t"}).name == "text"
    assert get_source("PIPPA").convert is pippa.to_conversation
    with pytest.raises(ValueError, match="known: hh_rlhf, kto, openai, pippa, preference, sharegpt"):
        get_source("alpaca")
    with pytest.raises(ValueError, match="cannot tell the record's format"):
        detect_source({"foo": 1}, "f.jsonl:1")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"a": 1}\n{"a": \n', "f.jsonl:2: field '<line>': malformed JSON"),
        (b'{"a": "\xff"}\n', "f.jsonl:1: field '<line>': not UTF-8"),
        (b"\n\n", "field '<file>': empty file"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path, content, problem):
    path = tmp_path / "f.jsonl"
    path.write_bytes(content)
    with pytest.raises(RecordError) as err:
        list(read_records(path))
    assert problem in str(err.value).replace(str(tmp_path) + "/", "")


def test_jsonl_reads_records_with_line_ids(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text(json.dumps(record()) + "\n\n" + json.dumps(record(bot_name="Holt")) + "\n")
    ids = [rid.rsplit(":", 1)[1] for rid, _ in read_records(path)]
    assert ids == ["1", "3"]
