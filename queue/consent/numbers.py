"""Destination numbers, parsed once at accept with ``phonenumbers``.

Parsing and validating a number is one of the dearest steps of the accept path (the README's
performance section has the figure), and a campaign's numbers are mostly unique. So the accept
path parses each number exactly once and keeps what policy needs later (E.164 form, country,
time zones, type) in the message row; dispatch never parses again.

:func:`parse_number` does the least work the caller asks for: time zones and the country only
when ``details`` is set (classes held to quiet hours), and memoises results in a bounded LRU
cache, because OTP and transactional traffic repeats numbers (the same customer logs in again).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Final, NamedTuple

import msgspec
import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberDesc, PhoneNumberType, timezone

__all__ = ["NumberError", "NumberInfo", "calling_code_known", "parse_number", "shape_ok"]

_E164: Final = re.compile(r"^\+[1-9][0-9]{6,14}\Z")  # \Z: "$" passes a trailing newline
_UNKNOWN_ZONE: Final = "Etc/Unknown"
_MOBILE_TYPES: Final = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.PAGER}
)
_TYPE_NAMES: Final = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}
CACHE_SIZE: Final = 65_536


class NumberInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the accept path learnt about a destination."""

    e164: str
    valid: bool
    """``phonenumbers`` knows the number's pattern (not that it is in service)."""
    kind: str
    """``mobile``, ``fixed_line``, ``fixed_line_or_mobile``, ``toll_free``… or ``unknown``."""
    country: str = ""
    """ISO 3166 region (``DE``), "" when not asked for or not known."""
    zones: tuple[str, ...] = ()
    """IANA time zones the number may be in; () when not asked for or not known."""

    @property
    def mobile(self) -> bool:
        """True for mobile numbers and for NANPA-style numbers that may be mobile."""
        return self.kind in ("mobile", "fixed_line_or_mobile", "pager")


class NumberError(ValueError):
    """The text is not a phone number; ``reason`` is for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def shape_ok(number: str) -> bool:
    """The cheap check: ``+`` then 7 to 15 digits, no leading zero (E.164 shape)."""
    return _E164.match(number) is not None


def calling_code_known(number: str) -> bool:
    """Whether an E.164-shaped ``number`` starts with a country calling code phonenumbers
    knows (codes are prefix-free: the first of 1, 2 or 3 digits that is one). A number
    without one can reach no network; :func:`parse_number` refuses it too."""
    codes = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    return any(int(number[1 : 1 + n]) in codes for n in (1, 2, 3))


def parse_number(raw: str, default_country: str = "", *, details: bool = False) -> NumberInfo:
    """Parse ``raw`` (E.164, or a national format when ``default_country`` is set).

    Raises :class:`NumberError` when ``raw`` cannot be read as a number at all, or when it is
    national without a default country. An invalid but well-formed number is returned with
    ``valid=False``: whether to refuse it is the caller's policy.
    """
    text = raw.strip()
    if not text.startswith("+") and not default_country:
        raise NumberError("must be in E.164 form like +4917012345678 (no default country)")
    return _cached(text, default_country.upper(), details)


def _e164_fast(text: str) -> tuple[int, str, int] | None:
    """A plain ``+<digits>`` number read without ``phonenumbers.parse``, when it is valid as
    written: (calling code, national number, type); None sends the caller to the full parser.

    ``parse`` spends two thirds of its time normalising punctuation, letters, extensions and
    national prefixes, none of which a clean E.164 string has. Calling codes are prefix-free,
    so the first of 1, 2 or 3 digits that is one is the code. A national part with a leading
    zero (Italy, or a national prefix written by mistake) or a number with no matching type
    goes to the full parser, which knows those rules.
    """
    digits = text[1:]
    if not (text.startswith("+") and digits.isascii() and digits.isdigit() and len(digits) > 6):
        return None
    for n in (1, 2, 3):
        code = int(digits[:n])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[n:]
            if not national or national[0] == "0":
                return None
            ntype = _type_of(code, national)
            if ntype == PhoneNumberType.UNKNOWN:
                return None
            return code, national, ntype
    return None


# -- phonenumbers.number_type, with its regexes compiled once -------------------------------------
# number_type() looks each pattern up in the re module's cache and wraps it in "^(?:...)$" on
# every call: two thirds of its time. These functions follow phonenumberutil's
# number_type, _region_code_for_number_from_list, _number_type_helper and
# _is_number_matching_desc step by step; tests/test_numbers.py checks they agree with it.

_PATTERNS: dict[str, re.Pattern[str]] = {}


def _rx(pattern: str) -> re.Pattern[str]:
    rx = _PATTERNS.get(pattern)
    if rx is None:
        rx = _PATTERNS[pattern] = re.compile(pattern)
    return rx


_Desc = tuple[frozenset[int] | None, Callable[[str], object]]
"""A number description ready to test: the possible lengths (None: any) and its fullmatch."""


def _desc(desc: PhoneNumberDesc | None) -> _Desc | None:
    """None for a description that matches nothing (absent, or without a pattern)."""
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = frozenset(desc.possible_length) if desc.possible_length else None
    return lengths, _rx(desc.national_number_pattern).fullmatch


class _Types(NamedTuple):
    """One region's type descriptions in the order number_type tries them."""

    general: _Desc | None
    special: tuple[tuple[frozenset[int] | None, Callable[[str], object], int], ...]
    fixed_line: _Desc | None
    mobile: _Desc | None
    same_mobile_and_fixed_line: bool


