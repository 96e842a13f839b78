"""Where a generated reply ends: the template's end-of-turn token, or the opening of a user turn the model
started to write. Found from the template itself by rendering probes, never hard-coded per format.

    >>> from llm.data.templates import get_template
    >>> end_of_turn(get_template("chatml")), user_turn_markers(get_template("chatml"))
    ('<|im_end|>', ('<|im_start|>user',))
    >>> cut_reply("Aye.\\nYou: thanks", ("</s>", "\\nYou:"))
    ('Aye.', True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import StoppingCriteria

from llm.data.conversation import Character, Conversation, Message
from llm.data.templates import ChatTemplate

# User-turn openings a model may write that the render of a probe does not show: Llama 2's "[INST]" without
# its "<s>", and PIPPA's "You:" when the user plays under another name.
_EXTRA_USER_MARKERS: dict[str, tuple[str, ...]] = {"llama2": ("[INST]",), "pygmalion": ("\nYou:",)}
# Private-use characters as probe contents: they never occur in a template's own text.
_PROBE_USER, _PROBE_REPLY, _PROBE_NEXT = "\ue000", "\ue001", "\ue002"


def end_of_turn(template: ChatTemplate) -> str | None:
    """The control token that closes an assistant turn: ``<|im_end|>``, ``<|eot_id|>``, ``</s>`` …

    It is the trainable control segment of a rendered reply, i.e. the last control token of
    ``template.trained_text``; rendering a probe finds it for the tokenizer's own Jinja template too.
    """
    probe = Conversation((Message("user", "a"), Message("assistant", "b")))
    ends = [s.text for s in template.render(probe).segments if s.control and s.trainable and s.message == 1]
    return ends[-1] if ends else None


def user_turn_markers(template: ChatTemplate, character: Character | None = None) -> tuple[str, ...]:
    """Texts that open a user turn in this template's format, as a model would write them.

    Found by rendering reply → next user turn and taking what stands between (less the end-of-turn
    token): ``<|im_start|>user`` (chatml), ``USER:`` (vicuna), ``\\nSam:`` (pygmalion, user Sam). A
    plain-text header the format writes on a new line keeps that newline, so that "Sam:" inside a
    sentence is not taken for a turn.
    """
    probe = Conversation(
        (Message("user", _PROBE_USER), Message("assistant", _PROBE_REPLY), Message("user", _PROBE_NEXT)),
        character,
    )
    text = template.render(probe).text
    between = text[text.index(_PROBE_REPLY) + 1 : text.index(_PROBE_NEXT)]
    end = end_of_turn(template)
    header = (between.replace(end, "", 1) if end else between).rstrip()
    marker = header.lstrip()
    opens_line = "\n" in header[: len(header) - len(marker)]
    if opens_line and not marker.startswith(tuple(template.controls)):
        marker = "\n" + marker  # "\nYou:", not any "You:" inside a sentence
    markers = ((marker,) if marker else ()) + _EXTRA_USER_MARKERS.get(template.name, ())
    return tuple(dict.fromkeys(markers))


def turn_ends(template: ChatTemplate, tokenizer: Any) -> tuple[list[str], list[int]]:
    """What ends an assistant turn: the texts (end-of-turn token, EOS) and their ids, which ``generate``
    stops on by itself (the multi-token user-turn openings need stop strings)."""
    ends = list(dict.fromkeys(t for t in (end_of_turn(template), tokenizer.eos_token) if t))
    ids = [tokenizer.convert_tokens_to_ids(t) for t in ends]
    return ends, [i for i in dict.fromkeys(ids) if i is not None and i != tokenizer.unk_token_id]


def cut_reply(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """Generated text up to the first stop string (end of turn, a user-turn opening), and whether one came.

    >>> cut_reply("Aye, come in.</s>", ("</s>", "\\nYou:"))
    ('Aye, come in.', True)
    >>> cut_reply("Aye, come", ("</s>",))
    ('Aye, come', False)
    """
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(found)], True) if found else (text, False)


def undecided_tail(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters may still become a stop string ("\\nYo" before "\\nYou:") or are half a
    UTF-8 character: held back from the screen until more tokens decide."""
    n = len(text) - len(text.rstrip("\ufffd"))
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), n, -1):
            if text.endswith(stop[:k]):
                n = k
                break
    return n


class StopOnText(StoppingCriteria):
    """Stops each row of a batch once its generated text holds one of *its own* stop strings.

    For rows that all share their stops, transformers' ``stop_strings`` does the same; this criterion is
    for batches whose rows differ (each conversation's user may have another name, so another user-turn
    opening). It is incremental: each step decodes only the last few tokens of each row — enough to hold
    the longest stop string even one byte per token — so a reply of ``n`` tokens costs ``O(n)``, not
    ``O(n²)``.

    >>> from llm.data.tokenizer import build_tokenizer
    >>> tok = build_tokenizer("bytelevel")
    >>> ids = tok(" Aye.\\nSam: hi", add_special_tokens=False)["input_ids"]
    >>> StopOnText(tok, [("\\nSam:",)], prompt_length=0)(torch.tensor([ids]), None).tolist()
    [True]
    """

    def __init__(self, tokenizer: Any, stops: Sequence[tuple[str, ...]], prompt_length: int):
        self.tokenizer, self.stops, self.prompt_length = tokenizer, list(stops), prompt_length
        longest = max((len(s.encode()) for row in self.stops for s in row), default=1)
        self.window = longest + 4  # tokens: at least one byte each, plus a partial character on each side

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        start = max(self.prompt_length, input_ids.shape[1] - self.window)
        texts = self.tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=False)
        done = [cut_reply(text, stops)[1] for text, stops in zip(texts, self.stops, strict=True)]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
