"""What every command shares: the argument parser (a YAML file plus ``--flag value`` overrides, read into
dataclasses by ``HfArgumentParser``) and the one error handler.

    llm-train sft configs/sft_tiny.yaml --learning_rate 1e-3 --max_steps 50

The YAML file is a mapping of flag names to values; flags on the command line override it, and it
overrides the command's own defaults. Every command takes it (``chat``, ``serve-reward``, ``show-sample``
and ``eval`` too), and the training stages take every standard ``TrainingArguments`` flag. The flags many
commands share are checked against one table (:mod:`llm.commands.flags`) before anything else.

>>> yaml_to_argv({"max_steps": 10, "stack": True, "data_files": ["a.jsonl", "b.jsonl"], "hub_token": None})
['--max_steps', '10', '--stack', 'true', '--data_files', 'a.jsonl', 'b.jsonl']

The handler (:func:`run_command`) catches exactly :class:`~llm.errors.UserError` and ``OSError`` — bad
input, files and servers the user names — prints ``llm-train <command>: error: <message>`` on one line and
returns 2; Ctrl-C returns 130; a process of a distributed run whose peer died or went silent (:func:`lost_peer`)
prints one line and returns 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llm.commands.flags import check_flags
from llm.errors import UserError

HANDLED = (UserError, OSError)
# What a collective raises when another process of the run is gone (killed: a reset; silent: the timeout,
# --ddp_timeout for the Trainer stages): gloo's socket errors, NCCL's abort and watchdog.
LOST_PEER = re.compile(
    r"Connection (reset|closed) by peer|Broken pipe|Timed out waiting \d+ms|NCCL communicator was aborted"
    r"|Watchdog caught collective operation timeout|Application timeout caused pair closure"
)


def lost_peer(error: BaseException) -> str | None:
    """One line for an error that means another process of this distributed run died or went silent, else None.

    >>> os.environ["WORLD_SIZE"], os.environ["RANK"] = "2", "0"
    >>> print(lost_peer(RuntimeError("[gloo/transport/tcp/pair.cc:537] Read error [10.77.0.2]:13527: "
    ...                              "Connection reset by peer. This is typically caused by ...")))  # doctest: +ELLIPSIS
    rank 0 lost contact with another process of the run (Read error [10.77.0.2]:13527: Connection reset by peer): ...
    >>> lost_peer(RuntimeError("shape mismatch")) is None
    True
    >>> del os.environ["WORLD_SIZE"], os.environ["RANK"]
    """
    message = str(error)
    if int(os.environ.get("WORLD_SIZE", "1")) < 2 or not LOST_PEER.search(message):
        return None
    raw = re.sub(r"^\[[^\]]*\]\s*", "", message.strip().splitlines()[0]).split(". ")[0]  # no [file.cc:line]
    return (
        f"rank {os.environ.get('RANK', '?')} lost contact with another process of the run ({raw}): a node or "
        "process died, or the network between them failed; see the other nodes' logs, then relaunch every "
        "node (sft, pretrain, rm and dpo go on from their last checkpoint with --resume_from_checkpoint true)"
    )


def run_command(prog: str, body: Callable[[], int | None]) -> int:
    """Run a command's body; user errors become one line on stderr and exit status 2."""
    try:
        return body() or 0
    except HANDLED as e:
        message = str(e).strip() or type(e).__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except RuntimeError as e:
        if (line := lost_peer(e)) is None:
            raise
        print(f"{prog}: error: {line}", file=sys.stderr)
        return 1
    except SystemExit as e:  # argparse has printed the usage (or --help): its status is the answer
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2


def yaml_to_argv(config: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for key, value in config.items():
        if value is None:
            continue
        argv.append(f"--{key}")
        if isinstance(value, bool):
            argv.append("true" if value else "false")
        elif isinstance(value, list | tuple):
            argv.extend(str(v) for v in value)
        else:
            argv.append(str(value))
    return argv


def read_config(path: Path) -> list[str]:
    """A YAML (or JSON) config file as flags; errors name the file and, for syntax, the line."""
    return yaml_to_argv(read_mapping(path))


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML (or JSON) file that must hold a mapping (a config, a demo's recipe), checked as configs are."""
    import yaml

    if path.suffix not in (".yaml", ".yml", ".json"):
        raise UserError(f"{path}: the config file must be .yaml, .yml or .json")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"{path}{where}: not valid YAML ({problem})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8") from None
    if not isinstance(config, dict):
        raise UserError(f"{path}: expected a mapping of flag names to values")
    return config


def parse(dataclass_types: tuple, argv: list[str], prog: str, defaults: list[str] | None = None) -> tuple:
    """Parse ``[CONFIG.yaml] [--flag value ...]`` into the dataclasses; flags override the file, and the file
    overrides the command's ``defaults``. ``--help`` prints every flag and exits."""
    from transformers import HfArgumentParser

    argv = list(argv)
    if argv and not argv[0].startswith("-"):
        argv = read_config(Path(argv.pop(0))) + argv
    argv = list(defaults or []) + argv
    parser = HfArgumentParser(dataclass_types, prog=prog)
    namespace, unknown = parser.parse_known_args(args=argv)
    if unknown:
        raise UserError(f"unknown arguments: {' '.join(unknown)} (see {prog} --help)")
    check_flags(vars(namespace))  # before the dataclasses are built: TrainingArguments raises on some itself
    *values, _ = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    return tuple(values)


def argv_or_sys(argv: list[str] | None) -> list[str]:
    return list(sys.argv[1:] if argv is None else argv)