_TYPES: dict[int, _Types] = {}


def _types(md: PhoneMetadata) -> _Types:
    found = _TYPES.get(id(md))
    if found is None:
        special = []
        for desc, kind in (
            (md.premium_rate, PhoneNumberType.PREMIUM_RATE),
            (md.toll_free, PhoneNumberType.TOLL_FREE),
            (md.shared_cost, PhoneNumberType.SHARED_COST),
            (md.voip, PhoneNumberType.VOIP),
            (md.personal_number, PhoneNumberType.PERSONAL_NUMBER),
            (md.pager, PhoneNumberType.PAGER),
            (md.uan, PhoneNumberType.UAN),
            (md.voicemail, PhoneNumberType.VOICEMAIL),
        ):
            d = _desc(desc)
            if d is not None:
                special.append((d[0], d[1], kind))
        found = _TYPES[id(md)] = _Types(
            _desc(md.general_desc),
            tuple(special),
            _desc(md.fixed_line),
            _desc(md.mobile),
            bool(md.same_mobile_and_fixed_line_pattern),
        )  # metadata objects live as long as the process: id() stays theirs
    return found


def _matches(national: str, desc: _Desc | None) -> bool:
    if desc is None:
        return False
    lengths, fullmatch = desc
    return (lengths is None or len(national) in lengths) and fullmatch(national) is not None


def _type_in(national: str, md: PhoneMetadata) -> int:
    t = _types(md)
    if not _matches(national, t.general):
        return PhoneNumberType.UNKNOWN
    n = len(national)
    for lengths, fullmatch, kind in t.special:
        if (lengths is None or n in lengths) and fullmatch(national) is not None:
            return kind
    if _matches(national, t.fixed_line):
        if t.same_mobile_and_fixed_line or _matches(national, t.mobile):
            return PhoneNumberType.FIXED_LINE_OR_MOBILE
        return PhoneNumberType.FIXED_LINE
    if not t.same_mobile_and_fixed_line and _matches(national, t.mobile):
        return PhoneNumberType.MOBILE
    return PhoneNumberType.UNKNOWN


def _type_of(code: int, national: str) -> int:
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
    if regions is None:
        return PhoneNumberType.UNKNOWN
    region: str | None = regions[0]
    if len(regions) > 1:
        region = None
        for candidate in regions:
            md = PhoneMetadata.metadata_for_region(candidate.upper(), None)
            if md is None:
                continue
            if md.leading_digits is not None:
                if _rx(md.leading_digits).match(national):
                    region = candidate
                    break
            elif _type_in(national, md) != PhoneNumberType.UNKNOWN:
                region = candidate
                break
    if region is None:
        return PhoneNumberType.UNKNOWN  # as number_type: no metadata without a region
    md = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    return PhoneNumberType.UNKNOWN if md is None else _type_in(national, md)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cached(text: str, region: str, details: bool) -> NumberInfo:
    fast = _e164_fast(text)
    if fast is not None:
        code, national, ntype = fast
        e164 = text
        if details:
            num = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    else:
        try:
            num = phonenumbers.parse(text, region or None)
        except phonenumbers.NumberParseException as e:
            raise NumberError(_PARSE_REASONS.get(e.error_type, str(e))) from None
        # number_type() finds the region and matches the type patterns; validity is "some type
        # matched", so one call answers both (is_valid_number would repeat the work).
        ntype = phonenumbers.number_type(num)
        e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    valid = ntype != PhoneNumberType.UNKNOWN
    kind = _TYPE_NAMES.get(ntype, "unknown")
    if not details:
        return NumberInfo(e164=e164, valid=valid, kind=kind)
    country = phonenumbers.region_code_for_number(num) or ""
    zones: tuple[str, ...] = ()
    if valid and num.country_code is not None:
        if phonenumbers.is_number_type_geographical(ntype, num.country_code):
            zones = tuple(timezone.time_zones_for_geographical_number(num))
        else:
            zones = _country_zones(num)
    zones = tuple(z for z in zones if z != _UNKNOWN_ZONE)
    return NumberInfo(e164=e164, valid=valid, kind=kind, country=country, zones=zones)


_COUNTRY_ZONES: dict[int, tuple[str, ...]] = {}


def _country_zones(num: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    # Non-geographic numbers (most mobiles) map to every zone of their country calling code,
    # which depends on the code alone: work it out once per code (a few hundred codes at most).
    code = num.country_code or 0
    zones = _COUNTRY_ZONES.get(code)
    if zones is None:
        zones = _COUNTRY_ZONES[code] = tuple(timezone.time_zones_for_number(num))
    return zones


_PARSE_REASONS: Final = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country calling code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}
