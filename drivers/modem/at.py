"""The AT-command conversation with one modem, sans-IO: bytes in, events out.

Nothing here reads a clock or touches a file descriptor. The driver writes what
:meth:`AtConversation.send_command` returns, feeds what it reads to
:meth:`AtConversation.receive_data` (with the time it read it), and pulls events with
:meth:`AtConversation.next_event` until it gets ``None``. Deadlines are checked when the driver
calls :meth:`AtConversation.poll` with the current time, so timeouts are events too.

What real modems do, and what this parser survives (V.250 §5.7, 3GPP TS 27.007/27.005):

* Lines end in CR, LF, CRLF or CR CR LF; empty lines are framing and are skipped.
* Unsolicited result codes (+CMTI, RING, ^RSSI, RDY, ...) arrive anywhere: before the echo,
  around the ``>`` prompt, between an information line and its OK. Lines are classified by
  their prefix, never by their position; a URC never completes nor extends a command.
* The echo may be on, doubled, or split in pieces by URCs (a Huawei E3372 sends ``A``, two
  URCs, then ``T+CGMI``); echo pieces are recognised and dropped.
* The SMS prompt is ``> `` or a bare ``>``, with or without a line end.
* Final result codes include ``COMMAND NOT SUPPORT`` (Huawei); ``+CPIN: READY`` may come
  without an OK (old Wavecom): a command built with ``settle`` completes that long after its
  information line if no final result code follows.
* ``+CMT``/``+CDS`` in PDU mode are two lines: a header and the PDU; the event carries both.
* A line longer than :data:`MAX_LINE` raises :class:`LineTooLong` once; the parser then skips
  to the next line end. A command's information lines past :data:`MAX_RESPONSE` raise
  :class:`ResponseTooLong` once and are dropped. So memory stays bounded whatever the modem
  sends.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from dataclasses import dataclass, field

from smsgw.drivers.modem.lines import (
    BOOT_URCS,
    CALL_FINALS,
    TWO_LINE_URCS,
    FinalKind,
    FinalResult,
    is_pdu_header,
    parse_final,
    urc_name,
)

_HEX = re.compile(r"^[0-9A-Fa-f]+\Z")  # \Z: "$" also matches before a final "\n"

__all__ = [
    "BOOT_URCS",
    "MAX_LINE",
    "MAX_RESPONSE",
    "AtConversation",
    "AtError",
    "Command",
    "CommandTimeout",
    "Event",
    "FinalKind",
    "FinalResult",
    "LineTooLong",
    "LocalProtocolError",
    "Prompt",
    "RemoteProtocolError",
    "Response",
    "ResponseTooLong",
    "State",
    "StrayLine",
    "Urc",
]

MAX_LINE = 4096
"""Longest line accepted from a modem, in bytes (a 176-octet PDU in hex is ~400)."""

MAX_RESPONSE = 1 << 20
"""Most text one command may collect in information lines, in bytes (a full 500-slot
+CMGL listing is ~200 KiB); beyond it :class:`ResponseTooLong`."""

CTRL_Z = b"\x1a"
ESC = b"\x1b"


class AtError(Exception):
    """Base of the AT layer's errors."""


class LocalProtocolError(AtError):
    """We used the conversation wrongly (a command while another is pending, bad text)."""


class RemoteProtocolError(AtError):
    """The modem sent something we refuse; the conversation stays usable.

    ``kind`` is the bounded label for ``smsgw_protocol_errors_total{kind}``.
    """

    kind = "remote_protocol_error"


class LineTooLong(RemoteProtocolError):
    """A line longer than :data:`MAX_LINE` bytes; it was discarded."""

    kind = "line_too_long"


class ResponseTooLong(RemoteProtocolError):
    """A command's information lines passed :data:`MAX_RESPONSE` bytes; later ones are
    dropped (raised once per command), the command still ends with its result or timeout."""

    kind = "response_too_long"


