"""A checkpoint trained here chats correctly through a standard OpenAI-compatible server.

``transformers serve`` (the transformers package's own server, on CPU) serves a tiny checkpoint that
``llm-train sft`` trained on role-play chats with a Tavern card; the official ``openai`` SDK calls it the way
SillyTavern's chat-completion mode does (the card as the system message, the whole conversation each turn,
streamed). The server must see, token for token, the prompt our encoder builds for inference, and its reply
must end at the end of the turn — not run on into the user's turn.

The server's prompt ids are taken from the server itself: its own ``render_messages`` (the function its
``/v1/chat/completions`` handler tokenizes a request with) on the tokenizer it loads, and the prompt length it
reports (``usage.prompt_tokens``, and its request log line). Its greedy reply must then be the one our model
gives from our prompt ids, token count included.
"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from llm.commands.sft import main as sft_main
from llm.data.conversation import Conversation, Message, character_from_dict
from llm.data.encode import Encoder
from llm.data.jinja import to_jinja
from llm.data.templates import TEMPLATES, get_template
from llm.data.tokenizer import build_tokenizer
from llm.inference.repliers import LocalReplier, Sampling, openai_messages
from llm.inference.stops import end_of_turn, turn_ends, user_turn_markers
from llm.models.checkpoint import write_info
from llm.models.tiny import build_llama
from llm.train.saving import save_final
from tests.helpers import REPO
from tests.helpers.ports import free_port

REPLY = "Aye, the light holds."
# A Tavern V2 card as users keep them: placeholders, example dialogue, a lorebook entry keyed on "storm".
CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Mira",
        "description": "{{char}} keeps the lighthouse.",
        "personality": "calm",
        "scenario": "{{user}} knocks at the door in a storm.",
        "first_mes": "Come in, {{user}}.",
        "mes_example": "<START>\n{{user}}: Is it safe?\n{{char}}: Aye.",
        "post_history_instructions": "Stay as {{char}}; answer {{user}} briefly.",
        "creator_notes": "never in a prompt",
        "character_book": {
            "entries": [{"keys": ["storm"], "content": "Storms here last three days.", "enabled": True}]
        },
    },
}
WORDS = "sea light storm tea book moon ship rain wind night".split()


def records(n: int = 16) -> list[dict]:
    """Chats with the card where Mira always answers ``REPLY``: 40 steps teach it, and the end of turn
    after it, by a wide margin (the greedy tokens lead the next ones by 0.7 in probability)."""
    out = []
    for i in range(n):
        messages = []
        for turn in range(1 + i % 3):
            said = " ".join(WORDS[(i * 7 + turn * 3 + k) % len(WORDS)] for k in range(2 + (i + turn) % 6))
            messages += [{"role": "user", "content": said}, {"role": "assistant", "content": REPLY}]
        out.append({"messages": messages, "character": CARD})
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """``llm-train sft`` on the chats (chatml, tiny model); a ``checkpoint-N`` is kept beside the final model."""
    tmp = tmp_path_factory.mktemp("tserve")
    data = tmp / "chats.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records()))
    out = tmp / "run"
    argv = [
        "--model_config", "tiny", "--tokenizer", "tiny:bytelevel", "--dataset", "openai",
        "--data_files", str(data), "--template", "chatml", "--max_length", "256",
        "--per_device_train_batch_size", "4", "--learning_rate", "5e-3", "--max_steps", "40",
        "--save_strategy", "steps", "--save_steps", "40", "--report_to", "none", "--use_cpu",
        "--seed", "0", "--disable_tqdm", "true", "--output_dir", str(out),
    ]  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_TRAIN_CACHE", str(tmp / "cache"))
        assert sft_main(argv) == 0
    return out


# ── what the saved checkpoint tells a server ─────────────────────────────────────────────────────────


def saved(tmp_path: Path, template: str | None, kind: str = "bytelevel") -> Path:
    """A tiny model saved as every stage saves its final model (:func:`save_final`), with ``template`` as
    its ``chat_template`` (None: a pre-training checkpoint, no chat template)."""
    tok = build_tokenizer(kind)
    if template is not None:
        tok.chat_template = to_jinja(get_template(template, tok))

    def write(staged: Path) -> None:
        build_llama(tok).save_pretrained(str(staged))
        tok.save_pretrained(str(staged))
        write_info(staged, "sft", {"template": template})

    save_final(tmp_path, write)
    return tmp_path


@pytest.mark.parametrize("kind", ["bytelevel", "metaspace"])
@pytest.mark.parametrize("name", sorted(set(TEMPLATES) - {"tokenizer"}))
def test_saved_generation_config_stops_at_the_templates_end_of_turn(tmp_path, name, kind):
    out = saved(tmp_path, name, kind)
    tok = AutoTokenizer.from_pretrained(out)
    template = get_template(name, tok)
    end = tok.convert_tokens_to_ids(end_of_turn(template) or tok.eos_token)
    written = json.loads((out / "generation_config.json").read_text())["eos_token_id"]
    # The model's own EOS stays first; the end of turn (and every id our chat stops on) is among them.
    assert written[0] == tok.eos_token_id and end in written
    assert set(turn_ends(template, tok)[1]) <= set(written)
    # What generate() (and so transformers serve, vLLM) reads back.
    assert end in GenerationConfig.from_pretrained(out).eos_token_id
    assert end in AutoModelForCausalLM.from_pretrained(out).generation_config.eos_token_id
    # The file list that the next save replaces still holds it.
    assert "generation_config.json" in json.loads((out / "llm_train.json").read_text())["files"]


def test_a_checkpoint_without_a_chat_template_keeps_the_models_eos(tmp_path):
    out = saved(tmp_path, None)
    assert json.loads((out / "generation_config.json").read_text())["eos_token_id"] == 2  # </s>


def test_a_chat_template_the_probe_cannot_read_still_saves_with_a_warning(tmp_path, capsys):
    tok = build_tokenizer("bytelevel")
    tok.chat_template = "{{ raise_exception('this template wants tools') }}"

    def write(staged: Path) -> None:
        build_llama(tok).save_pretrained(str(staged))
        tok.save_pretrained(str(staged))
        write_info(staged, "sft", {"template": "tokenizer"})

    save_final(tmp_path, write)
    assert json.loads((tmp_path / "generation_config.json").read_text())["eos_token_id"] == 2
    assert (
        "end-of-turn token not found from its chat_template (this template wants tools)"
        in capsys.readouterr().out
    )


@pytest.mark.slow  # it trains the checkpoint the round trip serves
def test_trainer_checkpoints_and_the_final_model_stop_at_im_end(trained):
    im_end = AutoTokenizer.from_pretrained(trained).convert_tokens_to_ids("<|im_end|>")
    for folder in (trained, trained / "checkpoint-40"):
        assert (folder / "chat_template.jinja").is_file()
        assert im_end in json.loads((folder / "generation_config.json").read_text())["eos_token_id"]


# ── the round trip through transformers serve ────────────────────────────────────────────────────────


class Server:
    """``transformers serve MODEL --host 127.0.0.1 --port PORT --device cpu`` in a child process."""

    def __init__(self, model: Path, log: Path):
        cli = Path(sys.executable).with_name("transformers")
        if not cli.is_file():
            pytest.skip(f"no transformers CLI at {cli}")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.proc = subprocess.Popen(
            [str(cli), "serve", str(model), "--host", "127.0.0.1", "--port", str(self.port),
             "--device", "cpu", "--enable-log-requests"],
            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"transformers serve exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"transformers serve not ready after {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def server_prompt_ids(model: Path, messages: list[dict]) -> list[int]:
    """The ids the server's ``/v1/chat/completions`` handler builds for ``messages``: its own
    ``render_messages``, on the processor its model loader loads for ``model``."""
    pytest.importorskip("transformers.cli.serving.chat_completion", reason="transformers serve's 5.x layout")
    from transformers.cli.serving.chat_completion import ChatCompletionHandler
    from transformers.cli.serving.model_manager import ModelLoader
    from transformers.cli.serving.utils import GenerationState, Modality

    processor = ModelLoader.load_processor(SimpleNamespace(trust_remote_code=False), str(model))
    engine = SimpleNamespace(processor=processor, modality=Modality.LLM, use_cb=False)
    handler = ChatCompletionHandler(model_manager=None, generation_state=GenerationState())
    body = {"model": str(model), "messages": messages}
    return handler.render_messages(engine, messages, body)["input_ids"][0].tolist()


@pytest.mark.slow
def test_transformers_serve_round_trip_with_the_card_as_system_message(trained, tmp_path):
    openai = pytest.importorskip("openai")
    tok = AutoTokenizer.from_pretrained(trained)
    model = AutoModelForCausalLM.from_pretrained(trained)
    encoder = Encoder(tok, "chatml")
    ours_chat = LocalReplier(model, encoder, Sampling(max_new_tokens=32))
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    card = character_from_dict(CARD)
    markers = user_turn_markers(encoder.template, card)

    server = Server(trained, tmp_path / "serve.log")
    try:
        server.wait_ready()
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="EMPTY", max_retries=0, timeout=60)
        conv = Conversation((), card)
        for user_turn in ("sea light", "a storm, tea and a book", "moon rain night"):
            conv = Conversation((*conv.messages, Message("user", user_turn)), card)
            messages = openai_messages(conv)  # as SillyTavern sends it: the card is the system message
            assert messages[0]["role"] == "system" and "Mira keeps the lighthouse." in messages[0]["content"]
            # The lorebook entry is in the card's text while "storm" is within its scan depth (2 messages).
            assert ("Storms here last three days." in messages[0]["content"]) == ("storm" in user_turn)
            ours = encoder.encode_prompt(conv)
            assert server_prompt_ids(trained, messages) == ours

            stream = client.chat.completions.create(
                model=str(trained), messages=messages, stream=True, temperature=0, max_tokens=32,
                stream_options={"include_usage": True},
            )  # fmt: skip
            chunks = list(stream)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
            usage = chunks[-1].usage
            assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1  # streamed
            assert usage.prompt_tokens == len(ours)

            # Our model, from our prompt ids, greedy, stopping on the ids our chat stops on.
            with torch.no_grad():
                generated = model.generate(
                    torch.tensor([ours]), max_new_tokens=32, do_sample=False,
                    eos_token_id=turn_ends(encoder.template, tok)[1], pad_token_id=tok.pad_token_id,
                )[0, len(ours):].tolist()  # fmt: skip
            assert generated[-1] == im_end  # it was trained to end its turn, and it does
            assert text == tok.decode(generated, skip_special_tokens=True) == REPLY
            assert text.strip() == ours_chat([conv])[0].text  # what `llm-train chat` says
            # The server stopped at the end of the turn: the same tokens, the end of turn last, nothing after.
            assert finish == ["stop"] and usage.completion_tokens == len(generated) < 32
            assert not any(m.lstrip("\n").replace("<|im_start|>", "") in text for m in markers)
            conv = Conversation((*conv.messages, Message("assistant", text)), card)
        # A second system message is refused by the template, not rendered into some other prompt.
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(
                model=str(trained),
                messages=[*messages, {"role": "system", "content": "Be brief."}],
                max_tokens=4,
            )
    finally:
        server.stop()
    log = server.log.read_text()
    assert "a system message after the first message" in log  # the template's reason, in the server's log
    logged = [int(n) for n in re.findall(r"Request \S+: model \S+, (\d+) prompt tokens", log)]
    assert logged == [
        len(encoder.encode_prompt(Conversation(conv.messages[: i + 1], card))) for i in (0, 2, 4)
    ]


# ── the scripts for vLLM and llama.cpp (run where a GPU is lent; here: they parse, and their dry runs) ──

SCRIPTS = REPO / "scripts"


def dry_run(script: str, model: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPTS / script), str(model)],
        capture_output=True,
        text=True,
        env={**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable, **env},
    )


@pytest.mark.parametrize("script", ["serve_vllm.sh", "serve_llamacpp.sh"])
def test_the_serving_scripts_parse_and_refuse_a_checkpoint_without_a_chat_template(script, tmp_path):
    assert subprocess.run(["bash", "-n", str(SCRIPTS / script)]).returncode == 0
    run = dry_run(script, saved(tmp_path, None))
    assert run.returncode == 1 and "chat_template" in run.stderr


def test_vllm_serves_the_checkpoints_template_and_generation_config(tmp_path):
    model = saved(tmp_path / "run", "chatml")
    run = dry_run("serve_vllm.sh", model, NAME="mira")
    assert run.returncode == 0, run.stderr
    assert f"+ vllm serve {model} --host 127.0.0.1 --port 8000 --served-model-name mira" in run.stdout
    assert "--generation-config auto" in run.stdout and "--chat-template " not in run.stdout


@pytest.mark.parametrize("name, end", [("chatml", "<|im_end|>"), ("llama3", "<|eot_id|>"), ("vicuna", None)])
def test_llamacpp_is_told_the_end_of_turn_token_and_the_checkpoints_template(tmp_path, name, end):
    model = saved(tmp_path / "run", name)
    run = dry_run("serve_llamacpp.sh", model, LLAMA_CPP="/opt/llama.cpp")
    assert run.returncode == 0, run.stderr
    convert, serve = run.stdout.splitlines()
    assert (
        f"convert_hf_to_gguf.py {model} --outfile {model}.bf16.gguf" in convert
    )  # beside the run, not in it
    assert f"--jinja --chat-template-file {model}/chat_template.jinja" in serve
    if end is None:  # vicuna's turns end with </s>, the EOS itself
        assert "--override-kv" not in serve
    else:
        eot = AutoTokenizer.from_pretrained(model).convert_tokens_to_ids(end)
        assert serve.endswith(f"--override-kv tokenizer.ggml.eot_token_id=int:{eot}")
