"""A synthetic multi-turn preference world for the DPO tests: the first user turn states a rule; in the last
turn the chosen reply keeps it and the rejected reply breaks it. A tiny model can only tell them apart by
remembering the rule from several turns back.

Rules: "end every reply with a question" (chosen ends with "?", rejected with "."), or "always answer in
French" (chosen in the world's French, rejected in its English). Some records carry a character card, some
continue for two turns.
"""

import json
import random

WORDS = "sea light storm ship tea book sword garden rain wind night map star moon".split()
FRENCH = dict(
    zip(WORDS, "mer lumiere orage navire the livre epee jardin pluie vent nuit carte etoile lune".split())
)
NAMES = ["Mira", "Tobias", "Ysolde", "Odile"]


def _reply(rng: random.Random, end: str, french: bool) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(2, 5))]
    if french:
        return "le " + " ".join(FRENCH[w] for w in words) + f" est beau {end}"
    return "the " + " ".join(words) + f" is fine {end}"


def record(rng: random.Random, turns: int = 3) -> dict:
    if rng.random() < 0.5:
        rule, good, bad = "End every reply with a question.", ("?", False), (".", False)
    else:
        rule, good, bad = "Always answer in French.", (".", True), (".", False)
    messages = [{"role": "user", "content": f"{rule} Tell me about the {rng.choice(WORDS)}."}]
    for _ in range(turns - 1):
        messages.append({"role": "assistant", "content": _reply(rng, *good)})
        messages.append({"role": "user", "content": f"and the {rng.choice(WORDS)} ?"})
    out = {
        "prompt": messages,
        "chosen": [{"role": "assistant", "content": _reply(rng, *good)}],
        "rejected": [{"role": "assistant", "content": _reply(rng, *bad)}],
    }
    if rng.random() < 0.3:  # a multi-turn continuation: the rule must hold one turn further too
        follow = {"role": "user", "content": "go on"}
        out["chosen"] += [follow, {"role": "assistant", "content": _reply(rng, *good)}]
        out["rejected"] += [follow, {"role": "assistant", "content": _reply(rng, *bad)}]
    if rng.random() < 0.3:
        name = rng.choice(NAMES)
        out["character"] = {"name": name, "persona": f"{name} keeps the lighthouse.", "user_name": "Sam"}
    return out


def write_pairs(path, n: int, seed: int = 0, turns: int = 3) -> str:
    rng = random.Random(seed)
    path.write_text("".join(json.dumps(record(rng, turns)) + "\n" for _ in range(n)))
    return str(path)


def write_kto(path, n: int, seed: int = 0) -> str:
    """The same world, unpaired: each record's chosen side as desirable, rejected as undesirable."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        r = record(rng)
        good = rng.random() < 0.5
        lines.append(
            {"prompt": r["prompt"], "completion": r["chosen" if good else "rejected"], "label": good}
        )
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return str(path)
