"""Generate a small, original Reddit TL;DR summarization sample in CarperAI's field layout.

Stiennon et al. (2020), "Learning to summarize from human feedback", trained summarization
policies on Reddit posts from the TL;DR dataset: a supervised (SFT) set of post/summary pairs, and
a set of human comparisons between two summaries of the same post, used to train a reward model.
CarperAI republished both on the Hugging Face Hub with a simple layout:

* ``CarperAI/openai_summarize_tldr``: ``{"prompt": str, "label": str}``
* ``CarperAI/openai_summarize_comparisons``: ``{"prompt": str, "chosen": str, "rejected": str}``

where the SFT prompt is ``"SUBREDDIT: r/{subreddit}\\nTITLE: {title}\\nPOST: {post}\\nTL;DR: "`` (single
newlines between the fields, a trailing space after ``TL;DR:``) and ``label`` is the bare summary; the
comparisons' prompt stops after the post, and ``chosen``/``rejected`` carry the ``"TL;DR: "`` prefix.

The real data is large and not ours to ship, so this script writes a small offline stand-in that
tests, demos and smoke runs of the SFT and reward-model pipelines can read without a network:

* ``llm/data/samples/tldr_sft_sample.jsonl``: 300 records;
* ``llm/data/samples/tldr_comparisons_sample.jsonl``: 400 records.

Every post is original and safe for work. Posts are assembled from the scenario banks in
``SCENARIOS`` (a roommate who never does the dishes, a dog afraid of thunder, a burnt sourdough, a
landlord keeping a deposit, ...): each scenario has slots (names, amounts, durations) that are
filled once per post, and sentence templates that use them. Because the generator knows the facts
it put into a post, the reference summary can state exactly those facts.

Posts are 60-250 words, except a few long ones (350-500 words) for testing prompt truncation. In
the comparisons, ``chosen`` is always a faithful, specific summary, and ``rejected`` has one
learnable defect: a key fact swapped for a wrong one, vague filler, a summary of a different post,
degenerate repetition, or a cut-off sentence. Some posts get two comparisons, as in the real data.
A handful of deliberately broken pairs (``chosen == rejected`` or an empty side) are included so
that a loader's drop counting can be tested; their line numbers are printed.

Output is byte-for-byte stable for a given seed (a seeded ``random.Random``, no time, no hash or
set ordering). Only the Python 3.11 standard library is used.

Usage::

    python examples/make_tldr_sample.py [--out-dir DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT_DIR = REPO_ROOT / "llm" / "data" / "samples"
DEFAULT_SEED = 2020
SFT_FILENAME = "tldr_sft_sample.jsonl"
COMPARISONS_FILENAME = "tldr_comparisons_sample.jsonl"

NUM_SFT = 300
NUM_SFT_LONG = 15
NUM_COMPARISON_POSTS = 320
NUM_COMPARISON_LONG = 16
# Posts that get a second comparison (a different rejected summary), as in the real data.
NUM_SECOND_PAIRS = 76
# Deliberately broken pairs a pipeline must drop: the total is NUM_COMPARISON_POSTS +
# NUM_SECOND_PAIRS + len(BAD_PAIR_KINDS) = 400 records.
BAD_PAIR_KINDS = ("identical", "empty_chosen", "identical", "empty_rejected")

NORMAL_WORDS = (60, 250)
LONG_WORDS = (350, 500)
SUMMARY_WORDS = (8, 30)
MAX_FILE_BYTES = 1_500_000

SUMMARY_PREFIX = "TL;DR: "
DEFECTS = ("wrong_fact", "vague", "off_topic", "repetitive", "truncated")
DEFECT_WEIGHTS = (3, 2, 2, 2, 2)

# Facts not checked for in the post text: pronouns, and "_sum" paraphrases made for summaries.
UNCHECKED_SUFFIXES = ("_they", "_them", "_their", "_g", "_sum")


# ---------------------------------------------------------------------------------------------
# Data model.
# ---------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One kind of post: its slots, and the sentence templates that use them.

    ``slots`` maps a slot name to its possible values. A value is either a string (the fact named
    after the slot) or a dict of several facts that must go together (a name and its pronouns, an
    amount saved and the price of the car). ``key`` lists the facts a wrong-fact summary may swap.
    ``core`` sentences are always used, in order; an entry that is a tuple is a choice of
    alternatives. ``extras`` are optional color, used to reach the post's target length.
    """

    name: str
    subreddit: str
    vague: str
    slots: dict[str, list]
    key: tuple[str, ...]
    titles: list[str]
    openings: list[str]
    core: list[str | tuple[str, ...]]
    extras: list[str]
    asks: list[str]
    summaries: list[str]
    fact_slot: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.fact_slot = {}
        for slot, values in self.slots.items():
            for value in values:
                for fact in as_facts(slot, value):
                    self.fact_slot[fact] = slot
        missing = [fact for fact in self.key if fact not in self.fact_slot]
        if missing:
            raise ValueError(f"scenario {self.name}: key facts {missing} have no slot")


@dataclass
class Post:
    scenario: Scenario
    facts: dict[str, str]
    title: str
    body: str

    @property
    def prompt(self) -> str:
        return f"{self.comparison_prompt}\nTL;DR: "

    @property
    def comparison_prompt(self) -> str:
        """The comparisons set stores the prompt without ``TL;DR:``; its summaries carry the prefix."""
        return f"SUBREDDIT: r/{self.scenario.subreddit}\nTITLE: {self.title}\nPOST: {self.body}"

    @property
    def words(self) -> int:
        return len(self.body.split())


def as_facts(slot: str, value: str | dict[str, str]) -> dict[str, str]:
    return dict(value) if isinstance(value, dict) else {slot: value}


def person(prefix: str, name: str, gender: str, **extra: str) -> dict[str, str]:
    """A named person with pronoun facts: ``{prefix}``, ``{prefix}_they``, ``_them``, ``_their``, ``_g``."""
    they, them, their = {"F": ("she", "her", "her"), "M": ("he", "him", "his")}[gender]
    facts = {
        prefix: name,
        f"{prefix}_they": they,
        f"{prefix}_them": them,
        f"{prefix}_their": their,
        f"{prefix}_g": gender,
    }
    facts.update(extra)
    return facts


# ---------------------------------------------------------------------------------------------
# Rendering posts.
# ---------------------------------------------------------------------------------------------


def fill(template: str, facts: dict[str, str]) -> str:
    """Fill a template and capitalize its first letter (slots often start a sentence)."""
    text = template.format_map(facts)
    return text[:1].upper() + text[1:]


def template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def word_count(sentences: list[str]) -> int:
    return sum(len(sentence.split()) for sentence in sentences)


def sample_facts(scenario: Scenario, rng: random.Random) -> dict[str, str]:
    facts = {"age": str(rng.randint(19, 35)), "g": rng.choice("FM")}
    for slot, values in scenario.slots.items():
        facts.update(as_facts(slot, rng.choice(values)))
    return facts


def write_post(scenario: Scenario, facts: dict[str, str], rng: random.Random, long: bool) -> Post:
    """Assemble a post: opening and core facts, then extras (and asides) up to a target length."""
    low, high = LONG_WORDS if long else NORMAL_WORDS
    target = rng.randint(low + 20, high - 30) if long else rng.randint(low + 10, high - 40)

    opener = rng.choice(OPENERS) if rng.random() < (0.5 if long else 0.12) else None
    head = [fill(rng.choice(scenario.openings), facts)]
    head += [fill(rng.choice(beat) if isinstance(beat, tuple) else beat, facts) for beat in scenario.core]
    ask = fill(rng.choice(scenario.asks), facts)
    edit = rng.choice(EDITS) if rng.random() < (0.5 if long else 0.08) else None

    fixed = head + [ask] + [s for s in (opener, edit) if s]
    count = word_count(fixed)
    pool = rng.sample(scenario.extras, len(scenario.extras)) + rng.sample(ASIDES, len(ASIDES))
    middle: list[str] = []
    for template in pool:
        if count >= target:
            break
        sentence = fill(template, facts)
        if count + len(sentence.split()) <= high:
            middle.append(sentence)
            count += len(sentence.split())
    if long:
        rng.shuffle(middle)  # mix the scenario's color in with the generic asides

    paragraphs = [opener] if opener else []
    paragraphs.append(" ".join(head))
    while middle:
        size = rng.randint(2, 4)
        paragraphs.append(" ".join(middle[:size]))
        middle = middle[size:]
    paragraphs.append(ask)
    if edit:
        paragraphs.append(edit)
    separator = " " if count < 120 and rng.random() < 0.6 else "\n\n"
    body = separator.join(paragraphs)

    title = fill(rng.choice(scenario.titles), facts)
    post = Post(scenario, facts, title, body)
    if not low <= post.words <= high:
        raise ValueError(f"scenario {scenario.name}: post of {post.words} words, wanted {low}-{high}")
    return post


def new_post(scenario: Scenario, rng: random.Random, long: bool, seen: set[str], attempts: int = 50) -> Post:
    """A post whose prompt has not been produced before (in either file)."""
    for _ in range(attempts):
        post = write_post(scenario, sample_facts(scenario, rng), rng, long)
        if post.prompt not in seen:
            seen.add(post.prompt)
            return post
    raise RuntimeError(f"scenario {scenario.name}: could not find a fresh post")


def scenario_sequence(n: int, rng: random.Random) -> list[Scenario]:
    """n scenarios, cycling through all of them in a fresh random order each round."""
    sequence: list[Scenario] = []
    while len(sequence) < n:
        sequence += rng.sample(SCENARIOS, len(SCENARIOS))
    return sequence[:n]


# ---------------------------------------------------------------------------------------------
# Summaries: faithful ones, and rejected ones with one kind of defect.
# ---------------------------------------------------------------------------------------------


def check_summary(post: Post, template: str, summary: str) -> None:
    """A faithful summary must be one sentence of 8-30 words whose facts all appear in the post."""
    low, high = SUMMARY_WORDS
    if not low <= len(summary.split()) <= high:
        raise ValueError(
            f"scenario {post.scenario.name}: summary has {len(summary.split())} words: {summary}"
        )
    body = post.body.lower()
    for name in template_fields(template):
        if not name.endswith(UNCHECKED_SUFFIXES) and post.facts[name].lower() not in body:
            raise ValueError(f"scenario {post.scenario.name}: summary fact {name!r} is not in the post")


def faithful_summary(post: Post, rng: random.Random) -> tuple[str, str]:
    """(template, summary) stating the post's facts."""
    template = rng.choice(post.scenario.summaries)
    summary = fill(template, post.facts)
    check_summary(post, template, summary)
    return template, summary


def wrong_fact_summary(post: Post, template: str, rng: random.Random) -> str | None:
    """The same summary with one key fact replaced by a value the post never mentions."""
    scenario = post.scenario
    candidates = [name for name in template_fields(template) if name in scenario.key]
    body = post.body.lower()
    for name in rng.sample(candidates, len(candidates)):
        slot = scenario.fact_slot[name]
        alternatives = []
        for value in scenario.slots[slot]:
            facts = as_facts(slot, value)
            if facts[name] != post.facts[name] and facts[name].lower() not in body:
                alternatives.append(facts)
        if alternatives:
            return fill(template, {**post.facts, **rng.choice(alternatives)})
    return None


def vague_summary(post: Post, rng: random.Random) -> str:
    return fill(rng.choice(VAGUE_SUMMARIES), {"vague": post.scenario.vague})


def off_topic_summary(post: Post, rng: random.Random) -> str:
    """A faithful summary of some other post, from a different subreddit."""
    others = [s for s in SCENARIOS if s.subreddit != post.scenario.subreddit]
    other = rng.choice(others)
    return fill(rng.choice(other.summaries), sample_facts(other, rng))


