"""A GSM modem emulator on a real pseudo-terminal, for tests and ``smsgw bench --route modem``.

The emulator owns the master side of a pty (``os.openpty``); the driver opens the slave path
(:attr:`ModemEmulator.path`, or the stable symlink :attr:`ModemEmulator.link`) with pyserial,
exactly as it opens a USB modem. It speaks enough of TS 27.007/27.005 in PDU mode for an SMS
gateway, with the quirks of a :class:`~smsgw.drivers.modem.personalities.Personality`.

Faults a test (or a bench) can cause: :meth:`~ModemEmulator.hang` (stop answering),
:meth:`~ModemEmulator.reboot` (boot lines, settings lost), :meth:`~ModemEmulator.unplug` /
:meth:`~ModemEmulator.replug` (the tty vanishes, then comes back under a new name behind the
same symlink, as udev does), :meth:`~ModemEmulator.fail_next_send`,
:meth:`~ModemEmulator.emit` / :meth:`~ModemEmulator.say` (raw bytes, now: line noise, a
corrupted result line, half a line). Inbound messages are injected with
:meth:`~ModemEmulator.inject_sms`. What the host did is observable:
:attr:`~ModemEmulator.log` (every command line), :attr:`~ModemEmulator.sent`, and
:meth:`~ModemEmulator.wait_until` to wait on a condition without sleeping.

Cancellation: :meth:`ModemEmulator.run` closes the pty and removes the symlink on the way out.
"""

from __future__ import annotations

import contextlib
import os
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from smsgw.drivers.modem.emulator_pdus import (
    deliver_pdu,
    read_submit,
    status_report_pdu,
    tpdu_length,
)
from smsgw.drivers.modem.personalities import PERSONALITIES, Personality
from smsgw.drivers.modem.sms_pdu import PduError
from smsgw.drivers.text import parse_decimal

__all__ = ["PERSONALITIES", "ModemEmulator", "Personality", "SentSms"]

_EOL = b"\r\n"


@dataclass(frozen=True, slots=True)
class SentSms:
    """One SMS-SUBMIT the host sent through the emulator."""

    mr: int
    to: str
    text: str
    concat: tuple[int, int, int] | None
    """(ref, total, seq) from the UDH, if any."""
    srr: bool
    at: float


@dataclass(slots=True)
class _Settings:
    echo: bool = True
    cmgf: int = 0
    quiet: bool = False
    cnmi: tuple[int, ...] = (0, 0, 0, 0, 0)
    csms: int = 0
    busy: int = 0
    cmms: int = 0
    pin_locked: bool = False
    registered_at: float = 0.0
    cnma_pending: list[bytes] = field(default_factory=list)


