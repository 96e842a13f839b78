"""``llm-train chat``: talk to a trained checkpoint in the terminal, through the template it was trained with.

    llm-train chat --model runs/sft
    llm-train chat --model runs/demo --character_from examples/data/pippa_sample.jsonl --index 0
    llm-train chat --model runs/sft --character card.json --user_name Sam --temperature 0.7 --seed 1
    llm-train chat --model some/hf-dir --template chatml        # a checkpoint without llm_train.json

The template comes from the checkpoint's ``llm_train.json`` (``--template`` overrides it). Every prompt is
rendered and encoded by the same code as training (``Encoder.encode_prompt``), so the model sees at
inference exactly the token layout it was trained on. A character card comes from a JSON file of
:class:`~llm.data.conversation.Character` fields (``--character``) or from a chat record of a JSON Lines
file (``--character_from FILE --index N``, e.g. PIPPA); its greeting opens the chat.

A reply stops at the template's end-of-turn token (``<|im_end|>``, ``<|eot_id|>``, ``</s>`` …) or where the
model starts writing the user's next turn (``\\nYou:``, ``USER:`` …): that text is cut, never shown.

In the chat: ``/reset`` clears the history (the greeting comes again; a ``/system`` message stays),
``/system TEXT`` sets the system message for the rest of the chat (``/system`` alone clears it), ``/quit``
or end of input ends it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from llm.data.conversation import (
    Character,
    Conversation,
    Message,
    RecordError,
    character_from_dict,
    fill_placeholders,
)
from llm.data.encode import Encoder
from llm.data.templates import TEMPLATES, ChatTemplate

PROG = "llm-train chat"
CHECKPOINT_INFO = "llm_train.json"  # written by llm-train sft next to the weights (llm.train.sft)
COMMANDS = "commands: /reset, /system TEXT, /quit"

# User-turn openings a model may write that the render of a probe does not show: Llama 2's "[INST]" without
# its "<s>", and PIPPA's "You:" when the user plays under another name.
_EXTRA_USER_MARKERS: dict[str, tuple[str, ...]] = {"llama2": ("[INST]",), "pygmalion": ("\nYou:",)}
# Private-use characters as probe contents: they never occur in a template's own text.
_PROBE_USER, _PROBE_REPLY, _PROBE_NEXT = "\ue000", "\ue001", "\ue002"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Chat with a trained checkpoint, through the template it was trained with."
    )
    p.add_argument("--model", required=True, help="checkpoint directory (weights, config, tokenizer)")
    card = p.add_mutually_exclusive_group()
    card.add_argument("--character", metavar="CARD.json", help="a JSON object with the card's fields")
    card.add_argument(
        "--character_from", metavar="FILE", help="a JSON Lines file of chat records (e.g. PIPPA)"
    )
    p.add_argument("--index", type=int, help="0-based record of --character_from (default 0)")
    p.add_argument("--user_name", help="the name you chat under (overrides the card's)")
    p.add_argument(
        "--template",
        choices=sorted(TEMPLATES),
        help="chat template (default: the checkpoint's llm_train.json)",
    )
    p.add_argument("--max_new_tokens", type=int, default=200, help="longest reply, in tokens (default 200)")
    p.add_argument(
        "--temperature", type=float, default=0.8, help="sampling temperature; 0: greedy (default 0.8)"
    )
    p.add_argument("--top_p", type=float, default=0.95, help="nucleus sampling mass (default 0.95)")
    p.add_argument("--seed", type=int, default=None, help="random seed, for reproducible replies")
    return p


# ── checkpoint, template and card ────────────────────────────────────────────────────────────────────


def template_name(model_dir: Path, override: str | None) -> str:
    """``--template`` if given, else the template the checkpoint was trained with."""
    info_path = model_dir / CHECKPOINT_INFO
    if override:
        return override
    known = ", ".join(sorted(TEMPLATES))
    if not info_path.exists():
        raise ValueError(
            f"{model_dir}: no {CHECKPOINT_INFO} (not written by llm-train sft), so the chat template is "
            f"unknown; name it with --template ({known})"
        )
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{info_path}: malformed JSON ({e.msg} at line {e.lineno})") from None
    name = info.get("template") if isinstance(info, dict) else None
    if not name:
        raise ValueError(f"{info_path}: no 'template' (a pre-training checkpoint?); name one with --template")
    return name


def read_card(path: str) -> Character:
    """A character card from a JSON file; errors name the file and the field."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"--character {path}: no such file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: malformed JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8") from None
    try:
        return character_from_dict(data, record=path)
    except RecordError as e:
        # The file is the card itself: name its fields as written there ("name", not "character.name").
        field_name = e.field.removeprefix("character.") if e.field != "character" else "<card>"
        raise RecordError(path, field_name, e.problem) from None


