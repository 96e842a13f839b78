"""Generate a small, original role-play chat dataset in the PIPPA record schema.

PIPPA (Personal Interaction Pairs between People and AI) is a public dump of role-play chats
submitted by users of character-chat sites. Each line of the dump is one JSON object::

    {"submission_timestamp": 1674000000000, "categories": ["..."], "bot_id": "...",
     "bot_name": "...", "bot_greeting": "...", "bot_definitions": "...", "bot_description": "...",
     "conversation": [{"message": "...", "is_human": false}, {"message": "...", "is_human": true}]}

The real data is large and cannot be redistributed with this repository, so this script invents
ten characters and writes about two hundred conversations with them, in exactly that schema, to
``examples/data/pippa_sample.jsonl``. The sample is what tests, demos and smoke runs of the data
pipeline read, so it tries to look like the real thing:

* conversations of varied length: many short ones, a good number of medium ones, and a dozen long
  ones (over 10,000 characters, i.e. well over 2,048 tokens for a small tokenizer) that exercise
  truncation and packing;
* ``conversation[0]`` is normally the bot greeting, after which human and bot mostly alternate;
* chats read as role-play: actions in ``*asterisks*``, questions, call-backs to earlier turns, and
  bot replies that are longer than human ones on average.

A minority of records reproduce the quirks of the real dump, so that loaders and cleaners get
exercised: ``{{user}}``/``{{char}}`` placeholders inside messages, malformed placeholders
(``{char}}``, ``{{user}``, ``{{random_user_1}}``, ``{{u01}}``, ``{[Char}}``), null descriptions,
definitions and categories, two bot messages in a row, a bot message that starts with
``NAME:``, redaction tokens, a literal backslash-n inside a message, non-ASCII text, and a few
conversations without the greeting.

The characters and lines live in ``CHARACTER_SHEETS`` at the bottom of this file, in a small
line-based format (see ``parse_character_sheets``). Conversations are assembled from those banks
with a seeded ``random.Random``, so the output is byte-for-byte stable for a given seed. Only the
Python 3.11 standard library is used.

Usage::

    python examples/make_sample_data.py [--output PATH] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import random
import string
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "examples" / "data" / "pippa_sample.jsonl"
DEFAULT_SEED = 1717

NUM_RECORDS = 200
NUM_LONG = 12
NUM_MEDIUM = 78
SHORT_MESSAGES = (4, 12)
MEDIUM_MESSAGES = (15, 40)
LONG_MESSAGES = (60, 150)
LONG_MIN_CHARS = 10_500  # comfortably over 10,000 characters
MAX_MESSAGES = 170  # safety stop for long conversations

# Real PIPPA submissions date from early 2023.
TIMESTAMP_RANGE_MS = (1_672_531_200_000, 1_680_307_199_000)
BOT_ID_ALPHABET = string.ascii_letters + string.digits + "-_"
BOT_ID_LENGTH = 43

# ---------------------------------------------------------------------------------------------
# Character-independent banks for the human side, and glue for the bot side.
# ---------------------------------------------------------------------------------------------

USER_NAMES = [
    "Mara", "Theo", "Jun", "Priya", "Sam", "Alex", "Noor", "Felix",
    "Rosa", "Kai", "Bea", "Tobias", "Lena", "Omar", "Hazel", "Ravi",
]

INTRO_LINES = [
    "I'm {name}, by the way.",
    "Oh, sorry, I didn't introduce myself. I'm {name}.",
    "My name's {name}, if that helps.",
    "You can call me {name}.",
]

USER_REACTIONS = [
    "Huh.", "Wow.", "*laughs*", "No way.", "Oh, that's lovely.", "*nods slowly*", "Wait, really?",
    "Ha!", "*grins*", "That's wild.", "*leans in*", "Okay, I believe you.", "Hm.", "*smiles*",
    "Oh no.", "*listens quietly*",
]

USER_PROMPTS = [
    "And then what happened?", "Tell me more.", "Go on, I'm listening.", "What happened after that?",
    "Do you still think about it?", "How did that feel?", "I want to hear everything.", "Is that true?",
    "Why, though?", "What was that like?", "You have to tell me the rest.", "I didn't expect that at all.",
    "Has that happened more than once?", "How do you even learn something like that?",
    "That's not what I imagined at all.", "Can you tell me another one?",
]

USER_ACTIONS = [
    "*sits down*", "*pulls up a chair*", "*shifts a little closer*", "*rubs my hands to warm them*",
    "*looks around curiously*", "*tilts my head*", "*raises an eyebrow*", "*sets my bag down*",
]

CHAR_REF_ACTIONS = [
    "*smiles at {char}*", "*sits down next to {char}*", "*looks over at {char}*",
    "*nudges {char} gently*", "*waves at {char}*",
]

# (what the human says, how the bot can refer back to it later)
USER_SHARES = [
    ("I've had a really long week, honestly. Work has been a lot.", "your long week"),
    ("My sister just opened a bakery. I've been helping her out on weekends.", "your sister's bakery"),
    ("I wanted to be an astronaut when I was a kid. Still kind of do.", "your astronaut dream"),
    ("I'm learning to play the guitar. Badly. Very badly.", "those guitar lessons"),
    ("I moved to a new city last month and I don't really know anyone yet.", "your move"),
    ("My grandmother used to tell me stories like this when I was little.", "your grandmother's stories"),
    ("I've got an exam on Friday and I'm trying very hard not to think about it.", "that exam of yours"),
    ("I adopted a very grumpy cat a few weeks ago. He hates everything except me.", "your grumpy cat"),
    ("I'm terrible at sleeping. I'm always awake at three in the morning.", "your three a.m. nights"),
    ("I went hiking last weekend and got completely, hopelessly lost.", "your hiking disaster"),
]

USER_CALLBACKS = [
    "Going back to {ref} for a second, I'm still curious.",
    "Can we talk about {ref} again?",
    "I keep thinking about what you said about {ref}.",
    "Wait, I want to hear more about {ref}.",
]

USER_FAREWELLS = [
    "I should probably get going. Thank you for this.",
    "*yawns* It's getting late. Can I come back tomorrow?",
    "This was really nice. Goodnight!",
    "I have to go, but I'll visit again soon, I promise.",
    "Thank you. I needed this more than I realized.",
]

BOT_SHARE_CALLBACKS = [
    "And don't think I've forgotten about {ref}.",
    "How are you holding up, with {ref} and everything?",
    "I've been thinking about {ref}, you know. What you told me earlier.",
]

BOT_TOPIC_CALLBACKS = [
    "Not so different from {ref}, when you think about it.",
    "That puts me in mind of {ref} again.",
    "Funny how everything comes back round to {ref}.",
]

NAME_LINES = [
    "I mean that, {name}.",
    "You're good company, {name}.",
    "Stay a while, {name}.",
    "Don't look at me like that, {name}.",
]

DOUBLE_TEXT_OPENERS = ["*adds, after a moment*", "*then, as an afterthought*", "*after a pause*"]

# Quirks of the real dump, used in a minority of records.
MALFORMED_USER_REFS = ["{{user}", "{{random_user_1}}", "{{u01}}"]
MALFORMED_CHAR_REFS = ["{char}}", "{[Char}}"]
REDACTED_NAME = "[NAME_IN_MESSAGE_REDACTED]"
REDACTED_LINES = [
    "I'm from [REDACTED], originally. It's a tiny place, you wouldn't know it.",
    "My friend [REDACTED] told me I should come and find you.",
    "I used to work at [REDACTED] before all this.",
]
NON_ASCII_LINES = [
    "Merci beaucoup ! C'est vraiment gentil.",
    "Oh l\u00e0 l\u00e0... quelle histoire !",
    "\u3059\u3054\u3044\uff01\u3082\u3063\u3068\u805e\u304b\u305b\u3066\u304f\u3060\u3055\u3044\u3002",
    "\u3042\u308a\u304c\u3068\u3046 \U0001f60a",
    "That's so sweet \U0001f979",
    "*claps* \U0001f389",
    "Haha \U0001f602 okay, fair.",
    "C'est magnifique. \u2728",
]

# Quirk name -> how many records get it. Each is a small minority of NUM_RECORDS.
QUIRK_COUNTS = {
    "placeholders": 8,  # {{user}} / {{char}} left in messages
    "malformed_placeholders": 7,
    "redacted": 7,
    "null_description": 6,
    "null_definitions": 6,
    "null_categories": 6,
    "double_bot": 9,
    "name_prefix": 6,
    "literal_newline": 6,
    "non_ascii": 7,
    "no_greeting": 4,
}
# These three decide how the user is named, so they never share a record.
IDENTITY_QUIRKS = ("placeholders", "malformed_placeholders", "redacted")


# ---------------------------------------------------------------------------------------------
# Character sheets
# ---------------------------------------------------------------------------------------------


@dataclass
class Topic:
    """Something to talk about: scripted (user line, bot reply) pairs plus extra bot material."""

    label: str  # a noun phrase the chat can refer back to ("the lamp")
    pairs: list[tuple[str, str]] = field(default_factory=list)
    more: list[str] = field(default_factory=list)


@dataclass
class Story:
    """An anecdote template whose {slots} are filled at random, so retellings differ."""

    template: str
    slots: dict[str, list[str]] = field(default_factory=dict)

    def tell(self, rng: random.Random) -> str:
        return self.template.format(**{name: rng.choice(options) for name, options in self.slots.items()})


@dataclass
class Character:
    key: str
    name: str = ""
    categories: list[str] = field(default_factory=list)
    description: str = ""
    greeting: str = ""
    definitions: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    welcomes: list[str] = field(default_factory=list)  # reply to the user's name; uses {name}
    sympathies: list[str] = field(default_factory=list)  # reply to the user sharing something
    farewells: list[str] = field(default_factory=list)
    musings: list[str] = field(default_factory=list)  # unprompted remarks
    opening: list[tuple[str, str]] = field(default_factory=list)  # first exchange after the greeting
    topics: list[Topic] = field(default_factory=list)
    stories: list[Story] = field(default_factory=list)
    bot_id: str = ""

    def validate(self) -> None:
        required = {
            "name": self.name, "description": self.description, "greeting": self.greeting,
            "definitions": self.definitions, "actions": self.actions, "questions": self.questions,
            "welcomes": self.welcomes, "sympathies": self.sympathies, "farewells": self.farewells,
            "musings": self.musings, "opening": self.opening, "topics": self.topics, "stories": self.stories,
        }
        missing = [name for name, value in required.items() if not value]
        if missing:
            raise ValueError(f"character {self.key!r} is missing {', '.join(missing)}")
        for topic in self.topics:
            if not topic.pairs or not topic.more:
                raise ValueError(f"character {self.key!r}: topic {topic.label!r} needs pairs and more")
        for story in self.stories:
            wanted = {name for _, name, _, _ in string.Formatter().parse(story.template) if name}
            if wanted != set(story.slots):
                raise ValueError(f"character {self.key!r}: story slots do not match: {story.template!r}")
        texts = [self.greeting, self.description, *self.definitions, *self.actions, *self.questions]
        for text in texts:
            if not text.isascii():
                raise ValueError(f"character {self.key!r}: keep sheets ASCII, quirks add the rest: {text!r}")


LIST_FIELDS = {
    "def": "definitions",
    "action": "actions",
    "question": "questions",
    "welcome": "welcomes",
    "sympathy": "sympathies",
    "farewell": "farewells",
    "musing": "musings",
}


def parse_character_sheets(text: str) -> list[Character]:
    """Parse the line-based sheet format used by CHARACTER_SHEETS.

    ``=== key`` starts a character. Other lines are ``field: value``; an indented line continues
    the previous value (joined with a space). ``def`` lines become the lines of bot_definitions.
    ``opening`` and ``topic: LABEL`` start a section of ``U:``/``B:`` pairs (user line, then bot
    reply); ``more`` adds extra bot material to the current topic. ``story`` starts an anecdote
    template, and ``slot NAME: a | b | c`` lists the options for its ``{NAME}``.
    """
    entries: list[tuple[str, str]] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        if raw[0].isspace():
            key, value = entries[-1]
            entries[-1] = (key, f"{value} {raw.strip()}")
        elif raw.startswith("=== "):
            entries.append(("===", raw[4:].strip()))
        else:
            key, sep, value = raw.partition(": ")
            if not sep:
                key, value = raw.rstrip(":"), ""
            entries.append((key.strip(), value.strip()))

    characters: list[Character] = []
    pairs: list[tuple[str, str]] = []
    pending_user: str | None = None
    for key, value in entries:
        if key == "===":
            characters.append(Character(key=value))
            continue
        char = characters[-1]
        if key in ("name", "description", "greeting"):
            setattr(char, key, value)
        elif key == "categories":
            char.categories = [part.strip() for part in value.split("|")]
        elif key in LIST_FIELDS:
            getattr(char, LIST_FIELDS[key]).append(value)
        elif key == "opening":
            pairs = char.opening
        elif key == "topic":
            char.topics.append(Topic(label=value))
            pairs = char.topics[-1].pairs
        elif key == "U":
            pending_user = value
        elif key == "B":
            if pending_user is None:
                raise ValueError(f"character {char.key!r}: bot line without a user line: {value!r}")
            pairs.append((pending_user, value))
            pending_user = None
        elif key == "more":
            char.topics[-1].more.append(value)
        elif key == "story":
            char.stories.append(Story(template=value))
        elif key.startswith("slot "):
            char.stories[-1].slots[key[5:]] = [part.strip() for part in value.split("|")]
        else:
            raise ValueError(f"character {char.key!r}: unknown field {key!r}")
    for char in characters:
        char.validate()
    return characters


# ---------------------------------------------------------------------------------------------
# Conversation assembly
# ---------------------------------------------------------------------------------------------


class ChatBuilder:
    """Assembles one conversation with a character from its banks.

    Bot material is drawn "fresh first": a line is reused within a conversation only once
    everything else suitable has been used, and whole bot messages are never repeated verbatim
    unless every attempt to vary them fails.
    """

    def __init__(
        self,
        char: Character,
        rng: random.Random,
        *,
        long: bool,
        user_name: str | None,
        introduce: bool,
        name_rate: float = 0.1,
    ) -> None:
        self.char = char
        self.rng = rng
        self.long = long
        self.user_name = user_name
        self.introduce = introduce
        self.name_rate = name_rate
        self.messages: list[dict] = []
        self.used: set[str] = set()  # membership checks only, never iterated
        self.topics = rng.sample(char.topics, len(char.topics))
        self.topic_index = 0
        self.pairs_left = {topic.label: list(topic.pairs) for topic in char.topics}
        self.pairs_in_topic = 0
        self.visited: list[Topic] = []
        self.shares = rng.sample(USER_SHARES, len(USER_SHARES))
        self.share_refs: list[str] = []

    # -- small helpers -------------------------------------------------------------------------

    def pick(self, pool: list[str], *, reuse: bool = True) -> str | None:
        """Pick a line not used yet in this conversation; fall back to any line if ``reuse``."""
        fresh = [item for item in pool if item not in self.used]
        if not fresh and not reuse:
            return None
        choice = self.rng.choice(fresh or pool)
        self.used.add(choice)
        return choice

    def char_count(self) -> int:
        return sum(len(message["message"]) for message in self.messages)

    def add_user(self, text: str) -> None:
        self.messages.append({"message": text, "is_human": True})

    def add_bot(self, main: list[str], *, extras: bool = True) -> None:
        for _ in range(6):
            text = self.compose_bot(main, extras=extras)
            if text not in self.used:
                break
        self.used.add(text)
        self.messages.append({"message": text, "is_human": False})

    def compose_bot(self, main: list[str], *, extras: bool) -> str:
        rng = self.rng
        parts: list[str] = []
        if extras and not main[0].startswith("*") and rng.random() < 0.55:
            parts.append(self.pick(self.char.actions))
        parts.extend(main)
        if not extras:
            return " ".join(parts)
        if self.long and rng.random() < 0.3:
            parts.append(self.elaboration())
        if self.user_name and rng.random() < self.name_rate:
            line = self.pick(NAME_LINES, reuse=False)
            if line:
                parts.append(line.replace("{name}", self.user_name))
        if self.share_refs and rng.random() < 0.1:
            line = self.pick(BOT_SHARE_CALLBACKS, reuse=False)
            if line:
                parts.append(line.replace("{ref}", rng.choice(self.share_refs)))
        elif len(self.visited) >= 2 and rng.random() < 0.06:
            line = self.pick(BOT_TOPIC_CALLBACKS, reuse=False)
            if line:
                parts.append(line.replace("{ref}", rng.choice(self.visited[:-1]).label))
        if not parts[-1].endswith("?") and rng.random() < 0.35:
            question = self.pick(self.char.questions, reuse=False)
            if question:
                parts.append(question)
        separator = "\n" if rng.random() < 0.15 else " "
        return separator.join(parts)

    def current_topic(self) -> Topic | None:
        while self.topic_index < len(self.topics):
            topic = self.topics[self.topic_index]
            if self.pairs_left[topic.label]:
                return topic
            self.topic_index += 1
            self.pairs_in_topic = 0
        return None

    def elaboration(self, topic: Topic | None = None) -> str:
        """More bot material: the topic's extras first, then musings and anecdotes, then reuse."""
        topic = topic or (self.visited[-1] if self.visited else None)
        if topic:
            line = self.pick(topic.more, reuse=False)
            if line:
                return line
        fresh_stories = [story for story in self.char.stories if story.template not in self.used]
        if fresh_stories and self.rng.random() < 0.5:
            story = self.rng.choice(fresh_stories)
            self.used.add(story.template)
            return story.tell(self.rng)
        line = self.pick(self.char.musings, reuse=False)
        if line:
            return line
        for visited in self.rng.sample(self.visited, len(self.visited)):
            line = self.pick(visited.more, reuse=False)
            if line:
                return line
        if self.rng.random() < 0.5:
            return self.rng.choice(self.char.stories).tell(self.rng)
        pool = [line for t in self.char.topics for line in t.more] + self.char.musings
        return self.pick(pool)

    # -- turns ---------------------------------------------------------------------------------

    def greet(self) -> None:
        self.messages.append({"message": self.char.greeting, "is_human": False})
        user, reply = self.rng.choice(self.char.opening)
        main = [reply]
        if self.introduce and self.user_name:
            user = f"{user} {self.rng.choice(INTRO_LINES).replace('{name}', self.user_name)}"
            main.append(self.pick(self.char.welcomes).replace("{name}", self.user_name))
        self.add_user(user)
        self.add_bot(main)

    def step(self) -> None:
        """One human message and the bot's answer."""
        roll = self.rng.random()
        topic = self.current_topic()
        if topic is not None and (roll < 0.55 or not self.visited):
            self.topic_exchange(topic)
        elif roll < 0.8 or not self.visited:
            self.follow_up()
        elif roll < 0.88 and self.shares and len(self.messages) > 3:
            self.share()
        elif not self.revisit():
            self.follow_up()

    def topic_exchange(self, topic: Topic) -> None:
        user, reply = self.pairs_left[topic.label].pop(0)
        if topic not in self.visited:
            self.visited.append(topic)
        if not user.startswith("*") and self.rng.random() < 0.15:
            user = f"{self.rng.choice(USER_ACTIONS)} {user}"
        self.add_user(user)
        self.add_bot([reply])
        self.pairs_in_topic += 1
        if self.pairs_in_topic >= 2 and self.rng.random() < 0.3:  # wander off to something else
            self.topic_index += 1
            self.pairs_in_topic = 0

    def follow_up(self) -> None:
        prompt = self.pick(USER_PROMPTS)
        if self.rng.random() < 0.7:
            prompt = f"{self.rng.choice(USER_REACTIONS)} {prompt}"
        self.add_user(prompt)
        self.add_bot([self.elaboration()])

    def share(self) -> None:
        text, ref = self.shares.pop()
        self.share_refs.append(ref)
        self.add_user(text)
        self.add_bot([self.pick(self.char.sympathies)])

    def revisit(self) -> bool:
        """The human brings back an earlier topic; the bot has to have something new on it."""
        earlier = [topic for topic in self.visited[:-1] if any(m not in self.used for m in topic.more)]
        if not earlier:
            return False
        topic = self.rng.choice(earlier)
        self.add_user(self.pick(USER_CALLBACKS).replace("{ref}", topic.label))
        self.add_bot([self.elaboration(topic)])
        return True

    def farewell(self) -> None:
        self.add_user(self.pick(USER_FAREWELLS))
        self.add_bot([self.pick(self.char.farewells)], extras=False)

    def double_text(self) -> None:
        """Insert a second bot message right after a bot message (a real PIPPA quirk)."""
        bot_positions = [i for i, m in enumerate(self.messages) if not m["is_human"] and i > 0]
        position = self.rng.choice(bot_positions or [0])
        opener = self.rng.choice(DOUBLE_TEXT_OPENERS)
        follow = self.pick(self.char.questions, reuse=False) or self.elaboration()
        self.messages.insert(position + 1, {"message": f"{opener} {follow}", "is_human": False})


