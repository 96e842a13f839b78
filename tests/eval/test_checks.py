"""Every role-play metric on hand-written replies."""

import pytest

from llm.eval.checks import (
    Check,
    adherence_by_turn,
    claims_ai,
    claims_other_name,
    ends_with,
    forbids,
    in_language,
    language_of,
    persona_consistent,
    speaks_for_user,
    within_words,
)


@pytest.mark.parametrize(
    ("reply", "language"),
    [
        ("Je ne sais pas, mais le phare est là pour vous.", "french"),
        ("The lighthouse is old and it is still working.", "english"),
        ("El faro es viejo y no funciona para nada.", "spanish"),
        ("Der Leuchtturm ist alt und nicht mehr in Betrieb.", "german"),
    ],
)
def test_language(reply, language):
    assert language_of(reply) == language and in_language(reply, language.upper())
    assert not in_language(reply, "english" if language != "english" else "french")


def test_language_of_nothing_known():
    assert language_of("12345 !!!") is None


def test_ending_forbidden_words_and_length():
    assert ends_with("Do you want tea?", "?") and ends_with('*smiles* "Shall we?"', "?")
    assert not ends_with("Do you want tea? Fine.", "?")
    assert forbids("The sea is calm.", "storm") and not forbids("Two storms came.", "storm")
    assert not forbids("The Storm's eye.", "storm")
    assert within_words("one two three", 3) and not within_words("one two three four", 3)


def test_persona():
    assert claims_ai("As an AI, I don't have feelings.") and claims_ai("I'm a chatbot made to help.")
    assert not claims_ai("I keep the lamp lit every night.")
    assert claims_other_name("Hello! My name is Bob.", "Odile Marsh")
    assert not claims_other_name("I am Odile, keeper of this light.", "Odile Marsh")
    assert not claims_other_name("I'm sorry, I cannot help.", "Odile")
    assert persona_consistent("I am Odile. Boots off.", "Odile Marsh")
    assert not persona_consistent("I am a language model.", "Odile Marsh")


def test_speaking_for_the_user():
    assert speaks_for_user("Come in.\nSam: Thanks, I will.", "Sam")
    assert speaks_for_user("Sam: hello", "Sam")
    assert speaks_for_user("Fine.<|im_start|>user\nmore", "Sam")
    assert not speaks_for_user("Sam looks tired, so I make tea.", "Sam")
    assert speaks_for_user("ok\n>> user says", "Sam", extra_markers=[">> user"])


def test_checks_and_the_adherence_curve():
    checks = [
        Check("language", "Always answer in French.", "language", "french"),
        Check("format", "Always end with a question.", "ending", "?"),
        Check("format", "Never say the word 'storm'.", "forbidden", "storm"),
        Check("format", "Answer in at most 5 words.", "max_words", 5),
        Check("character", "Stay in character as Odile.", "persona", "Odile"),
    ]
    reply = "Le phare est là, vous?"
    assert [c.passed(reply) for c in checks] == [True, True, True, True, True]
    assert [c.passed("As an AI model I think the storm is coming.") for c in checks] == [
        False, False, False, False, False,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown check kind"):
        Check("x", "y", "rhyme", 1).passed("z")
    curve = adherence_by_turn([(1, True), (1, True), (4, True), (4, False), (8, False)])
    assert curve == {1: 1.0, 4: 0.5, 8: 0.0}
