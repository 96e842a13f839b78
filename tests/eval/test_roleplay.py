"""The role-play evaluation: simulated conversations, scoring, report, command and training callback.

Fake repliers (plain callables) whose obedience is known make the adherence curves exact; a tiny random
checkpoint proves the command and the callback end to end (its replies are gibberish: only structure is
asserted there).
"""

import json
from pathlib import Path

import datasets
import pytest
import torch
from transformers import LlamaForCausalLM, Trainer

from llm.commands import main as cli_main
from llm.commands.eval import main as eval_main
from llm.data.collate import PaddedCollator
from llm.data.conversation import Character, Conversation, Message
from llm.data.encode import Encoder
from llm.data.templates import get_template
from llm.data.tokenizer import build_tokenizer
from llm.eval.checks import DEFAULT_CHECKS, Check
from llm.eval.instructions import load_checks
from llm.eval.roleplay import score, summary_table, write_report
from llm.eval.simulate import ListedUserTurns, ModelUserSide, Transcript, UserView, simulate
from llm.inference.repliers import LocalReplier, Reply, Sampling
from llm.models.tiny import build_llama
from llm.train.args import StageArguments
from llm.train.callbacks import RoleplayEvalCallback

FRENCH = Check("language", "Always answer in French.", "language", "french")
QUESTION = Check("format", "End every reply with a question.", "ending", "?")
MIRA = Character("Mira", persona="A lighthouse keeper who hates fog.", scenario="{{user}} knocks.")
PERSONA = Check("character", "Play Mira.", "persona", "Mira", MIRA)
OBEY = {
    "language": "Je suis là et vous êtes ici.",
    "ending": "Tea?",
    "persona": "I am Mira, and the lamp is lit.",
}
DISOBEY = {"language": "I am here and you are there.", "ending": "Tea.", "persona": "As an AI, I cannot."}


def main(argv):
    """``llm-train eval roleplay ARGV``."""
    return eval_main(["roleplay", *argv])


class FakeReplier:
    """Obeys a conversation's instruction while it is among the last ``window`` messages (and the turn is
    at most ``until``); records every call and asserts the instruction was given exactly once."""

    def __init__(self, checks, window=10**6, until=10**6, template="chatml"):
        self.checks, self.window, self.until = checks, window, until
        self.template = get_template(template)
        self.calls: list[list[Conversation]] = []

    def __call__(self, convs):
        self.calls.append(list(convs))
        replies = []
        for conv in convs:
            text = self.template.render(conv, add_generation_prompt=True).text
            found = [c for c in self.checks if needle(c) in text]
            assert len(found) == 1 and text.count(needle(found[0])) == 1, text
            check = found[0]
            # The instruction's message; a card in the conversation's character sits in the system slot.
            where = next((k for k, m in enumerate(conv.messages) if needle(check) in m.content), 0)
            visible = len(conv.messages) - where <= self.window
            turn = sum(m.role == "user" for m in conv.messages)
            replies.append(Reply((OBEY if visible and turn <= self.until else DISOBEY)[check.kind]))
        return replies


def needle(check):
    """Text that marks a check's instruction in a rendered prompt."""
    return check.character.persona if check.character else check.instruction


USERS = [["u1", "u2", "u3", "u4"], ["v1", "v2", "v3", "v4"]]


def test_simulate_gives_the_instruction_once_batches_each_turn_and_scores_exactly():
    checks = [FRENCH, QUESTION, PERSONA]
    # Placement "system": the instruction is message 0, so it is among the last 4 messages up to turn 2.
    replier = FakeReplier(checks, window=4)
    transcripts = simulate(replier, checks, ListedUserTurns(USERS), 2, 4, progress=False)
    assert len(replier.calls) == 4 and all(len(call) == 6 for call in replier.calls)  # one call per turn
    assert [(t.check.key, t.seat) for t in transcripts] == [(c.key, s) for c in checks for s in (0, 1)]
    for t in transcripts:
        assert t.user_turns == USERS[t.seat]
        assert [m.content for m in t.conversation.messages if m.role == "user"] == USERS[t.seat]
        assert [m.content for m in t.conversation.messages if m.role == "assistant"] == [
            r.text for r in t.replies
        ]
    # At turn 3 the prompt holds the first two exchanges and the third user turn, in order.
    third = replier.calls[2][1]
    assert [m.content for m in third.messages if m.role == "user"] == ["v1", "v2", "v3"]
    assert replier.calls[0][4].character == Character("Mira", MIRA.persona, "User knocks.", user_name="User")
    result = score(transcripts, turns=(1, 2, 3, 4))
    expected = {1: 1.0, 2: 1.0, 3: 0.0, 4: 0.0}
    assert result.adherence == {
        "language": expected,
        "format": expected,
        "character": expected,
        "all": expected,
    }
    assert result.adherence_by_check["format/ending=?"] == expected
    assert result.persona_consistency == expected  # only Mira's conversations have a named bot
    assert result.conversations == 6 and result.replies == 24 and result.speaks_for_user == 0.0


