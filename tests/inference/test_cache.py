"""Each conversation's KV cache kept across turns (llm/inference/cache.py): a turn runs only its new tokens,
and every prompt id and greedy reply id is what a full prefill gives — batched, conversations of different
lengths, a probe branching off in between, a cache too small to hold everything, weights changed under it."""

from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import torch
from transformers import LlamaConfig, MistralConfig

from llm.data.conversation import Character, Conversation, Message
from llm.data.encode import Encoder
from llm.eval.checks import DEFAULT_CHECKS
from llm.eval.simulate import ListedUserTurns
from llm.inference.cache import PrefixCache, cacheable, generate
from llm.inference.repliers import LocalReplier, Sampling
from llm.models.tiny import build_llama
from llm.train.online.episodes import RoleplayEnv, run_episodes

PROBE = "What's your name, and what do you do?"


@pytest.fixture(scope="module")
def tok(tokenizers):
    return tokenizers["bytelevel"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on a busy 2-core machine: one thread is several times faster than two fighting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def varied_llama(tok, seed: int = 5):
    """A tiny random Llama (float32) whose greedy output depends on its input: at init scale a random model
    writes the same tokens whatever it is shown, which would make every comparison here vacuous."""
    model = build_llama(tok, seed=seed).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(20 if p.dim() > 1 else 1)
    return model


@pytest.fixture(scope="module")
def model(tok):
    return varied_llama(tok)  # sdpa attention


@contextmanager
def recording(model):
    """Within it, ``model.generate`` records, per call, each row's prompt ids (the unmasked ones, wherever they
    stand in the batch) and the ids it generated; the list of calls is what ``with`` gives."""
    calls, original = [], model.generate

    def generate(**kw):
        out = original(**kw)
        width = kw["input_ids"].shape[1]
        rows = [
            (ids[mask.bool()].tolist(), gen.tolist())
            for ids, mask, gen in zip(kw["input_ids"], kw["attention_mask"], out[:, width:], strict=True)
        ]
        calls.append(rows)
        return out

    model.generate = generate
    try:
        yield calls
    finally:
        del model.generate


def openings() -> list[Conversation]:
    """Three conversations of different lengths: a card, a long system prompt, nothing given."""
    card = Character("Mira", "A ship's cook who answers in riddles and loves thunderstorms.", user_name="Sam")
    return [
        Conversation((Message("user", "Hi there, who are you?"),), card),
        Conversation(
            (
                Message("system", "Always answer in French, in one short sentence. " * 3),
                Message("user", "Salut"),
            )
        ),
        Conversation((Message("user", "Tell me a long story about the sea, the wind and a small boat."),)),
    ]


def converse(replier, turns: int, probe_at: int | None) -> list[list[str]]:
    """``turns`` turns of all conversations in one call each; after turn ``probe_at`` a probe is asked of
    every conversation in a branch that is not kept. Returns every reply, probes included, in order."""
    convs, said = openings(), []
    users = ListedUserTurns.bundled(seats=3).lists
    for turn in range(turns):
        replies = replier(convs)
        said.append([r.text for r in replies])
        convs = [
            Conversation(
                (*c.messages, Message("assistant", r.text), Message("user", users[k][turn])), c.character
            )
            for k, (c, r) in enumerate(zip(convs, replies, strict=True))
        ]
        if turn == probe_at:
            branches = [Conversation((*c.messages[:-1], Message("user", PROBE)), c.character) for c in convs]
            said.append([r.text for r in replier(branches)])
    return said


def test_replies_and_ids_equal_a_full_prefill_every_turn_with_a_probe_branch_between(model, tok):
    """A plain replier keeps nothing between calls, so its turns after the probe are those of a conversation
    never probed: equal ids show the branch left the cached conversation as it was."""
    encoder, sampling = Encoder(tok, "chatml"), Sampling(max_new_tokens=8)
    with recording(model) as plain_calls:
        plain = converse(LocalReplier(model, encoder, sampling, batch_size=2), turns=3, probe_at=1)
    cache = PrefixCache()
    with recording(model) as cached_calls:
        cached = converse(
            LocalReplier(model, encoder, sampling, batch_size=2, cache=cache), turns=3, probe_at=1
        )
    assert cached == plain
    assert cached_calls == plain_calls  # every row's prompt ids and greedy reply ids, call by call
    assert any(len({len(p) for p, _ in call}) > 1 for call in plain_calls)  # batches mixed lengths
    assert len({reply for replies in plain for reply in replies}) > 6  # the model's replies differ
    # Every prompt token was either reused or run; after the first turn the history is reused, so fewer than
    # half went through the model again.
    prompt_tokens = sum(len(p) for call in plain_calls for p, _ in call)
    assert cache.reused_tokens + cache.prefilled_tokens == prompt_tokens
    assert cache.prefilled_tokens < prompt_tokens / 2


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_generate_reuses_prefixes_of_different_lengths_and_gives_the_same_ids(tok, attention):
    model = varied_llama(tok)
    model.set_attn_implementation(attention)
    torch.manual_seed(1)
    vocab, pad = len(tok), tok.pad_token_id
    rows = [torch.randint(5, vocab, (n,)).tolist() for n in (7, 31, 13)]
    cache = PrefixCache()
    for _turn in range(3):
        full, kept = (
            generate(model, rows, pad, c, max_new_tokens=6, do_sample=False, return_dict_in_generate=True,
                     output_logits=True)
            for c in (None, cache)
        )  # fmt: skip
        assert torch.equal(full.sequences[:, full.width :], kept.sequences[:, kept.width :])
        for a, b in zip(
            full.output.logits, kept.output.logits, strict=True
        ):  # every step's logits, not only argmax
            assert (a - b).abs().max() < 1e-3, (a - b).abs().max()
        assert len(cache.entries) == len(rows)  # one per conversation: each replaced the one it came from
        new = full.sequences[:, full.width :].tolist()
        rows = [
            r + g[: 2 + k] + torch.randint(5, vocab, (3 + 4 * k,)).tolist()
            for k, (r, g) in enumerate(zip(rows, new))
        ]
    assert cache.reused_tokens > cache.prefilled_tokens


def test_a_small_cap_evicts_the_least_recently_used_and_changes_no_reply(model, tok):
    encoder, sampling = Encoder(tok, "chatml"), Sampling(max_new_tokens=6)
    plain = converse(LocalReplier(model, encoder, sampling), turns=2, probe_at=None)
    cache = PrefixCache(max_tokens=300)
    assert converse(LocalReplier(model, encoder, sampling, cache=cache), turns=2, probe_at=None) == plain
    assert cache.tokens <= 300 or len(cache.entries) == 1


def test_changed_weights_drop_the_cache(tok):
    model = varied_llama(tok, seed=2)
    encoder, sampling = Encoder(tok, "chatml"), Sampling(max_new_tokens=6)
    conv = [Conversation((Message("user", "Hello, how are you today?"),))]
    cache = PrefixCache()
    cached = LocalReplier(model, encoder, sampling, cache=cache)
    first = cached(conv)
    asked = [
        Conversation((*conv[0].messages, Message("assistant", first[0].text), Message("user", "And now?")))
    ]
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)  # an optimizer step, as far as the cache can tell
    reused = cache.reused_tokens
    assert cached(asked) == LocalReplier(model, encoder, sampling)(asked)
    assert cache.reused_tokens == reused  # nothing stale was reused


