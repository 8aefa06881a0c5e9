"""Message status changes, inside the writer's transaction, in batches.

Every change of a message's status goes through :func:`apply`: it updates the rows, appends to
the history, queues the status webhook in the same transaction (so a committed change always
has its webhook, and a rolled-back one never does), and registers the metric updates to run
after commit. Operations load the message columns they need with their own query (joined on
the parts they touch, :data:`MSG_COLS`), so a batch of N single-part messages costs a handful
of ``executemany`` calls, not N round trips.

A message's status is derived from its parts (:func:`smsgw.queue.model.derive_status`); for a
one-part message that is the part's status, which callers pass directly.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import NamedTuple

import msgspec

from smsgw.queue.model import FINAL, derive_status, rfc3339
from smsgw.queue.store.sqlite.rows import Columns, scalar
from smsgw.queue.store.sqlite.smpp_held import queue_receipts
from smsgw.queue.store.sqlite.webhooks import Notify, event_ids, insert
from smsgw.queue.store.sqlite.writer import Tx

__all__ = [
    "IN_IDS",
    "MSG",
    "MSG_COLS",
    "Change",
    "Events",
    "MsgInfo",
    "StatusEvent",
    "add_history",
    "apply",
    "derive",
    "id_list",
    "load_infos",
    "refresh_message",
    "set_parts",
]


class MsgInfo(msgspec.Struct, frozen=True):
    """The message columns a status change needs, read by name (:data:`MSG`)."""

    mid: int
    status: str
    total: int
    first_pid: int
    msg_class: str
    created_at: float
    callback_url: str | None
    key: str
    public_id: str
    client_ref: str | None
    error: str | None
    webhook_events: str | None
    """``final``: only the final status gets a webhook; None (all): every change does."""


MSG = Columns(MsgInfo, prefix="m", columns={"total": "m.parts_total", "public_id": "m.id"})
""":class:`MsgInfo` from a message table aliased ``m`` (joined on parts, or alone)."""
MSG_COLS = MSG.select
"""The SELECT list of :data:`MSG`, for joins that read more columns beside it."""


class Change(NamedTuple):
    info: MsgInfo
    status: str
    note: str
    error: str | None = None
    route: str | None = None


class StatusEvent(msgspec.Struct, frozen=True):
    """A message reached a new status (for metrics and wake-ups, after commit)."""

    msg_class: str
    status: str
    created_at: float
    at: float


class Events:
    """Hooks the store installs; called in the writer thread after commit."""

    def __init__(self) -> None:
        self.on_status: Callable[[Sequence[StatusEvent]], None] = lambda events: None
        self.on_webhooks: Notify = lambda lanes: None
        """Webhook rows were committed, per (key, origin)."""
        self.on_smpp_held: Callable[[], None] = lambda: None
        """Receipts for SMPP server accounts were committed."""


_json = msgspec.json.Encoder()

IN_IDS = "IN (SELECT value FROM json_each(?))"
"""``WHERE pid {IN_IDS}`` with :func:`id_list` as its parameter: one statement, one bound
value and one cached plan for any number of rows."""


def id_list(ids: Iterable[int] | Iterable[str]) -> str:
    """Row ids (or other keys) as the JSON array :data:`IN_IDS` reads."""
    return _json.encode(list(ids)).decode()


def set_parts(
    tx: Tx,
    pids: Sequence[int],
    status: str,
    now: float,
    *,
    error: str | None = None,
) -> None:
    """Set the status of parts; ``done_at`` is stamped for final ones (one statement)."""
    if not pids:
        return
    if status in FINAL:
        tx.conn.execute(
            "UPDATE parts SET status = ?, done_at = ?, error = coalesce(?, error)"
            f" WHERE pid {IN_IDS}",
            (status, now, error, id_list(pids)),
        )
    else:
        tx.conn.execute(
            f"UPDATE parts SET status = ?, error = coalesce(?, error) WHERE pid {IN_IDS}",
            (status, error, id_list(pids)),
        )


def add_history(tx: Tx, entries: dict[tuple[float, str, str], list[int]]) -> None:
    """History rows, given as (time, status, note) -> message ids: one INSERT for each entry
    shared by several messages, one executemany for the rest."""
    singles: list[tuple[object, ...]] = []
    for (at, status, note), mids in entries.items():
        if len(mids) == 1:
            singles.append((mids[0], at, status, note))
        else:
            tx.conn.execute(
                "INSERT INTO history (mid, at, status, note)"
                " SELECT value, ?, ?, ? FROM json_each(?)",
                (at, status, note, id_list(mids)),
            )
    if singles:
        tx.conn.executemany("INSERT INTO history (mid, at, status, note) VALUES (?,?,?,?)", singles)


def load_infos(tx: Tx, mids: Iterable[int]) -> dict[int, MsgInfo]:
    """Message columns for ``mids`` (in chunks: SQLite caps bound parameters)."""
    ids = list(dict.fromkeys(mids))
    out: dict[int, MsgInfo] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for info in MSG.read(
            tx.conn.execute(f"SELECT {MSG_COLS} FROM messages m WHERE m.mid IN ({marks})", chunk)
        ):
            out[info.mid] = info
    return out


def derive(tx: Tx, info: MsgInfo) -> str:
    """The message's status from its parts as they are now in this transaction."""
    first, total = info.first_pid, info.total
    if total == 1:
        return str(scalar(tx.conn.execute("SELECT status FROM parts WHERE pid = ?", (first,))))
    return derive_status(
        status
        for (status,) in tx.conn.execute(
            "SELECT status FROM parts WHERE pid BETWEEN ? AND ?", (first, first + total - 1)
        )
    )


