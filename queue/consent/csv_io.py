"""The opt-out list as CSV: the export (cells made inert for spreadsheets) and the import.

Used by the API's opt-out routes (:mod:`smsgw.gateway.api_consent`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import datetime

from smsgw.queue.consent.records import ALL, OptoutRequest, OptoutRow
from smsgw.queue.model import rfc3339

__all__ = ["CSV_COLUMNS", "CSV_MAX_ROWS", "CsvError", "export_csv", "parse_csv"]

CSV_MAX_ROWS = 100_000
_FUTURE_SLACK = 300.0
"""Seconds an imported ``at`` may lie ahead of the gateway's clock (the importer's may run
ahead)."""


class CsvError(ValueError):
    """A CSV import refused as a whole; ``line`` is 1-based (the header is line 1)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


CSV_COLUMNS = ("number", "scope", "source", "at", "inbound_id", "note")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet reads a cell starting with one of these as a formula (CSV injection)."""


def _inert(value: str) -> bool:
    """True when ``value`` gets a ``'`` in the export: it starts with a formula character, or
    with ``'`` before one (so that a note that really begins ``'=`` comes back as it was)."""
    return value.lstrip("'").startswith(_FORMULA_START)


def _cell(value: str) -> str:
    """``value`` made inert for spreadsheets: a leading formula character gets a ``'`` before
    it (OWASP's advice; spreadsheets show the text as it was). :func:`parse_csv` drops it."""
    return "'" + value if _inert(value) else value


def export_csv(rows: Iterable[OptoutRow]) -> bytes:
    """The list as CSV (header ``number,scope,source,at,inbound_id,note``; ``at`` RFC 3339 UTC,
    scope ``all`` or a key name). Every cell that a spreadsheet would run as a formula
    (starting with ``= + - @``, a tab or CR) is prefixed with ``'``, the E.164 numbers too."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow(
            [
                _cell(r.number),
                _cell("all" if r.scope == ALL else r.scope),
                r.source,
                rfc3339(r.at, millis=False),
                r.inbound_id or "",
                _cell(r.note),
            ]
        )
    return out.getvalue().encode()


def parse_csv(
    data: bytes,
    *,
    key: str,
    now: float,
    number: Callable[[str], str],
) -> list[OptoutRequest]:
    """Read an import: a header naming at least ``number``; optional ``scope`` (``all``, the
    default, or ``key`` for the importing key), ``at`` (RFC 3339, default now) and ``note``.
    Other columns (an export's ``source``, ``inbound_id``) are ignored.

    ``number`` normalises a number or raises ValueError. Raises :class:`CsvError` naming the
    first bad line; nothing is imported then.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvError(1, "not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise CsvError(1, "empty file; expected a header with a 'number' column") from None
    except csv.Error as e:
        raise CsvError(1, str(e)) from None
    if "number" not in header:
        raise CsvError(1, "the header has no 'number' column")
    col = {name: i for i, name in enumerate(header)}
    out: list[OptoutRequest] = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(out) >= CSV_MAX_ROWS:
                raise CsvError(line, f"more than {CSV_MAX_ROWS} rows; split the file")
            out.append(_csv_row(row, col, line, key, now, number))
    except csv.Error as e:
        raise CsvError(reader.line_num, str(e)) from None
    return out


def _csv_row(
    row: list[str],
    col: dict[str, int],
    line: int,
    key: str,
    now: float,
    number: Callable[[str], str],
) -> OptoutRequest:
    def cell(name: str) -> str:
        i = col.get(name)
        text = row[i].strip() if i is not None and i < len(row) else ""
        # An export's cells that a spreadsheet would read as formulas carry a leading "'".
        return text[1:] if text.startswith("'") and _inert(text) else text

    try:
        num = number(cell("number"))
    except ValueError as e:
        raise CsvError(line, f"number {cell('number')!r}: {e}") from None
    scope_text = cell("scope").lower() or "all"
    if scope_text == "all":
        scope = ALL
    elif scope_text in ("key", key.lower()):
        scope = key
    else:
        raise CsvError(line, f"scope must be 'all' or 'key', got {cell('scope')!r}")
    at = now
    if cell("at"):
        try:
            when = datetime.fromisoformat(cell("at").replace("Z", "+00:00"))
        except ValueError:
            raise CsvError(line, f"'at' is not an RFC 3339 time: {cell('at')!r}") from None
        if when.tzinfo is None:
            raise CsvError(line, "'at' must carry a time zone (e.g. 2026-01-01T09:00:00Z)")
        at = when.timestamp()
        # Not in the future (as POST /v1/consents), and a time the export can write again:
        # year 1 at +23:59 is year 0 in UTC, which stopped every export of the list.
        if not 0 <= at <= now + _FUTURE_SLACK:
            raise CsvError(line, f"'at' must lie between 1970 and now, got {cell('at')!r}")
    return OptoutRequest(
        number=num, scope=scope, source="import", at=at, key=key, note=cell("note")[:500]
    )
