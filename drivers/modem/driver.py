"""One modem of a bank: find its port, bring it up, keep it up, send its parts.

A :class:`Modem` lives as long as its bank. :meth:`Modem.run` loops: find the device (its
stable path, or by IMEI once known), open it, walk the bring-up (:mod:`.bringup`), then serve
(:mod:`.traffic` sends, :mod:`.inbox` receives) until something breaks. Whatever breaks it —
EOF, an I/O error, a command timeout, boot lines of a restarted modem, lost registration — it
is marked down, every part it holds is reported as a TEMPORARY failure (``maybe_sent`` if its
PDU had been written), and it reopens with exponential backoff and jitter. A wrong PIN (or a
SIM asking for its PUK) stops it for good, loudly: retrying would lock the SIM.

Cancellation is shutdown: the port is closed and parts still held are reported as TEMPORARY
(best effort, within two seconds).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import msgspec
import trio

from smsgw.config.schema import ModemRouteConfig, TextConfig
from smsgw.drivers.backoff import backoff
from smsgw.drivers.link_control import LinkMarks, OperatorHold
from smsgw.drivers.modem import bringup
from smsgw.drivers.modem.at import Response
from smsgw.drivers.modem.discovery import find_port, real_path, sync
from smsgw.drivers.modem.error_codes import ErrorClass, classify_result
from smsgw.drivers.modem.inbox import Inbox, ModemRestarted
from smsgw.drivers.modem.port import AtPort, PortGone, open_port, unwrap_group
from smsgw.drivers.modem.receipts import DailyCap, ReceiptBook
from smsgw.drivers.modem.responses import (
    csq_to_dbm,
    fields,
    parse_cops,
    parse_cpin,
    parse_creg,
    parse_csms,
    parse_identity,
)
from smsgw.drivers.modem.traffic import Traffic
from smsgw.drivers.pacing import Pacer
from smsgw.drivers.seam import FailureKind, LinkError, LinkState, OutboundPart, Outcome, Sink
from smsgw.drivers.supervise import contained
from smsgw.drivers.text.digits import is_decimal
from smsgw.metrics.instruments import Metrics

__all__ = ["SLOTS", "TASK", "BringUpFailed", "Modem", "ModemFatal", "ModemInfo"]

log = logging.getLogger(__name__)


class _CapState(msgspec.Struct, kw_only=True):
    day: str
    used: int


TASK = "modem"
"""The ``task`` label of ``smsgw_task_failures_total`` for a modem's tasks."""
SLOTS = 2
"""Parts a modem holds at once: one being sent, one ready, so it never waits on the bank."""
HEALTH_INTERVAL = 30.0
"""Seconds between signal/registration checks (which also catch a modem that hung idle)."""
BUSY_RETRIES = 5
BUSY_PAUSE = 1.0
REGISTRATION_POLL = 1.0
SYNC_QUIET = 0.2
"""Seconds after ESC during which late answers are discarded before the first AT."""


@asynccontextmanager
async def _single_errors() -> AsyncIterator[None]:
    """Turn the session nursery's exception group into the one exception that ended it."""
    try:
        yield
    except BaseExceptionGroup as group:
        unwrap_group(group, ModemFatal, ModemRestarted, PortGone)


class BringUpFailed(PortGone):
    """A required bring-up step failed; the modem is retried with backoff."""


class ModemFatal(Exception):
    """A condition retrying would make worse (wrong PIN, PUK needed): the modem stops."""


@dataclass(slots=True)
class ModemInfo:
    """What bring-up learned about the modem and its SIM."""

    manufacturer: str | None = None
    model: str | None = None
    revision: str | None = None
    imei: str | None = None
    imsi: str | None = None
    iccid: str | None = None
    number: str | None = None
    operator: str | None = None
    signal_dbm: int | None = None
    registered: bool = False
    roaming: bool = False
    service: int | None = None
    memory: str = "SM"


