r"""SillyTavern presets: render a conversation exactly as SillyTavern's text-completion *instruct mode* does.

SillyTavern builds a prompt from two preset files the user picks (and exports) in its UI:

- a **context preset** (``story_string``, a Handlebars template over the card: ``{{#if description}}…``,
  plus ``example_separator`` and ``chat_start``);
- an **instruct preset** (``input_sequence`` / ``output_sequence`` / ``system_sequence`` and their
  suffixes, ``first_output_sequence``, ``last_output_sequence``, ``wrap``, ``macro``, ``names_behavior``,
  ``stop_sequence``, ``user_alignment_message``, ``skip_examples`` …).

``--st_context PRESET.json --st_instruct PRESET.json`` make the template of a run this rendering
(:func:`preset_template`); the presets travel inside the template's name (``sillytavern:{json}``), so a
checkpoint's ``llm_train.json`` carries them and ``chat`` / ``eval`` render as training did.

The prompt, top to bottom (``docs/sillytavern.md`` spells out each rule)::

    story string          Handlebars(story_string)(card), {{trim}} applied, a newline added when wrap
    example dialogue      each <START> block: example_separator line, then its lines as instruct turns
    chat_start            when the preset has one, plus a newline
    [alignment message]   user_alignment_message as a user turn when the chat opens with the character
    history               prefix [wrap \n] [Name: ]content suffix, per message
    post-history          the card's post_history_instructions as a system turn after the last user turn
    generation prompt     (last_)output_sequence [wrap \n] [Name:]

    >>> import json
    >>> from llm.data.conversation import Character, Conversation, Message
    >>> ctx = {"story_string": "<|im_start|>system\n{{#if description}}{{description}}\n{{/if}}{{trim}}<|im_end|>"}
    >>> ins = {"input_sequence": "<|im_start|>user", "output_sequence": "<|im_start|>assistant",
    ...        "input_suffix": "<|im_end|>\n", "output_suffix": "<|im_end|>\n", "stop_sequence": "<|im_end|>",
    ...        "wrap": True, "names_behavior": "none"}
    >>> presets = Presets.from_dicts(ctx, ins)
    >>> conv = Conversation((Message("user", "Hi"), Message("assistant", "Hello.")), Character("Mira", persona="A keeper."))
    >>> print("".join(p.text for p in render_parts(presets, conv)))
    <|im_start|>system
    A keeper.<|im_end|>
    <|im_start|>user
    Hi<|im_end|>
    <|im_start|>assistant
    Hello.<|im_end|>
    <BLANKLINE>
    >>> [(p.text, p.kind) for p in render_parts(presets, conv) if p.message == 1]
    [('<|im_start|>assistant\n', 'scaffold'), ('Hello.', 'content'), ('<|im_end|>', 'end'), ('\n', 'scaffold')]

What is trained (:func:`render_parts` kinds): the reply (``content``) and its stop sequence (``end``: the
preset's ``stop_sequence`` at the start of the ``output_suffix``; without a stop sequence, the whole
output suffix). Nothing else. The generation prompt is exactly the text before a reply's content, so an
inference prompt is a prefix of every training row that continues it.

**Handlebars implementation.** SillyTavern compiles the story string with handlebars.js
(``Handlebars.compile(story_string, {noEscape: true})``). The PyPI options, evaluated for this module:

- ``pybars3`` (chosen): a Handlebars compiler in pure Python (PyMeta grammar), the most used port on PyPI,
  with Handlebars' block helpers, ``else``, ``~`` whitespace control and standalone-line stripping. Its last
  release is 0.9.7 (2019) — stable rather than active — so the parity test
  (``tests/data/test_sillytavern.py``) renders every bundled preset with the official ``handlebars`` npm package
  under Node.js and requires byte equality. One known difference: it renders a block left unclosed, which
  handlebars.js refuses. It HTML-escapes ``{{value}}``; values passed as its
  ``strlist`` (its safe-string type) are not escaped, which is how ``noEscape`` is had here.
- ``pybars4``: a 2021 fork of pybars3 that removes escaping by commenting it out and changes path
  resolution; fewer users, no release since, nothing it adds is needed here.
- ``handlebars`` (handlebars.js 4.7.8 transpiled with ``js2py``): the real source, but it runs on
  ``js2py``, which is unmaintained, does not run on Python 3.12+, is slow to compile, and has a published
  sandbox escape (CVE-2024-28397).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from llm.data.conversation import Character, Conversation, Message, card_lore, with_original
from llm.errors import UserError

PREFIX = "sillytavern:"
NAMES_BEHAVIORS = ("none", "force", "always")
PartKind = Literal["scaffold", "plain", "content", "end"]


@dataclass(frozen=True)
class ContextPreset:
    """SillyTavern's context preset (``default/content/presets/context/*.json``): the fields that shape a
    prompt. Other fields (``use_stop_strings``, ``trim_sentences``, ``single_line`` …) act on replies in the
    UI and are kept out."""

    story_string: str
    example_separator: str = ""
    chat_start: str = ""
    name: str = ""


@dataclass(frozen=True)
class InstructPreset:
    """SillyTavern's instruct preset (``default/content/presets/instruct/*.json``).

    ``names_behavior``: ``none`` (never "Name: "), ``force`` (names only in group chats — none in a 1:1
    chat — and before the user's lines of the example dialogue), ``always`` (every turn). Old presets'
    ``names`` / ``names_force_groups`` are migrated as SillyTavern does (``names`` → always; else
    ``names_force_groups`` → force; else none).
    """

    input_sequence: str = ""
    output_sequence: str = ""
    system_sequence: str = ""
    input_suffix: str = ""
    output_suffix: str = ""
    system_suffix: str = ""
    first_output_sequence: str = ""
    last_output_sequence: str = ""
    stop_sequence: str = ""
    system_sequence_prefix: str = ""
    system_sequence_suffix: str = ""
    user_alignment_message: str = ""
    system_same_as_user: bool = False
    skip_examples: bool = False
    wrap: bool = True
    macro: bool = True
    names_behavior: str = "force"
    system_prompt: str = ""
    name: str = ""


# Fields that would break "the inference prompt is a prefix of the training row" (a user turn changes
# once a later turn follows): refused when set. Fields we do not list are ignored, as SillyTavern does.
_REFUSED_INSTRUCT = ("first_input_sequence", "last_input_sequence")


@dataclass(frozen=True)
class Presets:
    """A context and an instruct preset: what the ``sillytavern`` template renders with."""

    context: ContextPreset
    instruct: InstructPreset

    @classmethod
    def from_dicts(
        cls, context: Mapping[str, Any], instruct: Mapping[str, Any], where: tuple[str, str] = ("", "")
    ) -> Presets:
        """Presets from the two JSON objects; errors name the file (``where``) and the field."""
        return cls(
            _context(context, where[0] or "context preset"),
            _instruct(instruct, where[1] or "instruct preset"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"context": _as_dict(self.context), "instruct": _as_dict(self.instruct)}

    @property
    def spec(self) -> str:
        """The template name that carries these presets: ``sillytavern:{json}``."""
        return PREFIX + json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _as_dict(preset: Any) -> dict[str, Any]:
    return {f.name: getattr(preset, f.name) for f in fields(preset)}


def _checked(data: Any, where: str, preset_type: type) -> dict[str, Any]:
    """The fields ``preset_type`` knows, type-checked; others (UI settings, new releases' fields) ignored."""
    if not isinstance(data, Mapping):
        raise UserError(f"{where}: expected a JSON object, got {type(data).__name__}")
    known = {f.name: f for f in fields(preset_type)}
    out = {}
    for key, value in data.items():
        if key not in known:
            continue
        expected = bool if known[key].type in ("bool", bool) else str
        if not isinstance(value, expected):
            raise UserError(f"{where}: field '{key}': expected {expected.__name__}, got {value!r}")
        out[key] = value
    return out


def _context(data: Any, where: str) -> ContextPreset:
    values = _checked(data, where, ContextPreset)
    if "story_string" not in values:
        raise UserError(f"{where}: field 'story_string': missing (is this a context preset?)")
    story_template(values["story_string"], where)  # compiles, or says why not
    return ContextPreset(**values)


def _instruct(data: Any, where: str) -> InstructPreset:
    values = _checked(data, where, InstructPreset)
    if not any(k in data for k in ("input_sequence", "output_sequence")):
        raise UserError(f"{where}: no 'input_sequence' or 'output_sequence' (is this an instruct preset?)")
    for key in _REFUSED_INSTRUCT:
        if data.get(key):
            raise UserError(
                f"{where}: field '{key}' is not supported: it changes a user turn once a later turn follows, so "
                "no training row could hold the prompts of all its replies; leave it empty"
            )
    if "names_behavior" not in values and "names" in data:  # SillyTavern's migration of old presets
        values["names_behavior"] = (
            "always" if data.get("names") else "force" if data.get("names_force_groups") else "none"
        )
    if values.get("names_behavior", "force") not in NAMES_BEHAVIORS:
        raise UserError(
            f"{where}: field 'names_behavior': {values['names_behavior']!r} is not one of "
            f"{', '.join(NAMES_BEHAVIORS)}"
        )
    preset = InstructPreset(**values)
    stop = preset.stop_sequence
    if stop and not preset.output_suffix.startswith(stop):
        raise UserError(
            f"{where}: field 'stop_sequence': {stop!r} does not open 'output_suffix' ({preset.output_suffix!r}), "
            "so the text that ends a reply is not where the model stops; make the output suffix start with it"
        )
    return preset


def read_presets(context_path: str | Path, instruct_path: str | Path) -> Presets:
    """The two preset files (``--st_context``, ``--st_instruct``)."""
    data = []
    for flag, path in (("--st_context", context_path), ("--st_instruct", instruct_path)):
        path = Path(path)
        try:
            data.append(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise UserError(f"{flag} {path}: no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"{flag} {path}: not a JSON file ({e})") from None
    return Presets.from_dicts(
        data[0], data[1], (f"--st_context {context_path}", f"--st_instruct {instruct_path}")
    )


# The two flags, wherever a template is chosen (process / sft / dpo through DataArguments, chat, eval).
ST_CONTEXT_HELP = (
    "SillyTavern context preset JSON: render as SillyTavern does (with --st_instruct; docs/sillytavern.md)"
)
ST_INSTRUCT_HELP = "SillyTavern instruct preset JSON (with --st_context)"


def preset_template(context_path: str | None, instruct_path: str | None) -> str | None:
    """The template name for ``--st_context`` / ``--st_instruct`` (both or neither), else None."""
    if not context_path and not instruct_path:
        return None
    if not (context_path and instruct_path):
        missing = "--st_instruct" if context_path else "--st_context"
        raise UserError(f"{missing} is needed too: SillyTavern renders with a context and an instruct preset")
    return read_presets(context_path, instruct_path).spec


def is_spec(name: str) -> bool:
    """True for a ``sillytavern:{json}`` template name.

    >>> is_spec("sillytavern:{}"), is_spec("chatml")
    (True, False)
    """
    return isinstance(name, str) and name.startswith(PREFIX)


def label(name: str) -> str:
    """A template name for people: ``sillytavern (ChatML / ChatML)`` for presets, else the name itself.

    >>> label(bundled_presets("alpaca").spec), label("chatml")
    ('sillytavern (Alpaca / Alpaca)', 'chatml')
    """
    if not is_spec(name):
        return name
    presets = presets_from_spec(name)
    return f"sillytavern ({presets.context.name or '?'} / {presets.instruct.name or '?'})"


@lru_cache(maxsize=16)
def presets_from_spec(spec: str) -> Presets:
    """The presets a ``sillytavern:{json}`` template name carries."""
    try:
        data = json.loads(spec[len(PREFIX) :])
    except json.JSONDecodeError as e:
        raise UserError(f"template {spec[:40]!r}…: malformed SillyTavern presets ({e})") from None
    if not isinstance(data, dict) or not {"context", "instruct"} <= set(data):
        raise UserError('template \'sillytavern:…\' needs {"context": {...}, "instruct": {...}}')
    return Presets.from_dicts(data["context"], data["instruct"])


BUNDLED = Path(__file__).parent / "presets"
# The preset pairs SillyTavern ships (default/content/presets/{context,instruct}/), as files here: short name →
# SillyTavern's name. (SillyTavern's old "Mistral" pair became "Mistral V1", "Mistral V2 & V3" … .)
BUNDLED_PAIRS = {
    "chatml": "ChatML",
    "llama3-instruct": "Llama 3 Instruct",
    "mistral-v2-v3": "Mistral V2 & V3",
    "alpaca": "Alpaca",
}


def bundled_presets(name: str) -> Presets:
    """One of the preset pairs SillyTavern ships, bundled under ``llm/data/presets/{context,instruct}/``.

    >>> bundled_presets("chatml").instruct.stop_sequence
    '<|im_end|>'
    """
    if name not in BUNDLED_PAIRS:
        raise UserError(f"no bundled SillyTavern preset {name!r}; bundled: {', '.join(BUNDLED_PAIRS)}")
    return read_presets(BUNDLED / "context" / f"{name}.json", BUNDLED / "instruct" / f"{name}.json")


# --- Handlebars -------------------------------------------------------------------------------------------

_TRIM = re.compile(r"(?:\r?\n)*\{\{trim\}\}(?:\r?\n)*", re.IGNORECASE)
_MACRO = re.compile(r"\{\{(char|user)\}\}", re.IGNORECASE)
_NAME = re.compile(r"\{\{name\}\}", re.IGNORECASE)
# Story-string parameters SillyTavern passes (1:1 chat, no persona description in the prompt).
STORY_KEYS = ("system", "wiBefore", "loreBefore", "description", "personality", "scenario", "wiAfter",
              "loreAfter", "persona", "char", "user")  # fmt: skip


@lru_cache(maxsize=32)
def story_template(story_string: str, where: str = "story_string") -> Any:
    """The compiled Handlebars template (pybars3)."""
    from pybars import Compiler, PybarsError

    try:
        return Compiler().compile(story_string)
    except (PybarsError, Exception) as e:  # PyMeta raises its own ParseError
        raise UserError(f"{where}: field 'story_string': not a valid Handlebars template ({e})") from None


def render_story(story_string: str, params: Mapping[str, str], wrap: bool) -> str:
    """SillyTavern's story string: Handlebars without HTML escaping, ``{{trim}}`` removing itself and the
    newlines around it, leading newlines dropped, a newline added at the end when ``wrap`` (and none there).

    >>> render_story("{{#if description}}{{description}}\\n{{/if}}{{#if scenario}}S: {{scenario}}\\n{{/if}}{{trim}}",
    ...              {"description": "<b>&", "scenario": ""}, wrap=True)
    '<b>&\\n'
    """
    from pybars import strlist

    # A value as pybars' safe string is not escaped (Handlebars' noEscape); "" stays falsy for {{#if}}.
    context = {k: strlist([v]) if v else "" for k, v in params.items()}
    out = str(story_template(story_string)(context, helpers={"trim": lambda this: "{{trim}}"}))
    out = _TRIM.sub("", out).lstrip("\n")
    if out and not out.endswith("\n") and wrap:
        out += "\n"
    return out


# --- The prompt -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """A run of the rendered prompt. ``scaffold``: preset text (may hold control tokens); ``plain``: card or
    other data, never a control token, never trained; ``content``: a message's content (and, for a reply,
    what the model writes after the generation prompt: a name's space); ``end``: the stop sequence that
    closes a reply (trained with it)."""

    text: str
    kind: PartKind = "scaffold"
    message: int | None = None


@dataclass
class _Out:
    parts: list[Part] = field(default_factory=list)

    def add(self, text: str, kind: PartKind = "scaffold", message: int | None = None) -> None:
        if text:
            self.parts.append(Part(text, kind, message))


def _names(conv: Conversation) -> tuple[str, str]:
    ch = conv.character
    return (ch.name, ch.user_name) if ch is not None else ("Assistant", "User")


def _macros(text: str, ins: InstructPreset, char: str, user: str, name: str) -> str:
    if not ins.macro:
        return text
    text = _MACRO.sub(lambda m: char if m.group(1).lower() == "char" else user, text)
    return _NAME.sub(lambda _: name, text)


def story_params(presets: Presets, conv: Conversation) -> dict[str, str]:
    """The story string's parameters for this conversation (placeholders already filled).

    ``system``: the card's ``system_prompt`` (``{{original}}`` = the default), else the default — the
    conversation's system message, else the instruct preset's ``system_prompt`` (old presets carry one) —
    wrapped in ``system_sequence_prefix`` / ``_suffix``. Lorebook entries are joined by newlines.
    """
    ins = presets.instruct
    char, user = _names(conv)
    messages = conv.messages
    default = messages[0].content if messages and messages[0].role == "system" else ins.system_prompt
    default = _macros(default, ins, char, user, char)
    ch = conv.character or Character(char, user_name=user)
    system = (with_original(ch.system_prompt, default) if ch.system_prompt else default).strip()
    sep = "\n" if ins.wrap else ""
    if system and ins.system_sequence_prefix:
        system = _NAME.sub("System", ins.system_sequence_prefix) + sep + system
    if system and ins.system_sequence_suffix:
        system = system + sep + ins.system_sequence_suffix
    before, after = card_lore(ch, messages)
    params = {
        "system": system,
        "wiBefore": "\n".join(before).strip(),
        "description": ch.persona.strip(),
        "personality": ch.personality.strip(),
        "scenario": ch.scenario.strip(),
        "wiAfter": "\n".join(after).strip(),
        "persona": "",
        "char": char,
        "user": user,
    }
    params["loreBefore"], params["loreAfter"] = params["wiBefore"], params["wiAfter"]
    return params


def _story_parts(out: _Out, presets: Presets, conv: Conversation) -> None:
    """The story string, card values as plain parts between the template's own (scaffold) text."""
    params = story_params(presets, conv)
    wrap = presets.instruct.wrap
    real = render_story(presets.context.story_string, params, wrap)
    markers = {k: f"\ue000{k}\ue001" for k, v in params.items() if v}
    marked = render_story(presets.context.story_string, {**params, **markers}, wrap)
    pieces = re.split("(\ue000\\w+\ue001)", marked)
    rebuilt = "".join(params[p[1:-1]] if p.startswith("\ue000") else p for p in pieces)
    if rebuilt != real:
        raise UserError(
            "story_string: {{trim}} or a newline rule reaches into the card's text, so its characters cannot be "
            "told from the template's; put {{trim}} after a literal newline"
        )
    for piece in pieces:
        out.add(
            params[piece[1:-1]] if piece.startswith("\ue000") else piece,
            "plain" if piece.startswith("\ue000") else "scaffold",
        )


def example_blocks(text: str) -> list[str]:
    """The ``<START>``-separated blocks of a card's ``mes_example``, each trimmed (text before the first
    ``<START>`` is a block of its own).

    >>> example_blocks("Sam: Hi\\n<START>\\nMira: Yes.\\n")
    ['Sam: Hi', 'Mira: Yes.']
    """
    text = text.strip()
    if not text:
        return []
    if not text.upper().startswith("<START>"):
        text = "<START>\n" + text
    return [raw.strip() for raw in re.split(r"<START>", text, flags=re.IGNORECASE)[1:]]


def parse_examples(text: str, char: str, user: str) -> list[list[tuple[str, str]]]:
    """A card's ``mes_example`` as blocks of ``(speaker, text)`` turns, SillyTavern's way: blocks start at
    ``<START>``; a line starting with ``User:`` or ``Char:`` starts a turn, other lines continue it (lines
    before the first speaker go with the first turn); the first ``Name:`` is removed and the turn trimmed.

    >>> parse_examples("<START>\\nSam: Hi\\nMira: Hello.\\nHow are you?", "Mira", "Sam")
    [[('user', 'Hi'), ('char', 'Hello.\\nHow are you?')]]
    """
    blocks = []
    for raw in example_blocks(text):
        lines = raw.split("\n")
        turns: list[tuple[str, str]] = []
        speaker, pending = None, []
        for line in lines:
            now = "user" if line.startswith(user + ":") else "char" if line.startswith(char + ":") else None
            if now is not None and speaker is not None and now != speaker:
                turns.append((speaker, pending))
                pending = []
            if now is not None:
                speaker = now
            pending.append(line)
        if speaker is not None:
            turns.append((speaker, pending))
        blocks.append(
            [
                (who, "\n".join(block).replace((user if who == "user" else char) + ":", "", 1).strip())
                for who, block in turns
            ]
        )
    return blocks


def _turn(out: _Out, prefix: str, name: str | None, body: str, suffix: str, sep: str, message: int | None,
          kind: PartKind = "content") -> None:  # fmt: skip
    """``[prefix, (name: )body + suffix]`` without empty items, joined by the wrap separator."""
    tail = body or name or suffix
    out.add(prefix)
    if prefix and tail:
        out.add(sep)
    if name:
        out.add(f"{name}: ", "plain", message)
    out.add(body, kind, message)
    out.add(suffix, "scaffold", message)


def _examples(out: _Out, presets: Presets, conv: Conversation) -> None:
    ch = conv.character
    if ch is None or not ch.example_dialogue.strip():
        return
    ctx, ins = presets.context, presets.instruct
    char, user = _names(conv)
    heading = _macros(ctx.example_separator, ins, char, user, char) + "\n" if ctx.example_separator else ""
    blocks = parse_examples(ch.example_dialogue, char, user)
    if ins.skip_examples or not any(blocks):  # the blocks as written, each under the heading
        for raw in example_blocks(ch.example_dialogue):
            out.add(heading)
            out.add(raw + "\n", "plain")
        return
    sep = "\n" if ins.wrap else ""
    for block in blocks:
        if not block:
            continue
        out.add(heading)
        for who, text in block:
            is_user = who == "user"
            name = user if is_user else char
            prefix = _macros(ins.input_sequence if is_user else ins.output_sequence, ins, char, user, name)
            suffix = _macros(ins.input_suffix if is_user else ins.output_suffix, ins, char, user, name)
            if not suffix and ins.wrap and ins.macro:
                suffix = "\n"
            named = ins.names_behavior == "always" or (ins.names_behavior == "force" and is_user)
            _turn(out, prefix, name if named else None, text, suffix, sep, None, "plain")


def _suffix(ins: InstructPreset, role: str, char: str, user: str, name: str) -> str:
    suffix = {"user": ins.input_suffix, "assistant": ins.output_suffix}.get(role, "")
    if role == "system":
        suffix = ins.input_suffix if ins.system_same_as_user else ins.system_suffix
    suffix = _macros(suffix, ins, char, user, name)
    return suffix or ("\n" if ins.wrap else "")


def _name_filler(ins: InstructPreset) -> str:
    """The output sequence's trailing whitespace that a last output sequence without it drops, put back
    before the name (``[/INST] `` vs ``[/INST]``: SillyTavern's rule for Mistral)."""
    last, output = ins.last_output_sequence, ins.output_sequence
    return output[-1] if last and output[-1:].isspace() and not last[-1:].isspace() else ""


def generation_prompt(ins: InstructPreset, char: str, user: str) -> str:
    """Where a reply starts: the last output sequence (or the output sequence), the wrap newline, and
    ``Char:`` when names are always shown (after the output sequence's trailing space when the last output
    sequence drops it, SillyTavern's "Mistral" rule).

    SillyTavern writes a wrap newline *before* this line too; the history's suffix already ends where the
    line starts, so that newline is left out here (the text is then a prefix of the training row).

    >>> generation_prompt(InstructPreset(output_sequence="[/INST] ", last_output_sequence="[/INST]",
    ...                                  wrap=False, names_behavior="always"), "Mira", "Sam")
    '[/INST] Mira:'
    """
    seq = ins.last_output_sequence or ins.output_sequence
    names = ins.names_behavior == "always"
    filler = _name_filler(ins) if names else ""
    seq = _macros(seq, ins, char, user, char)
    sep = "\n" if ins.wrap else ""
    if names:
        text = seq + sep + filler + f"{char}:"
        return text.rstrip() if ins.wrap else text
    return (seq.rstrip() if ins.wrap else seq) + sep


def render_parts(presets: Presets, conv: Conversation, add_generation_prompt: bool = False) -> list[Part]:
    """The prompt as parts (placeholders in ``conv`` must already be filled). With
    ``add_generation_prompt`` it ends where the next reply starts."""
    ctx, ins = presets.context, presets.instruct
    char, user = _names(conv)
    sep = "\n" if ins.wrap else ""
    names = ins.names_behavior == "always"
    out = _Out()
    _story_parts(out, presets, conv)
    _examples(out, presets, conv)
    if ctx.chat_start:
        out.add(_macros(ctx.chat_start, ins, char, user, char) + "\n")
    turns = [(i, m) for i, m in enumerate(conv.messages) if m.role != "system"]
    opens_with_reply = turns[0][1].role == "assistant" if turns else add_generation_prompt
    if ins.user_alignment_message and opens_with_reply:
        message = _macros(ins.user_alignment_message, ins, char, user, user)
        _turn(out, _macros(ins.input_sequence, ins, char, user, user), user if names else None, message,
              _suffix(ins, "user", char, user, user), sep, None, "scaffold")  # fmt: skip
    last_user = max((i for i, m in turns if m.role == "user"), default=None)
    phi = ""
    if conv.character is not None and conv.character.post_history_instructions:
        phi = with_original(conv.character.post_history_instructions, "").strip()
    prompt = generation_prompt(ins, char, user)
    first_reply = True
    for i, m in turns:
        if m.role == "user":
            prefix = _macros(ins.input_sequence, ins, char, user, user)
            _turn(
                out,
                prefix,
                user if names else None,
                m.content,
                _suffix(ins, "user", char, user, user),
                sep,
                i,
            )
            if i == last_user and phi:
                seq = ins.input_sequence if ins.system_same_as_user else ins.system_sequence
                _turn(out, _macros(seq, ins, char, user, "System"), None, phi,
                      _suffix(ins, "system", char, user, "System"), sep, None, "plain")  # fmt: skip
            continue
        seq = ins.first_output_sequence if first_reply and ins.first_output_sequence else ins.output_sequence
        first_reply = False
        prefix = _macros(seq, ins, char, user, char)
        suffix = _suffix(ins, "assistant", char, user, char)
        head = prefix + (sep if prefix else "") + (f"{char}: " if names else "")
        if not head.startswith(prompt):
            raise UserError(
                f"instruct preset: a reply is written after {head!r} but generated after {prompt!r} "
                "(last_output_sequence / first_output_sequence); one must start the other to train replies"
            )
        _prompt(out, prompt, char if names else None, i)
        out.add(head[len(prompt) :] + m.content, "content", i)
        stop = ins.stop_sequence if ins.stop_sequence else suffix
        out.add(stop, "end", i)
        out.add(suffix[len(stop) :], "scaffold", i)
    if add_generation_prompt:
        _prompt(out, prompt, char if names else None, None)
    return out.parts


def _prompt(out: _Out, prompt: str, name: str | None, message: int | None) -> None:
    """The generation prompt; a name in it (card data) is plain text, never a control token."""
    if name and prompt.endswith(f"{name}:"):
        out.add(prompt[: -len(name) - 1], "scaffold", message)
        out.add(f"{name}:", "plain", message)
    else:
        out.add(prompt, "scaffold", message)


def render_text(presets: Presets, conv: Conversation, add_generation_prompt: bool = False) -> str:
    return "".join(p.text for p in render_parts(presets, conv, add_generation_prompt))


def trained_text(presets: Presets, content: str) -> str:
    """The exact text trained for a reply with this content: what the model writes after the generation
    prompt (a name's space, Mistral's space after ``[/INST]``), the content, and the stop sequence.

    >>> trained_text(bundled_presets("mistral-v2-v3"), "Aye.")
    ' Aye.</s>'
    """
    probe = Conversation((Message("user", "?"), Message("assistant", content)))
    return "".join(
        p.text for p in render_parts(presets, probe) if p.message == 1 and p.kind in ("content", "end")
    )


def end_of_turn(presets: Presets) -> str:
    """The text that ends a reply: the stop sequence, or the output suffix when the preset has none."""
    ins = presets.instruct
    return ins.stop_sequence or ins.output_suffix or ("\n" if ins.wrap else "")


# --- Control tokens ---------------------------------------------------------------------------------------

_CONTROL = re.compile(r"<\|[^|<>\s]+\|>|</?s>")


def preset_texts(presets: Presets) -> list[str]:
    ins = presets.instruct
    texts = [presets.context.story_string, presets.context.example_separator, presets.context.chat_start]
    return texts + [getattr(ins, f.name) for f in fields(ins) if isinstance(getattr(ins, f.name), str)]


def control_tokens(presets: Presets, specials: Sequence[str] = ()) -> tuple[str, ...]:
    """The control tokens the presets write: ``<|…|>`` and ``<s>``/``</s>`` strings, plus the tokenizer's
    own special tokens (``specials``, e.g. ``[INST]``) where the presets write them.

    >>> control_tokens(bundled_presets("chatml"))
    ('<|im_end|>', '<|im_start|>')
    """
    texts = preset_texts(presets)
    found = {m.group(0) for t in texts for m in _CONTROL.finditer(t)}
    found |= {s for s in specials if s and any(s in t for t in texts)}
    return tuple(sorted(found))


# --- OpenAI messages and the Jinja chat template ---------------------------------------------------------


def system_block(presets: Presets, conv: Conversation) -> str:
    """Everything before the history (story string, examples, chat start): the system message a client
    sends to a checkpoint trained with these presets."""
    out = _Out()
    _story_parts(out, presets, conv)
    _examples(out, presets, conv)
    ctx, ins = presets.context, presets.instruct
    char, user = _names(conv)
    if ctx.chat_start:
        out.add(_macros(ctx.chat_start, ins, char, user, char) + "\n")
    return "".join(p.text for p in out.parts)


def openai_request(presets: Presets, conv: Conversation) -> tuple[list[dict[str, str]], dict[str, str]]:
    """``(messages, chat_template_kwargs)`` for the checkpoint's Jinja template: the card rendered as the
    system message, then the user and assistant turns; the names (``char``, ``user``) and the card's
    post-history instructions (``post_history``) as template variables."""
    char, user = _names(conv)
    messages = [{"role": "system", "content": system_block(presets, conv)}]
    messages += [{"role": m.role, "content": m.content} for m in conv.messages if m.role != "system"]
    phi = conv.character.post_history_instructions if conv.character is not None else ""
    return messages, {"char": char, "user": user, "post_history": with_original(phi, "").strip()}


def _lit(text: str) -> str:
    return "'" + text.encode("unicode_escape").decode("ascii").replace("'", "\\'") + "'"


def _jinja_seq(text: str, ins: InstructPreset, name: str) -> str:
    """A sequence as a Jinja expression, its macros filled at render time."""
    if not ins.macro or not (_MACRO.search(text) or _NAME.search(text)):
        return _lit(text)
    text = _MACRO.sub(lambda m: "{{" + m.group(1).lower() + "}}", _NAME.sub("{{name}}", text))
    return f"({_lit(text)} | replace('{{{{char}}}}', char) | replace('{{{{user}}}}', user) | replace('{{{{name}}}}', {name}))"


def to_jinja(presets: Presets) -> str:
    """A Jinja ``chat_template`` that renders, from :func:`openai_request`'s messages and variables, the
    same text :func:`render_text` renders.

    Reads ``messages`` (an optional first system message: written as is), ``add_generation_prompt``, and the
    variables ``char`` / ``user`` (default ``Assistant`` / ``User``) and ``post_history`` (default empty).
    """
    ins = presets.instruct
    sep = _lit("\n" if ins.wrap else "")
    names = ins.names_behavior == "always"

    def suffix(role: str, name: str) -> str:
        raw = {"user": ins.input_suffix, "assistant": ins.output_suffix}.get(role, "")
        if role == "system":
            raw = ins.input_suffix if ins.system_same_as_user else ins.system_suffix
        return f"({_jinja_seq(raw, ins, name)} or {_lit(chr(10) if ins.wrap else '')})"

    first_seq = ins.first_output_sequence or ins.output_sequence
    gen_seq = ins.last_output_sequence or ins.output_sequence
    filler = _name_filler(ins) if names else ""
    phi_seq = ins.input_sequence if ins.system_same_as_user else ins.system_sequence
    system_name = "'System'"  # {{name}} in a system sequence
    if names:
        gen = f"{_jinja_seq(gen_seq, ins, 'char')} ~ {sep} ~ {_lit(filler)} ~ char ~ ':'"
    else:
        gen = f"{_jinja_seq(gen_seq, ins, 'char')}"
    lines = [
        "{%- set char = char if char is defined else 'Assistant' -%}",
        "{%- set user = user if user is defined else 'User' -%}",
        "{%- set post_history = post_history if post_history is defined else '' -%}",
        "{%- macro turn(prefix, body, suffix) -%}",
        f"{{%- if prefix and (body ~ suffix) -%}}{{{{ prefix ~ {sep} ~ body ~ suffix }}}}"
        "{%- else -%}{{ prefix ~ body ~ suffix }}{%- endif -%}",
        "{%- endmacro -%}",
        "{%- set ns = namespace(last_user=-1, first=true) -%}",
        "{%- for m in messages -%}{%- if m.role == 'user' -%}{%- set ns.last_user = loop.index0 -%}"
        "{%- elif m.role == 'system' and loop.index0 > 0 -%}"
        "{{- raise_exception('only the first message may be a system message') -}}{%- endif -%}{%- endfor -%}",
        "{%- set chat = messages[1:] if messages and messages[0].role == 'system' else messages -%}",
        "{%- if messages and messages[0].role == 'system' -%}{{- messages[0].content -}}{%- endif -%}",
    ]
    user_name = "user ~ ': ' ~ " if names else ""
    char_name = "char ~ ': ' ~ " if names else ""
    if ins.user_alignment_message:  # a user turn (named as one) when the chat opens with the character
        lines.append(
            "{%- if (chat and chat[0].role == 'assistant') or (not chat and add_generation_prompt) -%}{{- turn("
            f"{_jinja_seq(ins.input_sequence, ins, 'user')}, {user_name}{_jinja_seq(ins.user_alignment_message, ins, 'user')}, "
            f"{suffix('user', 'user')}) -}}}}{{%- endif -%}}"
        )
    lines += [
        "{%- for m in messages -%}",
        "{%- if m.role == 'user' -%}",
        f"{{{{- turn({_jinja_seq(ins.input_sequence, ins, 'user')}, {user_name}m.content, {suffix('user', 'user')}) -}}}}",
        "{%- if loop.index0 == ns.last_user and post_history -%}",
        f"{{{{- turn({_jinja_seq(phi_seq, ins, system_name)}, post_history, "
        f"{suffix('system', system_name)}) -}}}}",
        "{%- endif -%}",
        "{%- elif m.role == 'assistant' -%}",
        f"{{%- set seq = {_jinja_seq(first_seq, ins, 'char')} if ns.first else {_jinja_seq(ins.output_sequence, ins, 'char')} -%}}",
        "{%- set ns.first = false -%}",
        f"{{{{- turn(seq, {char_name}m.content, {suffix('assistant', 'char')}) -}}}}",
        "{%- elif loop.index0 > 0 -%}{{- raise_exception('unknown role: ' ~ m.role) -}}",
        "{%- endif -%}",
        "{%- endfor -%}",
    ]
    gen_text = f"({gen})"
    if ins.wrap:
        gen_text = f"({gen}).rstrip()" if names else f"({gen}).rstrip() ~ {sep}"
    else:
        gen_text = gen_text if names else f"{gen_text} ~ {sep}"
    lines.append(f"{{%- if add_generation_prompt -%}}{{{{- {gen_text} -}}}}{{%- endif -%}}")
    return "\n".join(lines)
