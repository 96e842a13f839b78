"""``llm-train gatt-synthesize``: instruction pool, placement, masks, sampling, output — and the repliers."""

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import datasets
import pytest
import torch
from transformers import LlamaForCausalLM, LogitsProcessor, LogitsProcessorList

from llm.commands.gatt_synthesize import main
from llm.data.conversation import Character, Conversation, Message
from llm.data.encode import Encoder
from llm.data.templates import card_system_text, get_template
from llm.data.tokenizer import build_tokenizer
from llm.errors import ServiceError, UserError
from llm.eval.instructions import Instruction, draw, load_pool
from llm.inference.context import drop_oldest_exchange
from llm.inference.repliers import LocalReplier, OpenAIReplier, Reply, Sampling
from llm.models.tiny import build_llama
from llm.train.gatt_synthesis import SynthesisArguments, synthesize
from tests.helpers import REPO
from tests.helpers.repliers import ObeyingReplier

PIPPA = REPO / "llm" / "data" / "samples" / "pippa_sample.jsonl"


# ── the instruction pool ─────────────────────────────────────────────────────────────────────────────


def test_bundled_pool_has_the_llama2_families_and_short_forms():
    pool = load_pool()
    assert {"hobby", "language", "figure", "format"} <= set(pool)
    assert all(i.short for items in pool.values() for i in items)
    napoleon = next(i for i in pool["figure"] if "Napoleon" in i.text)
    assert napoleon.short == "Figure: Napoleon"
    assert {i.check_kind for i in pool["language"]} == {"language"}


def test_draws_combine_distinct_families_and_half_are_shortened():
    pool = load_pool()
    rng = random.Random(0)
    drawn = [draw(pool, rng, max_combine=3, shorten=0.5) for _ in range(2000)]
    assert all(len(set(d.families)) == len(d.families) for d in drawn)
    assert {len(d.families) for d in drawn} == {1, 2, 3}
    assert 0.45 < sum(d.shortened for d in drawn) / len(drawn) < 0.55
    for d in drawn[:200]:
        expected = "\n".join(p.short for p in d.parts) if d.shortened else " ".join(p.text for p in d.parts)
        assert d.text == expected
    assert all(len(draw(pool, rng, max_combine=1).families) == 1 for _ in range(50))


def test_a_part_without_short_form_stays_long():
    pool = {"a": [Instruction("a", "Long A.", "A")], "b": [Instruction("b", "Long B.")]}
    texts = {draw(pool, random.Random(s), 2, shorten=1.0).text for s in range(30)}
    assert {"A\nLong B.", "Long B.\nA"} & texts and "Long B." in texts


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "expected a JSON object"),
        ('{"x": []}', "family 'x': expected a non-empty list"),
        ('{"x": [3]}', "x[0]: expected a string or an object"),
        ('{"x": [{"txt": "a"}]}', "x[0]: field 'txt': unknown"),
        ('{"x": [{"text": ""}]}', "x[0]: field 'text': expected a non-empty string"),
        ('{"x": ["ok", {"text": "a", "check": {"kind": "rhyme", "value": 1}}]}', "x[1]: field 'check'"),
        ('{"x": [{"text": "a", "check": {"kind": "max_words", "value": "ten"}}]}', "whole number of words"),
        ('{"x": [{"text": "a", "check": {"kind": "language", "value": "klingon"}}]}', "unknown language"),
        ("{oops", "malformed JSON"),
    ],
)
def test_pool_errors_name_the_file_item_and_field(tmp_path, content, message):
    path = tmp_path / "pool.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="pool.json") as e:
        load_pool(path)
    assert message in str(e.value)


# ── the synthesiser with a scripted replier ──────────────────────────────────────────────────────────


class ScriptedReplier:
    """Records every prompt; replies "reply <turn>" (or what ``script`` says for a given turn)."""

    def __init__(self, script=None):
        self.calls: list[list[Conversation]] = []
        self.script = script or {}

    def __call__(self, conversations):
        self.calls.append(list(conversations))
        replies = []
        for conv in conversations:
            turn = sum(m.role == "user" for m in conv.messages)
            first = next(m.content for m in conv.messages if m.role == "user")
            chat = int(first.split("chat ")[1].split()[0]) if "chat " in first else None
            default = self.script.get(turn, Reply(f"reply {turn}"))
            replies.append(self.script.get((chat, turn), default))
        return replies


