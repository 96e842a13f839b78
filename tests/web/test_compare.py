"""The web page's comparison (llm/web/compare.py): one column per checkpoint, scores per turn."""

import pytest

from llm.errors import UserError
from llm.inference.repliers import LocalReplier, Sampling
from llm.web.chat import CheckpointChat
from llm.web.compare import comparison_html, parse_turns, pick_checks, run_comparison


def test_compare_shows_one_column_per_checkpoint_with_scores_per_turn(checkpoint):
    chat = CheckpointChat(checkpoint)
    sampling = Sampling(max_new_tokens=4)
    repliers = {name: LocalReplier(chat.model, chat.encoder, sampling) for name in ("a", "b")}
    checks = pick_checks(["format/ending=?", "character/persona=Ysolde Brack"])
    results = run_comparison(
        repliers, checks, parse_turns("Hi!\n\nHow are you?"), {"a": chat.encoder.template}
    )
    assert list(results) == ["a", "b"]
    assert [t.user_turns for t in results["b"].transcripts] == [["Hi!", "How are you?"]] * 2  # same turns
    page = comparison_html(results)
    assert page.count("class='compare-column'") == 2
    assert page.count("class='score'") == 2 * (2 + 2 * 2)  # per model: the means, then every turn of 2 checks
    with pytest.raises(UserError, match="unknown nope"):
        pick_checks(["nope"])
    with pytest.raises(UserError, match="at least one"):
        parse_turns(" \n ")
