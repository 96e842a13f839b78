"""Generate the bundled multi-turn role-play preference sample from the bundled PIPPA-format chats.

For each of 300 pairs: one chat of ``llm/data/samples/pippa_sample.jsonl`` (original characters, original
text), cut after a user turn. The prompt is the chat so far (greeting included, at most ``--history``
exchanges) with the character's card; ``chosen`` is the character's own next reply from the chat; and
``rejected`` breaks role-play in one of the ways peers' users complain about:

- ``out of character``: the reply of a generic assistant ("As an AI language model, I …");
- ``speaks for the user``: the character's reply, then a line written as the user (``You: …``);
- ``wrong persona``: the reply introduces the speaker as another of the bundled characters;
- ``breaks the scene``: a meta remark about the story or the chat itself.

A fifth of the pairs continue for two turns (assistant, user, assistant) when the chat allows it, so the
preference is multi-turn in the completions too. Records are in TRL's conversational preference format
plus our ``character`` field: ``llm-train dpo`` (``--dataset preference``) reads them as they are.

Output is byte-for-byte stable for a given seed. Usage::

    python examples/make_preference_sample.py [--out FILE] [--seed N] [--pairs N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from llm.data.samples import PIPPA_SAMPLE  # noqa: E402
from llm.data.sources import pippa  # noqa: E402
from llm.data.sources.files import read_records  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "llm" / "data" / "samples" / "roleplay_preference_sample.jsonl"

OUT_OF_CHARACTER = [
    "As an AI language model, I don't have personal experiences, but I can help you with that question.",
    "I'm an AI assistant, so I can't really be there with you. Is there anything else I can help you with?",
    "As a virtual assistant, I don't have feelings. However, here is some general information you may find useful.",
    "I am a language model and cannot take part in this scene, but I'm happy to answer factual questions.",
]
SCENE_BREAKS = [
    "(OOC: this roleplay is getting long, should we start a new chat?)",
    "Let me step out of the story for a second: what kind of ending would you like for this scene?",
    "[System note: the character is unavailable. Please rephrase your request.]",
    "Just so you know, I'm only pretending to be this character for the chat.",
]
USER_LINES = ["Thank you, that sounds wonderful.", "I nod and follow you inside.", "Wait, what do you mean?"]


def rejected_reply(kind: str, reply: str, name: str, others: list[str], rng: random.Random) -> str:
    first = reply.split("\n")[0].strip() or reply.strip()
    if kind == "out of character":
        return rng.choice(OUT_OF_CHARACTER)
    if kind == "speaks for the user":
        return f"{first}\nYou: {rng.choice(USER_LINES)}"
    if kind == "wrong persona":
        return f"My name is {rng.choice([o for o in others if o != name])}, and I have never heard of {name}. {first}"
    return rng.choice(SCENE_BREAKS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--history", type=int, default=3, help="most exchanges of history kept in a prompt")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    chats = [pippa.to_conversation(record, record_id) for record_id, record in read_records(PIPPA_SAMPLE)]
    names = sorted({c.character.name for c in chats})
    kinds = ["out of character", "speaks for the user", "wrong persona", "breaks the scene"]
    lines = []
    while len(lines) < args.pairs:
        conv = rng.choice(chats)
        messages = [m for m in conv.messages if m.role != "system"]
        users = [k for k, m in enumerate(messages) if m.role == "user" and k + 1 < len(messages)]
        if not users:
            continue
        cut = rng.choice(users)
        start = max(0, cut - 2 * args.history)  # a prompt may open with the character's line (a greeting)
        prompt = [{"role": m.role, "content": m.content} for m in messages[start : cut + 1]]
        reply = messages[cut + 1].content
        kind = kinds[len(lines) % len(kinds)]
        chosen = [{"role": "assistant", "content": reply}]
        rejected = [
            {"role": "assistant", "content": rejected_reply(kind, reply, conv.character.name, names, rng)}
        ]
        if rng.random() < 0.2 and cut + 3 < len(messages) and messages[cut + 2].role == "user":
            follow = {"role": "user", "content": messages[cut + 2].content}
            chosen += [follow, {"role": "assistant", "content": messages[cut + 3].content}]
            again = rejected_reply(kind, messages[cut + 3].content, conv.character.name, names, rng)
            rejected += [follow, {"role": "assistant", "content": again}]
        card = {k: v for k, v in conv.character.__dict__.items() if v}
        lines.append(
            {"prompt": prompt, "chosen": chosen, "rejected": rejected, "character": card, "kind": kind}
        )
    args.out.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    size = args.out.stat().st_size
    print(f"wrote {len(lines)} pairs to {args.out} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
