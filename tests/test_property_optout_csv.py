"""Properties of the opt-out CSV import and export (queue/consent_csv.py), with the number
reader the API gives the import (``POST /v1/optouts`` with ``Content-Type: text/csv``).

Any bytes, and mutated exports, give opt-out requests or one :class:`CsvError` naming a line;
every request imported can be exported again (the export is what ``GET /v1/optouts`` with
``Accept: text/csv`` answers); and an export imports back to the list it was made from.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.queue.consent.csv_io import CsvError, export_csv, parse_csv
from smsgw.queue.consent.numbers import NumberError, parse_number
from smsgw.queue.consent.records import ALL, OptoutRequest, OptoutRow
from tests.conftest import StartGateway
from tests.property_helpers import budget, mutated

NOW = 1_800_000_000.0  # 2027-01-15
KEY = "shop"


def _number(raw: str) -> str:
    # What the API's import passes (gateway/api_consent.py): E.164 out, ValueError otherwise.
    try:
        return parse_number(raw).e164
    except NumberError as e:
        raise ValueError(e.reason) from None


def _row(req: OptoutRequest, cursor: int) -> OptoutRow:
    return OptoutRow(
        cursor=cursor,
        number=req.number,
        scope=req.scope,
        source=req.source,
        at=req.at,
        inbound_id=req.inbound_id,
        key=req.key,
        note=req.note,
    )


def _import(data: bytes) -> list[OptoutRequest] | None:
    try:
        items = parse_csv(data, key=KEY, now=NOW, number=_number)
    except CsvError as e:
        assert e.line >= 1 and e.reason
        return None
    for r in items:
        assert r.number.startswith("+") and r.scope in (ALL, KEY) and r.source == "import"
        assert math.isfinite(r.at) and len(r.note) <= 500
    export_csv(_row(r, i) for i, r in enumerate(items))  # what GET ?format=csv would answer
    return items


_SEEDS = [
    b"number,scope,source,at,inbound_id,note\r\n"
    b"'+4917012345678,all,keyword,2026-11-22T20:56:44Z,in_1,STOP\r\n"
    b'\'+4915112345678,shop,api,2026-11-23T08:00:00Z,,"asked, by ""phone"""\r\n',
    b"\xef\xbb\xbfNumber;Note\n+4917012345678;x\n",
    b"number\n+4917012345678\n\n+33612345678\n",
    b"note,at,number\n'=cmd|x,2026-01-01T09:00:00+05:30,+4917012345678\n",
]


@budget(300)
@given(st.binary(max_size=300) | mutated(st.sampled_from(_SEEDS), max_ops=6))
def test_any_bytes_import_or_name_a_line(data: bytes) -> None:
    _import(data)


_times = st.sampled_from(
    ["2026-11-22T20:56:44Z", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
     "2026-02-30T00:00:00Z", "2026-11-22", "2026-11-22T20:56:44", "+٢٠٢٦-01-01T00:00:00Z",
     "1969-12-31T23:59:59Z", "2999-01-01T00:00:00Z", ""]
)  # fmt: skip
_cells = st.sampled_from(["", "all", "key", "shop", "SHOP", "'=1", "'+49"]) | st.text(max_size=12)
_numbers = st.sampled_from(
    ["+4917012345678", "+33612345678", "'+4917012345678", "+49 170 1234567", "+٤٩١٧٠١٢٣٤٥٦٧",
     "+49", "0170123", "+" + "9" * 40, "", "+1 (650) 253-0000 ext. 1234"]
) | st.text(max_size=16)  # fmt: skip


@budget(300)
@given(
    st.permutations(["number", "scope", "at", "note", "source"]),
    st.lists(st.tuples(_numbers, _cells, _times, _cells, _cells), max_size=4),
)
def test_rows_with_odd_cells_import_or_name_a_line(
    header: list[str], rows: list[tuple[str, str, str, str, str]]
) -> None:
    lines = [",".join(header)]
    for number, scope, at, note, source in rows:
        cells = {"number": number, "scope": scope, "at": at, "note": note, "source": source}
        lines.append(",".join('"' + cells[h].replace('"', '""') + '"' for h in header))
    _import("\r\n".join(lines).encode())


_valid_numbers = st.sampled_from(["+4917012345678", "+4915112345678", "+33612345678"])
_notes = st.text(max_size=40).map(str.strip) | st.sampled_from(["=1+2", "'=1", "'x", "''", "-"])


@budget(200)
@given(
    st.lists(
        st.tuples(
            _valid_numbers,
            st.sampled_from([ALL, KEY]),
            st.integers(0, int(NOW)),
            _notes,
        ),
        max_size=5,
    )
)
def test_an_export_imports_back_to_its_list(rows: list[tuple[str, str, int, str]]) -> None:
    listed = [
        OptoutRow(
            cursor=i, number=n, scope=s, source="api", at=float(at), inbound_id=None, key=KEY,
            note=note,
        )
        for i, (n, s, at, note) in enumerate(rows)
    ]  # fmt: skip
    back = _import(export_csv(listed))
    assert back is not None
    got = [(r.number, r.scope, r.at, r.note) for r in back]
    assert got == [(r.number, r.scope, r.at, r.note[:500]) for r in listed]


# -- each fault found, by name ------------------------------------------------------------


@pytest.mark.parametrize(
    "at", ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "1969-12-31T23:59:59Z"]
)
async def test_an_import_dated_where_the_export_cannot_write_it_is_refused(
    start_gateway: StartGateway, at: str
) -> None:
    # Year 1 at +23:59 is year 0 in UTC: it was imported, and every CSV export of the list
    # answered 500 from then on.
    gw = await start_gateway()
    csv = f"number,at\r\n+4917012345678,2026-01-01T00:00:00Z\r\n+4915112345678,{at}\r\n"
    status, body = await gw.call(
        "POST", "/v1/optouts", raw=csv.encode(), headers=[("Content-Type", "text/csv")]
    )
    assert status == 422, body
    assert isinstance(body, dict) and body["error"]["field"] == "line 3"
    status, listed = await gw.call("GET", "/v1/optouts?format=csv")
    assert status == 200 and listed == b"number,scope,source,at,inbound_id,note\r\n"


def test_an_import_dated_in_the_future_is_refused() -> None:
    ahead = "2027-01-15T08:05:01Z"  # NOW + 301 s; the importer's clock may be 300 s ahead
    with pytest.raises(CsvError) as e:
        parse_csv(f"number,at\n+4917012345678,{ahead}\n".encode(), key=KEY, now=NOW, number=_number)
    assert e.value.line == 2
    [r] = parse_csv(
        b"number,at\n+4917012345678,2027-01-15T08:05:00Z\n", key=KEY, now=NOW, number=_number
    )
    assert r.at == NOW + 300


def test_a_note_that_begins_with_a_quote_and_a_formula_character_comes_back() -> None:
    # "'=1" was exported as it was and imported as "=1".
    row = OptoutRow(
        cursor=1, number="+4917012345678", scope=ALL, source="api", at=NOW, inbound_id=None,
        key=KEY, note="'=1",
    )  # fmt: skip
    data = export_csv([row])
    assert b",''=1\r\n" in data  # still inert in a spreadsheet, which shows '=1
    [back] = parse_csv(data, key=KEY, now=NOW, number=_number)
    assert back.note == "'=1"
