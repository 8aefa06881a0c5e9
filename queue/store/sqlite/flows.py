"""Flows in SQLite: events, runs and their next step, each change in one transaction.

An event is recorded, and the runs it starts or stops change, in the transaction that stores
it; a due step becomes a message (through the screened accept, so consent, quiet hours and caps
apply) and the run's following step is scheduled in the transaction that marks it sent. The
writer runs one transaction at a time, so a stop event and a step falling due at the same
instant are ordered: either the step is cancelled before it fires, or it fired and its message
is cancelled with it unless it was already claimed for sending (then it is reported sent).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from smsgw.queue.flows.records import (
    DueStep,
    EventResult,
    Fired,
    FlowCounts,
    FlowSpec,
    NewEvent,
    RunRow,
    SkippedRun,
    StepFire,
    StepRow,
    StepStats,
    StoppedRun,
)
from smsgw.queue.model import WAITING, NewMessage
from smsgw.queue.store.screening import AcceptGate, Facts, Screened
from smsgw.queue.store.sqlite import conversions as ops_conversions
from smsgw.queue.store.sqlite import screening as ops_screening
from smsgw.queue.store.sqlite.transitions import Events, refresh_message, set_parts
from smsgw.queue.store.sqlite.writer import Tx

__all__ = [
    "due_steps",
    "fire_steps",
    "flow_stats",
    "next_due",
    "record_events",
    "runs_page",
]

_json = msgspec.json.Encoder()
_data = msgspec.json.Decoder(dict[str, Any])


def _run_id() -> str:
    return "run_" + secrets.token_hex(10)


def _ref_matches(spec: FlowSpec, event_ref: str | None, run_ref: str | None) -> bool:
    return not (spec.match_ref and event_ref and run_ref and event_ref != run_ref)


def record_events(
    tx: Tx,
    events: Events,
    specs: Sequence[FlowSpec],
    items: Sequence[NewEvent],
    ids: Sequence[str],
) -> list[EventResult]:
    """Store events and, in the same transaction, stop and start the runs they call for."""
    out: list[EventResult] = []
    for ev, eid in zip(items, ids, strict=True):
        cur = tx.conn.execute(
            "INSERT INTO flow_events (id, key, type, number, ref, data, at, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (eid, ev.key, ev.type, ev.number, ev.ref, _json.encode(ev.data), ev.at, ev.received_at),
        )
        seq = cur.lastrowid
        stopped: list[StoppedRun] = []
        started: list[tuple[str, str]] = []
        skipped: list[SkippedRun] = []
        for spec in specs:
            if spec.key != ev.key:
                continue
            if ev.type in spec.stop_on:
                stopped += _stop_runs(tx, events, spec, ev, eid)
            if ev.type == spec.trigger:
                run, reason = _start_run(tx, spec, ev, eid, seq)
                if reason is None:
                    started.append((spec.name, run))
                else:
                    skipped.append(SkippedRun(flow=spec.name, reason=reason, run=run))
        out.append(
            EventResult(
                id=eid, started=tuple(started), stopped=tuple(stopped), skipped=tuple(skipped)
            )
        )
    return out


def _stop_runs(tx: Tx, events: Events, spec: FlowSpec, ev: NewEvent, eid: str) -> list[StoppedRun]:
    rows = tx.conn.execute(
        "SELECT rid, id, ref FROM flow_runs WHERE key = ? AND flow = ? AND number = ?"
        " AND state = 'running' ORDER BY rid",
        (ev.key, spec.name, ev.number),
    ).fetchall()
    out: list[StoppedRun] = []
    for rid, run_id, run_ref in rows:
        if not _ref_matches(spec, ev.ref, run_ref):
            continue
        cancelled: list[int] = []
        sent: list[int] = []
        for sid, n, state, message in tx.conn.execute(
            "SELECT sid, n, state, message FROM flow_steps WHERE rid = ? ORDER BY n", (rid,)
        ).fetchall():
            if state == "waiting" or (
                state == "sent"
                and message is not None
                and _cancel_message(tx, events, message, ev.received_at)
            ):
                tx.conn.execute(
                    "UPDATE flow_steps SET state = 'cancelled', event = ?, done_at = ?"
                    " WHERE sid = ?",
                    (eid, ev.received_at, sid),
                )
                cancelled.append(n)
            elif state == "sent":
                sent.append(n)
        tx.conn.execute(
            "UPDATE flow_runs SET state = 'stopped', ended_at = ?, stopped_by = ? WHERE rid = ?",
            (ev.received_at, eid, rid),
        )
        out.append(
            StoppedRun(flow=spec.name, run=run_id, cancelled=tuple(cancelled), sent=tuple(sent))
        )
    return out


def _cancel_message(tx: Tx, events: Events, public_id: str, now: float) -> bool:
    """Cancel a step's message that has not been claimed for sending; whether it was."""
    row = tx.conn.execute(
        "SELECT mid, first_pid, parts_total FROM messages WHERE id = ?", (public_id,)
    ).fetchone()
    if row is None:
        return False
    mid, first, total = row
    statuses = [
        s
        for (s,) in tx.conn.execute(
            "SELECT status FROM parts WHERE pid BETWEEN ? AND ?", (first, first + total - 1)
        )
    ]
    if not statuses or not all(s in WAITING for s in statuses):
        return False
    set_parts(tx, list(range(first, first + total)), "cancelled", now)
    refresh_message(tx, events, mid, now, "cancelled by a flow's stop event")
    return True


