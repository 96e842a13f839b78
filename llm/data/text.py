"""Text that can be written: the one check every reader applies to strings it takes from users' files."""

from __future__ import annotations


def is_text(value: str) -> bool:
    """True when ``value`` is encodable text (no lone surrogate such as ``"\\ud800"``).

    >>> is_text("café 🙂"), is_text("a" + chr(0xD800) + "b")
    (True, False)
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
