"""Ghost Attention (GAtt; Llama 2, Touvron et al. 2023, §3.3): keep an instruction alive for many turns.

The recipe, for a dialogue ``[u1, a1, …, un, an]`` and an instruction ``inst`` (a rule such as "Always
answer as Napoleon", or a whole character card):

1. **Sampling** — attach ``inst`` to *every* user turn and sample the assistant replies with the current
   model (:func:`sampling_conversation`, turn by turn: ``llm-train gatt-synthesize``), so each reply obeys it.
2. **Training** — keep ``inst`` only at the start (system slot, or the first user turn) and train only the
   final reply of each prefix; earlier turns, assistant turns included, get no loss
   (:func:`training_conversations`). The model learns to obey an instruction it saw many turns ago.

Worked example (``inst`` = "Speak like a pirate.", placement "first_user", ``skip_first=1``)::

    dialogue     u1 "Hi"          a1 "Ahoy!"        u2 "Weather?"   a2 "Stormy, matey."
    sampling     u1 "Speak like a pirate.\\n\\nHi" … u2 "Speak like a pirate.\\n\\nWeather?"  → model writes a1, a2
    training     one sample per reply after the first 1:
                 [u1 "Speak like a pirate.\\n\\nHi", a1 (no loss), u2 "Weather?", a2 (loss)]

>>> from llm.data.conversation import Conversation, Message
>>> conv = Conversation((Message("user", "Hi"), Message("assistant", "Ahoy!"),
...                      Message("user", "Weather?"), Message("assistant", "Stormy, matey.")))
>>> [s.messages[0].content for s in training_conversations(conv, "Speak like a pirate.", placement="first_user")]
['Speak like a pirate.\\n\\nHi', 'Speak like a pirate.\\n\\nHi']
>>> [[m.train for m in s.messages] for s in training_conversations(conv, "Speak like a pirate.", skip_first=1)]
[[False, False, False, False, True]]
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from llm.data.conversation import Character, Conversation, Message
from llm.data.templates import card_system_text
from llm.errors import UserError

Instruction = str | Character
Placement = Literal["system", "first_user"]


def instruction_text(instruction: Instruction) -> str:
    """The instruction as text; a character card renders as its system prompt."""
    return card_system_text(instruction) if isinstance(instruction, Character) else instruction


def _attach(instruction: str, content: str) -> str:
    return f"{instruction}\n\n{content}" if content else instruction


def sampling_conversation(conv: Conversation, instruction: Instruction) -> Conversation:
    """Step 1: the instruction attached to every user turn (what the sampling model is prompted with)."""
    text = instruction_text(instruction)
    messages = tuple(
        replace(m, content=_attach(text, m.content)) if m.role == "user" else m for m in conv.messages
    )
    return replace(conv, messages=messages)


def training_conversations(
    conv: Conversation,
    instruction: Instruction,
    skip_first: int = 0,
    placement: Placement = "system",
    per_dialogue: bool = False,
) -> list[Conversation]:
    """Step 2: one conversation per assistant turn after the first ``skip_first``, trained on that reply only
    (with ``per_dialogue``, one conversation training all of them: the same replies in fewer tokens).

    The instruction appears once: in the system slot (a card becomes the conversation's character; text
    goes before any existing system message) or, with ``placement="first_user"``, before the first user
    turn. Every other message carries ``train=False``; the final reply carries ``train=True``, so any
    masking policy trains exactly that reply.
    """
    if placement not in ("system", "first_user"):
        raise UserError(f"unknown placement {placement!r}; choose 'system' or 'first_user'")
    base = place_instruction(conv, instruction, placement)
    shift = len(base.messages) - len(conv.messages)  # 1 when a system message was added
    assistant_turns = [j + shift for j, m in enumerate(conv.messages) if m.role == "assistant"]
    trained = assistant_turns[skip_first:]
    if per_dialogue:
        return (
            [
                replace(
                    base, messages=tuple(replace(m, train=k in trained) for k, m in enumerate(base.messages))
                )
            ]
            if trained
            else []
        )
    samples = []
    for j in trained:
        messages = tuple(replace(m, train=(k == j)) for k, m in enumerate(base.messages[: j + 1]))
        samples.append(replace(base, messages=messages))
    return samples


def place_instruction(conv: Conversation, instruction: Instruction, placement: Placement) -> Conversation:
    """``conv`` with the instruction given once: in the system slot (a card becomes the character) or
    before the first user turn (a card then goes there as text, and leaves the template's character slot,
    so that it is not rendered twice)."""
    if placement == "system" and isinstance(instruction, Character):
        return replace(conv, character=instruction)
    text = instruction_text(instruction)
    messages = list(conv.messages)
    if placement == "system":
        if messages and messages[0].role == "system":
            messages[0] = replace(messages[0], content=_attach(text, messages[0].content))
        else:
            messages.insert(0, Message("system", text))
    else:
        first_user = next((k for k, m in enumerate(messages) if m.role == "user"), None)
        if first_user is None:
            raise UserError("placement 'first_user' needs a user turn; this conversation has none")
        messages[first_user] = replace(
            messages[first_user], content=_attach(text, messages[first_user].content)
        )
    character = None if isinstance(instruction, Character) else conv.character
    return replace(conv, messages=tuple(messages), character=character)
