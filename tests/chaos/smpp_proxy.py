"""An SMPP proxy between the gateway and the SMSC simulator that breaks the link on purpose.

Faults (each counted in :attr:`FaultProxy.faults`):

- ``drop``: every ``drop_every``-th submit_sm closes that bind, mid-window, both sides;
- ``silent``: :meth:`FaultProxy.go_silent` makes one bind's SMSC silent with TCP up: nothing
  is forwarded either way (what the SMSC had accepted still counts as taken) until the
  gateway gives the link up;
- ``late_resp``: one submit_sm_resp in ``late_every`` is held back 50 ms, so the receipt (sent
  by the simulator right behind the response, on any of the account's binds) arrives first.

What the SMSC took is read off the wire: each submit_sm_resp with status 0 adds its submit's
``chaos NNNNNNN`` text to :attr:`FaultProxy.taken`, even when the fault then swallows it.
"""

from __future__ import annotations

import functools
import re
import struct
from collections import Counter
from collections.abc import Awaitable, Callable

import trio

from smsgw.drivers.smpp.codec import Framer

__all__ = ["FaultProxy"]

_SUBMIT_SM = 0x00000004
_SUBMIT_SM_RESP = 0x80000004
_TEXT = re.compile(rb"chaos [0-9]{7}")


class FaultProxy:
    def __init__(self, upstream: int, *, drop_every: int = 97, late_every: int = 5) -> None:
        self.upstream = upstream
        self.drop_every = drop_every
        self.late_every = late_every
        self.port = 0
        self.taken: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.connections = 0
        self._submits = 0
        self._resps = 0
        self._silent: set[int] = set()
        self._open: list[int] = []

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    def open_binds(self) -> list[int]:
        """The connections open now (numbered from 1), silent ones included."""
        return list(self._open)

    def go_silent(self) -> bool:
        """Make the oldest open bind silent (TCP stays up). False when none is open."""
        for conn in self._open:
            if conn not in self._silent:
                self._silent.add(conn)
                self.faults["silent"] += 1
                return True
        return False

    async def _handle(self, esme: trio.SocketStream) -> None:
        self.connections += 1
        conn = self.connections
        self._open.append(conn)
        pending: dict[int, bytes] = {}  # sequence -> text of a submit not yet answered
        try:
            smsc = await trio.open_tcp_stream("127.0.0.1", self.upstream)
        except OSError:
            await esme.aclose()
            return
        to_esme = trio.Lock()
        try:
            async with trio.open_nursery() as nursery:

                async def up() -> None:
                    framer = Framer()
                    async for data in esme:
                        frames, too_large = framer.feed(data)
                        if too_large is not None:
                            break
                        for frame in frames:
                            if conn in self._silent:
                                continue
                            cmd, _, seq = struct.unpack_from(">III", frame, 4)
                            if cmd == _SUBMIT_SM:
                                m = _TEXT.search(frame)
                                pending[seq] = m.group() if m else b""
                                self._submits += 1
                                if self._submits % self.drop_every == 0:
                                    self.faults["drop"] += 1
                                    await smsc.send_all(frame)
                                    nursery.cancel_scope.cancel()  # mid-window
                                    return
                            await smsc.send_all(frame)
                    nursery.cancel_scope.cancel()

                async def down() -> None:
                    framer = Framer()
                    async for data in smsc:
                        frames, too_large = framer.feed(data)
                        if too_large is not None:
                            break
                        for frame in frames:
                            cmd, status, seq = struct.unpack_from(">III", frame, 4)
                            if cmd == _SUBMIT_SM_RESP:
                                text = pending.pop(seq, b"")
                                if status == 0 and text:
                                    self.taken[text.decode()] += 1
                            if conn in self._silent:
                                continue
                            if cmd == _SUBMIT_SM_RESP:
                                self._resps += 1
                                if self._resps % self.late_every == 0:
                                    self.faults["late_resp"] += 1
                                    nursery.start_soon(guarded, functools.partial(late, frame))
                                    continue
                            async with to_esme:
                                await esme.send_all(frame)
                    nursery.cancel_scope.cancel()

                async def late(frame: bytes) -> None:
                    await trio.sleep(0.05)
                    if conn not in self._silent:
                        async with to_esme:
                            await esme.send_all(frame)

                async def guarded(pump: Callable[[], Awaitable[None]]) -> None:
                    try:
                        await pump()
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        nursery.cancel_scope.cancel()

                nursery.start_soon(guarded, up)
                nursery.start_soon(guarded, down)
        finally:
            self._open.remove(conn)
            self._silent.discard(conn)
            with trio.CancelScope(shield=True):
                await esme.aclose()
                await smsc.aclose()
