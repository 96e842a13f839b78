"""Probe-based persistence evaluation: probes in branches, graded checkers, the language identifier, bootstrap
intervals, the control, self-chat, comparisons on the same conversations, and the bundled suite.

Scripted repliers (plain callables) where obedience must be known; tiny random models where token ids matter.
"""

import json

import numpy as np
import pytest

from llm.commands.eval import main as eval_main
from llm.commands.eval import read_checks
from llm.data.conversation import Character, Conversation, Message
from llm.data.encode import Encoder
from llm.data.tokenizer import build_tokenizer
from llm.errors import RecordError, UserError
from llm.eval.checks import KINDS, Check, check_value_problem, language_of, load_checker
from llm.eval.instructions import load_checks
from llm.eval.roleplay import ALL, bootstrap_ci, compare, evaluate, first_violations
from llm.eval.simulate import ListedUserTurns, ModelUserSide, simulate
from llm.eval.suite import suite_checks, suite_families
from llm.inference.repliers import LocalReplier, Reply, Sampling
from llm.models.tiny import build_llama

PROBE = "What is your name?"
USERS = [["hello there", "nice day", "tell me more", "and then?", "bye now"]]


def shouts(text, conversation):
    """A user's checker (used through ``module:function``): the share of capitals, given the conversation."""
    assert conversation is None or conversation.messages[-1].content == text
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


def too_much(text, conversation):
    return 7.0


class Recording:
    """A replier that records every call (the conversations and their prompt ids) and delegates."""

    def __init__(self, replier):
        self.replier, self.calls = replier, []

    def __call__(self, convs):
        self.calls.append([(c, self.replier.prompt(c)[0]) for c in convs])
        return self.replier(convs)


@pytest.fixture(scope="module")
def tiny():
    tok = build_tokenizer("bytelevel")
    return tok, Encoder(tok, "chatml")


def local(tiny, seed=0):
    tok, enc = tiny
    return LocalReplier(build_llama(tok, seed=seed), enc, Sampling(max_new_tokens=5), batch_size=8)


# ── probes ───────────────────────────────────────────────────────────────────────────────────────────


def test_a_probe_branch_never_enters_the_conversation(tiny):
    """The next turn's prompt ids are identical with and without probing; each measured turn asks every
    conversation's probe in one call."""
    probed = [
        Check("persona", "Your name is Mira.", "mentions", "Mira", probe=PROBE),
        Check("f", "Ask.", "ending", "?"),
    ]
    plain = [Check("persona", "Your name is Mira.", "mentions", "Mira"), Check("f", "Ask.", "ending", "?")]
    runs = {}
    for name, checks in {"probed": probed, "plain": plain}.items():
        replier = Recording(local(tiny))
        transcripts = simulate(
            replier, checks, ListedUserTurns(USERS), 2, 3, progress=False, probe_turns=(1, 3)
        )
        runs[name] = (replier.calls, transcripts)
    calls, transcripts = runs["probed"]
    probe_calls = [c for c in calls if all(conv.messages[-1].content == PROBE for conv, _ in c)]
    real_calls = [c for c in calls if c not in probe_calls]
    assert len(probe_calls) == 2 and all(len(c) == 2 for c in probe_calls)  # 2 probed conversations, one call
    assert [[ids for _, ids in c] for c in real_calls] == [[ids for _, ids in c] for c in runs["plain"][0]]
    assert [r.text for t in transcripts for r in t.replies] == [
        r.text for t in runs["plain"][1] for r in t.replies
    ]
    assert sorted(transcripts[0].probes) == [1, 3] and not transcripts[2].probes
    assert all(PROBE not in m.content for t in transcripts for m in t.conversation.messages)
    # The branch at turn 3: the instruction, turns 1 and 2, then the probe.
    branch = probe_calls[1][0][0]
    assert [m.role for m in branch.messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert branch.messages[1].content == "hello there" and branch.messages[3].content == "nice day"
    text, conv = transcripts[0].measured(3)
    assert text == transcripts[0].probes[3].text and conv.messages[-2].content == PROBE


def test_probe_answers_are_scored_and_the_turn_reply_without_a_probe():
    def replier(convs):  # knows its name only when asked, and the instruction is visible
        return [Reply("I am Mira." if c.messages[-1].content == PROBE else "Nice.") for c in convs]

    checks = [
        Check("persona", "Your name is Mira.", "mentions", "Mira", probe=PROBE),
        Check("f", "Ask.", "ending", "?"),
    ]
    result = evaluate(replier, checks, ListedUserTurns(USERS), 3, (1, 3), progress=False)
    assert result.scores["persona"].mean == {1: 1.0, 3: 1.0} and result.scores["f"].mean == {1: 0.0, 3: 0.0}
    assert result.first_violation["f"] == {"median_turn": 1, "never": 0.0}
    assert result.first_violation["persona"] == {"median_turn": None, "never": 1.0}


# ── checkers ─────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("kind", "value", "good", "bad"),
    [
        ("starts_with", "Indeed", "Indeed, the tide is late.", "The tide is late, indeed."),
        ("case", "upper", "THE TIDE IS LATE!", "the tide is late"),
        ("case", "lower", "the tide is late.", "THE TIDE IS LATE!"),
        ("sentences", 1, "The tide is late.", "The tide is late. The boats wait. We sing."),
        ("words_near", 5, "The tide is very late.", "Late."),
        ("mentions", "lantern|lamp", "I lit the lamp.", "I lit the fire."),
        ("forbidden", "tide", "The sea is late.", "The tide is late."),
        ("ending", "?", "Is the tide late?", "The tide is late."),
        ("language", "french", "La marée est en retard.", "The tide is late."),
        ("checker", "tests.eval.test_persistence:shouts", "THE TIDE!", "the tide."),
    ],
)
def test_every_kind_scores_hand_written_replies(kind, value, good, bad):
    check = Check("x", "instruction", kind, value)
    assert check.score(good) == 1.0 and check.score(bad) < 0.5 and not check.passed(bad)
    assert 0.0 <= check.score("") <= 1.0


