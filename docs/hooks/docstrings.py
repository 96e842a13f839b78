r"""Docstrings as the API reference shows them: a griffe extension that mkdocstrings loads (mkdocs.yml).

The package's docstrings are written to be read in the source and run as doctests: examples are bare
``>>>`` lines, literal blocks follow a paragraph ending in ``::``. Markdown would read an example's output
``[0, 1]`` as a link reference and print ``::`` as it is, so each example becomes a fenced ``pycon`` block
and ``::`` a colon. Only the rendered copy changes; the source, and the doctests pytest runs, do not.

>>> doc = "Rows::\n\n    a b\n\nFor example:\n" + ">" * 3 + " pack([3, 1])\n[[3], [1]]"
>>> markdown_docstring(doc).splitlines()
['Rows:', '', '    a b', '', 'For example:', '', '```pycon', '>>> pack([3, 1])', '[[3], [1]]', '```']
"""

from __future__ import annotations

import re

import griffe


def markdown_docstring(text: str) -> str:
    """``text`` with each run of ``>>>`` example lines (and their output) fenced, and ``::`` made ``:``."""
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
            # blank lines around the fence: Markdown needs them where the docstring has none
            before = [""] if out and out[-1].strip() else []
            after = [""] if end < len(lines) else []
            out += [*before, f"{indent}```pycon", *lines[i:end], f"{indent}```", *after]
            i = end
            continue
        out.append(re.sub(r"(?<=\S)::$", ":", line) if line.strip() != "::" else "")
        i += 1
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    """Rewrites every docstring griffe reads with :func:`markdown_docstring`."""

    def on_instance(self, *, node, obj: griffe.Object, agent, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
