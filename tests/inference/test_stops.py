"""Where a reply ends (llm/inference/stops.py): the trained end-of-turn token, the cut before the user's turn,
and the stopping criterion, incremental and per row."""

import pytest
import torch

from llm.data.conversation import Character
from llm.data.templates import get_template
from llm.data.tokenizer import build_tokenizer
from llm.inference.stops import StopOnText, cut_reply, end_of_turn, user_turn_markers


@pytest.mark.parametrize(
    "name, end",
    [("chatml", "<|im_end|>"), ("llama3", "<|eot_id|>"), ("llama2", "</s>"), ("pygmalion", "</s>")],
)
def test_end_of_turn_is_the_trained_end_token(name, end):
    template = get_template(name, build_tokenizer("bytelevel"))
    assert end_of_turn(template) == end
    assert template.trained_text("").endswith(end)


@pytest.mark.parametrize(
    "name, generated, reply",
    [
        ("pygmalion", " Aye, come in.\nSam: thanks! *sits*</s>", " Aye, come in."),
        ("pygmalion", " Aye.\nYou: thanks", " Aye."),  # PIPPA's own user name, too
        ("pygmalion", " Tell Sam: the lamp is lit.</s>", " Tell Sam: the lamp is lit."),  # not a turn
        ("vicuna", " Sure thing. USER: and now?", " Sure thing. "),
        ("chatml", "Hi<|im_start|>user\nmore", "Hi"),
        ("llama2", " Fine. [INST] next [/INST]", " Fine. "),
    ],
)
def test_reply_is_cut_before_the_users_turn(name, generated, reply):
    template = get_template(name, build_tokenizer("bytelevel"))
    stops = (end_of_turn(template), *user_turn_markers(template, Character("Mira", user_name="Sam")))
    assert cut_reply(generated, stops) == (reply, True)


def test_stopping_criterion_fires_on_a_user_turn():
    tok = build_tokenizer("bytelevel")
    prompt = tok("Mira:", add_special_tokens=False)["input_ids"]
    criterion = StopOnText(tok, [("</s>", "\nSam:")], len(prompt))
    ids = lambda text: torch.tensor([prompt + tok(text, add_special_tokens=False)["input_ids"]])  # noqa: E731
    assert not criterion(ids(" Aye.\nSa"), None).item()
    assert criterion(ids(" Aye.\nSam: hi"), None).item()


def test_stopping_criterion_is_incremental_and_per_row():
    """Each step decodes a short window, not the whole reply (linear, not quadratic, in reply length),
    and each row stops on its own user's name."""
    tok = build_tokenizer("bytelevel")
    decoded_lengths = []

    class Counting:
        def batch_decode(self, ids, **kwargs):
            decoded_lengths.append(ids.shape[1])
            return tok.batch_decode(ids, **kwargs)

    criterion = StopOnText(Counting(), [("\nSam:",), ("\nAnn:",)], prompt_length=0)
    long = tok(" word" * 400, add_special_tokens=False)["input_ids"]
    for end in range(1, len(long), 50):
        ids = torch.tensor([long[:end], long[:end]])
        assert criterion(ids, None).tolist() == [False, False]
    assert max(decoded_lengths) <= criterion.window < 20
    sam = tok(" hi\nSam: yo", add_special_tokens=False)["input_ids"]
    ann = tok(" hi\nAnn: yo", add_special_tokens=False)["input_ids"]
    width = max(len(sam), len(ann))
    rows = [long[: width - len(sam)] + sam, long[: width - len(ann)] + ann]
    assert criterion(torch.tensor(rows), None).tolist() == [True, True]
    swapped = StopOnText(tok, [("\nAnn:",), ("\nSam:",)], prompt_length=0)
    assert swapped(torch.tensor(rows), None).tolist() == [False, False]