def test_first_user_placement_and_obeying_only_until_a_turn():
    checks = [FRENCH, PERSONA]
    replier = FakeReplier(checks, until=2)
    transcripts = simulate(
        replier, checks, ListedUserTurns(USERS), 1, 3, placement="first_user", progress=False
    )
    for conv in replier.calls[-1]:
        assert conv.character is None and conv.messages[0].role == "user"
        assert conv.messages[0].content.endswith("\n\nu1")  # the instruction, then the first user turn
    assert (
        "Scenario: User knocks." in replier.calls[0][1].messages[0].content
    )  # the card's placeholders filled
    curve = score(transcripts, turns=(1, 3)).adherence
    assert curve["all"] == {1: 1.0, 3: 0.0}


def test_persona_consistency_and_speaking_for_the_user_on_hand_written_replies():
    card = Character("Mira", user_name="Sam")
    conv = Conversation((Message("user", "hi"),), card)
    mira = Transcript(
        PERSONA, 0, "Sam", ["a", "b", "c"],
        [Reply("I am Mira."), Reply("As an AI, I cannot.", finished=False), Reply("My name is Bob.")],
        conv,
    )  # fmt: skip
    plain = Transcript(
        QUESTION, 0, "Sam", ["a", "b", "c"],
        [Reply("Tea?\nSam: yes please"), Reply("Fine?", wrote_user_turn=True), Reply("ok<|im_start|>user hi?")],
        Conversation((Message("user", "hi"),)),
    )  # fmt: skip
    dropped = Transcript(QUESTION, 1, "Sam", ["a"], [Reply("Why?", dropped_turns=2)], Conversation(()))
    result = score([mira, plain, dropped], turns=(1, 2, 3), template=get_template("chatml"))
    assert result.persona_consistency == {1: 1.0, 2: 0.0, 3: 0.0}  # the other bots have no name
    assert result.speaks_for_user_by_turn == pytest.approx({1: 1 / 3, 2: 0.5, 3: 0.5})
    assert result.speaks_for_user == pytest.approx(3 / 7)
    assert result.adherence["format"] == {1: 0.5, 2: 1.0, 3: 1.0}  # adherence is judged on the text as cut
    assert result.adherence["character"] == {1: 1.0, 2: 0.0, 3: 0.0}
    assert (result.unfinished_replies, result.replies_with_dropped_context, result.max_dropped_turns) == (
        1,
        1,
        2,
    )
    # Without the template, chatml's user marker is still a known marker; a pygmalion-style name line too.
    assert score([plain], turns=(1, 2, 3)).speaks_for_user_by_turn == {1: 1.0, 2: 1.0, 3: 1.0}
    table = summary_table(result)
    assert "persona consistency" in table and "speaks for user" in table and "t3" in table


def test_local_replier_reports_a_reply_cut_where_the_user_turn_began(monkeypatch):
    tok = build_tokenizer("bytelevel")
    scripted = [" Aye.\nSam: thanks</s>", " Aye.</s>"]

    def fake_generate(self, input_ids, **kwargs):
        rows = [tok(s, add_special_tokens=False)["input_ids"] for s in scripted]
        width = max(map(len, rows))
        rows = [r + [tok.pad_token_id] * (width - len(r)) for r in rows]
        return torch.cat([input_ids, torch.tensor(rows)], dim=1)

    monkeypatch.setattr(LlamaForCausalLM, "generate", fake_generate)
    replier = LocalReplier(build_llama(tok), Encoder(tok, "pygmalion"), Sampling(max_new_tokens=16))
    card = Character("Mira", user_name="Sam")
    convs = [Conversation((Message("user", "Hi"),), card), Conversation((Message("user", "Yo"),), card)]
    replies = replier(convs)
    assert [(r.text, r.finished, r.wrote_user_turn) for r in replies] == [
        ("Aye.", True, True),
        ("Aye.", True, False),
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such checks file"),
        ("[{", "malformed JSON"),
        ("{}", "expected a non-empty list of checks, got dict"),
        ("[]", "got a list of 0"),
        ('["x"]', "checks.json:item 0: field '<item>': expected an object"),
        ('[{"family": "f", "instruction": "i", "kind": "ending", "value": "?"}, {"family": "f"}]',
         "checks.json:item 1: field 'kind': missing"),
        ('[{"family": "f", "instruction": "i", "kind": "rhyme", "value": 1}]',
         "checks.json:item 0: field 'kind': unknown kind 'rhyme'"),
        ('[{"family": "f", "instruction": "i", "kind": "max_words", "value": "ten"}]',
         "checks.json:item 0: field 'value': a max_words check needs a whole number"),
        ('[{"family": "f", "instruction": "i", "kind": "language", "value": "klingon"}]',
         "checks.json:item 0: field 'value': unknown language 'klingon'"),
        ('[{"family": "f", "instruction": "i", "kind": "ending"}]', "checks.json:item 0: field 'value': missing"),
        ('[{"family": "f", "instruction": "i", "kind": "ending", "value": "?", "colour": 1}]',
         "checks.json:item 0: field 'colour': unknown field"),
        ('[{"family": "c", "kind": "persona", "character": {"persona": "x"}}]',
         "checks.json:item 0: field 'character.name': missing or empty"),
    ],
)  # fmt: skip
def test_load_checks_errors_name_file_item_and_field(tmp_path, content, message):
    path = tmp_path / "checks.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises((ValueError, FileNotFoundError), match="checks.json") as info:
        load_checks(path)
    assert message in str(info.value)


