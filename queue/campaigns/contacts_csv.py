"""Contacts from CSV, pure and incremental: rows are read, checked and handed on one at a
time, so an import of any size holds one row (and the caller's batch) in memory.

The header row names the columns, exactly as written (lower case, no spaces around):
``number`` (required, once), ``first_name``, ``last_name``, ``locale``, ``time_zone``,
``tags`` (separated by ``;``); every other column is an attribute of that name (a column named
twice: the rightmost cell counts), its cells kept as text exactly as written (a cell a
spreadsheet would read as a formula, ``=SUM(A1)``, stays that text: nothing here evaluates a
cell). An empty cell leaves the field empty (an attribute out).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from typing import Final, NamedTuple

from smsgw.queue.campaigns.contacts import (
    ATTRIBUTE_NAME_PATTERN,
    MAX_NAME,
    ContactError,
    NumberReader,
    check_attributes,
    check_tags,
    check_zone,
)
from smsgw.queue.campaigns.templates import LOCALE_PATTERN
from smsgw.queue.store.records import NewContact

__all__ = ["COLUMNS", "HEADER_PATTERN", "CsvHeaderError", "CsvRow", "read_contacts"]

COLUMNS: Final = ("number", "first_name", "last_name", "locale", "time_zone", "tags")
"""The columns that are fields; any other is an attribute."""
_NAME: Final = r"(?!number(?:,|[\r\n]|$))[A-Za-z_][A-Za-z0-9_]{0,39}"
HEADER_PATTERN: Final = rf"^\ufeff?(?:{_NAME},)*number(?:,{_NAME})*(?:[\r\n][\s\S]*)?$"
"""The bodies whose header :func:`read_contacts` takes (the rows after it are each answered
on their own): the columns by their names, ``number`` once, comma-separated, unquoted."""
_ATTRIBUTE: Final = re.compile(ATTRIBUTE_NAME_PATTERN[:-1] + r"\Z")
_LOCALE: Final = re.compile(LOCALE_PATTERN[:-1] + r"\Z")


class CsvHeaderError(ValueError):
    """The header row is refused (no ``number`` column or two, a name that cannot be an
    attribute): the import is refused whole. The header is line 1."""


class CsvRow(NamedTuple):
    """One data row: the line it starts on, its place among the data rows (1 is the first),
    and the contact it gives or the error that refused it."""

    line: int
    row: int
    contact: NewContact | None
    error: ContactError | None


def read_contacts(
    lines: Iterable[str], *, key: str, at: float, number: NumberReader
) -> Iterator[CsvRow]:
    """The rows of a CSV text (``lines`` as read with ``newline=""``), in order, blank lines
    skipped. Raises :class:`CsvHeaderError` before the first row for a bad header; a
    UnicodeDecodeError from ``lines`` ends the reading with a row error for where it stopped.
    """
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as e:
        raise CsvHeaderError(f"line 1: {e}") from None
    if header is None:
        raise CsvHeaderError("empty file; expected a header with a 'number' column")
    names = list(header)
    if names and names[0].startswith("\ufeff"):
        names[0] = names[0][1:]
    if "number" not in names:
        raise CsvHeaderError("the header has no 'number' column")
    if names.count("number") > 1:
        raise CsvHeaderError("the header names 'number' more than once")
    for i, name in enumerate(names):
        if name not in COLUMNS and not _ATTRIBUTE.match(name):
            raise CsvHeaderError(
                f"column {i + 1} {name!r} cannot be an attribute: a letter or _, then letters,"
                " digits and _, 40 at most"
            )
    fields = {n: i for i, n in enumerate(names) if n in COLUMNS}
    attrs = [(n, i) for i, n in enumerate(names) if n not in COLUMNS]
    count = 0
    last = reader.line_num
    while True:
        start = last + 1
        try:
            cells = next(reader, None)
        except UnicodeDecodeError:
            count += 1
            yield CsvRow(start, count, None, ContactError("invalid_csv", "not UTF-8 text", ""))
            return
        except csv.Error as e:
            last = reader.line_num
            count += 1
            yield CsvRow(start, count, None, ContactError("invalid_csv", str(e), ""))
            continue
        if cells is None:
            return
        last = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        count += 1
        try:
            contact = _contact(cells, fields, attrs, key, at, number)
        except ContactError as e:
            yield CsvRow(start, count, None, e)
        else:
            yield CsvRow(start, count, contact, None)


def _contact(
    cells: list[str],
    fields: dict[str, int],
    attrs: list[tuple[str, int]],
    key: str,
    at: float,
    number: NumberReader,
) -> NewContact:
    def cell(name: str) -> str:
        i = fields.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    num = number(cell("number"))
    first, last = cell("first_name"), cell("last_name")
    for field, text in (("first_name", first), ("last_name", last)):
        if len(text) > MAX_NAME:
            raise ContactError("invalid", f"at most {MAX_NAME} characters, got {len(text)}", field)
    locale = cell("locale") or None
    if locale is not None and (len(locale) > 35 or not _LOCALE.match(locale)):
        raise ContactError("invalid", f"{locale!r} is not a locale like de or fr-CA", "locale")
    zone = cell("time_zone") or None
    if zone is not None:
        check_zone(zone)
    tags = check_tags(t.strip() for t in cell("tags").split(";") if t.strip())
    attributes = check_attributes(
        {name: cells[i] for name, i in attrs if i < len(cells) and cells[i] != ""}
    )
    return NewContact(
        key=key,
        number=num,
        first_name=first,
        last_name=last,
        locale=locale,
        time_zone=zone,
        tags=tags,
        attributes=attributes,
        at=at,
    )
