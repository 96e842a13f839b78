# The README's two commands. Each sets itself up in .venv on a fresh machine, then runs.
#   make test   ruff (lint + format check) and the test suite
#   make test-fast   the same without the tests marked slow (learning runs, several processes): a quick check
#   make demo   the main job: SmolLM2-135M-Instruct becomes a bundled character (before/after)
#   make demo-tiny   the same pipeline with a tiny Llama trained from scratch (fast, no download)
#   make test-real   real-model tests on SmolLM2-135M-Instruct (fetches it; not part of make test)
#   make demo-rlhf   SFT → reward model → PPO on the bundled TL;DR sample
# Override the torch build, e.g. for CUDA:  make test TORCH_SPEC="torch==2.13.0" TORCH_PIP_ARGS="--index-url ..."

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
EXTRAS ?= data,dev

comma := ,
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: setup test test-fast test-real lint demo demo-tiny demo-rlhf bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	DS_BUILD_OPS=0 $(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# -m replaces pyproject's addopts -m 'not real', so both markers are named here.
test-fast: lint
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow and not real"

demo: $(STAMP)
	$(BIN)/llm-train demo

demo-tiny: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/llm-train demo-tiny

test-real: $(STAMP)
	$(BIN)/python -m pytest -q -m real tests/test_real_model.py

demo-rlhf: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/llm-train demo-rlhf

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python bench/encode.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