def chats_file(tmp_path, n=4, turns=3, system=None):
    path = tmp_path / "chats.jsonl"
    with path.open("w") as f:
        for i in range(n):
            messages = [{"role": "system", "content": system}] if system else []
            for t in range(1, turns + 1 + i % 2):
                messages += [
                    {"role": "user", "content": f"chat {i} question {t}"},
                    {"role": "assistant", "content": f"original answer {t}"},
                ]
            f.write(json.dumps({"messages": messages}) + "\n")
    return path


def args_for(tmp_path, data, **kw):
    base = dict(
        data_files=[str(data)],
        output=str(tmp_path / "out"),
        tokenizer="tiny:bytelevel",
        template="chatml",
        check_replies=False,  # scripted replies obey nothing; the checks have a test of their own
    )
    return SynthesisArguments(**{**base, **kw})


def test_sampling_sees_the_instruction_on_every_user_turn_in_batches_per_turn(tmp_path):
    replier = ScriptedReplier()
    stats = synthesize(args_for(tmp_path, chats_file(tmp_path), max_turns=3, shorten=0.0), replier)
    assert len(replier.calls) == 3 and [len(c) for c in replier.calls] == [4, 4, 4]  # one batch per turn
    records = [json.loads(line) for line in (tmp_path / "out" / "gatt.jsonl").open()]
    instruction = {r["gatt"]["source_index"]: r["gatt"]["instruction"] for r in records}
    for turn, batch in enumerate(replier.calls, start=1):
        for conv in batch:
            users = [m.content for m in conv.messages if m.role == "user"]
            index = int(users[0].split("chat ")[1].split()[0])
            assert len(users) == turn
            assert all(u.startswith(instruction[index] + "\n\n") for u in users)
            assert [m.content for m in conv.messages if m.role == "assistant"] == [
                f"reply {t}" for t in range(1, turn)
            ]  # sampled replies replace the originals
    s = stats["gatt_synthesis"]
    assert s["replies_sampled"] == 12 and s["dialogues_cut_to_max_turns"] == 2
    assert s["samples"] == 4 * 2  # replies 2 and 3 of each dialogue (skip_first 1)


@pytest.mark.parametrize("placement", ["system", "first_user"])
def test_training_samples_hold_the_instruction_once_and_train_only_the_final_reply(tmp_path, placement):
    out = tmp_path / "out"
    synthesize(args_for(tmp_path, chats_file(tmp_path), placement=placement, seed=3), ScriptedReplier())
    records = [json.loads(line) for line in (out / "gatt.jsonl").open()]
    for r in records:
        instruction = r["gatt"]["instruction"]
        messages = r["messages"]
        text = json.dumps(messages)
        assert text.count(json.dumps(instruction)[1:-1]) == 1
        if placement == "system":
            assert messages[0] == {"role": "system", "content": instruction, "train": False}
        else:
            assert messages[0]["content"].startswith(instruction + "\n\n")
        assert messages[-1]["role"] == "assistant" and messages[-1]["train"] is True
        assert all(m["train"] is False for m in messages[:-1])
    # The encoded rows train exactly the final reply and its end-of-turn token.
    rows = datasets.load_from_disk(str(out))["train"]
    tok = build_tokenizer("bytelevel")
    assert len(rows) == len(records)
    for row, r in zip(rows, records):
        trained = [t for t, label in zip(row["input_ids"], row["labels"]) if label != -100]
        assert tok.decode(trained, skip_special_tokens=False) == r["messages"][-1]["content"] + "<|im_end|>"
    assert json.loads((out / "stats.json").read_text())["records_read"] == len(records)


