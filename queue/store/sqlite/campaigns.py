"""Campaigns in SQLite: one row per campaign (its spec as JSON), its recipients fixed at start.

Every function runs in the writer thread inside one transaction. A chunk's messages are
accepted and its recipients marked in the same transaction (:func:`accept_chunk`), and that
transaction first checks that the campaign is still running in the same generation: a pause
or a cancel, serialised with it by the writer, either comes first (the chunk writes nothing)
or after (it cancels the chunk's messages that have not left).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from smsgw.queue.campaigns.records import (
    CampaignAction,
    CampaignRow,
    CampaignSpec,
    ClickTally,
    MessageTally,
    NewCampaign,
    NewRecipient,
    RecipientCount,
    RecipientFire,
    RecipientRow,
    SpecRecipient,
    ref_prefix,
)
from smsgw.queue.model import NewMessage
from smsgw.queue.store.screening import AcceptGate, Facts, Screened
from smsgw.queue.store.sqlite import cancel as ops_cancel
from smsgw.queue.store.sqlite import conversions as ops_conversions
from smsgw.queue.store.sqlite import screening as ops_screening
from smsgw.queue.store.sqlite.rows import Columns
from smsgw.queue.store.sqlite.transitions import Events
from smsgw.queue.store.sqlite.writer import Tx

__all__ = [
    "ab_values",
    "accept_chunk",
    "act",
    "add",
    "counts",
    "decide_ab",
    "draft_recipients",
    "get",
    "message_stats",
    "page",
    "pending",
    "running",
    "start",
]

_spec = msgspec.json.Decoder(CampaignSpec)
_vars = msgspec.json.Decoder(dict[str, Any])
_listed = msgspec.json.Decoder(list[SpecRecipient])
_ROW = Columns(CampaignRow, columns={"cursor": "cid"}, convert={"spec": _spec.decode})
_RECIPIENT = Columns(RecipientRow, convert={"vars": _vars.decode})
_ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "pause": (("running", "completed"), "paused"),
    "resume": (("paused",), "running"),
    "cancel": (("draft", "running", "paused", "completed"), "cancelled"),
}
"""action -> (the states it applies to, the state it leads to). A completed campaign (every
recipient accepted) may still be paused or cancelled: its messages may not have left yet."""


def add(tx: Tx, c: NewCampaign, campaign_id: str) -> CampaignRow:
    listed = None if c.recipients is None else msgspec.json.encode(c.recipients).decode()
    tx.conn.execute(
        "INSERT INTO campaigns (id, key, name, spec, listed, recipients, state, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, 'draft', ?, ?)",
        (
            campaign_id,
            c.key,
            c.name,
            msgspec.json.encode(c.spec).decode(),
            None if c.recipients is None else len(c.recipients),
            listed,
            c.at,
            c.at,
        ),
    )
    row = get(tx, c.key, campaign_id)
    assert row is not None
    return row


def get(tx: Tx, key: str | None, campaign_id: str) -> CampaignRow | None:
    """The campaign ``campaign_id`` of ``key`` (None: of any key)."""
    where, args = (
        ("id = ?", [campaign_id]) if key is None else ("id = ? AND key = ?", [campaign_id, key])
    )
    return _ROW.read_one(
        tx.conn.execute(f"SELECT {_ROW.select} FROM campaigns WHERE {where}", args)
    )


def draft_recipients(tx: Tx, cid: int) -> list[SpecRecipient]:
    """The list a draft was given (empty for a segment, or once started)."""
    row = tx.conn.execute("SELECT recipients FROM campaigns WHERE cid = ?", (cid,)).fetchone()
    return [] if row is None or row[0] is None else _listed.decode(row[0])


def page(tx: Tx, key: str | None, after: int, limit: int) -> list[CampaignRow]:
    where, args = ("cid > ?", [after]) if key is None else ("key = ? AND cid > ?", [key, after])
    return _ROW.read(
        tx.conn.execute(
            f"SELECT {_ROW.select} FROM campaigns WHERE {where} ORDER BY cid LIMIT ?",
            [*args, limit],
        )
    )


def start(
    tx: Tx, key: str, campaign_id: str, recipients: Sequence[NewRecipient], now: float
) -> CampaignRow | str | None:
    """Fix the recipients of a draft and set it running; the campaign's state instead when
    it is no draft, None when the key has no such campaign."""
    row = get(tx, key, campaign_id)
    if row is None or row.state != "draft":
        return None if row is None else row.state
    enc = msgspec.json.encode
    tx.conn.executemany(
        "INSERT INTO campaign_recipients (cid, seq, number, vars, variant, state, reason)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            (row.cursor, seq, r.number, enc(r.vars).decode(), r.variant, r.state, r.reason)
            for seq, r in enumerate(recipients, 1)
        ),
    )
    # Held recipients (an A/B test's rest) are still to send, once the winner is picked.
    state = "running" if any(r.state != "skipped" for r in recipients) else "completed"
    tx.conn.execute(
        "UPDATE campaigns SET state = ?, recipients = NULL, started_at = ?, updated_at = ?,"
        " ended_at = CASE WHEN ? = 'completed' THEN ? END WHERE cid = ?",
        (state, now, now, state, now, row.cursor),
    )
    return get(tx, key, campaign_id)


def act(
    tx: Tx, events: Events, key: str, campaign_id: str, action: CampaignAction, now: float
) -> CampaignRow | str | None:
    """Pause, resume or cancel; the campaign's state instead when the action does not apply
    to it, None when the key has no such campaign.

    Pause and cancel take back, in this transaction, the campaign's messages that have not
    left (cancelled by their client_ref prefix, as POST /v1/messages/cancel does): on pause
    their recipients are pending again and the generation moves on, so resume sends them
    under new references; on cancel they and the pending ones are ``cancelled``."""
    row = get(tx, key, campaign_id)
    if row is None:
        return None
    sources, target = _ACTIONS[action]
    if row.state not in sources:
        return row.state
    cid = row.cursor
    if action != "resume" and row.state != "draft":
        ((accepted,),) = tx.conn.execute(
            "SELECT count(*) FROM campaign_recipients WHERE cid = ? AND state = 'accepted'",
            (cid,),
        ).fetchall()
        done = ops_cancel.cancel_refs(
            tx, events, [row.key], ref_prefix(row.id), True, now, max(1, int(accepted))
        )
        back = "pending" if action == "pause" else "cancelled"
        tx.conn.executemany(
            "UPDATE campaign_recipients SET state = ?, message = NULL"
            " WHERE cid = ? AND message = ? AND state = 'accepted'",
            ((back, cid, m.id) for m in done.cancelled),
        )
    if action == "cancel":
        tx.conn.execute(
            "UPDATE campaign_recipients SET state = 'cancelled'"
            " WHERE cid = ? AND state IN ('pending', 'held')",
            (cid,),
        )
    tx.conn.execute(
        "UPDATE campaigns SET state = ?, gen = gen + ?, updated_at = ?,"
        " ended_at = CASE WHEN ? = 'cancelled' THEN ? END WHERE cid = ?",
        (target, 1 if action == "pause" else 0, now, target, now, cid),
    )
    return get(tx, key, campaign_id)


def running(tx: Tx, now: float) -> list[CampaignRow]:
    """The running campaigns, oldest first (those with a send_at still to come too: the
    runner waits for it)."""
    return _ROW.read(
        tx.conn.execute(f"SELECT {_ROW.select} FROM campaigns WHERE state = 'running' ORDER BY cid")
    )


def pending(tx: Tx, cid: int, limit: int) -> list[RecipientRow]:
    """The campaign's first ``limit`` pending recipients, in order."""
    return _RECIPIENT.read(
        tx.conn.execute(
            f"SELECT {_RECIPIENT.select} FROM campaign_recipients"
            " WHERE cid = ? AND state = 'pending' ORDER BY seq LIMIT ?",
            (cid, limit),
        )
    )