def test_lowercase_fails_a_plain_reply():
    """A plain English reply is about 95% lowercase letters; the lowercase check once scored that share, and
    passed nearly every reply a model wrote, asked or not. It counts sentences without a capital now."""
    lower = Check("case", "Never use a capital letter.", "case", "lower")
    plain = "Hello there! I spent the week reading, and it was lovely. How was yours?"
    assert not lower.passed(plain) and lower.score(plain) == 0.0
    assert lower.passed(plain.lower()) and lower.score(plain.lower()) == 1.0
    assert lower.score("i read a lot. Paris was lovely.") == 0.5  # one sentence of two has a capital


def test_graded_scores_lie_between():
    assert Check("x", "i", "case", "upper").score("HELLO there") == pytest.approx(0.5)
    assert Check("x", "i", "sentences", 1).score("One. Two.") == 0.5
    assert Check("x", "i", "words_near", 10).score(
        "one two three four five six seven eight"
    ) == pytest.approx(0.8)


def test_a_user_checker_clamps_and_errors_name_the_flag():
    conv = Conversation((Message("user", "hi"), Message("assistant", "ABC")))
    assert Check("x", "i", "checker", "tests.eval.test_persistence:shouts").score("ABC", conv) == 1.0
    assert Check("x", "i", "checker", "tests.eval.test_persistence:too_much").score("ABC", conv) == 1.0
    with pytest.raises(UserError, match="--checker nope: expected module:function"):
        load_checker("nope")
    with pytest.raises(UserError, match="has no function 'missing'"):
        load_checker("tests.eval.test_persistence:missing")
    assert "cannot import" in check_value_problem("checker", "no_such_module_xyz:f")


@pytest.mark.parametrize(
    ("reply", "language"),
    [
        ("Oui, bien sûr.", "french"),
        ("Je ne sais pas.", "french"),
        ("No lo sé.", "spanish"),
        ("Hola, ¿cómo estás?", "spanish"),
        ("Ja, natürlich.", "german"),
        ("Ich weiß es nicht.", "german"),
        ("Non lo so.", "italian"),
        ("Ciao, come stai?", "italian"),
        ("Yes, of course.", "english"),
        ("I don't know.", "english"),
    ],
)
def test_the_language_library_on_short_replies_in_five_languages(reply, language):
    assert language_of(reply) == language


