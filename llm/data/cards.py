"""Character cards as they exist: Tavern cards V1/V2/V3 (JSON, or PNG images carrying the card), our own
card JSON, or the card of a chat record (PIPPA …). One reader for every place that takes a card.

Formats (FACTS.md, "Role-play ecosystem"):

- **V1**: the Tavern fields flat at the root (``name``, ``description``, ``personality``, ``scenario``,
  ``first_mes``, ``mes_example`` …).
- **V2**: ``{"spec": "chara_card_v2", "spec_version": "2.0", "data": {…}}`` adds ``system_prompt``,
  ``post_history_instructions``, ``alternate_greetings``, ``character_book``, ``creator_notes``, ``tags``,
  ``creator``, ``character_version``, ``extensions``. **V3** (``chara_card_v3``) adds assets, nickname,
  group-only greetings …, kept in :attr:`Character.extra`.
- **PNG**: the JSON base64-encoded in a ``tEXt`` chunk named ``chara`` (V2) or ``ccv3`` (V3); V3 wins
  when both are present.
- **Our own** card JSON: :class:`~llm.data.conversation.Character`'s field names (``persona``,
  ``greeting``, ``example_dialogue``, ``user_name`` …).

>>> import json, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "card.json"
>>> _ = path.write_text(json.dumps({"name": "Mira", "persona": "A lighthouse keeper."}))
>>> read_card(path).persona
'A lighthouse keeper.'
>>> _ = path.write_text(json.dumps({"spec": "chara_card_v2", "spec_version": "2.0",
...     "data": {"name": "Mira", "description": "A keeper.", "first_mes": "Welcome."}}))
>>> card = read_card(path)
>>> card.persona, card.greeting
('A keeper.', 'Welcome.')
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llm.data.text import is_text
from llm.errors import RecordError, UserError


@dataclass(frozen=True)
class LoreEntry:
    """One lorebook entry (Tavern ``character_book.entries[i]``): ``content`` enters the prompt when one of
    ``keys`` appears in the scanned messages (and, when ``selective``, one of ``secondary_keys`` too);
    ``constant`` entries always; disabled entries never. ``position`` is ``before_char`` or ``after_char``
    (around the card's description). ``extra`` keeps the entry's other fields (name, comment, priority,
    id, extensions …) for renderers that read them."""

    keys: tuple[str, ...]
    content: str
    enabled: bool = True
    insertion_order: int = 0
    case_sensitive: bool = False
    selective: bool = False
    secondary_keys: tuple[str, ...] = ()
    constant: bool = False
    position: Literal["before_char", "after_char"] = "before_char"
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Lorebook:
    """A card's lorebook (Tavern ``character_book``). ``scan_depth``: how many of the last messages are
    searched for keys (SillyTavern's default, 2, when the card gives none). ``extra`` keeps name,
    description, token_budget, recursive_scanning, extensions as written."""

    entries: tuple[LoreEntry, ...] = ()
    scan_depth: int = 2
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Character:
    """A role-play character card, as the role-play community writes them (and PIPPA stores them).

    ``example_dialogue`` keeps the card's own lines ("{{char}}: …\\n{{user}}: …", ``<START>``-separated
    blocks); ``user_name`` is the name the user plays under (PIPPA's classic format calls the user "You").

    Tavern cards (V1/V2/V3, :mod:`llm.data.cards`) map onto these fields: description → ``persona``,
    first_mes → ``greeting``, mes_example → ``example_dialogue``, character_book → ``character_book``; the
    others keep their Tavern names. ``creator_notes`` never enter a prompt; ``extra`` keeps the card's
    remaining fields (tags, creator, character_version, extensions, V3 assets …) as written. The fields
    after ``user_name`` stay out of ``repr`` so small cards print small.
    """

    name: str
    persona: str = ""
    scenario: str = ""
    greeting: str = ""
    example_dialogue: str = ""
    user_name: str = "User"
    personality: str = field(default="", repr=False)
    system_prompt: str = field(default="", repr=False)
    post_history_instructions: str = field(default="", repr=False)
    alternate_greetings: tuple[str, ...] = field(default=(), repr=False)
    character_book: Lorebook | None = field(default=None, repr=False)
    creator_notes: str = field(default="", repr=False)
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "alternate_greetings", tuple(self.alternate_greetings))

    def texts(self) -> dict[str, str]:
        """Every prompt text of the card by field name (lorebook contents as ``character_book.entries[i]``):
        what placeholder filling and text validation walk.

        >>> sorted(Character("Mira", alternate_greetings=("Hi",)).texts())[:3]
        ['alternate_greetings[0]', 'creator_notes', 'example_dialogue']
        """
        out = {k: getattr(self, k) for k in CARD_TEXT_FIELDS}
        out.update({f"alternate_greetings[{i}]": g for i, g in enumerate(self.alternate_greetings)})
        if self.character_book is not None:
            for i, e in enumerate(self.character_book.entries):
                out[f"character_book.entries[{i}].content"] = e.content
        return out


CARD_TEXT_FIELDS = (
    "name",
    "persona",
    "scenario",
    "greeting",
    "example_dialogue",
    "user_name",
    "personality",
    "system_prompt",
    "post_history_instructions",
    "creator_notes",
)


def character_to_dict(ch: Character) -> dict[str, Any]:
    """The card as our own card JSON: the six classic fields always, the others when set.

    >>> character_to_dict(Character("Mira", personality="Calm."))["personality"]
    'Calm.'
    """
    out: dict[str, Any] = {k: getattr(ch, k) for k in CARD_TEXT_FIELDS[:6]}
    out.update({k: getattr(ch, k) for k in CARD_TEXT_FIELDS[6:] if getattr(ch, k)})
    if ch.alternate_greetings:
        out["alternate_greetings"] = list(ch.alternate_greetings)
    if ch.character_book is not None:
        book = ch.character_book
        entries = [
            {**dict(e.extra), **{k: v for k, v in e.__dict__.items() if k != "extra"}} for e in book.entries
        ]
        for e in entries:
            e["keys"], e["secondary_keys"] = list(e["keys"]), list(e["secondary_keys"])
        out["character_book"] = {**dict(book.extra), "scan_depth": book.scan_depth, "entries": entries}
    if ch.extra:
        out["extra"] = dict(ch.extra)
    return out


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TAVERN_SPECS = ("chara_card_v2", "chara_card_v3")
# Tavern field → Character field, where the names differ; the rest keep their Tavern names.
TAVERN_FIELDS = {
    "name": "name",
    "description": "persona",
    "personality": "personality",
    "scenario": "scenario",
    "first_mes": "greeting",
    "mes_example": "example_dialogue",
    "system_prompt": "system_prompt",
    "post_history_instructions": "post_history_instructions",
    "creator_notes": "creator_notes",
}
# Keys only Tavern cards have: a card object with one of them is read as Tavern.
_TAVERN_ONLY = {"spec", "data", "description", "first_mes", "mes_example"}
_OWN_FIELDS = (*CARD_TEXT_FIELDS, "alternate_greetings", "character_book", "extra")


def read_card(path: str | Path) -> Character:
    """A character card from a file: Tavern V1/V2/V3 or our own card, as JSON or as a PNG image.

    Errors name the file and the field as written there (``data.character_book.entries[2].keys``).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"--character {path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"--character {path}: a directory, not a card file") from None
    if raw.startswith(PNG_MAGIC):
        data, where = png_card_json(raw, path)
    else:
        where = str(path)
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise UserError(f"{path}: not UTF-8 (a card is JSON or a PNG image)") from None
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: malformed JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if not isinstance(data, Mapping):
        raise RecordError(where, "<card>", f"expected an object, got {type(data).__name__}")
    return tavern_card(data, where) if is_tavern(data) else own_card(data, where)


def png_card_json(raw: bytes, path: Path) -> tuple[Any, str]:
    """The card JSON in a PNG's ``ccv3`` (preferred) or ``chara`` text chunk, and where it came from."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            chunks = dict(getattr(image, "text", {}) or {})
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UserError(f"{path}: a broken PNG image ({e})") from None
    keyword = next((k for k in ("ccv3", "chara") if k in chunks), None)
    if keyword is None:
        raise UserError(f"{path}: a PNG with no character card (no 'chara' or 'ccv3' text chunk)")
    where = f"{path} (PNG chunk '{keyword}')"
    try:
        return json.loads(base64.b64decode(chunks[keyword], validate=True).decode("utf-8")), where
    except (binascii.Error, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise UserError(f"{where}: not base64-encoded JSON ({e})") from None


def is_tavern(data: Mapping) -> bool:
    """True for a Tavern card object (V1/V2/V3), False for our own card JSON.

    >>> is_tavern({"name": "Mira", "description": "x"}), is_tavern({"name": "Mira", "persona": "x"})
    (True, False)
    """
    return bool(_TAVERN_ONLY & set(data))


def tavern_card(data: Mapping, record: str | None, prefix: str = "") -> Character:
    """A Tavern card object (V1 flat, V2/V3 under ``data``) as a :class:`Character`; every field kept.

    ``prefix`` names where the card sits in a record (``character.``), for error messages.
    """
    spec = data.get("spec")
    if spec is not None and spec not in TAVERN_SPECS:
        raise RecordError(
            record, f"{prefix}spec", f"unknown spec {spec!r} (known: {', '.join(TAVERN_SPECS)})"
        )
    outer: dict[str, Any] = {}
    if spec is not None or isinstance(data.get("data"), Mapping):
        body = data.get("data")
        if not isinstance(body, Mapping):
            raise RecordError(record, f"{prefix}data", "missing or not an object (a V2/V3 card holds it)")
        outer = {k: v for k, v in data.items() if k != "data"}
        prefix += "data."
    else:
        body = data
    fields: dict[str, Any] = {}
    for key, target in TAVERN_FIELDS.items():
        value = body.get(key)
        fields[target] = "" if value is None else _text(value, record, prefix + key)
    if not fields["name"].strip():
        raise RecordError(record, prefix + "name", "missing or empty")
    fields["alternate_greetings"] = _texts(
        body.get("alternate_greetings"), record, prefix + "alternate_greetings"
    )
    book = body.get("character_book")
    fields["character_book"] = None if book is None else lorebook(book, record, prefix + "character_book")
    known = {*TAVERN_FIELDS, "alternate_greetings", "character_book"}
    fields["extra"] = {**outer, **{k: v for k, v in body.items() if k not in known}}
    return Character(**fields)


def own_card(data: Mapping, record: str | None, prefix: str = "") -> Character:
    """Our own card JSON (:class:`Character`'s field names) as a :class:`Character`."""
    unknown = sorted(set(data) - set(_OWN_FIELDS))
    if unknown:
        raise RecordError(
            record, prefix + unknown[0], f"unknown field (known: {', '.join(sorted(_OWN_FIELDS))})"
        )
    fields: dict[str, Any] = {k: _text(data[k], record, prefix + k) for k in CARD_TEXT_FIELDS if k in data}
    if not fields.get("name", "").strip():
        raise RecordError(record, prefix + "name", "missing or empty")
    if "alternate_greetings" in data:
        fields["alternate_greetings"] = _texts(
            data["alternate_greetings"], record, prefix + "alternate_greetings"
        )
    if data.get("character_book") is not None:
        fields["character_book"] = lorebook(data["character_book"], record, prefix + "character_book")
    if "extra" in data:
        if not isinstance(data["extra"], Mapping):
            raise RecordError(
                record, prefix + "extra", f"expected an object, got {type(data['extra']).__name__}"
            )
        fields["extra"] = dict(data["extra"])
    return Character(**fields)


# Lorebook entry fields: (name, expected type, default). Types are checked; the rest go to ``extra``.
_ENTRY_FIELDS: tuple[tuple[str, type, Any], ...] = (
    ("enabled", bool, True),
    ("insertion_order", int, 0),
    ("case_sensitive", bool, False),
    ("selective", bool, False),
    ("constant", bool, False),
)
_POSITIONS = ("before_char", "after_char")


def lorebook(data: Any, record: str | None, where: str) -> Lorebook:
    """A Tavern ``character_book`` object; errors name the entry and field (``….entries[1].keys``)."""
    if not isinstance(data, Mapping):
        raise RecordError(record, where, f"expected an object, got {type(data).__name__}")
    scan_depth = data.get("scan_depth")
    if scan_depth is not None and (not _is_int(scan_depth) or scan_depth < 0):
        raise RecordError(record, f"{where}.scan_depth", f"expected a whole number >= 0, got {scan_depth!r}")
    raw_entries = data.get("entries", [])
    if not isinstance(raw_entries, list):
        raise RecordError(record, f"{where}.entries", f"expected a list, got {type(raw_entries).__name__}")
    entries = []
    for i, e in enumerate(raw_entries):
        at = f"{where}.entries[{i}]"
        if not isinstance(e, Mapping):
            raise RecordError(record, at, f"expected an object, got {type(e).__name__}")
        if "keys" not in e:
            raise RecordError(record, f"{at}.keys", "missing")
        if "content" not in e:
            raise RecordError(record, f"{at}.content", "missing")
        fields: dict[str, Any] = {
            "keys": _texts(e["keys"], record, f"{at}.keys"),
            "content": _text(e["content"], record, f"{at}.content"),
            "secondary_keys": _texts(e.get("secondary_keys"), record, f"{at}.secondary_keys"),
        }
        for name, kind, default in _ENTRY_FIELDS:
            value = e.get(name)
            if value is None:
                value = default
            elif not (isinstance(value, kind) and (kind is bool or not isinstance(value, bool))):
                raise RecordError(record, f"{at}.{name}", f"expected {kind.__name__}, got {value!r}")
            fields[name] = value
        position = e.get("position") or "before_char"
        if position not in _POSITIONS:
            raise RecordError(
                record, f"{at}.position", f"expected one of {', '.join(_POSITIONS)}, got {position!r}"
            )
        fields["position"] = position
        fields["extra"] = {k: v for k, v in e.items() if k not in fields}
        entries.append(LoreEntry(**fields))
    extra = {k: v for k, v in data.items() if k not in ("entries", "scan_depth")}
    return Lorebook(tuple(entries), 2 if scan_depth is None else scan_depth, extra)


def to_tavern_v2(ch: Character) -> dict[str, Any]:
    """The card as a Tavern V2 card object (what SillyTavern imports); :func:`tavern_card` reads it back.

    >>> to_tavern_v2(Character("Mira", persona="A keeper."))["data"]["description"]
    'A keeper.'
    """
    extra = dict(ch.extra)
    outer = {"spec": "chara_card_v2", "spec_version": extra.pop("spec_version", "2.0")}
    extra.pop("spec", None)
    body: dict[str, Any] = {tavern: getattr(ch, ours) for tavern, ours in TAVERN_FIELDS.items()}
    body["alternate_greetings"] = list(ch.alternate_greetings)
    if ch.character_book is not None:
        book = ch.character_book
        entries = []
        for e in book.entries:
            entry = {**dict(e.extra), **{k: v for k, v in e.__dict__.items() if k != "extra"}}
            entry["keys"], entry["secondary_keys"] = list(e.keys), list(e.secondary_keys)
            entries.append(entry)
        body["character_book"] = {**dict(book.extra), "scan_depth": book.scan_depth, "entries": entries}
    body.update({"tags": [], "creator": "", "character_version": "", "extensions": {}, **extra})
    return {**outer, "data": body}


def write_png_card(
    path: str | Path, card: Mapping[str, Any], image: Any = None, v3: Mapping | None = None
) -> None:
    """Write a card PNG as Tavern tools do: ``card`` (V1/V2 JSON) in a ``chara`` text chunk, ``v3`` in a
    ``ccv3`` one; ``image`` (a PIL image) defaults to a 1×1 pixel."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("chara", base64.b64encode(json.dumps(card).encode("utf-8")).decode("ascii"))
    if v3 is not None:
        info.add_text("ccv3", base64.b64encode(json.dumps(v3).encode("utf-8")).decode("ascii"))
    (image or Image.new("RGB", (1, 1))).save(path, format="PNG", pnginfo=info)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any, record: str | None, where: str) -> str:
    if not isinstance(value, str):
        raise RecordError(record, where, f"expected a string, got {type(value).__name__}")
    if not is_text(value):
        raise RecordError(record, where, "invalid string: a lone surrogate (not a character)")
    return value


def _texts(value: Any, record: str | None, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RecordError(record, where, f"expected a list of strings, got {type(value).__name__}")
    return tuple(_text(v, record, f"{where}[{i}]") for i, v in enumerate(value))


def character_from_dict(data: Any, record: str | None = None) -> Character:
    """A record's ``character``: our own card object, a Tavern card (V1/V2/V3) object, or a path to a card
    file (JSON or PNG). Errors name the record and the field (``character.data.name``)."""
    if isinstance(data, str):
        return read_card(data)
    if not isinstance(data, Mapping):
        raise RecordError(record, "character", f"expected an object, got {type(data).__name__}")
    if is_tavern(data):
        return tavern_card(data, record, prefix="character.")
    return own_card(data, record, prefix="character.")
