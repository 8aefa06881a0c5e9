"""Tracked links and their clicks: rows written in the writer thread.

Link rows are inserted by the accept transaction of their message (:func:`insert_links`,
after :func:`fresh_codes` made every code unique); a click is looked up, recorded and counted
on its link row, and its ``message.clicked`` webhook queued, in one transaction
(:func:`record_clicks`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from smsgw.queue.links import new_code, swap_code
from smsgw.queue.model import LinkRow, NewMessage, rfc3339
from smsgw.queue.store.records import Click, ClickResult
from smsgw.queue.store.sqlite import webhooks as ops_webhooks
from smsgw.queue.store.sqlite.rows import Columns
from smsgw.queue.store.sqlite.writer import Tx

__all__ = ["MAX_USER_AGENT", "fresh_codes", "insert_links", "links_of", "record_clicks"]

MAX_USER_AGENT = 512
"""Characters of a User-Agent kept with a click (and sent in its webhook)."""
_CHUNK = 500


def _taken(tx: Tx, codes: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(codes), _CHUNK):
        chunk = codes[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        out.update(
            c for (c,) in tx.conn.execute(f"SELECT code FROM links WHERE code IN ({marks})", chunk)
        )
    return out


def fresh_codes(tx: Tx, msgs: Sequence[NewMessage]) -> list[NewMessage]:
    """``msgs`` with each link code that is already stored, or used twice in the batch, drawn
    again (in its link, text and parts; :func:`~smsgw.queue.links.swap_code`)."""
    codes = [link.code for m in msgs for link in m.links]
    if not codes:
        return list(msgs)
    taken = _taken(tx, codes)
    if not taken and len(set(codes)) == len(codes):
        return list(msgs)
    used: set[str] = set()
    out: list[NewMessage] = []
    for msg in msgs:
        for i, link in enumerate(msg.links):
            code = link.code
            while code in taken or code in used:
                code = new_code(len(link.code))
                if _taken(tx, [code]):
                    taken.add(code)
            if code != link.code:
                msg = swap_code(msg, i, code)
            used.add(code)
        out.append(msg)
    return out


def insert_links(tx: Tx, rows: Iterable[tuple[int, NewMessage]]) -> None:
    """The link rows of newly inserted messages, ``(mid, message)`` each."""
    tx.conn.executemany(
        "INSERT INTO links (code, mid, seq, key, to_number, url, short_url, created_at,"
        " expires_at) VALUES (?,?,?,?,?,?,?,?,?)",
        [
            (
                link.code,
                mid,
                seq,
                m.key,
                m.to,
                link.url,
                link.short_url,
                m.created_at,
                link.expires_at,
            )
            for mid, m in rows
            for seq, link in enumerate(m.links, start=1)
        ],
    )


_LINK = Columns(LinkRow)


def links_of(tx: Tx, mid: int) -> list[LinkRow]:
    """The message's tracked links, in the order of its text."""
    return _LINK.read(
        tx.conn.execute(f"SELECT {_LINK.select} FROM links WHERE mid = ? ORDER BY seq", (mid,))
    )


def record_clicks(
    tx: Tx, clicks: Sequence[Click], notify: ops_webhooks.Notify
) -> list[ClickResult]:
    """Look up each click's link: unknown, expired (``at`` at or past its expiry; nothing
    written), or recorded (a click row, the link's counters, and for a click that is not a
    preview, a ``message.clicked`` webhook to the message's callback_url)."""
    conn = tx.conn
    out: list[ClickResult] = []
    rows: list[tuple[object, ...]] = []
    hooks: list[tuple[str, str, dict[str, Any]]] = []
    for c in clicks:
        found = conn.execute(
            "SELECT l.mid, l.key, l.to_number, l.url, l.short_url, l.expires_at, m.id,"
            " m.callback_url FROM links l JOIN messages m ON m.mid = l.mid WHERE l.code = ?",
            (c.code,),
        ).fetchone()
        if found is None:
            out.append(ClickResult(outcome="unknown"))
            continue
        mid, key, to, url, short_url, expires_at, public_id, callback_url = found
        if c.at >= expires_at:
            out.append(ClickResult(outcome="expired", url=url))
            continue
        ua = c.user_agent[:MAX_USER_AGENT]
        rows.append((c.code, mid, key, to, c.at, ua, int(c.preview)))
        if c.preview:
            conn.execute("UPDATE links SET previews = previews + 1 WHERE code = ?", (c.code,))
        else:
            conn.execute(
                "UPDATE links SET clicks = clicks + 1,"
                " first_click_at = coalesce(first_click_at, ?) WHERE code = ?",
                (c.at, c.code),
            )
            if callback_url:
                payload = {
                    "event": "message.clicked",
                    "id": public_id,
                    "to": to,
                    "url": url,
                    "short_url": short_url,
                    "clicked_at": rfc3339(c.at),
                    "user_agent": ua,
                }
                hooks.append((key, callback_url, payload))
        out.append(ClickResult(outcome="redirect", url=url))
    conn.executemany(
        "INSERT INTO clicks (code, mid, key, to_number, at, user_agent, preview)"
        " VALUES (?,?,?,?,?,?,?)",
        rows,
    )
    if hooks:
        ops_webhooks.enqueue(tx, hooks, max(c.at for c in clicks), notify)
    return out
