"""The bundled samples, shipped inside the package so ``llm-train demo`` works from any install.

- ``pippa_sample.jsonl``: 200 original role-play chats with 10 characters, in PIPPA's schema
  (generator: ``examples/make_sample_data.py``);
- ``pippa_sample_facts.json``: facts of four of its characters, each with the probe that reveals it
  (``make demo``'s persona facts by turn);
- ``small_talk.txt``: 48 small-talk user turns for GAtt dialogues (not the evaluation's
  ``llm/eval/user_turns.txt``, so that training never rehearses the evaluated conversations);
- ``tldr_sft_sample.jsonl`` / ``tldr_comparisons_sample.jsonl``: TL;DR posts with summaries, and
  comparisons, in CarperAI's schemas (generator: ``examples/make_tldr_sample.py``).

>>> PIPPA_SAMPLE.name, PIPPA_SAMPLE.is_file()
('pippa_sample.jsonl', True)
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
PIPPA_SAMPLE = HERE / "pippa_sample.jsonl"
PIPPA_SAMPLE_FACTS = HERE / "pippa_sample_facts.json"
SMALL_TALK = HERE / "small_talk.txt"
TLDR_SFT_SAMPLE = HERE / "tldr_sft_sample.jsonl"
TLDR_COMPARISONS_SAMPLE = HERE / "tldr_comparisons_sample.jsonl"
