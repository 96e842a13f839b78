"""What several tests share, imported as a normal package (``from tests.helpers.ports import free_port``):
pytest puts the repository root on the import path because ``tests/`` is a package, and a child process finds
it by running from the root, or with ``PYTHONPATH`` set to it (:data:`REPO`). Fixtures live in ``conftest.py``.

    losses            the packing tests' reference (each sample's own loss, alone); trained runs of labels
    ports             a free loopback port; a ``serve-reward`` process on one
    ppo_rewards       reward functions for the RL tests (``--reward_fn tests.helpers.ppo_rewards:letter_e``)
    grpo_scripted     ``llm-train grpo`` with scripted sampling, for the data-parallel agreement test
    preference_world  a synthetic multi-turn preference world for the DPO tests
    repliers          scripted repliers whose obedience is known
    strategies        Hypothesis strategies for conversations
    st_reference.js   SillyTavern's prompt built by the official handlebars.js (the parity test)

>>> (REPO / "llm" / "__init__.py").exists(), FIXTURES.name
(True, 'fixtures')
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
