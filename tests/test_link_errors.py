"""Transport failures become a link error in one place per driver: the SMPP mapper
(smsgw.drivers.smpp.link_errors) and the modem one (smsgw.drivers.modem.link_errors), both
under the seam's LinkError; anything that is no transport failure is left alone."""

from __future__ import annotations

import errno
import os
import ssl
import termios
from pathlib import Path

import pytest
import serial
import trio
import trio.testing

from smsgw.drivers.modem import link_errors as modem
from smsgw.drivers.modem.inbox import ModemRestarted
from smsgw.drivers.modem.port import PortGone, open_port
from smsgw.drivers.seam import LinkError
from smsgw.drivers.smpp import link_errors as smpp
from smsgw.drivers.smpp.link import LinkDown


def _broken(cause: BaseException) -> trio.BrokenResourceError:
    exc = trio.BrokenResourceError()
    exc.__cause__ = cause
    return exc


def test_both_drivers_errors_are_link_errors() -> None:
    assert LinkDown is smpp.LinkDown
    for err in (LinkDown("x"), PortGone("x"), ModemRestarted("x")):
        assert isinstance(err, LinkError) and err.reason == "x" and str(err) == "x"


@pytest.mark.parametrize(
    ("exc", "doing", "reason"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "connect",
         "connection: [Errno 111] Connection refused"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "connect",
         "connection: [SSL: WRONG_VERSION_NUMBER] wrong version number"),
        (trio.TooSlowError(), "connect", "connect timed out"),
        (trio.BrokenResourceError("socket connection broken"), "read",
         "read failed: socket connection broken"),
        (_broken(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")), "write",
         "write failed: [Errno 104] Connection reset by peer"),
        (trio.ClosedResourceError(), "close", "close failed: ClosedResourceError"),
    ],
)  # fmt: skip
def test_the_smpp_mapper_names_what_failed(
    exc: BaseException, doing: smpp.Doing, reason: str
) -> None:
    down = smpp.link_error(exc, doing)
    assert isinstance(down, LinkDown) and down.reason == reason


def test_the_smpp_mapper_keeps_a_link_down_and_leaves_everything_else() -> None:
    down = LinkDown("the SMSC unbound")
    assert smpp.link_error(down, "read") is down
    for other in (ValueError("bug"), KeyError("k"), KeyboardInterrupt(), PortGone("modem")):
        assert smpp.link_error(other, "read") is None


async def test_a_refused_connection_maps_to_a_connection_error() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()  # nothing listens there any more
    with trio.fail_after(5), pytest.raises(OSError) as caught:
        await trio.open_tcp_stream("127.0.0.1", port)
    down = smpp.link_error(caught.value, "connect")
    assert down is not None and down.reason.startswith("connection: ")


async def test_writing_to_a_peer_that_closed_maps_to_a_write_error() -> None:
    a, b = trio.testing.memory_stream_pair()
    await b.aclose()
    with trio.fail_after(5), pytest.raises(trio.BrokenResourceError) as caught:
        await a.send_all(b"x")
    down = smpp.link_error(caught.value, "write")
    assert down is not None and down.reason.startswith("write failed: ")


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (serial.SerialException("could not open port /dev/ttyUSB9"),
         "read failed: could not open port /dev/ttyUSB9"),
        (OSError(errno.EIO, "Input/output error"), "read failed: [Errno 5] Input/output error"),
        (termios.error(25, "Inappropriate ioctl for device"),
         "read failed: (25, 'Inappropriate ioctl for device')"),
        (_broken(OSError(errno.ENODEV, "No such device")),
         "read failed: [Errno 19] No such device"),
        (trio.ClosedResourceError("this stream was closed"),
         "read failed: this stream was closed"),
    ],
)  # fmt: skip
def test_the_modem_mapper_names_what_failed(exc: BaseException, reason: str) -> None:
    gone = modem.link_error(exc, "read failed")
    assert isinstance(gone, PortGone) and gone.reason == reason and not gone.pdu_sent


def test_the_modem_mapper_keeps_a_port_gone_and_leaves_everything_else() -> None:
    gone = PortGone("AT+CMGS: no answer", pdu_sent=True)
    assert modem.link_error(gone, "read failed") is gone
    for other in (ValueError("bug"), KeyboardInterrupt(), LinkDown("smpp"), trio.TooSlowError()):
        assert modem.link_error(other, "read failed") is None


def test_a_missing_port_cannot_be_opened(tmp_path: Path) -> None:
    path = str(tmp_path / "ttyUSB9")
    with pytest.raises(PortGone) as caught:
        open_port(path, 115200, lambda kind: None)
    assert caught.value.reason.startswith(f"cannot open {path}: ")


def test_a_file_that_is_no_tty_cannot_be_configured(tmp_path: Path) -> None:
    path = tmp_path / "not-a-tty"
    path.write_bytes(b"")
    with pytest.raises(PortGone) as caught:
        open_port(str(path), 115200, lambda kind: None)
    assert caught.value.reason.startswith(("cannot open", "cannot configure"))


async def test_a_pty_whose_other_end_closed_reads_as_port_gone() -> None:
    controller, device = os.openpty()
    port = open_port(os.ttyname(device), 115200, lambda kind: None)
    os.close(device)
    try:
        os.close(controller)  # the modem is unplugged: the tty hangs up
        with trio.fail_after(5), pytest.raises(PortGone) as caught:
            await port.reader()
        assert caught.value.reason.startswith(("read failed: ", "end of file"))
    finally:
        port.close()
