"""``llm-train chat`` on a tiny random checkpoint: structure, history, commands, stopping, cards, errors.

A random model writes gibberish, so tests assert what the chat does around the replies (prompts, history,
where a reply is cut), never what the replies say.
"""

import io
import json

import pytest
import torch
from transformers import LlamaForCausalLM

from llm.commands.chat import main
from llm.data.conversation import Character, Conversation, Message
from llm.data.encode import Encoder
from llm.data.templates import get_template
from llm.data.tokenizer import build_tokenizer
from llm.inference.chat import ChatSession, ReplyStreamer
from llm.inference.stops import StopOnText, cut_reply, end_of_turn, user_turn_markers
from llm.models.tiny import build_llama
from tests.helpers import REPO

PIPPA = REPO / "llm" / "data" / "samples" / "pippa_sample.jsonl"
FAST = ["--max_new_tokens", "8", "--seed", "0"]


@pytest.fixture
def generate_calls(monkeypatch):
    """Record the arguments of every model.generate call (the real generate still runs)."""
    calls = []
    original = LlamaForCausalLM.generate

    def recording(self, *args, **kwargs):
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LlamaForCausalLM, "generate", recording)
    return calls


def chat(argv, lines):
    out = io.StringIO()
    rc = main(argv, stdin=io.StringIO(lines), stdout=out)
    return rc, out.getvalue()


def prompt_text(call):
    return build_tokenizer("bytelevel").decode(call["input_ids"][0].tolist(), skip_special_tokens=False)


def test_chat_keeps_history_and_handles_commands(checkpoint, generate_calls):
    rc, out = chat(
        ["--model", str(checkpoint), *FAST],
        "hi\n/system Be brief.\nhello again\n/reset\nfresh start\n/quit\n",
    )
    assert rc == 0
    assert out.count("You: ") == 6  # one prompt per input line read
    assert out.count("Assistant: ") == 3
    assert "(system message set)" in out and "(history cleared)" in out

    first, second, third = (prompt_text(c) for c in generate_calls)
    assert first == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    # The 2nd prompt holds the system message, the 1st exchange, then the new line.
    head = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    tail = "<|im_end|>\n<|im_start|>user\nhello again<|im_end|>\n<|im_start|>assistant\n"
    assert second.startswith(head) and second.endswith(tail)
    reply = second[len(head) : -len(tail)]
    assert f"Assistant: {reply}" in out  # the stored reply is the printed one
    # ... rendered and encoded exactly as training does.
    history = (Message("system", "Be brief."), Message("user", "hi"))
    history += (Message("assistant", reply), Message("user", "hello again"))
    encoder = Encoder(build_tokenizer("bytelevel"), "chatml")
    assert generate_calls[1]["input_ids"][0].tolist() == encoder.encode_prompt(Conversation(history))
    # /reset forgot the chat; the system message stays for the rest of it.
    assert third == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nfresh start<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    im_end = encoder.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert all(c["use_cache"] and im_end in c["eos_token_id"] for c in generate_calls)


def test_end_of_input_ends_the_chat(checkpoint):
    rc, out = chat(["--model", str(checkpoint), *FAST], "")
    assert rc == 0 and out.endswith("You: \n")


@pytest.mark.parametrize(
    "name, end",
    [("chatml", "<|im_end|>"), ("llama3", "<|eot_id|>"), ("llama2", "</s>"), ("pygmalion", "</s>")],
)
def test_end_of_turn_is_the_trained_end_token(name, end):
    template = get_template(name, build_tokenizer("bytelevel"))
    assert end_of_turn(template) == end
    assert template.trained_text("").endswith(end)


