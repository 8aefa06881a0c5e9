"""One open serial port speaking AT: pyserial opens it, trio drives its file descriptor.

:class:`AtPort` is the thin trio layer over :class:`~smsgw.drivers.modem.at.AtConversation`:
a reader task feeds it what the tty gives, commands wait for their own result (or their
deadline), URCs go to a channel the owner reads. Transport failures are translated here, once,
by :func:`~smsgw.drivers.modem.link_errors.link_error`: EOF, a read or write error, or a
command that times out all raise :class:`PortGone` (the modem is unusable; close and reopen
it).

Cancellation: cancelling a command leaves the conversation with a pending command; the owner
must then drop the port (a half-answered command poisons the stream anyway).
"""

from __future__ import annotations

import contextlib
import logging
import os
import termios
from collections.abc import Callable
from types import TracebackType

import serial
import trio

from smsgw.drivers.modem.at import (
    AtConversation,
    Command,
    CommandTimeout,
    Prompt,
    RemoteProtocolError,
    Response,
    StrayLine,
    Urc,
)
from smsgw.drivers.modem.link_errors import PortGone, link_error

__all__ = ["AtPort", "PortGone", "open_port", "unwrap_group"]

log = logging.getLogger(__name__)

_Counter = Callable[[str], None]
"""The protocol-error callback: ``fn(kind)``."""

_READ_SIZE = 4096
_URC_BACKLOG = 256


