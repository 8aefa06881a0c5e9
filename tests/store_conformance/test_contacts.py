"""Contacts and segments through the store interface: one contact per key and number, written
whole or patched, kept across a restart, listed per key (or for all) by tag in cursor order;
the coarse selection of a segment with opted-out numbers marked; segments one name per key."""

from __future__ import annotations

from .backends import Harness
from .interface import (
    ALL,
    Coarse,
    ContactPatch,
    NewContact,
    NewSegment,
    OptoutRequest,
    Store,
)

A, B, C = "+4917011111111", "+4917022222222", "+4917033333333"


def _c(key: str, number: str, **kw: object) -> NewContact:
    fields: dict[str, object] = {"first_name": "Ada", "tags": ["vip"], "at": 1_000.0, **kw}
    return NewContact(key=key, number=number, **fields)  # type: ignore[arg-type]


async def test_a_contact_is_kept_whole_across_a_restart(harness: Harness) -> None:
    made = await harness.store.upsert_contacts(
        [
            _c(
                "shop",
                A,
                last_name="Lovelace",
                locale="en-GB",
                time_zone="Europe/London",
                attributes={"orders": 3, "since": "2024-05-01", "gold": True, "score": 1.5},
            )
        ]
    )
    assert made == [True]
    store = await harness.reopen()
    row = await store.get_contact("shop", A)
    assert row is not None
    assert (row.number, row.first_name, row.last_name, row.locale, row.time_zone) == (
        A,
        "Ada",
        "Lovelace",
        "en-GB",
        "Europe/London",
    )
    assert row.tags == ["vip"]
    assert row.attributes == {"orders": 3, "since": "2024-05-01", "gold": True, "score": 1.5}
    assert (row.created_at, row.updated_at) == (1_000.0, 1_000.0)


async def test_upsert_replaces_whole_per_key_and_says_what_was_created(store: Store) -> None:
    assert await store.upsert_contacts([_c("shop", A), _c("other", A, first_name="Bob")]) == [
        True,
        True,
    ]
    again = [_c("shop", A, first_name="Eve", tags=[], at=2_000.0), _c("shop", B), _c("shop", B)]
    assert await store.upsert_contacts(again) == [False, True, False]
    row = await store.get_contact("shop", A)
    assert row is not None and (row.first_name, row.tags) == ("Eve", [])
    assert (row.created_at, row.updated_at) == (1_000.0, 2_000.0)
    theirs = await store.get_contact("other", A)
    assert theirs is not None and theirs.first_name == "Bob"


async def test_patch_merges_attributes_and_replaces_given_fields(store: Store) -> None:
    await store.upsert_contacts(
        [_c("shop", A, locale="de", attributes={"orders": 3, "city": "Bonn"})]
    )
    p = ContactPatch(
        last_name="Byron",
        attributes={"orders": 4, "city": None, "plan": "gold"},
        clear=frozenset({"locale"}),
        at=3_000.0,
    )
    row = await store.patch_contact("shop", A, p)
    assert row is not None
    assert (row.first_name, row.last_name, row.locale) == ("Ada", "Byron", None)
    assert row.attributes == {"orders": 4, "plan": "gold"}
    assert row.tags == ["vip"] and row.updated_at == 3_000.0
    assert await store.patch_contact("other", A, p) is None


async def test_delete_and_pages_by_key_and_tag(store: Store) -> None:
    await store.upsert_contacts(
        [_c("shop", A), _c("other", B), _c("shop", B, tags=["new"]), _c("shop", C)]
    )
    mine = await store.contacts_page("shop", 0, 2)
    assert [c.number for c in mine] == [A, B]
    rest = await store.contacts_page("shop", mine[-1].cursor, 2)
    assert [c.number for c in rest] == [C]
    assert [c.number for c in await store.contacts_page("shop", 0, 10, "vip")] == [A, C]
    every = await store.contacts_page(None, 0, 10)
    assert [(c.key, c.number) for c in every] == [
        ("shop", A),
        ("other", B),
        ("shop", B),
        ("shop", C),
    ]
    assert await store.delete_contact("shop", A)
    assert not await store.delete_contact("shop", A)
    assert await store.get_contact("shop", A) is None
    assert await store.get_contact("other", B) is not None


async def test_candidates_select_coarsely_and_mark_opted_out(store: Store) -> None:
    await store.upsert_contacts(
        [
            _c("shop", A, tags=["vip", "de"], locale="de"),
            _c("shop", B, tags=["de"], locale="DE"),
            _c("shop", C, tags=["vip"], locale="fr"),
            _c("other", A, tags=["vip", "de"], locale="de"),
        ]
    )
    await store.opt_out(
        [OptoutRequest(number=B, scope=ALL, source="api", at=1.0, key="shop", note="")]
    )
    got = await store.segment_candidates("shop", Coarse(locale="de"), 0, 10)
    assert [(c.contact.number, c.opted_out) for c in got] == [(A, False), (B, True)]
    got = await store.segment_candidates("shop", Coarse(tags_all=["vip", "de"]), 0, 10)
    assert [c.contact.number for c in got] == [A]
    got = await store.segment_candidates("shop", Coarse(tags_any=["de", "nope"]), 0, 1)
    assert [c.contact.number for c in got] == [A]
    after = await store.segment_candidates("shop", Coarse(), got[-1].contact.cursor, 10)
    assert [c.contact.number for c in after] == [B, C]


async def test_a_segment_name_is_taken_once_per_key(harness: Harness) -> None:
    store = harness.store
    seg = NewSegment(key="shop", name="vips", rules='{"tags_any":["vip"]}', at=1_000.0)
    made = await store.add_segment(seg)
    assert made is not None and made.rules == seg.rules
    assert await store.add_segment(seg) is None
    assert await store.add_segment(NewSegment(key="other", name="vips", rules="{}", at=1.0))
    new = NewSegment(key="shop", name="vips", rules='{"locale":"de"}', at=2_000.0)
    replaced = await store.replace_segment(new)
    assert replaced is not None and (replaced.rules, replaced.created_at) == (new.rules, 1_000.0)
    store = await harness.reopen()
    assert [s.name for s in await store.segments_page("shop", 0, 10)] == ["vips"]
    assert len(await store.segments_page(None, 0, 10)) == 2
    assert await store.delete_segment("shop", "vips")
    assert await store.get_segment("shop", "vips") is None
    assert await store.get_segment("other", "vips") is not None
