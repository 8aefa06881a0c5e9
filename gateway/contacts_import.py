"""``smsgw contacts import FILE``: a CSV file of any size sent to ``POST /v1/contacts/import``
in pieces, as the other client commands talk to a running gateway.

The file is read row by row (never whole); every :data:`PIECE_ROWS` rows (or fewer, once a
piece nears :data:`PIECE_BYTES`) go out as one CSV body with the file's header, under the
server's default ``server.max_body_bytes``. The gateway answers each piece with its counts and
refused rows; their lines are given back as lines of the file. A progress line on stderr says
the rows done, the rate and the errors so far. A refused header stops the import before any
row is written.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO, Any

import msgspec

__all__ = ["PIECE_BYTES", "PIECE_ROWS", "ImportTotals", "Send", "cli_send", "import_file"]

PIECE_ROWS = 5000
"""Rows per request at most."""
PIECE_BYTES = 900_000
"""A piece is sent once its body reaches this size (under the 1 MiB default body limit)."""
MAX_ERRORS = 100

Send = Callable[[bytes], Awaitable[tuple[int, bytes]]]
"""Posts one CSV body to the import endpoint; (status, reply body)."""


@dataclass
class ImportTotals:
    """What an import did: rows read, contacts created and replaced, rows refused (the first
    :data:`MAX_ERRORS` of them with the file's line), and the refusal that stopped it."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    stopped: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "failed": self.failed,
            "errors": self.errors,
        }
        if self.stopped is not None:
            out["stopped"] = self.stopped
        return out


class _Piece:
    def __init__(self, header: list[str]) -> None:
        self.buf = io.StringIO()
        self.writer = csv.writer(self.buf, lineterminator="\r\n")
        self.writer.writerow(header)
        self.lines: list[int] = []
        """The file line each row of the piece starts on."""

    def add(self, cells: list[str], line: int) -> None:
        self.writer.writerow(cells)
        self.lines.append(line)

    def full(self) -> bool:
        return len(self.lines) >= PIECE_ROWS or self.buf.tell() >= PIECE_BYTES


async def import_file(
    source: IO[str],
    send: Send,
    *,
    progress: IO[str] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ImportTotals:
    """Read ``source`` (opened with ``newline=""``) and send it in pieces with ``send``.
    Returns the totals; a piece the gateway refuses (a bad header, a 4xx or 5xx) stops the
    import with that refusal in ``stopped``. What ``send`` raises is not caught."""
    totals = ImportTotals()
    started = clock()
    reader = csv.reader(source)
    try:
        header = next(reader, None)
    except csv.Error as e:
        totals.stopped = {"line": 1, "message": str(e)}
        return totals
    if header is None:
        totals.stopped = {"line": 1, "message": "empty file; expected a header row"}
        return totals
    piece = _Piece(header)
    last = reader.line_num
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as e:
            totals.rows += 1
            _refused(totals, {"line": last + 1, "code": "invalid_csv", "message": str(e)})
            last = reader.line_num
            continue
        start, last = last + 1, reader.line_num
        if cells is not None and not any(c.strip() for c in cells):
            continue
        if cells is not None:
            piece.add(cells, start)
        if piece.lines and (cells is None or piece.full()):
            if not await _send_piece(piece, send, totals):
                break
            piece = _Piece(header)
            _show(progress, totals, clock() - started)
        if cells is None:
            break
    _show(progress, totals, clock() - started, final=True)
    return totals


async def _send_piece(piece: _Piece, send: Send, totals: ImportTotals) -> bool:
    status, reply = await send(piece.buf.getvalue().encode())
    try:
        body = msgspec.json.decode(reply)
    except msgspec.DecodeError:
        body = {"error": {"message": reply.decode("utf-8", "replace")}}
    if status >= 400 or not isinstance(body, dict) or "rows" not in body:
        error = body.get("error", body) if isinstance(body, dict) else body
        totals.stopped = {"status": status, "error": error}
        return False
    totals.rows += int(body["rows"])
    totals.created += int(body["created"])
    totals.updated += int(body["updated"])
    totals.failed += int(body["failed"]) - len(body["errors"])
    for e in body["errors"]:
        row = int(e["row"])
        e["line"] = piece.lines[row - 1] if 0 < row <= len(piece.lines) else e["line"]
        e.pop("row", None)
        _refused(totals, e)
    return True


def _refused(totals: ImportTotals, error: dict[str, Any]) -> None:
    totals.failed += 1
    if len(totals.errors) < MAX_ERRORS:
        totals.errors.append(error)


def _show(out: IO[str] | None, t: ImportTotals, elapsed: float, *, final: bool = False) -> None:
    if out is None:
        return
    rate = t.rows / elapsed if elapsed > 0 else 0.0
    out.write(f"\rcontacts: {t.rows:,} rows, {rate:,.0f} rows/s, {t.failed:,} errors")
    out.write("\n" if final else "")
    out.flush()


def cli_send(url: str, token: str) -> Send:
    """A :data:`Send` posting to ``url``'s import endpoint with the bearer ``token``."""
    from smsgw.gateway.httpclient import request

    target = url.rstrip("/") + "/v1/contacts/import"
    headers = [("Authorization", f"Bearer {token}"), ("Content-Type", "text/csv")]

    async def send(body: bytes) -> tuple[int, bytes]:
        return await request("POST", target, body, headers, timeout=120)

    return send
