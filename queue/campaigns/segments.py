"""Segments, pure: a saved filter over a key's contacts and its evaluation, one contact at a
time, without I/O.

A filter (:class:`SegmentRules`) holds when every part given holds: one of ``tags_any`` (when
not empty), all of ``tags_all``, the ``locale`` (in any case) and ``time_zone``, and each
attribute condition. Conditions:

* ``eq``: the attribute equals the value (a string, a number or a boolean; ``1`` and ``1.0``
  are equal, ``true`` and ``1`` are not);
* ``in``: it equals one of the values;
* ``before`` / ``after``: with an ISO date, the attribute is an ISO date or date-time string
  whose date lies strictly before / after it; with a number, the attribute is a number (not a
  boolean), or a string that reads as a decimal number (``"12"``, as a CSV import keeps one),
  strictly below / above it. An attribute of another kind does not match;
* ``exists``: the contact has the attribute (``value`` false: it has not).

:func:`coarse` gives what a store may select by first (:class:`~smsgw.queue.store.records.Coarse`);
:func:`matches` decides. A store's selection may be wider than the filter, never narrower.
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated

import msgspec
from msgspec import Meta

from smsgw.queue.campaigns.contacts import (
    ATTRIBUTE_NAME_PATTERN,
    MAX_ATTRIBUTE_TEXT,
    MAX_TAGS,
    TAG_PATTERN,
    AttrValue,
)
from smsgw.queue.campaigns.templates import LOCALE_PATTERN
from smsgw.queue.store.records import Coarse, ContactRow

__all__ = [
    "After",
    "Before",
    "Condition",
    "Eq",
    "Exists",
    "In",
    "SegmentRules",
    "coarse",
    "decode_rules",
    "encode_rules",
    "holds",
    "matches",
]

_DECIMAL = re.compile(r"[+-]?[0-9]{1,15}(?:\.[0-9]{1,15})?\Z")
_AttrName = Annotated[str, Meta(pattern=ATTRIBUTE_NAME_PATTERN)]
_Scalar = Annotated[str, Meta(max_length=MAX_ATTRIBUTE_TEXT)] | int | float | bool
_Bound = datetime.date | float
_Tag = Annotated[str, Meta(pattern=TAG_PATTERN)]
_Tags = Annotated[list[_Tag], Meta(max_length=MAX_TAGS)]


class Eq(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="op", tag="eq"):
    """The attribute equals ``value``."""

    attr: _AttrName
    value: _Scalar


class In(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="op", tag="in"):
    """The attribute equals one of ``value``."""

    attr: _AttrName
    value: Annotated[list[_Scalar], Meta(min_length=1, max_length=100)]


class Before(
    msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="op", tag="before"
):
    """The attribute lies before ``value``: an ISO date (the attribute an ISO date or
    date-time, compared by its date) or a number (the attribute a number)."""

    attr: _AttrName
    value: _Bound


class After(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="op", tag="after"):
    """The attribute lies after ``value``, read as for :class:`Before`."""

    attr: _AttrName
    value: _Bound


class Exists(
    msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="op", tag="exists"
):
    """The contact has the attribute (``value`` false: it has not)."""

    attr: _AttrName
    value: bool = True


Condition = Eq | In | Before | After | Exists


class SegmentRules(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A filter over a key's contacts: every part given must hold."""

    tags_any: _Tags = []
    """The contact carries one of these (when not empty)."""
    tags_all: _Tags = []
    """The contact carries every one of these."""
    conditions: Annotated[list[Condition], Meta(max_length=50)] = []
    """Attribute conditions; every one must hold."""
    locale: Annotated[str, Meta(max_length=35, pattern=LOCALE_PATTERN)] | None = None
    """The contact's locale is this one (in any case)."""
    time_zone: Annotated[str, Meta(max_length=64)] | None = None
    """The contact's IANA time zone is this one."""


_decoder = msgspec.json.Decoder(SegmentRules)
_encoder = msgspec.json.Encoder()


def encode_rules(rules: SegmentRules) -> str:
    """``rules`` as the JSON text a store keeps."""
    return _encoder.encode(rules).decode()


def decode_rules(text: str) -> SegmentRules:
    """Rules a store kept (:func:`encode_rules`); raises msgspec.ValidationError for text
    that is not one."""
    return _decoder.decode(text)


def coarse(rules: SegmentRules) -> Coarse:
    """What a store may select by before :func:`matches` decides."""
    return Coarse(
        tags_all=list(rules.tags_all),
        tags_any=list(rules.tags_any),
        locale=rules.locale,
        time_zone=rules.time_zone,
    )


def matches(rules: SegmentRules, contact: ContactRow) -> bool:
    """Whether ``contact`` is in the segment ``rules`` describe."""
    tags = set(contact.tags)
    if rules.tags_any and tags.isdisjoint(rules.tags_any):
        return False
    if not tags.issuperset(rules.tags_all):
        return False
    if rules.locale is not None and (contact.locale or "").lower() != rules.locale.lower():
        return False
    if rules.time_zone is not None and contact.time_zone != rules.time_zone:
        return False
    return all(holds(c, contact.attributes) for c in rules.conditions)


def holds(cond: Condition, attributes: dict[str, AttrValue]) -> bool:
    """Whether one condition holds for a contact's ``attributes``."""
    if isinstance(cond, Exists):
        return (cond.attr in attributes) == cond.value
    if cond.attr not in attributes:
        return False
    value = attributes[cond.attr]
    if isinstance(cond, Eq):
        return _same(value, cond.value)
    if isinstance(cond, In):
        return any(_same(value, v) for v in cond.value)
    order = _order(value, cond.value)
    if order is None:
        return False
    return order < 0 if isinstance(cond, Before) else order > 0


def _same(a: AttrValue, b: AttrValue) -> bool:
    # A boolean equals only a boolean: JSON's true is not the number 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _order(value: AttrValue, bound: datetime.date | float) -> int | None:
    """-1, 0 or 1 as ``value`` lies before, at or after ``bound``; None when they do not
    compare (a number against a date, a string that is no ISO date)."""
    if isinstance(bound, datetime.date):
        if not isinstance(value, str):
            return None
        day = _iso_date(value)
        if day is None:
            return None
        return (day > bound) - (day < bound)
    if isinstance(value, str):
        number = _decimal(value)
        if number is None:
            return None
        return (number > bound) - (number < bound)
    if isinstance(value, bool):
        return None
    return (value > bound) - (value < bound)


def _decimal(text: str) -> float | None:
    """A string that reads as a decimal number (``"12"``, ``"-3.5"``: how a CSV import keeps
    a number) as that number; None for any other string."""
    if not _DECIMAL.match(text):
        return None
    return float(text)


def _iso_date(text: str) -> datetime.date | None:
    """The date of an ISO date (``2026-03-01``) or date-time (``2026-03-01T09:00:00Z``)."""
    head = text[:10]
    if len(head) != 10 or (len(text) > 10 and text[10] not in "Tt "):
        return None
    try:
        return datetime.date.fromisoformat(head)
    except ValueError:
        return None
