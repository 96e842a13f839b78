r"""Our chat templates as Jinja ``chat_template`` strings, for checkpoints that chat like they trained.

:func:`to_jinja` writes, for a template bound to a tokenizer, a Jinja template that renders exactly what
:meth:`~llm.data.templates.ChatTemplate.render` renders, so plain transformers inference
(``tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)``) sees the text the
model was trained on. Each Jinja was written by hand from our Python rendering logic in
:mod:`llm.data.templates`; ``tests/data/test_jinja.py`` checks them against it on random conversations.

    >>> from llm.data.templates import get_template
    >>> from llm.data.tokenizer import build_tokenizer
    >>> tok = build_tokenizer("bytelevel")
    >>> tok.chat_template = to_jinja(get_template("chatml", tok))
    >>> tok.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False)
    '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n'
    >>> tok.chat_template = to_jinja(get_template("pygmalion", tok))
    >>> tok.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False,
    ...                         character={"name": "Mira", "persona": "A lighthouse keeper."})
    "Mira's Persona: A lighthouse keeper.\n<START>\nUser: Hi\nMira:"

Inputs the Jinja reads:

- ``messages``: ``{"role", "content"}`` dicts, roles system / user / assistant, at most one system message
  and only first. Anything else stops the render through ``raise_exception`` (transformers' error helper),
  where our Python raises too.
- ``add_generation_prompt``, as transformers passes it.
- ``character`` (optional): a card as a dict with the fields of :class:`~llm.data.conversation.Character`
  (``name`` required; missing fields take the dataclass defaults), passed as an extra keyword:
  ``tokenizer.apply_chat_template(messages, character={...}, ...)``. It renders into the template's system
  slot exactly as ``Conversation(messages, character=Character(**character))`` does in Python.
  Placeholders (``{{char}}``, ``{{user}}`` and their malformed variants) are **not** filled here: the Jinja
  sees text as given, so fill them first (:func:`~llm.data.conversation.resolve_placeholders`), as our
  pipeline does before rendering. The card's ``greeting`` is not rendered (no Python template renders it
  either; data sets carry it as the first assistant message). The Tavern-card fields that change the
  prompt (``personality``, ``system_prompt``, ``post_history_instructions``, ``character_book``) are not
  rendered here: a card that sets one stops the render (``creator_notes``, ``alternate_greetings``,
  ``extra`` are accepted and never rendered).

``bos`` / ``eos``: the bound template's strings are baked into the Jinja as literals rather than read from
the ``bos_token`` / ``eos_token`` variables transformers passes. The Jinja is written when a checkpoint is
saved, from the template bound to that checkpoint's tokenizer, so the baked strings are the ones training
used, and they stay so when the variables would not: :meth:`ChatTemplate.for_tokenizer` falls back to
``<s>`` / ``</s>`` for a tokenizer without bos/eos (the variables would be undefined), and inference code
often re-points ``tokenizer.eos_token`` at an end-of-turn token to stop generation, which would silently
change every rendered turn. For another tokenizer, call :func:`to_jinja` again on the template bound to it.
"""

from __future__ import annotations

from llm.data import sillytavern
from llm.data.templates import (
    Baichuan2,
    ChatML,
    ChatTemplate,
    Llama2,
    Llama3,
    Metharme,
    Plain,
    Pygmalion,
    SillyTavern,
    TokenizerTemplate,
    Vicuna,
)
from llm.errors import UserError


def _literal(text: str) -> str:
    """``text`` as a Jinja string literal (Jinja decodes backslash escapes the way ``unicode_escape`` does)."""
    return "'" + text.encode("unicode_escape").decode("ascii").replace("'", "\\'") + "'"


def _set(**values: str) -> str:
    """Jinja ``set`` statements binding names to baked-in string literals."""
    return "".join(f"{{%- set {name} = {_literal(value)} -%}}\n" for name, value in values.items())


# Every piece below marks each tag with "-": the whitespace between tags is layout, and every character
# of output comes from a string expression. (transformers also sets trim_blocks/lstrip_blocks; with every
# tag trimmed they change nothing.)

