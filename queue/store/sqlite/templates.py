"""Message templates in SQLite: one row per (key, name), variants as a JSON object."""

from __future__ import annotations

import msgspec

from smsgw.queue.store.records import NewTemplate, TemplateRow
from smsgw.queue.store.sqlite.rows import Columns
from smsgw.queue.store.sqlite.writer import Tx

__all__ = ["add", "delete", "get", "page", "replace"]

_variants = msgspec.json.Decoder(dict[str, str])
_ROW = Columns(
    TemplateRow, columns={"cursor": "tid"}, convert={"variants": lambda v: _variants.decode(v)}
)


def _encode(variants: dict[str, str]) -> str:
    return msgspec.json.encode(variants).decode()


def add(tx: Tx, t: NewTemplate) -> TemplateRow | None:
    """Insert ``t``; None (and nothing written) when its key has a template of that name."""
    cur = tx.conn.execute(
        "INSERT INTO templates (key, name, text, variants, msg_class, description,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (key, name) DO NOTHING",
        (t.key, t.name, t.text, _encode(t.variants), t.msg_class, t.description, t.at, t.at),
    )
    return get(tx, t.key, t.name) if cur.rowcount else None


def get(tx: Tx, key: str, name: str) -> TemplateRow | None:
    return _ROW.read_one(
        tx.conn.execute(
            f"SELECT {_ROW.select} FROM templates WHERE key = ? AND name = ?", (key, name)
        )
    )


def page(tx: Tx, key: str | None, after: int, limit: int) -> list[TemplateRow]:
    """The key's templates (every key's for None) after the cursor ``after``, in creation
    order."""
    where, args = ("tid > ?", [after]) if key is None else ("key = ? AND tid > ?", [key, after])
    return _ROW.read(
        tx.conn.execute(
            f"SELECT {_ROW.select} FROM templates WHERE {where} ORDER BY tid LIMIT ?",
            [*args, limit],
        )
    )


def replace(tx: Tx, t: NewTemplate) -> TemplateRow | None:
    """Replace the text, variants, class and description of ``t.key``'s template ``t.name``;
    None when there is none."""
    cur = tx.conn.execute(
        "UPDATE templates SET text = ?, variants = ?, msg_class = ?, description = ?,"
        " updated_at = ? WHERE key = ? AND name = ?",
        (t.text, _encode(t.variants), t.msg_class, t.description, t.at, t.key, t.name),
    )
    return get(tx, t.key, t.name) if cur.rowcount else None


def delete(tx: Tx, key: str, name: str) -> bool:
    """Remove the template; whether there was one."""
    cur = tx.conn.execute("DELETE FROM templates WHERE key = ? AND name = ?", (key, name))
    return cur.rowcount > 0
