"""Character cards as they exist: Tavern V1/V2/V3, JSON and PNG, lorebooks; every field's place in a prompt."""

import base64
import dataclasses
import io
import json
import re

import pytest
from PIL import Image, PngImagePlugin

from llm.commands.chat import main as chat_main
from llm.data.cards import read_card, tavern_card, to_tavern_v2, write_png_card
from llm.data.conversation import (
    Character,
    Conversation,
    Lorebook,
    LoreEntry,
    Message,
    active_lore,
)
from llm.data.encode import IGNORE_INDEX, Encoder
from llm.data.templates import get_template
from llm.errors import RecordError, UserError

BOOK = {
    "scan_depth": 2,
    "token_budget": 500,
    "entries": [
        {
            "keys": ["lighthouse"],
            "content": "LORE-LIGHT: the lamp burns whale oil.",
            "insertion_order": 20,
            "enabled": True,
            "id": 7,
            "comment": "lamp",
        },
        {
            "keys": ["storm"],
            "content": "LORE-STORM: storms come from the west.",
            "insertion_order": 10,
            "enabled": True,
            "position": "after_char",
        },
        {"keys": ["{{user}}"], "content": "LORE-OFF", "insertion_order": 0, "enabled": False},
        {
            "keys": ["x"],
            "content": "LORE-ALWAYS: {{char}} never lies.",
            "insertion_order": 5,
            "enabled": True,
            "constant": True,
        },
    ],
}
V2_DATA = {
    "name": "Mira",
    "description": "DESC: {{char}} keeps the light for <USER>.",
    "personality": "PERS: calm",
    "scenario": "SCEN: a storm night",
    "first_mes": "GREET: Welcome, {{user}}.",
    "mes_example": "<START>\n{{user}}: EX-Q\n{{char}}: EX-A",
    "creator_notes": "NOTES: never shown",
    "system_prompt": "SYS: {{original}} Write as <BOT>.",
    "post_history_instructions": "PHI: stay in first person.",
    "alternate_greetings": ["ALT1: Oh, {{user}}!", "ALT2"],
    "character_book": BOOK,
    "tags": ["sea"],
    "creator": "someone",
    "character_version": "1.2",
    "extensions": {"talkativeness": "0.5"},
}
V2 = {"spec": "chara_card_v2", "spec_version": "2.0", "data": V2_DATA}
V3 = {
    "spec": "chara_card_v3",
    "spec_version": "3.0",
    "data": {**V2_DATA, "name": "Mira3", "nickname": "M", "group_only_greetings": [], "assets": []},
}
V1 = {k: V2_DATA[k] for k in ("name", "description", "personality", "scenario", "first_mes", "mes_example")}