# What validate_conversation(partial=True) rejects, and the card, normalised as Character(**character)
# would: `card` is none without a character, else a dict with every field.
_INPUTS = r"""
{%- for message in messages -%}
    {%- if message['role'] not in ['system', 'user', 'assistant'] -%}
        {{- raise_exception('messages[' ~ loop.index0 ~ '].role: unknown role ' ~ message['role'] ~ ' (expected one of system, user, assistant)') -}}
    {%- elif message['role'] == 'system' and not loop.first -%}
        {{- raise_exception('messages[' ~ loop.index0 ~ '].role: a system message after the first message (only one, first, is allowed)') -}}
    {%- elif message['content'] is not string -%}
        {{- raise_exception('messages[' ~ loop.index0 ~ '].content: expected a string') -}}
    {%- endif -%}
{%- endfor -%}
{%- set has_system = messages|length > 0 and messages[0]['role'] == 'system' -%}
{%- set card = none -%}
{%- if character is defined and character is not none -%}
    {%- if character is not mapping or 'name' not in character -%}
        {{- raise_exception('character: expected a dict with at least a name') -}}
    {%- endif -%}
    {%- for key in character if key not in ['name', 'persona', 'scenario', 'greeting', 'example_dialogue', 'user_name', 'creator_notes', 'alternate_greetings', 'extra'] -%}
        {%- if key not in ['personality', 'system_prompt', 'post_history_instructions', 'character_book'] -%}
            {{- raise_exception('character.' ~ key ~ ': unknown field (known: example_dialogue, greeting, name, persona, scenario, user_name)') -}}
        {%- elif character[key] -%}
            {{- raise_exception('character.' ~ key ~ ': not rendered by this exported chat_template (render in Python)') -}}
        {%- endif -%}
    {%- endfor -%}
    {%- set card = {
        'name': character['name'],
        'persona': character.get('persona', ''),
        'scenario': character.get('scenario', ''),
        'example_dialogue': character.get('example_dialogue', ''),
        'user_name': character.get('user_name', 'User'),
    } -%}
{%- endif -%}
"""


# templates.card_system_text: the card as a system prompt.
def _card_text(opening: str, closing: str) -> str:
    """A card as system text: ``opening``, then the scenario and example dialogue when present, then
    ``closing`` (Jinja expressions; ``card_system_text`` and Metharme's text differ only there)."""
    return (
        "{%- if card is not none -%}\n"
        f"    {{%- set card_text = {opening} -%}}\n"
        "    {%- if card['scenario'] -%}\n"
        "        {%- set card_text = card_text + '\\nScenario: ' + card['scenario'] -%}\n"
        "    {%- endif -%}\n"
        "    {%- if card['example_dialogue'] -%}\n"
        "        {%- set card_text = card_text + '\\nExample dialogue:\\n' + card['example_dialogue'] -%}\n"
        "    {%- endif -%}\n"
        f"    {{%- set card_text = card_text + {closing} -%}}\n"
        "{%- endif -%}\n"
    )


_CARD_SYSTEM_TEXT = _card_text(
    "'You are ' + card['name'] + '.' + (' ' + card['persona'] if card['persona'] else '')",
    "'\\nStay in character as ' + card['name'] + ' in this conversation with ' + card['user_name'] + '.'",
)

# templates._system_and_turns: `system` is card_text, then the system message, joined by a blank line;
# none when there is neither.
_SYSTEM = r"""
{%- if card is not none and has_system -%}
    {%- set system = card_text + '\n\n' + messages[0]['content'] -%}
{%- elif card is not none -%}
    {%- set system = card_text -%}
{%- elif has_system -%}
    {%- set system = messages[0]['content'] -%}
{%- else -%}
    {%- set system = none -%}
{%- endif -%}
"""

# The same with strip=True (llama3): the system message is trimmed, and left out of the join when empty.
_SYSTEM_TRIMMED = r"""
{%- if card is not none and has_system and messages[0]['content']|trim -%}
    {%- set system = card_text + '\n\n' + messages[0]['content']|trim -%}
{%- elif card is not none -%}
    {%- set system = card_text -%}
{%- elif has_system -%}
    {%- set system = messages[0]['content']|trim -%}
{%- else -%}
    {%- set system = none -%}
{%- endif -%}
"""