class ModemEmulator:
    """One emulated modem. Start it with ``await nursery.start(emu.run)``.

    ``personality``: a :class:`Personality` or the name of a built-in one. ``link``: a path for
    a stable symlink to the current pty (like ``/dev/serial/by-id/...``); it follows
    :meth:`replug`. ``stored``: (sender, text) messages already in storage at power-on.
    """

    def __init__(
        self,
        personality: Personality | str = "generic",
        *,
        link: str | None = None,
        stored: list[tuple[str, str]] | None = None,
    ) -> None:
        self.personality = (
            PERSONALITIES[personality] if isinstance(personality, str) else personality
        )
        self.link = link
        self.path = ""
        self.log: list[str] = []
        self.sent: list[SentSms] = []
        self.storage: dict[int, tuple[int, str]] = {}
        """index -> (<stat>, PDU hex); stat 0 unread, 1 read."""
        self.cnma_count = 0
        self.hung = False
        self.send_delay = self.personality.send_delay
        self._p = self.personality
        self._s = _Settings(echo=self.personality.echo_on_reset)
        self._mr = self._p.mr_start
        self._pin_attempts = self._p.pin_attempts
        self._fail: list[tuple[int, bool, bytes | None]] = []
        self._master: trio.lowlevel.FdStream | None = None
        self._slave_fd: int | None = None
        self._write_lock = trio.Lock()
        self._changed = trio.Event()
        self._plugged = trio.Event()
        self._nursery: trio.Nursery | None = None
        for sender, text in stored or []:
            self._store(self._deliver_pdu(sender, text, None))

    # -- running -----------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; started once :attr:`path` (and :attr:`link`) exist."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._power_on()
                self._open_pty()
                nursery.start_soon(self._noise_loop)
                task_status.started()
                while True:
                    await self._plugged.wait()
                    await self._serve_until_unplugged()
        finally:
            self._close_pty()
            self._remove_link()

    async def _serve_until_unplugged(self) -> None:
        master = self._master
        assert master is not None
        buf = bytearray()
        pdu_mode = False
        while True:
            try:
                data = await master.receive_some(4096)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                return  # unplugged (we hold the slave open, so nothing else ends a read)
            if self.hung:
                continue
            for byte in data:
                ch = bytes([byte])
                if pdu_mode:
                    if byte == 0x1B:
                        pdu_mode = False
                        buf.clear()
                        await self._write(_EOL + b"OK" + _EOL)
                    elif byte == 0x1A:
                        pdu_mode = False
                        pdu = buf.decode("latin-1").strip()
                        buf.clear()
                        await self._on_pdu(pdu)
                    else:
                        if self._s.echo:
                            await self._write(ch)
                        buf += ch
                    continue
                if byte == 0x0D:
                    line = buf.decode("latin-1").strip()
                    buf.clear()
                    if line:
                        pdu_mode = await self._on_command(line)
                elif byte in (0x0A, 0x1B, 0x1A):
                    continue
                elif len(buf) < 1024:
                    buf += ch

    # -- faults and injection ----------------------------------------------------------------
    def hang(self) -> None:
        """Stop answering (input is read and ignored) until :meth:`unhang`."""
        self.hung = True

    def unhang(self) -> None:
        self.hung = False

    async def reboot(self) -> None:
        """Restart: settings are lost, the SIM locks again, boot lines are printed."""
        self.hung = False
        self._power_on()
        for line in self._p.boot_lines:
            await self._write(_EOL + line + _EOL)
        self._notify()

    async def unplug(self) -> None:
        """The USB device vanishes: the tty (and the symlink target) is gone."""
        self._close_pty()
        self._notify()

    async def replug(self) -> None:
        """The device comes back under a new tty name; the symlink follows it."""
        self.hung = False
        self._power_on()
        # Hold the old number while the new tty is made, as the kernel hands a re-plugged
        # USB modem the next free ttyUSBn.
        spare = os.openpty()
        self._open_pty()
        os.close(spare[0])
        os.close(spare[1])
        self._notify()

    async def emit(self, raw: bytes) -> None:
        """Print ``raw`` to the host as it is, as line noise, a corrupted byte or a firmware bug
        would (``b"\\r\\n+CMS ERROR: \\xb38\\r\\n"``); the same as :meth:`say`."""
        await self._write(raw)

    def fail_next_send(
        self, code: int, *, sent_anyway: bool = False, line: bytes | None = None
    ) -> None:
        """The next AT+CMGS answers ``+CMS ERROR: code`` (and still sends if ``sent_anyway``).

        ``line`` replaces that final line byte for byte (a broken modem's ``+CMS ERROR: \xb38``).
        """
        self._fail.append((code, sent_anyway, line))

    async def say(self, data: bytes) -> None:
        """Write ``data`` to the host now, as it is: garbage, a stray result, half a line."""
        await self._write(data)

    async def inject_sms(
        self,
        sender: str,
        parts: list[str] | str,
        *,
        ref: int = 7,
        only: set[int] | None = None,
        direct: bool = False,
    ) -> list[int]:
        """A message from ``sender`` arrives: stored and announced with +CMTI, or delivered
        directly with +CMT when ``direct`` (or when the host asked for that with AT+CNMI).

        A list of texts arrives as a concatenated message (8-bit reference ``ref``); ``only``
        names the part numbers that do arrive (the others are lost on the way). Returns the
        storage indices used (empty for direct delivery).
        """
        texts = [parts] if isinstance(parts, str) else parts
        used: list[int] = []
        for seq, text in enumerate(texts, 1):
            if only is not None and seq not in only:
                continue
            concat = (ref, len(texts), seq) if len(texts) > 1 else None
            pdu = self._deliver_pdu(sender, text, concat)
            if direct or self._s.cnmi[1] == 2:
                await self._send_direct(b"+CMT: ,", pdu)
            else:
                idx = self._store(pdu)
                used.append(idx)
                await self._write(_EOL + b'+CMTI: "SM",' + str(idx).encode() + _EOL)
        self._notify()
        return used

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` is true; re-checked after each thing the host does."""
        while not predicate():
            await self._changed.wait()

    def commands(self, prefix: str) -> list[str]:
        """Logged command lines starting with ``prefix`` (case-insensitive)."""
        return [c for c in self.log if c.upper().startswith(prefix.upper())]

    # -- internals: power, pty ---------------------------------------------------------------
    def _power_on(self) -> None:
        self._s = _Settings(
            echo=self._p.echo_on_reset,
            pin_locked=bool(self._p.pin),
            registered_at=trio.current_time() + self._p.registration_delay,
        )

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # bytes pass untouched until the host configures the port
        self._slave_fd = slave
        self._master = trio.lowlevel.FdStream(master)
        self.path = os.ttyname(slave)
        if self.link:
            tmp = self.link + ".new"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link)
        self._plugged.set()

    def _close_pty(self) -> None:
        self._plugged = trio.Event()
        if self._master is not None:
            master, self._master = self._master, None
            master.close()  # trio's FdStream.close is synchronous
        if self._slave_fd is not None:
            os.close(self._slave_fd)
            self._slave_fd = None

    def _remove_link(self) -> None:
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _write(self, data: bytes) -> None:
        async with self._write_lock:
            master = self._master
            if master is None:
                return
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await master.send_all(data)

    async def _noise_loop(self) -> None:
        if not self._p.noise:
            return
        i = 0
        while True:
            await trio.sleep(self._p.noise_interval)
            if not self._s.quiet and not self.hung and self._master is not None:
                await self._write(_EOL + self._p.noise[i % len(self._p.noise)] + _EOL)
                i += 1

    # -- internals: commands -----------------------------------------------------------------
    async def _reply(self, *lines: bytes, final: bytes | None = b"OK") -> None:
        out = b""
        for line in lines:
            out += _EOL + line + _EOL
            if self._p.double_echo:
                out += _EOL + line + _EOL
        if final is not None:
            out += _EOL + final + _EOL
        await self._write(out)

    async def _echo(self, line: str) -> None:
        if not self._s.echo:
            return
        raw = line.encode("latin-1")
        p = self._p
        if p.split_echo and p.noise and not self._s.quiet and len(raw) > 1:
            noise = b"".join(n + _EOL for n in p.noise[:2])
            await self._write(raw[:1] + _EOL + noise + raw[1:] + p.echo_eol)
            return
        out = raw + b"\r"
        if p.double_echo:
            out += raw + b"\r"
        await self._write(out + p.echo_eol)

    async def _on_command(self, line: str) -> bool:
        """Answer one command line; True when the PDU prompt was given."""
        self.log.append(line)
        self._notify()
        await self._echo(line)
        up = line.upper()
        s = self._s
        if s.busy > 0 and up not in ("AT", "ATE0", "ATE1"):
            s.busy -= 1
            await self._reply(final=b"+CME ERROR: 515")
            return False
        if up.startswith("AT+CMGS="):
            return await self._on_cmgs(up)
        await self._dispatch(up, line)
        return False

    async def _dispatch(self, up: str, line: str) -> None:
        p, s = self._p, self._s
        needs_sim = up.startswith(
            ("AT+CIMI", "AT+CCID", "AT+CPMS", "AT+CMG", "AT+CNMI", "AT+CSCA", "AT+CNUM")
        )
        if s.pin_locked and needs_sim:
            await self._reply(final=b"+CME ERROR: 11")
            return
        now = trio.current_time()
        registered = now >= s.registered_at and not s.pin_locked
        if up in ("AT", "AT+CFUN=1", "AT+CMEE=1", "AT+CMEE=2", "AT+CMGF=0"):
            await self._reply()
        elif up in ("ATZ", "AT&F"):
            s.echo = p.echo_on_reset
            s.cnmi = (0, 0, 0, 0, 0)
            s.quiet = False
            s.busy = p.busy_after_reset
            await self._reply()
        elif up in ("ATE0", "ATE1"):
            s.echo = up == "ATE1"
            await self._reply()
        elif up == "AT+CGMI":
            await self._reply(p.manufacturer.encode())
        elif up == "AT+CGMM":
            await self._reply(p.model.encode())
        elif up == "AT+CGMR":
            await self._reply(p.revision.encode())
        elif up == "AT+CGSN":
            await self._reply(p.imei.encode())
        elif up == "AT+CNUM":
            await self._reply(f'+CNUM: "","{p.own_number}",145'.encode())
        elif up == "AT+CIMI":
            await self._reply(p.imsi.encode())
        elif up == "AT+CCID":
            await self._reply(b"+CCID: " + p.iccid.encode())
        elif up == "AT^CURC=0" and p.supports_curc:
            s.quiet = True
            await self._reply()
        elif up == "AT+CPIN?":
            state = b"SIM PIN" if s.pin_locked else b"READY"
            if self._pin_attempts <= 0:
                state = b"SIM PUK"
            await self._reply(b"+CPIN: " + state, final=b"OK" if p.cpin_ok else None)
        elif up.startswith("AT+CPIN="):
            await self._on_pin(line.split("=", 1)[1].strip().strip('"'))
        elif up in ("AT+CREG?", "AT+CEREG?", "AT+CGREG?"):
            stat = (5 if p.roaming else 1) if registered else 2
            await self._reply(f"{up[2:-1]}: 0,{stat}".encode())
        elif up.startswith("AT+CPMS="):
            used = len(self.storage)
            total = p.storage_size
            await self._reply(f"+CPMS: {used},{total},{used},{total},{used},{total}".encode())
        elif up == "AT+CPMS?":
            used, total = len(self.storage), p.storage_size
            await self._reply(f'+CPMS: "SM",{used},{total},"SM",{used},{total}'.encode())
        elif up.startswith("AT+CNMI="):
            try:
                s.cnmi = tuple(int(x or 0) for x in up[8:].split(","))
            except ValueError:
                await self._reply(final=b"ERROR")
                return
            await self._reply()
        elif up.startswith("AT+CSCA="):
            await self._reply()
        elif up == "AT+CSMS?":
            await self._reply(f"+CSMS: {p.csms_service},1,1,1".encode())
        elif up == "AT+COPS?":
            await self._reply(f'+COPS: 0,0,"{p.operator}",7'.encode())
        elif up == "AT+CSQ":
            await self._reply(f"+CSQ: {p.rssi},99".encode())
        elif up.startswith("AT+CMMS=") and p.supports_cmms:
            s.cmms = parse_decimal(up[8:], 3) or 0
            await self._reply()
        elif up.startswith("AT+CMGR="):
            await self._on_cmgr(up[8:])
        elif up.startswith("AT+CMGL="):
            await self._on_cmgl()
        elif up.startswith("AT+CMGD="):
            idx = up[8:].split(",")[0]
            n = parse_decimal(idx, 9)
            if n is not None:
                self.storage.pop(n, None)
            await self._reply()
            self._notify()
        elif up == "AT+CNMA":
            if s.cnma_pending:
                s.cnma_pending.pop(0)
                self.cnma_count += 1
                await self._reply()
            else:
                await self._reply(final=b"+CMS ERROR: 340")
            self._notify()
        else:
            await self._reply(final=p.unknown_reply)

    async def _on_pin(self, pin: str) -> None:
        s = self._s
        if not s.pin_locked:
            await self._reply(final=b"+CME ERROR: 3")
        elif self._pin_attempts <= 0:
            await self._reply(final=b"+CME ERROR: 12")
        elif pin == self._p.pin:
            s.pin_locked = False
            s.registered_at = trio.current_time() + self._p.registration_delay
            self._pin_attempts = self._p.pin_attempts
            await self._reply()
        else:
            self._pin_attempts -= 1
            await self._reply(final=b"+CME ERROR: 16")

    async def _on_cmgr(self, arg: str) -> None:
        n = parse_decimal(arg, 9)
        idx = -1 if n is None else n
        if idx not in self.storage:
            await self._reply(final=b"+CMS ERROR: 321")
            return
        stat, pdu = self.storage[idx]
        tpdu_len = len(pdu) // 2 - (int(pdu[:2], 16) + 1)
        await self._reply(f"+CMGR: {stat},,{tpdu_len}".encode(), pdu.encode())
        if stat == 0:
            self.storage[idx] = (1, pdu)

    async def _on_cmgl(self) -> None:
        if not self._p.supports_cmgl:
            await self._reply(final=b"+CMS ERROR: 303")
            return
        lines: list[bytes] = []
        for idx in sorted(self.storage):
            stat, pdu = self.storage[idx]
            tpdu_len = len(pdu) // 2 - (int(pdu[:2], 16) + 1)
            lines += [f"+CMGL: {idx},{stat},,{tpdu_len}".encode(), pdu.encode()]
        await self._reply(*lines)

    async def _on_cmgs(self, up: str) -> bool:
        s = self._s
        arg = up[8:]
        if s.pin_locked:
            await self._reply(final=b"+CME ERROR: 11")
            return False
        length = parse_decimal(arg, 3)
        if length is None:
            await self._reply(final=b"+CMS ERROR: 304")
            return False
        if trio.current_time() < s.registered_at:
            await self._reply(final=b"+CMS ERROR: 331")
            return False
        self._cmgs_len = length
        for urc in self._p.urcs_around_prompt:
            await self._write(urc + _EOL)
        await self._write(self._p.prompt)
        return True

    async def _on_pdu(self, pdu_hex: str) -> None:
        self.log.append(f"<PDU {pdu_hex}>")
        try:
            sub, udh, text = read_submit(pdu_hex, self._cmgs_len)
        except (PduError, ValueError):
            await self._reply(final=b"+CMS ERROR: 304")
            self._notify()
            return
        if self.send_delay:
            await trio.sleep(self.send_delay)
        for urc in self._p.urcs_around_prompt:
            await self._write(urc + _EOL)
        fail = self._fail.pop(0) if self._fail else None
        if fail is None or fail[1]:
            mr = self._mr
            self._mr = (self._mr + 1) % 256
            concat = None
            if udh is not None and udh.concat is not None:
                c = udh.concat
                concat = (c.ref, c.total, c.seq)
            to = sub.destination.number
            self.sent.append(SentSms(mr, to, text, concat, sub.srr, trio.current_time()))
            if sub.srr and self._nursery is not None:
                self._nursery.start_soon(self._report_later, mr, to)
        if fail is not None:
            await self._reply(final=fail[2] or b"+CMS ERROR: " + str(fail[0]).encode())
        else:
            await self._reply(b"+CMGS: " + str(mr).encode())
        self._notify()

    async def _report_later(self, mr: int, to: str) -> None:
        await trio.sleep(self._p.report_delay)
        pdu = status_report_pdu(self._p.smsc, mr, to, self._p.report_status)
        if self._p.status_reports == "cdsi":
            idx = self._store(pdu)
            mem = self._p.report_memory
            await self._write(_EOL + b'+CDSI: "' + mem + b'",' + str(idx).encode() + _EOL)
        else:
            await self._send_direct(self._p.cds_header, pdu)
        self._notify()

    async def _send_direct(self, header: bytes, pdu: str) -> None:
        """+CMT/+CDS with the PDU; in phase 2+ it is sent again until acknowledged."""
        data = _EOL + header + str(tpdu_length(pdu)).encode() + _EOL + pdu.encode() + _EOL
        await self._write(data)
        if self._p.csms_service == 1 and self._nursery is not None:
            self._s.cnma_pending.append(data)
            self._nursery.start_soon(self._resend_unacked, data, self._s)

    async def _resend_unacked(self, data: bytes, settings: _Settings) -> None:
        await trio.sleep(self._p.cnma_timeout)
        if data in settings.cnma_pending and settings is self._s:
            await self._write(data)

    def _deliver_pdu(self, sender: str, text: str, concat: tuple[int, int, int] | None) -> str:
        return deliver_pdu(self._p.smsc, self._p.own_number, sender, text, concat)

    def _store(self, pdu: str) -> int:
        idx = self._p.storage_base
        while idx in self.storage:
            idx += 1
        self.storage[idx] = (0, pdu)
        return idx
