"""Sending the parts a modem was given: rate, daily cap, AT+CMMS, AT+CMGS, the outcome.

One :class:`Traffic` per session of a modem. Its loop takes the next part from the modem's
queue, waits for the per-modem rate (``config.rate`` parts per second, paced by the modem's
:class:`~smsgw.drivers.pacing.Pacer`: the moment each PDU is written is recorded, so PDUs are
never closer than ``1 / rate`` and never more than ``rate`` in any second), renders the part as an
SMS-SUBMIT (the UDH from :mod:`smsgw.drivers.text`, a status report requested when
``config.status_report``), sends it and reports exactly one :class:`Outcome`:

* ``+CMGS: <mr>``: submitted, ``carrier_id`` ``"<link>:<mr>:<to>"`` (see :mod:`.receipts`);
* an error before the prompt: the table in :mod:`.errors` decides (busy codes are retried
  here a few times first); the part did not leave;
* an error after the PDU was written: TEMPORARY or PERMANENT from the table, ``maybe_sent``
  unless the code proves the network refused it (``+CMS ERROR: 500`` does not).

No answer at all raises :class:`~smsgw.drivers.modem.port.PortGone`: the modem is taken down
and the part is reported by the modem (``maybe_sent`` once its PDU was written).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import trio

from smsgw.drivers.modem.error_codes import ErrorClass, classify_result
from smsgw.drivers.modem.port import AtPort, PortGone
from smsgw.drivers.modem.responses import parse_cmgs
from smsgw.drivers.modem.sms_pdu import PduError, cmgs_pdu, encode_submit, submit_for_text
from smsgw.drivers.seam import FailureKind, OutboundPart, Outcome, Sink
from smsgw.drivers.text import udh_concat

if TYPE_CHECKING:
    from smsgw.drivers.modem.driver import Modem

__all__ = ["Traffic"]

_BUSY_RETRIES = 3
_BUSY_PAUSE = 1.0
_MIN_VALIDITY = 300.0


class Traffic:
    """The sending side of one modem session."""

    def __init__(self, modem: Modem, port: AtPort, sink: Sink) -> None:
        self.modem = modem
        self.port = port
        self.sink = sink
        self._fault: str | None = None

    async def run(self) -> None:
        """Send queued parts until cancelled or the port fails (then :class:`PortGone`)."""
        m = self.modem
        while True:
            while not m.queue or not m.ready():
                await m.wait_wake()
            now = trio.current_time()
            due = m.pacer.next_time(now)
            if due > now:
                m.next_send_at = due
                await trio.sleep_until(due)
                continue  # the modem may have gone unready meanwhile
            part = m.queue.popleft()
            m.in_flight = part
            m.in_flight_written = False
            started = trio.current_time()
            self._fault = None
            outcome = await self.send(part)
            m.in_flight = None
            m.in_flight_written = False
            if outcome.failure is None:
                m.counts["sent"] += 1
                m.took_cap()
            else:
                m.counts["failed"] += 1
                m.last_error = f"{outcome.code} {outcome.reason}".strip()
            m.metrics.submit_latency.labels(m.route).observe(trio.current_time() - started)
            m.changed()
            out = [outcome]
            if m.queue and m.cap.reached(time.time()):
                # The SIM is done for today: what it still holds goes back to the queue.
                out += [
                    _fail(p, FailureKind.TEMPORARY, "DAILY CAP", "daily cap of this SIM reached")
                    for p in m.queue
                ]
                m.queue.clear()
            with trio.CancelScope(shield=True):
                # An outcome must not be lost to a cancellation half-way through its commit.
                await self.sink.outcomes(out)
            if self._fault is not None:
                # No SIM, PIN lost, no network service: bring the modem up again.
                raise PortGone(f"modem fault while sending: {self._fault}")

    def _left(self) -> None:
        """The PDU is being written: the part leaves now, as far as the rate is concerned."""
        m = self.modem
        now = trio.current_time()
        m.pacer.take(1, now)
        m.next_send_at = m.pacer.next_time(now)

    async def send(self, part: OutboundPart) -> Outcome:
        """Send one part; raises :class:`PortGone` when the modem stops answering."""
        m = self.modem
        cfg = m.config
        try:
            udh = (
                udh_concat(part.ref, part.total, part.seq, part.ref_bits) if part.total > 1 else b""
            )
            validity = None
            if part.validity_until is not None:
                validity = max(_MIN_VALIDITY, part.validity_until - time.time())
            sub = submit_for_text(
                part.to,
                part.text,
                part.encoding,
                udh=udh,
                srr=cfg.status_report,
                validity=validity,
            )
            pdu_hex, length = cmgs_pdu(encode_submit(sub))
        except (PduError, ValueError) as e:
            return _fail(part, FailureKind.PERMANENT, "PDU", f"cannot encode the part: {e}")
        if part.total > 1 and part.seq < part.total and m.cmms is not False:
            # Keep the radio link up between parts of one message (27.005 §3.5.6).
            res = await self.port.command("AT+CMMS=1", timeout=cfg.command_timeout)
            m.cmms = res.ok
        for attempt in range(_BUSY_RETRIES + 1):
            try:
                m.in_flight_written = False
                res = await self.port.send_sms(
                    length,
                    pdu_hex,
                    prompt_timeout=cfg.command_timeout,
                    send_timeout=cfg.send_timeout,
                    on_pdu=self._left,
                )
            except PortGone as e:
                m.in_flight_written = e.pdu_sent
                raise
            if res.ok:
                mr = parse_cmgs(res.first("+CMGS"))
                if mr is None:
                    m.protocol_error("cmgs_without_mr")
                    return _fail(
                        part, FailureKind.TEMPORARY, "NO MR", "sent without +CMGS reference", True
                    )
                return Outcome(
                    part_id=part.part_id, carrier_id=m.book.record(mr, part.to, time.time())
                )
            info = classify_result(res.result.kind.value, res.result.code)
            if not res.pdu_sent and info.kind is ErrorClass.BUSY and attempt < _BUSY_RETRIES:
                await trio.sleep(_BUSY_PAUSE)
                continue
            kind = (
                FailureKind.PERMANENT
                if info.kind is ErrorClass.PERMANENT
                else FailureKind.TEMPORARY
            )
            maybe = res.pdu_sent and not info.definite
            if info.modem_fault:
                self._fault = f"{info.code} {info.reason}"
            return _fail(part, kind, info.code, info.reason, maybe)
        raise AssertionError("unreachable")  # pragma: no cover


def _fail(
    part: OutboundPart, kind: FailureKind, code: str, reason: str, maybe_sent: bool = False
) -> Outcome:
    return Outcome(
        part_id=part.part_id, failure=kind, code=code, reason=reason, maybe_sent=maybe_sent
    )
