"""``llm-train chat``: talk to a trained checkpoint in the terminal, through the template it was trained with.

    llm-train chat --model runs/sft
    llm-train chat --model runs/demo --character_from llm/data/samples/pippa_sample.jsonl --index 0
    llm-train chat --model runs/sft --character card.json --user_name Sam --temperature 0.7 --seed 1
    llm-train chat --model some/hf-dir --template chatml        # a checkpoint without llm_train.json

The template comes from the checkpoint's ``llm_train.json`` (``--template`` overrides it). A character card
comes from a card file (``--character``: Tavern V1/V2/V3 JSON or PNG, or our own card JSON; see
:mod:`llm.data.cards`) or from a chat
record of a data file (``--character_from FILE --index N``, e.g. PIPPA); its greeting opens the chat. How a
reply is prompted, fitted to the context and stopped is :class:`llm.inference.chat.ChatSession`.

In the chat: ``/reset`` clears the history (the greeting comes again; a ``/system`` message stays),
``/system TEXT`` sets the system message for the rest of the chat (``/system`` alone clears it), ``/quit``
or end of input ends it. A message too long for the context is refused and the chat goes on; so is a line
that is not UTF-8 text.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from transformers import set_seed

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.data.cards import read_card
from llm.data.conversation import Character
from llm.data.encode import Encoder
from llm.data.sillytavern import ST_CONTEXT_HELP, ST_INSTRUCT_HELP, preset_template
from llm.data.sillytavern import label as template_label
from llm.data.sources import card_from_records
from llm.data.templates import TEMPLATES
from llm.errors import UserError
from llm.inference.chat import ChatSession, PromptTooLong
from llm.models.checkpoint import checkpoint_template, require_kind
from llm.models.loading import load_for_inference
from llm.models.resolve import resolve_model

PROG = "llm-train chat"
COMMANDS = "commands: /reset, /system TEXT, /quit"


@dataclass
class ChatArguments:
    """The options of ``llm-train chat``."""

    model: str = field(metadata={"help": "checkpoint directory (weights, config, tokenizer)"})
    character: str | None = field(
        default=None,
        metadata={"help": "a character card: Tavern V1/V2/V3 JSON or PNG, or our own card JSON"},
    )
    character_from: str | None = field(
        default=None, metadata={"help": "a chat data file (e.g. PIPPA) whose record --index gives the card"}
    )
    index: int | None = field(
        default=None, metadata={"help": "0-based record of --character_from (default 0)"}
    )
    user_name: str | None = field(
        default=None, metadata={"help": "the name you chat under (overrides the card's)"}
    )
    template: str | None = field(
        default=None,
        metadata={
            "help": "chat template (default: the checkpoint's llm_train.json)",
            "choices": sorted(TEMPLATES),
        },
    )
    st_context: str | None = field(default=None, metadata={"help": ST_CONTEXT_HELP})
    st_instruct: str | None = field(default=None, metadata={"help": ST_INSTRUCT_HELP})
    max_new_tokens: int = field(default=200, metadata={"help": "longest reply, in tokens"})
    temperature: float = field(default=0.8, metadata={"help": "sampling temperature; 0: greedy"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling mass"})
    seed: int | None = field(default=None, metadata={"help": "random seed, for reproducible replies"})

    def validate(self) -> None:
        self.model = resolve_model(self.model, "--model")
        if not Path(self.model).is_dir():
            raise FileNotFoundError(f"--model {self.model}: no such directory")
        require_kind(self.model, "causal_lm", "--model", "chat")
        if self.max_new_tokens < 1:
            raise UserError(f"--max_new_tokens {self.max_new_tokens}: must be 1 or more")
        if self.character and self.character_from:
            raise UserError("give --character (a card file) or --character_from (a record's card), not both")
        if self.index is not None and not self.character_from:
            raise UserError("--index picks a record of --character_from FILE; give that too")


def load_character(args: ChatArguments) -> Character | None:
    if args.character:
        card = read_card(args.character)
    elif args.character_from:
        card = card_from_records(args.character_from, args.index or 0)
    else:
        return None
    return replace(card, user_name=args.user_name) if args.user_name else card


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
        if "\ufffd" in text:  # stdin decodes with errors="replace": the bytes were not UTF-8
            print("(that line was not UTF-8 text; it was not sent)", file=stdout)
        elif command == "/quit":
            return
        elif command == "/reset":
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
            try:
                session.respond(text, stdout)
            except PromptTooLong as e:
                stdout.write(f"\n({e})")
            print(file=stdout)


def chat(args: ChatArguments, stdin: TextIO, stdout: TextIO) -> int:
    args.validate()
    # Everything cheap is checked before the model loads.
    model_dir = Path(args.model)
    name = checkpoint_template(model_dir, args.template or preset_template(args.st_context, args.st_instruct))
    character = load_character(args)
    model, tokenizer = load_for_inference(model_dir)
    if args.seed is not None:
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
    print(f"Chatting with {session.bot_name} (template {template_label(name)}); {COMMANDS}", file=stdout)
    chat_loop(session, stdin, stdout)
    return 0


def main(argv: list[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    if stdin is None and hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")  # a line of non-UTF-8 bytes is refused, not a crash
    return run_command(
        PROG,
        lambda: chat(
            *parse((ChatArguments,), argv_or_sys(argv), PROG), stdin or sys.stdin, stdout or sys.stdout
        ),
    )
