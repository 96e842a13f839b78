"""The house rule, kept true by a test: imports only go down the layers, and no module cycle exists.

    errors → data → models → inference → eval → train → serve → web → commands

``serve`` (the reward-model server) and ``web`` (the browser page) are applications: they sit above
training, just below the commands, so that no library module depends on FastAPI or Gradio. What training
needs of the reward server, its client, is ``llm.inference.reward_client``: ``train`` may not import
``serve``, which holds the application only.

A module imports from its own layer or the ones below (read with ``ast``, function-local imports
included), never lazily to dodge a cycle. The one exception is the entry-point shim
``llm.data.process_chats`` (``python -m llm.data.process_chats``), which forwards to its command.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "llm"
LAYERS = ("errors", "data", "models", "inference", "eval", "train", "serve", "web", "commands")
SHIMS = {"llm.data.process_chats": {"llm.commands.process"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    if top not in LAYERS:
        raise AssertionError(f"{module}: not in a layer; add its package to LAYERS in tests/test_layers.py")
    return LAYERS.index(top)


def imports(path: Path) -> list[tuple[int, str, bool]]:
    """``(line, imported llm module, at top level)`` for every import of an llm module in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from llm.data import process` imports the module llm.data.process
            names = [
                f"{node.module}.{alias.name}"
                if (PACKAGE.parent / f"{node.module}.{alias.name}".replace(".", "/"))
                .with_suffix(".py")
                .exists()
                or (PACKAGE.parent / f"{node.module}.{alias.name}".replace(".", "/")).is_dir()
                else node.module
                for alias in node.names
            ]
        else:
            continue
        found += [(node.lineno, name, id(node) in top_level) for name in names if name.split(".")[0] == "llm"]
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {m: {name for _, name, _ in imports(p) if name in MODULES and name != m} for m, p in MODULES.items()}


def test_every_module_sits_in_a_layer():
    for module in MODULES:
        if module != "llm":
            layer(module)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "llm"))
def test_imports_only_go_down(module):
    problems = []
    for line, name, at_top in imports(MODULES[module]):
        if name in SHIMS.get(module, ()):
            continue
        if name != "llm" and layer(name) > layer(module):
            problems.append(f"{MODULES[module].name}:{line}: {module} ({LAYERS[layer(module)]}) imports "
                            f"{name} ({LAYERS[layer(name)]}), a layer above")  # fmt: skip
        if not at_top:
            problems.append(f"{MODULES[module].name}:{line}: function-local import of {name}")
    assert not problems, "\n".join(problems)


def test_no_import_cycle():
    """Depth-first search over module imports; a back edge is a cycle."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for dep in sorted(GRAPH[module] - set(SHIMS.get(module, ()))):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep) :] + [dep]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_the_checker_sees_upward_and_local_imports(tmp_path):
    """The test can fail: an upward import, and a function-local one, are both seen."""
    probe = tmp_path / "probe.py"
    probe.write_text("from llm.train.sft import run\n\ndef f():\n    from llm.data import encode\n")
    assert imports(probe) == [(1, "llm.train.sft", True), (4, "llm.data.encode", False)]
    assert layer("llm.train.sft") > layer("llm.data.conversation")
