"""The demos' recipes: their hyper-parameters in YAML, so a user changes a demo without editing Python.

Each demo (``demo``, ``demo-tiny``, ``demo-rlhf``) reads its bundled recipe, ``llm/configs/<demo>.yaml``
(package data, so a ``pip install`` has it; ``configs/<demo>.yaml`` in the repository links to it), then
the user's ``--recipe FILE`` on top: a user's recipe names only what it changes. Flags such as
``--minutes`` override both.

A recipe is a mapping whose sections are keyword arguments of one argument class (``training`` →
:class:`~llm.train.args.StageArguments`, ``ppo`` → ``PPOArguments`` …) or single values (``minutes``).
Every key is checked once, here: an unknown key, a wrong type, or a key the demo sets itself (a path) is
one line naming the file and the key.

>>> from llm.models.loading import ModelArguments
>>> schema = {"minutes": float, "model": Section(ModelArguments, fixed=("model_name_or_path",))}
>>> check({"minutes": 2, "model": {"lora_r": 8}}, schema, "my.yaml")
{'minutes': 2, 'model': {'lora_r': 8}}
>>> check({"model": {"lora_rank": 8}}, schema, "my.yaml")  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
llm.errors.UserError: my.yaml: model.lora_rank: unknown key (...; did you mean lora_r?)
>>> merge({"minutes": 2.5, "model": {"lora_r": 16, "lora_alpha": 32}}, {"model": {"lora_r": 8}})
{'minutes': 2.5, 'model': {'lora_r': 8, 'lora_alpha': 32}}
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm.commands.cli import read_mapping
from llm.errors import UserError

BUNDLED = Path(__file__).resolve().parent.parent / "configs"


@dataclass(frozen=True)
class Section:
    """A recipe section: keyword arguments of ``target`` (a dataclass), but not those in ``fixed``, which the
    demo sets itself (its paths and bundled inputs)."""

    target: type
    fixed: tuple[str, ...] = ()


# A schema maps each key to a plain type (a single value), a Section, or a nested schema.
Schema = dict[str, Any]


def bundled(name: str) -> Path:
    """The recipe shipped with the package for demo ``name``.

    >>> bundled("demo_rlhf").name, bundled("demo_rlhf").is_file()
    ('demo_rlhf.yaml', True)
    """
    return BUNDLED / f"{name}.yaml"


def load_recipe(name: str, schema: Schema, path: str | Path | None = None) -> dict[str, Any]:
    """The bundled recipe of demo ``name``, with the user's recipe at ``path`` on top (if any), checked."""
    recipe = check(read_mapping(bundled(name)), schema, str(bundled(name)))
    if path is not None and Path(path).resolve() != bundled(name).resolve():
        recipe = merge(recipe, check(read_mapping(Path(path)), schema, str(path)))
    return recipe


