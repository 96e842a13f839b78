"""Output directories that are safe to write: never delete what is not ours, swap complete outputs by renames.

The rules (the README's "Your data is safe" states them for users):

1. **Only our own output is ever replaced.** A directory is ours when it holds :data:`MARKER` (written
   last, when the output is complete) or, for outputs of earlier versions, a ``stats.json`` with a
   ``fingerprint``. Anything else that is not empty — a folder of the user's files — is refused, with or
   without ``--overwrite``. So is the current directory, any parent of it, a directory that holds one of
   the inputs (or lies above one), a path that is a file and a symbolic link.
   The marker lists what we wrote (the names in the directory; a listed folder is ours with all it holds).
   A name it does not list — a note the user added — makes every replacement refuse, naming it: we never
   delete what we did not write. A marker of an earlier version, without the list, counts the names a
   ``process`` output has (:data:`LEGACY_NAMES`) as ours and nothing else.
2. **Swaps are renames.** A new output is written complete, marker last, in a hidden sibling
   (``.NAME.tmp-PID``); then the old output is renamed aside (``.NAME.old-PID``), the new one renamed into
   place, and only then is the old one deleted. A run killed at any step leaves either the complete old
   output or the complete new one at ``NAME`` — or, killed between the two renames, nothing at ``NAME`` and
   the complete old output aside, which the next run (:func:`recover`) renames back before anything else.
3. **An incomplete directory is never a cache hit.** :func:`is_complete` needs the marker; the debris of
   killed runs (``.NAME.tmp-*``, ``.NAME.old-*`` whose process is gone) is removed by :func:`recover`.
4. **Training runs follow the same rules** (:func:`check_run_target`, before any model loads): a new or
   empty folder, or a run of ours (``--overwrite`` replaces it, ``--resume_from_checkpoint`` goes on in
   it). A run writes over many minutes and can be killed at any point, so it claims its folder first
   (:func:`claim_run`: the marker, listing the names it is about to write) and adds each name before or as
   it writes it (:func:`record_written`, :func:`finish_run`); a killed run is still recognisably ours.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> def build(tmp):  # what a stage writes: everything, then the marker
    ...     (tmp / "stats.json").write_text("{}")
    ...     mark_complete(tmp, "abc")
    >>> write_output(root / "out", build, inputs=[])
    >>> is_complete(root / "out"), completion_key(root / "out"), listed(root / "out")
    (True, 'abc', ['stats.json'])
    >>> (root / "out" / "my_notes.txt").write_text("mine")
    4
    >>> write_output(root / "out", build, inputs=[])
    Traceback (most recent call last):
    llm.data.output.NotOurOutput: ...out: holds files that llm-train did not write (my_notes.txt); ...
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path

from llm.errors import UserError

MARKER = ".llm-train-complete"
# What a process / gatt-synthesize output of an earlier version (a marker without a list) holds.
LEGACY_NAMES = frozenset({"dataset_dict.json", "train", "validation", "tokenizer", "stats.json", "lengths.png",
                          "gatt.jsonl"})  # fmt: skip
# Arguments that name where a run writes (not what it reads): never counted as inputs by input_paths().
OUTPUT_FIELDS = frozenset(
    {"output", "output_dir", "run_dir", "logging_dir", "run_name", "resume_from_checkpoint"}
)


class NotOurOutput(UserError):
    """The output path holds something we did not write (or must not touch)."""


def _write_marker(directory: Path, key: str, files: Sequence[str]) -> None:
    marker = directory / MARKER
    partial = directory / f"{MARKER}.partial"
    names = sorted(set(files) - {MARKER, partial.name})
    partial.write_text(json.dumps({"key": key, "files": names}) + "\n")
    os.replace(partial, marker)  # the marker is either absent or whole


def mark_complete(directory: Path, key: str) -> None:
    """Write the completion marker, listing every name in ``directory`` (call it last, after every other
    file of the output is written)."""
    _write_marker(directory, key, [p.name for p in directory.iterdir()])


def is_complete(directory: Path) -> bool:
    return (directory / MARKER).is_file()


def completion_key(directory: Path) -> str | None:
    """The key (fingerprint) a complete output was written for; None when incomplete or unreadable."""
    try:
        return json.loads((directory / MARKER).read_text())["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _marker(directory: Path) -> dict:
    try:
        data = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def listed(directory: Path) -> list[str] | None:
    """The names the marker says we wrote; None for no marker, or one of an earlier version (no list)."""
    files = _marker(directory).get("files")
    return [str(f) for f in files] if isinstance(files, list) else None


def our_names(directory: Path) -> set[str]:
    """The names in ``directory`` that are ours to replace: the marker's list (or :data:`LEGACY_NAMES` for
    an output of an earlier version) and the marker itself."""
    names = listed(directory)
    return {*(LEGACY_NAMES if names is None else names), MARKER, f"{MARKER}.partial"}


def unlisted(directory: Path) -> list[str]:
    """What is in a directory of ours that we did not write: the user's files, never to be deleted."""
    ours = our_names(directory)
    return sorted(p.name for p in directory.iterdir() if p.name not in ours)