def accept_chunk(
    tx: Tx,
    gate: AcceptGate,
    cid: int,
    gen: int,
    fires: Sequence[RecipientFire],
    ids: Sequence[str],
    now: float,
) -> tuple[list[tuple[int, str, str | None]], list[Screened]] | None:
    """Accept the messages of a chunk (screened like any accept) and mark each recipient
    ``accepted`` or ``skipped`` (with the reason); completes the campaign when none is left
    pending. None (nothing written) when the campaign is no longer running in generation
    ``gen``; recipients no longer pending are left alone. Returns (seq, state, reason) per
    recipient marked, and what the accept path did."""
    state = tx.conn.execute("SELECT state, gen FROM campaigns WHERE cid = ?", (cid,)).fetchone()
    if state is None or state[0] != "running" or state[1] != gen:
        return None
    # One range read of the chunk's stretch tells which of its recipients are still pending.
    seqs = [f.seq for f in fires]
    still = (
        {
            seq
            for (seq,) in tx.conn.execute(
                "SELECT seq FROM campaign_recipients"
                " WHERE cid = ? AND state = 'pending' AND seq BETWEEN ? AND ?",
                (cid, min(seqs), max(seqs)),
            )
        }
        if seqs
        else set()
    )
    live = [(f, msg_id) for f, msg_id in zip(fires, ids, strict=True) if f.seq in still]
    items: list[tuple[NewMessage, Facts]] = [
        (f.msg, f.facts or Facts()) for f, _ in live if f.msg is not None
    ]
    msg_ids = [i for f, i in live if f.msg is not None]
    screened = ops_screening.accept_screened(tx, gate, items, msg_ids) if items else []
    results = iter(screened)
    out: list[tuple[int, str, str | None]] = []
    updates: list[tuple[str, str | None, str | None, float | None, int, int]] = []
    for f, _ in live:
        message: str | None = None
        reason = f.reason
        if f.msg is None:
            st = "skipped"
            reason = reason or "refused"
        else:
            s = next(results)
            if s.result is not None:
                st, message = "accepted", s.result.id
            else:
                st = "skipped"
                reason = s.refusal.code if s.refusal is not None else "refused"
        updates.append((st, message, reason, now if message else None, cid, f.seq))
        out.append((f.seq, st, reason))
    tx.conn.executemany(
        "UPDATE campaign_recipients SET state = ?, message = ?, reason = ?, accepted_at = ?"
        " WHERE cid = ? AND seq = ?",
        updates,
    )
    left = tx.conn.execute(
        "SELECT 1 FROM campaign_recipients WHERE cid = ? AND state IN ('pending', 'held') LIMIT 1",
        (cid,),
    ).fetchone()
    if left is None:
        tx.conn.execute(
            "UPDATE campaigns SET state = 'completed', ended_at = ?, updated_at = ? WHERE cid = ?",
            (now, now, cid),
        )
    return out, screened


