"""Contacts, pure: the limits of a contact's fields and the checks that hold them, shared by
the JSON API, the CSV import and the store's callers.

A contact is a number (E.164, read as a message's destination is) with a name, a locale, an
IANA time zone, tags (short strings) and attributes (a flat JSON object of strings, numbers
and booleans). The limits below bound a contact's attributes under 4 KB of JSON: at most
:data:`MAX_ATTRIBUTES` names of :data:`MAX_ATTRIBUTE_NAME` characters, string values of at
most :data:`MAX_ATTRIBUTE_TEXT` characters.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from typing import Final

from smsgw.queue.consent.numbers import NumberError, calling_code_known, parse_number, shape_ok

__all__ = [
    "ATTRIBUTE_NAME_PATTERN",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_NAME",
    "MAX_ATTRIBUTE_TEXT",
    "MAX_NAME",
    "MAX_TAGS",
    "TAG_PATTERN",
    "AttrValue",
    "ContactError",
    "NumberReader",
    "check_attributes",
    "check_tags",
    "check_zone",
    "known_zones",
    "merge_attributes",
]

AttrValue = str | int | float | bool
"""An attribute's value."""

MAX_NAME: Final = 100
"""Characters of a first or last name."""
MAX_TAGS: Final = 20
TAG_PATTERN: Final = "^[A-Za-z0-9_.:-]{1,32}$"
"""A tag: 1-32 of letters, digits, ``_ . : -``."""
MAX_ATTRIBUTES: Final = 25
MAX_ATTRIBUTE_NAME: Final = 40
ATTRIBUTE_NAME_PATTERN: Final = "^[A-Za-z_][A-Za-z0-9_]{0,39}$"
"""An attribute's name: a letter or ``_``, then letters, digits and ``_``; 40 at most."""
MAX_ATTRIBUTE_TEXT: Final = 100

_TAG: Final = re.compile(TAG_PATTERN[:-1] + r"\Z")
_ATTRIBUTE: Final = re.compile(ATTRIBUTE_NAME_PATTERN[:-1] + r"\Z")


class ContactError(ValueError):
    """A contact's field refused: ``code`` (stable), ``message`` (for people), ``field`` (the
    JSON name of the field, ``attributes.<name>`` for an attribute)."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


class NumberReader:
    """Contact numbers read as the accept path reads a destination: without a default
    country, E.164 exactly as written with a calling code phonenumbers knows; with one (or
    with ``validate``), through ``phonenumbers`` (a national number, the numbering plan).

    Calling it returns the E.164 form or raises :class:`ContactError` ``invalid_number``.
    """

    def __init__(self, default_country: str = "", *, validate: bool = False) -> None:
        self.country = default_country.upper()
        self.validate = validate

    def __call__(self, raw: str) -> str:
        text = raw.strip() if self.country else raw
        if not self.country and not (shape_ok(text) and calling_code_known(text)):
            raise ContactError(
                "invalid_number",
                f"{raw!r} must be an E.164 number like +4917012345678",
                "number",
            )
        if not (self.country or self.validate):
            return text
        try:
            info = parse_number(text, self.country)
        except NumberError as e:
            raise ContactError(
                "invalid_number", f"{raw!r} is not a phone number: {e.reason}", "number"
            ) from None
        if self.validate and not info.valid:
            raise ContactError(
                "invalid_number", f"{info.e164} is not a valid phone number", "number"
            )
        return info.e164


@functools.cache
def known_zones() -> frozenset[str]:
    """The IANA time zone names this system's tz database holds."""
    return frozenset(zoneinfo.available_timezones())


def check_zone(name: str) -> str:
    """``name`` when it is an IANA time zone this system knows; raises :class:`ContactError`
    ``invalid_tz``."""
    if name not in known_zones():
        raise ContactError(
            "invalid_tz",
            f"'time_zone' must be an IANA time zone like Europe/Berlin, got {name!r}",
            "time_zone",
        )
    return name


def check_tags(tags: Iterable[str]) -> list[str]:
    """The tags without repeats, in their first order; raises :class:`ContactError`
    ``invalid_tag`` for one that is not a tag, or for more than :data:`MAX_TAGS`."""
    out = list(dict.fromkeys(tags))
    for t in out:
        if not _TAG.match(t):
            raise ContactError(
                "invalid_tag", f"{t!r} is not a tag: 1-32 of A-Z a-z 0-9 _ . : -", "tags"
            )
    if len(out) > MAX_TAGS:
        raise ContactError("invalid_tag", f"at most {MAX_TAGS} tags, got {len(out)}", "tags")
    return out


def check_attributes(attrs: Mapping[str, object]) -> dict[str, AttrValue]:
    """``attrs`` as stored; raises :class:`ContactError` ``invalid_attribute`` naming the
    attribute for a bad name, a value that is not a string, number or boolean, or a string
    over :data:`MAX_ATTRIBUTE_TEXT` characters, and for more than :data:`MAX_ATTRIBUTES`."""
    if len(attrs) > MAX_ATTRIBUTES:
        raise ContactError(
            "invalid_attribute",
            f"at most {MAX_ATTRIBUTES} attributes, got {len(attrs)}",
            "attributes",
        )
    out: dict[str, AttrValue] = {}
    for name, value in attrs.items():
        field = f"attributes.{name}"
        if not _ATTRIBUTE.match(name):
            raise ContactError(
                "invalid_attribute",
                f"{name!r} is not an attribute name: a letter or _, then letters, digits"
                " and _, 40 at most",
                field,
            )
        if isinstance(value, str):
            if len(value) > MAX_ATTRIBUTE_TEXT:
                raise ContactError(
                    "invalid_attribute",
                    f"at most {MAX_ATTRIBUTE_TEXT} characters, got {len(value)}",
                    field,
                )
        elif not isinstance(value, int | float):  # bool is an int
            raise ContactError(
                "invalid_attribute", "must be a string, a number or a boolean", field
            )
        out[name] = value
    return out


def merge_attributes(
    stored: Mapping[str, AttrValue], changes: Mapping[str, AttrValue | None]
) -> dict[str, AttrValue]:
    """``stored`` with ``changes`` merged in: a name given a value gets it, a name given None
    is removed. Raises :class:`ContactError` ``invalid_attribute`` when the result would hold
    more than :data:`MAX_ATTRIBUTES`."""
    out = dict(stored)
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    if len(out) > MAX_ATTRIBUTES:
        raise ContactError(
            "invalid_attribute",
            f"at most {MAX_ATTRIBUTES} attributes, the change would make {len(out)}",
            "attributes",
        )
    return out