def apply(
    tx: Tx,
    events: Events,
    changes: Sequence[Change],
    now: float,
    *,
    attempted: Collection[int] = (),
) -> int:
    """Record status changes (a change to the same status only adds history when it moves the
    message to another route). Returns how many messages changed status.

    ``attempted``: messages whose ``attempts`` count goes up by one (a part was handed to a
    route), in the same UPDATE as their status.

    Rows are written set-wise: changes that write the same values share one UPDATE over a
    list of ids, and history entries with the same status and note one INSERT, so a batch of
    N messages is a few statements whatever N is.
    """
    conn = tx.conn
    if attempted:
        attempted = set(attempted)
        bumped = [c.info.mid for c in changes if c.info.mid in attempted and _skipped(c)]
        if bumped:
            conn.execute(
                f"UPDATE messages SET attempts = attempts + 1 WHERE mid {IN_IDS}",
                (id_list(bumped),),
            )
    # (status, done, error or None to keep, route or None to keep, attempted) -> mids
    updates: dict[tuple[str, int, str | None, str | None, bool], list[int]] = {}
    history: dict[tuple[float, str, str], list[int]] = {}
    hooks: list[tuple[MsgInfo, str, str, str | None]] = []
    emitted: list[StatusEvent] = []
    finals: list[int] = []
    for info, new, note, error, route in changes:
        if new == info.status and route is None:
            continue
        done = int(new in FINAL)
        mid = info.mid
        updates.setdefault((new, done, error, route, mid in attempted), []).append(mid)
        history.setdefault((now, new, note), []).append(mid)
        if new == info.status:
            continue
        # Decided here, where rows are written: a key or message that asked for the final
        # status only gets nothing stored for the changes before it.
        if info.callback_url and (done or info.webhook_events != "final"):
            hooks.append((info, new, note, error))
        if done or new == "submitted":
            emitted.append(StatusEvent(info.msg_class, new, info.created_at, now))
        if done:
            finals.append(mid)
    for (new, done, error, route, bump), mids in updates.items():
        conn.execute(
            "UPDATE messages SET status = ?, done = ?, updated_at = ?, error = coalesce(?, error),"
            " route = coalesce(?, route)" + (", attempts = attempts + 1" if bump else "")
            + f" WHERE mid {IN_IDS}",
            (new, done, now, error, route, id_list(mids)),
        )  # fmt: skip
    add_history(tx, history)
    if hooks:
        _queue_webhooks(tx, events, hooks, now)
    if finals:
        queue_receipts(tx, finals, now, events.on_smpp_held)
    if emitted:
        tx.after_commit(lambda: events.on_status(emitted))
    return len(emitted)


def _queue_webhooks(
    tx: Tx, events: Events, hooks: Sequence[tuple[MsgInfo, str, str, str | None]], now: float
) -> None:
    """The status webhooks of these changes, each with its own event id, in the order of the
    changes (a message's rows go out in row order)."""
    at = rfc3339(now)
    rows: list[tuple[str, str, bytes, int | None, str]] = []
    for (info, new, note, error), event_id in zip(hooks, event_ids(len(hooks)), strict=True):
        body = _json.encode(
            {
                "event": "message.status",
                "event_id": event_id,
                "id": info.public_id,
                "client_ref": info.client_ref,
                "status": new,
                "previous_status": info.status,
                "at": at,
                "error": error if error is not None else info.error,
                "note": note or None,
            }
        )
        assert info.callback_url is not None
        rows.append((info.key, info.callback_url, body, info.mid, event_id))
    insert(tx, rows, now, events.on_webhooks)


def _skipped(change: Change) -> bool:
    """:func:`apply` writes nothing to the message row for this change."""
    return change.status == change.info.status and change.route is None


def refresh_message(
    tx: Tx,
    events: Events,
    mid: int,
    now: float,
    note: str = "",
    *,
    error: str | None = None,
    route: str | None = None,
) -> str | None:
    """Derive one message's status from its parts and record a change; returns the new status,
    or None when it did not change."""
    info = load_infos(tx, [mid]).get(mid)
    if info is None:
        return None
    new = derive(tx, info)
    apply(tx, events, [Change(info, new, note, error, route)], now)
    return new if new != info.status else None
