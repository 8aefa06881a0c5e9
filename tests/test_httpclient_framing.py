"""The HTTP client's framing edges, against scripted receivers on real loopback sockets: what
ends an answer, when a connection may carry another request, and the caps on an answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import pytest
import trio

from smsgw.gateway.httpclient import HttpClientError, Pool, parse_url, request
from smsgw.gateway.httpclient.connection import MAX_HEAD
from tests.receivers import Received, Receiver, content_length, start_receiver

MakePool = Callable[..., Pool]


@pytest.fixture
async def make_pool() -> AsyncIterator[MakePool]:
    made: list[Pool] = []

    def make(**kw: Any) -> Pool:
        made.append(Pool(**kw))
        return made[-1]

    yield make
    for p in made:
        await p.aclose()


async def post(pool: Pool, url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    r = await pool.request(b"POST", parse_url(url), [], b"{}", timeout=timeout)
    return r.status, r.body


async def serve(nursery: trio.Nursery, handler: Callable[[trio.SocketStream], Any]) -> int:
    """A hand-scripted peer on 127.0.0.1; returns its port."""
    listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    return int(listeners[0].socket.getsockname()[1])


async def twice(pool: Pool, receiver: Receiver) -> int:
    """Two requests in turn; returns how many connections the receiver saw."""
    await post(pool, receiver.url)
    await post(pool, receiver.url)
    return receiver.connections


async def test_an_answer_in_many_pieces_is_read_whole(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    async def in_pieces(stream: trio.SocketStream) -> None:
        async with stream:
            await stream.receive_some(65536)
            for piece in (b"HTTP/1.1 2", b"01 Created\r\nContent-Le", b"ngth: 5\r\n\r\nab", b"cde"):
                await stream.send_all(piece)
                await trio.sleep(0.01)
            await trio.sleep_forever()

    port = await serve(nursery, in_pieces)
    assert await post(make_pool(), f"http://127.0.0.1:{port}/") == (201, b"abcde")


async def test_an_informational_answer_sent_apart_is_skipped(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    async def continue_then_answer(stream: trio.SocketStream) -> None:
        async with stream:
            await stream.receive_some(65536)
            await stream.send_all(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
            await trio.sleep(0.01)
            await stream.send_all(content_length(200, b"real"))
            await trio.sleep_forever()

    port = await serve(nursery, continue_then_answer)
    pool = make_pool()
    r = await pool.request(b"POST", parse_url(f"http://127.0.0.1:{port}/"), [], b"", timeout=5)
    assert (r.status, r.body) == (200, b"real")
    assert (b"link", b"</a>") not in r.headers and pool.idle == 1


@pytest.mark.parametrize(
    "answer",
    [
        content_length(200, b"ok", "Connection: close\r\n"),
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        content_length(200) + b"HTTP/1.1 200 X\r\nContent-Length: 2\r\n\r\nno",
        content_length(200) + b"\x00garbage",
    ],
    ids=["connection-close", "http-1.0", "a-second-answer", "garbage-after"],
)
async def test_a_connection_is_reused_only_after_a_clean_keep_alive_answer(
    make_pool: MakePool, nursery: trio.Nursery, answer: bytes
) -> None:
    receiver = await start_receiver(nursery, answer)
    pool = make_pool()
    assert await post(pool, receiver.url) == (200, b"ok")
    assert pool.idle == 0
    assert await twice(pool, receiver) == 3


async def test_an_answer_cut_short_is_a_protocol_error(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    async def cut(req: Received) -> object:
        return b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"

    receiver = await start_receiver(nursery, cut, closes_after_answer=True)
    with pytest.raises(HttpClientError) as e:
        await post(make_pool(), receiver.url)
    assert e.value.kind == "protocol" and "mid-answer" in str(e.value)
    # Got some bytes of an answer: not retried on a fresh connection.
    assert len(receiver.requests) == 1


async def test_the_answer_head_is_bounded(make_pool: MakePool, nursery: trio.Nursery) -> None:
    big = "X-Pad: " + "p" * 2000 + "\r\n"
    receiver = await start_receiver(nursery, content_length(200, b"ok", big * 10))
    with pytest.raises(HttpClientError) as e:
        await post(make_pool(), receiver.url)
    assert e.value.kind == "protocol" and str(MAX_HEAD) in str(e.value)

    async def endless_head(stream: trio.SocketStream) -> None:
        async with stream:
            await stream.receive_some(65536)
            await stream.send_all(b"HTTP/1.1 200 OK\r\nX-Long: ")
            while True:
                await stream.send_all(b"y" * 4096)

    port = await serve(nursery, endless_head)
    with pytest.raises(HttpClientError) as e:
        await post(make_pool(), f"http://127.0.0.1:{port}/")
    assert e.value.kind == "protocol"


async def test_a_protocol_switch_nobody_asked_for_is_refused(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(
        nursery, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
    )
    with pytest.raises(HttpClientError) as e:
        await post(make_pool(), receiver.url)
    assert e.value.kind == "protocol"


async def test_no_body_answers_end_at_their_head(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery, b"HTTP/1.1 204 No Content\r\n\r\n")
    pool = make_pool()
    assert await post(pool, receiver.url) == (204, b"")
    assert await twice(pool, receiver) == 1
    head = await start_receiver(nursery, content_length(200, b""))
    assert await request("HEAD", head.url) == (200, b"")
    assert head.requests[0].method == "HEAD"


async def test_a_timeout_or_cancel_mid_answer_closes_the_connection(
    make_pool: MakePool, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    closed_send, closed = trio.open_memory_channel[bytes](10)

    async def half(stream: trio.SocketStream) -> None:
        async with stream:
            await stream.receive_some(65536)
            await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            await closed_send.send(await stream.receive_some(65536))

    port = await serve(nursery, half)
    pool = make_pool()
    with pytest.raises(HttpClientError) as e:
        await post(pool, f"http://127.0.0.1:{port}/", timeout=2.0)
    assert e.value.kind == "timeout" and pool.idle == 0
    with trio.move_on_after(1.0):
        await post(pool, f"http://127.0.0.1:{port}/")
    # Both connections were closed by the client (the receiver reads EOF), none kept.
    assert [await closed.receive(), await closed.receive()] == [b"", b""]
    assert pool.idle == 0


async def test_a_refused_connection_is_a_connect_error(make_pool: MakePool) -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nobody listens there now
    with pytest.raises(HttpClientError) as e:
        await post(make_pool(), f"http://127.0.0.1:{port}/")
    assert e.value.kind == "connect" and not e.value.permanent
    assert "cannot connect" in str(e.value)
