"""systemd's notify protocol (sd_notify): READY=1, STOPPING=1 and watchdog pings.

Does nothing when NOTIFY_SOCKET is not set (not started by systemd with Type=notify).
"""

from __future__ import annotations

import os
import socket

import trio

__all__ = ["notify", "watchdog"]


def notify(state: str) -> bool:
    """Send ``state`` (e.g. "READY=1") to systemd; returns False when not under systemd."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]  # abstract namespace socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(path)
            sock.sendall(state.encode())
        except OSError:
            return False
    return True


async def watchdog() -> None:
    """Ping the watchdog at half the interval systemd asked for; returns if none was asked."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or len(usec) > 18 or not (usec.isascii() and usec.isdecimal()):
        return
    interval = int(usec) / 1e6 / 2
    while True:
        notify("WATCHDOG=1")
        await trio.sleep(interval)
