"""``smsgw bench --real-path``: its webhook receiver behaves like the receivers stores run, and
the mode measures the whole path (every message's final webhook arrives)."""

from __future__ import annotations

import subprocess
import sys
from functools import partial

import msgspec
import pytest
import trio

from smsgw.gateway.bench_receiver import Receiver, ReceiverStats, serve_receiver


def _hook(public_id: str, status: str, *, close: bool = False) -> bytes:
    body = msgspec.json.encode({"event": "message.status", "id": public_id, "status": status})
    head = f"POST /hooks HTTP/1.1\r\nHost: r\r\nContent-Length: {len(body)}\r\n"
    if close:
        head += "Connection: close\r\n"
    return (head + "\r\n").encode() + body


async def _answer(stream: trio.SocketStream, buf: bytearray) -> tuple[bytes, bytes]:
    """One response: (head, body), framed by its Content-Length."""
    while b"\r\n\r\n" not in buf:
        chunk = await stream.receive_some(4096)
        assert chunk, "the receiver closed the connection"
        buf += chunk
    end = buf.index(b"\r\n\r\n")
    head = bytes(buf[:end])
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(buf) < end + 4 + length:
        buf += await stream.receive_some(4096)
    body = bytes(buf[end + 4 : end + 4 + length])
    del buf[: end + 4 + length]
    return head, body


async def _stats(stream: trio.SocketStream, buf: bytearray) -> ReceiverStats:
    await stream.send_all(b"GET /stats HTTP/1.1\r\nHost: r\r\n\r\n")
    return msgspec.json.decode((await _answer(stream, buf))[1], type=ReceiverStats)


async def test_receiver_keeps_the_connection_open_even_when_asked_to_close(
    nursery: trio.Nursery,
) -> None:
    r: Receiver = await nursery.start(serve_receiver)
    async with await trio.open_tcp_stream("127.0.0.1", r.port) as stream:
        buf = bytearray()
        await stream.send_all(_hook("msg_1", "sending", close=True))
        head, body = await _answer(stream, buf)
        assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: 2" in head and body == b"ok"
        # The same connection still takes requests: a client that reads to EOF would wait forever.
        await stream.send_all(_hook("msg_1", "submitted"))
        assert (await _answer(stream, buf))[1] == b"ok"
        stats = await _stats(stream, buf)
        assert (stats.events, stats.connections, stats.finals) == (2, 1, 0)


async def test_receiver_closes_when_asked_if_told_to(nursery: trio.Nursery) -> None:
    r: Receiver = await nursery.start(partial(serve_receiver, close_when_asked=True))
    async with await trio.open_tcp_stream("127.0.0.1", r.port) as stream:
        buf = bytearray()
        await stream.send_all(_hook("msg_1", "sending", close=True))
        assert (await _answer(stream, buf))[1] == b"ok"
        assert await stream.receive_some(4096) == b""


async def test_receiver_counts_finals_repeats_and_order(nursery: trio.Nursery) -> None:
    r: Receiver = await nursery.start(serve_receiver)
    async with await trio.open_tcp_stream("127.0.0.1", r.port) as stream:
        buf = bytearray()
        chunked = (
            b"POST /hooks HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'10\r\n{"id":"msg_3","s\r\n13\r\ntatus":"delivered"}\r\n0\r\n\r\n'
        )
        # Pipelined, one of them chunked: answered in order, all counted.
        await stream.send_all(
            _hook("msg_1", "submitted")
            + _hook("msg_1", "delivered")
            + _hook("msg_1", "delivered")  # a redelivery
            + _hook("msg_2", "failed")
            + _hook("msg_2", "submitted")  # an earlier status after the final one
            + chunked
            + b"POST /hooks HTTP/1.1\r\nHost: r\r\nContent-Length: 5\r\n\r\nnope!"
        )
        for _ in range(7):
            assert (await _answer(stream, buf))[1] == b"ok"
        stats = await _stats(stream, buf)
        assert stats.requests == 7
        assert stats.events == 6
        assert stats.messages == 3
        assert stats.finals == 3
        assert stats.repeated == 1
        assert stats.out_of_order == 1
        assert stats.by_status == {"submitted": 2, "delivered": 3, "failed": 1}
        assert 0 < stats.first_final_at <= stats.last_final_at


@pytest.mark.slow
def test_real_path_bench_sees_every_final_webhook() -> None:
    """A small run of the whole mode: gateway, smsc-sim and receiver as processes."""
    argv = [sys.executable, "-m", "smsgw", "bench", "--real-path", "--requests", "200"]
    argv += ["--accept-requests", "200", "--receiver-closes", "--webhook-wait", "60"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    result = msgspec.json.decode(out.stdout)
    real, accept = result["real_path"], result["accept_only"]
    assert real["messages"] == 200
    assert real["final_webhook_missing"] == 0
    assert real["webhooks"]["by_status"]["delivered"] == 200
    assert real["webhooks"]["out_of_order"] == 0
    assert real["gateway_cpu_us_per_msg"] > 0
    assert accept["requests"] == 200
    assert accept["gateway_cpu_us_per_request"] > 0
