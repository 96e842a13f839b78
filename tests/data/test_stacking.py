import random

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from llm.data.conversation import Character, Conversation, Message
from llm.data.encode import IGNORE_INDEX, Encoder, Sample
from llm.data.samples import PIPPA_SAMPLE as SAMPLE
from llm.data.sources import pippa
from llm.data.sources.files import read_records
from llm.data.stacking import WindowStats, pack, pack_best_fit_decreasing, windows
from llm.data.tokenizer import build_tokenizer
from llm.models.tiny import build_llama
from tests.helpers.losses import separate_loss


def reference_bfd(lengths, capacity):
    """Best-fit decreasing, the obvious quadratic way."""
    bins, free = [], []
    for i in sorted(range(len(lengths)), key=lambda k: -lengths[k]):
        fitting = [b for b in range(len(bins)) if free[b] >= lengths[i]]
        if fitting:
            b = min(fitting, key=lambda b: (free[b], -b))  # least free space; newest bin on ties
            bins[b].append(i)
            free[b] -= lengths[i]
        else:
            bins.append([i])
            free.append(capacity - lengths[i])
    return bins


@given(lengths=st.lists(st.integers(1, 300), max_size=120), capacity=st.integers(300, 700))
def test_bfd_places_every_item_once_within_capacity(lengths, capacity):
    bins = pack_best_fit_decreasing(lengths, capacity)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= capacity for b in bins)
    # Same number of bins and the same fill levels as the textbook algorithm.
    ref = reference_bfd(lengths, capacity)
    assert len(bins) == len(ref)
    assert sorted(sum(lengths[i] for i in b) for b in bins) == sorted(sum(lengths[i] for i in b) for b in ref)


def test_bfd_rejects_oversize_items():
    with pytest.raises(ValueError, match="item 1 has length 9 > capacity 8"):
        pack_best_fit_decreasing([3, 9], 8)


def test_pack_layout_and_determinism():
    a = Sample([10, 11, 12], [IGNORE_INDEX, 11, 12])
    b = Sample([20, 21], [20, 21])
    rows, efficiency = pack([a, b], sources=[0, 1], max_length=8, seed=3)
    assert len(rows) == 1
    row = rows[0]
    assert row.input_ids == [10, 11, 12, 20, 21]
    assert row.labels == [IGNORE_INDEX, 11, 12, IGNORE_INDEX, 21]  # b0 is never predicted from a2
    assert row.position_ids == [0, 1, 2, 0, 1]
    assert row.sources == [0, 1]
    assert efficiency == 5 / 8
    many = [Sample([1] * n, [1] * n) for n in range(1, 40)]
    assert pack(many, list(range(39)), 64, seed=1) == pack(many, list(range(39)), 64, seed=1)


@pytest.fixture(scope="module")
def long_chats():
    convs = [pippa.to_conversation(r, rid) for rid, r in read_records(SAMPLE)]
    return sorted(convs, key=lambda c: -sum(len(m.content) for m in c.messages))[:4]


def trained_ids(sample):
    return [t for t, lab in zip(sample.input_ids, sample.labels, strict=True) if lab != IGNORE_INDEX]


@pytest.mark.parametrize(("template", "kind"), [("pygmalion", "metaspace"), ("chatml", "bytelevel")])
def test_windows_train_every_reply_exactly_once(long_chats, template, kind):
    tok = build_tokenizer(kind)
    enc = Encoder(tok, template)
    for conv in long_chats:
        stats = WindowStats()
        pieces = windows(conv, enc, max_length=1024, context_turns=2, stats=stats)
        assert stats.truncated == 0 and stats.chats_split == 1 and len(pieces) > 1
        assert all(len(p) <= 1024 for p in pieces)
        # The concatenated trained tokens of the windows are exactly those of the whole chat.
        assert [t for p in pieces for t in trained_ids(p)] == trained_ids(enc.encode(conv))
        # Every window starts with the character card.
        card = (
            f"{conv.character.name}'s Persona"
            if template == "pygmalion"
            else f"You are {conv.character.name}."
        )
        for p in pieces:
            assert card in tok.backend_tokenizer.decode(p.input_ids[:400], skip_special_tokens=False)


def test_windows_carry_untrained_context():
    tok = build_tokenizer("bytelevel")
    enc = Encoder(tok, "chatml")
    turns = []
    for i in range(12):
        turns += [
            Message("user", f"question {i} " + "word " * 20),
            Message("assistant", f"answer {i} " + "ok " * 20),
        ]
    conv = Conversation(tuple(turns), Character("Mira", persona="A keeper."))
    pieces = windows(conv, enc, max_length=300, context_turns=2)
    second = tok.backend_tokenizer.decode(pieces[1].input_ids, skip_special_tokens=False)
    trained = tok.backend_tokenizer.decode(trained_ids(pieces[1]), skip_special_tokens=False)
    first_trained_answer = trained.split("<|im_end|>")[0]
    previous = int(first_trained_answer.split()[1]) - 1
    assert f"answer {previous}" in second and f"answer {previous}" not in trained  # context, untrained


def test_single_overlong_exchange_is_truncated_and_counted():
    tok = build_tokenizer("bytelevel")
    enc = Encoder(tok, "chatml")
    conv = Conversation((Message("user", "hi"), Message("assistant", "word " * 400), Message("user", "ok")))
    stats = WindowStats()
    pieces = windows(conv, enc, max_length=128, stats=stats)
    assert stats.truncated == 1 and stats.truncated_tokens > 0
    assert stats.untrained_windows_skipped == 1  # the trailing user turn trains nothing
    assert len(pieces) == 1 and len(pieces[0]) == 128


def test_packed_row_loss_equals_token_weighted_mean_of_separate_losses():
    """Through a tiny Llama: samples in one packed row do not see each other."""
    tok = build_tokenizer("bytelevel")
    model = build_llama(tok).eval()
    enc = Encoder(tok, "chatml")
    rng = random.Random(0)
    convs = [
        Conversation(
            tuple(
                Message(
                    role,
                    " ".join(rng.choice(["sea", "light", "storm", "tea"]) for _ in range(rng.randint(2, 30))),
                )
                for role in ["user", "assistant"] * rng.randint(1, 3)
            )
        )
        for _ in range(7)
    ]
    samples = enc.encode_batch(convs)
    rows, _ = pack(samples, list(range(len(samples))), max_length=512)
    assert len(rows) < len(samples)  # something was really packed together
    expected = separate_loss(model, samples)
    with torch.no_grad():
        packed_total, packed_count = 0.0, 0
        for row in rows:
            out = model(
                input_ids=torch.tensor([row.input_ids]),
                labels=torch.tensor([row.labels]),
                position_ids=torch.tensor([row.position_ids]),
                use_cache=False,
            )
            n = sum(1 for lab in row.labels[1:] if lab != IGNORE_INDEX)
            packed_total += out.loss.item() * n
            packed_count += n
    assert packed_count == sum(1 for smp in samples for lab in smp.labels[1:] if lab != IGNORE_INDEX)
    assert abs(packed_total / packed_count - expected) < 1e-5
