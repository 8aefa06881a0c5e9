"""Finding modems: list USB serial ports, probe one for an AT modem, resolve a port spec.

A port in config is one of:

* a path, best a stable one (``/dev/serial/by-id/usb-HUAWEI_...-if00-port0`` or a udev
  symlink such as ``/dev/modem-sim1``): opened as is, so it follows the device when the kernel
  gives it a new ``ttyUSBn``;
* ``usb:SERIAL``: the first port of the USB device with that serial number that answers AT;
* ``imei:NNN``: the port whose modem reports that IMEI (each candidate not in use is probed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass

import trio
from serial.tools import list_ports

from smsgw.drivers.modem.port import AtPort, PortGone, open_port, unwrap_group
from smsgw.drivers.modem.responses import csq_to_dbm, parse_cpin, parse_identity

__all__ = ["ProbeResult", "UsbPort", "find_port", "probe", "real_path", "sync", "usb_ports"]


@dataclass(frozen=True, slots=True)
class UsbPort:
    """A serial port as the OS lists it."""

    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    manufacturer: str | None
    product: str | None
    description: str


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a short AT conversation told about a port (None where it did not answer)."""

    device: str
    answers: bool
    manufacturer: str | None = None
    model: str | None = None
    imei: str | None = None
    sim: str | None = None
    signal_dbm: int | None = None
    error: str | None = None


def usb_ports() -> list[UsbPort]:
    """Serial ports of USB devices (and others with a USB id), sorted by device name."""
    out = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        if p.vid is None and not os.path.basename(p.device).startswith(("ttyUSB", "ttyACM")):
            continue
        out.append(
            UsbPort(
                device=p.device,
                vid=p.vid,
                pid=p.pid,
                serial_number=p.serial_number,
                manufacturer=p.manufacturer,
                product=p.product,
                description=p.description,
            )
        )
    return out


def real_path(path: str) -> str:
    """The device a path leads to (a /dev lookup: no disk I/O worth a thread)."""
    return os.path.realpath(path)


def _present(path: str) -> bool:
    return os.path.exists(path)


def _count(_: str) -> None:
    return None


async def sync(port: AtPort, *, timeout: float, attempts: int = 3) -> None:
    """Get the modem's attention: ESC (leave a half-finished send), then ``AT`` until OK.

    Raises :class:`PortGone` if it never answers.
    """
    await port.write_raw(b"\x1b")
    last = "no answer"
    for _ in range(attempts):
        try:
            res = await port.command("AT", timeout=timeout)
        except PortGone as e:
            if e.reason.startswith(("read failed", "end of file", "write failed", "closed")):
                raise
            last = e.reason
            continue
        if res.ok:
            return
        last = res.result.describe()
    raise PortGone(f"modem does not answer AT ({last})")


async def probe(device: str, *, baudrate: int = 115200, timeout: float = 2.0) -> ProbeResult:
    """Open ``device``, ask who it is, close it. Never raises for a port that is not a modem."""
    try:
        port = open_port(device, baudrate, _count)
    except PortGone as e:
        return ProbeResult(device, False, error=e.reason)
    try:
        try:
            async with port, trio.open_nursery() as nursery:
                nursery.start_soon(_reader_ignoring_gone, port)
                try:
                    result = await _ask(port, device, timeout)
                finally:
                    nursery.cancel_scope.cancel()
                return result
        except BaseExceptionGroup as group:
            unwrap_group(group, PortGone)
            raise  # pragma: no cover - unwrap_group always raises
    except PortGone as e:
        return ProbeResult(device, False, error=e.reason)


async def _reader_ignoring_gone(port: AtPort) -> None:
    with contextlib.suppress(PortGone):
        await port.reader()


async def _ask(port: AtPort, device: str, timeout: float) -> ProbeResult:
    await sync(port, timeout=timeout, attempts=2)
    await port.command("ATE0", timeout=timeout)

    async def one(cmd: str, settle: float | None = None) -> list[str] | None:
        r = await port.command(cmd, timeout=timeout, settle=settle)
        return list(r.lines) if r.ok else None

    manu = await one("AT+CGMI")
    model = await one("AT+CGMM")
    imei = await one("AT+CGSN")
    cpin = await port.command("AT+CPIN?", timeout=timeout, settle=0.5)
    sim = parse_cpin(cpin.first("+CPIN")) if cpin.ok else cpin.result.describe()
    csq = await port.command("AT+CSQ", timeout=timeout, settle=0.5)
    return ProbeResult(
        device,
        True,
        manufacturer=parse_identity(manu or [], ("+CGMI",)),
        model=parse_identity(model or [], ("+CGMM",)),
        imei=parse_identity(imei or [], ("+CGSN",)),
        sim=sim,
        signal_dbm=csq_to_dbm(csq.first("+CSQ")) if csq.ok else None,
    )


async def find_port(
    spec: str,
    *,
    candidates: Callable[[], list[str]],
    in_use: Collection[str],
    baudrate: int,
    timeout: float,
) -> str | None:
    """The device path for ``spec`` now, or None if no such modem is present.

    ``candidates()`` lists device paths to consider for ``imei:``; paths in ``in_use`` (real
    paths of ports other modems hold) are never opened.
    """
    if spec.startswith("imei:"):
        want = spec[5:].strip()
        for dev in candidates():
            if real_path(dev) in in_use:
                continue
            res = await probe(dev, baudrate=baudrate, timeout=timeout)
            if res.imei == want:
                return dev
        return None
    if spec.startswith("usb:"):
        want = spec[4:].strip()
        for p in usb_ports():
            if p.serial_number != want or real_path(p.device) in in_use:
                continue
            if (await probe(p.device, baudrate=baudrate, timeout=timeout)).answers:
                return p.device
        return None
    return spec if _present(spec) else None