class Modem:
    """One modem; the bank owns it. See the module docstring for its life."""

    def __init__(
        self,
        name: str,
        spec: str,
        config: ModemRouteConfig,
        metrics: Metrics,
        text_config: TextConfig,
        *,
        candidates: Callable[[], list[str]],
        in_use: set[str],
        on_change: Callable[[], None],
        state_dir: str | None = None,
    ) -> None:
        self.name = name
        self.spec = spec
        self.config = config
        self.route = config.name
        self.metrics = metrics
        self.text_config = text_config
        self.marks = LinkMarks()
        """Since when up or not, the last error and its time (for the ops console)."""
        self.hold = OperatorHold()
        """An operator's disconnect (the ops console): the port stays closed while held."""
        self.state: LinkState = "connecting"
        self.failed: str | None = None
        self._last_error = ""
        self.path: str | None = None
        self.info = ModemInfo()
        self.quiet = False
        self.cmms: bool | None = None
        self.counts = {"sent": 0, "failed": 0, "receipts": 0, "inbound": 0}
        self.book = ReceiptBook(name)
        self.cap = DailyCap(config.daily_cap)
        self._cap_path = (
            os.path.join(state_dir, f"daily-cap-{config.name}-{name}.json")
            if state_dir is not None and config.daily_cap > 0
            else None
        )
        self._load_cap()
        self.queue: deque[OutboundPart] = deque()
        self.in_flight: OutboundPart | None = None
        self.in_flight_written = False
        # One part at a time, 1/rate apart, at most rate in any second: kept across sessions,
        # so a modem that reconnects does not send faster than its rate.
        self.pacer = Pacer(config.rate, 1, -math.inf)
        self.next_send_at = 0.0
        self._candidates = candidates
        self._in_use = in_use
        self._on_change = on_change
        self._wake = trio.Event()
        self._reached_up = False
        self._info_labels: tuple[str, str] | None = None
        self._link_up = metrics.link_up.labels(self.route, name)
        self._link_up.set(0)
        # Exported from the start, as "no reading yet" (NaN: Grafana draws a gap), not 0 dBm.
        metrics.modem_signal.labels(self.route, name).set(math.nan)

    # -- the daily cap survives restarts ----------------------------------------------------
    def _load_cap(self) -> None:
        if self._cap_path is None:
            return
        try:
            with open(self._cap_path, "rb") as f:
                saved = msgspec.json.decode(f.read(), type=_CapState)
            self.cap.restore(saved.day, saved.used)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as e:  # msgspec.DecodeError is a ValueError
            log.warning("%s: daily cap state unreadable (%s); counting from zero", self.name, e)

    def took_cap(self) -> None:
        """One part went out on this SIM: count it, and keep the count on disk."""
        self.cap.take(time.time())
        snap = self.cap.snapshot()
        if self._cap_path is None or snap is None:
            return
        tmp = self._cap_path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(msgspec.json.encode(_CapState(day=snap[0], used=snap[1])))
            os.replace(tmp, self._cap_path)
        except OSError as e:
            log.warning("%s: daily cap state not saved: %s", self.name, e)

    # -- what the bank sees ------------------------------------------------------------------
    @property
    def load(self) -> int:
        return len(self.queue) + (1 if self.in_flight is not None else 0)

    def ready(self) -> bool:
        """Up, registered and under its daily cap: the bank may give it parts."""
        return self.state == "up" and self.info.registered and not self.cap.reached(time.time())

    def enqueue(self, part: OutboundPart) -> None:
        self.queue.append(part)
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    async def wait_wake(self) -> None:
        await self._wake.wait()
        self._wake = trio.Event()

    def changed(self) -> None:
        self._on_change()

    def protocol_error(self, kind: str) -> None:
        self.metrics.protocol_errors.labels(self.route, kind).inc()
        self._on_change()  # a count changed: the bank's waiters (and tests) may look

    @property
    def last_error(self) -> str:
        return self._last_error

    @last_error.setter
    def last_error(self, value: str) -> None:
        self.marks.error(value)
        self._last_error = value

    def link_state(self) -> dict[str, object]:
        i = self.info
        return {
            "name": self.name,
            "state": self.state,
            "port": self.spec,
            "device": self.path,
            "stopped": self.failed,
            "registered": i.registered,
            "roaming": i.roaming,
            "signal_dbm": i.signal_dbm,
            "operator": i.operator,
            "manufacturer": i.manufacturer,
            "model": i.model,
            "imei": i.imei,
            "imsi": i.imsi,
            "iccid": i.iccid,
            "queued": self.load,
            "sent_today": self.cap.used(time.time()),
            "daily_cap": self.config.daily_cap,
            "last_error": self.last_error,
            "parts_sent": self.counts["sent"],
            "parts_failed": self.counts["failed"],
            "receipts": self.counts["receipts"],
            "inbound": self.counts["inbound"],
            "rate": self.config.rate,
            "held": self.hold.held,
            **self.marks.as_dict(),
        }

    def set_state(self, state: LinkState) -> None:
        self.marks.state_changed(self.state, state)
        self.state = state
        self._link_up.set(1 if state == "up" else 0)
        if state != "up":
            self.set_registered(False)
        self.changed()

    def set_registered(self, registered: bool, roaming: bool = False) -> None:
        self.info.registered = registered
        self.info.roaming = roaming
        self.metrics.modem_registered.labels(self.route, self.name).set(1 if registered else 0)
        self.wake()
        self.changed()

    def set_signal(self, dbm: int | None) -> None:
        self.info.signal_dbm = dbm
        if dbm is not None:
            self.metrics.modem_signal.labels(self.route, self.name).set(dbm)

    # -- life --------------------------------------------------------------------------------
    async def run(self, sink: Sink) -> None:
        """Keep the modem up until cancelled (or until a fatal SIM problem stops it).

        Anything unexpected that escapes a session (a parser bug meeting a strange line, a
        sink that failed) is that modem's failure only: logged once with the route and modem,
        counted in ``smsgw_task_failures_total{task="modem"}``, then the modem is down, its
        parts go back (``resend``) and it reopens with backoff like after a hang.
        """
        failures = 0
        context = f"route {self.route} modem {self.name}"
        try:
            while True:
                await self.hold.wait_released()
                self.set_state("connecting")
                self._reached_up = False
                fatal: list[ModemFatal] = []
                attempt = partial(self._attempt, sink, fatal)
                if not await contained(TASK, attempt, on_failure=self.task_failed, context=context):
                    self.last_error = "internal error on this modem (logged); reopening"
                if fatal:
                    e = fatal[0]
                    self.failed = self.last_error = str(e)
                    log.error("modem %s stopped: %s", self.name, e)
                    self.protocol_error("sim_locked")
                    self.set_state("down")
                    await self._fail_held(sink, f"modem stopped: {e}", resend=True)
                    await trio.sleep_forever()
                self.set_state("down")
                await self._fail_held(sink, f"modem down: {self.last_error}", resend=True)
                failures = 1 if self._reached_up else failures + 1  # it was up: retry soon
                self.metrics.reconnects.labels(self.route, self.name).inc()
                cfg = self.config
                await self.hold.backoff(backoff(failures, cfg.reconnect_min, cfg.reconnect_max))
        finally:
            self.set_state("down")
            with trio.move_on_after(2.0) as scope:
                scope.shield = True
                await self._fail_held(sink, "driver stopped")

    async def _attempt(self, sink: Sink, fatal: list[ModemFatal]) -> None:
        """One session, with the ways it is expected to end handled (a fatal SIM problem is
        put in ``fatal``)."""
        try:
            await self._session(sink)
        except ModemFatal as e:
            fatal.append(e)
        except LinkError as e:  # PortGone, ModemRestarted: reopen it
            self.last_error = str(e)
            log.warning("modem %s down: %s", self.name, e)

    def task_failed(self, task: str) -> None:
        """Count an unexpected exception contained in this modem's tasks."""
        self.metrics.task_failures.labels(task).inc()

    async def _fail_held(self, sink: Sink, reason: str, *, resend: bool = False) -> None:
        """Report every part this modem holds as a TEMPORARY failure; ``resend``: the modem
        failed (not the driver stopping), so the route may give them to its other modems."""
        out: list[Outcome] = []
        if self.in_flight is not None:
            out.append(
                Outcome(
                    part_id=self.in_flight.part_id,
                    failure=FailureKind.TEMPORARY,
                    code="MODEM DOWN",
                    reason=reason,
                    maybe_sent=self.in_flight_written,
                    resend=resend,
                )
            )
            self.in_flight = None
            self.in_flight_written = False
        while self.queue:
            p = self.queue.popleft()
            out.append(
                Outcome(
                    part_id=p.part_id,
                    failure=FailureKind.TEMPORARY,
                    code="MODEM DOWN",
                    reason=reason,
                    resend=resend,
                )
            )
        if out:
            self.counts["failed"] += len(out)
            with trio.CancelScope(shield=True):
                await sink.outcomes(out)
        self.changed()

    async def _session(self, sink: Sink) -> None:
        cfg = self.config
        path = await find_port(
            self.spec,
            candidates=self._candidates,
            in_use=self._in_use,
            baudrate=cfg.baudrate,
            timeout=min(cfg.command_timeout, 3.0),
        )
        if path is None and self.info.imei and not self.spec.startswith("imei:"):
            # The device came back under another name: find it by the IMEI we saw.
            path = await find_port(
                f"imei:{self.info.imei}",
                candidates=self._candidates,
                in_use=self._in_use,
                baudrate=cfg.baudrate,
                timeout=min(cfg.command_timeout, 3.0),
            )
        if path is None:
            raise PortGone(f"device {self.spec} not present")
        real = real_path(path)
        port = open_port(path, cfg.baudrate, self.protocol_error)
        self.path = real
        self._in_use.add(real)
        try:
            async with port, _single_errors(), trio.open_nursery() as nursery:
                self.hold.serving(nursery.cancel_scope)  # an operator's disconnect: close it
                nursery.start_soon(port.reader)
                inbox = Inbox(self, port, sink)
                nursery.start_soon(inbox.run)
                await self._bring_up(port, inbox)
                self._reached_up = True
                self.set_state("up")
                log.info(
                    "modem %s up on %s (%s %s)",
                    self.name,
                    path,
                    self.info.model,
                    self.info.operator,
                )
                nursery.start_soon(Traffic(self, port, sink).run)
                nursery.start_soon(self._health, port)
                nursery.start_soon(inbox.expire_loop)
        finally:
            self._in_use.discard(real)

    # -- bring-up ----------------------------------------------------------------------------
    async def _bring_up(self, port: AtPort, inbox: Inbox) -> None:
        flags = {"huawei": False, "smsc": bool(self.config.smsc)}
        self.quiet = False
        self.cmms = None
        for item in bringup.SEQUENCE:
            if isinstance(item, bringup.Gate):
                if item.name == "sync":
                    # Whatever answers the ESC (OK, an error, a half-sent PDU's result) is
                    # expected noise: let it arrive and drop it before the first AT.
                    port.expect_strays = True
                    await port.write_raw(b"\x1b")
                    await trio.sleep(SYNC_QUIET)
                    await sync(port, timeout=min(self.config.command_timeout, 3.0))
                    port.expect_strays = False
                elif item.name == "pin":
                    await self._unlock(port)
                elif item.name == "registration":
                    await self._register(port)
                elif item.name == "stored":
                    await inbox.read_stored()
                continue
            if item.when is not None and not flags.get(item.when, False):
                continue
            res = await self._step(port, item)
            if res is None:
                if item.required:
                    raise BringUpFailed(f"bring-up step {item.name} failed")
                continue
            if item.record:
                self._record(item.record, res)
            if item.name == "manufacturer":
                flags["huawei"] = "huawei" in (self.info.manufacturer or "").lower()
            elif item.name == "quiet":
                self.quiet = True
            elif item.name == "storage":
                self.info.memory = fields(res.command.text.split("=", 1)[1])[0] or "SM"
        await self._number(port)
        self._publish_info()

    async def _step(self, port: AtPort, step: bringup.Step) -> Response | None:
        values = {"smsc": self.config.smsc}
        for text in step.commands:
            cmd = bringup.render(text, values)
            for _ in range(BUSY_RETRIES):
                res = await port.command(
                    cmd, timeout=self.config.command_timeout, settle=step.settle
                )
                if res.ok:
                    return res
                info = classify_result(res.result.kind.value, res.result.code)
                if info.kind is not ErrorClass.BUSY:
                    break
                await trio.sleep(BUSY_PAUSE)
        return None

    def _record(self, what: str, res: Response) -> None:
        i = self.info
        if what in ("manufacturer", "model", "revision", "imei", "imsi", "iccid"):
            prefixes = ("+CGMI", "+CGMM", "+CGMR", "+CGSN", "+CIMI", "+CCID", "+ICCID", "+QCCID")
            setattr(i, what, parse_identity(res.lines, (*prefixes, "^ICCID")))
        elif what == "operator":
            i.operator = parse_cops(res.first("+COPS"))
        elif what == "signal":
            self.set_signal(csq_to_dbm(res.first("+CSQ")))
        elif what == "service":
            i.service = parse_csms(res.first("+CSMS"))

    async def _number(self, port: AtPort) -> None:
        res = await port.command("AT+CNUM", timeout=self.config.command_timeout)
        value = res.first("+CNUM") if res.ok else None
        if value:
            f = fields(value)
            if len(f) >= 2 and f[1]:
                self.info.number = f[1]

    def _publish_info(self) -> None:
        labels = (self.info.model or "unknown", self.info.operator or "unknown")
        if self._info_labels is not None and self._info_labels != labels:
            with contextlib.suppress(KeyError):
                self.metrics.modem_info.remove(self.route, self.name, *self._info_labels)
        self.metrics.modem_info.labels(self.route, self.name, *labels).set(1)
        self._info_labels = labels

    async def _unlock(self, port: AtPort) -> None:
        """Unlock the SIM; one PIN attempt per bring-up, none after a refusal."""
        timeout = self.config.command_timeout
        pin_sent = False
        for _ in range(30):
            res = await port.command("AT+CPIN?", timeout=timeout, settle=0.5)
            if not res.ok:
                info = classify_result(res.result.kind.value, res.result.code)
                if info.kind is ErrorClass.BUSY:
                    await trio.sleep(BUSY_PAUSE)
                    continue
                raise BringUpFailed(f"SIM: {info.code} {info.reason}")
            state = parse_cpin(res.first("+CPIN"))
            if state == "READY":
                return
            if state == "SIM PIN":
                if pin_sent:
                    raise ModemFatal("SIM still asks for its PIN after it was accepted")
                if not self.config.pin:
                    raise ModemFatal("SIM asks for a PIN and none is configured")
                if not is_decimal(self.config.pin, 8) or len(self.config.pin) < 4:
                    raise ModemFatal("the configured pin is not 4 to 8 digits; not sent")
                await self._enter_pin(port)
                pin_sent = True
                continue
            if state is not None and ("PUK" in state or state.startswith("PH-")):
                raise ModemFatal(f"SIM asks for {state}: unlock it by hand")
            await trio.sleep(BUSY_PAUSE)  # NOT READY and the like: the SIM is starting
        raise BringUpFailed("SIM not ready")

    async def _enter_pin(self, port: AtPort) -> None:
        for _ in range(BUSY_RETRIES):
            res = await port.command(
                f'AT+CPIN="{self.config.pin}"', timeout=self.config.command_timeout
            )
            if res.ok:
                return
            info = classify_result(res.result.kind.value, res.result.code)
            if info.kind is ErrorClass.BUSY:
                # The SIM did not look at the PIN; asking again uses no attempt.
                await trio.sleep(BUSY_PAUSE)
                continue
            raise ModemFatal(
                f"SIM refused the PIN ({info.code} {info.reason}); not retried, "
                "so the SIM does not lock: fix the pin in the config"
            )
        raise BringUpFailed("SIM busy while entering the PIN")

    async def _register(self, port: AtPort) -> None:
        deadline = trio.current_time() + self.config.registration_timeout
        while True:
            stat = await self._registration(port)
            if stat == 1 or (stat == 5 and self.config.roaming):
                self.set_registered(True, roaming=stat == 5)
                return
            if trio.current_time() >= deadline:
                why = "roaming and roaming = false" if stat == 5 else f"stat {stat}"
                raise BringUpFailed(f"not registered on a network ({why})")
            await trio.sleep(REGISTRATION_POLL)

    async def _registration(self, port: AtPort) -> int | None:
        """The best <stat> of +CREG (circuit) and +CEREG (LTE): 1 home, 5 roaming."""
        best: int | None = None
        for cmd in ("AT+CREG?", "AT+CEREG?"):
            res = await port.command(cmd, timeout=self.config.command_timeout)
            if not res.ok:
                continue
            stat = parse_creg(res.first(cmd[2:-1]))
            if stat == 1:
                return 1
            if stat == 5 or best is None:
                best = stat
        return best

    async def _health(self, port: AtPort) -> None:
        lost_at: float | None = None
        while True:
            await trio.sleep(HEALTH_INTERVAL)
            res = await port.command("AT+CSQ", timeout=self.config.command_timeout, settle=0.5)
            if res.ok:
                self.set_signal(csq_to_dbm(res.first("+CSQ")))
            stat = await self._registration(port)
            ok = stat == 1 or (stat == 5 and self.config.roaming)
            if ok != self.info.registered:
                self.set_registered(ok, roaming=stat == 5)
            self.changed()  # lets capacity waiters see a daily cap that rolled over
            if ok:
                lost_at = None
            elif lost_at is None:
                lost_at = trio.current_time()
            elif trio.current_time() - lost_at > self.config.registration_timeout:
                raise BringUpFailed("lost network registration")
