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
REPO_PATH = re.compile(r"^(?:%s)/[\w./{},*-]*$" % "|".join(re.escape(d) for d in REPO_DIRS))
DOTTED_NAME = re.compile(r"^llm(?:\.\w+)+$")
CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
EXTERNAL = ("http://", "https://", "mailto:")


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
    """Why ``reference`` does not resolve, or None when it does."""
    if DOTTED_NAME.match(reference):
        try:
            package(str(root))[reference.removeprefix("llm.")]
        except KeyError:
            return f"`{reference}` names nothing in the llm package"
        return None
    missing = [path for path in expand_braces(reference) if "*" not in path and not (root / path).exists()]
    return f"`{reference}`: no such file or folder in the repository" if missing else None


def check_references(markdown: str, where: str, root: Path) -> None:
    for number, reference in code_references(markdown):
        problem = reference_problem(reference, root)
        if problem:
            log.warning(f"{where}:{number}: {problem}")


def headings(path: Path) -> set[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {github_slug(m.group(1)) for line in lines if (m := HEADING.match(line))}


def check_readme_links(readme: Path, root: Path) -> None:
    in_fence = False
    for number, line in enumerate(readme.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
        if in_fence:
            continue
        for target in LINK.findall(line):
            if target.startswith(EXTERNAL):
                continue
            path, _, anchor = target.partition("#")
            file = (readme.parent / path) if path else readme
            if not file.exists():
                log.warning(f"README.md:{number}: link to {path}: no such file")
            elif anchor and file.suffix == ".md" and anchor not in headings(file):
                log.warning(f"README.md:{number}: link to {target}: no heading with that anchor")


def on_pre_build(config) -> None:
    root = Path(config.config_file_path).parent
    readme = root / "README.md"
    check_readme_links(readme, root)
    check_references(readme.read_text(encoding="utf-8"), "README.md", root)


def on_page_markdown(markdown: str, page, config, files) -> str:
    root = Path(config.config_file_path).parent
    check_references(markdown, f"docs/{page.file.src_uri}", root)
    return markdown