def write_json(tmp_path, data, name="card.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


# ── reading and round trips ──────────────────────────────────────────────────────────────────────────


def test_v2_json_maps_every_field(tmp_path):
    card = read_card(write_json(tmp_path, V2))
    assert (card.name, card.persona, card.personality, card.scenario) == (
        "Mira",
        V2_DATA["description"],
        "PERS: calm",
        "SCEN: a storm night",
    )
    assert (card.greeting, card.example_dialogue) == (V2_DATA["first_mes"], V2_DATA["mes_example"])
    assert card.system_prompt == V2_DATA["system_prompt"]
    assert card.post_history_instructions == V2_DATA["post_history_instructions"]
    assert card.alternate_greetings == ("ALT1: Oh, {{user}}!", "ALT2")
    assert card.creator_notes == "NOTES: never shown"
    book = card.character_book
    assert book.scan_depth == 2 and book.extra == {"token_budget": 500}
    assert [e.insertion_order for e in book.entries] == [20, 10, 0, 5]
    assert book.entries[1].position == "after_char" and book.entries[3].constant
    assert book.entries[0].extra == {"id": 7, "comment": "lamp"}
    # Fields the prompt does not use are kept for renderers that do (SillyTavern presets).
    assert card.extra["tags"] == ["sea"] and card.extra["creator"] == "someone"
    assert card.extra["spec"] == "chara_card_v2" and card.extra["extensions"] == {"talkativeness": "0.5"}


def test_v1_flat_json(tmp_path):
    card = read_card(write_json(tmp_path, V1))
    assert (card.name, card.persona, card.greeting) == ("Mira", V1["description"], V1["first_mes"])
    assert card.character_book is None and card.system_prompt == ""


def test_v3_json_keeps_its_own_fields(tmp_path):
    card = read_card(write_json(tmp_path, V3))
    assert card.name == "Mira3" and card.extra["nickname"] == "M" and card.extra["spec"] == "chara_card_v3"


@pytest.mark.parametrize("source", [V1, V2, V3], ids=["v1", "v2", "v3"])
def test_round_trip_json_and_png(tmp_path, source):
    """Card → Tavern V2 JSON → card, and card → PNG (written with Pillow) → card: the same card."""
    card = read_card(write_json(tmp_path, source))
    again = read_card(write_json(tmp_path, to_tavern_v2(card), "again.json"))
    assert again == card
    png = tmp_path / "card.png"
    write_png_card(png, to_tavern_v2(card), image=Image.new("RGB", (4, 3), "teal"))
    assert read_card(png) == card
    assert Image.open(png).size == (4, 3)  # the picture is still a picture


def test_png_v3_wins_over_v2(tmp_path):
    png = tmp_path / "both.png"
    write_png_card(png, V2, v3=V3)
    assert read_card(png).name == "Mira3"
    write_png_card(png, V2)
    assert read_card(png).name == "Mira"


def test_png_without_card_says_so(tmp_path):
    png = tmp_path / "plain.png"
    Image.new("RGB", (2, 2)).save(png)
    with pytest.raises(UserError, match=r"plain.png: a PNG with no character card"):
        read_card(png)


def test_png_chunk_not_base64_json(tmp_path):
    png = tmp_path / "bad.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("chara", base64.b64encode(b"{not json").decode())
    Image.new("RGB", (1, 1)).save(png, pnginfo=info)
    with pytest.raises(UserError, match=r"bad.png \(PNG chunk 'chara'\): not base64-encoded JSON"):
        read_card(png)


def test_record_character_as_tavern_object_or_path(tmp_path):
    png = tmp_path / "mira.png"
    write_png_card(png, V2)
    msgs = [{"role": "user", "content": "Hi"}]
    by_object = Conversation.from_dict({"messages": msgs, "character": V2}, record="chats.jsonl:1")
    by_path = Conversation.from_dict({"messages": msgs, "character": str(png)}, record="chats.jsonl:1")
    assert by_object.character == by_path.character == read_card(png)
    # Our own format still round-trips through to_dict, new fields included.
    assert Conversation.from_dict(by_object.to_dict()).character == by_object.character


# ── malformed cards: one error naming the file and the field ──────────────────────────────────────────


def v2_with(**changes):
    return {**V2, "data": {**V2_DATA, **changes}}


def book_entry(**changes):
    return v2_with(character_book={"entries": [{**BOOK["entries"][0], **changes}]})


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        (v2_with(name=""), "data.name", "missing or empty"),
        (v2_with(description=3), "data.description", "expected a string, got int"),
        (v2_with(alternate_greetings="hi"), "data.alternate_greetings", "expected a list of strings"),
        (v2_with(alternate_greetings=["a", 2]), "data.alternate_greetings[1]", "expected a string"),
        ({"spec": "chara_card_v9", "data": V2_DATA}, "spec", "unknown spec 'chara_card_v9'"),
        ({"spec": "chara_card_v2", "data": "x"}, "data", "not an object"),
        (v2_with(character_book=[]), "data.character_book", "expected an object, got list"),
        (v2_with(character_book={"entries": {}}), "data.character_book.entries", "expected a list"),
        (v2_with(character_book={"scan_depth": -1, "entries": []}), "data.character_book.scan_depth", ">= 0"),
        (book_entry(keys="lighthouse"), "data.character_book.entries[0].keys", "expected a list of strings"),
        (book_entry(content=None), "data.character_book.entries[0].content", "expected a string"),
        (book_entry(enabled="yes"), "data.character_book.entries[0].enabled", "expected bool"),
        (book_entry(insertion_order=True), "data.character_book.entries[0].insertion_order", "expected int"),
        (book_entry(position="middle"), "data.character_book.entries[0].position", "before_char, after_char"),
        (
            v2_with(character_book={"entries": [{"content": "x"}]}),
            "data.character_book.entries[0].keys",
            "missing",
        ),
        ({"name": "M", "persona": "x", "age": 3}, "age", "unknown field"),
        ([1, 2], "<card>", "expected an object, got list"),
    ],
)
def test_malformed_card_names_file_and_field(tmp_path, data, field, problem):
    path = write_json(tmp_path, data)
    with pytest.raises(RecordError) as err:
        read_card(path)
    assert err.value.field == field
    assert str(err.value).startswith(f"{path}: field '{field}'") and problem in str(err.value)
    # The same card inside a PNG names the chunk too.
    if isinstance(data, dict):
        png = tmp_path / "card.png"
        write_png_card(png, data)
        with pytest.raises(RecordError, match=re.escape(f"card.png (PNG chunk 'chara'): field '{field}'")):
            read_card(png)