_CHATML = r"""
{%- if system is not none -%}
    {{- '<|im_start|>system\n' + system + '<|im_end|>\n' -}}
{%- endif -%}
{%- for message in messages if message['role'] != 'system' -%}
    {{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\n' -}}
{%- endif -%}
"""

_LLAMA3 = r"""
{{- '<|begin_of_text|>' -}}
{%- if system is not none -%}
    {{- '<|start_header_id|>system<|end_header_id|>\n\n' + system + '<|eot_id|>' -}}
{%- endif -%}
{%- for message in messages if message['role'] != 'system' -%}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content']|trim + '<|eot_id|>' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
{%- endif -%}
"""

# The system block goes into the first instruction, stripped together with the user text (so an empty
# user message leaves the block trimmed); a reply before any user turn, or nothing at all, gets an
# instruction holding only the block. The prompt ends at " [/INST]": no generation prompt of its own.
_LLAMA2 = r"""
{%- set ns = namespace(sys_block='') -%}
{%- if system is not none -%}
    {%- set ns.sys_block = '<<SYS>>\n' + system + '\n<</SYS>>\n\n' -%}
{%- endif -%}
{%- for message in messages if message['role'] != 'system' -%}
    {%- if message['role'] == 'user' -%}
        {{- bos + '[INST] ' -}}
        {%- if ns.sys_block -%}
            {{- ns.sys_block if message['content']|trim else ns.sys_block|trim -}}
            {%- set ns.sys_block = '' -%}
        {%- endif -%}
        {{- message['content']|trim + ' [/INST]' -}}
    {%- else -%}
        {%- if ns.sys_block -%}
            {{- bos + '[INST] ' + ns.sys_block|trim + ' [/INST]' -}}
            {%- set ns.sys_block = '' -%}
        {%- endif -%}
        {{- ' ' + message['content']|trim + ' ' + eos -}}
    {%- endif -%}
{%- endfor -%}
{%- if ns.sys_block -%}
    {{- bos + '[INST] ' + ns.sys_block|trim + ' [/INST]' -}}
{%- endif -%}
"""

_VICUNA = r"""
{{- bos + (default_system if system is none else system) + ' ' -}}
{%- for message in messages if message['role'] != 'system' -%}
    {%- if message['role'] == 'user' -%}
        {{- 'USER: ' + message['content'] + ' ' -}}
    {%- else -%}
        {{- 'ASSISTANT: ' + message['content'] + eos -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- 'ASSISTANT:' -}}
{%- endif -%}
"""


def _tagged_turns(system_tag: str, user_tag: str, model_tag: str) -> str:
    """Formats whose turns are a tag then the text, the model's closed by EOS: Baichuan 2 and Metharme."""
    return (
        "{%- if system is not none -%}\n"
        f"    {{{{- '{system_tag}' + system -}}}}\n"
        "{%- endif -%}\n"
        "{%- for message in messages if message['role'] != 'system' -%}\n"
        "    {%- if message['role'] == 'user' -%}\n"
        f"        {{{{- '{user_tag}' + message['content'] -}}}}\n"
        "    {%- else -%}\n"
        f"        {{{{- '{model_tag}' + message['content'] + eos -}}}}\n"
        "    {%- endif -%}\n"
        "{%- endfor -%}\n"
        "{%- if add_generation_prompt -%}\n"
        f"    {{{{- '{model_tag}' -}}}}\n"
        "{%- endif -%}\n"
    )


_BAICHUAN2 = _tagged_turns("", "<reserved_106>", "<reserved_107>")