def test_role_play_cards_are_the_instruction_and_greetings_are_not_counted(tmp_path):
    replier = ScriptedReplier()
    stats = synthesize(
        args_for(tmp_path, PIPPA, dataset="PIPPA", max_dialogues=3, max_turns=3, template="pygmalion"),
        replier,
    )
    first = replier.calls[0][0]
    card = card_system_text(first.character)
    assert first.messages[0].role == "assistant"  # the card's greeting opens, unsampled
    assert all(m.content.startswith(card) for m in first.messages if m.role == "user")
    records = [json.loads(line) for line in (tmp_path / "out" / "gatt.jsonl").open()]
    assert {r["gatt"]["instruction"] for r in records} == {"character card"}
    assert all(r["character"]["name"] for r in records)
    assert all(
        card_system_text(Character(**r["character"])) not in json.dumps(r["messages"]) for r in records
    )
    assert stats["gatt_synthesis"]["instructions"] == {"character card": 3}
    # skip_first counts sampled replies: of 3 turns, replies 2 and 3 are trained, whatever the greeting.
    user_turns = [sum(m.role == "user" for m in conv.messages) for conv in replier.calls[-1]]
    users = [sum(m.role == "user" for m in c.messages) for c in replier.calls[0]]
    assert users == [1, 1, 1] and stats["gatt_synthesis"]["replies_sampled"] == sum(
        len(batch) for batch in replier.calls
    )
    per_dialogue = [sum(1 for batch in replier.calls if k < len(batch)) for k in range(3)]
    assert stats["gatt_synthesis"]["samples"] == sum(n - 1 for n in per_dialogue) and user_turns


@pytest.mark.parametrize("placement", ["system", "first_user"])
def test_a_card_is_rendered_once_in_training_samples(tmp_path, placement):
    args = args_for(
        tmp_path, PIPPA, dataset="PIPPA", max_dialogues=2, template="pygmalion", placement=placement
    )
    synthesize(args, ScriptedReplier())
    template = get_template("pygmalion", build_tokenizer("bytelevel"))
    for line in (tmp_path / "out" / "gatt.jsonl").open():
        record = json.loads(line)
        conv = Conversation.from_dict(record)
        persona = json.loads(PIPPA.read_text().splitlines()[record["gatt"]["source_index"]])[
            "bot_description"
        ]
        assert template.render(conv).text.count(persona.strip()[:60]) == 1
        assert (conv.character is None) == (placement == "first_user")


def test_samples_longer_than_max_length_lose_old_exchanges_not_their_trained_reply(tmp_path):
    stats = synthesize(
        args_for(tmp_path, chats_file(tmp_path, n=3, turns=6), max_length=90), ScriptedReplier()
    )
    s = stats["gatt_synthesis"]
    assert s["samples_shortened_to_fit"] > 0 and stats["records_kept"] == s["samples"]
    tok = build_tokenizer("bytelevel")
    rows = datasets.load_from_disk(str(tmp_path / "out"))["train"]
    records = [json.loads(line) for line in (tmp_path / "out" / "gatt.jsonl").open()]
    for row, record in zip(rows, records):
        assert len(row["input_ids"]) <= 90
        trained = tok.decode([t for t, label in zip(row["input_ids"], row["labels"]) if label != -100])
        assert trained == record["messages"][-1]["content"] + "<|im_end|>"
        assert record["gatt"]["instruction"] in record["messages"][0]["content"]  # the instruction stays
    assert stats["truncated_samples"] == 0
    with pytest.raises(ValueError, match="too_long_left_out"):
        synthesize(args_for(tmp_path, chats_file(tmp_path), max_length=16, overwrite=True), ScriptedReplier())


def test_unfinished_and_empty_replies_end_a_dialogue_and_are_counted(tmp_path):
    script = {(0, 3): Reply("cut off", finished=False), (1, 2): Reply("  ")}
    data = chats_file(tmp_path, n=3, turns=3)  # chats 0 and 2 have 3 user turns, chat 1 has 4
    stats = synthesize(args_for(tmp_path, data, max_turns=3), ScriptedReplier(script))
    s = stats["gatt_synthesis"]
    assert s["dialogues_ended_early"] == {
        "a reply ran into --max_new_tokens (dialogue ended there)": 1,
        "an empty reply (dialogue ended there)": 1,
    }
    assert s["dialogues_dropped"] == {"sampling ended before reply 2: nothing to train": 1}
    assert s["samples"] == 1 + 2 and s["dialogues_used"] == 2  # chat 0: reply 2 only; chat 2: replies 2, 3
    records = [json.loads(line) for line in (tmp_path / "out" / "gatt.jsonl").open()]
    assert all("cut off" not in json.dumps(r) for r in records)


