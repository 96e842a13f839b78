"""The test tree keeps its shape (issue 25): ``tests/`` mirrors ``llm/``, and helpers are a package.

- No file under ``tests/`` edits the import path: helpers are imported as ``tests.helpers.*``, and a child
  process finds them by running from the repository root.
- Every module of ``llm`` with logic (a function or a class besides ``main``) has its mirrored test file:

      llm/<layer>/<module>.py              tests/<layer>/test_<module>.py
      llm/<layer>/<package>/__init__.py    tests/<layer>/<package>/test_<package>.py
      llm/commands/<command>.py            tests/<any layer>/test_<command>.py   (a command beside its stage)
      llm/<layer>/<package>/<module>.py    tests/<layer>/test_<package>*.py      (a subpackage by behaviour)

  or a row in :data:`TESTED_IN` naming the file that tests it, with the evidence that it does (a string
  that file must contain: an import, a command, a file the module writes) and why it is tested there.
- Every test file sits in a folder of ``tests/`` that mirrors a package of ``llm`` (or ``tests/bench/``,
  ``tests/helpers/``, or the top level for what crosses layers).

A new module gets its test file, or a row here; a row whose module is gone, or mirrored since, fails too.
"""

import ast
import re
from pathlib import Path

import pytest

from tests.helpers import REPO

TESTS = REPO / "tests"
PACKAGE = REPO / "llm"

# module → (test file, evidence the file must contain, why that file). Kept short: prefer a mirrored file.
TESTED_IN: dict[str, tuple[str, str, str]] = {
    "llm.commands": ("tests/commands/test_cli.py", "COMMANDS", "the table, with the error handler (cli.py)"),
    "llm.commands.demo": ("tests/commands/test_cli.py", "llm.commands.demo", "its budget plan and sample"),
    "llm.commands.demo_tiny": ("tests/data/test_samples.py", "llm.commands.demo_tiny", "run on the sample"),
    "llm.commands.eval": ("tests/eval/test_roleplay.py", "llm.commands.eval", "with the reports it writes"),
    "llm.commands.gatt_synthesize": (
        "tests/train/test_gatt_synthesis.py",
        "llm.commands.gatt_synthesize",
        "its stage",
    ),
    "llm.commands.web": ("tests/web/test_app.py", '"web"', "the page's command, with the page"),
    "llm.commands.flags": ("tests/commands/test_validation.py", "llm.commands.flags", "checks at the edge"),
    "llm.data.output": ("tests/data/test_data_safety.py", "llm.data.output", "safe output folders"),
    "llm.data.show": ("tests/commands/test_show_sample.py", "show-sample", "what the command prints"),
    "llm.data.sources.openai_messages": ("tests/data/test_process.py", 'dataset="openai"', "read by process"),
    "llm.data.sources.sharegpt": ("tests/data/test_process.py", 'dataset="sharegpt"', "read by process"),
    "llm.data.sources.text": ("tests/data/test_process.py", 'dataset="text"', "read by process"),
    "llm.data.text": ("llm/data/text.py", ">>> is_text", "one function, its doctest"),
    "llm.data.tokenizer": ("tests/data/test_encode.py", "llm.data.tokenizer", "the tiny tokenizers' ids"),
    "llm.errors": ("tests/commands/test_validation.py", "llm.errors", "the errors users see"),
    "llm.eval.instructions": ("tests/eval/test_roleplay.py", "llm.eval.instructions", "the instruction pool"),
    "llm.eval.simulate": ("tests/eval/test_roleplay.py", "llm.eval.simulate", "simulated conversations"),
    "llm.eval.suite": ("tests/eval/test_persistence.py", "llm.eval.suite", "the bundled suite"),
    "llm.inference.context": (
        "tests/train/test_gatt_synthesis.py",
        "llm.inference.context",
        "context fitting",
    ),
    "llm.inference.repliers": ("tests/train/test_gatt_synthesis.py", "OpenAIReplier", "local and endpoint"),
    "llm.inference.rollout": ("tests/train/test_grpo.py", "llm.inference.rollout", "the vLLM generator"),
    "llm.models.checkpoint": ("tests/train/test_saving.py", "llm.models.checkpoint", "written with saves"),
    "llm.models.loading": ("tests/train/test_sft.py", "llm.models.loading", "models built for training"),
    "llm.serve.config": ("tests/commands/test_serve_reward.py", "llm.serve.config", "read from the flags"),
    "llm.train.args": ("tests/train/test_sft.py", "llm.train.args", "the stage arguments"),
    "llm.train.callbacks": ("tests/eval/test_roleplay.py", "llm.train.callbacks", "the evaluation callback"),
    "llm.train.common": ("tests/train/test_saving.py", "llm.train.common", "the shared stage steps"),
    "llm.train.preference_losses": (
        "tests/train/test_dpo.py",
        "llm.train.preference_losses",
        "losses by hand",
    ),
    "llm.train.resume": ("tests/commands/test_validation.py", "llm.train.resume", "resume checked up front"),
    "llm.train.rewards": ("tests/train/test_grpo.py", "llm.train.rewards", "rewards by name, of both loops"),
}
TOP_LEVEL = {"bench", "helpers"}  # tests/ folders that mirror no package of llm


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def has_logic(path: Path) -> bool:
    """A function or a class besides ``main`` (a bare command, a shim or a namespace has nothing to test
    but what its stage's tests run)."""
    tree = ast.parse(path.read_text())
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return any(isinstance(n, kinds) and n.name != "main" for n in tree.body)


