"""The E.164 fast path of :mod:`smsgw.queue.consent.numbers` reads every number as the full
parser does."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from smsgw.queue.consent import numbers
from smsgw.queue.consent.numbers import NumberError, NumberInfo


def _read(text: str, details: bool, *, fast: bool) -> NumberInfo | str:
    numbers._cached.cache_clear()
    saved = numbers._e164_fast
    if not fast:
        numbers._e164_fast = lambda text: None
    try:
        return numbers._cached(text, "", details)
    except NumberError as e:
        return f"error: {e.reason}"
    finally:
        numbers._e164_fast = saved
        numbers._cached.cache_clear()


def _examples() -> list[str]:
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                out.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    return out


EXAMPLES = _examples()


def test_fast_path_takes_most_example_numbers_and_agrees_on_all() -> None:
    taken = sum(numbers._e164_fast(n) is not None for n in EXAMPLES)
    assert taken > 0.9 * len(EXAMPLES)
    for number in EXAMPLES:
        for details in (False, True):
            assert _read(number, details, fast=True) == _read(number, details, fast=False), number


@pytest.mark.parametrize(
    "text",
    ["+39 06 6982 1234", "+390669821234", "+4901701234567", "+7 (812) 123-45-67", "+1-800-FLOWERS"],
)
def test_punctuation_leading_zeros_and_letters_go_to_the_full_parser(text: str) -> None:
    assert _read(text, True, fast=True) == _read(text, True, fast=False)


@settings(max_examples=300, deadline=None)
@given(code=st.integers(1, 999), rest=st.text("0123456789", min_size=3, max_size=13))
def test_fast_path_agrees_on_random_digits(code: int, rest: str) -> None:
    text = f"+{code}{rest}"
    assert _read(text, True, fast=True) == _read(text, True, fast=False)


@settings(max_examples=300, deadline=None)
@given(
    code=st.sampled_from([1, 7, 44, 47, 61, 262, 590, 599, 212, 358, 39, 49, 86, 800, 979]),
    rest=st.text("0123456789", min_size=4, max_size=12),
)
def test_type_agrees_with_phonenumbers_for_shared_calling_codes(code: int, rest: str) -> None:
    national = rest.lstrip("0") or "1"
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    assert numbers._type_of(code, national) == phonenumbers.number_type(number)