class AtPort:
    """An open tty with a running reader. Use :func:`open_port` to get one.

    ``on_protocol_error(kind)`` is called for each malformed or unexpected line (to count it).
    """

    def __init__(self, path: str, ser: serial.Serial, on_protocol_error: _Counter) -> None:
        self.path = path
        self._ser = ser
        self._stream = trio.lowlevel.FdStream(os.dup(ser.fileno()))
        self._conv = AtConversation()
        self._lock = trio.Lock()
        self._wake = trio.Event()
        self._result: Response | CommandTimeout | Prompt | None = None
        self._gone: str | None = None
        self._urc_send, self.urcs = trio.open_memory_channel[Urc](_URC_BACKLOG)
        self._on_protocol_error = on_protocol_error
        self.expect_strays = False
        """While True, lines that answer nothing are dropped without counting them."""

    # -- lifecycle ---------------------------------------------------------------------------
    async def reader(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Read until EOF or error, then raise :class:`PortGone` (never returns normally)."""
        task_status.started()
        while True:
            try:
                data = await self._stream.receive_some(_READ_SIZE)
            except Exception as e:
                gone = link_error(e, "read failed")
                if gone is None:
                    raise
                self._fail(gone.reason)
                raise PortGone(self._gone or gone.reason) from None
            if not data:
                self._fail("end of file (device removed?)")
                raise PortGone("end of file (device removed?)")
            self._conv.receive_data(data, trio.current_time())
            self._drain()

    def close(self) -> None:
        """Close the descriptor and the serial port; pending waiters see :class:`PortGone`."""
        self._fail("closed")
        self._stream.close()
        self._urc_send.close()
        with contextlib.suppress(OSError, serial.SerialException):
            self._ser.close()

    async def __aenter__(self) -> AtPort:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- commands ----------------------------------------------------------------------------
    async def write_raw(self, data: bytes) -> None:
        """Write bytes outside any command (ESC during sync)."""
        try:
            await self._stream.send_all(data)
        except Exception as e:
            gone = link_error(e, "write failed")
            if gone is None:
                raise
            self._fail(gone.reason)
            raise PortGone(self._gone or gone.reason) from None

    async def command(
        self,
        text: str,
        *,
        timeout: float,
        settle: float | None = None,
        prefixes: tuple[str, ...] = (),
    ) -> Response:
        """Send one command and return its response (OK or an error result code).

        Raises :class:`PortGone` on a timeout (the modem stopped answering) or an I/O error.
        """
        async with self._lock:
            cmd = Command(text, timeout=timeout, settle=settle, prefixes=prefixes)
            await self._send(self._conv.send_command(cmd, trio.current_time()))
            res = await self._wait()
            if isinstance(res, CommandTimeout):
                raise PortGone(f"{_redact(text)}: no answer within {timeout:g} s")
            assert isinstance(res, Response)
            return res

    async def send_sms(
        self,
        length: int,
        pdu_hex: str,
        *,
        prompt_timeout: float,
        send_timeout: float,
        on_pdu: Callable[[], None] | None = None,
    ) -> Response:
        """``AT+CMGS=<length>``, wait for ``>``, write the PDU and Ctrl-Z, return the result.

        ``on_pdu()`` is called just before the PDU is written (the moment the part leaves, for
        pacing). A result before the prompt has ``pdu_sent=False``. Raises :class:`PortGone`
        (with ``pdu_sent``) when the modem does not answer; ESC is written first so a modem
        that is merely slow leaves the prompt.
        """
        async with self._lock:
            cmd = Command(f"AT+CMGS={length}", timeout=prompt_timeout, prompt=True)
            await self._send(self._conv.send_command(cmd, trio.current_time()))
            res = await self._wait()
            if isinstance(res, Prompt):
                data = self._conv.send_pdu(pdu_hex, trio.current_time(), send_timeout)
                if on_pdu is not None:
                    on_pdu()
                await self._send(data)
                res = await self._wait()
            if isinstance(res, CommandTimeout):
                await self._escape()
                raise PortGone(f"AT+CMGS: no {res.phase} within the timeout", pdu_sent=res.pdu_sent)
            assert isinstance(res, Response)
            return res

    # -- internals ---------------------------------------------------------------------------
    async def _send(self, data: bytes) -> None:
        self._result = None
        await self.write_raw(data)

    async def _escape(self) -> None:
        try:
            await self._stream.send_all(self._conv.abort())
        except Exception as e:
            if link_error(e, "write failed") is None:
                raise  # not the port failing: a bug

    async def _wait(self) -> Response | CommandTimeout | Prompt:
        while True:
            if self._result is not None:
                res, self._result = self._result, None
                return res
            if self._gone is not None:
                raise PortGone(self._gone)
            deadline = self._conv.deadline
            with trio.move_on_at(deadline if deadline is not None else float("inf")):
                await self._wake.wait()
            self._wake = trio.Event() if self._wake.is_set() else self._wake
            self._conv.poll(trio.current_time())
            self._drain()

    def _drain(self) -> None:
        while True:
            try:
                ev = self._conv.next_event()
            except RemoteProtocolError as e:  # a line or a response over its cap
                self._on_protocol_error(e.kind)
                continue
            if ev is None:
                return
            if isinstance(ev, Urc):
                try:
                    self._urc_send.send_nowait(ev)
                except trio.WouldBlock:
                    self._on_protocol_error("urc_overflow")
                except (trio.ClosedResourceError, trio.BrokenResourceError):
                    pass  # nobody listens any more: the session is ending
            elif isinstance(ev, StrayLine):
                log.debug("%s: stray line %r", self.path, ev.line)
                if not self.expect_strays:
                    self._on_protocol_error("stray_line")
            else:
                if isinstance(ev, Response) and ev.result.malformed:
                    # "+CMS ERROR: ³8": still the command's end (an unknown code), but counted.
                    self._on_protocol_error("bad_result_code")
                self._result = ev
                self._wake.set()

    def _fail(self, reason: str) -> None:
        if self._gone is None:
            self._gone = reason
        self._wake.set()


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def unwrap_group(group: BaseExceptionGroup[BaseException], *kinds: type[BaseException]) -> None:
    """Raise the first exception of ``kinds`` (in order of preference) found in ``group``.

    Cancellation wins over everything (it is how trio shuts down); a group holding none of
    ``kinds`` is re-raised as it is.
    """
    leaves = _leaves(group)
    if any(isinstance(x, trio.Cancelled) for x in leaves):
        raise group
    for kind in kinds:
        for leaf in leaves:
            if isinstance(leaf, kind):
                raise leaf from None
    raise group


def _redact(text: str) -> str:
    """Commands as they may appear in errors and logs: never with the PIN."""
    return "AT+CPIN=<pin>" if text.upper().startswith("AT+CPIN=") else text


def open_port(path: str, baudrate: int, on_protocol_error: _Counter) -> AtPort:
    """Open ``path`` (a tty or a symlink to one) raw, 8N1, no flow control, exclusively.

    Raises :class:`PortGone` if it cannot be opened (missing, busy, not a tty).
    """
    try:
        ser = serial.Serial(
            path,
            baudrate=baudrate,
            timeout=0,
            write_timeout=0,
            exclusive=True,
            rtscts=False,
            dsrdtr=False,
            xonxoff=False,
        )
    except ValueError as e:  # pyserial's word for a setting it cannot apply (a bad baudrate)
        raise PortGone(f"cannot open {path}: {e}") from None
    except Exception as e:
        gone = link_error(e, f"cannot open {path}")
        if gone is None:
            raise
        raise gone from None
    try:
        # pyserial's timeout=0 sets VMIN=0, with which read() returns b"" (EOF to us) when no
        # byte is waiting. VMIN=1 makes it say EAGAIN instead, so trio waits for readability
        # and b"" really means a hang-up (a removed USB device).
        attrs = termios.tcgetattr(ser.fileno())
        attrs[6][termios.VMIN] = 1
        attrs[6][termios.VTIME] = 0
        termios.tcsetattr(ser.fileno(), termios.TCSANOW, attrs)
    except Exception as e:
        gone = link_error(e, f"cannot configure {path}")
        ser.close()
        if gone is None:
            raise
        raise gone from None
    return AtPort(path, ser, on_protocol_error)