def card_from_records(path: str, index: int) -> Character:
    """The character card of record ``index`` (0-based) of a JSON Lines file of chat records."""
    from llm.data.sources import detect_source
    from llm.data.sources.files import read_jsonl

    if index < 0:
        raise ValueError(f"--index {index}: must be 0 or more")
    count = 0
    for i, (record_id, record) in enumerate(read_jsonl(path)):
        if i == index:
            source = detect_source(record, record_id)
            conv = source.convert(record, record_id) if source.kind == "chat" else None
            if conv is None or conv.character is None:
                raise ValueError(f"{record_id}: a {source.name} record, with no character card")
            return conv.character
        count = i + 1
    raise IndexError(f"{path}: has {count} records; --index {index} is past the end")


def load_character(args: argparse.Namespace) -> Character | None:
    if args.index is not None and not args.character_from:
        raise ValueError("--index picks a record of --character_from FILE; give that too")
    if args.character:
        card = read_card(args.character)
    elif args.character_from:
        card = card_from_records(args.character_from, args.index or 0)
    else:
        return None
    return replace(card, user_name=args.user_name) if args.user_name else card


def load_model(model_dir: Path) -> tuple[Any, Any]:
    """Model (on the GPU when there is one, in eval mode) and tokenizer from a Hugging Face directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()  # a loading bar has no place in a chat transcript
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), use_fast=True)
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype="auto")
    except OSError as e:  # transformers' messages run over many lines: keep the first
        raise OSError(f"--model {model_dir}: cannot load ({str(e).splitlines()[0]})") from None
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    return model, tokenizer


# ── where a reply ends ───────────────────────────────────────────────────────────────────────────────


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


def cut_reply(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """Generated text up to the first stop string (end of turn, a user-turn opening), and whether one came.

    >>> cut_reply("Aye, come in.</s>", ("</s>", "\\nYou:"))
    ('Aye, come in.', True)
    >>> cut_reply("Aye.\\nYou: thanks", ("</s>", "\\nYou:"))
    ('Aye.', True)
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


class ReplyStreamer(BaseStreamer):
    """Writes the reply to ``out`` as ``generate`` produces it, never past a stop string."""

    def __init__(self, tokenizer: Any, stops: tuple[str, ...], out: TextIO):
        self.tokenizer, self.stops, self.out = tokenizer, stops, out
        self.ids: list[int] = []
        self.shown = 0
        self.prompt_skipped = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_skipped:  # generate hands over the prompt first
            self.prompt_skipped = True
            return
        self.ids.extend(value.reshape(-1).tolist())
        self._show(final=False)

    def end(self) -> None:
        self._show(final=True)

    def _show(self, final: bool) -> None:
        # Decode everything so far: token-by-token decoding splits multi-byte characters and merged spaces.
        reply, stopped = cut_reply(self.tokenizer.decode(self.ids, skip_special_tokens=False), self.stops)
        if not (stopped or final):
            reply = reply[: len(reply) - undecided_tail(reply, self.stops)]
        reply = reply.lstrip()
        if len(reply) > self.shown:
            self.out.write(reply[self.shown :])
            self.out.flush()
            self.shown = len(reply)


class StopOnText(StoppingCriteria):
    """Stops generation once the generated text holds a stop string (a user turn starting, say).

    ``stops`` is one tuple for every row, or a list with each row's own tuple (in a batch of several
    conversations the user's name, and so the user-turn opening, can differ from row to row).
    """

    def __init__(self, tokenizer: Any, stops: tuple[str, ...] | list[tuple[str, ...]], prompt_length: int):
        self.tokenizer, self.stops, self.prompt_length = tokenizer, stops, prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length :], skip_special_tokens=False)
        per_row = self.stops if isinstance(self.stops, list) else [self.stops] * len(texts)
        done = [cut_reply(text, stops)[1] for text, stops in zip(texts, per_row, strict=True)]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def turn_ends(template: ChatTemplate, tokenizer: Any) -> tuple[list[str], list[int]]:
    """What ends an assistant turn: the texts (end-of-turn token, EOS) and their ids, which ``generate``
    stops on by itself (the multi-token user-turn openings need :class:`StopOnText`)."""
    ends = list(dict.fromkeys(t for t in (end_of_turn(template), tokenizer.eos_token) if t))
    ids = [tokenizer.convert_tokens_to_ids(t) for t in ends]
    return ends, [i for i in dict.fromkeys(ids) if i is not None and i != tokenizer.unk_token_id]


# ── the chat ─────────────────────────────────────────────────────────────────────────────────────────


