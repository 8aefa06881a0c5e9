"""Conversions through the store interface: attributed in their commit to the key's last
clicked message in the window (previews not counted), by a tracked link's code or by a
client_ref; one per (key, order_id); scoped to the key; shown on their message; kept over a
reopen."""

from __future__ import annotations

from typing import Any

from .backends import Harness
from .interface import Click, ConversionRow, NewConversion, Store
from .test_links import tracked

WEEK = 7 * 86_400.0


def order(order_id: str, *, key: str = "shop", at: float = 2_000.0, **kw: Any) -> NewConversion:
    fields: dict[str, Any] = {"value": "49.90", "currency": "EUR", **kw}
    return NewConversion(key=key, order_id=order_id, at=at, window=WEEK, received_at=at, **fields)


async def _click(store: Store, code: str, at: float, *, preview: bool = False) -> None:
    [r] = await store.record_clicks([Click(code=code, at=at, user_agent="M", preview=preview)])
    assert r.outcome == "redirect"


async def _record(store: Store, c: NewConversion, created: bool = True) -> ConversionRow:
    row, was_created = await store.record_conversion(c)
    assert was_created is created
    return row


async def test_the_last_click_in_the_window_wins_and_previews_do_not_count(store: Store) -> None:
    a, b = tracked(1, "https://shop.example/a"), tracked(1, "https://shop.example/b")
    [ra, rb] = await store.accept([a, b])
    await _click(store, a.links[0].code, 1_100.0)
    await _click(store, b.links[0].code, 1_200.0, preview=True)
    row = await _record(store, order("o-1", number=a.to, at=1_300.0))
    assert row.attributed is not None
    assert (row.attributed.message, row.attributed.by) == (ra.id, "click")
    await _click(store, b.links[0].code, 1_400.0)
    row = await _record(store, order("o-2", number=a.to, at=1_400.0))
    assert row.attributed is not None and row.attributed.message == rb.id
    # The window's first instant still counts; a moment earlier does not.
    edge = await _record(store, order("o-3", number=a.to, at=1_400.0 + WEEK))
    assert edge.attributed is not None and edge.attributed.message == rb.id
    late = await _record(store, order("o-4", number=a.to, at=1_400.5 + WEEK))
    assert late.attributed is None


async def test_code_and_client_ref_attribute_to_their_message_of_the_key(store: Store) -> None:
    msg = tracked(1, "https://shop.example/a", client_ref="ref-1")
    [r] = await store.accept([msg])
    by_code = await _record(store, order("o-1", code=msg.links[0].code, at=9e9))
    assert by_code.attributed is not None
    assert (by_code.attributed.message, by_code.attributed.by) == (r.id, "code")
    assert by_code.attributed.client_ref == "ref-1"
    by_ref = await _record(store, order("o-2", client_ref="ref-1"))
    assert by_ref.attributed is not None and by_ref.attributed.by == "client_ref"
    for other in (
        order("o-1", key="other", code=msg.links[0].code),
        order("o-2", key="other", client_ref="ref-1"),
        order("o-3", key="other", number=msg.to),
    ):
        assert (await _record(store, other)).attributed is None


async def test_an_order_is_recorded_once_per_key(store: Store) -> None:
    first = await _record(store, order("o-1", number="+4917000000001"))
    again = await _record(
        store, order("o-1", number="+4917000000002", value="1", at=3_000.0), created=False
    )
    assert again == first and again.value == "49.90"
    await _record(store, order("o-1", key="other", number="+4917000000001"))
    assert await store.get_conversion("shop", "o-1") == first
    assert await store.get_conversion("shop", "o-9") is None
    assert [c.order_id for c in await store.conversions_page("shop", 0, 10)] == ["o-1"]
    assert [c.key for c in await store.conversions_page("other", 0, 10)] == ["other"]


async def test_a_page_goes_on_after_its_cursor(store: Store) -> None:
    for i in range(5):
        await _record(store, order(f"o-{i}", number="+4917000000001"))
    first = await store.conversions_page("shop", 0, 3)
    rest = await store.conversions_page("shop", first[-1].cursor, 3)
    assert [c.order_id for c in first + rest] == [f"o-{i}" for i in range(5)]


async def test_a_message_shows_its_conversions_and_they_survive_a_reopen(
    harness: Harness,
) -> None:
    msg = tracked(1, "https://shop.example/a", client_ref="ref-1")
    [r] = await harness.store.accept([msg])
    await _record(harness.store, order("o-1", client_ref="ref-1"))
    await _record(harness.store, order("o-2", client_ref="ref-1", value="0.5", currency="USD"))
    store = await harness.reopen()
    row = await store.get("shop", r.id)
    assert row is not None
    assert [(c.order_id, c.value, c.currency) for c in row.conversions] == [
        ("o-1", "49.90", "EUR"),
        ("o-2", "0.5", "USD"),
    ]
    kept = await store.get_conversion("shop", "o-2")
    assert kept is not None and kept.attributed is not None and kept.attributed.message == r.id