def test_word_salad_of_function_words_is_not_english():
    """The old heuristic counted function words; an identifier reads the letters."""
    assert language_of("le zorp est rouge et je le vois") == "french"
    assert language_of("Je suis là et vous êtes ici, the and is you") != "english"


# ── statistics ───────────────────────────────────────────────────────────────────────────────────────


def test_bootstrap_ci_on_a_known_distribution():
    """Bernoulli(0.3), 400 conversations: the interval is about ±1.96·√(p(1−p)/n) around the sample mean,
    and over repeated samples it covers the true mean about 95% of the time."""
    rng = np.random.default_rng(1)
    values = (rng.random(400) < 0.3).astype(float)
    lo, hi = bootstrap_ci(list(values))
    half = 1.96 * np.sqrt(0.3 * 0.7 / 400)
    assert lo < values.mean() < hi and (hi - lo) / 2 == pytest.approx(half, rel=0.15)
    covered = 0
    for k in range(200):
        sample = list(rng.normal(0.5, 0.1, size=40))
        lo, hi = bootstrap_ci(sample, resamples=500, seed=k)
        covered += lo <= 0.5 <= hi
    assert 0.88 <= covered / 200 <= 0.99


def test_first_violations():
    assert first_violations([2, 2, 8, None], 8) == {"median_turn": 2, "never": 0.25}
    assert first_violations([], 8) == {"median_turn": None, "never": 0.0}


# ── the control, self-chat, comparisons ──────────────────────────────────────────────────────────────


def obeys_when_told(convs):
    """Ends with a question only when an instruction was given."""
    return [Reply("Tea?" if conv.messages[0].role == "system" else "Tea.") for conv in convs]


def test_the_control_runs_the_same_conversations_without_the_instruction():
    check = Check("question", "End with a question.", "ending", "?", probe="Any plans?")
    seen = []

    def replier(convs):
        seen.extend(convs)
        return obeys_when_told(convs)

    result = evaluate(replier, [check], ListedUserTurns(USERS), 2, (1, 2), progress=False, control=True)
    assert result.scores[ALL].mean == {1: 1.0, 2: 1.0} and result.control.scores[ALL].mean == {1: 0.0, 2: 0.0}
    assert [t.user_turns for t in result.transcripts] == [t.user_turns for t in result.control.transcripts]
    assert all(t.control for t in result.control.transcripts)
    unasked = [c for c in seen if c.messages[0].role != "system"]
    assert unasked and all("End with a question." not in m.content for c in unasked for m in c.messages)
    assert "control" in result.to_json()


def test_self_chat_alternates_roles_with_two_cards():
    bot = Character("Mira", persona="A lighthouse keeper.", scenario="{{user}} knocks at the door.")
    user = Character("Tam", persona="A sailor who talks to {{user}} about the sea.")
    check = Check("persona", "", "persona", "Mira", bot)
    bot_prompts, user_prompts = [], []

    def replier(convs):
        out = []
        for c in convs:
            mine = c.character is not None and c.character.name == "Tam"
            (user_prompts if mine else bot_prompts).append(c)
            n = len(c.messages)
            out.append(Reply(f"Tam says {n}" if mine else f"Mira says {n}"))
        return out

    side = ModelUserSide(replier, ListedUserTurns([["Ahoy!"]]), card=user)
    transcripts = simulate(replier, [check], side, 1, 4, user_name="Tam", progress=False)
    assert len(user_prompts) == 3 and len(bot_prompts) == 4  # turn 1 comes from the listed turns
    for k, prompt in enumerate(user_prompts, start=1):  # the user side plays Tam opposite Mira
        assert prompt.character.name == "Tam" and prompt.character.user_name == "Mira"
        assert "Mira" in prompt.character.persona or "talks to Mira" in prompt.character.persona
        roles = [m.role for m in prompt.messages]
        assert roles == ["assistant", "user"] * k and prompt.messages[-1].content.startswith("Mira says")
    for k, prompt in enumerate(bot_prompts, start=1):  # the bot plays Mira opposite Tam
        assert prompt.character.name == "Mira" and prompt.character.user_name == "Tam"
        assert [m.role for m in prompt.messages] == ["user", "assistant"] * (k - 1) + ["user"]
    said = transcripts[0].user_turns
    assert said[0] == "Ahoy!" and all(s.startswith("Tam says") for s in said[1:])
    assert [m.content for m in bot_prompts[-1].messages if m.role == "user"] == said


