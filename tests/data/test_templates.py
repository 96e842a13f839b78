import pytest
from hypothesis import given

from llm.data.conversation import Character, Conversation, Message
from llm.data.sillytavern import BUNDLED_PAIRS, bundled_presets, label
from llm.data.templates import TEMPLATES, get_template
from llm.errors import RecordError
from tests.helpers.strategies import conversations

# Every named template, and the sillytavern rendering of the preset pairs SillyTavern ships (the name
# carries the presets; `label` gives it a readable test id).
NAMED = sorted(n for n in TEMPLATES if n != "tokenizer") + [bundled_presets(p).spec for p in BUNDLED_PAIRS]

CONV = Conversation(
    (
        Message("system", "Be kind."),
        Message("user", "Hi"),
        Message("assistant", "Hello!"),
        Message("user", "Bye"),
        Message("assistant", "Farewell."),
    )
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "chatml",
            "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
            "Hello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\nFarewell.<|im_end|>\n",
        ),
        (
            "llama3",
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
            "\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nFarewell.<|eot_id|>",
        ),
        (
            "llama2",
            "<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST] Farewell. </s>",
        ),
        ("vicuna", "<s>Be kind. USER: Hi ASSISTANT: Hello!</s>USER: Bye ASSISTANT: Farewell.</s>"),
        (
            "baichuan2",
            "Be kind.<reserved_106>Hi<reserved_107>Hello!</s><reserved_106>Bye<reserved_107>Farewell.</s>",
        ),
        ("pygmalion", "Be kind.\nYou: Hi\nAssistant: Hello!</s>\nYou: Bye\nAssistant: Farewell.</s>\n"),
        ("metharme", "<|system|>Be kind.<|user|>Hi<|model|>Hello!</s><|user|>Bye<|model|>Farewell.</s>"),
        ("plain", "Be kind.\n\nHi Hello!</s>\n\nBye Farewell.</s>"),
    ],
)
def test_renders_reference_layout(name, expected):
    assert get_template(name).render(CONV).text == expected


def test_pygmalion_character_card_layout():
    card = Character(
        name="Mira",
        persona="{{char}} keeps the lighthouse.",
        scenario="A storm at night.",
        greeting="Welcome!",
        example_dialogue="{{user}}: Hello?\n{{char}}: *lifts lamp* Who goes there?",
        user_name="You",
    )
    conv = Conversation((Message("assistant", "Welcome, {{user}}!"), Message("user", "Hi")), card)
    text = get_template("pygmalion").render(conv, add_generation_prompt=True).text
    assert text == (
        "Mira's Persona: Mira keeps the lighthouse.\nScenario: A storm at night.\n<START>\n"
        "You: Hello?\nMira: *lifts lamp* Who goes there?\n<START>\n"
        "Mira: Welcome, You!</s>\nYou: Hi\nMira:"
    )


@pytest.mark.parametrize("name", NAMED, ids=label)
def test_card_goes_in_the_system_slot(name):
    card = Character(name="Mira", persona="A lighthouse keeper.", user_name="Sam")
    conv = Conversation((Message("user", "Hi"), Message("assistant", "Hello")), card)
    text = get_template(name).render(conv).text
    assert "A lighthouse keeper." in text
    assert text.index("A lighthouse keeper.") < text.index("Hi")


@pytest.mark.parametrize("name", NAMED, ids=label)
@given(conv=conversations())
def test_generation_prompt_is_a_prefix_of_the_training_render(name, conv):
    template = get_template(name)
    full = template.render(conv).text
    for j, m in enumerate(conv.messages):
        if m.role == "assistant":
            prompt = template.render(
                conv.messages[:j], add_generation_prompt=True, character=conv.character
            ).text
            assert full.startswith(prompt), (j, prompt, full)


@pytest.mark.parametrize("name", NAMED, ids=label)
@given(conv=conversations())
def test_trainable_segments_are_exactly_each_turns_trained_text(name, conv):
    template = get_template(name)
    rendered = template.render(conv)
    for i, m in enumerate(rendered.conversation.messages):
        if m.role == "assistant":
            got = "".join(s.text for s in rendered.segments if s.message == i and s.trainable)
            assert got == template.trained_text(m.content)


def test_unknown_template_lists_known_ones():
    with pytest.raises(ValueError, match="known: baichuan2, chatml"):
        get_template("alpaca")


def test_render_rejects_second_system_message():
    with pytest.raises(RecordError, match="a second system message"):
        get_template("chatml").render([Message("system", "a"), Message("system", "b")])
