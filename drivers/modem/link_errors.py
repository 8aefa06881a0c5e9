"""How a modem port's transport failures become :class:`PortGone`, in one place.

:func:`link_error` is the one mapper the trio layer uses around opening, configuring, reading
and writing the serial port: ``serial.SerialException`` (pyserial's errors, an ``OSError``
too), any other ``OSError`` on the port (a USB modem unplugged: EIO, ENODEV), ``termios.error``
while configuring the tty, and a broken or closed trio stream over its descriptor become a
:class:`PortGone` whose reason names what failed; anything else is no transport failure and is
left to propagate (the modem contains it as an internal error).
"""

from __future__ import annotations

import termios

import serial
import trio

from smsgw.drivers.seam import LinkError

__all__ = ["PortGone", "link_error"]


class PortGone(LinkError):
    """The modem behind the port is unusable: EOF, an I/O error, or a command timed out.

    ``pdu_sent``: the part being sent had its PDU written before the port went (it may have
    left: a retry risks a duplicate).
    """

    def __init__(self, reason: str, *, pdu_sent: bool = False) -> None:
        super().__init__(reason)
        self.pdu_sent = pdu_sent


def link_error(exc: BaseException, failed: str) -> PortGone | None:
    """The :class:`PortGone` that ``exc`` means, its reason "<failed>: <the error>" (``failed``
    says what: "read failed", "cannot open /dev/ttyUSB0"), or None when ``exc`` is no
    transport failure (a bug, cancellation: let it propagate). A :class:`PortGone` is itself.

    A trio stream error carries the OSError that broke it as its cause; the cause is named.
    """
    if isinstance(exc, PortGone):
        return exc
    if isinstance(exc, trio.BrokenResourceError | trio.ClosedResourceError):
        return PortGone(f"{failed}: {exc.__cause__ or exc}")
    if isinstance(exc, serial.SerialException | OSError | termios.error):
        return PortGone(f"{failed}: {exc}")
    return None