def _start_run(
    tx: Tx, spec: FlowSpec, ev: NewEvent, eid: str, seq: int | None
) -> tuple[str, str | None]:
    """Start a run (its first step scheduled), or record it skipped; (run id, reason)."""
    reason: str | None = None
    running = tx.conn.execute(
        "SELECT 1 FROM flow_runs WHERE key = ? AND flow = ? AND number = ? AND state = 'running'"
        " AND ref IS ?",
        (ev.key, spec.name, ev.number, ev.ref),
    ).fetchone()
    if running is not None:
        reason = "running"
    elif spec.once_per is not None and (
        tx.conn.execute(
            "SELECT 1 FROM flow_runs WHERE key = ? AND flow = ? AND number = ?"
            " AND state != 'skipped' AND trigger_at > ?",
            (ev.key, spec.name, ev.number, ev.at - spec.once_per),
        ).fetchone()
        is not None
    ):
        reason = "once_per"
    elif spec.stop_on and _stopped_earlier(tx, spec, ev, seq):
        reason = "stopped"
    run_id = _run_id()
    cur = tx.conn.execute(
        "INSERT INTO flow_runs (id, key, flow, number, ref, data, event, trigger_at, state,"
        " reason, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            ev.key,
            spec.name,
            ev.number,
            ev.ref,
            _json.encode(ev.data),
            eid,
            ev.at,
            "running" if reason is None else "skipped",
            reason,
            ev.received_at,
            None if reason is None else ev.received_at,
        ),
    )
    if reason is None:
        tx.conn.execute(
            "INSERT INTO flow_steps (rid, n, due_at, state) VALUES (?, 1, ?, 'waiting')",
            (cur.lastrowid, ev.at + spec.steps[0].delay),
        )
    return run_id, reason


def _stopped_earlier(tx: Tx, spec: FlowSpec, ev: NewEvent, seq: int | None) -> bool:
    """A stop event of the flow for the number, reported before this trigger but for a time
    at or after it (events out of order): the run would be stopped at once, so it is not
    started."""
    marks = ",".join("?" * len(spec.stop_on))
    for (ref,) in tx.conn.execute(
        f"SELECT ref FROM flow_events WHERE key = ? AND number = ? AND type IN ({marks})"
        " AND at >= ? AND eid < ?",
        (ev.key, ev.number, *spec.stop_on, ev.at, seq),
    ):
        if _ref_matches(spec, ref, ev.ref):
            return True
    return False


def due_steps(tx: Tx, now: float, limit: int) -> list[DueStep]:
    """Waiting steps due at or before ``now``, in due order."""
    rows = tx.conn.execute(
        "SELECT s.sid, r.id, r.flow, r.key, r.number, r.ref, r.data, s.n, s.due_at"
        " FROM flow_steps s JOIN flow_runs r ON r.rid = s.rid"
        " WHERE s.state = 'waiting' AND s.due_at <= ? ORDER BY s.due_at, s.sid LIMIT ?",
        (now, limit),
    ).fetchall()
    return [
        DueStep(
            sid=sid,
            run=run,
            flow=flow,
            key=key,
            number=number,
            ref=ref,
            data=_data.decode(data),
            n=n,
            due_at=due,
        )
        for sid, run, flow, key, number, ref, data, n, due in rows
    ]


