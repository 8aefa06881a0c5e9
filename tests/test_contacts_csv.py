"""The contacts CSV reader on its own (queue/campaigns/contacts_csv.py): the header's rules,
line numbers through blank lines and quoted line breaks, CR, LF and CRLF endings, a BOM, cells
kept as text, and a text fed one line at a time giving the same rows as the whole of it."""

from __future__ import annotations

import io
import re

import pytest

from smsgw.queue.campaigns.contacts import NumberReader
from smsgw.queue.campaigns.contacts_csv import HEADER_PATTERN, CsvHeaderError, read_contacts

A, B = "+4917011111111", "+4917022222222"


def _rows(text: str) -> list[tuple[int, int, str | None, str | None]]:
    out = []
    for r in read_contacts(
        io.StringIO(text, newline=""), key="shop", at=1.0, number=NumberReader()
    ):
        number = r.contact.number if r.contact else None
        out.append((r.line, r.row, number, r.error.code if r.error else None))
    return out


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_lines_count_through_blank_lines_and_quoted_breaks(end: str) -> None:
    text = end.join(["number,note", f'{A},"one{end}two"', "", "bad,x", f"{B},y", ""])
    assert _rows(text) == [(2, 1, A, None), (5, 2, None, "invalid_number"), (6, 3, B, None)]


def test_cells_are_kept_as_text_and_a_bom_is_dropped() -> None:
    text = f"\ufeffnumber,formula,tags\r\n{A},=1+2,a; b ;;a\r\n"
    [row] = read_contacts(io.StringIO(text, newline=""), key="k", at=5.0, number=NumberReader())
    assert row.contact is not None
    assert row.contact.attributes == {"formula": "=1+2"}
    assert row.contact.tags == ["a", "b"]
    assert (row.contact.key, row.contact.at) == ("k", 5.0)


@pytest.mark.parametrize(
    "header",
    ["", "first_name\n", "Number\n", "number,number\n", "number,bad column\n", "number,\n"],
)
def test_a_bad_header_is_refused_and_the_document_pattern_agrees(header: str) -> None:
    with pytest.raises(CsvHeaderError):
        _rows(header)
    assert not re.match(HEADER_PATTERN, header)


@pytest.mark.parametrize("header", ["number\n", "tags,number,plan,plan\r\n", "number"])
def test_a_good_header_is_taken_and_the_document_pattern_agrees(header: str) -> None:
    assert _rows(header + f"\n{A}\n" if header.endswith("\n") else header) is not None
    assert re.match(HEADER_PATTERN, header)


def test_the_whole_text_and_one_line_at_a_time_give_the_same_rows() -> None:
    text = f'number,first_name\r\n{A},"Ada\r\nL"\r\nnope,x\r\n\r\n{B},Bo\r\n'
    whole = _rows(text)
    lines = io.StringIO(text, newline="").readlines()
    fed = [
        (r.line, r.row, r.contact.number if r.contact else None)
        for r in read_contacts(iter(lines), key="shop", at=1.0, number=NumberReader())
    ]
    assert [(w[0], w[1], w[2]) for w in whole] == fed
    assert [w[2] for w in whole] == [A, None, B]
