"""Chatting with a trained checkpoint in the terminal: ``llm-train chat`` (see :mod:`llm.chat.cli`)."""