def counts(tx: Tx, cid: int) -> list[RecipientCount]:
    """The campaign's recipients counted by variant, state and reason."""
    return [
        RecipientCount(variant=v, state=s, reason=r, n=n)
        for v, s, r, n in tx.conn.execute(
            "SELECT variant, state, reason, count(*) FROM campaign_recipients WHERE cid = ?"
            " GROUP BY variant, state, reason ORDER BY variant, state, reason",
            (cid,),
        )
    ]


_LEFT = "('submitted', 'delivered', 'undelivered', 'expired')"
_FAILED = "('undelivered', 'expired', 'failed', 'rejected')"


def message_stats(tx: Tx, cid: int) -> tuple[list[MessageTally], list[ClickTally]]:
    """The campaign's messages (those its recipients hold now) by variant and route, and the
    clicks on their tracked links by variant."""
    tallies = [
        MessageTally(
            variant=v,
            route=route,
            messages=n,
            sent=int(sent or 0),
            delivered=int(delivered or 0),
            failed=int(failed or 0),
            parts=int(parts or 0),
        )
        for v, route, n, sent, delivered, failed, parts in tx.conn.execute(
            f"SELECT r.variant, m.route, COUNT(*), SUM(m.status IN {_LEFT}),"
            f" SUM(m.status = 'delivered'), SUM(m.status IN {_FAILED}), SUM(m.parts_total)"
            " FROM campaign_recipients r JOIN messages m ON m.id = r.message"
            " WHERE r.cid = ? AND r.message IS NOT NULL GROUP BY r.variant, m.route",
            (cid,),
        )
    ]
    clicked = {
        v: (int(c or 0), int(u or 0))
        for v, c, u in tx.conn.execute(
            "SELECT r.variant, SUM(l.clicks), COUNT(DISTINCT CASE WHEN l.clicks > 0 THEN l.mid END)"
            " FROM campaign_recipients r JOIN messages m ON m.id = r.message"
            " JOIN links l ON l.mid = m.mid WHERE r.cid = ? AND r.message IS NOT NULL"
            " GROUP BY r.variant",
            (cid,),
        )
    }
    orders = ops_conversions.revenue_by_variant(tx, cid)
    clicks = [
        ClickTally(
            variant=v,
            clicks=clicked.get(v, (0, 0))[0],
            clicked=clicked.get(v, (0, 0))[1],
            conversions=orders.get(v, (0, {}))[0],
            revenue=orders.get(v, (0, {}))[1],
        )
        for v in sorted(clicked.keys() | orders.keys())
    ]
    return tallies, clicks


