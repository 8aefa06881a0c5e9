"""``smsgw modems``: list USB serial ports and probe each for an AT modem.

For the operator writing the ``ports`` of a modem route: which tty is which modem (model,
IMEI, SIM state, signal), the USB vendor/product ids and serial numbers a udev rule can match,
and the stable ``/dev/serial/by-id`` names that survive re-plugging.

Probing writes ESC and a few read-only AT commands (AT, ATE0, +CGMI, +CGMM, +CGSN, +CPIN?,
+CSQ); never run it on a port a running smsgw uses (it opens ports exclusively, so a busy port
shows as busy rather than being disturbed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict

import trio

from smsgw.drivers.modem.discovery import ProbeResult, UsbPort, probe, usb_ports

__all__ = ["main"]

_BY_ID = "/dev/serial/by-id"


def _stable_names() -> dict[str, list[str]]:
    """Device real path -> its /dev/serial/by-id names."""
    out: dict[str, list[str]] = {}
    try:
        entries = sorted(os.listdir(_BY_ID))
    except OSError:
        return out
    for name in entries:
        full = os.path.join(_BY_ID, name)
        out.setdefault(os.path.realpath(full), []).append(full)
    return out


async def _probe_all(devices: list[str], baudrate: int, timeout: float) -> dict[str, ProbeResult]:
    results: dict[str, ProbeResult] = {}

    async def one(dev: str) -> None:
        results[dev] = await probe(dev, baudrate=baudrate, timeout=timeout)

    async with trio.open_nursery() as nursery:
        for dev in devices:
            nursery.start_soon(one, dev)
    return results


def _hex(v: int | None) -> str:
    return f"{v:04x}" if v is not None else "----"


def main(argv: list[str]) -> int:
    """Run ``smsgw modems``; returns the exit status (0, or 1 when no port was found)."""
    ap = argparse.ArgumentParser(
        prog="smsgw modems",
        description="List USB serial ports and probe each for an AT modem "
        "(model, IMEI, SIM state, signal), to write a modem route's ports.",
    )
    ap.add_argument("devices", nargs="*", help="probe these devices instead of listing USB ports")
    ap.add_argument("--no-probe", action="store_true", help="only list, do not open the ports")
    ap.add_argument("--baudrate", type=int, default=115200)
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds per command")
    ap.add_argument("--json", action="store_true", help="print one JSON object per port")
    args = ap.parse_args(argv)

    ports: list[UsbPort] = (
        [UsbPort(d, None, None, None, None, None, "") for d in args.devices]
        if args.devices
        else usb_ports()
    )
    if not ports:
        print("no USB serial ports found", file=sys.stderr)
        return 1
    results: dict[str, ProbeResult] = {}
    if not args.no_probe:
        results = trio.run(_probe_all, [p.device for p in ports], args.baudrate, args.timeout)
    stable = _stable_names()
    for p in ports:
        res = results.get(p.device)
        names = stable.get(os.path.realpath(p.device), [])
        if args.json:
            row: dict[str, object] = {**asdict(p), "stable_names": names}
            if res is not None:
                row["probe"] = asdict(res)
            print(json.dumps(row))
            continue
        print(
            f"{p.device}  usb {_hex(p.vid)}:{_hex(p.pid)}  serial {p.serial_number or '-'}"
            f"  {p.manufacturer or ''} {p.product or p.description or ''}".rstrip()
        )
        for n in names:
            print(f"    stable name: {n}")
        if res is None:
            continue
        if not res.answers:
            print(f"    no AT modem ({res.error})")
            continue
        signal = f"{res.signal_dbm} dBm" if res.signal_dbm is not None else "unknown"
        print(f"    modem: {res.manufacturer or '?'} {res.model or '?'}  IMEI {res.imei or '?'}")
        print(f"    SIM: {res.sim or '?'}  signal: {signal}")
    return 0
