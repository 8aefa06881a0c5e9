"""Properties of segment filters (queue/campaigns/segments.py), pure, without a store.

A contact the filter matches is one the coarse selection keeps (a store selecting by it never
loses a member); ``tags_any`` and ``tags_all`` are set membership; ``in`` is ``eq`` with any of
its values; ``before`` and ``after`` never both hold and neither holds at the bound itself;
``exists`` with true and with false split every contact in two; and the rules survive the
store's JSON text unchanged.
"""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from smsgw.queue.campaigns.segments import (
    After,
    Before,
    Eq,
    Exists,
    In,
    SegmentRules,
    coarse,
    decode_rules,
    encode_rules,
    holds,
    matches,
)
from smsgw.queue.store.records import Coarse, ContactRow
from tests.property_helpers import budget

_TAGS = st.lists(st.sampled_from(["vip", "de", "new", "x.y", "a:b"]), max_size=4, unique=True)
_NAMES = st.sampled_from(["plan", "orders", "since", "gold"])
_DATES = st.dates(datetime.date(2000, 1, 1), datetime.date(2030, 12, 31))
_SCALARS = st.one_of(
    st.sampled_from(["gold", "free", ""]),
    st.integers(-5, 5),
    st.floats(-5, 5, allow_nan=False),
    st.booleans(),
)
_VALUES = st.one_of(
    _SCALARS,
    _DATES.map(str),
    st.builds(lambda d, h: f"{d}T{h:02d}:00:00Z", _DATES, st.integers(0, 23)),
)
_ATTRS = st.dictionaries(_NAMES, _VALUES, max_size=4)
_LOCALES = st.sampled_from([None, "de", "DE", "de-AT", "fr"])
_ZONES = st.sampled_from([None, "Europe/Berlin", "Europe/Vienna"])
_BOUNDS = st.one_of(_DATES, st.floats(-6, 6, allow_nan=False))
_CONDITIONS = st.one_of(
    st.builds(Eq, attr=_NAMES, value=_SCALARS),
    st.builds(In, attr=_NAMES, value=st.lists(_SCALARS, min_size=1, max_size=3)),
    st.builds(Before, attr=_NAMES, value=_BOUNDS),
    st.builds(After, attr=_NAMES, value=_BOUNDS),
    st.builds(Exists, attr=_NAMES, value=st.booleans()),
)
_RULES = st.builds(
    SegmentRules,
    tags_any=_TAGS,
    tags_all=_TAGS,
    conditions=st.lists(_CONDITIONS, max_size=3),
    locale=_LOCALES,
    time_zone=_ZONES,
)
_CONTACTS = st.builds(
    lambda tags, attrs, locale, zone: ContactRow(
        cursor=1,
        key="shop",
        number="+4917012345678",
        first_name="",
        last_name="",
        locale=locale,
        time_zone=zone,
        tags=tags,
        attributes=attrs,
        created_at=0.0,
        updated_at=0.0,
    ),
    _TAGS,
    _ATTRS,
    _LOCALES,
    _ZONES,
)


def _coarse_keeps(c: Coarse, contact: ContactRow) -> bool:
    """What the SQLite backend's selection keeps, in Python."""
    tags = set(contact.tags)
    return (
        tags.issuperset(c.tags_all)
        and (not c.tags_any or bool(tags & set(c.tags_any)))
        and (c.locale is None or (contact.locale or "").lower() == c.locale.lower())
        and (c.time_zone is None or contact.time_zone == c.time_zone)
    )


@budget(300)
@given(_RULES, _CONTACTS)
def test_a_member_is_always_in_the_coarse_selection(
    rules: SegmentRules, contact: ContactRow
) -> None:
    if matches(rules, contact):
        assert _coarse_keeps(coarse(rules), contact)


@budget(300)
@given(_TAGS, _TAGS, _CONTACTS)
def test_tags_are_set_membership(any_: list[str], all_: list[str], contact: ContactRow) -> None:
    rules = SegmentRules(tags_any=any_, tags_all=all_)
    tags = set(contact.tags)
    expected = (not any_ or bool(tags & set(any_))) and tags >= set(all_)
    assert matches(rules, contact) == expected


@budget(300)
@given(_NAMES, st.lists(_SCALARS, min_size=1, max_size=4), _ATTRS)
def test_in_is_eq_with_any_value(name: str, values: list[object], attrs: dict[str, object]) -> None:
    one_of = holds(In(attr=name, value=values), attrs)  # type: ignore[arg-type]
    assert one_of == any(holds(Eq(attr=name, value=v), attrs) for v in values)  # type: ignore[arg-type]


@budget(300)
@given(_NAMES, _BOUNDS, _ATTRS)
def test_before_and_after_never_both_hold(
    name: str, bound: datetime.date | float, attrs: dict[str, object]
) -> None:
    before = holds(Before(attr=name, value=bound), attrs)  # type: ignore[arg-type]
    after = holds(After(attr=name, value=bound), attrs)  # type: ignore[arg-type]
    assert not (before and after)
    at = {name: str(bound) if isinstance(bound, datetime.date) else bound}
    assert not holds(Before(attr=name, value=bound), at)
    assert not holds(After(attr=name, value=bound), at)


@budget(300)
@given(_NAMES, _ATTRS)
def test_exists_splits_every_contact_in_two(name: str, attrs: dict[str, object]) -> None:
    yes = holds(Exists(attr=name, value=True), attrs)  # type: ignore[arg-type]
    no = holds(Exists(attr=name, value=False), attrs)  # type: ignore[arg-type]
    assert yes != no and yes == (name in attrs)


@budget(300)
@given(_RULES)
def test_rules_survive_the_stored_text(rules: SegmentRules) -> None:
    assert decode_rules(encode_rules(rules)) == rules


def test_a_boolean_is_not_a_number_and_dates_compare_by_day() -> None:
    assert not holds(Eq(attr="a", value=1), {"a": True})
    assert holds(Eq(attr="a", value=1), {"a": 1.0})
    assert not holds(After(attr="a", value=0.5), {"a": True})
    day = datetime.date(2026, 3, 1)
    assert holds(After(attr="a", value=day), {"a": "2026-03-02T00:00:00Z"})
    assert not holds(After(attr="a", value=day), {"a": "2026-03-01T23:59:59Z"})
    assert not holds(Before(attr="a", value=day), {"a": "not a date"})
    assert not holds(Before(attr="a", value=day), {"a": 20260101})
    # A number kept as text (a CSV cell) compares as the number; other text does not.
    assert holds(After(attr="a", value=4), {"a": "12"})
    assert holds(Before(attr="a", value=4), {"a": "-3.5"})
    assert not holds(After(attr="a", value=4), {"a": "12 apples"})
    assert not holds(Eq(attr="a", value=12), {"a": "12"})
