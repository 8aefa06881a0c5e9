"""Contacts and segments in SQLite: one contact per (key, number) with its tags and
attributes as JSON, one segment per (key, name) with its filter as JSON text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from smsgw.queue.campaigns.contacts import merge_attributes
from smsgw.queue.store.records import (
    Attributes,
    Candidate,
    Coarse,
    ContactPatch,
    ContactRow,
    NewContact,
    NewSegment,
    SegmentRow,
)
from smsgw.queue.store.sqlite.consent import opted_out
from smsgw.queue.store.sqlite.rows import Columns
from smsgw.queue.store.sqlite.writer import Tx

__all__ = [
    "add_segment",
    "candidates",
    "delete",
    "delete_segment",
    "get",
    "get_segment",
    "page",
    "patch",
    "replace_segment",
    "segments_page",
    "upsert",
]

_tags = msgspec.json.Decoder(list[str])
_attributes = msgspec.json.Decoder(Attributes)
_encode = msgspec.json.Encoder()
_ROW = Columns(
    ContactRow,
    columns={"cursor": "cid"},
    convert={"tags": _tags.decode, "attributes": _attributes.decode},
)
_SEGMENT = Columns(SegmentRow, columns={"cursor": "sid"})
_CHUNK = 500
"""Numbers per ``IN (...)`` lookup."""
_HAS_TAG = "EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?)"


def upsert(tx: Tx, items: Sequence[NewContact]) -> list[bool]:
    """Write each contact whole (created, or replacing the stored one but its creation time);
    whether each was created. A number given twice is created once, then replaced."""
    seen: set[tuple[str, str]] = set()
    by_key: dict[str, list[str]] = {}
    for c in items:
        by_key.setdefault(c.key, []).append(c.number)
    for key, numbers in by_key.items():
        wanted = list(dict.fromkeys(numbers))
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            seen.update(
                (key, n)
                for (n,) in tx.conn.execute(
                    f"SELECT number FROM contacts WHERE key = ? AND number IN ({marks})",
                    [key, *chunk],
                )
            )
    created: list[bool] = []
    for c in items:
        created.append((c.key, c.number) not in seen)
        seen.add((c.key, c.number))
    tx.conn.executemany(
        "INSERT INTO contacts (key, number, first_name, last_name, locale, time_zone, tags,"
        " attributes, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (key, number) DO UPDATE SET first_name = excluded.first_name,"
        " last_name = excluded.last_name, locale = excluded.locale,"
        " time_zone = excluded.time_zone, tags = excluded.tags,"
        " attributes = excluded.attributes, updated_at = excluded.updated_at",
        [
            (
                c.key,
                c.number,
                c.first_name,
                c.last_name,
                c.locale,
                c.time_zone,
                _encode.encode(c.tags),
                _encode.encode(c.attributes),
                c.at,
                c.at,
            )
            for c in items
        ],
    )
    return created


def get(tx: Tx, key: str, number: str) -> ContactRow | None:
    return _ROW.read_one(
        tx.conn.execute(
            f"SELECT {_ROW.select} FROM contacts WHERE key = ? AND number = ?", (key, number)
        )
    )


def page(tx: Tx, key: str | None, after: int, limit: int, tag: str | None) -> list[ContactRow]:
    """The key's contacts (every key's for None) after the cursor ``after``, in creation
    order; with ``tag``, only those that carry it."""
    where: list[str] = ["cid > ?"]
    args: list[Any] = [after]
    if key is not None:
        where.insert(0, "key = ?")
        args.insert(0, key)
    if tag is not None:
        where.append(_HAS_TAG)
        args.append(tag)
    return _ROW.read(
        tx.conn.execute(
            f"SELECT {_ROW.select} FROM contacts WHERE {' AND '.join(where)} ORDER BY cid LIMIT ?",
            [*args, limit],
        )
    )


def patch(tx: Tx, key: str, number: str, p: ContactPatch) -> ContactRow | None:
    """Apply ``p`` to the contact; None when there is none. Raises
    :class:`~smsgw.queue.campaigns.contacts.ContactError` (nothing written) when the merged
    attributes would be too many."""
    row = get(tx, key, number)
    if row is None:
        return None
    attributes = merge_attributes(row.attributes, p.attributes)
    locale = None if "locale" in p.clear else (p.locale or row.locale)
    zone = None if "time_zone" in p.clear else (p.time_zone or row.time_zone)
    tx.conn.execute(
        "UPDATE contacts SET first_name = ?, last_name = ?, locale = ?, time_zone = ?,"
        " tags = ?, attributes = ?, updated_at = ? WHERE cid = ?",
        (
            row.first_name if p.first_name is None else p.first_name,
            row.last_name if p.last_name is None else p.last_name,
            locale,
            zone,
            _encode.encode(row.tags if p.tags is None else p.tags),
            _encode.encode(attributes),
            p.at,
            row.cursor,
        ),
    )
    return get(tx, key, number)


def delete(tx: Tx, key: str, number: str) -> bool:
    cur = tx.conn.execute("DELETE FROM contacts WHERE key = ? AND number = ?", (key, number))
    return cur.rowcount > 0


def candidates(tx: Tx, key: str, coarse: Coarse, after: int, limit: int) -> list[Candidate]:
    """Up to ``limit`` of the key's contacts after the cursor ``after`` that ``coarse``
    selects, in creation order, each with whether an opt-out stops the key's messages to it."""
    where: list[str] = ["key = ?", "cid > ?"]
    args: list[Any] = [key, after]
    if coarse.locale is not None:
        where.append("locale = ? COLLATE NOCASE")
        args.append(coarse.locale)
    if coarse.time_zone is not None:
        where.append("time_zone = ?")
        args.append(coarse.time_zone)
    for tag in coarse.tags_all:
        where.append(_HAS_TAG)
        args.append(tag)
    if coarse.tags_any:
        marks = ",".join("?" * len(coarse.tags_any))
        where.append(f"EXISTS (SELECT 1 FROM json_each(tags) WHERE value IN ({marks}))")
        args.extend(coarse.tags_any)
    rows = _ROW.read(
        tx.conn.execute(
            f"SELECT {_ROW.select} FROM contacts WHERE {' AND '.join(where)} ORDER BY cid LIMIT ?",
            [*args, limit],
        )
    )
    stopped = opted_out(tx, [(r.number, key) for r in rows])
    return [Candidate(contact=r, opted_out=(r.number, key) in stopped) for r in rows]