def override(recipe: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted ``key`` (``training.max_steps``) from a flag the user gave; ``None`` (not given) keeps the
    recipe's value.

    >>> r = {"training": {"max_steps": 200}}
    >>> override(r, "training.max_steps", None); override(r, "training.max_steps", 5); r
    {'training': {'max_steps': 5}}
    """
    if value is None:
        return
    *parents, last = key.split(".")
    for part in parents:
        recipe = recipe.setdefault(part, {})
    recipe[last] = value


def apply_flags(recipe: dict[str, Any], flags: dict[str, Any], table: dict[str, tuple[str, ...]]) -> None:
    """The flags the user gave (``flags``: argparse's namespace as a dict), each over the recipe keys
    ``table`` maps it to; a flag left at ``None`` keeps the recipe's value.

    >>> r = {"ppo": {"max_steps": 40}, "grpo": {"max_steps": 40}, "minutes": 2.5}
    >>> apply_flags(r, {"rl_steps": 3, "minutes": None}, {"rl_steps": ("ppo.max_steps", "grpo.max_steps"),
    ...                                                    "minutes": ("minutes",)})
    >>> r
    {'ppo': {'max_steps': 3}, 'grpo': {'max_steps': 3}, 'minutes': 2.5}
    """
    for flag, keys in table.items():
        for key in keys:
            override(recipe, key, flags[flag])


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top``'s values over ``base``'s, section by section."""
    out = dict(base)
    for key, value in top.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = merge(base[key], value) if both else value
    return out


def check(data: Any, schema: Schema, path: str, prefix: str = "") -> dict[str, Any]:
    """``data`` checked against ``schema``. Where a float is expected, YAML's ``1e-3`` (a string to YAML,
    which wants ``1.0e-3``) is accepted as the number it spells."""
    if not isinstance(data, dict):
        raise UserError(f"{path}: {prefix.rstrip('.') or 'the recipe'}: expected a mapping of keys to values")
    out: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in schema:
            hint = suggest(str(key), schema)
            raise UserError(f"{path}: {where}: unknown key" + (f" (did you mean {hint}?)" if hint else ""))
        expected = schema[key]
        if isinstance(expected, dict):
            out[key] = check(value, expected, path, where + ".")
        elif isinstance(expected, Section):
            out[key] = check_section(value, expected, path, where)
        else:
            out[key] = check_value(value, expected, path, where)
    return out


def check_section(data: Any, section: Section, path: str, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UserError(f"{path}: {where}: expected a mapping of {section.target.__name__} fields to values")
    hints = typing.get_type_hints(section.target)
    fields = {f.name for f in dataclasses.fields(section.target) if f.init}
    out = {}
    for key, value in data.items():
        if key in section.fixed:
            raise UserError(f"{path}: {where}.{key}: set by the demo itself, not by a recipe")
        if key not in fields:
            hint = suggest(str(key), fields)
            raise UserError(
                f"{path}: {where}.{key}: unknown key ({section.target.__name__} has no such field"
                + (f"; did you mean {hint}?)" if hint else ")")
            )
        out[key] = check_value(value, hints[key], path, f"{where}.{key}")
    return out


def check_value(value: Any, hint: Any, path: str, where: str) -> Any:
    ok, value = conforms(value, hint)
    if not ok:
        raise UserError(f"{path}: {where}: expected {type_name(hint)}, got {type(value).__name__} {value!r}")
    return value


def conforms(value: Any, hint: Any) -> tuple[bool, Any]:
    """Whether ``value`` fits the type ``hint``, and the value to use (``"3e-4"`` read as a float).

    >>> conforms(2, float), conforms("3e-4", float), conforms(True, int), conforms(["a"], list[str] | None)
    ((True, 2), (True, 0.0003), (False, True), (True, ['a']))
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            ok, converted = conforms(value, arg)
            if ok:
                return True, converted
        return False, value
    if origin is typing.Literal:
        return value in args, value
    if origin in (list, tuple):
        if not isinstance(value, list):
            return False, value
        items = [conforms(v, args[0]) if args else (True, v) for v in value]
        return all(ok for ok, _ in items), [v for _, v in items]
    if hint is type(None):
        return value is None, value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return True, value  # an int stays an int (a step count in a float field means steps)
        if isinstance(value, str):
            try:
                return True, float(value)
            except ValueError:
                return False, value
        return False, value
    if hint is str:
        return isinstance(value, str), value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return value in {e.value for e in hint}, value
    return True, value  # a type the recipe cannot check here (a dict, Any): the argument class checks it


def type_name(hint: Any) -> str:
    """How an error names a type.

    >>> type_name(float | None), type_name(list[str])
    ('float or null', 'a list of str')
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin in (list, tuple):
        return f"a list of {type_name(args[0])}" if args else "a list"
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint))


def suggest(key: str, known) -> str:
    """The known key closest to a mistyped one, or ``""``."""
    return next(iter(difflib.get_close_matches(key, list(known), n=1)), "")