@dataclass
class ChatSession:
    """History, system message and card of one chat, and how to generate the next reply."""

    model: Any
    encoder: Encoder
    character: Character | None = None
    user_name: str = "You"
    generate_kwargs: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    history: list[Message] = field(default_factory=list)
    stops: tuple[str, ...] = field(init=False)  # where a reply ends, as text
    end_ids: list[int] = field(init=False)  # the end-of-turn token ids

    def __post_init__(self) -> None:
        template = self.encoder.template
        ends, self.end_ids = turn_ends(template, self.encoder.tokenizer)
        self.stops = tuple(dict.fromkeys(ends + list(user_turn_markers(template, self.character))))

    @property
    def bot_name(self) -> str:
        return self.character.name if self.character else "Assistant"

    def greeting(self) -> str | None:
        """The card's greeting (placeholders filled), or None."""
        ch = self.character
        if ch is None or not ch.greeting.strip():
            return None
        return fill_placeholders(ch.greeting, ch.name, ch.user_name).strip()

    def reset(self) -> None:
        """Forget the history; the greeting is again the first assistant message."""
        greeting = self.character.greeting if self.greeting() else None
        self.history = [Message("assistant", greeting)] if greeting else []

    def conversation(self) -> Conversation:
        system = (Message("system", self.system),) if self.system else ()
        return Conversation((*system, *self.history), self.character)

    def prompt_ids(self) -> list[int]:
        """The rendered prompt's ids: history plus generation prompt, encoded as in training."""
        return self.encoder.encode_prompt(self.conversation())

    def respond(self, text: str, out: TextIO) -> str:
        """Add the user's message, stream the reply to ``out``, keep it in the history and return it."""
        self.history.append(Message("user", text))
        ids = self._prompt_within_context()
        tokenizer = self.encoder.tokenizer
        input_ids = torch.tensor([ids], device=self.model.device)
        output = self.model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            streamer=ReplyStreamer(tokenizer, self.stops, out),
            stopping_criteria=StoppingCriteriaList([StopOnText(tokenizer, self.stops, len(ids))]),
            eos_token_id=self.end_ids or None,
            pad_token_id=self.end_ids[0]
            if tokenizer.pad_token_id is None and self.end_ids
            else tokenizer.pad_token_id,
            use_cache=True,  # training checkpoints save use_cache=False; inference wants the KV cache
            **self.generate_kwargs,
        )
        generated = tokenizer.decode(output[0, len(ids) :], skip_special_tokens=False)
        reply = cut_reply(generated, self.stops)[0].strip()
        self.history.append(Message("assistant", reply))
        return reply

    def _prompt_within_context(self) -> list[int]:
        """The prompt, forgetting the oldest turns while it and the reply would outgrow the context
        (the card and the system message always stay)."""
        limit = getattr(self.model.config, "max_position_embeddings", None)
        room = self.generate_kwargs.get("max_new_tokens", 0)
        ids = self.prompt_ids()
        while limit and len(ids) + room > limit and len(self.history) > 1:
            del self.history[0]
            ids = self.prompt_ids()
        if limit and len(ids) >= limit:
            raise ValueError(f"the prompt is {len(ids)} tokens; the model's context is {limit}")
        return ids


def read_line(prompt: str, stdin: TextIO, stdout: TextIO) -> str | None:
    """One line of input after ``prompt``; None at end of input. A terminal gets line editing."""
    if stdin is sys.stdin and stdout is sys.stdout and stdin.isatty():
        try:
            return input(prompt)
        except EOFError:
            return None
    stdout.write(prompt)
    stdout.flush()
    line = stdin.readline()
    return line.rstrip("\n") if line else None


def chat_loop(session: ChatSession, stdin: TextIO, stdout: TextIO) -> None:
    def greet() -> None:
        session.reset()
        greeting = session.greeting()
        if greeting:
            print(f"{session.bot_name}: {greeting}", file=stdout)

    greet()
    while True:
        line = read_line(f"{session.user_name}: ", stdin, stdout)
        if line is None:
            print(file=stdout)
            return
        text = line.strip()
        command, _, rest = text.partition(" ")
        if not text:
            continue
        if command == "/quit":
            return
        if command == "/reset":
            print("(history cleared)", file=stdout)
            greet()
        elif command == "/system":
            session.system = rest.strip() or None
            print("(system message set)" if session.system else "(system message cleared)", file=stdout)
        elif command.startswith("/"):
            print(f"unknown command {command}; {COMMANDS}", file=stdout)
        else:
            stdout.write(f"{session.bot_name}: ")
            stdout.flush()
            session.respond(text, stdout)
            print(file=stdout)


def main(argv: list[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    try:
        model_dir = Path(args.model)
        if not model_dir.is_dir():
            raise FileNotFoundError(f"--model {model_dir}: no such directory")
        if args.max_new_tokens < 1:
            raise ValueError(f"--max_new_tokens {args.max_new_tokens}: must be 1 or more")
        # Everything cheap is checked before the model loads.
        name = template_name(model_dir, args.template)
        character = load_character(args)
        model, tokenizer = load_model(model_dir)
        if args.seed is not None:
            from transformers import set_seed

            set_seed(args.seed)
        sampling = {"do_sample": args.temperature > 0, "max_new_tokens": args.max_new_tokens}
        if args.temperature > 0:
            sampling.update(temperature=args.temperature, top_p=args.top_p)
        session = ChatSession(
            model,
            Encoder(tokenizer, name),
            character,
            user_name=character.user_name if character else args.user_name or "You",
            generate_kwargs=sampling,
        )
        print(f"Chatting with {session.bot_name} (template {name}); {COMMANDS}", file=stdout)
        chat_loop(session, stdin, stdout)
    except (ValueError, OSError, IndexError) as e:  # bad input: one clear line, no traceback
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=stdout)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
