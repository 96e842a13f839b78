"""``python -m llm.commands COMMAND ...``: the same as the ``llm-train`` console script."""

import sys

from llm.commands import main

sys.exit(main())