class FrenchOnSecondTry(ScriptedReplier):
    """Fails a French instruction at first; every reply after that is French."""

    def __call__(self, conversations):
        self.calls.append(list(conversations))
        tries = len(self.calls)
        return [
            Reply("Je suis là, et le phare est beau." if tries > 1 else "I am here.") for _ in conversations
        ]


def test_replies_failing_their_check_are_resampled_then_end_the_dialogue(tmp_path):
    pool = tmp_path / "pool.json"
    pool.write_text(
        json.dumps(
            {
                "language": [
                    {"text": "Always answer in French.", "check": {"kind": "language", "value": "french"}}
                ]
            }
        )
    )
    data = chats_file(tmp_path, n=2, turns=3)
    kw = dict(instructions=str(pool), check_replies=True, max_turns=3, temperature=0.7)
    replier = FrenchOnSecondTry()
    stats = synthesize(args_for(tmp_path, data, resample=1, **kw), replier)
    s = stats["gatt_synthesis"]
    assert [len(c) for c in replier.calls] == [2, 2, 2, 2]  # turn 1, its re-sample, turns 2 and 3
    assert s["replies_checked"] == 6 and s["replies_failing_first_try"] == 2 and s["replies_resampled"] == 2
    assert s["samples"] == 4 and s["dialogues_ended_early"] == {}
    # Without re-sampling the first reply fails for good: the dialogue ends, and nothing is left to train
    # (counted, wherever the instruction would have gone: the first user turn too, though no reply follows it).
    ended = r"\"a reply failed its instruction's check \(dialogue ended there\)\": 2"
    for placement in ("system", "first_user"):
        with pytest.raises(ValueError, match=ended):
            synthesize(
                args_for(tmp_path, data, resample=0, overwrite=True, placement=placement, **kw),
                FrenchOnSecondTry(),
            )
    # Greedy sampling would give the same reply again, so it is not re-sampled.
    replier = FrenchOnSecondTry()
    with pytest.raises(ValueError, match=ended):
        synthesize(args_for(tmp_path, data, overwrite=True, **{**kw, "temperature": 0.0}), replier)
    assert len(replier.calls) == 1


def test_a_prompt_outgrowing_the_context_ends_only_its_dialogue(tmp_path):
    script = {(0, 3): Reply("", finished=False, overflow=True)}
    stats = synthesize(args_for(tmp_path, chats_file(tmp_path, n=2, turns=3)), ScriptedReplier(script))
    s = stats["gatt_synthesis"]
    assert s["dialogues_ended_early"] == {
        "the prompt outgrew the sampler's context (dialogue ended there)": 1
    }
    assert s["samples"] == 1 + 3  # chat 0: reply 2 only; chat 1 (4 turns): replies 2, 3, 4


def test_nothing_to_train_is_an_error_not_an_empty_dataset(tmp_path):
    with pytest.raises(ValueError, match="no GAtt training sample"):
        synthesize(
            args_for(tmp_path, chats_file(tmp_path, n=1, turns=3)), ScriptedReplier({2: Reply("", True)})
        )


def test_bad_records_raise_with_the_line_or_are_counted(tmp_path):
    data = chats_file(tmp_path, n=3)
    with data.open("a") as f:
        f.write('{"messages": [{"role": "bot", "content": "x"}]}\n')
    with pytest.raises(ValueError, match=r"chats.jsonl:4: field 'messages\[0\].role'"):
        synthesize(args_for(tmp_path, data), ScriptedReplier())
    stats = synthesize(args_for(tmp_path, data, on_error="skip"), ScriptedReplier())
    assert stats["gatt_synthesis"]["dialogues_dropped"] == {"invalid value": 1}
    assert stats["gatt_synthesis"]["dialogues_read"] == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--output", "o"], "--data_files is required"),
        (["--data_files", "c.jsonl", "--output", "o"], "give exactly one sampler"),
        (["--data_files", "c.jsonl", "--output", "o", "--api_base", "http://x/v1"], "--api_model"),
        (
            ["--data_files", "c.jsonl", "--output", "o", "--api_base", "http://x/v1", "--api_model", "m"],
            "--tokenizer and --template",
        ),
        (["--data_files", "c.jsonl", "--output", "o", "--model", "nowhere"], "no such directory"),
        (["--data_files", "c.jsonl", "--output", "o", "--model", ".", "--dataset", "tldr"], "single-turn"),
        (
            ["--data_files", "c.jsonl", "--output", "o", "--model", ".", "--dataset", "tldr_comparisons"],
            "a preference source",
        ),
    ],
)
def test_bad_arguments_are_one_clear_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("llm-train gatt-synthesize: error:") and message in err