def test_malformed_card_in_a_record_names_record_and_field():
    with pytest.raises(RecordError) as err:
        Conversation.from_dict(
            {"messages": [{"role": "user", "content": "a"}], "character": book_entry(keys=3)},
            record="chats.jsonl:4",
        )
    assert err.value.field == "character.data.character_book.entries[0].keys"


# ── lorebook ─────────────────────────────────────────────────────────────────────────────────────────


def entry(key, content, **kw):
    return LoreEntry((key,), content, **kw)


def test_lorebook_scans_only_the_last_scan_depth_messages():
    book = Lorebook((entry("tower", "T"),), scan_depth=2)
    hit = [Message("user", "hello"), Message("assistant", "the Tower stands"), Message("user", "and?")]
    assert active_lore(book, hit) == (["T"], [])
    out_of_depth = [
        Message("user", "the tower?"),
        Message("assistant", "yes"),
        Message("user", "and?"),
        Message("assistant", "no"),
        Message("user", "so?"),
    ]
    assert active_lore(book, out_of_depth) == ([], [])
    # A trailing reply is not scanned: it is what the prompt is written for.
    assert active_lore(book, [Message("user", "hm"), Message("assistant", "the tower")]) == ([], [])
    assert active_lore(Lorebook((entry("tower", "T"),), scan_depth=0), hit) == ([], [])


def test_lorebook_order_position_selective_case_enabled_constant():
    book = Lorebook(
        (
            entry("sea", "C", insertion_order=30),
            entry("sea", "A", insertion_order=10),
            entry("sea", "AFTER", insertion_order=0, position="after_char"),
            entry("sea", "B", insertion_order=20),
            entry("sea", "SEL-NO", selective=True, secondary_keys=("moon",)),
            entry("sea", "SEL-YES", selective=True, secondary_keys=("ship",), insertion_order=40),
            entry("Sea", "CASE-NO", case_sensitive=True),
            entry("sea", "CASE-YES", case_sensitive=True, insertion_order=50),
            entry("sea", "OFF", enabled=False),
            entry("zzz", "CONST", constant=True, insertion_order=60),
            entry("zzz", "CONST-OFF", constant=True, enabled=False),
        )
    )
    before, after = active_lore(book, [Message("user", "a ship on the sea")])
    assert before == ["A", "B", "C", "SEL-YES", "CASE-YES", "CONST"]
    assert after == ["AFTER"]


# ── every field's place in the prompt ──────────────────────────────────────────────────────────────────

CHAT = (
    Message("assistant", "GREET: Welcome, {{user}}."),
    Message("user", "Is the lighthouse safe?"),
    Message("assistant", "REPLY: it is."),
)


@pytest.fixture(scope="module")
def card():
    return dataclasses.replace(tavern_card(V2, "card.json"), user_name="Sam")


