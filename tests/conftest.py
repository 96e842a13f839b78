"""Hermetic fixtures: tokenizers and models are built here, never downloaded."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from llm.data.tokenizer import build_tokenizer  # noqa: E402
from llm.models.reward import build_reward_model  # noqa: E402
from llm.models.tiny import build_llama  # noqa: E402

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TOKENIZER_KINDS = ("bytelevel", "metaspace")


@pytest.fixture(scope="session", params=TOKENIZER_KINDS)
def tokenizer(request):
    return build_tokenizer(request.param)


@pytest.fixture(scope="session")
def tokenizers():
    return {kind: build_tokenizer(kind) for kind in TOKENIZER_KINDS}


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """A tiny random checkpoint as llm-train sft writes it: weights, tokenizer, llm_train.json (chatml).
    Shared by the tests: read it, never write into it."""
    path = tmp_path_factory.mktemp("ckpt")
    tok = build_tokenizer("bytelevel")
    build_llama(tok).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    (path / "llm_train.json").write_text(json.dumps({"template": "chatml"}))
    return path


@pytest.fixture(scope="session")
def reward_checkpoint(tmp_path_factory):
    """A tiny random reward model as ``llm-train rm`` writes one (weights and tokenizer; seed 0): what
    ``serve-reward`` serves in the tests. Read it, never write into it."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("rm") / "tiny-rm"
    tok = build_tokenizer("bytelevel")
    build_reward_model(None, tok, config_name="tiny").save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path