def test_sliding_window_and_config_less_models_are_not_cached(tok):
    assert cacheable(SimpleNamespace(config=LlamaConfig()))
    assert not cacheable(SimpleNamespace(config=MistralConfig(sliding_window=16)))
    assert not cacheable(object())
    model = build_llama(tok, seed=2).eval()
    cache = PrefixCache()
    fallback = SimpleNamespace(
        config=MistralConfig(sliding_window=16), generate=model.generate, device=model.device
    )
    out = generate(fallback, [[5, 6, 7]], tok.pad_token_id, cache, max_new_tokens=3, do_sample=False)
    assert out.sequences.shape == (1, 6) and not cache.entries


def test_roleplay_rollouts_sample_the_same_ids_with_the_cache(tok):
    """``grpo --env roleplay``: same seed, same sampled (and so trained) ids, turn for turn."""
    policy = build_llama(tok, seed=3)
    encoder, users = Encoder(tok, "chatml"), ListedUserTurns.bundled(seats=3)
    check = next(c for c in DEFAULT_CHECKS if c.character is not None)
    runs = []
    for kv_cache in (False, True):
        torch.manual_seed(0)
        envs = [RoleplayEnv(check, users, 3, seat) for seat in range(3)]
        runs.append(run_episodes(policy, encoder, envs, 8, 1.0, kv_cache=kv_cache))
    for plain, kept in zip(*runs, strict=True):
        assert kept.ids == plain.ids and kept.turn_of == plain.turn_of and kept.replies == plain.replies


