"""What every link (an SMPP bind, a modem, the simulator's carrier) keeps for an operator:
since when it is up or not, its last error with the time it happened, and an operator's hold.

Both are small, clock-reading-only helpers the transports embed, so that the ops console can
say "down since 14:02:11, last error at 14:02:11: connection refused" and can take a link down
and keep it down until it is asked to reconnect. They import nothing of ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import trio

__all__ = ["LinkMarks", "OperatorHold"]


class LinkMarks:
    """Since-when bookkeeping of one link, in wall-clock (unix) seconds.

    ``since`` moves only when the link crosses the line between up and not up: a link that
    keeps failing to reconnect (``down`` → ``connecting`` → ``down``) stays "down since" the
    moment it was lost, which is what an operator asks. ``last_error`` keeps the last non-empty
    error text and its time; clearing the driver's own "current error" does not erase it.
    """

    __slots__ = ("_now", "last_error", "last_error_at", "since")

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self.since = now()
        self.last_error = ""
        self.last_error_at: float | None = None

    def state_changed(self, old: str, new: str) -> None:
        """Call on every state assignment (cheap: a comparison unless up-ness changes)."""
        if (old == "up") != (new == "up"):
            self.since = self._now()

    def error(self, text: str) -> None:
        """Record an error; an empty text (the driver clearing its current error) is ignored."""
        if text:
            self.last_error = text
            self.last_error_at = self._now()

    def as_dict(self) -> dict[str, object]:
        """The keys a driver adds to its link dict (``DriverState.links``)."""
        return {
            "since": self.since,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


class OperatorHold:
    """An operator's "disconnect this link and keep it down until I say reconnect".

    The link's connection loop calls :meth:`wait_released` before each connection attempt,
    :meth:`serving` with the cancel scope of the connection it serves, and :meth:`backoff`
    instead of sleeping between attempts. :meth:`hold` cancels the connection being served
    (the link then closes it the way it closes any connection: an SMPP bind drains and
    unbinds) and keeps the loop waiting; :meth:`release` lets it connect again at once, and
    also cuts short the backoff of a link that is down for another reason ("reconnect now").
    """

    __slots__ = ("_backoff", "_released", "_scope", "held", "held_since")

    def __init__(self) -> None:
        self.held = False
        self.held_since: float | None = None
        self._released = trio.Event()
        self._released.set()
        self._scope: trio.CancelScope | None = None
        self._backoff: trio.CancelScope | None = None

    def hold(self) -> None:
        """Take the link down (cancel the connection being served) and keep it down."""
        if not self.held:
            self.held = True
            self.held_since = time.time()
            self._released = trio.Event()
        if self._scope is not None:
            self._scope.cancel()

    def release(self) -> None:
        """Let the link connect again now (also ends a backoff pause in progress)."""
        self.held = False
        self.held_since = None
        self._released.set()
        if self._backoff is not None:
            self._backoff.cancel()

    def serving(self, scope: trio.CancelScope) -> None:
        """The connection now served runs in ``scope`` (cancelled at once if held)."""
        self._scope = scope
        if self.held:
            scope.cancel()

    async def wait_released(self) -> None:
        """Return at once unless held; else when released. Cancellation passes through."""
        await self._released.wait()

    async def backoff(self, seconds: float) -> None:
        """Sleep ``seconds`` between connection attempts, or until :meth:`release`."""
        with trio.CancelScope() as scope:
            self._backoff = scope
            await trio.sleep(seconds)
        self._backoff = None