def build_conversation(
    char: Character, rng: random.Random, kind: str, quirks: frozenset[str]
) -> list[dict]:
    """Build one conversation of the given length class, with the record's quirks applied."""
    if kind == "short":
        target = rng.randint(*SHORT_MESSAGES)
    elif kind == "medium":
        target = rng.randint(*MEDIUM_MESSAGES)
    else:
        target = round(rng.triangular(LONG_MESSAGES[0], LONG_MESSAGES[1], 80))

    # Who the bot thinks it is talking to.
    user_name, introduce, name_rate, char_ref = None, False, 0.1, None
    if "placeholders" in quirks:
        user_name, char_ref, name_rate = "{{user}}", "{{char}}", 0.35
    elif "malformed_placeholders" in quirks:
        user_name, char_ref = rng.choice(MALFORMED_USER_REFS), rng.choice(MALFORMED_CHAR_REFS)
        name_rate = 0.35
    elif "redacted" in quirks and rng.random() < 0.5:
        user_name, introduce = REDACTED_NAME, True
    elif rng.random() < 0.35:
        user_name, introduce = rng.choice(USER_NAMES), True

    builder = ChatBuilder(char, rng, long=kind == "long", user_name=user_name, introduce=introduce,
                          name_rate=name_rate)
    builder.greet()
    wants_farewell = target >= 8 and rng.random() < (0.5 if kind == "short" else 0.6)
    reserve = 2 if wants_farewell else 0
    while len(builder.messages) + reserve < target or (
        kind == "long" and builder.char_count() < LONG_MIN_CHARS and len(builder.messages) < MAX_MESSAGES
    ):
        builder.step()
    if wants_farewell:
        builder.farewell()
    if "double_bot" in quirks:
        builder.double_text()
    messages = builder.messages
    if "double_bot" not in quirks and len(messages) > 4 and not messages[-1]["is_human"] and rng.random() < 0.06:
        messages.pop()  # some real chats stop on the human's turn

    human_positions = [i for i, m in enumerate(messages) if m["is_human"]]
    bot_positions = [i for i, m in enumerate(messages) if not m["is_human"] and i > 0]
    if char_ref:
        _ensure_placeholders(messages, rng, human_positions, bot_positions, user_name, char_ref)
    if "redacted" in quirks and user_name != REDACTED_NAME:
        i = rng.choice(human_positions)
        messages[i]["message"] = f"{messages[i]['message']} {rng.choice(REDACTED_LINES)}"
    if "name_prefix" in quirks:
        i = rng.choice(bot_positions)
        messages[i]["message"] = f"{char.name}: {messages[i]['message']}"
    if "literal_newline" in quirks:
        i = rng.choice(bot_positions)
        messages[i]["message"] = _with_literal_newline(messages[i]["message"])
    if "non_ascii" in quirks:
        i = rng.choice(human_positions[1:] or human_positions)
        line = rng.choice(NON_ASCII_LINES)
        messages[i]["message"] = line if rng.random() < 0.5 else f"{messages[i]['message']} {line}"
    if "no_greeting" in quirks:
        messages.pop(0)
    return messages


