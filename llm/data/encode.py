"""Rendered conversations → ``Sample(input_ids, labels)``: exact loss masks, injection-safe, batched.

How it works (and why it cannot drift):

1. The template renders segments that already know their role (see :mod:`llm.data.templates`).
2. The masking policy marks each segment trained or not.
3. Segments become *pieces*: each control token is one piece (its id, looked up once); consecutive text
   segments with the same trained flag are one piece.
4. All text pieces of all conversations in a batch go through the tokenizer's Rust backend in one
   ``encode_batch`` call; labels are the ids of trained pieces and ``-100`` elsewhere.

A worked example (``chatml``, default policy: every assistant turn)::

    <|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\nHello!<|im_end|>\\n
    pieces   [<|im_start|>] [user\\nHi] [<|im_end|>] [\\n] [<|im_start|>] [assistant\\n] [Hello!] [<|im_end|>] [\\n]
    trained       -             -           -         -         -             -           yes        yes       -

so labels are ``-100`` everywhere except the ids of ``Hello!`` and of ``<|im_end|>``.

Why the ids equal what the tokenizer gives for the whole rendered text: the tokenizer itself splits text
at added (control) tokens before any merge, so cutting at control tokens changes nothing. Inside a run of
text, a cut at a trained/untrained boundary (``assistant\\n`` | ``Hello!``) changes nothing when no merge
crosses it; where one would (content that starts with whitespace after a header that ends with it), we
keep the cut on purpose: at inference the prompt is tokenized on its own and the reply's tokens follow
it, so the cut is what the model will see when it generates. Two details keep pieces faithful to the
whole text: the first piece of the text is tokenized as the start of a text, and a piece that continues a
run is tokenized without the prefix space a SentencePiece-style (Metaspace) tokenizer adds at a start.

Injection safety: text pieces are encoded by a copy of the tokenizer that does not recognise special
tokens or the template's control tokens, so ``<|im_end|>`` written inside a message is plain text; the
only control tokens in a sample are those the template wrote.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from llm.data.conversation import Conversation
from llm.data.templates import ChatTemplate, Rendered, get_template
from llm.errors import UserError

IGNORE_INDEX = -100
MaskPolicy = Literal["assistant", "last", "all", "none"]
MASK_POLICIES: tuple[str, ...] = ("assistant", "last", "all", "none")


@dataclass(frozen=True)
class Sample:
    """One tokenized conversation. ``labels[i]`` is ``input_ids[i]`` where trained, else ``-100``."""

    input_ids: list[int]
    labels: list[int]

    @property
    def num_trained(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE_INDEX)

    def __len__(self) -> int:
        return len(self.input_ids)


def trained_flags(rendered: Rendered, policy: MaskPolicy = "assistant") -> list[bool]:
    """Per segment: is it trained under ``policy``?

    - ``assistant``: content and end-of-turn of every assistant message (the default for chat SFT);
    - ``last``: only the last assistant message (GAtt, preference prompts);
    - ``all``: every token (pre-training on rendered chats);
    - ``none``: nothing (prompts, evaluation).

    A message's ``train`` flag overrides the policy for that message (True: train its content and end of
    turn even if it is a user turn; False: never). System prompts are never trained.
    """
    if policy not in MASK_POLICIES:
        raise UserError(f"unknown mask policy {policy!r}; choose one of {', '.join(MASK_POLICIES)}")
    if policy == "all":
        return [True] * len(rendered.segments)
    messages = rendered.conversation.messages
    assistant_ids = [i for i, m in enumerate(messages) if m.role == "assistant"]
    last = assistant_ids[-1] if assistant_ids else None

    def selected(i: int) -> bool:
        m = messages[i]
        if m.role == "system":
            return False
        if m.train is not None:
            return m.train
        if policy == "assistant":
            return m.role == "assistant"
        if policy == "last":
            return i == last
        return False

    chosen = {i: selected(i) for i in range(len(messages))}
    return [s.trainable and s.message is not None and chosen[s.message] for s in rendered.segments]


# Piece kinds: where a text piece sits decides how a whole-text tokenization would treat its start.
_AT_TEXT_START, _AFTER_CONTROL, _CONTINUES_RUN = 0, 1, 2


class Encoder:
    """Turns conversations into samples for one tokenizer and one template.

    >>> from llm.data.conversation import Conversation, Message
    >>> from llm.data.tokenizer import build_tokenizer
    >>> enc = Encoder(build_tokenizer("bytelevel"), "chatml")
    >>> sample = enc.encode(Conversation((Message("user", "Hi"), Message("assistant", "Hello!"))))
    >>> enc.tokenizer.decode([t for t, label in zip(sample.input_ids, sample.labels) if label != -100])
    'Hello!<|im_end|>'

    ``encode_batch`` encodes many conversations with one tokenizer call per piece kind.

    Raises ``ValueError`` at construction if a control token the template needs is not a single token of
    the tokenizer (add it, and resize the model's embeddings; ``llm-train sft`` does both).
    """

    def __init__(self, tokenizer: Any, template: str | ChatTemplate, mask: MaskPolicy = "assistant"):
        if not getattr(tokenizer, "is_fast", False):
            raise UserError("the encoder needs a fast (Rust) tokenizer; load it with use_fast=True")
        if isinstance(template, str):
            template = get_template(template, tokenizer)
        elif template.name != "tokenizer":
            template = template.for_tokenizer(tokenizer)
        else:
            template = template.for_tokenizer(tokenizer) if template.chat_template is None else template
        if mask not in MASK_POLICIES:
            raise UserError(f"unknown mask policy {mask!r}; choose one of {', '.join(MASK_POLICIES)}")
        self.tokenizer = tokenizer
        self.template = template
        self.mask: MaskPolicy = mask
        self.control_ids = _control_ids(tokenizer, template)
        self._backends = _plain_backends(tokenizer.backend_tokenizer, template.controls)

    def render(self, conv: Conversation) -> Rendered:
        return self.template.render(conv)

    def encode(self, conv: Conversation | Rendered) -> Sample:
        return self.encode_batch([conv])[0]

    def encode_batch(self, convs: Sequence[Conversation | Rendered]) -> list[Sample]:
        rendered = [c if isinstance(c, Rendered) else self.template.render(c) for c in convs]
        pieces = [_pieces(r, trained_flags(r, self.mask)) for r in rendered]
        # One backend call per piece kind, across all conversations of the batch.
        texts: list[list[str]] = [[], [], []]
        for conv_pieces in pieces:
            for text, kind, _ in conv_pieces:
                if kind is not None:
                    texts[kind].append(text)
        encoded = [_encode_ids(self._backends[k], texts[k]) for k in range(3)]
        cursor = [0, 0, 0]
        samples = []
        for conv_pieces in pieces:
            input_ids: list[int] = []
            labels: list[int] = []
            for text, kind, trained in conv_pieces:
                if kind is None:
                    ids = [self.control_ids[text]]
                else:
                    ids = encoded[kind][cursor[kind]]
                    cursor[kind] += 1
                input_ids.extend(ids)
                labels.extend(ids if trained else [IGNORE_INDEX] * len(ids))
            samples.append(Sample(input_ids=input_ids, labels=labels))
        return samples

    def encode_prompt(self, conv: Conversation) -> list[int]:
        """Ids of the inference prompt: the conversation plus the generation prompt."""
        rendered = self.template.render(conv, add_generation_prompt=True)
        pieces = _pieces(rendered, trained_flags(rendered, self.mask))
        ids: list[int] = []
        for text, kind, _ in pieces:
            ids.extend(
                [self.control_ids[text]] if kind is None else _encode_ids(self._backends[kind], [text])[0]
            )
        return ids


def _split_keys(rendered: Rendered) -> list[int | None]:
    """Which piece each segment belongs to: the message index for the content and end of turn of assistant
    turns (and of turns a ``train=True`` override marks), ``None`` for everything else.

    The cut points do not depend on the masking policy, so the policy never changes ``input_ids``, and an
    inference prompt's ids are a prefix of the training ids.
    """
    messages = rendered.conversation.messages
    keys = []
    for s in rendered.segments:
        own = s.trainable and s.message is not None
        m = messages[s.message] if own else None
        keys.append(s.message if m is not None and (m.role == "assistant" or m.train) else None)
    return keys


def _pieces(rendered: Rendered, trained: list[bool]) -> list[tuple[str, int | None, bool]]:
    """(text, kind, trained) per piece; kind ``None`` marks a control token."""
    out: list[tuple[str, int | None, bool]] = []
    texts: list[str] = []
    key: int | None = None
    flag, kind, position = False, _AT_TEXT_START, 0

    def flush() -> None:
        if texts:
            out.append(("".join(texts), kind, flag))
            texts.clear()

    for seg, seg_key, seg_flag in zip(rendered.segments, _split_keys(rendered), trained):
        if seg.control:
            flush()
            out.append((seg.text, None, seg_flag))
        elif texts and seg_key == key:
            texts.append(seg.text)
            flag = flag or seg_flag
        else:
            flush()
            if position == 0:
                kind = _AT_TEXT_START
            elif out and out[-1][1] is None:
                kind = _AFTER_CONTROL
            else:
                kind = _CONTINUES_RUN
            texts.append(seg.text)
            key, flag = seg_key, seg_flag
        position += len(seg.text)
    flush()
    return out


def _encode_ids(backend: Any, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    fast = getattr(backend, "encode_batch_fast", None)  # skips offsets: we never need them
    encodings = (fast or backend.encode_batch)(texts, add_special_tokens=False)
    return [e.ids for e in encodings]


def _control_ids(tokenizer: Any, template: ChatTemplate) -> dict[str, int]:
    """Each control token's id; it must be one token that the tokenizer itself produces for that text."""
    ids = {}
    for token in sorted(template.controls):
        encoded = tokenizer(token, add_special_tokens=False)["input_ids"]
        if len(encoded) != 1:
            raise UserError(
                f"template {template.name!r} needs {token!r} as a single token, but this tokenizer splits it "
                f"into {len(encoded)} tokens; add it as a special token (tokenizer.add_special_tokens) and "
                "resize the model's embeddings — `llm-train sft` does both"
            )
        ids[token] = encoded[0]
    return ids


def _plain_backends(backend: Any, controls: Iterable[str]) -> tuple[Any, Any, Any]:
    """Three copies of the Rust tokenizer for text pieces, by where the piece starts.

    All three ignore special tokens and the template's control tokens (injection safety).
    - at the text start: otherwise unchanged;
    - after a control token: a Metaspace ``prepend_scheme="first"`` adds no "▁" (the whole-text
      tokenizer adds it only at offset 0);
    - continuing a run of text: no prefix space at all (Metaspace, ByteLevel ``add_prefix_space``, a
      ``Prepend`` normalizer), since the whole-text tokenizer would be mid-run here.
    """
    from tokenizers import Tokenizer

    spec = json.loads(backend.to_str())
    controls = set(controls)
    spec["added_tokens"] = [
        t for t in spec.get("added_tokens", []) if not t.get("special") and t["content"] not in controls
    ]
    start = Tokenizer.from_str(json.dumps(spec))

    after_control = copy.deepcopy(spec)
    changed_after = _walk(after_control, _no_first_prepend)
    continues = copy.deepcopy(spec)
    changed_cont = _walk(continues, _no_prefix_space)
    return (
        start,
        Tokenizer.from_str(json.dumps(after_control)) if changed_after else start,
        Tokenizer.from_str(json.dumps(continues)) if changed_cont else start,
    )


def _walk(spec: dict, edit: Any) -> bool:
    """Apply ``edit`` to every component dict under normalizer / pre_tokenizer; True if any changed."""
    changed = False
    for key in ("normalizer", "pre_tokenizer"):
        node = spec.get(key)
        if node is None:
            continue
        new, c = _edit_node(node, edit)
        spec[key] = new
        changed |= c
    return changed


def _edit_node(node: dict, edit: Any) -> tuple[dict | None, bool]:
    changed = False
    for list_key in ("normalizers", "pretokenizers"):
        if list_key in node:
            kept = []
            for child in node[list_key]:
                new, c = _edit_node(child, edit)
                changed |= c
                if new is not None:
                    kept.append(new)
            node[list_key] = kept
    new, c = edit(node)
    return new, changed or c


def _no_first_prepend(node: dict) -> tuple[dict | None, bool]:
    if node.get("type") == "Metaspace" and node.get("prepend_scheme") == "first":
        return {**node, "prepend_scheme": "never"}, True
    return node, False


def _no_prefix_space(node: dict) -> tuple[dict | None, bool]:
    kind = node.get("type")
    if kind == "Metaspace" and node.get("prepend_scheme", "always") != "never":
        return {**node, "prepend_scheme": "never"}, True
    if kind == "ByteLevel" and node.get("add_prefix_space"):
        return {**node, "add_prefix_space": False}, True
    if kind == "Prepend":
        return None, True
    return node, False