@pytest.mark.parametrize("name", ["chatml", "llama3", "pygmalion", "metharme", "llama2", "vicuna"])
def test_every_field_in_its_place(card, name):
    text = get_template(name).render(Conversation(CHAT, card)).text
    at = text.index
    # Lorebook: the matched before_char entry and the constant one before the description, the after_char
    # entry after it (its key is not in the chat, so it stays out); disabled entries never.
    assert at("SYS: ") < at("LORE-ALWAYS: Mira never lies.") < at("LORE-LIGHT") < at("DESC: Mira keeps the")
    assert "LORE-STORM" not in text and "LORE-OFF" not in text
    assert at("DESC") < at("Mira's personality: PERS: calm") < at("SCEN") < at("EX-Q") < at("EX-A")
    # system_prompt replaces the default instruction and comes first; {{original}} keeps it where it is.
    assert at("SYS: ") < at("LORE-ALWAYS") and "Write as Mira." in text
    if name in ("pygmalion",):
        assert "SYS:  Write as Mira." in text  # this layout has no default instruction
    else:
        assert text.count("Stay in character") + text.count("while staying in character") == 1
        assert at("SYS: ") < at("in character")
    # post_history_instructions: after the last user message, before the reply.
    assert at("Is the lighthouse safe?") < at("PHI: stay in first person.") < at("REPLY: it is.")
    assert at("GREET: Welcome, Sam.") < at("Is the lighthouse safe?")
    # Never in the prompt: creator notes, alternate greetings, tags.
    for absent in ("NOTES", "ALT1", "ALT2", "sea", "someone"):
        assert absent not in text


def test_after_char_lore_follows_the_scenario(card):
    """SillyTavern's default story string: description, personality, scenario, then after_char entries."""
    conv = Conversation((Message("user", "A storm is coming."),), card)
    text = get_template("chatml").render(conv, add_generation_prompt=True).text
    assert (
        text.index("DESC")
        < text.index("PERS")
        < text.index("SCEN")
        < text.index("LORE-STORM")
        < text.index("EX-Q")
    )
    assert "LORE-LIGHT" not in text


def test_original_placeholder():
    ch = Character(
        "Mira",
        system_prompt="Before. {{original}} After.",
        post_history_instructions="Remember: {{ORIGINAL}}brevity.",
    )
    conv = Conversation((Message("user", "Hi"),), ch)
    text = get_template("chatml").render(conv, add_generation_prompt=True).text
    assert "Before. Stay in character as Mira in this conversation with User. After." in text
    assert "Hi\n\nRemember: brevity.<|im_end|>" in text
    plain = (
        get_template("chatml")
        .render(Conversation(conv.messages, Character("Mira", system_prompt="Only.")))
        .text
    )
    assert "Only." in plain and "Stay in character" not in plain


# ── masks and prefixes hold with full cards ───────────────────────────────────────────────────────────


@pytest.mark.parametrize("name", ["chatml", "llama3", "pygmalion", "metharme"])
def test_masks_and_prefix_with_a_full_card(tokenizer, card, name):
    encoder = Encoder(tokenizer, name)
    conv = Conversation(CHAT, card)
    sample = encoder.encode(conv)
    rendered = encoder.render(conv)
    trained = [t for t, lab in zip(sample.input_ids, sample.labels) if lab != IGNORE_INDEX]
    expected = "".join(
        encoder.template.trained_text(m.content)
        for m in rendered.conversation.messages
        if m.role == "assistant"
    )
    decoded = tokenizer.backend_tokenizer.decode(trained, skip_special_tokens=False)
    assert decoded == expected and "PHI" not in decoded and "LORE" not in decoded
    # The last reply's inference prompt (post-history text and lorebook included) prefixes the row.
    prompt = encoder.encode_prompt(Conversation(CHAT[:2], card))
    assert sample.input_ids[: len(prompt)] == prompt
    assert "PHI" in tokenizer.backend_tokenizer.decode(prompt, skip_special_tokens=False)


# ── --character takes every format ───────────────────────────────────────────────────────────────────


def test_chat_takes_a_png_card(checkpoint, tmp_path):
    png = tmp_path / "mira.png"
    write_png_card(png, V2)
    out = io.StringIO()
    rc = chat_main(
        ["--model", str(checkpoint), "--character", str(png), "--user_name", "Sam"],
        stdin=io.StringIO("/quit\n"),
        stdout=out,
    )
    assert rc == 0 and "Mira: GREET: Welcome, Sam." in out.getvalue()


def test_chat_png_without_card_is_one_line(checkpoint, tmp_path, capsys):
    png = tmp_path / "photo.png"
    Image.new("RGB", (2, 2)).save(png)
    rc = chat_main(
        ["--model", str(checkpoint), "--character", str(png)], stdin=io.StringIO("hi\n"), stdout=io.StringIO()
    )
    err = capsys.readouterr().err
    assert rc == 2 and "photo.png: a PNG with no character card" in err and err.count("\n") == 1
