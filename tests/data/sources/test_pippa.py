"""PIPPA records (llm/data/sources/pippa.py): greetings, nulls, card fields, merged bot turns, bad records named
by field."""

import pytest

from llm.data.sources import pippa
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