def repetitive_summary(post: Post, summary: str, rng: random.Random) -> str:
    """Degenerate looping output, the way a badly tuned small model repeats itself."""
    proper = {value for value in post.facts.values() if value[:1].isupper()}
    words = summary.rstrip(".?!").split()
    clause = re.split(r"[,;:] ", summary)[0].rstrip(".?! ")

    def decapitalize(text: str) -> str:
        first = re.sub(r"('s)?[,;:]*$", "", text.split()[0])
        return text if first == "I" or first in proper else text[:1].lower() + text[1:]

    if len(clause.split()) < 5 or rng.random() < 0.5:
        chunk = " ".join(words[: rng.randint(4, min(8, len(words) - 1))]).rstrip(",;:")
        loops = [chunk] + [decapitalize(chunk)] * rng.randint(2, 3)
        return " and ".join(loops) + "."
    return " ".join([clause + "."] * rng.randint(2, 3))


def truncated_summary(summary: str, rng: random.Random) -> str:
    """The summary cut off mid-sentence, as if generation hit a token limit."""
    words = summary.split()
    cut = rng.randint(max(3, int(len(words) * 0.35)), max(4, int(len(words) * 0.65)))
    return " ".join(words[:cut]).rstrip(",;:")


def rejected_summary(
    post: Post, template: str, summary: str, defect: str, rng: random.Random
) -> tuple[str, str]:
    """(defect actually used, rejected summary). Falls back to a vague summary if needed."""
    if defect == "wrong_fact":
        wrong = wrong_fact_summary(post, template, rng)
        if wrong is not None:
            return defect, wrong
        defect = "vague"
    if defect == "off_topic":
        return defect, off_topic_summary(post, rng)
    if defect == "repetitive":
        return defect, repetitive_summary(post, summary, rng)
    if defect == "truncated":
        return defect, truncated_summary(summary, rng)
    return "vague", vague_summary(post, rng)


def comparison(post: Post, rng: random.Random, avoid: str | None = None) -> tuple[dict[str, str], str]:
    """One comparison record for a post, and the defect its rejected summary has."""
    template, summary = faithful_summary(post, rng)
    defects = [d for d in DEFECTS if d != avoid]
    weights = [w for d, w in zip(DEFECTS, DEFECT_WEIGHTS) if d != avoid]
    defect, rejected = rejected_summary(post, template, summary, rng.choices(defects, weights)[0], rng)
    record = {
        "prompt": post.comparison_prompt,
        "chosen": SUMMARY_PREFIX + summary,
        "rejected": SUMMARY_PREFIX + rejected,
    }
    return record, defect


def bad_pair(post: Post, kind: str, rng: random.Random) -> dict[str, str]:
    """A deliberately broken comparison that a data pipeline must drop."""
    _, summary = faithful_summary(post, rng)
    good = SUMMARY_PREFIX + summary
    if kind == "identical":
        return {"prompt": post.comparison_prompt, "chosen": good, "rejected": good}
    if kind == "empty_chosen":
        return {
            "prompt": post.comparison_prompt,
            "chosen": "",
            "rejected": SUMMARY_PREFIX + vague_summary(post, rng),
        }
    if kind == "empty_rejected":
        return {"prompt": post.comparison_prompt, "chosen": good, "rejected": ""}
    raise ValueError(f"unknown bad pair kind {kind!r}")


# ---------------------------------------------------------------------------------------------
# The two files.
# ---------------------------------------------------------------------------------------------


def make_posts(n: int, n_long: int, rng: random.Random, seen: set[str]) -> list[Post]:
    long_indices = set(rng.sample(range(n), n_long))
    return [new_post(s, rng, i in long_indices, seen) for i, s in enumerate(scenario_sequence(n, rng))]


def make_sft(rng: random.Random, seen: set[str]) -> tuple[list[dict[str, str]], list[Post]]:
    posts = make_posts(NUM_SFT, NUM_SFT_LONG, rng, seen)
    records = [{"prompt": post.prompt, "label": faithful_summary(post, rng)[1]} for post in posts]
    return records, posts


def make_comparisons(
    rng: random.Random, seen: set[str]
) -> tuple[list[dict[str, str]], list[Post], list[int], dict[str, int]]:
    """(records, the post of each record, 1-based line numbers of the bad pairs, defect counts)."""
    posts = make_posts(NUM_COMPARISON_POSTS, NUM_COMPARISON_LONG, rng, seen)
    rows: list[tuple[dict[str, str], Post, bool]] = []
    defects = dict.fromkeys(DEFECTS, 0)
    first_defect = {}
    for index, post in enumerate(posts):
        record, defect = comparison(post, rng)
        rows.append((record, post, False))
        defects[defect] += 1
        first_defect[index] = defect
    for index in sorted(rng.sample(range(len(posts)), NUM_SECOND_PAIRS)):
        record, defect = comparison(posts[index], rng, avoid=first_defect[index])
        rows.append((record, posts[index], False))
        defects[defect] += 1
    for kind, index in zip(BAD_PAIR_KINDS, sorted(rng.sample(range(len(posts)), len(BAD_PAIR_KINDS)))):
        rows.append((bad_pair(posts[index], kind, rng), posts[index], True))
    rng.shuffle(rows)
    bad_lines = [line for line, (_, _, bad) in enumerate(rows, start=1) if bad]
    return [r for r, _, _ in rows], [p for _, p, _ in rows], bad_lines, defects


