"""
Values written for people: bounded, escaped, and read without running user code.

What migratekit keeps or shows of a value it did not make (a provider's
answer, a variable, a file or Redis value, a side's result or exception) goes
through these helpers, so that a huge, binary or hostile value never makes a
message unbounded and never runs a method of its own while being shown.
"""

from __future__ import annotations

import builtins
import hashlib
import re
import reprlib
from typing import Any

__all__ = ["SHOWN_LIMIT", "plain_str", "shown_repr", "shown_value", "type_name"]

# -- values from outside ----------------------------------------------------------------------
#
# Everything read from outside (a variable, a file, a Redis key, a flag service's
# answer, a side's result) may be huge, binary or hostile. What is kept of such a
# value (in a cache, in an exception raised again) and what is shown of it (in a
# message, an event) is bounded: the value itself when it is short and printable,
# otherwise an escaped prefix with the value's length and a hash, so that two
# different values are still told apart.

SHOWN_LIMIT = 64
"""The longest value kept and shown as it is; longer ones are shown by :func:`shown_value`."""

_PREFIX = 32


def shown_value(value: object, limit: int = SHOWN_LIMIT) -> object:
    """
    *value*, read from outside, as a provider may keep it and show it.

    ``None``, booleans, floats, short integers and short printable strings
    (of exactly those types) are returned as they are. Anything else becomes
    a plain ``str``: the value (its text, bytes decoded as UTF-8, other
    objects by a bounded ``repr``) with unprintable characters escaped; when
    longer than *limit*, cut to a prefix followed by its length and the start
    of its SHA-256, so that values that differ stay apart. The result is at
    most about *limit* characters (plus escapes). Never raises an
    ``Exception``, and runs no method of a ``str``, ``bytes`` or ``int``
    subclass.
    """
    try:
        return _shown_value(value, limit)
    except Exception:
        return f"<{type_name(value)}>"


def shown_repr(value: object, limit: int = SHOWN_LIMIT) -> str:
    """
    *value*, read from outside, written for a message: its ``repr`` when
    short; else the ``repr`` of a prefix, then its length and hash, as
    :func:`shown_value` does. Never raises an ``Exception``.
    """
    try:
        kind = type(value)
        if issubclass(kind, str):
            text = plain_str(value)  # type: ignore[arg-type]
            if len(text) <= limit:
                return repr(text)
            return repr(text[: _prefix(limit)]) + _fingerprint(
                _utf8(text), len(text), "characters"
            )
        if issubclass(kind, (bytes, bytearray, memoryview)):
            data = _plain_bytes(value)  # type: ignore[arg-type]
            if len(data) <= limit:
                return repr(data)
            return repr(data[: _prefix(limit)]) + _fingerprint(data, len(data), "bytes")
        shown = _shown_value(value, limit)
        # Only None, a bool, a float or an int of exactly those types come back as they were.
        return repr(shown) if shown is value else str(shown)
    except Exception:
        return f"<{type_name(value)}>"


def _shown_value(value: object, limit: int) -> object:
    kind = type(value)
    if value is None or kind is bool or kind is float:
        return value
    if issubclass(kind, str):
        text = plain_str(value)  # type: ignore[arg-type]
        if len(text) <= limit:
            if text.isprintable():
                return value if kind is str else text
            return _printable(text)
        return _printable(text[: _prefix(limit)]) + _fingerprint(
            _utf8(text), len(text), "characters"
        )
    if issubclass(kind, (bytes, bytearray, memoryview)):
        data = _plain_bytes(value)  # type: ignore[arg-type]
        if len(data) <= limit:
            return _shown_value(data.decode("utf-8", errors="replace"), limit)
        head = data[: _prefix(limit)].decode("utf-8", errors="replace")
        return _printable(head) + _fingerprint(data, len(data), "bytes")
    if issubclass(kind, int):
        try:
            text = int.__repr__(value)
        except ValueError:  # more digits than str() may make
            return f"<int of {int.bit_length(value)} bits>"  # type: ignore[arg-type]
        if len(text) <= limit:
            return value if kind is int else text
        return text[: _prefix(limit)] + _fingerprint(text.encode(), len(text), "digits")
    if issubclass(kind, float):
        return float.__repr__(value)
    text = _bounded_repr(value)
    if len(text) <= limit:
        return _printable(text)
    return _printable(text[: _prefix(limit)]) + _fingerprint(_utf8(text), len(text), "characters")


def plain_str(value: str) -> str:
    """*value* as a plain str, copied from its data: no method of a str subclass runs."""
    return value if type(value) is str else "".join((value,))


def _plain_bytes(value: bytes | bytearray | memoryview) -> bytes:
    return value if type(value) is bytes else b"".join((value,))


def type_name(value: object) -> str:
    """The name of *value*'s class, read so that it cannot raise (a metaclass may make it)."""
    name: str = _TYPE_NAME.__get__(type(value))
    return name


_TYPE_NAME: Any = type.__dict__["__name__"]

class _BoundedRepr(reprlib.Repr):
    """
    ``repr`` that stops at a few levels and elements (``repr`` of a container
    is as big and as deep as the container), and names an object whose
    ``repr`` raises by its class alone, without its address, so that the
    same failure reads the same each time.
    """

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            text = builtins.repr(x)
            if type(text) is not str:
                text = plain_str(text)
        except Exception:
            return f"<{type_name(x)} whose repr() raised>"
        if len(text) > self.maxother:
            return text[: self.maxother] + "…"
        return text


_REPR = _BoundedRepr()
_REPR.maxlevel = 3
_REPR.maxtuple = _REPR.maxlist = _REPR.maxarray = _REPR.maxdict = 8
_REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 8
_REPR.maxstring = _REPR.maxlong = 40
_REPR.maxother = 300

# Default reprs hold the object's address: two equal failures would read as two.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _bounded_repr(value: object) -> str:
    try:
        text = _REPR.repr(value)
    except Exception:
        return f"<{type_name(value)} whose repr() raised>"
    if type(text) is not str:
        return f"<{type_name(value)}>"
    return _ADDRESS.sub("", text)


def _prefix(limit: int) -> int:
    # Room for the fingerprint, about 45 characters, within the limit.
    return max(_PREFIX, limit - 50)


def _fingerprint(data: bytes, count: int, unit: str) -> str:
    return f"… ({count} {unit}, sha256:{hashlib.sha256(data).hexdigest()[:16]})"


def _utf8(text: str) -> bytes:
    # surrogatepass: a value decoded with surrogateescape (os.environ) hashes too.
    return text.encode("utf-8", errors="surrogatepass")


def _printable(text: str) -> str:
    # repr() escapes control characters, lone surrogates and other unprintable
    # characters; the quotes it adds are taken off again.
    return text if text.isprintable() else repr(text)[1:-1]