@pytest.mark.parametrize(
    "name, generated, reply",
    [
        ("pygmalion", " Aye, come in.\nSam: thanks! *sits*</s>", " Aye, come in."),
        ("pygmalion", " Aye.\nYou: thanks", " Aye."),  # PIPPA's own user name, too
        ("pygmalion", " Tell Sam: the lamp is lit.</s>", " Tell Sam: the lamp is lit."),  # not a turn
        ("vicuna", " Sure thing. USER: and now?", " Sure thing. "),
        ("chatml", "Hi<|im_start|>user\nmore", "Hi"),
        ("llama2", " Fine. [INST] next [/INST]", " Fine. "),
    ],
)
def test_reply_is_cut_before_the_users_turn(name, generated, reply):
    template = get_template(name, build_tokenizer("bytelevel"))
    stops = (end_of_turn(template), *user_turn_markers(template, Character("Mira", user_name="Sam")))
    assert cut_reply(generated, stops) == (reply, True)


def test_streamer_never_shows_a_stop_string():
    """Text that could start a stop string is held back until the next tokens decide."""
    tok = build_tokenizer("bytelevel")
    stops = ("</s>", "\nSam:")
    out = io.StringIO()
    streamer = ReplyStreamer(tok, stops, out)
    streamer.put(torch.tensor([[1, 2, 3]]))  # the prompt: not shown
    shown = []
    for token in tok(" Aye.\nSam: hello</s>", add_special_tokens=False)["input_ids"]:
        streamer.put(torch.tensor([token]))
        shown.append(out.getvalue())
    streamer.end()
    assert out.getvalue() == "Aye."
    assert not any("\n" in s for s in shown)


def test_stopping_criterion_fires_on_a_user_turn():
    tok = build_tokenizer("bytelevel")
    prompt = tok("Mira:", add_special_tokens=False)["input_ids"]
    criterion = StopOnText(tok, [("</s>", "\nSam:")], len(prompt))
    ids = lambda text: torch.tensor([prompt + tok(text, add_special_tokens=False)["input_ids"]])  # noqa: E731
    assert not criterion(ids(" Aye.\nSa"), None).item()
    assert criterion(ids(" Aye.\nSam: hi"), None).item()


def test_stopping_criterion_is_incremental_and_per_row():
    """Each step decodes a short window, not the whole reply (linear, not quadratic, in reply length),
    and each row stops on its own user's name."""
    tok = build_tokenizer("bytelevel")
    decoded_lengths = []

    class Counting:
        def batch_decode(self, ids, **kwargs):
            decoded_lengths.append(ids.shape[1])
            return tok.batch_decode(ids, **kwargs)

    criterion = StopOnText(Counting(), [("\nSam:",), ("\nAnn:",)], prompt_length=0)
    long = tok(" word" * 400, add_special_tokens=False)["input_ids"]
    for end in range(1, len(long), 50):
        ids = torch.tensor([long[:end], long[:end]])
        assert criterion(ids, None).tolist() == [False, False]
    assert max(decoded_lengths) <= criterion.window < 20
    sam = tok(" hi\nSam: yo", add_special_tokens=False)["input_ids"]
    ann = tok(" hi\nAnn: yo", add_special_tokens=False)["input_ids"]
    width = max(len(sam), len(ann))
    rows = [long[: width - len(sam)] + sam, long[: width - len(ann)] + ann]
    assert criterion(torch.tensor(rows), None).tolist() == [True, True]
    swapped = StopOnText(tok, [("\nAnn:",), ("\nSam:",)], prompt_length=0)
    assert swapped(torch.tensor(rows), None).tolist() == [False, False]


