"""Shared builders for tests (imported by test modules; not fixtures)."""

from __future__ import annotations

import time
from typing import Literal

from smsgw.queue.model import MessageClass, NewMessage, rfc3339
from smsgw.queue.store import Store
from smsgw.queue.store.sqlite.store import SqliteStore


def new_message(
    n: int = 0,
    *,
    msg_class: MessageClass = "transactional",
    segments: tuple[str, ...] = ("hello",),
    routes: tuple[str, ...] = ("sim",),
    now: float = 1_000.0,
    key: str = "shop",
    client_ref: str | None = None,
    send_at: float | None = None,
    validity: float = 3600.0,
    callback_url: str | None = None,
    webhook_events: Literal["all", "final"] = "all",
) -> NewMessage:
    return NewMessage(
        key=key,
        to=f"+4917000{n:05d}",
        sender="Shop",
        text="".join(segments),
        encoding="gsm7",
        segments=segments,
        msg_class=msg_class,
        routes=routes,
        ref=n % 256 if len(segments) > 1 else 0,
        ref_bits=8,
        created_at=now,
        expires_at=(send_at or now) + validity,
        send_at=send_at,
        client_ref=client_ref,
        callback_url=callback_url,
        webhook_events=webhook_events,
        status="scheduled" if send_at else "queued",
        due_at=send_at,
    )


async def hold_clock_while_busy(store: object) -> None:
    """Keep trio's autojump clock from jumping while the store's thread works.

    The autojump clock advances whenever every task is blocked, and a task waiting for the
    writer thread counts as blocked: virtual time would fly during each commit. This task stays
    runnable while any store call is outstanding, so virtual time passes only when the system
    is really idle (waiting on its own timers). Test-only: it spins.
    """
    import trio

    writer = store._writer  # type: ignore[attr-defined]
    while True:
        if writer.outstanding:
            await trio.lowlevel.checkpoint()
        else:
            await writer.wait_busy()


def in_a_month() -> str:
    """An RFC 3339 ``send_at`` 30 days from the real now (inside the default horizon)."""
    return rfc3339(time.time() + 30 * 86400)


def sqlite_store(store: Store) -> SqliteStore:
    """The SQLite backend behind ``store``, for a test that looks underneath it (its writer
    thread, its database)."""
    assert isinstance(store, SqliteStore), f"a test of the SQLite backend got {store!r}"
    return store
