"""Strings from log lines: made encodable, and made safe to show."""

from __future__ import annotations

import re

_SURROGATES = re.compile(r"[\ud800-\udfff]")
# C0 and C1 controls, DEL, line and paragraph separators, the bidirectional
# formatting characters (which can reorder what a terminal or browser shows,
# as in "Trojan Source"), and lone surrogates (which no encoding accepts).
_UNPRINTABLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


def clean(text: str) -> str:
    """*text* with each lone surrogate replaced by U+FFFD, so that it can be encoded."""
    if text.isascii():
        return text
    return _SURROGATES.sub("\ufffd", text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """
    *text* safe to show to people: control characters (tab and newline
    included), line separators, bidirectional-formatting characters and lone
    surrogates are written as ``\\x1b`` or ``\\u202e``, so that a string
    from a log line can neither drive a terminal nor reorder or break the
    report's lines.
    """
    return _UNPRINTABLE.sub(_escape, text)
