"""The one error type for bad input, at the very bottom of the layers (every module may raise it).

Anything the *user* can fix — a bad record, a wrong flag, a missing file, an output directory that is not
ours — raises :class:`UserError` (or a subclass). Every command catches exactly ``UserError`` and
``OSError`` (files and sockets the user names), prints ``llm-train <command>: error: <message>`` and exits 2
(:func:`llm.commands.cli.run_command`); anything else is a bug and keeps its traceback.

``UserError`` is a ``ValueError``, so code that already guards a conversion with ``except ValueError``
keeps working.

    >>> str(RecordError("chats.jsonl:3", "messages[0].role", "unknown role 'bot'"))
    "chats.jsonl:3: field 'messages[0].role': unknown role 'bot'"
    >>> RecordError("chats.jsonl:3", "<line>", "malformed JSON (Expecting value at column 1)").reason
    'malformed JSON'
"""

from __future__ import annotations


class UserError(ValueError):
    """Input the user can fix; the message says what to change."""


class RecordError(UserError):
    """A record that cannot be used, with where it came from and which field is wrong."""

    # problem prefix → the short category that drop counts use (first match wins)
    REASONS: tuple[tuple[str, str], ...] = (
        ("missing", "missing field"),
        ("expected", "wrong type"),
        ("malformed JSON", "malformed JSON"),
        ("nested too deeply", "malformed JSON"),
        ("number too large", "malformed JSON"),
        ("invalid string", "invalid text"),
        ("not UTF-8", "not UTF-8"),
        ("empty file", "empty file"),
        ("empty conversation", "empty conversation"),
        ("empty", "empty field"),
    )

    def __init__(self, record: str | None, field_name: str, problem: str):
        self.record = record
        self.field = field_name
        self.problem = problem
        where = f"{record}: " if record else ""
        super().__init__(f"{where}field '{field_name}': {problem}")

    def __reduce__(self):  # picklable across worker processes (--num_proc)
        return (type(self), (self.record, self.field, self.problem))

    @property
    def reason(self) -> str:
        """A short category for drop counts: 'missing field', 'wrong type', 'malformed JSON' …"""
        for prefix, reason in self.REASONS:
            if self.problem.startswith(prefix):
                return reason
        return "invalid value"


class ServiceError(UserError):
    """A server we call (an OpenAI-compatible endpoint, a reward server) refused or could not be reached."""
