"""``smsgw contacts import FILE`` against a real gateway on a loopback port with a real SQLite
file: a file sent in several pieces, every row written, refused rows named by their line in
the file (not in the piece), a progress line on stderr, and a refused header stopping it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from smsgw.gateway import contacts_import
from smsgw.gateway.cli import main
from tests.conftest import TOKEN, StartGateway

pytestmark = pytest.mark.trio


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text(text, encoding="utf-8", newline="")
    return path


async def _run(args: list[str]) -> int:
    with trio.fail_after(60):
        return await trio.to_thread.run_sync(main, args)


async def test_a_file_in_pieces_with_lines_of_the_file(
    start_gateway: StartGateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(contacts_import, "PIECE_ROWS", 3)
    gw = await start_gateway()
    rows = [f"+49172{i:08d},Name {i},vip;de,{i}" for i in range(10)]
    rows[4] = "nope,Bad,,"  # line 7 of the file (line 3 is blank)
    rows[8] = '+4917200000008,"two\nlines",bad tag!,8'  # lines 11 and 12
    text = "number,first_name,tags,rank\n" + rows[0] + "\n\n" + "\n".join(rows[1:]) + "\n"
    path = _file(tmp_path, text)
    code = await _run(["contacts", "import", str(path), "--url", gw.url, "--token", TOKEN])
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    totals = json.loads(out)
    assert (totals["rows"], totals["created"], totals["updated"], totals["failed"]) == (10, 8, 0, 2)
    assert [(e["line"], e["code"]) for e in totals["errors"]] == [
        (7, "invalid_number"),
        (11, "invalid_tag"),
    ]
    assert "contacts: 10 rows" in err and "2 errors" in err
    row = await gw.gateway.store.get_contact("shop", "+4917200000009")
    assert row is not None
    assert (row.first_name, row.tags, row.attributes) == ("Name 9", ["vip", "de"], {"rank": "9"})

    again = await _run(["contacts", "import", str(path), "--url", gw.url, "--token", TOKEN])
    totals = json.loads(capsys.readouterr().out)
    assert again == 1 and (totals["created"], totals["updated"]) == (0, 8)


async def test_a_refused_header_stops_before_any_row(
    start_gateway: StartGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gw = await start_gateway()
    path = _file(tmp_path, "phone,first_name\n+4917012345678,Ada\n")
    code = await _run(["contacts", "import", str(path), "--url", gw.url, "--token", TOKEN])
    totals = json.loads(capsys.readouterr().out)
    assert code == 1
    assert totals["stopped"]["status"] == 422
    assert totals["stopped"]["error"]["code"] == "invalid_csv"
    assert await gw.gateway.store.contacts_page("shop", 0, 10) == []
    missing = await _run(["contacts", "import", str(tmp_path / "nope.csv"), "--token", TOKEN])
    assert missing == 2