def test_gatt_synthesis_and_the_roleplay_evaluation_sample_through_a_kept_cache(
    checkpoint, tmp_path, monkeypatch
):
    from llm.commands.eval import main as eval_main
    from llm.train.gatt_synthesis import SynthesisArguments, build_replier

    replier, _, _ = build_replier(
        SynthesisArguments(data_files=["x.jsonl"], model=str(checkpoint), output="o")
    )
    assert isinstance(replier.cache, PrefixCache)
    caches = []
    original = LocalReplier.__init__

    def recording(self, *args, **kwargs):
        original(self, *args, **kwargs)
        caches.append(self.cache)

    monkeypatch.setattr(LocalReplier, "__init__", recording)
    argv = ["roleplay", "--model", str(checkpoint), "--conversations", "1", "--turns", "1", "2"]
    assert (
        eval_main([*argv, "--max_new_tokens", "3", "--progress", "false", "--output_dir", str(tmp_path)]) == 0
    )
    assert len(caches) == 1 and caches[0].reused_tokens > 0  # turn 2 reused turn 1's keys and values


def test_greedy_twins_are_generated_once_and_get_the_same_reply(model, tok):
    """An evaluation's control asks every check the same conversation: greedy replies to the same prompt are
    generated once, and every twin gets exactly the reply a replier without deduplication gives it."""
    encoder, sampling = Encoder(tok, "chatml"), Sampling(max_new_tokens=8)
    convs = openings()
    batch = [convs[0], convs[1], convs[0], convs[2], convs[0], convs[1]]
    with recording(model) as calls:
        replies = LocalReplier(model, encoder, sampling, batch_size=8)(batch)
    assert sum(len(rows) for rows in calls) == 3  # three distinct prompts
    alone = [LocalReplier(model, encoder, sampling, batch_size=1)([c])[0] for c in convs]
    assert [r.text for r in replies] == [alone[k].text for k in (0, 1, 0, 2, 0, 1)]
    sampled = LocalReplier(model, encoder, Sampling(max_new_tokens=8, temperature=1.0), batch_size=8)
    with recording(model) as calls:
        sampled(batch)
    assert sum(len(rows) for rows in calls) == 6  # sampling draws each twin on its own


def test_the_reply_repetition_penalty_counts_the_reply_never_the_prompt(model, tok):
    """With an overwhelming penalty no token repeats within a reply, yet a reply may still say the prompt's
    tokens (transformers' own penalty would forbid those: an instruction's words); 1.0 is no penalty."""
    encoder = Encoder(tok, "chatml")
    convs = openings()
    plain = LocalReplier(model, encoder, Sampling(max_new_tokens=12), batch_size=4)
    same = LocalReplier(model, encoder, Sampling(max_new_tokens=12, repetition_penalty=1.0), batch_size=4)
    assert [r.text for r in plain(convs)] == [r.text for r in same(convs)]
    strict = LocalReplier(model, encoder, Sampling(max_new_tokens=12, repetition_penalty=1e9), batch_size=4)
    with recording(model) as calls:
        strict(convs)
    for _, generated in (row for rows in calls for row in rows):
        reply = [t for t in generated if t != tok.pad_token_id]
        assert len(set(reply)) == len(reply)  # no token twice within the reply
    said_again = sum(t in set(prompt) for prompt, generated in calls[0] for t in generated)
    assert said_again > 0  # the prompt's tokens stay free to say