def decide_ab(tx: Tx, cid: int, now: float) -> CampaignRow | None:
    """Pick a running campaign's A/B winner when it is due: no recipient pending, and the
    test's ``wait`` passed since its last message was accepted (since the start when none
    was). Records the winner, when and why, and makes every held recipient pending with the
    winner's variant. None (nothing written) when the campaign has no test, is not running,
    has its winner already or is not due."""
    row = _ROW.read_one(
        tx.conn.execute(f"SELECT {_ROW.select} FROM campaigns WHERE cid = ?", (cid,))
    )
    if row is None or row.state != "running" or row.spec.ab is None or row.ab_winner is not None:
        return None
    ab = row.spec.ab
    busy = tx.conn.execute(
        "SELECT 1 FROM campaign_recipients WHERE cid = ? AND state = 'pending' LIMIT 1", (cid,)
    ).fetchone()
    if busy is not None:
        return None
    ((last,),) = tx.conn.execute(
        "SELECT max(accepted_at) FROM campaign_recipients WHERE cid = ? AND variant >= 0",
        (cid,),
    ).fetchall()
    since = float(last) if last is not None else float(row.started_at or now)
    if since + ab.wait > now:
        return None
    values = ab_values(tx, cid, len(row.spec.variants), ab.metric)
    winner = max(range(len(values)), key=lambda i: (values[i], -i))
    shown = ", ".join(f"{i}: {v:.6g}" for i, v in enumerate(values))
    reason = f"highest {ab.metric} per message sent ({shown})"
    tx.conn.execute(
        "UPDATE campaign_recipients SET state = 'pending', variant = ?"
        " WHERE cid = ? AND state = 'held'",
        (winner, cid),
    )
    tx.conn.execute(
        "UPDATE campaigns SET ab_winner = ?, ab_decided_at = ?, ab_reason = ?, updated_at = ?"
        " WHERE cid = ?",
        (winner, now, reason, now, cid),
    )
    return _ROW.read_one(
        tx.conn.execute(f"SELECT {_ROW.select} FROM campaigns WHERE cid = ?", (cid,))
    )


def ab_values(tx: Tx, cid: int, n_variants: int, metric: str) -> list[float]:
    """Each variant's A/B metric: unique clicks (``clicks``) or attributed orders
    (``conversions``) per message sent, 0 for a variant with none sent."""
    tallies, clicks = message_stats(tx, cid)
    sent = [0] * n_variants
    for t in tallies:
        if 0 <= t.variant < n_variants:
            sent[t.variant] += t.sent
    score = [0] * n_variants
    for k in clicks:
        if 0 <= k.variant < n_variants:
            score[k.variant] += k.clicked if metric == "clicks" else k.conversions
    return [score[i] / sent[i] if sent[i] else 0.0 for i in range(n_variants)]
