"""SillyTavern presets (llm.data.sillytavern): parity with handlebars.js, masks, prefixes, the Jinja template."""

import copy
import json
import os
import shutil
import subprocess

import pytest
from hypothesis import given

from llm.data import sillytavern
from llm.data.conversation import Character, Conversation, Lorebook, LoreEntry, Message
from llm.data.encode import IGNORE_INDEX, Encoder
from llm.data.jinja import to_jinja
from llm.data.sillytavern import BUNDLED, BUNDLED_PAIRS, Presets, bundled_presets, openai_request
from llm.data.templates import get_template
from llm.data.tokenizer import add_template_tokens
from llm.errors import UserError
from tests.helpers import REPO
from tests.helpers.strategies import conversations

PAIRS = sorted(BUNDLED_PAIRS)

BOOK = Lorebook(
    (
        LoreEntry(("lamp",), "The lamp is a Fresnel lens from 1871.", insertion_order=2),
        LoreEntry(("storm",), "Storms here last three days.", position="after_char", insertion_order=1),
        LoreEntry(("gull",), "Gulls are {{char}}'s only company.", constant=True, insertion_order=0),
        LoreEntry(("tea",), "Never shown: disabled.", enabled=False),
        LoreEntry(("kettle",), "The kettle whistles in D.", selective=True, secondary_keys=("tea",)),
    ),
    scan_depth=2,
)
CARD = Character(
    name="Mira",
    user_name="Sam",
    persona="{{char}} keeps the lighthouse on Gull Rock.",
    personality="Calm, with a dry humour.",
    scenario="A storm traps {{user}} in the lighthouse overnight.",
    example_dialogue=(
        "<START>\n{{user}}: Is it always this loud?\n{{char}}: Only when the sea has opinions.\n"
        "<START>\n{{char}}: *lights the lamp*\nTea?\n{{user}}: Please."
    ),
    character_book=BOOK,
)
CHAT = (
    Message("assistant", "*Mira opens the door.* You'd better come in, {{user}}."),
    Message("user", "Thank you. Does the lamp ever go out?"),
    Message("assistant", "Not while I'm alive.\nNot even in a storm."),
    Message("user", "Is the kettle on? I'd love some tea."),
    Message("assistant", "It is. *pours two cups*"),
)
CARD_WITH_SLOTS = Character(
    name="Holt",
    user_name="You",
    persona="A retired captain.",
    system_prompt="Write vividly. {{original}}",
    post_history_instructions="Stay as {{char}}; never write for {{user}}.",
    example_dialogue="{{char}}: Aye.",
)
CHAT_WITH_SYSTEM = (
    Message("system", "You are a storyteller."),
    Message("user", "Captain, a story?"),
    Message("assistant", "Sit down, then."),
    Message("user", "Go on."),
    Message("assistant", "It was a dark night."),
)
CASES = {"card": Conversation(CHAT, CARD), "slots": Conversation(CHAT_WITH_SYSTEM, CARD_WITH_SLOTS)}


def raw_presets(pair):
    return [json.loads((BUNDLED / kind / f"{pair}.json").read_text()) for kind in ("context", "instruct")]


# A user's own context preset that leans on Handlebars: standalone block lines, {{else}}, "~" whitespace
# control, leading newlines, {{trim}} mid-text; with an example separator and a chat start.
CUSTOM_CONTEXT = {
    "story_string": (
        "\n\n{{#if system}}\n{{system}}\n{{/if}}\n{{#if description}}{{description}}{{else}}No description.{{/if}}\n"
        "{{~#if scenario}} Scenario: {{scenario}}{{/if}}\n{{#if wiAfter}}\n  {{wiAfter}}\n{{/if}}\n"
        "{{#unless personality}}({{char}} has no personality line.){{/unless}}\n\n{{trim}}\n\nEnd of card."
    ),
    "example_separator": "*** {{char}} and {{user}} ***",
    "chat_start": "[Start a new chat]",
}


