"""The consent and courtesy policy inside accept and claim, in SQLite.

The policy's decisions are pure (:mod:`smsgw.queue.store.screening` says what crosses): these
functions read the facts it asks for, hand them over and write what it decided, all in the
transaction of the accept or claim, in the writer thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from smsgw.queue.model import NewMessage
from smsgw.queue.store.screening import (
    AcceptFacts,
    AcceptGate,
    AcceptVerdict,
    ClaimCandidate,
    ClaimFacts,
    ClaimGate,
    ClaimVerdict,
    Facts,
    Screened,
)
from smsgw.queue.store.sqlite import accept as ops_accept
from smsgw.queue.store.sqlite import courtesy
from smsgw.queue.store.sqlite.consent import blocking_optouts, consent_ok, opted_out
from smsgw.queue.store.sqlite.rows import Columns
from smsgw.queue.store.sqlite.smpp_held import mark_origin
from smsgw.queue.store.sqlite.transitions import Change, MsgInfo, derive
from smsgw.queue.store.sqlite.writer import Tx

__all__ = ["accept_marked", "accept_screened", "check_claim"]


def accept_screened(
    tx: Tx, gate: AcceptGate, items: Sequence[tuple[NewMessage, Facts]], ids: Sequence[str]
) -> list[Screened]:
    """Screen and insert a batch in one transaction."""
    asks = gate.accept_asks(items)
    if all(a is None for a in asks):
        # Nothing to police (OTP, transactional by default): the plain insert.
        plain = ops_accept.accept(tx, [m for m, _ in items], ids)
        return [Screened(result=r, msg=m) for (m, _), r in zip(items, plain, strict=True)]
    # One probe of the opt-out list for the whole batch; details only for the stopped.
    blocked = opted_out(
        tx, [(m.to, m.key) for (m, _), a in zip(items, asks, strict=True) if a and a.optouts]
    )
    facts: list[AcceptFacts | None] = []
    for (msg, _), ask in zip(items, asks, strict=True):
        if ask is None:
            facts.append(None)
            continue
        stopped = ask.optouts and (msg.to, msg.key) in blocked
        facts.append(
            AcceptFacts(
                optout=blocking_optouts(tx, msg.to, msg.key) if stopped else None,
                consented=ask.consent and not stopped and consent_ok(tx, msg.to, msg.key),
                slots=()
                if ask.slots_since is None
                else tuple(courtesy.planned_slots(tx, msg.to, ask.slots_key, ask.slots_since)),
            )
        )
    verdicts = gate.screen(items, facts)
    out: list[Screened | None] = [None] * len(items)
    taken: list[tuple[int, Facts, str, AcceptVerdict]] = []
    for i, ((msg, info), verdict) in enumerate(zip(items, verdicts, strict=True)):
        if verdict.refusal is not None:
            if msg.client_ref is not None and _known_ref(tx, msg.key, msg.client_ref):
                # An idempotent replay: the insert answers with the original message.
                taken.append((i, info, ids[i], AcceptVerdict(msg=msg)))
            else:
                out[i] = Screened(refusal=verdict.refusal)
            continue
        taken.append((i, info, ids[i], verdict))
    results = ops_accept.accept(tx, [t[3].msg for t in taken], [t[2] for t in taken])
    facts_rows: list[tuple[object, ...]] = []
    reservations: list[tuple[str, str, str, float]] = []
    for (i, info, _, verdict), r in zip(taken, results, strict=True):
        msg = verdict.msg
        out[i] = Screened(
            result=r,
            msg=msg,
            deferred_until=msg.due_at if r.created and msg.status == "deferred" else None,
            note=msg.note,
            reasons=verdict.reasons if r.created else (),
        )
        if not r.created:
            continue
        if info.zones or info.country:
            facts_rows.append((",".join(info.zones), info.country, r.id))
        if verdict.capped:
            at = msg.due_at if msg.due_at is not None else msg.created_at
            reservations.append((r.id, msg.key, msg.to, at))
    if facts_rows:
        tx.conn.executemany("UPDATE messages SET tz = ?, country = ? WHERE id = ?", facts_rows)
    courtesy.reserve(tx, reservations)
    final = [s for s in out if s is not None]
    tx.after_commit(lambda: gate.accepted(final))
    return final


def _known_ref(tx: Tx, key: str, client_ref: str) -> bool:
    row = tx.conn.execute(
        "SELECT 1 FROM messages WHERE key = ? AND client_ref = ?", (key, client_ref)
    ).fetchone()
    return row is not None


class _Candidate(msgspec.Struct, frozen=True):
    mid: int
    to: str
    tz: str | None
    country: str | None
    attempts: int


_CANDIDATE = Columns(_Candidate, columns={"to": "to_number"})


def check_claim(tx: Tx, gate: ClaimGate, infos: Iterable[MsgInfo], now: float) -> dict[int, Change]:
    """Ask the policy about messages about to leave; returns the ones held back (their parts
    already rejected or deferred in this transaction) with the status change to record."""
    relevant = [i for i in infos if gate.polices(i.key, i.msg_class)]
    if not relevant:
        return {}
    rows = _candidates(tx, [i.mid for i in relevant])
    candidates = [
        ClaimCandidate(
            mid=i.mid,
            key=i.key,
            msg_class=i.msg_class,
            to=row.to,
            zones=tuple(row.tz.split(",")) if row.tz else (),
            country=row.country or "",
            attempts=row.attempts,
        )
        for i in relevant
        for row in (rows[i.mid],)
    ]
    asks = gate.claim_asks(candidates, now)
    blocked = opted_out(
        tx, [(c.to, c.key) for c, a in zip(candidates, asks, strict=True) if a.optouts]
    )
    facts = [
        ClaimFacts(
            optout=blocking_optouts(tx, c.to, c.key)
            if a.optouts and (c.to, c.key) in blocked
            else None,
            slots=()
            if a.slots_since is None
            else tuple(courtesy.left_slots(tx, c.to, a.slots_key, a.slots_since, c.mid)),
        )
        for c, a in zip(candidates, asks, strict=True)
    ]
    verdicts = gate.check(candidates, facts, now)
    held: dict[int, Change] = {}
    left: list[tuple[int, str, str, float]] = []
    decided: list[ClaimVerdict] = []
    for info, c, v in zip(relevant, candidates, verdicts, strict=True):
        if v is None:
            continue
        decided.append(v)
        if v.action == "stop":
            held[info.mid] = _stop(tx, info, v, now)
        elif v.action == "defer" and v.until is not None:
            held[info.mid] = _defer(tx, info, v.until, now, v.note)
        elif v.action == "left":
            left.append((info.mid, info.key, c.to, now))
    courtesy.mark_left(tx, left)
    if any(v.action != "left" for v in decided):
        tx.after_commit(lambda: gate.claimed(decided))
    return held


def _candidates(tx: Tx, mids: Sequence[int]) -> dict[int, _Candidate]:
    out: dict[int, _Candidate] = {}
    for i in range(0, len(mids), 500):
        chunk = mids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for row in _CANDIDATE.read(
            tx.conn.execute(
                f"SELECT {_CANDIDATE.select} FROM messages WHERE mid IN ({marks})", chunk
            )
        ):
            out[row.mid] = row
    return out


def _stop(tx: Tx, info: MsgInfo, verdict: ClaimVerdict, now: float) -> Change:
    first, last = info.first_pid, info.first_pid + info.total - 1
    tx.conn.execute(
        "UPDATE parts SET status = 'rejected', done_at = ?, error = ? WHERE pid BETWEEN ? AND ?"
        " AND status IN ('queued', 'scheduled', 'deferred')",
        (now, verdict.error, first, last),
    )
    new = "rejected" if info.total == 1 else derive(tx, info)
    return Change(info, new, verdict.note, verdict.error)


def _defer(tx: Tx, info: MsgInfo, until: float, now: float, note: str) -> Change:
    first, last = info.first_pid, info.first_pid + info.total - 1
    tx.conn.execute(
        "UPDATE parts SET status = 'deferred', due_at = ? WHERE pid BETWEEN ? AND ?"
        " AND status = 'queued'",
        (until, first, last),
    )
    tx.conn.execute(
        "UPDATE messages SET expires_at = expires_at + ? WHERE mid = ?", (until - now, info.mid)
    )
    courtesy.move_planned(tx, info.mid, until)
    new = "deferred" if info.total == 1 else derive(tx, info)
    return Change(info, new, note)


def accept_marked(
    tx: Tx,
    gate: AcceptGate,
    items: Sequence[tuple[NewMessage, Facts]],
    ids: Sequence[str],
    account: str,
    wants_receipt: Sequence[bool],
) -> list[Screened]:
    """Screen and insert a batch from an SMPP server account, and mark the new messages whose
    submit asked for a receipt, all in one transaction."""
    screened = accept_screened(tx, gate, items, ids)
    mark_origin(
        tx,
        account,
        [
            s.result.id
            for s, want in zip(screened, wants_receipt, strict=True)
            if want and s.result is not None and s.result.created
        ],
    )
    return screened
