"""Reading record files (llm/data/sources/files.py): JSONL errors name the file and line; records carry their
line ids."""

import json

import pytest

from llm.data.sources.files import read_records
from llm.errors import RecordError


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"a": 1}\n{"a": \n', "f.jsonl:2: field '<line>': malformed JSON"),
        (b'{"a": "\xff"}\n', "f.jsonl:1: field '<line>': not UTF-8"),
        (b"\n\n", "field '<file>': empty file"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path, content, problem):
    path = tmp_path / "f.jsonl"
    path.write_bytes(content)
    with pytest.raises(RecordError) as err:
        list(read_records(path))
    assert problem in str(err.value).replace(str(tmp_path) + "/", "")


def test_jsonl_reads_records_with_line_ids(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text(json.dumps({"bot_name": "Mira"}) + "\n\n" + json.dumps({"bot_name": "Holt"}) + "\n")
    ids = [rid.rsplit(":", 1)[1] for rid, _ in read_records(path)]
    assert ids == ["1", "3"]
