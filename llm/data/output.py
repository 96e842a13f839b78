"""Output directories that are safe to write: never delete what is not ours, swap complete outputs by renames.

The rules (the README's "Your data is safe" states them for users):

1. **Only our own output is ever replaced.** A directory is ours when it holds :data:`MARKER` (written
   last, when the output is complete) or, for outputs of earlier versions, a ``stats.json`` with a
   ``fingerprint``. Anything else that is not empty — a folder of the user's files — is refused, with or
   without ``--overwrite``. So is the current directory, any parent of it, a directory that holds one of
   the inputs (or lies above one), and a path that is a file.
2. **Swaps are renames.** A new output is written complete, marker last, in a hidden sibling
   (``.NAME.tmp-PID``); then the old output is renamed aside (``.NAME.old-PID``), the new one renamed into
   place, and only then is the old one deleted. A run killed at any step leaves either the complete old
   output or the complete new one at ``NAME`` — or, killed between the two renames, nothing at ``NAME`` and
   the complete old output aside, which the next run (:func:`recover`) renames back before anything else.
3. **An incomplete directory is never a cache hit.** :func:`is_complete` needs the marker; the debris of
   killed runs (``.NAME.tmp-*``, ``.NAME.old-*`` whose process is gone) is removed by :func:`recover`.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> def build(tmp):  # what a stage writes: everything, then the marker
    ...     (tmp / "stats.json").write_text("{}")
    ...     mark_complete(tmp, "abc")
    >>> write_output(root / "out", build, inputs=[])
    >>> is_complete(root / "out"), completion_key(root / "out")
    (True, 'abc')
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from llm.errors import UserError

MARKER = ".llm-train-complete"


class NotOurOutput(UserError):
    """The output path holds something we did not write (or must not touch)."""


def mark_complete(directory: Path, key: str) -> None:
    """Write the completion marker (call it last, after every other file of the output is written)."""
    marker = directory / MARKER
    partial = directory / f"{MARKER}.partial"
    partial.write_text(json.dumps({"key": key}) + "\n")
    os.replace(partial, marker)  # the marker is either absent or whole


def is_complete(directory: Path) -> bool:
    return (directory / MARKER).is_file()


def completion_key(directory: Path) -> str | None:
    """The key (fingerprint) a complete output was written for; None when incomplete or unreadable."""
    try:
        return json.loads((directory / MARKER).read_text())["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _stats_key(directory: Path) -> str | None:
    try:
        return json.loads((directory / "stats.json").read_text())["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_ours(directory: Path) -> bool:
    """Written by us: complete, or half-written by us (a marker being written, or an old-style output)."""
    if is_complete(directory) or (directory / f"{MARKER}.partial").exists():
        return True
    return _stats_key(directory) is not None


def check_target(
    output: Path, inputs: Sequence[Path] = (), overwrite: bool = False, key: str | None = None
) -> None:
    """Raise :class:`NotOurOutput` (or ``FileExistsError``) unless writing ``output`` is safe and allowed.

    ``key`` is the fingerprint of what is about to be written: an existing output of ours with the same
    key is no conflict (complete, the caller serves it as is; broken, it is rebuilt).
    """
    resolved = output.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise NotOurOutput(
            f"{output}: is the current directory or one above it; name a new directory to write to"
        )
    for path in inputs:
        source = Path(path).resolve()
        if source == resolved or resolved in source.parents:
            raise NotOurOutput(
                f"{output}: holds the input {path}; write the output somewhere else (it would replace that folder)"
            )
    if output.exists() and not output.is_dir():
        raise NotOurOutput(f"{output}: is a file, not a directory; name a directory to write to")
    if not output.is_dir() or not any(output.iterdir()):
        return
    if not is_ours(output):
        shown = sorted(p.name for p in output.iterdir())[:5]
        raise NotOurOutput(
            f"{output}: holds files that llm-train did not write ({', '.join(shown)}"
            f"{', …' if len(shown) == 5 else ''}); it is never replaced, --overwrite or not: choose another output"
        )
    if key is not None and key in (completion_key(output), _stats_key(output)):
        return
    if not overwrite:
        raise FileExistsError(
            f"{output} exists and was made from other inputs or options; pass --overwrite to replace it"
        )


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _debris(output: Path, kind: str) -> list[tuple[Path, int]]:
    found = []
    parent = output.parent
    if not parent.is_dir():
        return found
    prefix = f".{output.name}.{kind}-"
    for p in parent.iterdir():
        if p.name.startswith(prefix):
            with contextlib.suppress(ValueError):
                found.append((p, int(p.name[len(prefix) :])))
    return found


def recover(output: Path) -> None:
    """Undo what a killed run left: an old output renamed aside and never replaced comes back; debris of
    dead runs is deleted. Never touches what a live run is writing."""
    for aside, pid in _debris(output, "old"):
        if _pid_alive(pid):
            continue
        if not output.exists() and is_complete(aside):
            os.rename(aside, output)  # killed between the two renames: the old output is whole
        else:
            shutil.rmtree(aside, ignore_errors=True)
    for tmp, pid in _debris(output, "tmp"):
        if not _pid_alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)


def staging_dir(output: Path) -> Path:
    """A fresh hidden sibling of ``output`` to build the new output in (same filesystem: renames are atomic)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.parent / f".{output.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def swap_into_place(staged: Path, output: Path) -> None:
    """Rename the complete ``staged`` directory to ``output``; the old output is renamed aside first and
    deleted only after the new one is in place."""
    if not is_complete(staged):
        raise RuntimeError(f"{staged}: not complete (no {MARKER}); refusing to put it in place")
    aside = None
    if output.exists():
        aside = output.parent / f".{output.name}.old-{os.getpid()}"
        shutil.rmtree(aside, ignore_errors=True)
        os.rename(output, aside)
    os.rename(staged, output)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def write_output(
    output: Path, build: Callable[[Path], None], inputs: Sequence[Path] = (), overwrite: bool = True
) -> None:
    """Check the target, build the new output in a staging directory (``build`` must write the marker last
    with :func:`mark_complete`), then swap it into place. A failure in ``build`` leaves ``output`` as it was."""
    recover(output)
    check_target(output, inputs, overwrite)
    staged = staging_dir(output)
    try:
        build(staged)
        swap_into_place(staged, output)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def copy_complete(source: Path, output: Path) -> None:
    """Copy a complete output (a cache entry) to ``output`` by the same staging and swap."""
    if source.resolve() == output.resolve():
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    staged = output.parent / f".{output.name}.tmp-{os.getpid()}"
    shutil.rmtree(staged, ignore_errors=True)
    try:
        shutil.copytree(source, staged)
        swap_into_place(staged, output)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