def _ensure_placeholders(
    messages: list[dict],
    rng: random.Random,
    human_positions: list[int],
    bot_positions: list[int],
    user_ref: str,
    char_ref: str,
) -> None:
    """Make sure a placeholder record really contains both the user and the char placeholder."""
    i = rng.choice(human_positions)
    action = rng.choice(CHAR_REF_ACTIONS).replace("{char}", char_ref)
    messages[i]["message"] = f"{action} {messages[i]['message']}"
    if not any(user_ref in messages[j]["message"] for j in bot_positions):
        j = rng.choice(bot_positions)
        line = rng.choice(NAME_LINES).replace("{name}", user_ref)
        messages[j]["message"] = f"{messages[j]['message']} {line}"


def _with_literal_newline(text: str) -> str:
    r"""Insert the two characters ``\n`` the way badly escaped real messages contain them."""
    for marker, replacement in (("* ", "*\\n"), (". ", ".\\n\\n"), ("? ", "?\\n")):
        if marker in text:
            return text.replace(marker, replacement, 1)
    return f"{text}\\n"


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


def make_bot_id(rng: random.Random) -> str:
    return "".join(rng.choice(BOT_ID_ALPHABET) for _ in range(BOT_ID_LENGTH))


def assign_quirks(rng: random.Random, num_records: int) -> list[frozenset[str]]:
    """Give each quirk to a few random records; the identity quirks never share a record."""
    per_record: list[set[str]] = [set() for _ in range(num_records)]
    identity_total = sum(QUIRK_COUNTS[name] for name in IDENTITY_QUIRKS)
    identity_records = rng.sample(range(num_records), identity_total)
    start = 0
    for name in IDENTITY_QUIRKS:
        for index in identity_records[start:start + QUIRK_COUNTS[name]]:
            per_record[index].add(name)
        start += QUIRK_COUNTS[name]
    for name, count in QUIRK_COUNTS.items():
        if name in IDENTITY_QUIRKS:
            continue
        for index in rng.sample(range(num_records), count):
            per_record[index].add(name)
    return [frozenset(quirks) for quirks in per_record]