def _shown(names: Sequence[str]) -> str:
    return ", ".join(names[:5]) + (", …" if len(names) > 5 else "")


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
    if not _check_place(output, inputs):
        return
    if key is not None and key in (completion_key(output), _stats_key(output)):
        return
    if not overwrite:
        raise FileExistsError(
            f"{output} exists and was made from other inputs or options; pass --overwrite to replace it"
        )


def _check_place(output: Path, inputs: Sequence[Path]) -> bool:
    """The checks every output shares; True when ``output`` holds an output of ours (False: nothing there)."""
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
    if output.is_symlink():
        raise NotOurOutput(
            f"{output}: is a symbolic link (to {os.readlink(output)}); name a real directory to write to"
        )
    if output.exists() and not output.is_dir():
        raise NotOurOutput(f"{output}: is a file, not a directory; name a directory to write to")
    if not output.is_dir() or not any(p.name not in (MARKER, f"{MARKER}.partial") for p in output.iterdir()):
        return False
    if not is_ours(output):
        raise NotOurOutput(
            f"{output}: holds files that llm-train did not write ({_shown(sorted(p.name for p in output.iterdir()))}); "
            "it is never replaced, --overwrite or not: choose another output"
        )
    extra = unlisted(output)
    if extra:
        raise NotOurOutput(
            f"{output}: holds files that llm-train did not write ({_shown(extra)}); --overwrite replaces only "
            "what llm-train wrote: move them out first, or choose another output"
        )
    return True


# ── training runs ────────────────────────────────────────────────────────────────────────────────────


def check_run_target(
    output: Path, inputs: Sequence[Path] = (), overwrite: bool = False, resume: bool | None = False
) -> None:
    """Raise unless a run may write into ``output``: a new or empty folder, or a run of ours that
    ``--overwrite`` replaces or ``--resume_from_checkpoint`` continues (``resume=None``: the stage cannot
    resume). Call it before any model or dataset loads.

    >>> import tempfile
    >>> run = Path(tempfile.mkdtemp()) / "run"
    >>> check_run_target(run); claim_run(run, planned=["metrics.jsonl"])
    >>> (run / "metrics.jsonl").write_text("{}")
    2
    >>> check_run_target(run)
    Traceback (most recent call last):
    FileExistsError: ...run: holds a run of llm-train; pass --overwrite to replace it, or --resume_from_checkpoint ...
    >>> check_run_target(run, overwrite=True); claim_run(run, overwrite=True); sorted(os.listdir(run))
    ['.llm-train-complete']
    """
    if not _check_place(output, inputs):
        return
    if overwrite and resume:
        raise UserError(
            "--overwrite and --resume_from_checkpoint: give one (replace the run, or go on with it)"
        )
    if not (overwrite or resume):
        go_on = "" if resume is None else ", or --resume_from_checkpoint to go on with it"
        raise FileExistsError(f"{output}: holds a run of llm-train; pass --overwrite to replace it{go_on}")


def claim_run(output: Path, overwrite: bool = False, planned: Sequence[str] = (), key: str = "run") -> None:
    """Make ``output`` recognisably ours before the run writes anything (after :func:`check_run_target`):
    the folder and a marker listing ``planned`` (the names the run is about to write). With ``overwrite``
    our old run's names are deleted first; nothing that is not listed is ever touched. A run made inside a
    folder of ours (an evaluation's default ``MODEL/eval_roleplay``) is listed there too, so replacing that
    folder later is not refused for it."""
    if listed(output.parent) is not None:
        record_written(output.parent, [output.name])
    output.mkdir(parents=True, exist_ok=True)
    names = listed(output) or []
    if overwrite and is_ours(output):
        for name in sorted(our_names(output) - {MARKER, f"{MARKER}.partial"}):
            path = output / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        names = []
    _write_marker(output, key, [*names, *planned])


def record_written(output: Path, names: Sequence[str]) -> None:
    """Add ``names`` (in ``output``) to the marker's list: call it before or as a run writes them."""
    known = listed(output) or []
    if set(names) - set(known):
        _write_marker(output, _marker(output).get("key", "run"), [*known, *names])


def finish_run(output: Path) -> None:
    """At the end of a run: everything now in its folder is the run's (the folder held nothing else when
    the run claimed it)."""
    if output.is_dir():
        record_written(output, [p.name for p in output.iterdir()])


def input_paths(*arguments: object) -> list[Path]:
    """Every argument of these dataclasses that names an existing file or folder (what a run reads), but
    those naming where it writes (:data:`OUTPUT_FIELDS`).

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class A:
    ...     model: str = "."
    ...     data_files: tuple = ("nowhere.jsonl",)
    ...     output_dir: str = "."
    >>> input_paths(A())
    [PosixPath('.')]
    """
    found = []
    for args in arguments:
        for f in fields(args):  # type: ignore[arg-type]
            if f.name in OUTPUT_FIELDS:
                continue
            value = getattr(args, f.name)
            for item in value if isinstance(value, list | tuple) else [value]:
                if isinstance(item, str | Path) and str(item) and Path(item).exists():
                    found.append(Path(item))
    return found


def is_main_process() -> bool:
    """Rank 0 of a launch (torchrun, accelerate, deepspeed set ``RANK``), or a single process: the one that
    checks and claims a run's folder, before any process group exists."""
    return os.environ.get("RANK", "0") == "0"


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
