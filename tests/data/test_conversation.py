import pytest

from llm.data.conversation import (
    Character,
    Conversation,
    Message,
    RecordError,
    fill_placeholders,
    resolve_placeholders,
)


def test_from_dict_roundtrip():
    data = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello", "train": False},
        ],
        "character": {"name": "Mira", "persona": "A keeper.", "user_name": "Sam"},
    }
    conv = Conversation.from_dict(data, record="x.jsonl:1")
    assert conv.messages[2].train is False
    assert conv.character.name == "Mira"
    assert Conversation.from_dict(conv.to_dict()) == conv


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        ({"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role", "unknown role 'bot'"),
        (
            {"messages": [{"role": "system", "content": "a"}, {"role": "system", "content": "b"}]},
            "messages[1].role",
            "a second system message",
        ),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]},
            "messages[1].role",
            "a system message after the first turn",
        ),
        ({"messages": []}, "messages", "empty conversation"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content", "expected a string, got int"),
        ({"messages": [{"role": "user", "content": None}]}, "messages[0].content", "expected a string"),
        ({"messages": [{"role": "user"}]}, "messages[0].content", "missing"),
        ({"messages": "hi"}, "messages", "expected a list"),
        ({}, "messages", "missing"),
        ({"messages": [{"role": "user", "content": "a", "train": "yes"}]}, "messages[0].train", "true/false"),
        (
            {"messages": [{"role": "user", "content": "a"}], "character": {"name": ""}},
            "character.name",
            "empty",
        ),
        (
            {"messages": [{"role": "user", "content": "a"}], "character": {"name": "A", "age": "3"}},
            "character.age",
            "unknown field",
        ),
        ({"messages": [{"role": "system", "content": "a"}]}, "messages", "only a system message"),
    ],
)
def test_bad_input_names_record_and_field(data, field, problem):
    with pytest.raises(RecordError) as err:
        Conversation.from_dict(data, record="chats.jsonl:7")
    assert err.value.field == field
    assert problem in str(err.value)
    assert str(err.value).startswith("chats.jsonl:7: field ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{char}} and {{user}}", "Mira and Sam"),
        ("{char}} / {{Char} / {[Char}} / {{CHAR}}", "Mira / Mira / Mira / Mira"),
        ("{{user} / {{random_user_12}} / {{user_1}} / {{u01}} / {{User}}", "Sam / Sam / Sam / Sam / Sam"),
        ("no braces here", "no braces here"),
        ("{not a placeholder}", "{not a placeholder}"),
    ],
)
def test_fill_placeholders(text, expected):
    assert fill_placeholders(text, "Mira", "Sam") == expected


def test_resolve_placeholders_fills_card_and_messages():
    conv = Conversation(
        (Message("assistant", "I am {{char}}, {{user}}."),),
        Character("Mira", persona="{{char}} keeps the light for {{user}}.", user_name="Sam"),
    )
    out = resolve_placeholders(conv)
    assert out.messages[0].content == "I am Mira, Sam."
    assert out.character.persona == "Mira keeps the light for Sam."
