"""``llm-train chat`` on a tiny random checkpoint: structure, history, commands, cards, errors (where a reply
stops: tests/inference/test_stops.py; the session: tests/inference/test_chat.py).

A random model writes gibberish, so tests assert what the chat does around the replies (prompts, history,
where a reply is cut), never what the replies say.
"""

import io
import json

import pytest
from transformers import LlamaForCausalLM

from llm.commands.chat import main
from llm.data.conversation import Conversation, Message
from llm.data.encode import Encoder
from llm.data.tokenizer import build_tokenizer
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
