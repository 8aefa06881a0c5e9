"""Receiving: unsolicited lines, inbound messages and status reports of one modem session.

Order is the promise here: a stored message is read (AT+CMGR), handed to the sink, and only
after the sink returns (it is committed) deleted (AT+CMGD). A concatenated message is deleted
part by part only once the whole of it is stored, so a crash half-way loses nothing: the
parts are still on the SIM and are read again at the next bring-up (which reads everything
already stored, with AT+CMGL=4 or, where a firmware refuses that, AT+CMGR index by index).
Directly delivered +CMT/+CDS are acknowledged with AT+CNMA after the sink returns when the
modem runs phase 2+ (``+CSMS: 1``), else the network would deliver them again.

Boot lines (RDY, SMS Ready, ^SYSSTART; ^BOOT once Huawei noise was silenced; +CPIN other than
READY) after bring-up mean the modem restarted: :class:`ModemRestarted` ends the session.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING

import trio

from smsgw.drivers.modem.at import Urc
from smsgw.drivers.modem.port import AtPort
from smsgw.drivers.modem.receipts import receipt_state
from smsgw.drivers.modem.responses import (
    StoredPdu,
    csq_to_dbm,
    parse_cmgl,
    parse_cmgr,
    parse_cmti,
    parse_cpin,
    parse_cpms,
    parse_creg,
)
from smsgw.drivers.modem.sms_pdu import (
    Deliver,
    PduError,
    StatusReport,
    decode_pdu,
    decode_user_text,
)
from smsgw.drivers.seam import InboundMessage, LinkError, Receipt, Sink
from smsgw.drivers.text import Reassembler

if TYPE_CHECKING:
    from smsgw.drivers.modem.driver import Modem

__all__ = ["Inbox", "ModemRestarted"]

log = logging.getLogger(__name__)

_Location = tuple[str, int]  # (memory, index)


class ModemRestarted(LinkError):
    """The modem printed boot lines mid-session: it must be brought up again."""


class Inbox:
    """The receiving side of one modem session; :meth:`run` consumes the port's URCs."""

    def __init__(self, modem: Modem, port: AtPort, sink: Sink) -> None:
        self.modem = modem
        self.port = port
        self.sink = sink
        self.stored_open = False
        """True once the bring-up reads storage: from then on +CMTI/+CDSI are read at once."""
        self._reasm = Reassembler(modem.text_config.reassembly_timeout)
        self._held: dict[object, list[_Location]] = defaultdict(list)
        self._busy: set[_Location] = set()

    # -- URCs --------------------------------------------------------------------------------
    async def run(self) -> None:
        async with self.port.urcs:
            async for urc in self.port.urcs:
                await self.on_urc(urc)

    async def on_urc(self, urc: Urc) -> None:
        m = self.modem
        name = urc.name
        restarted = (
            urc.boot
            or (name == "^BOOT" and m.quiet)
            or (name == "+CPIN" and parse_cpin(urc.args) != "READY")
        )
        if restarted:
            if m.state == "up":
                raise ModemRestarted(f"modem restarted ({urc.line})")
            return
        if name == "^RSSI":
            m.set_signal(csq_to_dbm(urc.args))
        elif name in ("+CREG", "+CEREG") and m.state == "up":
            stat = parse_creg(urc.args, query=False)
            if stat is not None and stat != 1 and not (stat == 5 and m.config.roaming):
                m.set_registered(False)
            elif stat is not None:
                m.set_registered(True, roaming=stat == 5)
        elif name in ("+CMTI", "+CDSI"):
            loc = parse_cmti(urc.args)
            if loc is None:
                m.protocol_error("bad_urc")
            elif self.stored_open:
                await self.read_index(*loc)
        elif name in ("+CMT", "+CDS"):
            await self.on_direct(urc)

    async def on_direct(self, urc: Urc) -> None:
        """A message or report delivered without storage (the PDU line follows the header)."""
        m = self.modem
        if urc.pdu is None:
            m.protocol_error("direct_without_pdu")  # text mode or truncated: cannot read it
            return
        try:
            _, tpdu = decode_pdu(urc.pdu)
        except PduError as e:
            log.warning("modem %s: undecodable %s PDU: %s", m.name, urc.name, e)
            m.protocol_error("bad_pdu")
            tpdu = None
        if isinstance(tpdu, Deliver):
            await self._deliver(tpdu, [])
        elif isinstance(tpdu, StatusReport):
            await self._report(tpdu)
        if m.info.service == 1:
            res = await self.port.command("AT+CNMA", timeout=m.config.command_timeout)
            if not res.ok:
                m.protocol_error("cnma_refused")

    # -- stored messages ---------------------------------------------------------------------
    async def read_stored(self) -> None:
        """Read and handle every message already in storage (bring-up's last step)."""
        self.stored_open = True
        m = self.modem
        mem = m.info.memory
        res = await self.port.command("AT+CMGL=4", timeout=m.config.command_timeout)
        entries = parse_cmgl(res.lines) if res.ok else await self._scan()
        for entry in entries:
            await self._handle((mem, entry.index), entry)

    async def _scan(self) -> list[StoredPdu]:
        """AT+CMGR index by index, for firmware that refuses AT+CMGL in PDU mode."""
        m = self.modem
        res = await self.port.command("AT+CPMS?", timeout=m.config.command_timeout)
        counts = parse_cpms(res.first("+CPMS")) if res.ok else None
        if counts is None or counts[0] == 0:
            return []
        used, total = counts
        found: list[StoredPdu] = []
        for idx in range(total + 1):  # some modems count from 0, others from 1
            r = await self.port.command(f"AT+CMGR={idx}", timeout=m.config.command_timeout)
            entry = parse_cmgr(r.lines, idx) if r.ok else None
            if entry is not None:
                found.append(entry)
                if len(found) >= used:
                    break
        return found

    async def read_index(self, mem: str, index: int) -> None:
        """Read one stored message or report announced by +CMTI/+CDSI, then handle it."""
        loc = (mem, index)
        if loc in self._busy or any(loc in locs for locs in self._held.values()):
            return
        m = self.modem
        async with self._memory(mem):
            res = await self.port.command(f"AT+CMGR={index}", timeout=m.config.command_timeout)
        entry = parse_cmgr(res.lines, index) if res.ok else None
        if entry is None:
            if res.ok:
                m.protocol_error("bad_cmgr")
            return  # already gone (read elsewhere), or an empty slot
        await self._handle(loc, entry)

    async def _handle(self, loc: _Location, entry: StoredPdu) -> None:
        m = self.modem
        try:
            _, tpdu = decode_pdu(entry.pdu)
        except PduError as e:
            # Left in storage: deleting what we could not read would lose it for good.
            log.warning("modem %s: undecodable stored PDU at %s: %s", m.name, loc, e)
            m.protocol_error("bad_pdu")
            return
        self._busy.add(loc)
        try:
            if isinstance(tpdu, Deliver):
                await self._deliver(tpdu, [loc])
            elif isinstance(tpdu, StatusReport):
                await self._report(tpdu)
                await self._delete([loc])
        finally:
            self._busy.discard(loc)

    # -- inbound and receipts ----------------------------------------------------------------
    async def _deliver(self, d: Deliver, locations: list[_Location]) -> None:
        m = self.modem
        try:
            udh, text = decode_user_text(d.dcs, d.udhi, d.user_data, d.udl)
        except PduError as e:
            log.warning("modem %s: undecodable message text: %s", m.name, e)
            m.protocol_error("bad_text")
            return
        sender = d.originator.number
        concat = udh.concat if udh is not None else None
        if concat is not None and concat.total > 1:
            key = (sender, concat.ref, concat.total)
            self._held[key] += locations
            done = self._reasm.feed(key, concat, text, trio.current_time())
            if done is None:
                return
            locations = self._held.pop(key, [])
            msg = self._message(sender, done.text, done.parts, done.complete)
        else:
            msg = self._message(sender, text, 1, True)
        await self.sink.inbound([msg])
        m.counts["inbound"] += 1
        m.changed()
        await self._delete(locations)

    def _message(self, sender: str, text: str, parts: int, complete: bool) -> InboundMessage:
        m = self.modem
        return InboundMessage(
            route=m.route,
            sender=sender,
            to=m.info.number or "",
            text=text,
            received_at=time.time(),
            parts=parts,
            complete=complete,
        )

    async def _report(self, r: StatusReport) -> None:
        m = self.modem
        state, code = receipt_state(r.status)
        receipt = Receipt(
            route=m.route,
            carrier_id=m.book.match(r, time.time()),
            state=state,
            error_code=code,
            done_at=r.discharge.timestamp(),
        )
        await self.sink.receipts([receipt])
        m.counts["receipts"] += 1
        m.changed()

    async def expire_loop(self) -> None:
        """Store concatenated messages whose missing parts never came, marked incomplete."""
        timeout = self.modem.text_config.reassembly_timeout
        while True:
            deadline = self._reasm.next_deadline()
            # A message started later times out later, so sleeping a whole timeout when
            # nothing waits never misses one.
            await trio.sleep_until(
                deadline if deadline is not None else trio.current_time() + timeout
            )
            for done in self._reasm.expire(trio.current_time()):
                sender = done.key[0] if isinstance(done.key, tuple) else ""
                locations = self._held.pop(done.key, [])
                msg = self._message(str(sender), done.text, done.parts, done.complete)
                await self.sink.inbound([msg])
                self.modem.counts["inbound"] += 1
                await self._delete(locations)

    async def _delete(self, locations: list[_Location]) -> None:
        m = self.modem
        for mem, index in locations:
            async with self._memory(mem):
                res = await self.port.command(f"AT+CMGD={index}", timeout=m.config.command_timeout)
            if not res.ok:
                log.warning("modem %s: AT+CMGD=%d failed: %s", m.name, index, res.result.line)

    def _memory(self, mem: str) -> _MemorySwitch:
        return _MemorySwitch(self, mem)


class _MemorySwitch:
    """Select another storage for reading and deleting, and switch back afterwards."""

    def __init__(self, inbox: Inbox, mem: str) -> None:
        self.inbox = inbox
        self.mem = mem.upper()
        self.home = inbox.modem.info.memory.upper()

    async def __aenter__(self) -> None:
        if self.mem != self.home:
            await self._select(self.mem)

    async def __aexit__(self, *exc: object) -> None:
        if self.mem != self.home:
            await self._select(self.home)

    async def _select(self, mem: str) -> None:
        m = self.inbox.modem
        await self.inbox.port.command(f'AT+CPMS="{mem}"', timeout=m.config.command_timeout)