@dataclass(frozen=True, slots=True)
class Command:
    """One command line to send (without the trailing CR).

    ``prefixes`` are the information-response prefixes this command expects (default: its own
    name, ``+CPMS`` for ``AT+CPMS="SM"``); a URC-looking line with one of them is taken as the
    response. ``prompt`` says the modem answers ``>`` before the final result (AT+CMGS).
    ``settle``: complete this many seconds after an expected information line even without a
    final result code (for modems that omit the OK).
    """

    text: str
    timeout: float = 10.0
    prompt: bool = False
    prefixes: tuple[str, ...] = ()
    settle: float | None = None

    def expected_prefixes(self) -> tuple[str, ...]:
        if self.prefixes:
            return self.prefixes
        m = re.match(r"^AT([+^*$%][A-Za-z0-9]+)", self.text, re.I)
        return (m.group(1).upper(),) if m else ()


@dataclass(frozen=True, slots=True)
class Response:
    """A command completed with a final result code; ``lines`` are its information lines."""

    command: Command
    lines: tuple[str, ...]
    result: FinalResult
    pdu_sent: bool = False
    """True when the PDU had been written before this result (an error may still mean sent)."""

    @property
    def ok(self) -> bool:
        return self.result.ok

    def first(self, prefix: str) -> str | None:
        """The text after ``prefix:`` in the first line that has it, stripped; None if none."""
        p = prefix.upper()
        for line in self.lines:
            if line.upper().startswith(p):
                rest = line[len(p) :]
                if rest.startswith(":"):
                    return rest[1:].strip()
        return None


@dataclass(frozen=True, slots=True)
class Prompt:
    """The modem is ready for the PDU (``> ``)."""

    command: Command


@dataclass(frozen=True, slots=True)
class CommandTimeout:
    """No final result code before the deadline; the command is abandoned."""

    command: Command
    lines: tuple[str, ...]
    phase: str
    """``"prompt"`` (waiting for ``>``) or ``"response"``."""
    pdu_sent: bool = False


@dataclass(frozen=True, slots=True)
class Urc:
    """An unsolicited result code; ``pdu`` is the second line of a PDU-mode +CMT/+CDS."""

    name: str
    """Upper-case prefix without the colon (``+CMTI``, ``^RSSI``) or the whole word (``RING``)."""
    line: str
    pdu: str | None = None

    @property
    def args(self) -> str:
        """The text after the first colon, stripped ("" for word URCs)."""
        _, sep, rest = self.line.partition(":")
        return rest.strip() if sep else ""

    @property
    def boot(self) -> bool:
        """True for lines a modem prints when it starts (RDY, SMS Ready, ^SYSSTART...)."""
        return self.name in BOOT_URCS


@dataclass(frozen=True, slots=True)
class StrayLine:
    """A line that is neither a URC nor part of a pending command (late OK, garbage)."""

    line: str


Event = Response | Prompt | CommandTimeout | Urc | StrayLine


class State(enum.Enum):
    """Where the conversation stands; moves follow :data:`_TRANSITIONS`."""

    IDLE = "idle"
    WAIT_PROMPT = "wait_prompt"
    PROMPTED = "prompted"
    WAIT_FINAL = "wait_final"


# (state, what happened) -> next state. Anything else is a LocalProtocolError.
_TRANSITIONS: dict[tuple[State, str], State] = {
    (State.IDLE, "send"): State.WAIT_FINAL,
    (State.IDLE, "send_prompt"): State.WAIT_PROMPT,
    (State.WAIT_PROMPT, "prompt"): State.PROMPTED,
    (State.WAIT_PROMPT, "final"): State.IDLE,
    (State.WAIT_PROMPT, "timeout"): State.IDLE,
    (State.WAIT_PROMPT, "abort"): State.IDLE,
    (State.PROMPTED, "pdu"): State.WAIT_FINAL,
    (State.PROMPTED, "final"): State.IDLE,
    (State.PROMPTED, "timeout"): State.IDLE,
    (State.PROMPTED, "abort"): State.IDLE,
    (State.WAIT_FINAL, "final"): State.IDLE,
    (State.WAIT_FINAL, "timeout"): State.IDLE,
    (State.WAIT_FINAL, "abort"): State.IDLE,
    (State.IDLE, "abort"): State.IDLE,
}


@dataclass(slots=True)
class _Pending:
    command: Command
    deadline: float
    echo: str
    lines: list[str] = field(default_factory=list)
    echo_partial: str = ""
    settle_at: float | None = None
    pdu_sent: bool = False
    size: int = 0
    """Bytes in ``lines``, bounded by :data:`MAX_RESPONSE`."""
    overflow: bool = False


