"""The Jinja chat templates from llm.data.jinja render exactly like our Python templates."""

import copy
import dataclasses

import pytest
from hypothesis import given
from jinja2.exceptions import TemplateError
from transformers.utils.chat_template_utils import render_jinja_template

from llm.data.conversation import Character, Conversation, Message, resolve_placeholders
from llm.data.jinja import to_jinja
from llm.data.templates import TEMPLATES, get_template
from tests.helpers.strategies import conversations

NAMED = sorted(n for n in TEMPLATES if n != "tokenizer")
KINDS = ("bytelevel", "metaspace")


@pytest.fixture(scope="module")
def chat_tokenizers(tokenizers):
    """(template name, tokenizer kind) → a copy of the tiny tokenizer whose chat_template is our Jinja."""
    out = {}
    for name in NAMED:
        for kind, tok in tokenizers.items():
            tok = copy.deepcopy(tok)
            tok.chat_template = to_jinja(get_template(name, tok))
            out[name, kind] = tok
    return out


def jinja_render(tok, messages, character, add_generation_prompt):
    """What transformers renders from the tokenizer's chat_template (``character``: a resolved card or None)."""
    dicts = [{"role": m.role, "content": m.content} for m in messages]
    kwargs = {} if character is None else {"character": dataclasses.asdict(character)}
    if not dicts:
        # apply_chat_template refuses an empty conversation before it reaches the template; the prompt for
        # a reply that opens the chat is still rendered by our Jinja, through the same transformers renderer
        # and with the same variables apply_chat_template passes.
        rendered, _ = render_jinja_template(
            conversations=[dicts],
            chat_template=tok.chat_template,
            add_generation_prompt=add_generation_prompt,
            **tok.special_tokens_map,
            **kwargs,
        )
        return rendered[0]
    return tok.apply_chat_template(
        dicts, tokenize=False, add_generation_prompt=add_generation_prompt, **kwargs
    )


def python_render(name, tok, conv, add_generation_prompt):
    return get_template(name, tok).render(conv, add_generation_prompt=add_generation_prompt).text


def assert_same_renders(name, tok, conv):
    """Full render with and without a generation prompt, and the prompt before each assistant turn."""
    conv = resolve_placeholders(conv)  # Jinja sees filled text: placeholders are our code's job
    for g in (False, True):
        expected = python_render(name, tok, conv, g)
        assert jinja_render(tok, conv.messages, conv.character, g) == expected, g
    for j, m in enumerate(conv.messages):
        if m.role == "assistant":
            prompt = Conversation(conv.messages[:j], conv.character)
            expected = python_render(name, tok, prompt, True)
            assert jinja_render(tok, prompt.messages, conv.character, True) == expected, j


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", NAMED)
@given(conv=conversations())
def test_jinja_renders_like_python(chat_tokenizers, name, kind, conv):
    assert_same_renders(name, chat_tokenizers[name, kind], conv)


CARD = Character(
    name="Mira",
    persona="{{char}} keeps the lighthouse.",
    scenario="A storm at night.",
    greeting="Welcome!",
    example_dialogue="{{user}}: Hello?\n{{char}}: *lifts lamp* Who goes there?\n\n",
    user_name="Sam",
)
FIXED = Conversation(
    (
        Message("system", " Be kind. "),
        Message("assistant", "Welcome, {{user}}!"),
        Message("user", "Hi\n"),
        Message("assistant", " Hello! "),
        Message("user", "Bye"),
        Message("assistant", "Farewell."),
    ),
    CARD,
)


@pytest.mark.parametrize("character", [CARD, None], ids=["card", "no-card"])
@pytest.mark.parametrize("name", NAMED)
def test_fixed_conversation(tokenizers, name, character):
    tok = copy.deepcopy(tokenizers["bytelevel"])
    tok.chat_template = to_jinja(get_template(name, tok))
    assert_same_renders(name, tok, dataclasses.replace(FIXED, character=character))


@pytest.mark.parametrize("name", NAMED)
def test_partial_card_takes_character_defaults(tokenizers, name):
    tok = copy.deepcopy(tokenizers["metaspace"])
    tok.chat_template = to_jinja(get_template(name, tok))
    messages = [{"role": "user", "content": "Hi"}]
    got = tok.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, character={"name": "Mira", "persona": "Kind."}
    )
    conv = Conversation((Message("user", "Hi"),), Character("Mira", persona="Kind."))
    assert got == python_render(name, tok, conv, True)


@pytest.mark.parametrize("name", NAMED)
def test_bos_and_eos_are_baked_in_exactly(name):
    odd = dataclasses.replace(get_template(name), bos="<b'\\o\"s>", eos="<|end\n🙂|>")
    chat_template = to_jinja(odd)
    conv = Conversation((Message("user", "Hi"), Message("assistant", "Yo")))
    for g in (False, True):
        # Different bos/eos variables, as a tokenizer would pass them: the baked strings win.
        rendered, _ = render_jinja_template(
            conversations=[[{"role": m.role, "content": m.content} for m in conv.messages]],
            chat_template=chat_template,
            add_generation_prompt=g,
            bos_token="<s>",
            eos_token="</s>",
        )
        assert rendered[0] == odd.render(conv, add_generation_prompt=g).text


@pytest.mark.parametrize(
    ("messages", "character", "match"),
    [
        ([("user", "a"), ("system", "b")], None, "a system message after the first"),
        ([("system", "a"), ("system", "b")], None, "a system message after the first"),
        ([("bot", "a")], None, "unknown role"),
        ([("user", 3)], None, "expected a string"),
        ([("user", "a")], {"persona": "no name"}, "at least a name"),
        ([("user", "a")], {"name": "Mira", "age": "30"}, "unknown field"),
    ],
)
@pytest.mark.parametrize("name", NAMED)
def test_invalid_input_raises(tokenizers, name, messages, character, match):
    tok = copy.deepcopy(tokenizers["bytelevel"])
    tok.chat_template = to_jinja(get_template(name, tok))
    kwargs = {} if character is None else {"character": character}
    with pytest.raises(TemplateError, match=match):
        tok.apply_chat_template([{"role": r, "content": c} for r, c in messages], tokenize=False, **kwargs)


def test_tokenizer_template_is_returned_as_is(tokenizers):
    tok = copy.deepcopy(tokenizers["bytelevel"])
    tok.chat_template = "{{ messages[0]['content'] }}"
    assert to_jinja(get_template("tokenizer", tok)) == tok.chat_template
    with pytest.raises(ValueError, match="must be bound first"):
        to_jinja(get_template("tokenizer"))
