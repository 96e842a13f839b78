"""The online-RL core that ``ppo`` and ``grpo`` stand on, side by side (neither imports the other):

- :mod:`~llm.train.online.args` — the run, prompt, sampling, group and reward flags, each declared once;
- :mod:`~llm.train.online.prompts` — prompts read by the data layer's readers, or from a processed dataset;
- :mod:`~llm.train.online.forward` — log-probs and entropy under logits ÷ temperature, EOS truncation;
- :mod:`~llm.train.online.metrics` and :mod:`~llm.train.online.run` — metrics reduced exactly over processes,
  trackers, curves; the run's folder, accelerator and saved policy;
- :mod:`~llm.train.online.source`, :mod:`~llm.train.online.environments` — the episode-source interface and
  the registry ``grpo --env`` reads (:mod:`~llm.train.online.single_turn`, :mod:`~llm.train.online.roleplay`,
  on :mod:`~llm.train.online.episodes`).
"""
