"""The text module's errors: one base class, each subclass with a stable ``code``.

Every error is a :class:`ValueError`, so callers that only know "bad value" still catch it;
the API renders ``code`` as the machine-readable error code of its 4xx reply.
"""

from __future__ import annotations

__all__ = [
    "DecodeError",
    "EncodeError",
    "InvalidArgument",
    "TextError",
    "TooManyParts",
    "UdhError",
]


class TextError(ValueError):
    """Base of every error raised by :mod:`smsgw.drivers.text`."""

    code: str = "text_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TooManyParts(TextError):
    """The text needs more parts than allowed; nothing was truncated or dropped."""

    code = "too_many_parts"

    def __init__(self, parts: int, max_parts: int) -> None:
        super().__init__(f"text needs {parts} parts, more than the limit of {max_parts}")
        self.parts = parts
        self.max_parts = max_parts


class DecodeError(TextError):
    """Bytes from the wire that cannot be read as text (or as a user data header)."""

    code = "undecodable"


class UdhError(DecodeError):
    """A malformed user data header (TS 23.040 §9.2.3.24): lengths that overrun the data."""

    code = "bad_udh"


class EncodeError(TextError):
    """Text that cannot be put in the asked-for wire form (a character outside the charset,
    a lone surrogate)."""

    code = "unencodable"


class InvalidArgument(TextError):
    """A parameter out of its range (a reference too large, a sequence number of 0...)."""

    code = "invalid_argument"