def variants():
    """Each bundled pair as shipped, and with ``names_behavior: always`` (the names rules); a custom context
    preset with the Alpaca sequences and no wrap."""
    for pair in PAIRS:
        context, instruct = raw_presets(pair)
        yield pair, context, instruct
        yield f"{pair}+names", context, {**instruct, "names_behavior": "always"}
    instruct = {**raw_presets("alpaca")[1], "wrap": False}
    yield "custom", CUSTOM_CONTEXT, instruct


def js_card(ch):
    book = ch.character_book
    return {
        "name": ch.name,
        "user_name": ch.user_name,
        "description": ch.persona,
        "personality": ch.personality,
        "scenario": ch.scenario,
        "system_prompt": ch.system_prompt,
        "post_history_instructions": ch.post_history_instructions,
        "mes_example": ch.example_dialogue,
        "character_book": None
        if book is None
        else {
            "scan_depth": book.scan_depth,
            "entries": [
                {k: v for k, v in e.__dict__.items() if k != "extra"} | {"keys": list(e.keys)}
                for e in book.entries
            ],
        },
    }


def handlebars_module():
    """The official handlebars npm package (``make setup`` installs it in .cache/node), or None."""
    if shutil.which("node") is None:
        return None
    local = REPO / ".cache" / "node" / "node_modules" / "handlebars"
    if local.is_dir():
        return str(local)
    found = subprocess.run(["node", "-e", "console.log(require.resolve('handlebars'))"], capture_output=True)
    return "handlebars" if found.returncode == 0 else None