class AtConversation:
    """The state of one modem's AT conversation. Not thread-safe; one owner drives it.

    Typical use::

        data = conv.send_command(Command("AT+CSQ", timeout=5), now)
        ... write data; read chunk ...
        conv.receive_data(chunk, now)
        while (ev := conv.next_event()) is not None: ...
        conv.poll(now)  # when conv.deadline has passed
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skipping = False
        self._events: deque[Event] = deque()
        self._state = State.IDLE
        self._pending: _Pending | None = None
        self._two_line: Urc | None = None
        self._now = 0.0

    # -- state ---------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    @property
    def pending(self) -> Command | None:
        """The command waiting for its result, if any."""
        return self._pending.command if self._pending else None

    @property
    def deadline(self) -> float | None:
        """When :meth:`poll` must next be called, or None when nothing waits on time."""
        p = self._pending
        if p is None:
            return None
        if p.settle_at is not None:
            return min(p.deadline, p.settle_at)
        return p.deadline

    def _move(self, what: str) -> None:
        nxt = _TRANSITIONS.get((self._state, what))
        if nxt is None:
            raise LocalProtocolError(f"cannot {what} in state {self._state.value}")
        self._state = nxt

    # -- host side -----------------------------------------------------------------------
    def send_command(self, command: Command, now: float) -> bytes:
        """Bytes to write for ``command``; its deadline is ``now + command.timeout``.

        Raises :class:`LocalProtocolError` if a command is pending or the text is not one
        printable ASCII line.
        """
        text = command.text
        if not text or not all(" " <= ch <= "~" for ch in text):
            raise LocalProtocolError(f"command must be one printable ASCII line: {text!r}")
        self._move("send_prompt" if command.prompt else "send")
        self._pending = _Pending(command, now + command.timeout, echo=text.upper())
        self._now = now
        return text.encode("ascii") + b"\r"

    def send_pdu(self, pdu_hex: str, now: float, timeout: float) -> bytes:
        """Bytes to write after a :class:`Prompt`: the PDU in hex and Ctrl-Z (27.005 §3.5.1).

        The command's deadline becomes ``now + timeout`` (a send can take a long time).
        """
        if not pdu_hex or not _HEX.match(pdu_hex):
            raise LocalProtocolError("PDU must be non-empty hex")
        self._move("pdu")
        p = self._pending
        assert p is not None
        p.deadline = now + timeout
        p.echo = pdu_hex.upper()
        p.echo_partial = ""
        p.lines.clear()
        p.size = 0
        p.pdu_sent = True
        return pdu_hex.encode("ascii") + CTRL_Z

    def abort(self) -> bytes:
        """Forget the pending command and return ESC (ends a half-finished +CMGS)."""
        self._move("abort")
        self._pending = None
        return ESC

    def reset(self) -> None:
        """Forget everything (after reopening the port): buffer, events, pending command."""
        self._buf.clear()
        self._skipping = False
        self._events.clear()
        self._state = State.IDLE
        self._pending = None
        self._two_line = None

    # -- modem side ----------------------------------------------------------------------
    def receive_data(self, data: bytes, now: float) -> None:
        """Buffer bytes read from the modem at time ``now``; parse them in :meth:`next_event`.

        ``b""`` (EOF) is not special here: the driver decides the port is gone.
        """
        self._now = now
        if self._skipping:
            # Drop the rest of an overlong line without growing the buffer.
            cut = _first_eol(data)
            if cut < 0:
                return
            self._skipping = False
            data = data[cut:]
        self._buf += data

    def poll(self, now: float) -> None:
        """Turn passed deadlines into events (a timeout, or a settled response)."""
        self._now = now
        p = self._pending
        if p is None:
            return
        if p.settle_at is not None and now >= p.settle_at:
            implied = FinalResult(FinalKind.OK, line="", implied=True)
            self._finish(Response(p.command, tuple(p.lines), implied, p.pdu_sent))
        elif now >= p.deadline:
            phase = "response" if self._state is State.WAIT_FINAL else "prompt"
            self._move("timeout")
            self._pending = None
            self._events.append(CommandTimeout(p.command, tuple(p.lines), phase, p.pdu_sent))

    def next_event(self) -> Event | None:
        """The next event, or None when more bytes (or a later :meth:`poll`) are needed.

        Raises :class:`LineTooLong` once per overlong line and :class:`ResponseTooLong` once
        per command whose lines pass :data:`MAX_RESPONSE`; call again to continue.
        """
        while not self._events:
            if not self._parse_one():
                return None
        return self._events.popleft()

    # -- parsing -------------------------------------------------------------------------
    def _parse_one(self) -> bool:
        buf = self._buf
        i = 0
        while i < len(buf) and buf[i] in (0x0D, 0x0A, 0x00):
            i += 1
        if i:
            del buf[:i]
        if not buf:
            return False
        if self._state is State.WAIT_PROMPT and buf[0] == 0x3E:  # ">"
            del buf[:1]
            if buf[:1] == b" ":
                del buf[:1]
            self._move("prompt")
            assert self._pending is not None
            self._events.append(Prompt(self._pending.command))
            return True
        cut = _first_eol(buf)
        if cut < 0:
            if len(buf) > MAX_LINE:
                del buf[:]
                self._skipping = True
                raise LineTooLong(f"line longer than {MAX_LINE} bytes")
            return False
        raw = bytes(buf[:cut])
        del buf[: cut + 1]
        if len(raw) > MAX_LINE:
            raise LineTooLong(f"line longer than {MAX_LINE} bytes")
        # latin-1 maps every byte; Ctrl-Z and NUL can trail an echoed PDU.
        text = raw.decode("latin-1").replace("\x1a", "").replace("\x00", "").strip()
        if text:
            self._line(text)
        return True

    def _line(self, s: str) -> None:
        if self._two_line is not None:
            head, self._two_line = self._two_line, None
            if _HEX.match(s):
                self._events.append(Urc(head.name, head.line, pdu=s.upper()))
                return
            self._events.append(head)  # header without its PDU: report what we have
        p = self._pending
        if p is not None and self._echo(p, s):
            return
        final = parse_final(s)
        up = s.upper()
        # We never dial; call-progress words are noise from an incoming call.
        if (
            final is not None
            and final.kind.value in CALL_FINALS
            and (p is None or not p.command.text.upper().startswith(("ATD", "ATA")))
        ):
            final = None
        if final is not None:
            if p is not None and self._state is not State.IDLE:
                self._finish(Response(p.command, tuple(p.lines), final, p.pdu_sent))
            else:
                self._events.append(StrayLine(s))
            return
        name = urc_name(s)
        expected = p is not None and any(
            up.startswith(pre) and up[len(pre) : len(pre) + 1] in (":", "")
            for pre in p.command.expected_prefixes()
        )
        if name is not None and not expected:
            if name in TWO_LINE_URCS and is_pdu_header(s):
                self._two_line = Urc(name, s)
            else:
                self._events.append(Urc(name, s))
            return
        if p is not None and self._state in (State.WAIT_FINAL, State.WAIT_PROMPT):
            if expected and p.command.settle is not None and p.settle_at is None:
                p.settle_at = self._now + p.command.settle
            if not p.lines or p.lines[-1] != s:  # a doubled echo repeats the response too
                if p.size + len(s) > MAX_RESPONSE:
                    if not p.overflow:
                        p.overflow = True
                        raise ResponseTooLong(f"response longer than {MAX_RESPONSE} bytes")
                    return
                p.size += len(s)
                p.lines.append(s)
            return
        self._events.append(StrayLine(s))

    def _echo(self, p: _Pending, s: str) -> bool:
        """Consume ``s`` if it is the echo of the pending command (or a piece of it)."""
        if p.lines:
            return False  # echo only precedes the response
        up = s.upper().replace(" ", "") if p.pdu_sent else s.upper()
        cand = p.echo_partial + up
        if not p.echo.startswith(cand):
            return False
        if not p.echo_partial and not p.pdu_sent and not up.startswith("A"):
            return False
        p.echo_partial = "" if cand == p.echo else cand
        return True

    def _finish(self, ev: Response) -> None:
        self._move("final")
        self._pending = None
        self._events.append(ev)


def _first_eol(data: bytes | bytearray) -> int:
    cr = data.find(b"\r")
    lf = data.find(b"\n")
    if cr < 0:
        return lf
    if lf < 0:
        return cr
    return min(cr, lf)
