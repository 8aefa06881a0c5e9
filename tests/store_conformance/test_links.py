"""Tracked links through the store interface: written with their message, unique codes,
clicks looked up, recorded and attributed, counted apart for previews, expired links
refused, the click webhook queued in the click's commit, everything kept over a reopen."""

from __future__ import annotations

import msgspec

from smsgw.queue.links import track_links
from tests.helpers import new_message

from .backends import Harness
from .interface import Claim, Click, ClickResult, Finished, NewMessage, Store

BASE = "https://s.shop.example"
URL = "http://127.0.0.1:9/hook"


def tracked(n: int, text: str, *, now: float = 1_000.0, **kw: object) -> NewMessage:
    short, links = track_links(text, BASE, 7, now + 3_600.0)
    msg = new_message(n, segments=(short,), now=now, **kw)  # type: ignore[arg-type]
    return msgspec.structs.replace(msg, links=links)


async def test_links_are_written_with_their_message_and_read_with_it(store: Store) -> None:
    msg = tracked(1, "Sale: https://shop.example/a?utm=1 and http://shop.example/b.")
    [r] = await store.accept([msg])
    row = await store.get("shop", r.id)
    assert row is not None
    assert [(x.url, x.short_url, x.clicks, x.first_click_at) for x in row.links] == [
        ("https://shop.example/a?utm=1", msg.links[0].short_url, 0, None),
        ("http://shop.example/b", msg.links[1].short_url, 0, None),
    ]
    assert row.text == msg.text and msg.links[0].short_url in row.text
    assert await store.get("other", r.id) is None


async def test_a_code_taken_already_is_drawn_again_in_text_and_parts(store: Store) -> None:
    first = tracked(1, "https://shop.example/a")
    [a] = await store.accept([first])
    # The same code again, at a part boundary: the second message's parts are cut there.
    code = first.links[0].code
    text = "x" * 150 + first.links[0].short_url
    clash = msgspec.structs.replace(
        new_message(2, segments=(text[:153], text[153:])), links=first.links
    )
    [b] = await store.accept([clash])
    row = await store.get("shop", b.id)
    assert row is not None
    [link] = row.links
    assert link.code != code and len(link.code) == 7 and link.url == "https://shop.example/a"
    assert row.text == "x" * 150 + f"{BASE}/{link.code}"
    parts = await store.claim("sim", 10, 1_001.0)
    mine = "".join(p.text for p in parts if p.message_id == b.id)
    assert mine == row.text and [len(p.text) for p in parts if p.message_id == b.id] == [153, 27]
    assert (
        await store.record_clicks([Click(code=code, at=1_001.0, user_agent="x", preview=False)])
    )[0] == ClickResult(outcome="redirect", url="https://shop.example/a")
    first_row = await store.get("shop", a.id)
    assert first_row is not None and first_row.links[0].clicks == 1


async def test_clicks_are_attributed_and_previews_counted_apart(store: Store) -> None:
    msg = tracked(1, "https://shop.example/a")
    [r] = await store.accept([msg])
    code = msg.links[0].code
    results = await store.record_clicks(
        [
            Click(code=code, at=1_100.0, user_agent="WhatsApp/2.23", preview=True),
            Click(code=code, at=1_200.0, user_agent="Mozilla/5.0", preview=False),
            Click(code=code, at=1_300.0, user_agent="Mozilla/5.0", preview=False),
            Click(code="nope123", at=1_300.0, user_agent="Mozilla/5.0", preview=False),
        ]
    )
    assert [x.outcome for x in results] == ["redirect", "redirect", "redirect", "unknown"]
    row = await store.get("shop", r.id)
    assert row is not None
    [link] = row.links
    assert (link.clicks, link.previews, link.first_click_at) == (2, 1, 1_200.0)


async def test_an_expired_link_is_refused_and_not_counted(store: Store) -> None:
    msg = tracked(1, "https://shop.example/a")
    [r] = await store.accept([msg])
    code = msg.links[0].code
    [late] = await store.record_clicks(
        [Click(code=code, at=1_000.0 + 3_600.0, user_agent="M", preview=False)]
    )
    assert late == ClickResult(outcome="expired", url="https://shop.example/a")
    row = await store.get("shop", r.id)
    assert row is not None and row.links[0].clicks == 0


async def test_a_click_queues_its_webhook_and_a_preview_does_not(store: Store) -> None:
    msg = tracked(1, "https://shop.example/a", callback_url=URL)
    [r] = await store.accept([msg])
    code = msg.links[0].code
    await store.record_clicks(
        [
            Click(code=code, at=1_100.0, user_agent="Slackbot 1.0", preview=True),
            Click(code=code, at=1_200.0, user_agent="Mozilla/5.0", preview=False),
        ]
    )
    [got] = await store.webhook_step(Finished(), [Claim("shop", "http://127.0.0.1:9", 10)], 1_300.0)
    bodies = [msgspec.json.decode(j.body) for j in got.jobs]
    clicked = [b for b in bodies if b.get("event") == "message.clicked"]
    assert len(clicked) == 1
    assert {k: clicked[0][k] for k in ("id", "to", "url", "short_url", "user_agent")} == {
        "id": r.id,
        "to": msg.to,
        "url": "https://shop.example/a",
        "short_url": msg.links[0].short_url,
        "user_agent": "Mozilla/5.0",
    }
    assert clicked[0]["clicked_at"] == "1970-01-01T00:20:00.000Z"


async def test_links_and_clicks_survive_a_reopen(harness: Harness) -> None:
    msg = tracked(1, "https://shop.example/a")
    [r] = await harness.store.accept([msg])
    code = msg.links[0].code
    await harness.store.record_clicks([Click(code=code, at=1_100.0, user_agent="M", preview=False)])
    store = await harness.reopen()
    row = await store.get("shop", r.id)
    assert row is not None and (row.links[0].clicks, row.links[0].first_click_at) == (1, 1_100.0)
    [again] = await store.record_clicks(
        [Click(code=code, at=1_200.0, user_agent="M", preview=False)]
    )
    assert again.outcome == "redirect"


async def test_one_code_twice_in_a_batch_is_drawn_again_for_the_second(store: Store) -> None:
    first = tracked(1, "https://shop.example/a")
    twin = msgspec.structs.replace(tracked(2, "https://shop.example/b"), links=first.links)
    twin = msgspec.structs.replace(twin, text=first.text, segments=first.segments)
    a, b = await store.accept([first, twin])
    row_a, row_b = await store.get("shop", a.id), await store.get("shop", b.id)
    assert row_a is not None and row_b is not None
    assert row_a.links[0].code == first.links[0].code
    assert row_b.links[0].code != first.links[0].code
    assert row_b.text == row_b.links[0].short_url