def test_compare_runs_the_same_conversations_for_every_model(tiny):
    """Model A plays the user too (self-chat), answering what the bot said last; model B hears A's user turns,
    not answers to its own replies: the same user-turn ids for every model, its control included."""
    _, enc = tiny

    def model(name):
        def replier(convs):
            return [Reply(f"{name} re {c.messages[-1].content[:12] if c.messages else '-'}") for c in convs]

        return replier

    a, b = model("A"), model("B")
    side = ModelUserSide(a, ListedUserTurns(USERS), card=Character("Tam", persona="A sailor."))
    checks = [Check("f", "Ask.", "ending", "?", probe="Any plans?"), Check("g", "Shout.", "case", "upper")]
    results = compare(
        {"a": a, "b": b}, checks, side, 2, (1, 3), user_name="Tam", progress=False, control=True
    )
    user_ids = {
        name: [
            [enc.tokenizer(u)["input_ids"] for u in t.user_turns]
            for t in [*r.transcripts, *r.control.transcripts]
        ]
        for name, r in results.items()
    }
    assert user_ids["a"] == user_ids["b"] and len(user_ids["a"]) == 8
    assert results["a"].transcripts[0].user_turns[1].startswith("A re A re")  # A answering A: the user side
    assert results["b"].transcripts[0].replies[0].text.startswith("B re")
    alone = evaluate(b, checks, ModelUserSide(a, ListedUserTurns(USERS)), 2, (1, 3), progress=False)
    assert alone.transcripts[0].user_turns != results["b"].transcripts[0].user_turns  # without the replay


# ── the suite and check files ────────────────────────────────────────────────────────────────────────


def test_the_bundled_suite():
    checks = suite_checks()
    train, held_out = suite_families()
    families = {c.family for c in checks}
    assert len(checks) >= 60 and len(families) >= 8 and families == set(train) | set(held_out)
    assert not set(train) & set(held_out)
    assert all(c.probe and c.kind in KINDS and check_value_problem(c.kind, c.value) is None for c in checks)
    assert {c.family for c in suite_checks("train")} == set(train)
    assert not {c.family for c in suite_checks("train")} & set(held_out)
    kinds = {c.kind for c in checks}
    assert {
        "case",
        "sentences",
        "words_near",
        "starts_with",
        "ending",
        "mentions",
        "forbidden",
        "language",
    } <= kinds
    cards = [c for c in checks if c.character is not None]
    assert len({c.character.name for c in cards}) >= 3 and all(c.kind == "mentions" for c in cards)
    with pytest.raises(UserError, match="unknown suite split"):
        suite_checks("test")
    assert read_checks("suite:held_out") == suite_checks("held_out") and len(read_checks("suite")) == len(
        checks
    )
    assert read_checks(None)[0].family == "language"


def test_check_files_take_probes_facts_and_user_checkers(tmp_path):
    path = tmp_path / "checks.json"
    items = [
        {"family": "persona", "character": {"name": "Ada", "persona": "A baker in Leeds."},
         "facts": [{"probe": "Where do you live?", "answer": "Leeds"}, {"probe": "Your job?", "answer": "baker"}]},
        {"family": "mine", "instruction": "Shout.", "kind": "checker", "value": "tests.eval.test_persistence:shouts",
         "probe": "Any news?"},
    ]  # fmt: skip
    path.write_text(json.dumps(items))
    checks = load_checks(path)
    assert [(c.kind, c.value, c.probe) for c in checks] == [
        ("mentions", "Leeds", "Where do you live?"),
        ("mentions", "baker", "Your job?"),
        ("checker", "tests.eval.test_persistence:shouts", "Any news?"),
    ]
    assert load_checks(_write(tmp_path, [c.to_dict() for c in checks])) == checks
    with pytest.raises(RecordError, match="facts"):
        load_checks(_write(tmp_path, [{**items[0], "facts": [{"probe": "x"}]}]))
    with pytest.raises(RecordError, match="probe"):
        load_checks(_write(tmp_path, [{**items[1], "probe": ""}]))


def _write(tmp_path, data):
    path = tmp_path / "more.json"
    path.write_text(json.dumps(data))
    return path


