"""What ``mkdocs build --strict`` checks beyond MkDocs' own link validation (a MkDocs hook).

MkDocs itself fails the strict build on a link between pages that does not resolve, an anchor that no
page has, and a page left out of the navigation; mkdocstrings fails it on an API directive (``::: llm.x``)
naming an object that no longer exists. This hook adds what neither sees:

- README.md, which is not a page of the site, is checked as the pages are: every relative link (to
  ``docs/sft.md``, an image ``docs/x.png``, a heading ``#the-two-commands``) names a file of the
  repository, and its anchor, if any, a heading of that file (GitHub's slugs: GitHub renders the README);
- in README.md and every page, a repository path written as code (``llm/train/dpo.py``,
  ``bench/encode.py --smoke``, ``configs/deepspeed/zero{1,2,3}.json``, or a path in a fenced command)
  names a file or folder that exists;
- a dotted name of the package written as code (``llm.data.cards.read_card``) names a module, class,
  function or attribute that exists (found statically by griffe: nothing is imported).

Each problem is a warning naming the file and line, so ``--strict`` fails with all of them listed.

The site's home page (``docs/index.md``) is README.md itself, put in its place here, so the front page
and the home page cannot drift apart.

>>> expand_braces("zero{1,2,3}{,_offload}.json")[:3]
['zero1.json', 'zero1_offload.json', 'zero2.json']
>>> github_slug("Ghost Attention: an instruction that still holds twenty turns later")
'ghost-attention-an-instruction-that-still-holds-twenty-turns-later'
>>> [ref for _, ref in code_references("see `llm/data/encode.py` and `llm.data.encode.Encoder`")]
['llm/data/encode.py', 'llm.data.encode.Encoder']
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import griffe
from mkdocs.plugins import get_plugin_logger

log = get_plugin_logger("checks")

REPO_DIRS = ("llm", "bench", "configs", "scripts", "examples", "tests", "docs", ".ci")
REPO_PATH = re.compile(r"^(?:" + "|".join(re.escape(d) for d in REPO_DIRS) + r")/[\w./{},*-]*$")
DOTTED_NAME = re.compile(r"^llm(?:\.\w+)+$")
CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
EXTERNAL = ("http://", "https://", "mailto:")
README_MARKER = "<!-- the home page is README.md, included by docs/hooks/checks.py -->"


def expand_braces(text: str) -> list[str]:
    """Shell brace expansion, the shorthand the docs use for families of files."""
    match = re.search(r"\{([^{}]*)\}", text)
    if not match:
        return [text]
    head, tail = text[: match.start()], text[match.end() :]
    return [word for choice in match.group(1).split(",") for word in expand_braces(head + choice + tail)]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def code_references(markdown: str) -> list[tuple[int, str]]:
    """(line number, reference) for every repository path or ``llm.`` name written as code.

    Inline code spans count when their first word is one; in fenced blocks, every word that is a path
    under one of the repository's folders (commands name the files they run on). ``:::`` API directives
    are mkdocstrings' to check.
    """
    found = []
    in_fence = False
    for number, line in enumerate(markdown.splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            words = [word.rstrip(";,:)") for word in line.split()]
            found += [(number, word) for word in words if REPO_PATH.match(word)]
            continue
        for span in CODE_SPAN.findall(line):
            words = span.split()
            first = words[0].rstrip(";,:") if words else ""
            if REPO_PATH.match(first) or DOTTED_NAME.match(first):
                found.append((number, first))
    return found


@functools.cache
def package(root: str) -> griffe.Module:
    """The ``llm`` package as griffe reads it from the sources (nothing is imported)."""
    return griffe.load("llm", search_paths=[root], allow_inspection=False, resolve_aliases=False)


def reference_problem(reference: str, root: Path) -> str | None:
    """Why ``reference`` (a repository path or an ``llm.`` name) does not resolve, or None when it does."""
    if DOTTED_NAME.match(reference):
        try:
            package(str(root))[reference.removeprefix("llm.")]
        except KeyError:
            return f"`{reference}` names nothing in the llm package"
        return None
    missing = [path for path in expand_braces(reference) if "*" not in path and not (root / path).exists()]
    return f"`{reference}`: no such file or folder in the repository" if missing else None


def reference_problems(markdown: str, root: Path) -> list[str]:
    r"""Every repository path or ``llm.`` name written as code in ``markdown`` that does not resolve.

    >>> root = Path(__file__).resolve().parents[2]
    >>> reference_problems("`llm/data/encode.py` and `llm.data.encode.Encoder`", root)
    []
    >>> for problem in reference_problems("`bench/gone.py --smoke`\n\n`llm.data.encode.Gone`", root):
    ...     print(problem)
    line 1: `bench/gone.py`: no such file or folder in the repository
    line 3: `llm.data.encode.Gone` names nothing in the llm package
    """
    found = [(number, reference_problem(reference, root)) for number, reference in code_references(markdown)]
    return [f"line {number}: {problem}" for number, problem in found if problem]


def headings(path: Path) -> set[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {github_slug(m.group(1)) for line in lines if (m := HEADING.match(line))}


def link_problems(markdown: str, folder: Path) -> list[str]:
    r"""Every relative link in ``markdown`` (a file in ``folder``) to a missing file or heading.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "sft.md").write_text("# SFT\n\n## Packed rows\n")
    >>> link_problems("[a](sft.md#packed-rows) [b](https://x.org/y.md) ![c](sft.md)", folder)
    []
    >>> for problem in link_problems("# Top\n[a](gone.md) [b](sft.md#gone)\n[c](#top) [d](#gone)", folder):
    ...     print(problem)
    line 2: link to gone.md: no such file
    line 2: link to sft.md#gone: no heading with that anchor
    line 3: link to #gone: no heading with that anchor
    >>> import shutil; shutil.rmtree(folder)
    """
    problems, in_fence = [], False
    own = {github_slug(m.group(1)) for line in markdown.splitlines() if (m := HEADING.match(line))}
    for number, line in enumerate(markdown.splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
        if in_fence:
            continue
        for target in LINK.findall(line):
            if target.startswith(EXTERNAL):
                continue
            path, _, anchor = target.partition("#")
            file = folder / path
            if path and not file.exists():
                problems.append(f"line {number}: link to {path}: no such file")
            elif (
                anchor
                and anchor not in (headings(file) if path else own)
                and (not path or file.suffix == ".md")
            ):
                problems.append(f"line {number}: link to {target}: no heading with that anchor")
    return problems


def on_pre_build(config) -> None:
    root = Path(config.config_file_path).parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    for problem in link_problems(readme, root) + reference_problems(readme, root):
        log.warning(f"README.md, {problem}")


def readme_as_page(readme: str) -> str:
    """README.md as the site's home page: its links into ``docs/`` made relative to the site.

    >>> readme_as_page("[SFT](docs/sft.md), [home](docs/index.md)")
    '[SFT](sft.md), [home](index.md)'
    """
    return readme.replace("](docs/", "](")


def on_page_markdown(markdown: str, page, config, files) -> str:
    root = Path(config.config_file_path).parent
    if page.file.src_uri == "index.md" and README_MARKER in markdown:
        # One source of truth: the home page is the README, so MkDocs validates its links as a page's too.
        markdown = readme_as_page((root / "README.md").read_text(encoding="utf-8"))
    for problem in reference_problems(markdown, root):
        log.warning(f"docs/{page.file.src_uri}, {problem}")
    return markdown