def test_load_checks_reads_what_to_dict_writes(tmp_path):
    path = tmp_path / "checks.json"
    path.write_text(json.dumps([c.to_dict() for c in DEFAULT_CHECKS]))
    assert load_checks(path) == list(DEFAULT_CHECKS)
    assert {c.family for c in DEFAULT_CHECKS} == {"language", "format", "character"}
    path.write_text(json.dumps([{"family": "character", "kind": "persona", "character": {"name": "Mira"}}]))
    (check,) = load_checks(path)
    assert check.value == "Mira" and check.given == Character("Mira") and check.instruction


def test_an_instruction_pool_is_a_checks_file_too(tmp_path):
    from llm.eval.instructions import BUNDLED_POOL

    checks = load_checks(BUNDLED_POOL)
    assert {c.family for c in checks} == {"language", "format"}
    french = next(c for c in checks if c.value == "french")
    assert french.instruction == "Always answer in French." and french.passed(
        "Je ne sais pas, le phare est là."
    )
    path = tmp_path / "pool.json"
    path.write_text(json.dumps({"hobby": ["You love chess."]}))
    with pytest.raises(ValueError, match="no checkable instruction"):
        load_checks(path)


def chats_file(tmp_path):
    records = [
        [("user", "Hi {{char}}!"), ("assistant", "Hello."), ("user", "I am {{user}}.")],
        [("user", "r1a"), ("assistant", "x")],
        [("assistant", "greeting"), ("user", "r2a"), ("assistant", "y"), ("user", "r2b")],
    ]
    path = tmp_path / "held_out.jsonl"
    lines = [json.dumps({"messages": [{"role": r, "content": c} for r, c in rec]}) for rec in records]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_held_out_user_turns_continue_across_records_and_fill_placeholders(tmp_path):
    users = ListedUserTurns.from_chats([str(chats_file(tmp_path))], seats=2, turns=5)
    assert users.lists == [
        ["Hi {{char}}!", "I am {{user}}.", "r1a", "r2a", "r2b"],
        ["r1a", "r2a", "r2b", "Hi {{char}}!", "I am {{user}}."],
    ]
    views = [UserView(0, (), "Mira", "Sam"), UserView(1, (), "Assistant", "Sam")]
    assert users(views, 1) == ["Hi Mira!", "r1a"] and users(views, 5) == ["r2b", "I am Sam."]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "ok"}]}\n{"messages": [{"role": "robot"}]}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: field 'messages\[0\].content': missing"):
        ListedUserTurns.from_chats([str(bad)], seats=1, turns=2)