def test_parity_with_handlebars_js():
    """Every bundled pair (as shipped and with names always), a card with a lorebook and example dialogue
    and a card with system prompt / post-history slots, each multi-turn chat rendered for training and as
    the inference prompt of every reply: our text is byte-equal to the reference built by handlebars.js."""
    module = handlebars_module()
    if module is None:
        pytest.skip("node or the handlebars npm package is missing (make setup installs it when npm exists)")
    cases, ours = [], []
    for label, context, instruct in variants():
        template = get_template(Presets.from_dicts(context, instruct).spec)
        for case, conv in CASES.items():
            cuts = [None] + [j for j, m in enumerate(conv.messages) if m.role == "assistant"]
            for cut in cuts:
                messages = conv.messages if cut is None else conv.messages[:cut]
                ours.append(
                    (
                        (label, case, cut),
                        template.render(Conversation(messages, conv.character), cut is not None).text,
                    )
                )
                cases.append(
                    {
                        "context": context,
                        "instruct": instruct,
                        "character": js_card(conv.character),
                        "messages": [{"role": m.role, "content": m.content} for m in messages],
                        "add_generation_prompt": cut is not None,
                    }
                )
    done = subprocess.run(
        ["node", str(REPO / "tests" / "helpers" / "st_reference.js")],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        env={**os.environ, "HANDLEBARS": module},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    reference = json.loads(done.stdout)
    assert len(reference) == len(ours) == 9 * 7  # 9 preset variants × (4 + 3) renders
    for (where, text), ref in zip(ours, reference):
        assert text == ref, where


def test_chatml_card_render_reads_as_sillytavern_writes_it():
    """The ChatML pair on the card: the story string's fields, lorebook entries by insertion order and
    position, examples as instruct turns (user names forced there), then the chat."""
    text = get_template(bundled_presets("chatml").spec).render(Conversation(CHAT[:2], CARD), True).text
    assert text == (
        "<|im_start|>system\n"
        "Gulls are Mira's only company.\n"
        "The lamp is a Fresnel lens from 1871.\n"
        "Mira keeps the lighthouse on Gull Rock.\n"
        "Mira's personality: Calm, with a dry humour.\n"
        "Scenario: A storm traps Sam in the lighthouse overnight.<|im_end|>\n"
        "<|im_start|>user\nSam: Is it always this loud?<|im_end|>\n"
        "<|im_start|>assistant\nOnly when the sea has opinions.<|im_end|>\n"
        "<|im_start|>assistant\n*lights the lamp*\nTea?<|im_end|>\n"
        "<|im_start|>user\nSam: Please.<|im_end|>\n"
        "<|im_start|>assistant\n*Mira opens the door.* You'd better come in, Sam.<|im_end|>\n"
        "<|im_start|>user\nThank you. Does the lamp ever go out?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


@pytest.mark.parametrize("pair", PAIRS)
def test_mistral_rules_alignment_and_last_output_sequence(pair):
    """Mistral V2 & V3: a chat that opens with the character gets the alignment message first; the reply
    is generated after ``[/INST]`` and its space is trained with it."""
    conv = Conversation(CHAT[:3], CARD)
    rendered = get_template(bundled_presets(pair).spec).render(conv)
    if pair != "mistral-v2-v3":
        assert "Let's get started" not in rendered.text
        return
    assert (
        "[INST] Let's get started. Please respond based on the information and instructions provided above."
        in rendered.text
    )
    trained = [s.text for s in rendered.segments if s.trainable and s.message == 2]
    assert trained == [" Not while I'm alive.\nNot even in a storm.", "</s>"]


@pytest.mark.parametrize("pair", PAIRS)
@given(conv=conversations())
def test_generation_prompt_is_a_prefix_and_only_replies_are_trainable(pair, conv):
    template = get_template(bundled_presets(pair).spec)
    rendered = template.render(conv)
    end = sillytavern.end_of_turn(template.presets)
    for j, m in enumerate(rendered.conversation.messages):
        if m.role == "assistant":
            prompt = template.render(
                conv.messages[:j], add_generation_prompt=True, character=conv.character
            ).text
            assert rendered.text.startswith(prompt)
            trained = "".join(s.text for s in rendered.segments if s.message == j and s.trainable)
            assert trained.endswith(m.content + end) and not trained[: -len(m.content + end)].strip()
            # What the row holds right after the prompt is the trained reply.
            assert rendered.text[len(prompt) :].startswith(trained)


@pytest.fixture(scope="module", params=PAIRS)
def st_encoder(request, tokenizer):
    tok = copy.deepcopy(tokenizer)
    template = get_template(bundled_presets(request.param).spec, tok)
    add_template_tokens(tok, template)
    return Encoder(tok, template)


@given(conv=conversations())
def test_masks_train_the_reply_and_its_stop_and_prompts_are_token_prefixes(st_encoder, conv):
    """Token level: labels cover exactly each reply and its stop sequence; every inference prompt's ids are
    a prefix of the training row; no control token comes from content."""
    tok = st_encoder.tokenizer
    rendered = st_encoder.render(conv)
    sample = st_encoder.encode(rendered)
    conv = rendered.conversation
    expected = "".join(
        s.text
        for s in rendered.segments
        if s.trainable and s.message is not None and conv.messages[s.message].role == "assistant"
    )
    got = tok.decode([t for t, lab in zip(sample.input_ids, sample.labels) if lab != IGNORE_INDEX])
    assert got.replace(" ", "") == expected.replace(" ", "").replace("\u2581", "")
    for j, m in enumerate(conv.messages):
        if m.role == "assistant":
            prompt = st_encoder.encode_prompt(Conversation(conv.messages[:j], conv.character))
            assert sample.input_ids[: len(prompt)] == prompt
    special_ids = set(tok.all_special_ids)
    assert [t for t in sample.input_ids if t in special_ids] == [
        st_encoder.control_ids[s.text] for s in rendered.segments if s.control
    ]


@pytest.mark.parametrize("label", [v[0] for v in variants()])
def test_jinja_chat_template_renders_the_same_string(label, tokenizer):
    """The checkpoint's chat_template, given OpenAI messages with the card as the system message, renders
    the string our template renders (training row and every inference prompt)."""
    context, instruct = next((c, i) for name, c, i in variants() if name == label)
    presets = Presets.from_dicts(context, instruct)
    tok = copy.deepcopy(tokenizer)
    template = get_template(presets.spec, tok)
    tok.chat_template = to_jinja(template)
    for conv in CASES.values():
        cuts = [None] + [j for j, m in enumerate(conv.messages) if m.role == "assistant"]
        for cut in cuts:
            part = Conversation(conv.messages if cut is None else conv.messages[:cut], conv.character)
            ours = template.render(part, add_generation_prompt=cut is not None)
            messages, variables = openai_request(presets, ours.conversation)
            jinja = tok.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=cut is not None, **variables
            )
            assert jinja == ours.text, (label, cut)


@given(conv=conversations())
def test_jinja_matches_on_random_conversations(conv):
    presets = bundled_presets("llama3-instruct")
    template = get_template(presets.spec)
    from transformers.utils.chat_template_utils import render_jinja_template

    ours = template.render(conv, add_generation_prompt=True)
    messages, variables = openai_request(presets, ours.conversation)
    rendered, _ = render_jinja_template(
        conversations=[messages], chat_template=to_jinja(template), add_generation_prompt=True, **variables
    )
    assert rendered[0] == ours.text


def test_checkpoint_template_round_trip(tmp_path):
    """The presets travel in the template name: llm_train.json → checkpoint_template → the same render."""
    from llm.models.checkpoint import checkpoint_template, write_info

    spec = bundled_presets("alpaca").spec
    write_info(tmp_path, "sft", {"template": spec})
    again = get_template(checkpoint_template(tmp_path))
    assert (
        again.render(Conversation(CHAT, CARD)).text
        == get_template(spec).render(Conversation(CHAT, CARD)).text
    )


def test_preset_flags_set_the_template(tmp_path):
    from llm.data.process import DataArguments

    args = DataArguments(
        tokenizer="tiny:bytelevel",
        st_context=str(BUNDLED / "context" / "chatml.json"),
        st_instruct=str(BUNDLED / "instruct" / "chatml.json"),
    )
    args.validate()
    assert args.template == bundled_presets("chatml").spec
    args.validate()  # validating twice keeps it
    assert args.template == bundled_presets("chatml").spec
    with pytest.raises(UserError, match="--st_instruct is needed too"):
        DataArguments(tokenizer="tiny:bytelevel", st_context=args.st_context).validate()


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("context", "instruct", "message"),
    [
        ({"name": "x"}, {"input_sequence": "a"}, "field 'story_string': missing"),
        ({"story_string": "{{#if a}}x{{/each}}"}, {"input_sequence": "a"}, "not a valid Handlebars template"),
        ({"story_string": "x"}, {"wrap": True}, "no 'input_sequence' or 'output_sequence'"),
        ({"story_string": "x"}, {"input_sequence": "a", "names_behavior": "sometimes"}, "'names_behavior'"),
        ({"story_string": "x"}, {"input_sequence": "a", "wrap": "yes"}, "field 'wrap': expected bool"),
        ({"story_string": "x"}, {"input_sequence": "a", "last_input_sequence": "b"}, "'last_input_sequence'"),
        (
            {"story_string": "x"},
            {"output_sequence": "a", "stop_sequence": "</s>", "output_suffix": "\n"},
            "stop_sequence",
        ),
    ],
)
def test_preset_errors_name_the_file_and_field(tmp_path, context, instruct, message):
    ctx, ins = write(tmp_path, "c.json", context), write(tmp_path, "i.json", instruct)
    with pytest.raises(UserError, match=message) as e:
        sillytavern.read_presets(ctx, ins)
    assert str(ctx) in str(e.value) or str(ins) in str(e.value)