def test_an_existing_output_is_not_overwritten(tmp_path):
    """A folder of the user's files is never replaced; our own output only with --overwrite."""
    data = chats_file(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(UserError, match="did not write"):
            synthesize(args_for(tmp_path, data, overwrite=overwrite), ScriptedReplier())
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
    (tmp_path / "out" / "keep.txt").unlink()
    synthesize(args_for(tmp_path, data), ScriptedReplier())
    with pytest.raises(FileExistsError, match="--overwrite"):
        synthesize(args_for(tmp_path, data, seed=1), ScriptedReplier())
    stats = synthesize(args_for(tmp_path, data, seed=1, overwrite=True), ScriptedReplier())
    assert stats["gatt_synthesis"]["options"]["seed"] == 1
    with pytest.raises(UserError, match="holds the input"):
        synthesize(args_for(tmp_path, data, output=str(data.parent), overwrite=True), ScriptedReplier())


class _Scripted(LogitsProcessor):
    """Makes a random model write ``tokens`` and close its turn, as a trained one would."""

    def __init__(self, prompt_length: int, tokens: list[int]):
        self.prompt_length, self.tokens = prompt_length, tokens

    def __call__(self, input_ids, scores):
        step = min(input_ids.shape[1] - self.prompt_length, len(self.tokens) - 1)
        scores = torch.full_like(scores, -float("inf"))
        scores[:, self.tokens[step]] = 0.0
        return scores


def test_end_to_end_with_a_local_checkpoint(checkpoint, tmp_path, capsys, monkeypatch):
    tok = build_tokenizer("bytelevel")
    script = tok("ok then", add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]
    original = LlamaForCausalLM.generate

    def ends_its_turns(self, **kwargs):
        processor = _Scripted(kwargs["input_ids"].shape[1], script)
        return original(self, logits_processor=LogitsProcessorList([processor]), **kwargs)

    monkeypatch.setattr(LlamaForCausalLM, "generate", ends_its_turns)
    data, out = chats_file(tmp_path, n=3), tmp_path / "o"
    argv = ["--data_files", str(data), "--model", str(checkpoint), "--output", str(out), "--max_turns", "2"]
    assert main([*argv, "--max_new_tokens", "6", "--temperature", "0", "--check_replies", "false"]) == 0
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    s = stats["gatt_synthesis"]
    assert s["replies_sampled"] == 6 and s["sampler"] == f"model {checkpoint}" and s["samples"] == 3
    assert s["dialogues_ended_early"] == {} and s["dialogues_used"] == 3
    assert "3 GAtt samples" in capsys.readouterr().out
    rows = datasets.load_from_disk(str(tmp_path / "o"))["train"]
    for row in rows:
        trained = [t for t, label in zip(row["input_ids"], row["labels"]) if label != -100]
        assert tok.decode(trained) == "ok then<|im_end|>"


# ── the repliers ─────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def tiny():
    """A tiny random Llama whose greedy output depends on its input (weights scaled up: at init scale a
    random model writes the same token whatever it is shown, which would make batching tests vacuous)."""
    tok = build_tokenizer("bytelevel")
    model = build_llama(tok, max_position_embeddings=96)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(20 if p.dim() > 1 else 1)
    return model, Encoder(tok, "chatml")


def test_batched_greedy_replies_equal_one_at_a_time(tiny):
    model, encoder = tiny
    convs = [
        Conversation((Message("user", "Hi"),)),
        Conversation((Message("system", "Be brief."), Message("user", "What is the weather like today?"))),
        Conversation((Message("user", "a"), Message("assistant", "b"), Message("user", "c d e"))),
    ]
    replier = LocalReplier(model, encoder, Sampling(max_new_tokens=8), batch_size=3)
    model.train()  # as inside a Trainer: generation runs in eval mode, and training mode comes back
    together = replier(convs)
    assert model.training
    assert len({r.text for r in together}) == 3 and all(r.text for r in together)  # the test can fail
    alone = [replier([c])[0] for c in convs]
    assert [r.text for r in together] == [r.text for r in alone]


def test_overlong_prompts_lose_middle_exchanges_but_keep_the_first(tiny):
    model, encoder = tiny
    messages = [Message("system", "Rule: French.")]
    for t in range(8):
        messages += [Message("user", f"question {t}"), Message("assistant", f"answer {t}")]
    conv = Conversation((*messages, Message("user", "last")))
    replier = LocalReplier(model, encoder, Sampling(max_new_tokens=8))
    ids, dropped = replier.prompt(conv)
    assert dropped > 0 and len(ids) + 8 <= 96
    text = encoder.tokenizer.decode(ids)
    assert "Rule: French." in text and "question 0" in text and "last" in text and "question 1" not in text
    assert replier([conv])[0].dropped_turns == dropped
    # A prompt that cannot fit even shortened gets no reply; the others of the call still do.
    huge = Conversation((Message("system", "rule " * 200), Message("user", "hi")))
    small = Conversation((Message("user", "hi"),))
    replies = replier([huge, small])
    assert replies[0].overflow and not replies[0].finished and replies[0].text == ""
    assert not replies[1].overflow
    assert drop_oldest_exchange(Conversation((Message("user", "a"), Message("user", "b")))) is None


def test_replies_stop_at_the_user_turn(tiny):
    model, encoder = tiny
    replier = LocalReplier(model, encoder)
    stops = replier.stops(Conversation((Message("user", "x"),)))
    assert "<|im_end|>" in stops and "<|im_start|>user" in stops


class _FakeOpenAI(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, self.headers.get("Authorization"), body))
        if body["messages"][-1]["content"] == "fail":
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b'{"error": "bad request"}')
            return
        last = body["messages"][-1]["content"]
        answer = {"choices": [{"message": {"content": f" echo {last} "}, "finish_reason": "stop"}]}
        if last == "number":  # a broken server: the content is not text
            answer["choices"][0]["message"]["content"] = 5
        if last == "long":
            answer["choices"][0]["finish_reason"] = "length"
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_openai_compatible_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1"
        replier = OpenAIReplier(url, "big-model", api_key="k", sampling=Sampling(16, 0.7, 0.9), retries=0)
        card = Character("Mira", persona="A keeper.", user_name="Sam")
        convs = [
            Conversation((Message("system", "Answer in French."), Message("user", "hi"))),
            Conversation((Message("user", "long"),), card),
        ]
        replies = replier(convs)
        assert [(r.text, r.finished) for r in replies] == [("echo hi", True), ("echo long", False)]
        path, auth, body = _FakeOpenAI.seen[0]
        assert path == "/v1/chat/completions" and auth == "Bearer k"
        assert body["model"] == "big-model" and body["max_tokens"] == 16 and body["temperature"] == 0.7
        systems = [b["messages"][0] for _, _, b in _FakeOpenAI.seen]
        assert {"role": "system", "content": "Answer in French."} in systems
        assert any(card_system_text(card) == s["content"] for s in systems)
        with pytest.raises(ServiceError, match="HTTP 400: .*bad request"):
            replier([Conversation((Message("user", "fail"),))])
        with pytest.raises(ServiceError, match="content is a int, not text|not a chat-completions answer"):
            replier([Conversation((Message("user", "number"),))])
    finally:
        server.shutdown()
    with pytest.raises(ServiceError, match="cannot reach"):
        OpenAIReplier(url, "m", retries=0, timeout=2)([Conversation((Message("user", "x"),))])


