# The README's two commands. Each sets itself up in .venv on a fresh machine, then runs.
#   make test   ruff (lint + format check), the documentation build (mkdocs --strict) and the test suite
#   make test-fast   the same without the tests marked slow (learning runs, several processes): a quick check
#   make demo   the main job: SmolLM2-135M-Instruct becomes a bundled character (before/after)
#   make demo-tiny   the same pipeline with a tiny Llama trained from scratch (fast, no download)
#   make test-real   real-model tests on SmolLM2-135M-Instruct (fetches it; not part of make test)
#   make demo-rlhf   SFT → reward model → PPO on the bundled TL;DR sample
#   make demo-persistence   GAtt on SmolLM2-135M-Instruct: persistence suite before/after (≤ 30 min CPU)
#   make rehearse-multinode   two "nodes" (network namespaces; root) run SFT, DPO, GRPO with NNODES=2; failure drills
# Override the torch build, e.g. for CUDA:  make test TORCH_SPEC="torch==2.13.0" TORCH_PIP_ARGS="--index-url ..."

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
EXTRAS ?= data,dev

comma := ,
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
# The official handlebars.js for the SillyTavern parity test (tests/data/test_sillytavern.py); skipped without npm.
HANDLEBARS := .cache/node/node_modules/handlebars/package.json

.PHONY: setup test test-fast test-real lint demo demo-tiny demo-rlhf demo-persistence rehearse-multinode bench clean

setup: $(STAMP) $(HANDLEBARS)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	DS_BUILD_OPS=0 $(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"
	@# The web page's browser test drives Debian's chromium (Playwright cannot download a browser here):
	@# installed when missing, only as root with apt-get; elsewhere that one test is skipped.
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (apt-get) for tests/web/test_app.py"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "note: chromium could not be installed; the browser test will be skipped"; \
	fi
	@touch $@

$(HANDLEBARS):
	@if command -v npm >/dev/null 2>&1; then npm install --silent --no-audit --no-fund --prefix .cache/node handlebars@4; \
	else echo "npm not found: the SillyTavern parity test will be skipped"; fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q --durations=15

# -m replaces pyproject's addopts -m 'not real', so both markers are named here.
test-fast: lint
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow and not real"

demo: $(STAMP)
	$(BIN)/llm-train demo

demo-tiny: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/llm-train demo-tiny

test-real: $(STAMP)
	$(BIN)/python -m pytest -q -m real tests/test_real_model.py

demo-rlhf: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/llm-train demo-rlhf

demo-persistence: $(STAMP)
	$(BIN)/llm-train demo-persistence

rehearse-multinode: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python scripts/rehearse_multinode.py

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python bench/encode.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .cache/node
