"""Migrations from every earlier version: a store written at schema version k, with
representative rows in that version's columns, opens at the latest version and reads back
correctly through the :class:`Store`, then goes on (claims, receipts, timers, webhooks).

The rows are written once, as the latest schema has them; at version k each is written with
the columns that version has (a table it lacks gets none), which is what that version's smsgw
would have left on disk. A migration that adds a table must give it rows here:
:func:`test_every_table_has_representative_rows` says so.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec
import pytest

from smsgw.drivers.seam import Outcome, Receipt
from smsgw.metrics.instruments import Metrics
from smsgw.queue.campaigns.records import CampaignSpec, NewCampaign, SpecVariant
from smsgw.queue.consent.optout_list import Consents
from smsgw.queue.model import NewLink
from smsgw.queue.store import Store
from smsgw.queue.store.records import Click, NewContact, NewConversion, NewSegment, NewTemplate
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.migrations import _MIGRATIONS, SCHEMA_VERSION
from smsgw.queue.store.sqlite.store import SqliteStore
from smsgw.queue.store.sqlite.webhooks import Claim, Finished
from tests.helpers import new_message

BERLIN = "+4915112345678"
_NEW_NUMBER = "+4915112345679"
SHANGHAI = "+8613812345678"
URL = "http://127.0.0.1:9/hook"
ORIGIN = "http://127.0.0.1:9"

_TRANSIENT = {"store_probe"}
"""Tables that hold nothing between commits (the health probe writes and deletes in one)."""

_ROWS: Mapping[str, Sequence[Mapping[str, object]]] = {
    "messages": [
        # A delivered transactional message with a callback and a client_ref.
        {
            "mid": 1,
            "id": "msg_seeded0delivered",
            "key": "shop",
            "client_ref": "order-1",
            "msg_class": "transactional",
            "priority": 1,
            "status": "delivered",
            "done": 1,
            "to_number": BERLIN,
            "sender": "Shop",
            "text": "Your order shipped",
            "encoding": "gsm7",
            "parts_total": 1,
            "first_pid": 1,
            "ref": 0,
            "ref_bits": 8,
            "routes": "sim",
            "route": "sim",
            "callback_url": URL,
            "created_at": 1_000.0,
            "updated_at": 1_003.0,
            "send_at": None,
            "expires_at": 90_000.0,
            "error": None,
            "attempts": 1,
            "tz": "Europe/Berlin",
            "country": "DE",
            "webhook_events": None,
            "template": None,
        },
        # A two-part marketing message waiting in the queue, asking for its final status only.
        {
            "mid": 2,
            "id": "msg_seeded00marketing",
            "key": "shop",
            "client_ref": None,
            "msg_class": "marketing",
            "priority": 2,
            "status": "queued",
            "done": 0,
            "to_number": SHANGHAI,
            "sender": "Shop",
            "text": "Big sale today " * 12,
            "encoding": "gsm7",
            "parts_total": 2,
            "first_pid": 2,
            "ref": 7,
            "ref_bits": 8,
            "routes": "sim,b",
            "route": "sim",
            "callback_url": URL,
            "created_at": 1_000.5,
            "updated_at": 1_000.5,
            "send_at": None,
            "expires_at": 90_000.0,
            "error": None,
            "attempts": 0,
            "tz": "Asia/Shanghai",
            "country": "CN",
            "webhook_events": "final",
            "template": None,
        },
        # A code submitted to the carrier, waiting for its receipt.
        {
            "mid": 3,
            "id": "msg_seeded000000code",
            "key": "other",
            "client_ref": "login-9",
            "msg_class": "otp",
            "priority": 0,
            "status": "submitted",
            "done": 0,
            "to_number": BERLIN,
            "sender": "MyShop",
            "text": "Your code is 123456",
            "encoding": "gsm7",
            "parts_total": 1,
            "first_pid": 4,
            "ref": 0,
            "ref_bits": 8,
            "routes": "sim",
            "route": "sim",
            "callback_url": None,
            "created_at": 1_001.0,
            "updated_at": 1_002.0,
            "send_at": None,
            "expires_at": 1_301.0,
            "error": None,
            "attempts": 1,
            "tz": "Europe/Berlin",
            "country": "DE",
            "webhook_events": None,
            "template": None,
        },
        # A message scheduled for later, in UCS-2.
        {
            "mid": 4,
            "id": "msg_seeded0scheduled",
            "key": "shop",
            "client_ref": None,
            "msg_class": "transactional",
            "priority": 1,
            "status": "scheduled",
            "done": 0,
            "to_number": BERLIN,
            "sender": "Shop",
            "text": "Ihre Bestellung 📦",
            "encoding": "ucs2",
            "parts_total": 1,
            "first_pid": 5,
            "ref": 0,
            "ref_bits": 8,
            "routes": "sim",
            "route": "sim",
            "callback_url": None,
            "created_at": 1_002.0,
            "updated_at": 1_002.0,
            "send_at": 5_000.0,
            "expires_at": 95_000.0,
            "error": None,
            "attempts": 0,
            "tz": None,
            "country": None,
            "webhook_events": None,
            "template": None,
        },
    ],
    "parts": [
        {
            "pid": 1,
            "mid": 1,
            "seq": 1,
            "text": "Your order shipped",
            "status": "delivered",
            "route": "sim",
            "priority": 1,
            "due_at": None,
            "carrier_id": "c-shipped",
            "attempts": 1,
            "sent_at": 1_001.0,
            "submitted_at": 1_002.0,
            "done_at": 1_003.0,
            "error": None,
        },
        *(
            {
                "pid": 1 + seq,
                "mid": 2,
                "seq": seq,
                "text": text,
                "status": "queued",
                "route": "sim",
                "priority": 2,
                "due_at": None,
                "carrier_id": None,
                "attempts": 0,
                "sent_at": None,
                "submitted_at": None,
                "done_at": None,
                "error": None,
            }
            for seq, text in ((1, "Big sale today " * 10), (2, "Big sale today " * 2))
        ),
        {
            "pid": 4,
            "mid": 3,
            "seq": 1,
            "text": "Your code is 123456",
            "status": "submitted",
            "route": "sim",
            "priority": 0,
            "due_at": None,
            "carrier_id": "c-code",
            "attempts": 1,
            "sent_at": 1_001.5,
            "submitted_at": 1_002.0,
            "done_at": None,
            "error": None,
        },
        {
            "pid": 5,
            "mid": 4,
            "seq": 1,
            "text": "Ihre Bestellung 📦",
            "status": "scheduled",
            "route": "sim",
            "priority": 1,
            "due_at": 5_000.0,
            "carrier_id": None,
            "attempts": 0,
            "sent_at": None,
            "submitted_at": None,
            "done_at": None,
            "error": None,
        },
    ],
    "history": [
        {"mid": 1, "at": 1_000.0, "status": "queued", "note": "accepted"},
        {"mid": 1, "at": 1_001.0, "status": "sending", "note": "handed to route sim"},
        {"mid": 1, "at": 1_002.0, "status": "submitted", "note": "submitted to sim"},
        {"mid": 1, "at": 1_003.0, "status": "delivered", "note": "receipt: delivered"},
        {"mid": 2, "at": 1_000.5, "status": "queued", "note": "accepted"},
        {"mid": 3, "at": 1_001.0, "status": "queued", "note": "accepted"},
        {"mid": 3, "at": 1_002.0, "status": "submitted", "note": "submitted to sim"},
        {"mid": 4, "at": 1_002.0, "status": "scheduled", "note": "accepted"},
    ],
    # A receipt that came before its submit response (for the marketing message's first part).
    "pending_receipts": [
        {
            "route": "sim",
            "carrier_id": "c-early",
            "state": "delivered",
            "error_code": "",
            "done_at": 1_004.0,
            "received_at": 1_004.0,
        }
    ],
    "webhooks": [
        {
            "wid": 1,
            "key": "shop",
            "url": URL,
            "body": b'{"id":"msg_seeded0delivered","status":"delivered"}',
            "attempts": 1,
            "next_at": 1_010.0,
            "created_at": 1_003.0,
            "last_error": "HTTP 503",
            "leased": 1,
            "mid": 1,
            "event_id": "evt_seeded00000001",
            "origin": ORIGIN,
            "dead": 0,
        }
    ],
    "inbound": [
        {
            "iid": 1,
            "id": "in_seeded0000000001",
            "route": "sim",
            "sender": BERLIN,
            "to_number": "+4917000111",
            "text": "STOP",
            "received_at": 1_001.0,
            "parts": 1,
            "complete": 1,
            "key": "shop",
        }
    ],
    "optout_events": [
        {
            "eid": 1,
            "number": BERLIN,
            "scope": "*",
            "action": "out",
            "source": "keyword",
            "at": 1_001.0,
            "inbound_id": "in_seeded0000000001",
            "key": "shop",
            "note": "",
        }
    ],
    "optouts": [{"number": BERLIN, "scope": "*", "eid": 1}],
    "consents": [
        {
            "cid": 1,
            "number": SHANGHAI,
            "scope": "shop",
            "source": "web",
            "at": 999.0,
            "text_shown": "Yes, send me offers",
            "evidence": "ip=203.0.113.7",
            "key": "shop",
            "inbound_id": None,
            "recorded_at": 999.0,
        }
    ],
    "marketing_sends": [
        {"mid": 2, "key": "shop", "number": SHANGHAI, "at": 1_000.5, "left_at": None}
    ],
    # The waiting marketing message came from an SMPP account; the delivered one's receipt
    # is held for it.
    "smpp_origin": [{"mid": 2, "account": "crm"}],
    # The delivered message had a tracked link, clicked once (after a preview fetch).
    "links": [
        {
            "code": "Ab3dE5g",
            "mid": 1,
            "seq": 1,
            "key": "shop",
            "to_number": BERLIN,
            "url": "https://shop.example/order/1",
            "short_url": "https://s.shop.example/Ab3dE5g",
            "created_at": 1_000.0,
            "expires_at": 90_000.0,
            "clicks": 1,
            "previews": 1,
            "first_click_at": 1_004.0,
        }
    ],
    "clicks": [
        {
            "cid": 1,
            "code": "Ab3dE5g",
            "mid": 1,
            "key": "shop",
            "to_number": BERLIN,
            "at": 1_003.5,
            "user_agent": "WhatsApp/2.23",
            "preview": 1,
        },
        {
            "cid": 2,
            "code": "Ab3dE5g",
            "mid": 1,
            "key": "shop",
            "to_number": BERLIN,
            "at": 1_004.0,
            "user_agent": "Mozilla/5.0",
            "preview": 0,
        },
    ],
    # The delivered message was sent "only once" per number for its dedupe_key.
    "dedupe": [
        {
            "key": "shop",
            "to_number": BERLIN,
            "dedupe_key": "shipped-1",
            "mid": 1,
            "expires_at": 10_000.0,
        }
    ],
    "smpp_held": [
        {
            "hid": 1,
            "account": "crm",
            "mid": 1,
            "public_id": "msg_seeded0delivered",
            "status": "delivered",
            "error": None,
            "submitted_at": 1_000.0,
            "done_at": 1_003.0,
            "sender": "Shop",
            "to_number": BERLIN,
            "kind": "receipt",
            "text": "",
        }
    ],
    "templates": [
        {
            "tid": 1,
            "key": "shop",
            "name": "shipped",
            "text": "Hi {{first_name|there}}, order {{order}} shipped",
            "variants": '{"de": "Hallo {{first_name|du}}, Bestellung {{order}} ist unterwegs"}',
            "msg_class": "transactional",
            "description": "shipping update",
            "created_at": 999.0,
            "updated_at": 999.5,
        }
    ],
    "flow_events": [
        {
            "eid": 1,
            "id": "evt_1",
            "key": "shop",
            "type": "cart_abandoned",
            "number": "+4917012345678",
            "ref": "cart-1",
            "data": '{"name": "Ann"}',
            "at": 1000.0,
            "received_at": 1000.5,
        }
    ],
    "flow_runs": [
        {
            "rid": 1,
            "id": "run_1",
            "key": "shop",
            "flow": "cart",
            "number": "+4917012345678",
            "ref": "cart-1",
            "data": '{"name": "Ann"}',
            "event": "evt_1",
            "trigger_at": 1000.0,
            "state": "stopped",
            "reason": None,
            "started_at": 1000.5,
            "ended_at": 5000.0,
            "stopped_by": "evt_2",
        }
    ],
    "flow_steps": [
        {
            "sid": 1,
            "rid": 1,
            "n": 1,
            "due_at": 4600.0,
            "state": "sent",
            "message": "msg_1",
            "event": None,
            "reason": None,
            "done_at": 4600.5,
        },
    ],
    "contacts": [
        {
            "cid": 1,
            "key": "shop",
            "number": BERLIN,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "locale": "de",
            "time_zone": "Europe/Berlin",
            "tags": '["vip"]',
            "attributes": '{"orders": 3}',
            "created_at": 999.0,
            "updated_at": 999.5,
        }
    ],
    "segments": [
        {
            "sid": 1,
            "key": "shop",
            "name": "vips",
            "rules": '{"tags_any": ["vip"]}',
            "created_at": 999.0,
            "updated_at": 999.5,
        }
    ],
    "conversions": [
        {
            "vid": 1,
            "id": "cnv_01",
            "key": "shop",
            "order_id": "o-1",
            "value": "49.90",
            "currency": "EUR",
            "number": "+4917012345678",
            "code": None,
            "client_ref": None,
            "at": 1000.0,
            "created_at": 1000.5,
            "mid": 1,
            "attributed_by": "click",
        }
    ],
    "campaigns": [
        {
            "cid": 1,
            "id": "cmp_01",
            "key": "shop",
            "name": "January",
            "spec": '{"variants": [{"text": "Hi {{name}}"}], "segment": "vips"}',
            "listed": None,
            "recipients": None,
            "state": "running",
            "gen": 1,
            "created_at": 999.0,
            "updated_at": 999.5,
            "started_at": 999.5,
            "ended_at": None,
            "ab_winner": None,
            "ab_decided_at": None,
            "ab_reason": None,
        }
    ],
    "campaign_recipients": [
        {
            "cid": 1,
            "seq": 1,
            "number": "+4917012345678",
            "vars": '{"name": "Ann"}',
            "variant": 0,
            "state": "accepted",
            "message": "msg_01",
            "reason": None,
            "accepted_at": 999.75,
        }
    ],
}


def _apply(conn: sqlite3.Connection, version: int) -> None:
    """The first ``version`` migrations, each in its transaction, as that smsgw ran them."""
    conn.isolation_level = None
    for v in range(version):
        conn.execute("BEGIN IMMEDIATE")
        for statement in (s.strip() for s in _MIGRATIONS[v].split(";")):
            if statement:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {v + 1}")
        conn.execute("COMMIT")


def _tables(conn: sqlite3.Connection) -> dict[str, set[str]]:
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {n: {r[1] for r in conn.execute(f"PRAGMA table_info({n})")} for n in names}


def _seed(conn: sqlite3.Connection) -> None:
    """Write the representative rows with the columns the database's version has."""
    conn.execute("BEGIN")
    for table, columns in _tables(conn).items():
        for row in _ROWS.get(table, []):
            kept = {c: v for c, v in row.items() if c in columns}
            conn.execute(
                f"INSERT INTO {table} ({', '.join(kept)}) VALUES ({', '.join('?' * len(kept))})",
                list(kept.values()),
            )
    conn.execute("COMMIT")


