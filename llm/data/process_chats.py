"""``python -m llm.data.process_chats``: the historical entry point, kept working; it is ``llm-train process``.

The pipeline lives in :mod:`llm.data.process`; the command (arguments, summary) in
:mod:`llm.commands.process`. This module only forwards, so it imports upward from inside the guard below,
the one exception the layer test allows.
"""

if __name__ == "__main__":
    import sys

    from llm.commands.process import main

    sys.exit(main())