def next_due(tx: Tx) -> float | None:
    """The earliest due time of a waiting step."""
    row = tx.conn.execute(
        "SELECT due_at FROM flow_steps WHERE state = 'waiting' ORDER BY due_at, sid LIMIT 1"
    ).fetchone()
    return None if row is None else float(row[0])


def fire_steps(
    tx: Tx,
    gate: AcceptGate,
    specs: Mapping[str, FlowSpec],
    fires: Sequence[StepFire],
    ids: Sequence[str],
    now: float,
) -> tuple[list[Fired], list[Screened]]:
    """Turn due steps into messages (screened like any accept), mark each step, and schedule
    each run's following step; a step no longer waiting (stopped) is left alone."""
    live: list[tuple[StepFire, int, int, str, float]] = []
    out: list[Fired] = []
    id_of = {f.sid: i for f, i in zip(fires, ids, strict=True)}
    for f in fires:
        row = tx.conn.execute(
            "SELECT s.state, s.rid, s.n, r.flow, r.trigger_at FROM flow_steps s"
            " JOIN flow_runs r ON r.rid = s.rid WHERE s.sid = ?",
            (f.sid,),
        ).fetchone()
        if row is None:
            continue
        state, rid, n, flow, trigger_at = row
        if state != "waiting":
            out.append(Fired(sid=f.sid, flow=flow, state="gone"))
            continue
        live.append((f, rid, n, flow, trigger_at))
    sending = [f for f, *_ in live if f.msg is not None and not f.expired]
    items: list[tuple[NewMessage, Facts]] = [(f.msg, f.facts) for f in sending if f.msg]
    msg_ids = [id_of[f.sid] for f in sending]
    screened = ops_screening.accept_screened(tx, gate, items, msg_ids) if items else []
    results = iter(screened)
    for f, rid, n, flow, trigger_at in live:
        message: str | None = None
        reason: str | None = f.reason or None
        floor: float | None = None
        if f.expired:
            state = "expired"
        elif f.msg is None:
            state = "skipped"
            reason = reason or "refused"
        else:
            s = next(results)
            if s.result is not None:
                state, message = "sent", s.result.id
                floor = s.deferred_until
            else:
                state = "skipped"
                reason = s.refusal.code if s.refusal is not None else "refused"
        tx.conn.execute(
            "UPDATE flow_steps SET state = ?, message = ?, reason = ?, done_at = ? WHERE sid = ?",
            (state, message, reason, now, f.sid),
        )
        spec = specs.get(flow)
        completed = spec is None or n >= len(spec.steps)
        if spec is not None and not completed:
            step = spec.steps[n]
            # Its due time as configured, but never before the previous step's message may
            # leave (a policy deferred it): a deferral does not reorder a run's steps. A due
            # time already past fires at the next round, after that message was queued.
            base = now if step.after == "previous" else trigger_at
            due = base + step.delay if floor is None else max(base + step.delay, floor)
            tx.conn.execute(
                "INSERT INTO flow_steps (rid, n, due_at, state) VALUES (?, ?, ?, 'waiting')",
                (rid, n + 1, due),
            )
        if completed:
            tx.conn.execute(
                "UPDATE flow_runs SET state = 'completed', ended_at = ? WHERE rid = ?", (now, rid)
            )
        out.append(
            Fired(
                sid=f.sid,
                flow=flow,
                state=state,
                message=message,
                reason=reason,
                completed=completed,
            )
        )
    return out, screened