def write_jsonl(records: list[dict[str, str]], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    data = text.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{path.name} would be {len(data)} bytes, over the {MAX_FILE_BYTES} byte limit")
    path.write_bytes(data)
    return len(data)


def mean_words(posts: list[Post]) -> float:
    return sum(post.words for post in posts) / len(posts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="output folder (default: llm/data/samples)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    seen: set[str] = set()  # prompts already used, so the two files share no post
    sft, sft_posts = make_sft(rng, seen)
    pairs, pair_posts, bad_lines, defects = make_comparisons(rng, seen)

    size = write_jsonl(sft, args.out_dir / SFT_FILENAME)
    longest = max(post.words for post in sft_posts)
    print(
        f"{SFT_FILENAME}: {len(sft)} records, mean post words {mean_words(sft_posts):.1f}, "
        f"{sum(p.words >= LONG_WORDS[0] for p in sft_posts)} long posts (max {longest} words), {size} bytes"
    )
    size = write_jsonl(pairs, args.out_dir / COMPARISONS_FILENAME)
    defect_text = ", ".join(f"{name} {count}" for name, count in defects.items())
    print(
        f"{COMPARISONS_FILENAME}: {len(pairs)} records, mean post words {mean_words(pair_posts):.1f}, "
        f"{size} bytes, rejected defects: {defect_text}; "
        f"{len(bad_lines)} deliberately bad pairs at lines {', '.join(map(str, bad_lines))}"
    )


# ---------------------------------------------------------------------------------------------
# Generic material shared by all scenarios.
# ---------------------------------------------------------------------------------------------

OPENERS = [
    "Throwaway because a few people I know follow my main account.",
    "Long time lurker, first time poster.",
    "On mobile, so sorry about the formatting.",
    "Not sure if this is the right sub for this, but here goes.",
    "I never thought I'd be posting here, but I'm out of ideas.",
]

EDITS = [
    "Edit: formatting.",
    "Edit: a few people asked, and yes, I've already tried the obvious things.",
    "Edit: thank you all for the replies, I'm reading every single one.",
    "Edit: wow, I did not expect this many comments. Thank you, really.",
    "Edit: fixed a typo in the title, sorry.",
]

# Neutral sentences that fit any post; long posts use many of them.
ASIDES = [
    "I've been going back and forth on this for days, so I figured I'd ask people who don't know me.",
    "Sorry for the wall of text, I wanted to give the whole picture.",
    "I know some of you will say I'm overthinking this, and you might be right.",
    "I talked it over with a couple of people, and every one of them told me something different.",
    "I'm normally pretty easygoing, so it's strange for me to be this stressed about something.",
    "I've read a lot of older threads about similar situations, but none of them quite matched mine.",
    "For what it's worth, I'm {age} and I've never had to deal with anything like this before.",
    "I'm trying to handle this like an adult, which turns out to be harder than it sounds.",
    "It's been on my mind constantly, to the point where I'm losing sleep over it.",
    "I'd rather hear the hard truth than just what I want to hear.",
    "I've made a list of pros and cons twice now, and it didn't help as much as I hoped.",
    "Part of me feels silly for asking, but I don't really have anyone else to ask.",
    "I know this isn't the end of the world, and plenty of people have much bigger problems.",
    "Looking back, I probably should have dealt with this a lot sooner.",
    "Work has been busy lately too, so I haven't had much energy left over for any of this.",
    "I did search before posting, so apologies if this has been asked a hundred times.",
    "To be fair, there might be details I'm missing, and I'm open to hearing that I'm wrong.",
    "If anyone has been in a similar spot, I'd really like to hear how it turned out for you.",
    "I'll try to answer questions in the comments if I left anything important out.",
    "I keep telling myself it will sort itself out, but so far it hasn't.",
    "My first instinct was to just ignore it, but that clearly isn't working.",
    "I'm generally not someone who posts about my life online, so this is a first for me.",
    "Every time I think I've made a decision, I end up second-guessing it the next morning.",
    "I've also been trying to keep up with everything else in my life, which hasn't been easy.",
    "I don't want to make a bigger deal of this than it needs to be.",
    "My mom's advice was to sleep on it, and I have, for about a week now.",
    "I wrote out a longer version of this post and deleted it because it was basically a novel.",
]

VAGUE_SUMMARIES = [
    "Having some problems with {vague} and not sure what to do.",
    "Something happened with {vague} and I need advice.",
    "Things are complicated with {vague} right now, any thoughts?",
    "It's a long story about {vague}, please read the post.",
    "I have a situation and I don't know how to handle it.",
    "Basically stuff is going on and it's stressing me out.",
    "Need some advice on {vague}, it's kind of a whole thing.",
    "Not sure if I'm overreacting, what would you do?",
    "Read the post, it explains everything about {vague}.",
    "Just a question about {vague}, any help is appreciated.",
    "{vague} stuff, you know how it is.",
    "Life is hard sometimes, especially with {vague}.",
]

AGES_YOUNG = [str(age) for age in range(19, 30)]
AGES_ADULT = [str(age) for age in range(24, 40)]
STATES = ["OH", "TX", "OR", "MI", "AZ", "PA", "NC", "WA", "GA", "MN"]
STATE_NAMES = {
    "OH": "Ohio",
    "TX": "Texas",
    "OR": "Oregon",
    "MI": "Michigan",
    "AZ": "Arizona",
    "PA": "Pennsylvania",
    "NC": "North Carolina",
    "WA": "Washington",
    "GA": "Georgia",
    "MN": "Minnesota",
}
STATE_SLOT = [{"state": code, "state_name": name} for code, name in STATE_NAMES.items()]


# ---------------------------------------------------------------------------------------------
# The scenarios. All posts are original.
# ---------------------------------------------------------------------------------------------

SCENARIOS = [
    Scenario(
        name="roommate_dishes",
        subreddit="relationship_advice",
        vague="my living situation",
        slots={
            "rm": [
                person("rm", "Jess", "F"),
                person("rm", "Kyle", "M"),
                person("rm", "Priya", "F"),
                person("rm", "Marcus", "M"),
                person("rm", "Hannah", "F"),
            ],
            "rm_age": AGES_YOUNG,
            "weeks": ["two", "three", "five", "six"],
            "pile": [
                "a tower of greasy pans",
                "every mug we own",
                "a pot of old chili",
                "two crusty baking sheets",
            ],
            "months_lived": ["four months", "almost a year", "eight months", "two years"],
            "excuse": [
                "I'll get to it tonight",
                "they need to soak",
                "I've been slammed at work",
                "I was going to do them tomorrow",
            ],
            "lease_months": ["five", "seven", "nine"],
        },
        key=("weeks", "rm", "pile"),
        titles=[
            "Me [{age}{g}] and my roommate [{rm_age}{rm_g}]: dishes piling up for {weeks} weeks",
            "Roommate never does the dishes and I'm losing my mind",
            "How do I bring up chores with my roommate without starting a fight?",
        ],
        openings=[
            (
                "My roommate {rm} [{rm_age}{rm_g}] and I have lived together for {months_lived}, and mostly "
                "it's been fine."
            ),
            (
                "I've shared an apartment with {rm} for {months_lived} and we get along well, except for "
                "one thing."
            ),
        ],
        core=[
            "The problem is the dishes.",
            (
                "For the last {weeks} weeks {rm_they} hasn't washed a single thing, and right now there's "
                "{pile} in the sink."
            ),
            (
                "We made a chore chart together when we moved in, and {rm_they} agreed to do dishes while I "
                "take the trash and the bathroom."
            ),
            "Every time I mention it {rm_they} says '{excuse}', and then nothing happens.",
            (
                "I've started washing them myself just so I can cook, and I'm starting to resent it.",
                "Last night I couldn't find a single clean pan to make dinner, so I ate cereal standing up.",
            ),
        ],
        extras=[
            "I don't want to be the nagging roommate, and {rm_they} is honestly a good friend otherwise.",
            "{rm_they} pays rent on time and is quiet when I'm sleeping, so I know it could be a lot worse.",
            "The kitchen has started to smell, and I noticed fruit flies near the sink this week.",
            (
                "I tried leaving a friendly sticky note on the cupboard, and it was still there three days "
                "later."
            ),
            "We split groceries, so it's not like {rm_they} isn't using the kitchen.",
            (
                "My mom suggested putting {rm_their} dirty dishes in a box outside {rm_their} room, but "
                "that feels passive-aggressive."
            ),
            "Our lease is up in {lease_months} months, so moving out right now isn't really an option.",
        ],
        asks=[
            "How do I bring this up without it turning into a huge fight?",
            "Am I overreacting, or is this a reasonable thing to be upset about?",
            "What would you do in my position?",
        ],
        summaries=[
            (
                "My roommate {rm} hasn't done the dishes in {weeks} weeks despite our chore chart, how do I "
                "bring it up without a fight?"
            ),
            (
                "Roommate agreed to do the dishes but has left {pile} in the sink for {weeks} weeks and "
                "keeps saying '{excuse}'."
            ),
            (
                "{rm} ignores our chore chart and hasn't washed a dish in {weeks} weeks; I'm starting to "
                "resent it."
            ),
        ],
    ),
    Scenario(
        name="first_car",
        subreddit="personalfinance",
        vague="money",
        slots={
            "age": ["17", "18", "19", "20"],
            "saved": ["$2,400", "$3,100", "$4,800", "$5,500"],
            "months": ["eight", "ten", "fourteen", "eighteen"],
            "job": [
                "bagging groceries",
                "working at a pizza place",
                "lifeguarding at the town pool",
                "doing weekend shifts at a coffee shop",
            ],
            "car": [
                {"car": "2012 Honda Civic", "price": "$7,900"},
                {"car": "2010 Toyota Corolla", "price": "$6,500"},
                {"car": "2014 Mazda 3", "price": "$9,200"},
                {"car": "2011 Ford Fusion", "price": "$6,200"},
            ],
            "miles": ["92,000", "118,000", "134,000", "87,000"],
            "parent": ["dad", "mom"],
            "rate": ["9.9", "13.2", "9.7", "12.4"],
            "insurance": ["$140", "$185", "$210"],
        },
        key=("saved", "rate", "car", "months"),
        titles=[
            "Saving for my first car at {age}: pay cash or take a loan?",
            "First car: keep saving or finance now?",
            "{age}, {saved} saved, looking at a {car}",
        ],
        openings=[
            "I'm {age} and I've been saving for my first car for {months} months by {job}.",
            (
                "I'm {age}, and I've been {job} for {months} months with almost every paycheck going into a "
                "car fund."
            ),
        ],
        core=[
            (
                "Right now I have {saved} in savings, which is basically everything I've made minus gas "
                "money for my {parent}'s car."
            ),
            (
                "I found a {car} with about {miles} miles on it, listed for {price} at a small dealership "
                "near me."
            ),
            (
                "My {parent} offered to co-sign a loan for the rest so I can buy it now, but the dealer's "
                "rate is {rate} percent."
            ),
            "The other option is to keep saving and buy something older and cheaper in cash.",
        ],
        extras=[
            (
                "I need a car mostly to get to community college in the fall, which is about twenty minutes "
                "away."
            ),
            "Insurance quotes for me are around {insurance} a month because of my age, which surprised me.",
            (
                "I don't have any credit history at all, so I'm not sure a loan would even be approved "
                "without my {parent}."
            ),
            "Everyone I know says never to finance a used car, but everyone I know also already has a car.",
            "I've been reading the wiki here, which is how I found out about total cost of ownership.",
            (
                "My {parent} has been driving me to work on weekends, and I can tell it's getting old for "
                "both of us."
            ),
            (
                "The dealer keeps texting me that someone else is interested, which I'm pretty sure is a "
                "sales trick."
            ),
        ],
        asks=[
            "Is it smarter to wait and save more, or to take the loan and start building credit?",
            "What would you do with {saved} and a first car to buy?",
        ],
        summaries=[
            (
                "I'm {age} with {saved} saved for a first car; should I finance a {price} {car} at {rate}% "
                "with my {parent} co-signing?"
            ),
            (
                "Saved {saved} over {months} months for my first car, debating a co-signed loan at {rate}% "
                "versus saving more and paying cash."
            ),
            (
                "Should a {age}-year-old with {saved} saved take a {rate}% loan on a {car} or buy something "
                "cheaper in cash?"
            ),
        ],
    ),
    Scenario(
        name="dog_thunder",
        subreddit="dogs",
        vague="my dog",
        slots={
            "dog": [
                person("dog", "Biscuit", "M"),
                person("dog", "Luna", "F"),
                person("dog", "Moose", "M"),
                person("dog", "Pepper", "F"),
                person("dog", "Tucker", "M"),
            ],
            "breed": ["beagle mix", "border collie", "golden retriever", "pit bull mix", "cattle dog"],
            "dog_age": ["two", "four", "six", "three"],
            "adopted": ["last spring", "about a year ago", "eight months ago"],
            "hide": [
                "the bathtub",
                "the space under my bed",
                "the gap behind the toilet",
                "the laundry room",
            ],
            "tried": [
                "a thunder shirt",
                "leaving the TV on loud",
                "calming chews",
                "a white noise machine",
            ],
            "storm_days": ["three days", "almost every afternoon", "four nights"],
            "vet_weeks": ["two", "three", "five"],
        },
        key=("breed", "hide", "tried", "dog_age"),
        titles=[
            "My dog is terrified of thunderstorms, what actually helps?",
            "{breed} shakes and hides during every storm",
            "Thunderstorm anxiety: tried {tried}, no luck",
        ],
        openings=[
            "We adopted {dog}, a {dog_age}-year-old {breed}, from a shelter {adopted}.",
            (
                "{dog} is a {dog_age}-year-old {breed} we got from a rescue {adopted}, and {dog_they}'s the "
                "sweetest dog I've ever had."
            ),
        ],
        core=[
            (
                "As soon as {dog_they} hears thunder, {dog_they} starts panting, shaking and drooling, and "
                "then hides in {hide} for hours."
            ),
            (
                "Last week {dog_they} scratched at the door so hard during a storm that {dog_they} cracked "
                "a nail."
            ),
            "We tried {tried}, but it didn't seem to make any difference.",
            "Storm season is just starting here, and the forecast has thunder {storm_days} this week.",
        ],
        extras=[
            "{dog_they} isn't bothered by fireworks or the vacuum, which is the weird part.",
            "I work from home, so at least I'm usually there when it happens.",
            "The shelter said {dog_they} was found as a stray, so we don't know much about {dog_their} past.",
            (
                "I've read that comforting a scared dog reinforces the fear, and also that that's a myth, "
                "so now I don't know what to believe."
            ),
            (
                "Our vet appointment isn't for another {vet_weeks} weeks, and I'd like to have a plan "
                "before then."
            ),
            (
                "I tried playing thunder sounds quietly on YouTube to get {dog_them} used to it, but "
                "{dog_they} just left the room."
            ),
            (
                "{dog_they} won't even eat {dog_their} dinner if it's raining, and {dog_they} normally "
                "inhales food."
            ),
        ],
        asks=[
            "Has anyone actually fixed this with their dog?",
            "What worked for your storm-phobic dog?",
            "Is this something we can train, or do we need medication?",
        ],
        summaries=[
            (
                "My {dog_age}-year-old rescue {breed} hides in {hide} during every thunderstorm, and "
                "{tried} didn't help; what else can I try?"
            ),
            (
                "{dog}, our rescue {breed}, shakes and hides in {hide} for hours whenever it thunders, and "
                "{tried} made no difference."
            ),
        ],
    ),
    Scenario(
        name="burnt_sourdough",
        subreddit="Breadit",
        vague="baking",
        slots={
            "attempt": [
                {"attempt": "third", "attempt_num": "3"},
                {"attempt": "fourth", "attempt_num": "4"},
                {"attempt": "fifth", "attempt_num": "5"},
                {"attempt": "sixth", "attempt_num": "6"},
            ],
            "temp": ["475", "500", "450"],
            "minutes": ["45", "50", "40"],
            "starter_name": ["Doughy Parton", "Bread Pitt", "Clint Yeastwood", "Jabba the Dough"],
            "starter_age": ["three weeks", "two months", "ten days"],
            "flour": [
                "bread flour",
                "whole wheat flour",
                "all-purpose flour",
                "a mix of bread and rye flour",
            ],
            "vessel": ["in a Dutch oven", "on a pizza stone", "in a cast iron skillet"],
        },
        key=("temp", "vessel", "minutes", "attempt"),
        titles=[
            "Sourdough attempt #{attempt_num}: black on the bottom, gummy in the middle",
            "Why does my sourdough keep burning on the bottom?",
            "Burnt another loaf, what am I doing wrong?",
        ],
        openings=[
            (
                "I just pulled my {attempt} sourdough loaf out of the oven, and once again the bottom is "
                "burnt almost black."
            ),
            (
                "This is my {attempt} sourdough loaf, and like the others the bottom came out burnt almost "
                "black."
            ),
        ],
        core=[
            (
                "I'm using a starter I made {starter_age} ago (his name is {starter_name}) and {flour}, at "
                "about 75 percent hydration."
            ),
            "I bake it {vessel} at {temp}F for {minutes} minutes total.",
            "The crust on top looks great, but the bottom is charred and the middle is still gummy.",
            "I cut into the last one way too early, so this time I waited two full hours before slicing.",
        ],
        extras=[
            "My oven is old and I suspect it runs hot, but I don't own an oven thermometer yet.",
            "The loaf had a decent ear, which made me stupidly proud for about five minutes.",
            "My partner says it's fine if you just cut the bottom off, but that feels like cheating.",
            "I've been following a recipe from a YouTube video, and mine looks nothing like hers.",
            "The starter doubles in about six hours, so I think it's healthy.",
            "I've now used almost a whole bag of flour on this project.",
            "The whole apartment smelled like a campfire afterward.",
        ],
        asks=[
            "What am I doing wrong?",
            "Should I lower the temperature, move the rack up, or something else?",
        ],
        summaries=[
            (
                "My {attempt} sourdough loaf burnt on the bottom again and stayed gummy inside, baking "
                "{vessel} at {temp}F for {minutes} minutes."
            ),
            (
                "Sourdough keeps coming out black on the bottom and gummy inside at {temp}F {vessel}; how "
                "do I fix it?"
            ),
        ],
    ),
    Scenario(
        name="marathon_plateau",
        subreddit="running",
        vague="my training",
        slots={
            "race": [
                "the Chicago Marathon",
                "a local spring marathon",
                "the Twin Cities Marathon",
                "a small trail marathon",
            ],
            "weeks_out": ["eight", "ten", "twelve", "six"],
            "pace": [
                {"pace": "9:30", "goal": "4:05"},
                {"pace": "8:45", "goal": "3:50"},
                {"pace": "10:15", "goal": "4:30"},
                {"pace": "8:10", "goal": "3:35"},
            ],
            "miles": ["30", "35", "40", "28"],
            "long_run": ["16", "18", "14", "15"],
            "stuck_weeks": ["four", "five", "six"],
        },
        key=("pace", "stuck_weeks", "weeks_out", "miles"),
        titles=[
            "Marathon training plateau, {weeks_out} weeks out",
            "Pace hasn't improved in {stuck_weeks} weeks, what am I doing wrong?",
            "Stuck at {pace} per mile: is my sub-{goal} goal still realistic?",
        ],
        openings=[
            "I'm training for my first marathon, {race}, which is {weeks_out} weeks away.",
            "First marathon, {race}, is {weeks_out} weeks out and I'm starting to panic a little.",
        ],
        core=[
            "My goal is to finish under {goal}.",
            "I'm running about {miles} miles a week, with a long run of {long_run} miles on Sundays.",
            (
                "For the past {stuck_weeks} weeks my pace has been stuck at around {pace} per mile, no "
                "matter how I feel."
            ),
            (
                "Early in the plan I was getting faster almost every week, so the plateau is messing with "
                "my head."
            ),
            "I do almost all my runs at the same pace because that's what feels comfortable.",
        ],
        extras=[
            "I'm sleeping about six hours a night because of work, which I know isn't ideal.",
            "I haven't been doing any strength training, just running.",
            "My watch says my resting heart rate went up a few beats in the last month.",
            "I ran a half marathon in the spring and loved it, which is why I signed up for the full.",
            "I've been taking one gel on long runs, but I'm not sure that's enough.",
            "My legs feel heavy most mornings, even on rest days.",
            (
                "My running buddy moved away, so I've been doing everything alone, which doesn't help "
                "motivation."
            ),
        ],
        asks=[
            "Is this normal, and should I change something with {weeks_out} weeks to go?",
            "Do I need speed work, more rest, or just patience?",
        ],
        summaries=[
            (
                "I'm training for my first marathon and my pace has been stuck at {pace} per mile for "
                "{stuck_weeks} weeks, with {weeks_out} weeks left."
            ),
            (
                "Running {miles} miles a week but stuck at a {pace} pace for {stuck_weeks} weeks, "
                "{weeks_out} weeks before my first marathon; is sub-{goal} realistic?"
            ),
        ],
    ),
    Scenario(
        name="landlord_deposit",
        subreddit="legaladvice",
        vague="my old apartment",
        slots={
            "state": STATE_SLOT,
            "deposit": ["$1,200", "$950", "$1,500", "$1,800"],
            "years": ["two years", "three years", "eighteen months"],
            "days": ["45", "40", "60"],
            "claim": [
                {"claim": "repainting the whole unit", "claim_short": "repainting"},
                {"claim": "replacing the carpet", "claim_short": "new carpet"},
                {"claim": "a 'deep cleaning fee'", "claim_short": "a cleaning fee"},
                {"claim": "replacing blinds that were already broken", "claim_short": "blinds"},
            ],
        },
        key=("deposit", "state_name", "days", "claim"),
        titles=[
            "Landlord keeping my entire {deposit} deposit for {claim_short}",
            "[{state}] Landlord won't return my security deposit",
            "Moved out {days} days ago, still no deposit, what are my options?",
        ],
        openings=[
            "I moved out of my apartment in {state_name} {days} days ago after living there for {years}.",
            "I rented a one bedroom in {state_name} for {years} and moved out {days} days ago.",
        ],
        core=[
            "I left the place spotless, and I took photos and a video of every room on my last day.",
            (
                "Yesterday I finally got a letter saying the landlord is keeping my entire {deposit} "
                "deposit for {claim}."
            ),
            "There was no itemized list of damages and no receipts, just one line and a total.",
            "When I called, the property manager said that's standard and hung up on me.",
        ],
        extras=[
            "I never got a move-in inspection form, even though I asked for one twice.",
            "I paid rent on time every single month and never had a noise complaint.",
            "I have an email from my first week where I mentioned the wear and tear that was already there.",
            "A friend said I should just let it go because lawyers cost more than the deposit.",
            "I'm a grad student, so {deposit} is a lot of money for me right now.",
            "I think my state has a deadline for returning deposits, but I can't tell if it has passed.",
            "The new tenants moved in four days after I left, so they can't have done much work on it.",
        ],
        asks=[
            "Do I have a case, and what should my next step be?",
            "Is small claims court worth it for this?",
        ],
        summaries=[
            (
                "My landlord in {state_name} is keeping my whole {deposit} deposit for {claim} with no "
                "itemized list, even though I have move-out photos."
            ),
            (
                "Moved out {days} days ago and my landlord kept the full {deposit} deposit for {claim}; do "
                "I have a case in small claims?"
            ),
        ],
    ),
    Scenario(
        name="surprise_party_text",
        subreddit="tifu",
        vague="a party",
        slots={
            "friend": [
                person("friend", "Dana", "F"),
                person("friend", "Chris", "M"),
                person("friend", "Leah", "F"),
                person("friend", "Omar", "M"),
            ],
            "milestone": ["30th", "40th", "25th", "21st"],
            "guests": ["twenty", "fifteen", "thirty"],
            "venue": [
                "my apartment",
                "a bowling alley",
                "a rented room at a brewery",
                "our favorite taco place",
            ],
            "planning": ["three weeks", "a month", "six weeks"],
        },
        key=("friend", "milestone", "venue"),
        titles=[
            "TIFU by sending the surprise party plans to the birthday person",
            "TIFU by ruining my best friend's surprise {milestone}",
        ],
        openings=[
            "Obligatory this happened this morning.",
            "This one actually happened today, and I'm still cringing.",
        ],
        core=[
            (
                "For {planning} I've been planning a surprise {milestone} birthday party for my best friend "
                "{friend} at {venue}."
            ),
            (
                "There's a group chat with about {guests} people, and this morning I typed out the final "
                "plan: times, the cake, and who's distracting {friend_them}."
            ),
            (
                "I hit send, and then I noticed the name at the top of the screen was {friend}, not the "
                "group chat."
            ),
            "{friend_they} replied with a row of question marks and then 'is this for me???'",
        ],
        extras=[
            "I tried to unsend it, but {friend_they} had already read it.",
            "I had even invented a fake 'work dinner' I was going to drag {friend_them} to.",
            "The cake was already ordered and it says SURPRISE on it, which is now painfully ironic.",
            "My roommate laughed so hard she had to sit down on the kitchen floor.",
            "{friend_they} has been asking for years to have a surprise party, so this one stung.",
            "The group chat's reaction was mostly skull emojis.",
        ],
        asks=[
            (
                "So now we're all pretending it's still a surprise, and {friend_they} is going to pretend "
                "to be surprised."
            ),
            "Anyway, the party is still on, it's just not a surprise anymore.",
        ],
        summaries=[
            (
                "I accidentally texted the whole plan for {friend}'s surprise {milestone} birthday party to "
                "{friend} instead of the group chat."
            ),
            (
                "After {planning} of planning a surprise {milestone} party at {venue}, I sent the details "
                "to the birthday person by mistake."
            ),
        ],
    ),
    Scenario(
        name="forgot_birthday",
        subreddit="relationship_advice",
        vague="my family",
        slots={
            "sib": [
                person("sib_name", "Emma", "F", sib="sister"),
                person("sib_name", "Nate", "M", sib="brother"),
                person("sib_name", "Sofia", "F", sib="sister"),
                person("sib_name", "Ben", "M", sib="brother"),
            ],
            "sib_bday": ["21st", "25th", "30th", "18th"],
            "reason": ["a work deadline", "moving apartments", "finals week", "a week of double shifts"],
            "reply": ["it's fine", "whatever, it's fine", "don't worry about it"],
            "days_late": ["two days", "three days", "a week"],
        },
        key=("sib", "sib_bday", "reason", "sib_name"),
        titles=[
            "I [{age}{g}] forgot my {sib}'s birthday, how do I make it up?",
            "Forgot my {sib}'s {sib_bday} birthday and I feel awful",
        ],
        openings=[
            "My {sib} {sib_name}'s {sib_bday} birthday was {days_late} ago, and I completely forgot.",
            "I completely forgot my {sib} {sib_name}'s {sib_bday} birthday, which was {days_late} ago.",
        ],
        core=[
            "I was buried in {reason} and didn't even look at my calendar.",
            "I only realized when my mom posted photos of the cake and I wasn't in any of them.",
            (
                "I called {sib_name_them} right away, and {sib_name_they} said '{reply}', but I could tell "
                "{sib_name_they} was hurt."
            ),
            "We're close, and I've never missed {sib_name_their} birthday before.",
        ],
        extras=[
            "{sib_name_they} always remembers mine, down to a little card with an inside joke.",
            "Our parents are divorced, so birthdays have always been a bit complicated in our family.",
            "I already sent flowers, but that feels like the bare minimum.",
            "{sib_name_they} lives about two hours away, so I can't just pop over tonight.",
            "My partner says I should just let it go and do better next year.",
            "I keep rereading {sib_name_their} text and overanalyzing the punctuation.",
        ],
        asks=[
            "How do I make this up to {sib_name_them} in a way that actually means something?",
            "What's a good way to make it up to a sibling?",
        ],
        summaries=[
            (
                "I forgot my {sib}'s {sib_bday} birthday because of {reason} and {sib_name_they} is hurt; "
                "how can I make it up to {sib_name_them}?"
            ),
            (
                "Missed my {sib} {sib_name}'s {sib_bday} birthday by {days_late} and need a way to make it "
                "up to {sib_name_them}."
            ),
        ],
    ),
    Scenario(
        name="debt_vs_emergency_fund",
        subreddit="personalfinance",
        vague="my finances",
        slots={
            "debt": ["$4,200", "$6,800", "$3,500", "$9,100"],
            "apr": ["22", "24.9", "19.5", "27"],
            "cash": ["$5,000", "$7,500", "$6,000", "$10,000"],
            "income": ["$48,000", "$55,000", "$62,000", "$41,000"],
            "cause": [
                "a vet bill and a car repair",
                "moving costs",
                "a few months of unemployment",
                "a dental emergency",
            ],
            "payment": ["$300", "$250", "$400"],
        },
        key=("debt", "apr", "cash"),
        titles=[
            "Pay off a {apr}% credit card or keep my emergency fund?",
            "Credit card debt vs emergency fund: which comes first?",
        ],
        openings=[
            "I'm {age} and make about {income} a year before taxes.",
            "Quick background: {age}, single, making around {income} a year.",
        ],
        core=[
            "I have {debt} on a credit card at {apr} percent APR, mostly from {cause}.",
            "I also have {cash} sitting in a high yield savings account as an emergency fund.",
            (
                "Part of me wants to throw most of the savings at the card and be done with it, but having "
                "almost nothing in the bank scares me."
            ),
            "Right now I'm paying about {payment} a month toward the card, which barely moves the balance.",
        ],
        extras=[
            "My job feels stable, but my company did a round of layoffs last year.",
            "I don't have any other debt except a small student loan at 4 percent.",
            "I rent, and my car is paid off but it's old.",
            "I've been tracking my spending for two months and I've cut out most takeout.",
            "My 401k gets the full employer match, so I'm not touching that.",
            "I called the card company to ask for a lower rate and they said no.",
        ],
        asks=[
            "Should I use the emergency fund to pay off the card, or keep chipping away?",
            "What would you do in my shoes?",
        ],
        summaries=[
            (
                "I have {debt} of credit card debt at {apr}% and {cash} in an emergency fund; should I use "
                "the savings to pay off the card?"
            ),
            (
                "Paying down {debt} at {apr}% APR from {cause}, and wondering whether to drain my {cash} "
                "emergency fund to kill it faster."
            ),
        ],
    ),
    Scenario(
        name="cat_litter_box",
        subreddit="cats",
        vague="my cat",
        slots={
            "cat": [
                person("cat", "Miso", "M"),
                person("cat", "Olive", "F"),
                person("cat", "Pickles", "M"),
                person("cat", "Juniper", "F"),
            ],
            "cat_age": ["three", "seven", "eleven", "five"],
            "moved": ["two weeks ago", "last month", "about three weeks ago"],
            "spot": ["the bathmat", "a pile of laundry", "the corner behind the couch", "my bed"],
            "litter_change": ["switched to a cheaper litter", "put the box in a closet", "got a covered box"],
        },
        key=("spot", "cat_age", "litter_change"),
        titles=[
            "Cat stopped using the litter box after we moved",
            "{cat_age} year old cat peeing on {spot}, help",
        ],
        openings=[
            "My cat {cat} is {cat_age} and has never had a single accident in {cat_their} life.",
            "{cat} is {cat_age} years old and has always been perfect with the litter box, until now.",
        ],
        core=[
            (
                "We moved to a new apartment {moved}, and since then {cat_they}'s been peeing on {spot} "
                "almost every day."
            ),
            (
                "In the new place we also {litter_change}, which is the only other thing I can think of "
                "that changed."
            ),
            "I took {cat_them} to the vet and they ran a urine test, which came back clean.",
            "{cat_they} still uses the box to poop, just not to pee.",
        ],
        extras=[
            (
                "I've been cleaning everything with an enzyme cleaner, so I don't think it's the smell "
                "drawing {cat_them} back."
            ),
            "The new place is smaller, and the neighbors have a dog that barks a lot.",
            "{cat_they} seems otherwise happy, eating normally and sleeping in sunbeams.",
            "I've washed the same things so many times they're starting to fall apart.",
            "My landlord doesn't know about this yet, and I'd like to keep it that way.",
            "{cat_they} hid under the bed for the first three days after the move.",
        ],
        asks=[
            "Any ideas on what to try next?",
            "Has anyone dealt with this after a move?",
        ],
        summaries=[
            (
                "Since we moved {moved}, my {cat_age}-year-old cat pees on {spot} instead of the box, even "
                "though the vet says {cat_they}'s healthy."
            ),
            (
                "My cat started peeing on {spot} after our move and after we {litter_change}, though the "
                "vet found nothing wrong."
            ),
        ],
    ),
    Scenario(
        name="lost_save",
        subreddit="gaming",
        vague="a video game",
        slots={
            "game": ["Elden Ring", "Stardew Valley", "Witcher 3", "Skyrim", "Baldur's Gate 3"],
            "hours": ["80", "120", "65", "150"],
            "platform": ["PS5", "PC", "Switch", "Xbox"],
            "culprit": [
                {
                    "how": "my little brother started a new game and saved over my file",
                    "culprit_sum": "my little brother saved over it",
                },
                {
                    "how": (
                        "the cloud sync decided an old save from months ago was the newest one and "
                        "overwrote mine"
                    ),
                    "culprit_sum": "a cloud sync error overwrote it",
                },
                {
                    "how": (
                        "my roommate wanted to try the game and picked my save slot when starting a new one"
                    ),
                    "culprit_sum": "my roommate started a new game on my slot",
                },
            ],
        },
        key=("hours", "game", "platform"),
        titles=[
            "Lost my {hours} hour {game} save",
            "{hours} hours of {game} gone. Is there any way to recover it?",
        ],
        openings=[
            "I've been playing {game} on {platform} since it came out, and I'm about {hours} hours in.",
            "So I had about {hours} hours in {game} on {platform}. Had.",
        ],
        core=[
            "Yesterday I loaded it up and my save was gone, because {how}.",
            "I had just reached the final area and had my character exactly how I wanted.",
            "I didn't have any manual backups because I assumed the autosaves were enough.",
        ],
        extras=[
            "I know it's just a game, but I honestly felt sick when I saw the new file.",
            "I checked the cloud saves menu and the only save there is the new one.",
            "I posted on the game's forum, and the only reply so far was 'F'.",
            "My friends are all telling me to just start over and try a different build.",
            "I had a whole spreadsheet of quests I was planning to finish.",
            "Support sent me a copy-paste answer about clearing my cache.",
        ],
        asks=[
            "Is there any way to recover it, or do I just start over?",
            "Has anyone ever gotten a save back after this?",
        ],
        summaries=[
            "Lost my {hours}-hour {game} save on {platform} because {culprit_sum}, and I had no backups.",
            (
                "{hours} hours of {game} on {platform} are gone because {culprit_sum}; is there any way to "
                "get the save back?"
            ),
        ],
    ),
    Scenario(
        name="friends_new_city",
        subreddit="AskReddit",
        vague="my social life",
        slots={
            "city": ["Denver", "Pittsburgh", "Austin", "Minneapolis", "Raleigh"],
            "months": ["three", "six", "four", "eight"],
            "work": ["fully remote", "from home as a data analyst", "night shifts at a hospital"],
            "tried": ["a climbing gym", "a board game meetup", "a running club", "a pottery class"],
            "home": ["a small town in Ohio", "rural Georgia", "outside Boston", "a farm town in Iowa"],
        },
        key=("city", "months", "tried"),
        titles=[
            "How did you make friends after moving to a new city as an adult?",
            "Adults who moved somewhere new alone: how did you build a social life?",
        ],
        openings=[
            "I moved to {city} {months} months ago for a job, and I still don't know anyone here.",
            "I grew up in {home} and moved to {city} {months} months ago by myself.",
        ],
        core=[
            "I work {work}, so I don't even have coworkers to get lunch with.",
            "I've tried {tried} twice, and people were nice, but nothing went beyond small talk.",
            (
                "Back home I had the same group of friends since middle school, so I never really had to "
                "learn how to make new ones."
            ),
        ],
        extras=[
            (
                "Weekends are the worst part; I'll realize on Sunday night that I haven't said a word out "
                "loud since Friday."
            ),
            "I call my mom more than I have in years, which she loves.",
            "I've thought about getting a dog just so I have a reason to go to the dog park.",
            "I'm not shy exactly, but I hate feeling like I'm forcing it.",
            (
                "I went to a trivia night alone once and ended up on a team of strangers, which was fun but "
                "a one-off."
            ),
            "The city itself is great, I just have nobody to explore it with.",
        ],
        asks=[
            "For those of you who moved somewhere new as an adult, what actually worked?",
            "How did you turn acquaintances into actual friends?",
        ],
        summaries=[
            (
                "Moved to {city} {months} months ago, I work {work}, and {tried} hasn't led to friendships; "
                "how do adults make friends?"
            ),
            (
                "I've been lonely since moving to {city} {months} months ago and {tried} hasn't helped; how "
                "did you make friends as an adult?"
            ),
        ],
    ),
    Scenario(
        name="two_job_offers",
        subreddit="careerguidance",
        vague="my career",
        slots={
            "field": ["marketing", "accounting", "software testing", "graphic design"],
            "pay": [
                {"pay_a": "$68,000", "pay_b": "$58,000"},
                {"pay_a": "$72,000", "pay_b": "$61,000"},
                {"pay_a": "$79,000", "pay_b": "$66,000"},
            ],
            "commute": ["an hour each way", "45 minutes each way", "over an hour each way"],
            "deadline": ["Friday", "Monday", "Wednesday"],
            "search_months": ["four", "five", "seven"],
        },
        key=("pay_a", "pay_b", "deadline", "field"),
        titles=[
            "Two job offers: more money or fully remote?",
            "Higher salary with a long commute vs a remote job for less",
        ],
        openings=[
            (
                "I'm {age} and I've been job hunting in {field} for {search_months} months, and this week I "
                "got two offers at once."
            ),
            (
                "After {search_months} months of applying for {field} jobs, I somehow have two offers on "
                "the table."
            ),
        ],
        core=[
            "Offer A pays {pay_a} but it's fully in office, which would mean a commute of {commute}.",
            "Offer B pays {pay_b} and is fully remote, at a smaller company that seems a bit less stable.",
            "I have to give both of them an answer by {deadline}.",
        ],
        extras=[
            "I live with two roommates and my room is tiny, so I'm not sure about working from it all day.",
            "The manager at the remote job was the nicest interviewer I've ever had.",
            "The in-office job has a clearer path to promotion and a better 401k match.",
            "I'm paying off student loans, so the extra money would go straight to them.",
            "I don't have a car right now, so for the in-office job I'd have to take the train.",
            "My current job is retail, so either one would be a huge step up.",
        ],
        asks=[
            "Which would you pick, and what am I not thinking about?",
            "How do you put a price on a commute?",
        ],
        summaries=[
            (
                "Choosing between a {pay_a} in-office {field} job with a commute of {commute} and a {pay_b} "
                "remote job by {deadline}."
            ),
            (
                "Two {field} offers: {pay_a} in office with a long commute versus {pay_b} fully remote, "
                "which should I take?"
            ),
        ],
    ),
    Scenario(
        name="failing_class",
        subreddit="college",
        vague="school",
        slots={
            "course": ["Organic Chemistry", "Calculus II", "Physics 2", "Statistics"],
            "grade": ["52", "48", "58", "45"],
            "major": ["pre-med", "engineering", "nursing", "biology"],
            "year": ["sophomore", "junior", "freshman"],
            "deadline": ["Friday", "next Wednesday", "next Monday"],
        },
        key=("course", "grade", "deadline", "year"),
        titles=[
            "Failing {course} and scared to tell my parents",
            "Withdraw from {course} or try to pull my grade up?",
        ],
        openings=[
            "I'm a {year} {major} student, and I'm currently failing {course}.",
            "{year} here, {major} major, and {course} is destroying me.",
        ],
        core=[
            "I have a {grade} percent going into the second half of the semester.",
            (
                "The withdrawal deadline is {deadline}, and a W wouldn't hurt my GPA but it would push my "
                "graduation back a semester."
            ),
            "My parents help pay for school, and they have no idea how badly it's going.",
            (
                "I've been going to office hours, but I still bomb every exam even when I understand the "
                "homework."
            ),
        ],
        extras=[
            "I'm also working fifteen hours a week at the campus library.",
            "My roommate took the same class last year and said the final is brutal.",
            "I cry in my car more than I'd like to admit.",
            "My advisor is nice but hard to get a meeting with.",
            "I started going to the counseling center, which has helped a little.",
            "Every other class I'm taking is an A or a B.",
        ],
        asks=[
            "Should I withdraw, and how do I tell my parents?",
            "Has anyone withdrawn from a class and regretted it, or not?",
        ],
        summaries=[
            (
                "I'm a {year} {major} student failing {course} with a {grade}; should I withdraw before "
                "{deadline}, and how do I tell my parents?"
            ),
            (
                "Failing {course} with a {grade} despite office hours, the withdrawal deadline is "
                "{deadline}, and my parents don't know."
            ),
        ],
    ),
    Scenario(
        name="yellow_tomatoes",
        subreddit="gardening",
        vague="my garden",
        slots={
            "plants": ["six", "eight", "four", "ten"],
            "variety": ["Cherokee Purple", "Early Girl", "cherry", "Roma"],
            "where": ["raised beds", "five gallon buckets on my balcony", "a community garden plot"],
            "water": ["every morning", "every other day", "twice a day when it's hot"],
            "weeks": ["two", "three"],
        },
        key=("plants", "variety", "where", "weeks"),
        titles=[
            "Tomato leaves turning yellow from the bottom up",
            "First year gardener: what's wrong with my {variety} tomatoes?",
        ],
        openings=[
            "This is my first year growing anything, and I have {plants} {variety} tomato plants in {where}.",
            "First-time gardener here, growing {plants} {variety} tomato plants in {where}.",
        ],
        core=[
            (
                "About {weeks} weeks ago the bottom leaves started turning yellow, then brown spots showed "
                "up, and now it's creeping up the plants."
            ),
            "I water {water}, and I mixed compost into the soil when I planted.",
            "The plants are still putting out flowers and a few small green tomatoes.",
        ],
        extras=[
            "We've had a really rainy stretch, which I'm guessing doesn't help.",
            "My neighbor who has gardened for forty years just said 'tomatoes do that' and walked away.",
            "I've been pulling off the worst leaves, but I'm not sure if that's right.",
            "I planted them pretty close together because I didn't think they'd get this big.",
            "My basil and peppers right next to them look perfectly healthy.",
            "I have photos, but I'm not sure how to post them here.",
        ],
        asks=[
            "Is this a disease, a watering problem, or totally normal?",
            "Can I save them, or should I pull them before it spreads?",
        ],
        summaries=[
            (
                "My {plants} {variety} tomato plants in {where} have had yellowing lower leaves with brown "
                "spots for {weeks} weeks; disease or watering?"
            ),
            (
                "First-time gardener: my {variety} tomatoes in {where} are yellowing from the bottom up "
                "even though I water {water}."
            ),
        ],
    ),
    Scenario(
        name="toddler_sleep",
        subreddit="Parenting",
        vague="my kid",
        slots={
            "age": AGES_ADULT,
            "kid": [
                person("kid", "Leo", "M"),
                person("kid", "Ava", "F"),
                person("kid", "Noah", "M"),
                person("kid", "Maya", "F"),
            ],
            "kid_age": ["two", "three", "four"],
            "months": ["three months", "six weeks", "two months"],
            "time": ["2 a.m.", "midnight", "3 a.m.", "1 a.m."],
            "cause": [
                "we switched from the crib to a toddler bed",
                "the new baby arrived",
                "we got back from a two-week trip",
            ],
        },
        key=("kid_age", "time", "months", "kid"),
        titles=[
            "{kid_age} year old won't stay in {kid_their} own bed",
            "Toddler ends up in our bed every night: how did you fix this?",
        ],
        openings=[
            (
                "Our {kid_age}-year-old, {kid}, used to sleep through the night in {kid_their} own room "
                "with no problems."
            ),
            "{kid} is {kid_age}, and until recently {kid_they} was a great sleeper.",
        ],
        core=[
            (
                "About {months} ago, right after {cause}, {kid_they} started showing up at our bed every "
                "night around {time}."
            ),
            (
                "If we walk {kid_them} back, {kid_they} screams until the whole house is awake, so most "
                "nights we give in."
            ),
            "My partner and I are both exhausted and haven't had a full night of sleep in weeks.",
        ],
        extras=[
            "We tried a sticker chart, which worked for exactly two nights.",
            "{kid_they} has a night light and a stuffed giraffe that goes everywhere with {kid_them}.",
            "My mother-in-law says we're creating bad habits, which is not helping.",
            "We both work full time, so we can't exactly nap when {kid_they} does.",
            "Our bed is a queen, and {kid_they} sleeps like a starfish.",
            "The pediatrician said it's a phase, but didn't say how long the phase lasts.",
        ],
        asks=[
            "For those who've been through this, what worked?",
            "Do we hold the line and deal with the screaming, or wait it out?",
        ],
        summaries=[
            (
                "Since {cause}, our {kid_age}-year-old comes to our bed every night around {time} and "
                "screams if we take {kid_them} back."
            ),
            (
                "Our {kid_age}-year-old {kid} has ended up in our bed at {time} every night for {months}, "
                "and we're exhausted."
            ),
        ],
    ),
    Scenario(
        name="neighbor_tree",
        subreddit="legaladvice",
        vague="my neighbor",
        slots={
            "state": STATE_SLOT,
            "tree": ["oak", "maple", "pine", "ash"],
            "cost": ["$3,400", "$2,800", "$5,100", "$4,300"],
            "feet": ["40", "25", "60", "30"],
            "warned": ["last fall", "two years ago", "in the spring"],
            "deductible": ["$2,500", "$2,000", "$3,000"],
        },
        key=("tree", "feet", "cost", "warned", "state_name"),
        titles=[
            "[{state}] Neighbor's dead tree fell on my fence after I warned them",
            "Who pays when a neighbor's tree destroys your fence?",
        ],
        openings=[
            "I own a house in {state_name} with a wooden privacy fence around the backyard.",
            "Homeowner in {state_name} here, first time dealing with anything like this.",
        ],
        core=[
            (
                "During a storm last weekend, a big dead {tree} tree from my neighbor's yard fell and "
                "flattened about {feet} feet of my fence."
            ),
            (
                "I had told my neighbor in writing {warned} that the tree looked dead and was leaning "
                "toward my yard."
            ),
            "The cheapest quote I've gotten to replace the fence is {cost}.",
            (
                "My neighbor says it was an act of God and my own insurance should cover it, but my "
                "deductible is {deductible}."
            ),
        ],
        extras=[
            "We were on good terms before this, we even watched each other's dogs.",
            "The tree also crushed part of my vegetable garden, but I'm less worried about that.",
            "I still have the text messages and a photo of the tree from when I warned them.",
            "My dog can get out of the yard now, so I had to put up temporary fencing.",
            "The trunk is still lying across my yard, and my neighbor hasn't offered to move it.",
        ],
        asks=[
            "Is my neighbor responsible since I warned them, and how should I approach this?",
            "Should I go through my insurance or straight to small claims?",
        ],
        summaries=[
            (
                "A dead {tree} from my neighbor's yard destroyed {feet} feet of my fence after I warned "
                "them {warned}; can I make them pay {cost}?"
            ),
            (
                "Neighbor's dead {tree} tree fell on my fence in {state_name}, the repair is {cost}, and "
                "they say my insurance should cover it."
            ),
        ],
    ),
    Scenario(
        name="first_thanksgiving",
        subreddit="Cooking",
        vague="the holidays",
        slots={
            "guests": ["twelve", "fourteen", "nine", "sixteen"],
            "lbs": ["16", "20", "22", "15"],
            "oven": ["one small oven", "an oven where only one rack works", "a tiny apartment oven"],
            "restriction": ["two vegetarians", "a cousin with a nut allergy", "an uncle who is gluten free"],
            "days": ["ten days", "two weeks", "three weeks"],
        },
        key=("guests", "lbs", "restriction", "oven"),
        titles=[
            "Hosting Thanksgiving for {guests} people for the first time",
            "First time hosting: how do I time everything with {oven}?",
        ],
        openings=[
            (
                "This year I volunteered to host Thanksgiving for {guests} people, and I've never cooked a "
                "turkey in my life."
            ),
            "Somehow I'm hosting Thanksgiving this year, for {guests} people, and I've never made a turkey.",
        ],
        core=[
            "I bought a {lbs} pound turkey that is currently frozen solid in my freezer.",
            "My kitchen has {oven}, and I have no idea how I'm going to fit the turkey and all the sides.",
            "We also have {restriction} coming, so I need at least a couple of dishes that work for them.",
            "Thanksgiving is {days} away.",
        ],
        extras=[
            "My mom usually hosts, but she's recovering from knee surgery this year.",
            "I'm a decent everyday cook, but I've never made more than four servings of anything.",
            "People have offered to bring things, but I don't know what to ask for.",
            "I'm mostly worried about the gravy, which everyone in my family has strong opinions about.",
            "I only own eight matching plates, so that's another problem for another day.",
            "I've watched about ten hours of cooking videos this week.",
        ],
        asks=[
            "How do I plan the timing, and when do I need to start thawing the turkey?",
            "What can I make ahead so the day itself isn't chaos?",
        ],
        summaries=[
            (
                "First-time Thanksgiving host for {guests} people with {oven}, a frozen {lbs} pound turkey "
                "and {restriction} coming; need a plan."
            ),
            (
                "Hosting Thanksgiving for {guests} people in {days} and have never cooked a turkey; need "
                "help with thawing, timing and sides."
            ),
        ],
    ),
    Scenario(
        name="locked_out_cooking",
        subreddit="tifu",
        vague="my apartment",
        slots={
            "dish": [
                {"dish": "spaghetti", "dish_the": "pasta"},
                {"dish": "a pot of rice", "dish_the": "rice"},
                {"dish": "a pot of chili", "dish_the": "chili"},
                {"dish": "grilled cheese", "dish_the": "grilled cheese"},
            ],
            "minutes": ["forty minutes", "twenty-five minutes", "almost an hour"],
            "rescuer": [
                {"who_key": "my landlord", "rescue": "my landlord showed up with a spare key"},
                {"who_key": "a locksmith", "rescue": "a locksmith showed up and charged me $150"},
                {
                    "who_key": "my upstairs neighbor",
                    "rescue": "my upstairs neighbor remembered she had my spare key",
                },
            ],
        },
        key=("dish", "minutes", "who_key"),
        titles=[
            "TIFU by locking myself out of my apartment with dinner on the stove",
            "TIFU by stepping into the hallway for ten seconds",
        ],
        openings=[
            "This happened last night and my apartment still smells like smoke.",
            "Today I learned that my apartment door locks itself.",
        ],
        core=[
            "I was making {dish} for dinner and stepped into the hallway to grab a package.",
            "The door swung shut behind me, and it locks automatically.",
            "My phone, keys and shoes were all inside, and the burner was still on.",
            "It took {minutes} of knocking on doors and borrowing a stranger's phone before {rescue}.",
            "By then the {dish_the} was charcoal and the smoke alarm had been going off the whole time.",
        ],
        extras=[
            "Luckily nothing caught fire and the building didn't have to be evacuated.",
            "The neighbor who lent me her phone was very kind about me standing there in my socks.",
            "I've now hidden a spare key with a friend down the street.",
            "The pot is soaking in the sink, and I think it might be beyond saving.",
            "I had to open every window in January.",
        ],
        asks=[
            "Lesson learned: always take your keys, even for ten seconds.",
            "Anyway, I'm ordering takeout tonight.",
        ],
        summaries=[
            (
                "I locked myself out with {dish} on the stove, and it took {minutes} before {who_key} let "
                "me back in; dinner was ruined."
            ),
            (
                "Stepped into the hallway while making {dish}, got locked out without my phone, and burned "
                "dinner waiting {minutes} for {who_key}."
            ),
        ],
    ),
    Scenario(
        name="partner_moving",
        subreddit="relationships",
        vague="my relationship",
        slots={
            "partner": [
                person("p", "Sam", "M", partner="boyfriend"),
                person("p", "Elena", "F", partner="girlfriend"),
                person("p", "Jordan", "M", partner="boyfriend"),
                person("p", "Mia", "F", partner="girlfriend"),
            ],
            "p_age": AGES_YOUNG,
            "years": ["two years", "three years", "four years"],
            "city": ["Seattle", "Atlanta", "Chicago", "Boston"],
            "job_p": ["a hospital job", "a job at a tech company", "a teaching position", "a research job"],
            "my_job": [
                "I just got promoted",
                "I'm halfway through a nursing program",
                "I just started my own small business",
            ],
        },
        key=("city", "years", "partner"),
        titles=[
            "My [{age}{g}] {partner} [{p_age}{p_g}] got a job offer in {city} and wants me to move",
            "Partner wants to move across the country, I'm not sure I want to go",
        ],
        openings=[
            "My {partner} {p} and I have been together for {years}, and we've lived together for one.",
            (
                "{p} [{p_age}{p_g}], my {partner}, and I have been together {years}, and honestly things "
                "have been great."
            ),
        ],
        core=[
            "Last week {p_they} got an offer for {job_p} in {city}, which is basically {p_their} dream job.",
            "{p_they} wants me to move with {p_them}, but {my_job} here and my whole family is nearby.",
            "{p_they} has to accept or decline within two weeks.",
        ],
        extras=[
            "We've talked about marriage, but we're not engaged.",
            "I've never lived more than an hour from my parents.",
            (
                "{p_they} said {p_they}'d consider long distance for a year, but we did that in college and "
                "it was hard."
            ),
            "I'm genuinely happy for {p_them}, which makes this even more confusing.",
            "I looked at apartments in {city} just to see, and rent is a lot higher than here.",
        ],
        asks=[
            "How do I figure out what I actually want here?",
            "Has anyone moved for a partner's job, and was it worth it?",
        ],
        summaries=[
            "My {partner} of {years} got {job_p} in {city} and wants me to move, but {my_job} here.",
            (
                "My {partner} wants me to move to {city} for {p_their} dream job after {years} together, "
                "and I'm not sure I want to leave."
            ),
        ],
    ),
    Scenario(
        name="raise_401k",
        subreddit="personalfinance",
        vague="money",
        slots={
            "raise": [
                {"raise": "$6,000", "salary": "$58,000"},
                {"raise": "$9,000", "salary": "$71,000"},
                {"raise": "$4,500", "salary": "$49,500"},
            ],
            "match": ["4", "6", "5"],
            "contrib": ["nothing", "2 percent", "1 percent"],
            "loans": ["$18,000", "$27,000", "$12,500"],
            "savings": ["$1,200", "$800", "$2,000"],
        },
        key=("raise", "match", "contrib", "loans"),
        titles=[
            "Got my first raise: how should I use it?",
            "{age}, just got a raise, not using my 401k match yet",
        ],
        openings=[
            "I'm {age} and just got my first real raise, {raise} a year, which brings me to {salary}.",
            "Good news first: I got a {raise} raise today, so I'm now at {salary}.",
        ],
        core=[
            (
                "Embarrassingly, I'm currently contributing {contrib} to my 401k, even though my employer "
                "matches up to {match} percent."
            ),
            "I also have about {loans} in student loans at around 5 percent.",
            "I don't have a budget, and I'm honestly not sure where my money goes every month.",
        ],
        extras=[
            "My parents never talked about money, so I'm learning all of this from this sub.",
            "I have about {savings} in savings.",
            "I rent a one bedroom, and rent is about a third of my take-home pay.",
            "A coworker told me the match is free money and I felt dumb for not knowing.",
            "I'd like to buy a house someday, but that feels very far away.",
        ],
        asks=[
            "What order should I tackle things in?",
            "Should I max the match first or throw everything at the loans?",
        ],
        summaries=[
            (
                "Got a {raise} raise to {salary}; I'm contributing {contrib} to my 401k despite a {match}% "
                "match and owe {loans} in student loans."
            ),
            (
                "Just got a {raise} raise and need a plan: {contrib} going to my 401k, a {match}% match, "
                "and {loans} of loans."
            ),
        ],
    ),
    Scenario(
        name="leash_pulling",
        subreddit="Dogtraining",
        vague="my dog",
        slots={
            "dog": [
                person("dog", "Rocky", "M"),
                person("dog", "Hazel", "F"),
                person("dog", "Bear", "M"),
                person("dog", "Nova", "F"),
            ],
            "breed": ["husky", "German shepherd mix", "boxer", "lab mix"],
            "weight": ["65", "70", "55", "60"],
            "adopted_ago": ["three weeks", "two months", "six weeks"],
            "trigger": ["squirrels", "other dogs", "bikes", "skateboards"],
            "tried": [
                "a front-clip harness",
                "stopping every time the leash gets tight",
                "treats every few steps",
            ],
        },
        key=("weight", "breed", "trigger", "tried"),
        titles=[
            "Rescue {breed} pulls so hard I've almost fallen",
            "Loose leash walking with a strong puller, where do I start?",
        ],
        openings=[
            "We adopted {dog}, a {weight} pound {breed}, {adopted_ago} ago.",
            (
                "{dog} is a {weight} pound {breed} we brought home {adopted_ago} ago, and we love "
                "{dog_them} to pieces."
            ),
        ],
        core=[
            "{dog_they} is great in the house, but pulls so hard on walks that my shoulder hurts afterward.",
            "Whenever {dog_they} sees {trigger}, {dog_they} lunges, and I've almost fallen twice.",
            "We tried {tried}, but it hasn't made much difference yet.",
        ],
        extras=[
            "The shelter said {dog_they} was returned once already because of the pulling.",
            (
                "My partner is a lot stronger than me, so walks go better with them, but I do most of the "
                "walking."
            ),
            "We've started a basic obedience class, but it's only once a week.",
            "{dog_they} already knows sit and down, and learns fast when there's cheese involved.",
            "{dog_they} is much calmer after a game of fetch in the yard.",
        ],
        asks=[
            "What worked for your strong puller?",
            "Is this fixable with training, or should I hire someone?",
        ],
        summaries=[
            (
                "Our {weight} pound rescue {breed} pulls hard and lunges at {trigger} on walks, and {tried} "
                "hasn't helped."
            ),
            (
                "My rescue {breed} nearly knocks me over lunging at {trigger}; we tried {tried} without "
                "much luck, what else works?"
            ),
        ],
    ),
    Scenario(
        name="bike_stolen",
        subreddit="bicycling",
        vague="my bike",
        slots={
            "bike": ["a used Trek hybrid", "a steel commuter bike", "my first road bike"],
            "price": ["$650", "$900", "$1,100"],
            "where": ["outside my office", "at the train station", "in my building's bike room"],
            "lock": [
                {"lock": "a cable lock", "lock_short": "cable lock"},
                {"lock": "a cheap U-lock", "lock_short": "cheap U-lock"},
                {"lock": "a combination lock", "lock_short": "combination lock"},
            ],
            "months": ["three months", "a year", "six months"],
        },
        key=("price", "where", "lock_short"),
        titles=[
            "Bike stolen {where}, how do I keep the next one?",
            "First bike stolen after {months} of commuting. What lock should I get?",
        ],
        openings=[
            "I've been bike commuting for {months}, and it's honestly changed my life.",
            "{months} ago I started riding to work, and I've loved every minute of it.",
        ],
        core=[
            "Yesterday my bike, {bike} I bought for {price}, was stolen {where}.",
            "I had locked it with {lock}, which the thief apparently cut in a few seconds.",
            "I filed a police report, but the officer pretty much told me it's gone.",
        ],
        extras=[
            "I checked the online marketplaces but haven't seen it listed.",
            "My renter's insurance deductible is higher than the bike was worth.",
            "I'm back to taking the bus, which adds forty minutes to my commute.",
            "I saw a guy riding something similar downtown and chased him for a block, but it wasn't mine.",
            "I still have the receipt and the serial number, at least.",
        ],
        asks=[
            "What should I buy next, and how do you lock up in a city?",
            "Is a folding bike I can bring inside the answer?",
        ],
        summaries=[
            (
                "My {price} commuter bike was stolen {where} after a thief cut my {lock_short}; what lock "
                "and habits should I use next time?"
            ),
            (
                "After {months} of bike commuting, my {price} bike was stolen {where}, and I want to "
                "replace it without losing another."
            ),
        ],
    ),
    Scenario(
        name="missed_connection",
        subreddit="travel",
        vague="a trip",
        slots={
            "hub": ["Denver", "Atlanta", "Chicago", "Dallas"],
            "delay": [
                {"delay": "three hours", "delay_sum": "three-hour"},
                {"delay": "four hours", "delay_sum": "four-hour"},
                {"delay": "two and a half hours", "delay_sum": "two-and-a-half-hour"},
            ],
            "event": [
                "my sister's wedding",
                "the first day of a work conference",
                "my best friend's graduation",
            ],
            "cost": ["$420", "$380", "$510"],
        },
        key=("delay_sum", "hub", "cost"),
        titles=[
            "Missed my connection because of a delay, airline won't reimburse my new ticket",
            "Paid {cost} for a new flight after a delay: can I get it back?",
        ],
        openings=[
            "Last weekend I was flying through {hub} to get to {event}.",
            "I had a simple two-leg trip through {hub} for {event}, and it went sideways.",
        ],
        core=[
            (
                "My first flight was delayed {delay} because of a maintenance issue, so I missed my "
                "connection in {hub}."
            ),
            "The airline rebooked me on a flight two days later, which would have made me miss {event}.",
            "So I bought a ticket on another airline for {cost} and made it in time.",
            "Now the airline says they'll only refund the unused leg, not the {cost} I spent.",
        ],
        extras=[
            "I kept every receipt and took screenshots of the delay notice.",
            "The gate agent was sympathetic but said her hands were tied.",
            "I slept about two hours on an airport bench.",
            "I have a travel credit card, but I'm not sure if it covers this.",
            "The customer service line had a wait time of three hours, so I gave up and used the chat.",
        ],
        asks=[
            "Is it worth pushing this, and who do I complain to?",
            "Has anyone gotten money back in a situation like this?",
        ],
        summaries=[
            (
                "A {delay_sum} maintenance delay made me miss my connection in {hub}, so I paid {cost} for "
                "a new ticket; can I get reimbursed?"
            ),
            (
                "Missed my {hub} connection after a {delay_sum} delay and paid {cost} for a ticket to make "
                "{event}; the airline won't refund it."
            ),
        ],
    ),
    Scenario(
        name="first_pullup",
        subreddit="Fitness",
        vague="the gym",
        slots={
            "weeks": ["six", "eight", "ten", "twelve"],
            "days": ["three", "four"],
            "hang": ["20 seconds", "35 seconds", "15 seconds"],
            "lost": ["15 pounds", "25 pounds", "10 pounds"],
            "goal": ["five", "three", "ten"],
        },
        key=("weeks", "days", "hang"),
        titles=[
            "{weeks} weeks in, still can't do a single pull-up",
            "How did you get your first pull-up?",
        ],
        openings=[
            (
                "I've been going to the gym {days} days a week for {weeks} weeks, mostly following a "
                "beginner program."
            ),
            "{weeks} weeks ago I started lifting {days} days a week for the first time in my life.",
        ],
        core=[
            "I've lost about {lost}, and my squat and deadlift go up almost every week.",
            "But I still can't do a single pull-up, not even a bad one.",
            (
                "I can dead hang for about {hang} and do slow negatives, but I can't get myself up from the "
                "bottom at all."
            ),
        ],
        extras=[
            "My gym has an assisted pull-up machine, but I've heard mixed things about it.",
            "My goal is to do {goal} pull-ups by my birthday.",
            "I'm {age} and I was never sporty as a kid.",
            "Everyone else at the gym seems to just hop up and do ten, which is not motivating.",
            "I bought a doorframe bar for home, and so far it's mostly a place to hang towels.",
        ],
        asks=[
            "What worked for you to get your first pull-up?",
            "Should I keep doing negatives or switch to band-assisted ones?",
        ],
        summaries=[
            (
                "After {weeks} weeks of lifting {days} days a week I still can't do one pull-up, though I "
                "can hang {hang}; how do I get my first?"
            ),
            (
                "Lifting {days} days a week for {weeks} weeks and getting stronger, but still zero "
                "pull-ups; any tips for the first one?"
            ),
        ],
    ),
    Scenario(
        name="faucet_repair",
        subreddit="DIY",
        vague="a home repair",
        slots={
            "faucet_age": ["twenty years old", "original to the house", "about ten years old"],
            "fix_try": ["replaced the cartridge", "swapped the O-rings", "tightened the packing nut"],
            "result": [
                "it drips even faster than before",
                "water sprays out from under the handle",
                "the handle won't turn all the way off",
            ],
            "quote": ["$280", "$350", "$225"],
        },
        key=("fix_try", "result", "quote"),
        titles=[
            "Tried to fix a dripping faucet, made it worse",
            "DIY faucet repair went wrong and the plumber quoted {quote}",
        ],
        openings=[
            "Our kitchen faucet had a slow drip, so I decided to fix it myself after watching a few videos.",
            "I'm not handy at all, but a dripping faucet seemed like a good first project. It was not.",
        ],
        core=[
            "The faucet is {faucet_age}, and I {fix_try} following the instructions exactly.",
            "Now {result}.",
            (
                "I've shut the water off under the sink, so nothing is flooding, but we can't use the "
                "kitchen sink."
            ),
            "A plumber quoted me {quote} to come out and fix it.",
        ],
        extras=[
            "My partner is being very nice about it, which somehow makes it worse.",
            "The guy at the hardware store said the part might be the wrong size.",
            "I did take pictures of every step, so I can at least put it back the way it was.",
            "We've been washing dishes in the bathtub for two days.",
            "I now own three wrenches I didn't own on Saturday.",
        ],
        asks=[
            "Is this something I can still fix, or should I call the plumber?",
            "What did I probably do wrong?",
        ],
        summaries=[
            (
                "I {fix_try} to fix a dripping kitchen faucet and now {result}; fix it myself or pay a "
                "plumber {quote}?"
            ),
            "My DIY faucet repair backfired: after I {fix_try}, {result}, and a plumber wants {quote}.",
        ],
    ),
    Scenario(
        name="finished_degree",
        subreddit="offmychest",
        vague="my life",
        slots={
            "grad_age": ["34", "41", "38", "29"],
            "years": ["six years", "eight years", "five years"],
            "kids": ["two kids", "a toddler", "three kids"],
            "job": [
                "a full-time warehouse job",
                "night shifts at a grocery store",
                "a full-time job at a bank",
            ],
            "degree": ["accounting", "nursing", "computer science", "social work"],
        },
        key=("degree", "grad_age", "years"),
        titles=[
            "Finished my degree at {grad_age}. I just need to tell someone.",
            "I did it. {years}, one class at a time.",
        ],
        openings=[
            "Today I finished my last final, and I'm officially done with my {degree} degree at {grad_age}.",
            "I'm {grad_age}, and as of this afternoon I have a bachelor's degree in {degree}.",
        ],
        core=[
            "It took me {years} of part-time classes while working {job} and raising {kids}.",
            "There were so many nights I almost quit, especially during statistics.",
            "My family took me out to dinner, and my oldest made me a card that said 'we're proud of you'.",
        ],
        extras=[
            "I didn't tell many people I was in school because I was afraid I'd drop out.",
            "My first college attempt at eighteen ended after one semester.",
            "I already have an interview lined up for next week.",
            "I'm so proud of myself and I feel a little silly about it at the same time.",
            "I did most of my homework at the kitchen table after everyone was asleep.",
        ],
        asks=[
            "Thanks for reading, I just needed to say it somewhere.",
            "If you're thinking about going back to school later in life, this is your sign.",
        ],
        summaries=[
            (
                "I finished my {degree} degree at {grad_age} after {years} of part-time classes while "
                "working {job} and raising {kids}."
            ),
            (
                "After {years} of part-time classes, I'm {grad_age} and finally have my {degree} degree, "
                "and I'm really proud."
            ),
        ],
    ),
    Scenario(
        name="wedding_plus_one",
        subreddit="weddingplanning",
        vague="my wedding",
        slots={
            "friend": [
                person("friend", "Tess", "F"),
                person("friend", "Ryan", "M"),
                person("friend", "Alyssa", "F"),
                person("friend", "Devin", "M"),
            ],
            "cap": ["100", "65", "90", "120"],
            "cost_per": ["$120", "$95", "$150"],
            "months": ["four months", "three months", "five months"],
        },
        key=("cap", "friend", "months"),
        titles=[
            "Friend insists on a plus-one we can't fit",
            "How do I tell a friend no plus-one without drama?",
        ],
        openings=[
            "Our wedding is in {months}, and we have a strict limit of {cap} guests because of the venue.",
            "We're getting married in {months} at a small venue that holds exactly {cap} people.",
        ],
        core=[
            "We decided only married, engaged or long-term couples get a plus-one.",
            (
                "My college friend {friend}, who is single, texted me that {friend_they}'s 'obviously' "
                "bringing a date."
            ),
            "Each extra guest costs us about {cost_per} for dinner alone.",
        ],
        extras=[
            "We've already said no to two cousins who asked the same thing.",
            "My fiance thinks I should just let it slide because {friend_they}'s my friend.",
            "We haven't been as close since college, but I still care about {friend_them}.",
            "I'm worried that making one exception will cause drama with everyone else.",
            "The invitations clearly list who is invited, which I thought would be enough.",
        ],
        asks=[
            "How do I tell {friend_them} no without ruining our friendship?",
            "Am I being unreasonable here?",
        ],
        summaries=[
            (
                "Our wedding is capped at {cap} guests with plus-ones only for couples, but my single "
                "friend {friend} insists on bringing a date."
            ),
            (
                "Wedding in {months} with a {cap}-guest limit, and my friend {friend} expects a plus-one; "
                "how do I say no?"
            ),
        ],
    ),
    Scenario(
        name="pc_no_post",
        subreddit="buildapc",
        vague="my computer",
        slots={
            "cpu": ["Ryzen 5 7600", "Ryzen 7 5700X", "Core i5-13400F"],
            "gpu": ["RTX 4060", "RX 7700 XT", "RTX 3060"],
            "symptom": [
                {
                    "symptom": "the fans spin but there's no display",
                    "symptom_sum": "fans spin but no display",
                    "symptom_short": "fans spin, no display",
                },
                {
                    "symptom": "the motherboard shows a solid red light next to the DRAM label",
                    "symptom_sum": "a red DRAM light",
                    "symptom_short": "red DRAM light",
                },
                {
                    "symptom": "it turns on for two seconds and then shuts off",
                    "symptom_sum": "it shuts off after two seconds",
                    "symptom_short": "shuts off after two seconds",
                },
            ],
            "budget": ["$900", "$1,100", "$750"],
        },
        key=("cpu", "gpu", "symptom_sum"),
        titles=[
            "First build won't POST, please help",
            "{cpu} build: {symptom_short}",
        ],
        openings=[
            "I just finished my first PC build after saving for months, about {budget} total.",
            "First time builder here, and I spent all of Saturday putting this together.",
        ],
        core=[
            "It's a {cpu} with an {gpu} and 32GB of RAM.",
            "When I hit the power button, {symptom}.",
            (
                "I've reseated the RAM, checked that the CPU power cable is plugged in and tried one stick "
                "at a time."
            ),
        ],
        extras=[
            "I watched three different build guides and I'm pretty sure I did everything right.",
            "The monitor is plugged into the graphics card, not the motherboard.",
            "I didn't update the BIOS because I don't know if I need to.",
            "My little brother has been asking every hour whether it works yet.",
            "I did forget the IO shield at first, so I had to take everything out once already.",
        ],
        asks=[
            "What should I try next before I start returning parts?",
            "Could it be a dead part, or did I mess something up?",
        ],
        summaries=[
            "My first PC build ({cpu}, {gpu}) won't POST: {symptom_sum}, even after reseating the RAM.",
            "First build with a {cpu} and {gpu} won't POST because {symptom_sum}; what should I check next?",
        ],
    ),
    Scenario(
        name="book_club",
        subreddit="books",
        vague="a hobby group",
        slots={
            "members": ["six", "ten", "nine", "twelve"],
            "read": ["two", "three", "four"],
            "months": ["three months", "five months", "a year"],
            "book": ["a 600 page fantasy novel", "a memoir", "a classic I picked", "a short mystery"],
        },
        key=("members", "read", "months"),
        titles=[
            "Started a book club and nobody reads the books",
            "How do you get book club members to actually read?",
        ],
        openings=[
            (
                "I started a book club with some coworkers {months} ago, and it's been fun, but almost "
                "nobody reads the book."
            ),
            "About {months} ago I started a book club, and I'm starting to think I'm the only one reading.",
        ],
        core=[
            "We have {members} members, and at the last meeting only {read} of us had finished it.",
            (
                "This month's pick was {book}, and the conversation lasted five minutes before turning into "
                "office gossip."
            ),
            "I'm the one who hosts and makes snacks every time.",
        ],
        extras=[
            "I don't mind if people just come to hang out, but then why call it a book club?",
            "One person suggested shorter books, which might be fair.",
            "I've thought about letting members take turns picking.",
            "Honestly, I'm starting to dread picking the next book.",
            "Someone admitted they watched the movie instead, which was at least honest.",
        ],
        asks=[
            "Should I change the format, or just accept it as a social club?",
            "What made your book club work?",
        ],
        summaries=[
            (
                "I started a {members}-person book club {months} ago, but only {read} of us finished this "
                "month's book; how do I get people reading?"
            ),
            (
                "Only {read} of the {members} people in my book club read the book; should I change the "
                "format or give up?"
            ),
        ],
    ),
    Scenario(
        name="friend_owes_money",
        subreddit="relationship_advice",
        vague="a friend",
        slots={
            "friend": [
                person("friend", "Tyler", "M"),
                person("friend", "Brooke", "F"),
                person("friend", "Andre", "M"),
                person("friend", "Kayla", "F"),
            ],
            "amount": ["$600", "$1,500", "$900", "$2,000"],
            "months": ["five months", "eight months", "a year"],
            "reason": ["rent", "a car repair", "a medical bill"],
            "spend": ["a trip to a music festival", "a weekend in Vegas", "a cruise with coworkers"],
        },
        key=("amount", "months", "reason"),
        titles=[
            "Best friend owes me {amount} and just went on vacation",
            "How do I ask a friend to pay back money without ruining things?",
        ],
        openings=[
            "About {months} ago my best friend {friend} asked to borrow {amount} for {reason}.",
            (
                "{months} ago, my best friend {friend} came to me panicking about {reason} and asked to "
                "borrow {amount}."
            ),
        ],
        core=[
            "{friend_they} promised to pay me back within two months.",
            "I haven't gotten a cent back, and whenever I bring it up {friend_they} changes the subject.",
            "Last weekend I saw on Instagram that {friend_they} just went on {spend}.",
        ],
        extras=[
            "We've been friends since high school, so this feels awful.",
            "I'm not rich; that money was most of my savings.",
            "I don't want to lose the friendship over money, but I'm starting to feel used.",
            "Mutual friends have hinted that {friend_they} owes other people too.",
            "I never asked for anything in writing because it didn't feel necessary.",
        ],
        asks=[
            "How do I bring it up without ending the friendship?",
            "Should I just write it off?",
        ],
        summaries=[
            (
                "My best friend borrowed {amount} for {reason} {months} ago, hasn't paid me back, and just "
                "went on {spend}."
            ),
            (
                "{friend} borrowed {amount} from me {months} ago for {reason} and dodges the subject; how "
                "do I ask for it back?"
            ),
        ],
    ),
    Scenario(
        name="final_paycheck",
        subreddit="legaladvice",
        vague="my old job",
        slots={
            "state": STATE_SLOT,
            "owed": ["$1,340", "$2,100", "$870", "$1,650"],
            "weeks": ["three weeks", "a month", "two weeks"],
            "job": ["a restaurant", "a small landscaping company", "a retail store", "a car wash"],
            "excuse": [
                "the payroll person is on vacation",
                "I never returned my uniform",
                "they're still reviewing my hours",
            ],
        },
        key=("owed", "state_name", "weeks"),
        titles=[
            "[{state}] Former employer won't give me my final paycheck",
            "Quit with two weeks notice, still no final paycheck after {weeks}",
        ],
        openings=[
            "I quit my job at {job} in {state_name} with two weeks' notice, and my last day was {weeks} ago.",
            (
                "I worked at {job} in {state_name} for two years and left on good terms {weeks} ago, or so "
                "I thought."
            ),
        ],
        core=[
            "My final paycheck, which should be about {owed}, never showed up.",
            "When I asked, the manager told me {excuse}.",
            "Since then my texts have gone unanswered.",
        ],
        extras=[
            "I have my schedules and texts showing the hours I worked.",
            "I gave proper notice and trained my replacement.",
            "Rent is due in a week, and I was counting on that money.",
            "A coworker who quit last year says the same thing happened to her.",
            "My new job starts next week, so I don't want this hanging over me.",
        ],
        asks=[
            "What are my options, and who do I report this to?",
            "Is this legal, and what do I do next?",
        ],
        summaries=[
            (
                "My former employer, {job} in {state_name}, still hasn't paid my final {owed} paycheck "
                "{weeks} after I quit."
            ),
            (
                "Quit with notice {weeks} ago and my old job in {state_name} is holding my {owed} final "
                "paycheck, saying {excuse}."
            ),
        ],
    ),
]


if __name__ == "__main__":
    main()