def test_sampling_options_are_checked():
    for kwargs in ({"max_new_tokens": 0}, {"temperature": -1.0}, {"top_p": 0.0}):
        with pytest.raises(ValueError):
            Sampling(**kwargs)


# ── the persistence suite's train families as instructions (make demo-persistence) ──────────────────


def suite_run(tmp_path, **kw):
    from llm.eval.suite import suite_checks

    replier = ObeyingReplier(suite_checks("train"))
    data = chats_file(tmp_path, n=len(suite_checks("train")), turns=4)
    args = args_for(tmp_path, data, instructions="suite:train", check_replies=True, max_turns=4, **kw)
    stats = synthesize(args, replier)
    records = [json.loads(line) for line in (tmp_path / "out" / "gatt.jsonl").open()]
    return replier, stats, records


def test_suite_instructions_are_train_families_only_and_never_held_out_ones(tmp_path):
    from llm.eval.suite import suite_checks, suite_families

    replier, stats, records = suite_run(tmp_path)
    train, held_out = suite_families()
    s = stats["gatt_synthesis"]
    assert set(s["families"]) == set(train) and s["replies_failing_first_try"] == 0
    assert {f for r in records for f in r["gatt"]["families"]} == set(train)
    # No held-out instruction, card or probe answer appears in any training row or any sampling prompt.
    rows = (tmp_path / "out" / "gatt.jsonl").read_text()
    prompts = json.dumps([c.to_dict() for batch in replier.calls for c in batch])
    for check in suite_checks("held_out"):
        assert check.instruction not in rows and check.instruction not in prompts
    for check in suite_checks("train"):  # every train check was given to a dialogue
        given = check.instruction if check.character is None else check.character.name
        assert given in rows


