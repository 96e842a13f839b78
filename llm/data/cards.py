"""Character cards from files: a JSON file of card fields, or the card of a chat record (PIPPA …).

>>> import json, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "card.json"
>>> _ = path.write_text(json.dumps({"name": "Mira", "persona": "A lighthouse keeper."}))
>>> read_card(path).persona
'A lighthouse keeper.'
"""

from __future__ import annotations

import json
from pathlib import Path

from llm.data.conversation import Character, character_from_dict
from llm.data.sources import detect_source
from llm.data.sources.files import nth_record
from llm.errors import RecordError, UserError


def read_card(path: str | Path) -> Character:
    """A character card from a JSON file; errors name the file and the field."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"--character {path}: no such file") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: malformed JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8") from None
    try:
        return character_from_dict(data, record=str(path))
    except RecordError as e:
        # The file is the card itself: name its fields as written there ("name", not "character.name").
        field_name = e.field.removeprefix("character.") if e.field != "character" else "<card>"
        raise RecordError(str(path), field_name, e.problem) from None


def card_from_records(path: str | Path, index: int) -> Character:
    """The character card of record ``index`` (0-based) of a chat data file."""
    record_id, record = nth_record(path, index)
    source = detect_source(record, record_id)
    conv = source.convert(record, record_id) if source.kind == "chat" else None
    if conv is None or conv.character is None:
        raise UserError(f"{record_id}: a {source.name} record, with no character card")
    return conv.character
