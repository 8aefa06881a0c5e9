"""Run emulated modems on ptys from the command line, to try a modem route without hardware.

    python -m smsgw.drivers.modem.emulate --link-dir /tmp/modems sim800 huawei_e3372

prints one line per modem (personality, tty, stable link) and serves until interrupted; point
a modem route's ``ports`` at the links. Each modem answers like its personality
(:data:`~smsgw.drivers.modem.personalities.PERSONALITIES`), including a status report per part
sent with one requested.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace

import trio

from smsgw.drivers.modem.emulator import ModemEmulator
from smsgw.drivers.modem.personalities import PERSONALITIES

__all__ = ["main"]


async def _serve(emus: list[ModemEmulator]) -> None:
    async with trio.open_nursery() as nursery:
        for e in emus:
            await nursery.start(e.run)
            print(
                json.dumps({"personality": e.personality.name, "tty": e.path, "link": e.link}),
                flush=True,
            )


def main(argv: list[str]) -> int:
    """Serve the named modems until interrupted; returns the exit status."""
    ap = argparse.ArgumentParser(
        prog="python -m smsgw.drivers.modem.emulate",
        description="Emulated GSM modems on ptys (personalities: "
        + ", ".join(sorted(PERSONALITIES))
        + ").",
    )
    ap.add_argument("personalities", nargs="+", choices=sorted(PERSONALITIES))
    ap.add_argument("--link-dir", required=True, help="where to put one stable symlink per modem")
    ap.add_argument("--send-delay", type=float, default=None, help="seconds per part sent")
    ap.add_argument("--report-delay", type=float, default=None, help="seconds until a report")
    args = ap.parse_args(argv)
    os.makedirs(args.link_dir, exist_ok=True)
    emus = []
    for i, name in enumerate(args.personalities):
        p = replace(PERSONALITIES[name], imei=f"{PERSONALITIES[name].imei[:-3]}{i:03d}")
        if args.send_delay is not None:
            p = replace(p, send_delay=args.send_delay)
        if args.report_delay is not None:
            p = replace(p, report_delay=args.report_delay)
        emus.append(ModemEmulator(p, link=os.path.join(args.link_dir, f"modem-{i}")))
    try:
        trio.run(_serve, emus)
    except* KeyboardInterrupt:
        pass  # Ctrl-C is how it stops; the links are gone by now
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