# -- segments --------------------------------------------------------------------------------


def add_segment(tx: Tx, s: NewSegment) -> SegmentRow | None:
    """Insert ``s``; None (and nothing written) when its key has a segment of that name."""
    cur = tx.conn.execute(
        "INSERT INTO segments (key, name, rules, created_at, updated_at) VALUES (?,?,?,?,?)"
        " ON CONFLICT (key, name) DO NOTHING",
        (s.key, s.name, s.rules, s.at, s.at),
    )
    return get_segment(tx, s.key, s.name) if cur.rowcount else None


def get_segment(tx: Tx, key: str, name: str) -> SegmentRow | None:
    return _SEGMENT.read_one(
        tx.conn.execute(
            f"SELECT {_SEGMENT.select} FROM segments WHERE key = ? AND name = ?", (key, name)
        )
    )


def segments_page(tx: Tx, key: str | None, after: int, limit: int) -> list[SegmentRow]:
    where, args = ("sid > ?", [after]) if key is None else ("key = ? AND sid > ?", [key, after])
    return _SEGMENT.read(
        tx.conn.execute(
            f"SELECT {_SEGMENT.select} FROM segments WHERE {where} ORDER BY sid LIMIT ?",
            [*args, limit],
        )
    )


def replace_segment(tx: Tx, s: NewSegment) -> SegmentRow | None:
    cur = tx.conn.execute(
        "UPDATE segments SET rules = ?, updated_at = ? WHERE key = ? AND name = ?",
        (s.rules, s.at, s.key, s.name),
    )
    return get_segment(tx, s.key, s.name) if cur.rowcount else None


def delete_segment(tx: Tx, key: str, name: str) -> bool:
    cur = tx.conn.execute("DELETE FROM segments WHERE key = ? AND name = ?", (key, name))
    return cur.rowcount > 0
