r"""Docstrings as the API reference shows them: a griffe extension that mkdocstrings loads (mkdocs.yml).

The package's docstrings are written to be read in the source and run as doctests: examples are bare
``>>>`` lines, literal blocks follow a paragraph ending in ``::``, and other objects are named with Sphinx
roles (``:func:`plan_batch```, ``:class:`~llm.errors.UserError```). Markdown would read an example's
output ``[0, 1]`` as a link reference and print the roles as they are, so in the rendered copy (the source,
and the doctests pytest runs, do not change):

- each run of example lines becomes a fenced ``pycon`` block, and ``::`` a colon;
- each role becomes a cross-reference to the object's entry in the API reference, its name resolved the
  way Python would from where the docstring stands. A name that resolves to nothing (``:func:`llm.x.gone```,
  or a bare name neither defined, imported nor built in) stays a cross-reference, which the strict build
  then fails on: a docstring cannot name what is not there. A builtin, a name from outside the package,
  or one the reference does not show (private, undocumented, in a module no page lists) is set as code.

>>> doc = "Rows::\n\n    a b\n\nFor example:\n" + ">" * 3 + " pack([3, 1])\n[[3], [1]]"
>>> markdown_docstring(doc).splitlines()
['Rows:', '', '    a b', '', 'For example:', '', '```pycon', '>>> pack([3, 1])', '[[3], [1]]', '```']
>>> links = {"pack": "llm.data.stacking.pack"}.get
>>> markdown_docstring("See :func:`pack`, :class:`~llm.errors.UserError` and :mod:`json`.", links)
'See [`pack`][llm.data.stacking.pack], `UserError` and `json`.'
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import griffe

ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc|const):`(~?)([^`<]*?)\s*(?:<([^`>]+)>)?`"
)
API_ENTRY = re.compile(r"^:::\s+(\S+)", re.MULTILINE)


def markdown_docstring(text: str, link: Callable[[str], str | None] = lambda name: None) -> str:
    """``text`` with example runs fenced, ``::`` made ``:`` and roles made links where ``link`` gives a target."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        indent = line[: len(line) - len(line.lstrip())]
        if line.lstrip().startswith(">>>"):
            end = i
            while end < len(lines) and lines[end].strip() and lines[end].startswith(indent):
                end += 1
            # at the margin, blank lines around: an indented fence would be read as code, not as a fence
            before = [""] if out and out[-1].strip() else []
            after = [""] if end < len(lines) else []
            out += [*before, "```pycon", *(row[len(indent) :] for row in lines[i:end]), "```", *after]
            i = end
            continue
        line = re.sub(r"(?<=\S)::$", ":", line) if line.strip() != "::" else ""
        out.append(ROLE.sub(lambda m: role_markdown(m, link), line))
        i += 1
    return "\n".join(out)


def role_markdown(match: re.Match, link: Callable[[str], str | None]) -> str:
    tilde, name, explicit = match.groups()
    name = (explicit or name).strip()
    shown = (match.group(2).strip() if explicit else name.rsplit(".", 1)[-1] if tilde else name) or name
    target = link(name)
    return f"[`{shown}`][{target}]" if target else f"`{shown}`"


def rendered_modules(docs: Path) -> set[str]:
    """The modules the API reference shows: every ``::: module`` entry of a page."""
    return {
        entry for page in docs.glob("*.md") for entry in API_ENTRY.findall(page.read_text(encoding="utf-8"))
    }


def walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        if not member.is_alias and member.parent is obj:
            yield from walk(member)


def lookup(pkg: griffe.Module, path: str) -> griffe.Object | None:
    """The object at ``path`` in the package, an import followed to what it imports."""
    try:
        found = pkg[path.removeprefix(pkg.name + ".")] if path != pkg.name else pkg
    except KeyError:
        return None
    if found.is_alias:
        return lookup(pkg, found.target_path) if found.target_path.startswith(pkg.name + ".") else None
    return found


def resolve(name: str, where: griffe.Object, pkg: griffe.Module) -> griffe.Object | str | None:
    """What ``name`` means in the docstring of ``where``, as Python resolves it, innermost scope first: an
    object of the package; ``"outside"`` for a builtin or an import from elsewhere; None for nothing at all.

    >>> pkg = griffe.load("llm", search_paths=[str(Path(__file__).resolve().parents[2])], allow_inspection=False)
    >>> where = pkg["eval.checks.Check.to_dict"]  # a method: its class, then its module, then builtins
    >>> resolve("Check", where, pkg).path, resolve("dict", where, pkg), resolve("load_checks", where, pkg)
    ('llm.eval.checks.Check', 'outside', None)
    """
    if name == pkg.name or name.startswith(pkg.name + "."):
        return lookup(pkg, name)
    head, _, rest = name.partition(".")
    scope: griffe.Object | None = where if (where.is_class or where.is_module) else where.parent
    while scope is not None:
        if head in scope.members:
            member = scope.members[head]
            base = member.target_path if member.is_alias else member.path
            return lookup(pkg, base + ("." + rest if rest else "")) or "outside"
        scope = scope.parent
    return "outside" if hasattr(builtins, head) else None


def shown(obj: griffe.Object, modules: set[str]) -> bool:
    """Whether the API reference has an entry (an anchor) for ``obj``."""
    if any(part.startswith("_") for part in obj.path.split(".")) or obj.module.path not in modules:
        return False
    if obj.is_module:
        return True
    documented = bool(obj.docstring) or (obj.is_class and any(m.docstring for m in obj.members.values()))
    return documented and (obj.parent.is_module or shown(obj.parent, modules))


class DoctestBlocks(griffe.Extension):
    """Rewrites every docstring of the package with :func:`markdown_docstring`, once it is fully loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        modules = rendered_modules(Path(__file__).resolve().parent.parent)

        for obj in walk(pkg):
            if not obj.docstring:
                continue

            def link(name: str, obj: griffe.Object = obj) -> str | None:
                target = resolve(name, obj, pkg)
                if target is None:  # a name that is gone stays a link, so the strict build fails on it
                    return name
                return target.path if target != "outside" and shown(target, modules) else None

            obj.docstring.value = markdown_docstring(obj.docstring.value, link)