def mirrored(path: Path) -> bool:
    """Whether ``path`` (a module of llm) has its test file by the rules of the module docstring."""
    rel = path.relative_to(PACKAGE)
    folder = TESTS / rel.parent
    if path.stem == "__init__":
        return (folder / f"test_{rel.parent.name}.py").exists()
    if (folder / f"test_{path.stem}.py").exists():
        return True
    if rel.parts[0] == "commands" and any(TESTS.glob(f"*/test_{path.stem}.py")):
        return True
    subpackage = len(rel.parts) > 2
    return subpackage and any((TESTS / rel.parent.parent).glob(f"test_{rel.parent.name}*.py"))


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TEST_FILES = sorted(TESTS.rglob("*.py"))


def test_no_test_edits_the_import_path():
    edits = re.compile(r"\bsys\s*\.\s*path\b")
    found = []
    for path in TEST_FILES:
        lines = path.read_text().splitlines()
        found += [f"{path.relative_to(REPO)}:{n}" for n, line in enumerate(lines, 1) if edits.search(line)]
    assert not found, f"import helpers as tests.helpers.* instead of editing the import path: {found}"


@pytest.mark.parametrize("module", sorted(m for m, p in MODULES.items() if has_logic(p)))
def test_every_module_with_logic_has_its_test_file(module):
    path = MODULES[module]
    if module in TESTED_IN:
        assert not mirrored(path), f"{module} has its mirrored test file now: drop its row from TESTED_IN"
        where, evidence, _why = TESTED_IN[module]
        assert evidence in (REPO / where).read_text(), f"TESTED_IN[{module!r}]: {where} holds no {evidence!r}"
    else:
        rel = path.relative_to(PACKAGE)
        want = TESTS / rel.parent / f"test_{rel.parent.name if path.stem == '__init__' else path.stem}.py"
        assert mirrored(path), (
            f"{module}: write {want.relative_to(REPO)}, or add a row to TESTED_IN in {__name__}"
        )


def test_every_row_of_the_table_names_a_module_with_logic():
    stale = [m for m in TESTED_IN if m not in MODULES or not has_logic(MODULES[m])]
    assert not stale, f"rows of TESTED_IN for modules gone or without logic: {stale}"


def test_every_test_file_sits_in_a_mirrored_folder():
    packages = {p.parent.relative_to(PACKAGE) for p in PACKAGE.rglob("__init__.py")}
    misplaced = [
        str(p.relative_to(REPO))
        for p in TEST_FILES
        if p.parent != TESTS
        and p.parent.relative_to(TESTS) not in packages
        and p.parent.relative_to(TESTS).parts[0] not in TOP_LEVEL
    ]
    assert not misplaced, (
        f"a test file's folder mirrors a package of llm (or is one of {sorted(TOP_LEVEL)}): {misplaced}"
    )


def test_the_mirror_rule_on_a_made_up_tree(tmp_path, monkeypatch):
    """Each rule of the module docstring, and a module with no test file, on a tree made up here."""
    for name in ["llm/data/encode.py", "llm/data/show.py", "llm/data/sources/__init__.py", "llm/commands/process.py",
                 "llm/train/grpo/episodes.py", "tests/data/test_encode.py", "tests/data/sources/test_sources.py",
                 "tests/data/test_process.py", "tests/train/test_grpo_episodes.py"]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    monkeypatch.setitem(globals(), "PACKAGE", tmp_path / "llm")
    monkeypatch.setitem(globals(), "TESTS", tmp_path / "tests")
    assert mirrored(tmp_path / "llm" / "data" / "encode.py")  # tests/data/test_encode.py
    assert mirrored(
        tmp_path / "llm" / "data" / "sources" / "__init__.py"
    )  # tests/data/sources/test_sources.py
    assert mirrored(
        tmp_path / "llm" / "commands" / "process.py"
    )  # beside its stage: tests/data/test_process.py
    assert mirrored(tmp_path / "llm" / "train" / "grpo" / "episodes.py")  # tests/train/test_grpo_episodes.py
    assert not mirrored(
        tmp_path / "llm" / "data" / "show.py"
    )  # no test file: a row in TESTED_IN or a failure


def test_a_bare_command_has_no_logic_and_a_stage_has():
    assert not has_logic(PACKAGE / "commands" / "rm.py") and has_logic(PACKAGE / "data" / "encode.py")