def make_record(char: Character, rng: random.Random, kind: str, quirks: frozenset[str]) -> dict:
    conversation = build_conversation(char, rng, kind, quirks)
    return {
        "submission_timestamp": rng.randint(*TIMESTAMP_RANGE_MS),
        "categories": None if "null_categories" in quirks else list(char.categories),
        "bot_id": char.bot_id,
        "bot_name": char.name,
        "bot_greeting": char.greeting,
        "bot_definitions": None if "null_definitions" in quirks else "\n".join(char.definitions),
        "bot_description": None if "null_description" in quirks else char.description,
        "conversation": conversation,
    }


def generate(seed: int) -> list[dict]:
    rng = random.Random(seed)
    characters = parse_character_sheets(CHARACTER_SHEETS)
    for char in characters:
        char.bot_id = make_bot_id(rng)

    kinds = ["long"] * NUM_LONG + ["medium"] * NUM_MEDIUM + ["short"] * (NUM_RECORDS - NUM_LONG - NUM_MEDIUM)
    plan = [(characters[i % len(characters)], kind) for i, kind in enumerate(kinds)]
    rng.shuffle(plan)
    quirks = assign_quirks(rng, len(plan))
    return [make_record(char, rng, kind, record_quirks) for (char, kind), record_quirks in zip(plan, quirks)]


def write_jsonl(records: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the JSONL file")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)

    records = generate(args.seed)
    write_jsonl(records, args.output)
    messages = sum(len(record["conversation"]) for record in records)
    longest = max(sum(len(m["message"]) for m in record["conversation"]) for record in records)
    characters = len({record["bot_id"] for record in records})
    print(
        f"wrote {len(records)} records to {args.output}: {characters} characters, {messages} messages, "
        f"longest conversation {longest} characters"
    )


# ---------------------------------------------------------------------------------------------
# The characters. All original. Format: see parse_character_sheets.
# ---------------------------------------------------------------------------------------------

CHARACTER_SHEETS = """
"""

if __name__ == "__main__":
    main()