# No card_system_text: the system message first, then the card's own "Name's Persona:" / <START> layout,
# and turns prefixed with speaker names.
_PYGMALION = r"""
{%- if card is not none -%}
    {%- set char_name = card['name'] -%}
    {%- set user_name = card['user_name'] -%}
{%- else -%}
    {%- set char_name = 'Assistant' -%}
    {%- set user_name = 'You' -%}
{%- endif -%}
{%- if has_system -%}
    {{- messages[0]['content'] + '\n' -}}
{%- endif -%}
{%- if card is not none -%}
    {{- card['name'] + "'s Persona: " + card['persona'] + '\n' -}}
    {%- if card['scenario'] -%}
        {{- 'Scenario: ' + card['scenario'] + '\n' -}}
    {%- endif -%}
    {{- '<START>\n' -}}
    {%- if card['example_dialogue'] -%}
        {{- card['example_dialogue'].rstrip('\n') + '\n<START>\n' -}}
    {%- endif -%}
{%- endif -%}
{%- for message in messages if message['role'] != 'system' -%}
    {%- if message['role'] == 'user' -%}
        {{- user_name + ': ' + message['content'] + '\n' -}}
    {%- else -%}
        {{- char_name + ': ' + message['content'] + eos + '\n' -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- char_name + ':' -}}
{%- endif -%}
"""

# Metharme's own card text takes card_system_text's place in the system slot.
_METHARME_CARD_TEXT = _card_text(
    "'Enter role-play mode. You are ' + card['name'] + ', whose persona follows:\\n' + card['persona']",
    "'\\nReply to ' + card['user_name'] + ' while staying in character.'",
)

_METHARME = _tagged_turns("<|system|>", "<|user|>", "<|model|>")

# The generation prompt is empty: the prompt's own text is where the reply starts.
_PLAIN = r"""
{%- if system is not none -%}
    {{- system + '\n\n' -}}
{%- endif -%}
{%- set ns = namespace(previous=none) -%}
{%- for message in messages if message['role'] != 'system' -%}
    {%- if message['role'] == 'user' -%}
        {{- ('\n\n' if ns.previous == 'assistant' else '') + message['content'] -}}
    {%- else -%}
        {{- ' ' + message['content'] + eos -}}
    {%- endif -%}
    {%- set ns.previous = message['role'] -%}
{%- endfor -%}
"""


def to_jinja(template: ChatTemplate) -> str:
    """A Jinja ``chat_template`` rendering exactly like ``template`` (see the module docstring).

    Bind the template to the tokenizer first (``get_template(name, tokenizer)``): its bos/eos are baked in.
    For the ``tokenizer`` template, the tokenizer's own ``chat_template`` is returned as is.
    """
    if isinstance(template, TokenizerTemplate):
        if template.chat_template is None:
            raise UserError("template 'tokenizer' must be bound first: get_template('tokenizer', tokenizer)")
        return template.chat_template
    if isinstance(template, SillyTavern):  # the card is the system message (sillytavern.openai_request)
        return sillytavern.to_jinja(template.presets)
    header = f"{{#- chat template {template.name!r}, written by llm.data.jinja.to_jinja -#}}\n"
    tokens = _set(bos=template.bos, eos=template.eos)
    if isinstance(template, ChatML):
        body = _CARD_SYSTEM_TEXT + _SYSTEM + _CHATML
    elif isinstance(template, Llama3):
        body = _CARD_SYSTEM_TEXT + _SYSTEM_TRIMMED + _LLAMA3
    elif isinstance(template, Llama2):
        body = _CARD_SYSTEM_TEXT + _SYSTEM + _LLAMA2
    elif isinstance(template, Vicuna):
        body = _set(default_system=template.default_system) + _CARD_SYSTEM_TEXT + _SYSTEM + _VICUNA
    elif isinstance(template, Baichuan2):
        body = _CARD_SYSTEM_TEXT + _SYSTEM + _BAICHUAN2
    elif isinstance(template, Pygmalion):
        body = _PYGMALION
    elif isinstance(template, Metharme):
        body = _METHARME_CARD_TEXT + _SYSTEM + _METHARME
    elif isinstance(template, Plain):
        body = _CARD_SYSTEM_TEXT + _SYSTEM + _PLAIN
    else:
        raise UserError(f"no Jinja version of template {template.name!r} ({type(template).__name__})")
    return header + tokens + _INPUTS + body