def test_bundled_user_turns_spread_the_seats():
    users = ListedUserTurns.bundled(seats=3)
    assert len(users.lists) == 3 and len(users.lists[0]) >= 50
    firsts = [turns[0] for turns in users.lists]
    assert len(set(firsts)) == 3 and users.lists[1][0] == users.lists[0][len(users.lists[0]) // 3]


def test_the_model_playing_the_user_never_sees_the_instruction_and_plays_with_roles_swapped():
    seen: list[Conversation] = []

    def user_model(convs):
        seen.extend(convs)
        return [Reply(f"Sam: question {len(c.messages)}") for c in convs]

    checks = [FRENCH, PERSONA]
    bot = FakeReplier(checks)
    first = ListedUserTurns([["hello there"]])
    transcripts = simulate(
        bot, checks, ModelUserSide(user_model, first), 1, 3, user_name="Sam", progress=False
    )
    assert len(seen) == 4  # turns 2 and 3, two conversations each; turn 1 came from the list
    for conv in seen:
        text = json.dumps(conv.to_dict())
        assert FRENCH.instruction not in text and MIRA.persona not in text and conv.character is None
        assert conv.messages[0].role == "system"
    assert seen[0].messages[0].content == "You are Sam, talking with Assistant; write Sam's next message."
    assert seen[1].messages[0].content == "You are Sam, talking with Mira; write Sam's next message."
    assert [m.role for m in seen[2].messages] == ["system", "assistant", "user", "assistant", "user"]
    mira = transcripts[1]
    assert mira.user_turns == ["hello there", "question 3", "question 5"]  # the "Sam:" prefix is dropped
    assert [m.content for m in seen[3].messages[1:]] == [
        "hello there", mira.replies[0].text, "question 3", mira.replies[1].text,
    ]  # fmt: skip


def test_write_report(tmp_path):
    checks = [FRENCH, QUESTION, PERSONA]
    transcripts = simulate(
        FakeReplier(checks, window=4), checks, ListedUserTurns(USERS), 2, 4, progress=False
    )
    result = score(transcripts, turns=(1, 2, 4))
    out = write_report(result, tmp_path / "report", "fake")
    data = json.loads((out / "roleplay_eval.json").read_text())
    assert data["title"] == "fake" and data["turns"] == [1, 2, 4]
    assert data["adherence"]["language"] == {"1": 1.0, "2": 1.0, "4": 0.0}
    assert data["persona_consistency"] == {"1": 1.0, "2": 1.0, "4": 0.0}
    assert set(data["adherence_by_check"]) == {c.key for c in checks}
    assert data["checks"][2]["character"]["name"] == "Mira"
    keys = {
        "speaks_for_user",
        "speaks_for_user_by_turn",
        "unfinished_replies",
        "replies_with_dropped_context",
    }
    assert keys <= set(data) and data["conversations"] == 6 and data["replies"] == 24
    png = (out / "adherence.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    lines = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and [t["passed"] for t in lines[0]["turns"]] == [True, True, False, False]
    assert (
        lines[0]["turns"][0]["user"] == "u1" and lines[0]["conversation"]["messages"][0]["role"] == "system"
    )


# ── the command, on a tiny random checkpoint ─────────────────────────────────────────────────────────


FAST = ["--conversations", "1", "--turns", "1", "2", "--max_new_tokens", "4", "--progress", "false"]


def test_command_end_to_end(checkpoint, tmp_path, capsys):
    out = tmp_path / "report"
    assert cli_main(["eval", "roleplay", "--model", str(checkpoint), *FAST, "--output_dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "language" in printed and "persona consistency" in printed and str(out) in printed
    data = json.loads((out / "roleplay_eval.json").read_text())
    assert data["conversations"] == len(DEFAULT_CHECKS) and data["replies"] == 2 * len(DEFAULT_CHECKS)
    assert (out / "adherence.png").stat().st_size > 0
    assert len((out / "transcripts.jsonl").read_text().splitlines()) == len(DEFAULT_CHECKS)


def test_command_with_checks_held_out_turns_and_a_user_model(checkpoint, tmp_path):
    checks = tmp_path / "checks.json"
    checks.write_text(json.dumps([FRENCH.to_dict(), PERSONA.to_dict()]))
    argv = ["--model", str(checkpoint), *FAST, "--checks", str(checks), "--placement", "first_user"]
    assert main([*argv, "--user_turns", str(chats_file(tmp_path)), "--output_dir", str(tmp_path / "a")]) == 0
    lines = [json.loads(x) for x in (tmp_path / "a" / "transcripts.jsonl").read_text().splitlines()]
    assert [t["user"] for t in lines[1]["turns"]] == ["Hi Mira!", "I am User."]
    assert main([*argv, "--user_model", str(checkpoint), "--output_dir", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "roleplay_eval.json").read_text())["replies"] == 4
    assert not (checkpoint / "eval_roleplay").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model", "MISSING"], "--model MISSING: no such directory"),
        (["--turns", "0", "2"], "--turns 0 2: give turn numbers of 1 or more"),
        (["--conversations", "0"], "--conversations 0: must be 1 or more"),
        (["--temperature", "-1"], "temperature -1.0: must be 0 (greedy) or more"),
        (["--user_turns", "x.jsonl", "--user_model", "y"], "not both"),
        (["--user_turns", "nothing.jsonl"], "nothing.jsonl: no such file"),
        (["--checks", "nothing.json"], "nothing.json: no such checks file"),
        (["--bogus", "1"], "unknown arguments: --bogus 1"),
    ],
)
def test_command_bad_arguments_are_one_clear_line(checkpoint, capsys, extra, message, monkeypatch):
    monkeypatch.setattr("llm.commands.eval.load_for_inference", lambda *a, **k: pytest.fail("a model loaded"))
    argv = ["--model", str(checkpoint), *extra] if extra[0] != "--model" else extra
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("llm-train eval roleplay: error: ") and message in err and err.count("\n") == 1


def test_command_needs_a_template_and_a_model(tmp_path, capsys):
    (tmp_path / "bare").mkdir()
    assert main(["--model", str(tmp_path / "bare")]) == 2
    assert "name it with --template" in capsys.readouterr().err
    assert main([]) == 2  # argparse: the required --model
    assert "required: --model" in capsys.readouterr().err
    assert main(["--model", str(tmp_path), "--template", "nope"]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


# ── during training ──────────────────────────────────────────────────────────────────────────────────


def test_callback_runs_at_each_evaluation_and_restores_train_mode(tmp_path):
    tok = build_tokenizer("bytelevel")
    model = build_llama(tok)
    model.config.use_cache = False
    enc = Encoder(tok, "chatml")
    convs = [Conversation((Message("user", f"hi {i}"), Message("assistant", f"hello {i}"))) for i in range(4)]
    samples = enc.encode_batch(convs)
    rows = datasets.Dataset.from_dict(
        {"input_ids": [s.input_ids for s in samples], "labels": [s.labels for s in samples]}
    )
    args = StageArguments(
        output_dir=str(tmp_path / "run"), report_to="none", save_strategy="no", use_cpu=True,
        max_steps=4, eval_strategy="steps", eval_steps=2, per_device_train_batch_size=2,
        disable_tqdm=True, learning_rate=1e-3,
    )  # fmt: skip
    callback = RoleplayEvalCallback(
        "chatml", checks=[FRENCH, PERSONA], conversations=1, turns=(1, 2), max_new_tokens=4
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=rows, eval_dataset=rows, processing_class=tok,
        data_collator=PaddedCollator(tok.pad_token_id), callbacks=[callback],
    )  # fmt: skip
    trainer.train()
    trainer.evaluate()  # again at the last step: not a second report
    root = tmp_path / "run" / "roleplay_eval"
    assert sorted(p.name for p in root.iterdir()) == ["history.jsonl", "step-2", "step-4"]
    history = [json.loads(line) for line in (root / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [2, 4] and set(history[0]["adherence"]) == {
        "language", "character", "all",
    }  # fmt: skip
    assert (root / "step-4" / "adherence.png").exists()
    # A model in train mode is left in train mode.
    model.train()
    trainer.state.global_step = 5
    callback.on_evaluate(args, trainer.state, trainer.control, model=model, processing_class=tok)
    assert model.training and (root / "step-5" / "roleplay_eval.json").exists()


def test_sft_with_roleplay_eval(tmp_path, monkeypatch, capsys):
    from llm.commands.sft import main as sft_main
    from llm.data.samples import PIPPA_SAMPLE as SAMPLE

    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))
    argv = [
        "--model_config", "tiny", "--tokenizer", "tiny:metaspace", "--dataset", "pippa",
        "--data_files", str(SAMPLE), "--template", "pygmalion", "--max_length", "256",
        "--per_device_train_batch_size", "4", "--report_to", "none", "--use_cpu", "--disable_tqdm", "true",
        "--output_dir", str(tmp_path / "run"), "--max_steps", "1", "--save_strategy", "no",
        "--roleplay_eval", "true",
    ]  # fmt: skip
    assert sft_main(argv) == 2
    assert "--roleplay_eval runs at each evaluation: set --eval_strategy" in capsys.readouterr().err
    argv += ["--eval_strategy", "steps", "--eval_steps", "1", "--validation_split", "0.2"]
    argv += ["--roleplay_eval_turns", "1", "--roleplay_eval_conversations", "1"]
    assert sft_main([*argv, "--roleplay_eval_max_new_tokens", "4"]) == 0
    root = tmp_path / "run" / "roleplay_eval"
    assert (root / "step-1" / "roleplay_eval.json").exists()
    assert len((root / "history.jsonl").read_text().splitlines()) == 1
    assert Path(tmp_path / "run" / "llm_train.json").exists()
