"""Scripted repliers whose obedience is known: the GAtt synthesis and demo-persistence tests use them where a
random model's gibberish would decide nothing."""

from llm.data.conversation import Conversation
from llm.inference.repliers import Reply


class ObeyingReplier:
    """Replies that obey whatever suite instruction the prompt carries: capitals, the opening word, the
    mention, the language, the card's facts (its whole persona text echoed)."""

    def __init__(self, checks):
        self.by_text = {(c.instruction if c.character is None else c.character.name): c for c in checks}
        self.calls: list[list[Conversation]] = []

    def reply_for(self, conv):
        first = next(m.content for m in conv.messages if m.role == "user")
        check = next(c for key, c in self.by_text.items() if key in first)
        if check.character is not None:  # a persona fact: say every fact of the card
            return f"I am {check.character.name}. {check.character.persona}"
        return {
            "case": lambda v: "I LIKE RAINY DAYS." if v == "upper" else "i like rainy days.",
            "starts_with": lambda v: f"{v}, I like rainy days.",
            "mentions": lambda v: f"I like rainy days and the {v.split('|')[0]}.",
            "language": lambda v: {
                "french": "J'aime beaucoup les jours de pluie et le thé chaud à la maison.",
                "spanish": "Me gustan mucho los días de lluvia y el té caliente en casa.",
                "german": "Ich mag Regentage sehr und trinke gern heißen Tee zu Hause.",
                "italian": "Mi piacciono molto i giorni di pioggia e il tè caldo a casa.",
                "portuguese": "Eu gosto muito dos dias de chuva e do chá quente em casa.",
                "dutch": "Ik hou erg van regenachtige dagen en warme thee thuis.",
            }[v],
        }[check.kind](check.value)

    def __call__(self, conversations):
        self.calls.append(list(conversations))
        return [Reply(self.reply_for(c)) for c in conversations]