def _build(path: Path, version: int) -> None:
    conn = sqlite3.connect(path)
    try:
        _apply(conn, version)
        _seed(conn)
    finally:
        conn.close()


def _store(path: Path) -> Store:
    return SqliteStore(
        str(path),
        metrics=Metrics(),
        policy=DispatchPolicy(max_attempts={"sim": 3, "b": 3}),
    )


def test_every_table_has_representative_rows(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "latest.db")
    _apply(conn, SCHEMA_VERSION)
    tables = _tables(conn)
    missing = set(tables) - set(_ROWS) - _TRANSIENT
    assert not missing, f"give {sorted(missing)} representative rows in _ROWS"
    for table, rows in _ROWS.items():
        for row in rows:
            assert set(row) == tables[table], f"{table}: write every column of the latest schema"


@pytest.mark.parametrize("version", range(SCHEMA_VERSION))
async def test_a_store_of_every_earlier_version_migrates_and_reads_back(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "old.db"
    _build(path, version)
    store = _store(path)
    await store.open()
    try:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        if version == 0:
            await _reads_back_empty(store)
        else:
            await _reads_back(store, version)
    finally:
        await store.close()


async def _reads_back_empty(store: Store) -> None:
    assert store.active == {"otp": 0, "transactional": 0, "marketing": 0}
    assert await store.list_messages(None) == []
    [r] = await store.accept([new_message(1)])
    assert [p.message_id for p in await store.claim("sim", 5, 1_001.0)] == [r.id]
    await _only_once(store)


async def _only_once(store: Store) -> None:
    """Version 9: a message with a dedupe_key holds its number until its window ends."""
    once = msgspec.structs.replace(
        new_message(3, now=2_000.0), dedupe_key="welcome", dedupe_until=3_000.0
    )
    [first] = await store.accept([once])
    [again] = await store.accept([msgspec.structs.replace(once, created_at=2_999.0)])
    assert first.created and (again.id, again.created, again.duplicate) == (first.id, False, True)
    [later] = await store.accept([msgspec.structs.replace(once, created_at=3_000.0)])
    assert later.created and later.id != first.id


async def test_the_latest_version_reads_back_its_dedupe_entries(tmp_path: Path) -> None:
    path = tmp_path / "latest.db"
    _build(path, SCHEMA_VERSION)
    store = _store(path)
    await store.open()
    try:
        once = msgspec.structs.replace(
            new_message(4, now=2_000.0), to=BERLIN, dedupe_key="shipped-1", dedupe_until=9e9
        )
        [r] = await store.accept([once])
        assert (r.id, r.created, r.duplicate) == ("msg_seeded0delivered", False, True)
    finally:
        await store.close()


async def _reads_back(store: Store, version: int) -> None:
    assert store.active == {"otp": 1, "transactional": 1, "marketing": 1}
    delivered = await store.get("shop", "msg_seeded0delivered")
    assert delivered is not None
    assert (delivered.status, delivered.to, delivered.text, delivered.client_ref) == (
        "delivered",
        BERLIN,
        "Your order shipped",
        "order-1",
    )
    assert delivered.template is None  # sent as text: every message before version 10 was
    assert [(p.carrier_id, p.status, p.done_at) for p in delivered.parts] == [
        ("c-shipped", "delivered", 1_003.0)
    ]
    assert [h.status for h in delivered.history] == ["queued", "sending", "submitted", "delivered"]
    assert await store.get("shop", "msg_seeded000000code") is None  # another key's
    scheduled = await store.get("shop", "msg_seeded0scheduled")
    assert scheduled is not None and scheduled.encoding == "ucs2"
    assert scheduled.text == "Ihre Bestellung 📦" and scheduled.send_at == 5_000.0
    listed = await store.list_messages("shop")
    assert [m.id for m in listed] == [
        "msg_seeded0delivered",
        "msg_seeded00marketing",
        "msg_seeded0scheduled",
    ]
    assert (await store.stats()).oldest_by_class == {
        "otp": 1_001.0,
        "transactional": 1_002.0,
        "marketing": 1_000.5,
    }

    # A replay of an old client_ref finds its original; a new message gets a fresh place.
    [replay] = await store.accept([new_message(1, client_ref="order-1", now=2_000.0)])
    assert replay.id == "msg_seeded0delivered" and not replay.created
    [fresh] = await store.accept([new_message(2, msg_class="otp", now=2_000.0)])
    assert fresh.created

    # The queue goes on where the old version left it.
    parts = await store.claim("sim", 10, 2_001.0)
    assert [(p.message_id, p.seq) for p in parts] == [
        (fresh.id, 1),
        ("msg_seeded00marketing", 1),
        ("msg_seeded00marketing", 2),
    ]
    assert parts[1].ref == 7 and parts[1].total == 2 and parts[1].text.startswith("Big sale")
    summary = await store.record_outcomes(
        [
            Outcome(part_id=parts[1].part_id, carrier_id="c-early"),
            Outcome(part_id=parts[2].part_id, carrier_id="c-late"),
        ],
        2_002.0,
    )
    assert summary.receipts_late == 1  # the early receipt waited through the upgrade
    assert await store.awaiting_receipts("sim") == ["c-code", "c-late"]
    await store.record_receipts(
        [
            Receipt(route="sim", carrier_id="c-code", state="delivered"),
            Receipt(route="sim", carrier_id="c-late", state="delivered"),
        ],
        2_003.0,
    )
    code = await store.get("other", "msg_seeded000000code")
    marketing = await store.get("shop", "msg_seeded00marketing")
    assert code is not None and code.status == "delivered"
    assert marketing is not None and marketing.status == "delivered"
    assert await store.promote_due(5_000.0) == {"sim"}

    # Webhooks: the old delivery is handed back (rows from before lanes get theirs at start)
    # and claimed in its lane, in order.
    released, lanes = await store.release_webhooks()
    assert released == (1 if version >= 3 else 0)
    assert [(i.lane, i.pending) for i in lanes] == [(("shop", ORIGIN), 2 if version >= 5 else 4)]
    [got] = await store.webhook_step(Finished(), [Claim("shop", ORIGIN, 10)], 2_010.0)
    old = got.jobs[0]
    assert msgspec.json.decode(old.body) == {"id": "msg_seeded0delivered", "status": "delivered"}
    assert old.url == URL and old.event_id.startswith("evt_")
    assert old.attempts == 1
    if version >= 5:
        assert old.event_id == "evt_seeded00000001"
        # The marketing message asked for its final status only (a column of version 5).
        finals = [msgspec.json.decode(j.body)["status"] for j in got.jobs[1:]]
        assert finals == ["delivered"]

    # Inbound: kept, and before version 4 it belongs to no key (admins see it).
    [inbound] = await store.inbound()
    assert (inbound.id, inbound.text, inbound.sender) == ("in_seeded0000000001", "STOP", BERLIN)
    mine = await store.inbound(key="shop")
    assert [m.id for m in mine] == (["in_seeded0000000001"] if version >= 4 else [])

    # Templates: the seeded one from version 9 on, and the table takes new ones.
    listed_templates = await store.templates_page(None, 0, 10)
    assert [(t.key, t.name) for t in listed_templates] == (
        [("shop", "shipped")] if version >= 9 else []
    )
    if version >= 9:
        [seeded] = listed_templates
        assert seeded.variants["de"].startswith("Hallo") and seeded.msg_class == "transactional"
    added = await store.add_template(
        NewTemplate(key="shop", name="otp", text="{{code}}", at=2_020.0)
    )
    assert added is not None and await store.get_template("shop", "otp") == added

    # Contacts and segments: a store of any earlier version takes them after migrating.
    # (Not BERLIN, nor "vips": a store of version 14 or later holds those already.)
    assert await store.upsert_contacts(
        [NewContact(key="shop", number=_NEW_NUMBER, tags=["vip"], at=2_030.0)]
    ) == [True]
    contact = await store.get_contact("shop", _NEW_NUMBER)
    assert contact is not None and contact.tags == ["vip"]
    segment = await store.add_segment(NewSegment(key="shop", name="new", rules="{}", at=2_031.0))
    assert segment is not None

    # Campaigns: the seeded one (when its tables existed) reads back; a new draft is taken.
    seeded_campaign = await store.get_campaign(None, "cmp_01")
    if seeded_campaign is not None:
        assert seeded_campaign.spec.segment == "vips" and seeded_campaign.gen == 1
        [count] = await store.campaign_counts(seeded_campaign.cursor)
        assert (count.state, count.n) == ("accepted", 1)
    spec = CampaignSpec(variants=[SpecVariant(text="Hi")], segment="vips")
    draft = await store.add_campaign(NewCampaign(key="shop", name="n", spec=spec, at=2_032.0))
    assert draft.state == "draft" and await store.get_campaign("shop", draft.id) == draft

    # Conversions: a store of any earlier version takes them after migrating (not "o-1": a
    # store of version 15 or later holds that one already).
    order = NewConversion(
        key="shop",
        order_id="o-new",
        value="49.90",
        currency="EUR",
        number=_NEW_NUMBER,
        at=2_040.0,
        window=7 * 86_400.0,
        received_at=2_040.0,
    )
    row, created = await store.record_conversion(order)
    assert created and row.attributed is None and row.value == "49.90"

    if version >= 2:
        consents = Consents(store, Metrics())
        [optout] = await consents.page(None, 0, 10)
        assert (optout.number, optout.scope, optout.source, optout.inbound_id) == (
            BERLIN,
            "*",
            "keyword",
            "in_seeded0000000001",
        )
        _, trail = await consents.history(BERLIN, "shop")
        assert [(e.action, e.at) for e in trail] == [("out", 1_001.0)]
        blocking = await consents.blocking(BERLIN, "other")
        assert blocking is not None and blocking.cursor == optout.cursor

    # Tracked links came with version 11: an older store had none (a store of version 11 has
    # the seeded one, clicked once), and each takes new ones now.
    before = await store.get("shop", "msg_seeded0delivered")
    assert before is not None
    assert [(x.url, x.clicks) for x in before.links] == (
        [("https://shop.example/order/1", 1)] if version >= 11 else []
    )
    [linked] = await store.accept(
        [
            msgspec.structs.replace(
                new_message(9, segments=("https://s.shop.example/Zz9yX8w",), now=2_000.0),
                links=(
                    NewLink(
                        code="Zz9yX8w",
                        url="https://shop.example/sale",
                        short_url="https://s.shop.example/Zz9yX8w",
                        expires_at=3_000.0,
                    ),
                ),
            )
        ]
    )
    click = Click(code="Zz9yX8w", at=2_000.5, user_agent="Mozilla/5.0", preview=False)
    assert [c.outcome for c in await store.record_clicks([click])] == ["redirect"]
    read = await store.get("shop", linked.id)
    assert read is not None and [(x.url, x.clicks) for x in read.links] == [
        ("https://shop.example/sale", 1)
    ]

    await _only_once(store)