def test_suite_probes_are_asked_at_trained_turns_and_checked(tmp_path):
    from llm.eval.suite import suite_checks

    _, _, records = suite_run(tmp_path, probe_share=0.5, per_dialogue=True)
    probes = {c.probe for c in suite_checks("train")}
    for r in records:
        users = [m["content"] for m in r["messages"] if m["role"] == "user"]
        assert users[0] not in probes  # the first turn (--skip_first 1) is never a probe
        assert any(u in probes for u in users[1:])


def test_per_dialogue_samples_train_every_reply_after_the_first(tmp_path):
    _, stats, records = suite_run(tmp_path, per_dialogue=True)
    assert len(records) == stats["gatt_synthesis"]["dialogues_used"]
    for r in records:
        flags = [m.get("train") for m in r["messages"] if m["role"] == "assistant"]
        assert flags == [False, True, True, True]
        # The instruction once, at the start: the system message, or a card in the character slot.
        assert r["messages"][0]["role"] == "system" or (
            "character" in r and r["messages"][0]["role"] == "user"
        )


def test_held_out_suite_splits_cannot_be_trained_on(tmp_path):
    for spec in ("suite", "suite:held_out", "suite:all"):
        with pytest.raises(UserError, match="suite:train only"):
            synthesize(args_for(tmp_path, chats_file(tmp_path), instructions=spec), ScriptedReplier())


def test_unfinished_replies_end_the_dialogue_or_are_cut_at_their_last_sentence(tmp_path):
    long = Reply("Tea is lovely. I drink it daily. And when it rains I", finished=False)
    data = chats_file(tmp_path, n=2, turns=3)
    ended = synthesize(args_for(tmp_path, data, max_turns=3), ScriptedReplier({3: long}))["gatt_synthesis"]
    assert ended["dialogues_ended_early"] == {"a reply ran into --max_new_tokens (dialogue ended there)": 2}
    out = tmp_path / "cut"
    stats = synthesize(
        args_for(tmp_path, data, max_turns=3, unfinished="cut", output=str(out)), ScriptedReplier({3: long})
    )["gatt_synthesis"]
    assert stats["dialogues_ended_early"] == {} and stats["replies_cut_at_sentence"] == 2
    records = [json.loads(line) for line in (out / "gatt.jsonl").open()]
    replies = {m["content"] for r in records for m in r["messages"] if m["role"] == "assistant"}
    assert "Tea is lovely. I drink it daily." in replies and long.text not in replies
