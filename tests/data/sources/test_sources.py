"""The source registry (llm/data/sources/__init__.py): every format detected from one record, looked up by
name, and an unknown one refused."""

import pytest

from llm.data.sources import detect_source, get_source, pippa


def test_detect_and_registry():
    assert detect_source({"bot_name": "Mira", "conversation": []}).name == "pippa"
    assert detect_source({"messages": []}).name == "openai"
    assert detect_source({"conversations": []}).name == "sharegpt"
    assert detect_source({"prompt": "p", "label": "l"}).name == "tldr"
    assert detect_source({"prompt": "p", "chosen": "a", "rejected": "b"}).name == "preference"  # TRL standard
    assert (
        detect_source({"prompt": "SUBREDDIT: r/a\nPOST: p", "chosen": "a", "rejected": "b"}).name
        == "tldr_comparisons"
    )
    assert detect_source({"text": "t"}).name == "text"
    assert get_source("PIPPA").convert is pippa.to_conversation
    with pytest.raises(ValueError, match="known: hh_rlhf, kto, openai, pippa, preference, sharegpt"):
        get_source("alpaca")
    with pytest.raises(ValueError, match="cannot tell the record's format"):
        detect_source({"foo": 1}, "f.jsonl:1")