def runs_page(
    tx: Tx, key: str, flow: str, number: str | None, after: int, limit: int
) -> list[RunRow]:
    """The flow's runs (of ``number`` only, when given) after the cursor, each with its steps."""
    sql = (
        "SELECT rid, id, flow, number, ref, state, reason, event, started_at, ended_at,"
        " stopped_by FROM flow_runs WHERE key = ? AND flow = ? AND rid > ?"
    )
    args: list[object] = [key, flow, after]
    if number is not None:
        sql += " AND number = ?"
        args.append(number)
    sql += " ORDER BY rid LIMIT ?"
    args.append(limit)
    out: list[RunRow] = []
    for rid, run, fl, num, ref, state, reason, event, started, ended, by in tx.conn.execute(
        sql, args
    ).fetchall():
        steps = tuple(
            StepRow(n=n, state=st, due_at=due, message=msg, event=ev, reason=why, done_at=done)
            for n, st, due, msg, ev, why, done in tx.conn.execute(
                "SELECT n, state, due_at, message, event, reason, done_at FROM flow_steps"
                " WHERE rid = ? ORDER BY n",
                (rid,),
            )
        )
        out.append(
            RunRow(
                cursor=rid,
                id=run,
                flow=fl,
                number=num,
                ref=ref,
                state=state,
                reason=reason,
                event=event,
                started_at=started,
                ended_at=ended,
                stopped_by=by,
                steps=steps,
            )
        )
    return out


_TALLIES = frozenset({"delivered", "messages", "clicks", "clicked"})
"""Per-step figures that are not a step state."""


def flow_stats(
    tx: Tx, key: str, names: Sequence[str]
) -> dict[str, tuple[FlowCounts, list[StepStats]]]:
    """Per flow: its runs by state, and per step how many were scheduled, sent, cancelled,
    skipped, expired, and their messages delivered, their tracked links clicked, and the
    conversions attributed to them with their revenue per currency."""
    out: dict[str, tuple[FlowCounts, list[StepStats]]] = {}
    for name in names:
        counts = dict(
            tx.conn.execute(
                "SELECT state, COUNT(*) FROM flow_runs WHERE key = ? AND flow = ? GROUP BY state",
                (key, name),
            ).fetchall()
        )
        steps: dict[int, dict[str, int]] = {}
        for n, state, total, messages, delivered in tx.conn.execute(
            "SELECT s.n, s.state, COUNT(*), COUNT(s.message), SUM(m.status = 'delivered')"
            " FROM flow_steps s"
            " JOIN flow_runs r ON r.rid = s.rid LEFT JOIN messages m ON m.id = s.message"
            " WHERE r.key = ? AND r.flow = ? GROUP BY s.n, s.state",
            (key, name),
        ):
            d = steps.setdefault(n, {})
            d[state] = total
            d["delivered"] = d.get("delivered", 0) + int(delivered or 0)
            d["messages"] = d.get("messages", 0) + messages
        for n, clicks, clicked in tx.conn.execute(
            "SELECT s.n, SUM(l.clicks), COUNT(DISTINCT CASE WHEN l.clicks > 0 THEN l.mid END)"
            " FROM flow_steps s JOIN flow_runs r ON r.rid = s.rid"
            " JOIN messages m ON m.id = s.message JOIN links l ON l.mid = m.mid"
            " WHERE r.key = ? AND r.flow = ? GROUP BY s.n",
            (key, name),
        ):
            d = steps.setdefault(n, {})
            d["clicks"], d["clicked"] = int(clicks or 0), int(clicked or 0)
        revenue = ops_conversions.revenue_by_step(tx, key, name)
        out[name] = (
            FlowCounts(
                running=counts.get("running", 0),
                completed=counts.get("completed", 0),
                stopped=counts.get("stopped", 0),
                skipped=counts.get("skipped", 0),
            ),
            [
                StepStats(
                    n=n,
                    started=sum(v for k, v in d.items() if k not in _TALLIES),
                    completed=d.get("sent", 0),
                    stopped=d.get("cancelled", 0),
                    skipped=d.get("skipped", 0),
                    expired=d.get("expired", 0),
                    messages=d.get("messages", 0),
                    delivered=d.get("delivered", 0),
                    clicks=d.get("clicks", 0),
                    clicked=d.get("clicked", 0),
                    conversions=revenue.get(n, (0, {}))[0],
                    revenue=revenue.get(n, (0, {}))[1],
                )
                for n, d in sorted(steps.items())
            ],
        )
    return out