def test_session_stores_the_cut_reply(monkeypatch):
    """A model that writes the user's next line: the chat shows and keeps only its own part."""
    tok = build_tokenizer("bytelevel")
    model = build_llama(tok)
    scripted = tok(" Aye, come in.\nSam: thank you</s>", add_special_tokens=False)["input_ids"]

    def fake_generate(self, input_ids, streamer, stop_strings, **kwargs):
        assert "\nSam:" in stop_strings  # generate is asked to stop where the user's turn begins
        streamer.put(input_ids)
        for token in scripted:  # ... but even a model that writes past it is cut there
            input_ids = torch.cat([input_ids, torch.tensor([[token]])], dim=1)
            streamer.put(torch.tensor([token]))
        streamer.end()
        return input_ids

    monkeypatch.setattr(LlamaForCausalLM, "generate", fake_generate)
    card = Character("Mira", greeting="Welcome, {{user}}.", user_name="Sam")
    session = ChatSession(model, Encoder(tok, "pygmalion"), card, user_name="Sam")
    session.reset()
    out = io.StringIO()
    assert session.respond("Hello!", out) == "Aye, come in."
    assert out.getvalue() == "Aye, come in."
    assert [m.content for m in session.history] == ["Welcome, {{user}}.", "Hello!", "Aye, come in."]
    assert session.encoder.render(session.conversation()).text.endswith(
        "Mira: Welcome, Sam.</s>\nSam: Hello!\nMira: Aye, come in.</s>\n"
    )


def test_character_from_pippa_greets_and_reaches_the_prompt(checkpoint, generate_calls):
    argv = ["--model", str(checkpoint), "--character_from", str(PIPPA), "--index", "0", *FAST]
    rc, out = chat([*argv, "--template", "pygmalion"], "Hello there.\n/reset\n/quit\n")
    assert rc == 0
    greeting = "Odile Marsh: *The door of the lighthouse scrapes open against the wind."
    assert out.count(greeting) == 2  # at the start, and again after /reset
    assert "\nYou: Odile Marsh: " in out
    prompt = prompt_text(generate_calls[0])
    assert prompt.startswith("Odile Marsh's Persona: Odile Marsh has kept the light on Gannet Rock")
    assert prompt.endswith("don't touch the lens.</s>\nYou: Hello there.\nOdile Marsh:")


def test_card_file_and_user_name(checkpoint, tmp_path):
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"name": "Mira", "persona": "A keeper.", "greeting": "Hi {{user}}!"}))
    rc, out = chat(["--model", str(checkpoint), "--character", str(card), "--user_name", "Sam"], "/quit\n")
    assert rc == 0
    assert "Mira: Hi Sam!\nSam: " in out


@pytest.mark.parametrize(
    "setup, argv, message",
    [
        (None, ["--model", "{tmp}/nowhere"], "--model {tmp}/nowhere: no such directory"),
        ("{", ["--character", "{tmp}/card.json"], "{tmp}/card.json: malformed JSON"),
        ('{"persona": "x"}', ["--character", "{tmp}/card.json"], "{tmp}/card.json: field 'name'"),
        ('{"name": "M", "age": 3}', ["--character", "{tmp}/card.json"], "field 'age': unknown field"),
        (None, ["--character", "{tmp}/none.json"], "--character {tmp}/none.json: no such file"),
        (None, ["--character_from", str(PIPPA), "--index", "999"], "has 200 records; --index 999 is past"),
        (None, ["--index", "3"], "--index picks a record of --character_from"),
    ],
)
def test_bad_input_is_one_clear_line(checkpoint, tmp_path, capsys, setup, argv, message):
    if setup is not None:
        (tmp_path / "card.json").write_text(setup)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] != "--model":
        argv = ["--model", str(checkpoint), *argv]
    rc, out = chat(argv, "hi\n")
    err = capsys.readouterr().err
    assert rc == 2
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_checkpoint_info_needs_template(checkpoint, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in checkpoint.iterdir():
        if f.name != "llm_train.json":
            (bare / f.name).write_bytes(f.read_bytes())
    assert main(["--model", str(bare)], stdin=io.StringIO(""), stdout=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert "no llm_train.json" in err and "name it with --template" in err
    rc, out = chat(["--model", str(bare), "--template", "vicuna", *FAST], "hi\n")
    assert rc == 0 and "(template vicuna)" in out
