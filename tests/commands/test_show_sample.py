import json

import pytest

from llm.commands import main


def write(tmp_path, records):
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_show_sample_brackets_trained_tokens(tmp_path, capsys):
    path = write(
        tmp_path,
        [
            {
                "messages": [
                    {"role": "user", "content": "Hi <|im_end|>"},
                    {"role": "assistant", "content": "Hello!"},
                ]
            }
        ],
    )
    rc = main(["show-sample", "--template", "chatml", "--tokenizer", "tiny:bytelevel", "--data", str(path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "[[Hello!<|im_end|>]]" in out
    assert "user\nHi <|im_end|><|im_end|>" in out  # the user's text stays plain and untrained


def test_show_sample_counts_match_encoder(tmp_path, capsys):
    from llm.data.conversation import Conversation
    from llm.data.encode import Encoder
    from llm.data.tokenizer import build_tokenizer

    rec = {"messages": [{"role": "user", "content": "a b c"}, {"role": "assistant", "content": "d e"}]}
    path = write(tmp_path, [rec])
    rc = main(["show-sample", "--template", "llama3", "--tokenizer", "tiny:metaspace", "--data", str(path)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    out = captured.out
    sample = Encoder(build_tokenizer("metaspace"), "llama3").encode(Conversation.from_dict(rec))
    assert f"tokens {len(sample)}   trained {sample.num_trained} " in out
    assert "ids equal the tokenizer's whole-text ids" in out


def test_show_sample_bad_input_is_one_clear_line(tmp_path, capsys):
    path = write(tmp_path, [{"messages": [{"role": "robot", "content": "x"}]}])
    rc = main(["show-sample", "--template", "chatml", "--tokenizer", "tiny:bytelevel", "--data", str(path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "chats.jsonl:1: field 'messages[0].role': unknown role 'robot'" in err
    assert "Traceback" not in err


def test_show_sample_on_a_processed_packed_row(tmp_path, capsys, monkeypatch):
    """The new user's path: process with --stack, then look at a row of the output."""
    from llm.data.samples import PIPPA_SAMPLE as SAMPLE

    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "rows"
    argv = ["process", "--dataset", "PIPPA", "--data_files", str(SAMPLE), "--tokenizer", "tiny:metaspace"]
    argv += ["--template", "pygmalion", "--stack", "--max_length", "1024", "--output", str(out)]
    assert main(argv) == 0
    assert "packing   efficiency" in capsys.readouterr().out
    assert main(["show-sample", "--data", str(out), "--index", "0", "1"]) == 0
    shown = capsys.readouterr().out
    assert shown.count("── ") == 2 and "[[" in shown and "'s Persona:" in shown
    assert main(["show-sample", "--data", str(out), "--index", "100000"]) == 2
    assert "past the end" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gatt-synthesize", "--output", "o"], "llm-train gatt-synthesize: error: --data_files is required"),
        (["eval", "roleplay", "--model", "nowhere"], "llm-train eval roleplay: error:"),
        (["eval"], "name an evaluation"),
    ],
)
def test_stage_commands_are_forwarded(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