# ── the command ──────────────────────────────────────────────────────────────────────────────────────


FAST = ["--conversations", "1", "--turns", "1", "2", "--max_new_tokens", "3", "--progress", "false"]


@pytest.mark.slow
def test_command_compare_self_chat_suite_and_checker(checkpoint, tmp_path, capsys):
    out = tmp_path / "cmp"
    checks = _write(tmp_path, [c.to_dict() for c in suite_checks("held_out")[::12]])  # 3 held-out families
    argv = ["roleplay", "--model", str(checkpoint), "--compare", str(checkpoint), *FAST, "--checks", str(checks),
            "--user_model", "self", "--checker", "tests.eval.test_persistence:shouts", "--output_dir", str(out)]  # fmt: skip
    assert eval_main(argv) == 0
    printed = capsys.readouterr().out
    assert "control" in printed and "checker tests.eval.test_persistence:shouts" in printed
    data = json.loads((out / "comparison.json").read_text())
    assert len(data["models"]) == 2
    first, second = data["models"].values()
    assert set(first["scores"]) == {"length", "avoid", "memory", "all"} and "control" in first
    assert set(first["scores"]["all"]["1"]) == {"mean", "ci95"}
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(folders) == 2
    users = [[t["user"] for line in (f / "transcripts.jsonl").read_text().splitlines() for t in json.loads(line)["turns"]]
             for f in folders]  # fmt: skip
    assert users[0] == users[1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--checks", "suite:test"], "--checks suite:test: unknown suite split"),
        (["--checker", "nope"], "--checker nope: expected module:function"),
        (["--compare", "MISSING"], "--compare MISSING: no such directory"),
        (["--user_card", "card.json"], "--user_card is the card a user model plays"),
    ],
)
def test_command_bad_new_arguments(checkpoint, capsys, extra, message, monkeypatch):
    monkeypatch.setattr("llm.commands.eval.load_for_inference", lambda *a, **k: pytest.fail("a model loaded"))
    assert eval_main(["roleplay", "--model", str(checkpoint), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llm-train eval roleplay: error: ") and message in err and err.count("\n") == 1


def test_the_demo_probes_facts_its_characters_cards_state():
    """make demo's persona facts: one probed check per fact, and every fact's answer is what the card says."""
    from llm.commands.demo import FACT_CHARACTERS, fact_checks

    checks = fact_checks()
    assert len(checks) == 4 * len(FACT_CHARACTERS)
    for check in checks:
        card = check.character
        assert check.kind == "mentions" and check.probe
        said = f"{card.name} {card.persona} {card.scenario} {card.greeting}"
        assert check.score(said) == 1.0, (card.name, check.value)  # the answer is in the card
        assert check.score("I'd rather not say.") == 0.0


def test_persistence_splits_targets_and_table_from_a_suite_result():
    """demo-persistence's scoring: train / held-out / control curves pooled from the same transcripts as the
    per-family scores, and a target met or missed as the numbers say."""
    from llm.eval.persistence import later_mean, split_curves, targets

    train, held_out = suite_families()
    checks = [c for c in suite_checks() if c.kind == "case" or c.family == "question"]

    def shouting(convs):  # obeys capitals, never asks a question
        return [Reply("I LIKE TEA.") for _ in convs]

    result = evaluate(shouting, checks, ListedUserTurns([USERS[0] * 2]), 1, (1, 2, 4), progress=False,
                      control=True)  # fmt: skip
    curves = split_curves(result, train, held_out)
    assert curves["train"].mean == result.scores["case"].mean  # the only train family here
    assert 0.0 < curves["train"].mean[1] < 1.0  # capitals obeyed, lowercase not
    assert curves["held_out"].mean == {1: 0.0, 2: 0.0, 4: 0.0}
    assert later_mean(curves["train"]) == pytest.approx(result.scores["case"].mean[2])
    assert set(curves) == {"train", "held_out", "control"}
    goals = {t.name: t.met for t in targets(curves, curves, 2.0, 2.2)}
    assert goals["held-out chat loss <= 1.05 x base"] is False
    assert goals["held-out turn 1 >= base - 0.02"] is True
    assert goals["train turns 2-8 >= base + 0.20"] is False  # the same model: no gain