def test_old_presets_names_are_migrated():
    context, instruct = raw_presets("alpaca")
    old = {k: v for k, v in instruct.items() if k != "names_behavior"}
    assert Presets.from_dicts(context, {**old, "names": True}).instruct.names_behavior == "always"
    assert (
        Presets.from_dicts(
            context, {**old, "names": False, "names_force_groups": True}
        ).instruct.names_behavior
        == "force"
    )
    assert Presets.from_dicts(context, {**old, "names": False}).instruct.names_behavior == "none"


def test_values_are_not_html_escaped():
    presets = bundled_presets("chatml")
    card = Character("Mira", persona="<b>Bold</b> & \"quoted\" 'x' `y`")
    assert "<b>Bold</b> & \"quoted\" 'x' `y`" in sillytavern.render_text(
        presets, Conversation((), card), True
    )


@pytest.mark.slow
def test_sft_with_presets_saves_a_chat_template_that_renders_the_same(tmp_path, monkeypatch):
    """``sft --st_context --st_instruct``: the checkpoint records the presets (llm_train.json), its tokenizer's
    chat_template renders the card-as-system-message request to the string training used, and ``chat``
    prompts the checkpoint with that string's inference prefix."""
    import io

    from transformers import AutoTokenizer, LlamaForCausalLM

    from llm.commands.chat import main as chat_main
    from llm.commands.sft import main as sft_main
    from llm.data.samples import PIPPA_SAMPLE

    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    argv = [
        "--model_config", "tiny", "--tokenizer", "tiny:bytelevel", "--dataset", "pippa",
        "--data_files", str(PIPPA_SAMPLE), "--st_context", str(BUNDLED / "context" / "chatml.json"),
        "--st_instruct", str(BUNDLED / "instruct" / "chatml.json"), "--max_length", "256", "--stack",
        "--max_steps", "1", "--per_device_train_batch_size", "2", "--report_to", "none", "--use_cpu",
        "--save_strategy", "no", "--disable_tqdm", "true", "--output_dir", str(out),
    ]  # fmt: skip
    assert sft_main(argv) == 0
    spec = bundled_presets("chatml").spec
    assert json.loads((out / "llm_train.json").read_text())["template"] == spec
    tok = AutoTokenizer.from_pretrained(out)
    conv = Conversation(CHAT[:4], CARD)
    ours = get_template(spec, tok).render(conv, add_generation_prompt=True)
    messages, variables = openai_request(bundled_presets("chatml"), ours.conversation)
    assert (
        tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **variables)
        == ours.text
    )

    calls = []
    original = LlamaForCausalLM.generate
    monkeypatch.setattr(
        LlamaForCausalLM, "generate", lambda self, *a, **k: calls.append(k) or original(self, *a, **k)
    )
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"name": "Mira", "description": "A keeper.", "first_mes": "Welcome."}))
    stdout = io.StringIO()
    assert chat_main(["--model", str(out), "--character", str(card), "--max_new_tokens", "4", "--seed", "0"],
                     stdin=io.StringIO("Hello\n/quit\n"), stdout=stdout) == 0  # fmt: skip
    prompt = tok.decode(calls[0]["input_ids"][0].tolist())
    expected = (
        get_template(spec, tok)
        .render(
            Conversation(
                (Message("assistant", "Welcome."), Message("user", "Hello")),
                Character("Mira", persona="A keeper.", user_name="You"),
            ),
            add_generation_prompt=True,
        )
        .text
    )
    assert prompt == expected


def test_a_reply_sequence_the_prompt_does_not_start_is_refused():
    """A first output sequence the generation prompt does not open: no row could train that reply as it is
    generated, so rendering says which fields to change."""
    context, instruct = raw_presets("alpaca")
    template = get_template(
        Presets.from_dicts(context, {**instruct, "first_output_sequence": "### First:"}).spec
    )
    with pytest.raises(UserError, match="first_output_sequence"):
        template.render(Conversation(CHAT, CARD))


def test_roleplay_eval_callback_takes_preset_templates():
    from llm.train.callbacks import RoleplayEvalCallback

    assert RoleplayEvalCallback(bundled_presets("chatml").spec).template == bundled_presets("chatml").spec
