"""The opt-out list as an audit trail, consent records, and CSV in and out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from smsgw.queue.consent import records
from smsgw.queue.consent.csv_io import CSV_MAX_ROWS, CsvError, export_csv, parse_csv
from smsgw.queue.consent.numbers import NumberError, parse_number
from smsgw.queue.consent.records import ALL, ConsentRecord, OptinRequest, OptoutRequest
from tests.policy_helpers import BERLIN, SHANGHAI, at, policy_store

NOW = at("2027-01-15T10:00:00")


def trail(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM optout_events ORDER BY eid").fetchall()


async def test_the_trail_only_grows(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    async with policy_store(path) as ps:
        c = ps.consents
        assert await c.opt_out(
            [OptoutRequest(number=BERLIN, source="keyword", at=NOW, inbound_id="in_1")]
        ) == [True]
        # A second STOP changes nothing but is recorded.
        assert await c.opt_out(
            [OptoutRequest(number=BERLIN, source="keyword", at=NOW + 1, inbound_id="in_2")]
        ) == [False]
        first = trail(path)
        assert [(r[1], r[2], r[3], r[6]) for r in first] == [
            (BERLIN, ALL, "out", "in_1"),
            (BERLIN, ALL, "out", "in_2"),
        ]
        assert await c.opt_in([OptinRequest(number=BERLIN, source="keyword", at=NOW + 2)]) == [True]
        assert await c.opt_in([OptinRequest(number=BERLIN, source="api", at=NOW + 3)]) == [False]
        after = trail(path)
        assert after[: len(first)] == first  # earlier rows untouched
        assert [(r[3], r[4]) for r in after[2:]] == [("in", "keyword"), ("in", "api")]
        assert await c.blocking(BERLIN, "shop") is None
        assert ps.counter("smsgw_optouts_total", source="keyword") == 1
        assert ps.counter("smsgw_optins_total", source="keyword") == 1
        assert ps.counter("smsgw_optins_total", source="api") == 0


async def test_scopes_and_the_history_a_key_sees(tmp_path: Path) -> None:
    async with policy_store(tmp_path / "q.db") as ps:
        c = ps.consents
        await c.opt_out(
            [
                OptoutRequest(number=BERLIN, scope="shop", source="api", at=NOW, key="shop"),
                OptoutRequest(number=SHANGHAI, source="import", at=NOW, key="other"),
                OptoutRequest(number=SHANGHAI, scope="other", source="api", at=NOW, key="other"),
            ]
        )
        blocking = await c.blocking(BERLIN, "shop")
        assert blocking is not None and blocking.scope == "shop"
        assert await c.blocking(BERLIN, "other") is None
        shop_view = await c.page("shop", 0, 100)
        assert [(r.number, r.scope) for r in shop_view] == [(BERLIN, "shop"), (SHANGHAI, ALL)]
        page = await c.page("shop", shop_view[0].cursor, 100)
        assert [r.number for r in page] == [SHANGHAI]
        current, events = await c.history(SHANGHAI, "other")
        assert [r.scope for r in current] == [ALL, "other"]
        # A START from the recipient lifts every scope.
        await c.opt_in([OptinRequest(number=SHANGHAI, source="keyword", at=NOW + 5)])
        current, events = await c.history(SHANGHAI, "other")
        assert current == []
        assert [(e.action, e.scope) for e in events] == [
            ("out", ALL),
            ("out", "other"),
            ("in", ALL),
            ("in", "other"),
        ]
        # An API opt-in lifts only the scope it names.
        await c.opt_out([OptoutRequest(number=BERLIN, source="keyword", at=NOW + 6)])
        await c.opt_in([OptinRequest(number=BERLIN, scope="shop", source="api", at=NOW + 7)])
        still = await c.blocking(BERLIN, "shop")
        assert still is not None and still.scope == ALL


async def test_consent_records(tmp_path: Path) -> None:
    async with policy_store(tmp_path / "q.db") as ps:
        c = ps.consents
        [cid] = await c.add_consents(
            [
                ConsentRecord(
                    number=BERLIN,
                    scope=ALL,
                    source="checkout",
                    at=NOW - 60,
                    text_shown="Send me offers by SMS",
                    evidence="order 1234",
                    key="shop",
                )
            ],
            NOW,
        )
        assert cid == 1
        assert await ps.store.consent_on_record(BERLIN, "other")
        assert not await ps.store.consent_on_record(SHANGHAI, "shop")
        await c.opt_out([OptoutRequest(number=BERLIN, source="keyword", at=NOW)])
        assert not await ps.store.consent_on_record(BERLIN, "shop")


def e164(text: str) -> str:
    try:
        info = parse_number(text, "DE")
    except NumberError as e:
        raise ValueError(e.reason) from None
    if not info.valid:
        raise ValueError("not a valid number")
    return info.e164


def test_csv_round_trip() -> None:
    rows = [
        records.OptoutRow(
            cursor=1,
            number=BERLIN,
            scope=ALL,
            source="keyword",
            at=NOW,
            inbound_id="in_1",
            key=None,
            note='said "stop", twice',
        ),
        records.OptoutRow(
            cursor=2,
            number=SHANGHAI,
            scope="shop",
            source="api",
            at=NOW + 1,
            inbound_id=None,
            key="shop",
            note="",
        ),
    ]
    data = export_csv(rows)
    assert data.splitlines()[0] == b"number,scope,source,at,inbound_id,note"
    assert b"2027-01-15T10:00:00Z" in data
    back = parse_csv(data, key="shop", now=NOW + 100, number=e164)
    assert [(r.number, r.scope, r.at, r.note, r.source) for r in back] == [
        (BERLIN, ALL, NOW, 'said "stop", twice', "import"),
        (SHANGHAI, "shop", NOW + 1, "", "import"),
    ]


def test_csv_import_reads_national_numbers_and_defaults() -> None:
    data = "\ufeffNumber;ignored\n".replace(";", ",").encode() + b"0151 12345678,x\n\n"
    [row] = parse_csv(data, key="shop", now=NOW, number=e164)
    assert (row.number, row.scope, row.at, row.key) == (BERLIN, ALL, NOW, "shop")


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        (b"", 1, "empty file"),
        (b"phone\n+4915112345678\n", 1, "no 'number' column"),
        (b"number\n+4915112345678\nnot a number\n", 3, "number 'not a number'"),
        (b"number,scope\n+4915112345678,everyone\n", 2, "scope must be"),
        (b"number,at\n+4915112345678,yesterday\n", 2, "RFC 3339"),
        (b"number,at\n+4915112345678,2027-01-01T10:00:00\n", 2, "time zone"),
        (b"number\n\xff\xfe\n", 1, "UTF-8"),
    ],
)
def test_csv_import_refuses_a_bad_file_naming_the_line(data: bytes, line: int, reason: str) -> None:
    with pytest.raises(CsvError) as e:
        parse_csv(data, key="shop", now=NOW, number=e164)
    assert e.value.line == line
    assert reason in e.value.reason


def test_csv_import_is_bounded() -> None:
    data = b"number\n" + b"+4915112345678\n" * (CSV_MAX_ROWS + 1)
    with pytest.raises(CsvError, match="more than"):
        parse_csv(data, key="shop", now=NOW, number=lambda s: s)
