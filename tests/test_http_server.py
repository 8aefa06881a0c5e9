"""The HTTP/1.1 server against real loopback sockets: framing, limits, timeouts, shutdown.

The client here writes raw bytes and parses answers by hand, so what is tested is what goes
over the wire. Timeouts run on trio's autojump clock and are asserted to the sweeper's tick.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import hypothesis
import hypothesis.strategies as st
import msgspec
import pytest
import trio

from smsgw.gateway.http import HttpLimits, HttpServer, Request, Response
from smsgw.gateway.http_protocol import RequestReader

Hook = Callable[[Request | None, int, float], None]


async def echo(req: Request) -> Response:
    if req.path == "/boom":
        raise RuntimeError("handler bug")
    await trio.lowlevel.checkpoint()
    return Response.json(
        200,
        {
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "body": req.body.decode("latin-1"),
            "version": req.http_version,
            "keep_alive": req.keep_alive,
            "remote": req.remote,
            "headers": req.headers,
        },
    )


async def start(
    nursery: trio.Nursery,
    handler: Callable[[Request], Awaitable[Response]] = echo,
    on_response: Hook | None = None,
    **limits: Any,
) -> tuple[HttpServer, int]:
    server = HttpServer(handler, HttpLimits(**limits), on_response=on_response)
    host, port = await nursery.start(server.serve, "127.0.0.1", 0)
    assert host == "127.0.0.1" and port > 0
    return server, port


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    def error_code(self) -> str:
        code: str = self.json()["error"]["code"]
        return code


class Client:
    """A raw HTTP/1.1 client on one connection: bytes out, answers parsed by hand."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buf = b""

    @classmethod
    async def connect(cls, port: int) -> Client:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def _fill(self) -> None:
        chunk = await self.stream.receive_some(65536)
        if not chunk:
            raise EOFError(f"server closed; unparsed: {self.buf!r}")
        self.buf += chunk

    async def response(self, *, head: bool = False, timeout: float = 100) -> Reply:
        with trio.fail_after(timeout):
            while b"\r\n\r\n" not in self.buf:
                await self._fill()
            raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
            status_line, *lines = raw.decode("latin-1").split("\r\n")
            version, status, _ = status_line.split(" ", 2)
            assert version == "HTTP/1.1"
            headers: dict[str, str] = {}
            for line in lines:
                name, _, value = line.partition(":")
                assert name.lower() not in headers, f"repeated header {name}"
                headers[name.lower()] = value.strip()
            size = 0 if head else int(headers.get("content-length", "0"))
            while len(self.buf) < size:
                await self._fill()
            body, self.buf = self.buf[:size], self.buf[size:]
            return Reply(int(status), headers, body)

    async def eof(self, timeout: float = 100) -> bytes:
        """Read until the server closes; return whatever came that was not parsed."""
        with trio.fail_after(timeout):
            try:
                while chunk := await self.stream.receive_some(65536):
                    self.buf += chunk
            except trio.BrokenResourceError:
                pass  # a reset also means closed
        rest, self.buf = self.buf, b""
        return rest

    async def aclose(self) -> None:
        await self.stream.aclose()


Connect = Callable[[int], Awaitable[Client]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Opens client connections and closes them after the test."""
    opened: list[Client] = []

    async def open_client(port: int) -> Client:
        client = await Client.connect(port)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.aclose()


def get(path: str, *extra: str) -> bytes:
    return "".join(
        [f"GET {path} HTTP/1.1\r\nHost: t\r\n", *(h + "\r\n" for h in extra), "\r\n"]
    ).encode()


def post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n"]
    head += [h + "\r\n" for h in extra]
    return "".join([*head, "\r\n"]).encode() + body


# -- keep-alive, pipelining, versions -----------------------------------------------------------


async def test_keep_alive_serves_several_requests_on_one_connection(
    nursery: trio.Nursery, connect: Connect
) -> None:
    server, port = await start(nursery)
    c = await connect(port)
    for i in range(3):
        await c.send(post(f"/v1/things/a%2Fb{i}?n={i}&n=last&empty=", b"hello %d" % i))
        r = await c.response()
        assert r.status == 200
        assert r.headers["content-type"] == "application/json"
        assert r.headers["content-length"] == str(len(r.body))
        assert "connection" not in r.headers and "date" in r.headers
        got = r.json()
        assert got["method"] == "POST" and got["path"] == f"/v1/things/a/b{i}"
        assert got["query"] == {"n": "last", "empty": ""}
        assert got["body"] == f"hello {i}"
        assert got["headers"]["host"] == "t" and got["keep_alive"] is True
        assert got["remote"].startswith("127.0.0.1:")
    stats = server.statistics()
    assert stats["connections"] == 1 and stats["requests"] == 3 and stats["accepting"] is True


async def test_pipelined_requests_are_answered_in_order_in_one_write(
    nursery: trio.Nursery,
    connect: Connect,
) -> None:
    server, port = await start(nursery)
    c = await connect(port)
    await c.send(b"".join([get(f"/{i}") for i in range(10)] + [post("/last", b"xyz")]))
    paths = [(await c.response()).json()["path"] for _ in range(11)]
    assert paths == [f"/{i}" for i in range(10)] + ["/last"]
    assert server.statistics()["writes"] == 1


async def test_pipelining_past_the_bound_pauses_reading_but_answers_everything(
    nursery: trio.Nursery,
    connect: Connect,
) -> None:
    server, port = await start(nursery, max_pipelined=2)
    c = await connect(port)
    pad = "X-Pad: " + "p" * 1000
    await c.send(b"".join(get(f"/{i}", pad) for i in range(40)))
    paths = [(await c.response()).json()["path"] for _ in range(40)]
    assert paths == [f"/{i}" for i in range(40)]
    # 40 KB arrived at once, yet answers went out in several rounds: parsing paused.
    assert server.statistics()["writes"] > 5


async def test_http10_closes_unless_keep_alive_is_asked(
    nursery: trio.Nursery, connect: Connect
) -> None:
    _, port = await start(nursery)
    c = await connect(port)
    await c.send(b"GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r = await c.response()
    assert r.headers["connection"] == "keep-alive"
    assert r.json()["version"] == "1.0"
    await c.send(b"GET /once HTTP/1.0\r\n\r\n")
    r = await c.response()
    assert r.json()["path"] == "/once" and r.headers["connection"] == "close"
    assert await c.eof() == b""


async def test_connection_close_is_honoured_and_nothing_after_it_is_answered(
    nursery: trio.Nursery,
    connect: Connect,
) -> None:
    _, port = await start(nursery)
    c = await connect(port)
    await c.send(get("/bye", "Connection: close") + get("/ignored"))
    r = await c.response()
    assert r.json()["path"] == "/bye" and r.headers["connection"] == "close"
    assert await c.eof() == b""


async def test_head_gets_the_length_but_no_body(nursery: trio.Nursery, connect: Connect) -> None:
    _, port = await start(nursery)
    c = await connect(port)
    await c.send(get("/thing"))
    full = await c.response()
    await c.send(b"HEAD /thing HTTP/1.1\r\nHost: t\r\n\r\n" + get("/after"))
    head = await c.response(head=True)
    assert head.status == 200 and head.body == b""
    # The echo differs only in the method name: HEAD is one byte longer than GET.
    assert int(head.headers["content-length"]) == len(full.body) + 1
    # Had a body been sent, it would be parsed here as the next answer and fail.
    assert (await c.response()).json()["path"] == "/after"


async def test_an_upgrade_request_is_answered_and_the_connection_closed(
    nursery: trio.Nursery, connect: Connect
) -> None:
    _, port = await start(nursery)
    c = await connect(port)
    await c.send(get("/ws", "Connection: Upgrade", "Upgrade: websocket") + b"\x81\x05hello")
    r = await c.response()
    assert r.json()["path"] == "/ws" and r.headers["connection"] == "close"
    assert await c.eof() == b""


# -- bodies ----------------------------------------------------------------------------------


async def test_chunked_body_is_reassembled(nursery: trio.Nursery, connect: Connect) -> None:
    _, port = await start(nursery)
    c = await connect(port)
    await c.send(
        b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n" + get("/next")
    )
    r = await c.response()
    assert r.status == 200 and r.json()["body"] == "hello world"
    assert "x-trailer" not in r.json()["headers"]
    assert (await c.response()).json()["path"] == "/next"


async def test_expect_100_continue_is_answered_before_the_body(
    nursery: trio.Nursery, connect: Connect
) -> None:
    _, port = await start(nursery)
    c = await connect(port)
    await c.send(
        b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
    )
    interim = await c.response()
    assert interim.status == 100 and interim.body == b""
    await c.send(b"data")
    r = await c.response()
    assert r.status == 200 and r.json()["body"] == "data"


async def test_declared_body_over_the_limit_is_413_without_100_continue(
    nursery: trio.Nursery,
    connect: Connect,
) -> None:
    _, port = await start(nursery, max_body_bytes=1000)
    c = await connect(port)
    await c.send(
        b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n"
    )
    r = await c.response()
    assert r.status == 413 and r.error_code() == "body_too_large"
    assert r.headers["connection"] == "close"
    assert await c.eof() == b""


async def test_body_over_the_limit_is_413_and_the_client_gets_to_read_it(
    nursery: trio.Nursery,
    connect: Connect,
) -> None:
    _, port = await start(nursery, max_body_bytes=1000)
    c = await connect(port)
    # The client pushes the whole body before reading: the server reads it away (lingering
    # close) instead of resetting the connection under the client's feet.
    await c.send(post("/big", b"x" * 300_000))
    r = await c.response()
    assert r.status == 413 and r.error_code() == "body_too_large"
    assert await c.eof() == b""


async def test_chunked_body_over_the_limit_is_413(nursery: trio.Nursery, connect: Connect) -> None:
    _, port = await start(nursery, max_body_bytes=1000)
    c = await connect(port)
    chunk = b"400\r\n" + b"y" * 1024 + b"\r\n"
    await c.send(b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk)
    r = await c.response()
    assert r.status == 413 and r.error_code() == "body_too_large"
    assert await c.eof() == b""


# -- bad requests ------------------------------------------------------------------------------


async def test_headers_over_the_limit_are_431(nursery: trio.Nursery, connect: Connect) -> None:
    _, port = await start(nursery, max_header_bytes=1024)
    c = await connect(port)
    await c.send(get("/h", "X-Big: " + "b" * 2000))
    r = await c.response()
    assert r.status == 431 and r.error_code() == "headers_too_large"
    assert await c.eof() == b""


async def test_a_header_line_that_never_ends_is_431_not_a_memory_sink(
    nursery: trio.Nursery,
    connect: Connect,
) -> None:
    _, port = await start(nursery, max_header_bytes=1024)
    c = await connect(port)
    await c.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-Endless: ")

    async def flood() -> None:
        with contextlib.suppress(trio.BrokenResourceError):
            while True:
                await c.send(b"e" * 4096)

    async with trio.open_nursery() as flooding:
        flooding.start_soon(flood)
        r = await c.response()
        flooding.cancel_scope.cancel()
    assert r.status == 431 and r.error_code() == "headers_too_large"


async def test_a_target_over_the_limit_is_414(nursery: trio.Nursery, connect: Connect) -> None:
    _, port = await start(nursery, max_header_bytes=1024)
    c = await connect(port)
    await c.send(get("/" + "u" * 2000))
    r = await c.response()
    assert r.status == 414 and r.error_code() == "uri_too_long"


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP\r\n\r\n",
        b"HELLO\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # no Host (RFC 9112 section 3.2)
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
async def test_garbage_is_400_and_closed(
    nursery: trio.Nursery, connect: Connect, garbage: bytes
) -> None:
    _, port = await start(nursery)
    c = await connect(port)
    await c.send(get("/fine") + garbage)
    assert (await c.response()).json()["path"] == "/fine"
    r = await c.response()
    assert r.status == 400 and r.error_code() == "bad_request"
    assert r.headers["connection"] == "close"
    assert await c.eof() == b""


async def test_handler_crash_is_500_and_the_connection_carries_on(
    nursery: trio.Nursery, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    server, port = await start(nursery)
    c = await connect(port)
    await c.send(get("/boom"))
    r = await c.response()
    assert r.status == 500 and r.error_code() == "internal"
    assert "connection" not in r.headers
    assert "handler failed on GET /boom" in caplog.text
    await c.send(get("/ok"))
    assert (await c.response()).status == 200
    assert server.statistics()["connections"] == 1


async def test_the_server_owns_framing_headers(nursery: trio.Nursery, connect: Connect) -> None:
    async def handler(req: Request) -> Response:
        if req.path == "/text":
            headers = [("Content-Type", "text/plain"), ("Content-Length", "999"), ("X-A", "1")]
            return Response(200, b"hi", headers)
        if req.path == "/inject":
            return Response(200, b"{}", [("Location", "/x\r\nSet-Cookie: evil=1")])
        if req.path == "/interim":
            return Response(101)
        return Response(204)

    _, port = await start(nursery, handler)
    c = await connect(port)
    await c.send(get("/text") + get("/inject") + get("/interim") + get("/nothing"))
    r = await c.response()
    assert r.body == b"hi" and r.headers["content-length"] == "2"
    assert r.headers["content-type"] == "text/plain" and r.headers["x-a"] == "1"
    r = await c.response()
    assert r.status == 500 and "set-cookie" not in r.headers
    assert (await c.response()).status == 500
    r = await c.response()
    assert r.status == 204 and "content-length" not in r.headers and r.body == b""
    await c.send(get("/still-here"))
    assert (await c.response()).status == 204


async def test_on_response_sees_requests_and_protocol_errors(
    nursery: trio.Nursery, connect: Connect
) -> None:
    seen: list[tuple[str | None, int]] = []

    def hook(req: Request | None, status: int, seconds: float) -> None:
        assert seconds >= 0
        seen.append((req.path if req else None, status))

    _, port = await start(nursery, on_response=hook)
    c = await connect(port)
    await c.send(get("/a") + get("/boom") + b"junk\r\n\r\n")
    for _ in range(3):
        await c.response()
    assert seen == [("/a", 200), ("/boom", 500), (None, 400)]


# -- time ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "partial",
    [
        b"GET / HTTP/1.1\r\nHost: t\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\nab",
    ],
)
async def test_a_request_not_complete_within_read_timeout_is_408(
    nursery: trio.Nursery, connect: Connect, autojump_clock: trio.testing.MockClock, partial: bytes
) -> None:
    # tick = min(1 s, shortest timeout / 10) = 1 s
    _, port = await start(nursery, read_timeout=10, idle_timeout=60)
    c = await connect(port)
    began = trio.current_time()
    await c.send(partial)
    r = await c.response()
    assert r.status == 408 and r.error_code() == "request_timeout"
    assert 10 <= trio.current_time() - began <= 11
    assert await c.eof() == b""


async def test_read_time_does_not_count_while_the_server_is_busy(
    nursery: trio.Nursery, connect: Connect, autojump_clock: trio.testing.MockClock
) -> None:
    async def slow(req: Request) -> Response:
        if req.path == "/slow":
            await trio.sleep(20)
        return await echo(req)

    _, port = await start(nursery, slow, read_timeout=10, idle_timeout=60)
    c = await connect(port)
    # The second request begins behind a handler that takes twice read_timeout.
    await c.send(get("/slow") + b"GET /second HTTP/1.1\r\n")
    assert (await c.response()).json()["path"] == "/slow"
    await trio.sleep(5)  # virtual time: the client takes a while to finish, within its 10 s
    await c.send(b"Host: t\r\n\r\n")
    assert (await c.response()).json()["path"] == "/second"


async def test_an_idle_keep_alive_connection_is_closed_after_idle_timeout(
    nursery: trio.Nursery, connect: Connect, autojump_clock: trio.testing.MockClock
) -> None:
    server, port = await start(nursery, read_timeout=10, idle_timeout=30)
    c = await connect(port)
    await c.send(get("/"))
    await c.response()
    answered = trio.current_time()
    assert await c.eof() == b""  # silently: no 408 for a client that asked nothing
    assert 30 <= trio.current_time() - answered <= 31
    assert server.statistics()["connections"] == 0


async def test_a_client_that_does_not_read_is_dropped(
    nursery: trio.Nursery, connect: Connect, autojump_clock: trio.testing.MockClock
) -> None:
    size = 64 << 20  # more than loopback socket buffers hold

    async def big(req: Request) -> Response:
        return Response(200, b"z" * size, [("content-type", "application/octet-stream")])

    server, port = await start(nursery, big, read_timeout=10, idle_timeout=60)
    c = await connect(port)
    await c.send(get("/big"))
    await trio.sleep(12)  # virtual time: the client sits on its hands past read_timeout
    received = len(await c.eof())
    assert 0 < received < size
    assert server.statistics()["connections"] == 0


# -- connections and shutdown --------------------------------------------------------------------


async def test_connections_past_the_limit_get_503_and_are_closed(
    nursery: trio.Nursery, connect: Connect
) -> None:
    server, port = await start(nursery, max_connections=2)
    first, second = await connect(port), await connect(port)
    for c in (first, second):
        await c.send(get("/"))
        assert (await c.response()).status == 200
    third = await connect(port)
    r = await third.response()
    assert r.status == 503 and r.error_code() == "overloaded"
    assert r.headers["retry-after"] == "1" and r.headers["connection"] == "close"
    assert await third.eof() == b""
    assert server.statistics()["rejected"] == 1
    # Once one leaves, a newcomer is served.
    await first.send(get("/", "Connection: close"))
    await first.response()
    await first.eof()
    fourth = await connect(port)
    await fourth.send(get("/"))
    assert (await fourth.response()).status == 200


async def test_close_idle_drains_gracefully(nursery: trio.Nursery, connect: Connect) -> None:
    release = trio.Event()
    entered = trio.Event()

    async def handler(req: Request) -> Response:
        if req.path == "/slow":
            entered.set()
            await release.wait()
        return Response(200, b"{}")

    server = HttpServer(handler, HttpLimits())
    returned = trio.Event()

    async def run(task_status: trio.TaskStatus[int]) -> None:
        async with trio.open_nursery() as inner:
            _, port = await inner.start(server.serve, "127.0.0.1", 0)
            task_status.started(port)
        returned.set()

    port = await nursery.start(run)
    idle, busy = await connect(port), await connect(port)
    await idle.send(get("/"))
    await idle.response()
    await busy.send(get("/slow"))
    await entered.wait()

    server.close_idle()
    assert server.statistics()["accepting"] is False
    assert await idle.eof() == b""
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", port)
    release.set()
    r = await busy.response()
    assert r.status == 200 and r.headers["connection"] == "close"
    assert await busy.eof() == b""
    with trio.fail_after(5):
        await returned.wait()
    assert server.statistics()["connections"] == 0


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        HttpLimits(max_body_bytes=0)
    with pytest.raises(ValueError, match="idle_timeout"):
        HttpLimits(idle_timeout=-1.0)


def test_response_helpers_build_the_error_shape() -> None:
    r = Response.error(422, "invalid_number", "not E.164", field="to", headers=[("X-A", "1")])
    assert r.status == 422 and r.headers == [("X-A", "1")]
    assert msgspec.json.decode(r.body) == {
        "error": {"code": "invalid_number", "message": "not E.164", "field": "to"}
    }
    assert msgspec.json.decode(Response.json(200, {"a": [1]}).body) == {"a": [1]}


# -- anything at all -----------------------------------------------------------------------------

_PIECES = [
    b"GET / HTTP/1.1\r\n",
    b"POST /p HTTP/1.1\r\n",
    b"GET /q?a=%zz&b HTTP/1.0\r\n",
    b"Host: t\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: -1\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"\r\n",
    b"5\r\nhello\r\n",
    b"0\r\n\r\n",
    b"hello",
    b" ",
    b"\x00",
    b"\xff",
    b":",
]


@hypothesis.settings(max_examples=40, deadline=None)
@hypothesis.given(
    st.one_of(
        st.binary(max_size=600),
        st.lists(st.sampled_from(_PIECES), max_size=24).map(b"".join),
    )
)
async def test_any_bytes_get_answers_or_a_400_and_never_break_the_server(wire: bytes) -> None:
    async with trio.open_nursery() as nursery:
        server, port = await start(nursery, max_body_bytes=64)
        async with (await Client.connect(port)).stream as stream:
            c = Client(stream)
            await c.send(wire)
            await c.stream.send_eof()
            c.buf = await c.eof(timeout=10)
            while c.buf:
                r = await c.response(timeout=10)
                assert r.status in (100, 200, 400, 413, 414, 431)
        async with (await Client.connect(port)).stream as stream:
            healthy = Client(stream)
            await healthy.send(get("/"))
            assert (await healthy.response(timeout=10)).status == 200
            assert server.statistics()["connections"] == 1
        nursery.cancel_scope.cancel()


# -- the reader without sockets ----------------------------------------------------------------

_VECTORS = [
    b"GET /a%20b?x=1&x=2&y HTTP/1.1\r\nHost: t\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
    b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
    b"GET http://example.com/abs?q=%41 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /old HTTP/1.0\r\n\r\n",
]
_EXPECTED = [
    ("GET", "/a b", {"x": "2", "y": ""}, b"", "1.1", True),
    ("POST", "/p", {}, b"abc", "1.1", True),
    ("POST", "/c", {}, b"abc", "1.1", True),
    ("GET", "/abs", {"q": "A"}, b"", "1.1", True),
    ("OPTIONS", "*", {}, b"", "1.1", True),
    ("GET", "/old", {}, b"", "1.0", False),
]


def _read(pieces: list[bytes], **limits: Any) -> RequestReader:
    reader = RequestReader(HttpLimits(**limits), "peer:1")
    for piece in pieces:
        assert reader.feed(piece, 0.0) is None
    return reader


@pytest.mark.parametrize("split", ["whole", "byte_by_byte"])
def test_reader_gives_the_same_requests_however_the_bytes_arrive(split: str) -> None:
    wire = b"".join(_VECTORS)
    pieces = [wire] if split == "whole" else [wire[i : i + 1] for i in range(len(wire))]
    reader = _read(pieces)
    got = [
        (r.method, r.path, r.query, r.body, r.http_version, r.keep_alive) for r in reader.pending
    ]
    assert got == _EXPECTED
    assert reader.pending[0].headers == {"host": "t", "x-dup": "1, 2"}
    assert reader.error is None and not reader.in_message


def test_reader_keeps_a_partial_request_for_later() -> None:
    reader = _read([_VECTORS[1] + b"GET /next HTTP/1.1\r\nHo"])
    assert [r.path for r in reader.pending] == ["/p"]
    assert reader.in_message and reader.error is None
    reader.feed(b"st: t\r\n\r\n", 1.0)
    assert [r.path for r in reader.pending] == ["/p", "/next"]


def test_reader_stops_at_max_pipelined_and_hands_back_the_rest() -> None:
    reader = RequestReader(HttpLimits(max_pipelined=2), "peer:1")
    one = b"GET / HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 3000 + b"\r\n\r\n"
    rest = reader.feed(one * 10, 0.0)
    assert rest is not None and 2 <= len(reader.pending) < 10
    parsed = len(reader.pending)
    reader.pending.clear()
    while rest is not None:
        rest = reader.feed(rest, 0.0)
        parsed += len(reader.pending)
        reader.pending.clear()
    assert parsed == 10


def test_reader_marks_an_error_after_the_good_requests() -> None:
    reader = _read([_VECTORS[0] + b"BREW /pot HTCPCP/1.0\r\n\r\n" + _VECTORS[1]])
    assert [r.path for r in reader.pending] == ["/a b"]
    assert reader.error == 400
    reader.feed(_VECTORS[1], 0.0)  # nothing after an error is parsed
    assert len(reader.pending) == 1


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    st.one_of(
        st.binary(max_size=800),
        st.lists(st.sampled_from(_PIECES), max_size=30).map(b"".join),
    ),
    st.integers(min_value=1, max_value=64),
)
def test_reader_turns_any_bytes_into_requests_or_an_error(wire: bytes, step: int) -> None:
    reader = RequestReader(HttpLimits(max_body_bytes=64, max_header_bytes=256), "peer:1")
    for i in range(0, len(wire), step):
        reader.feed(wire[i : i + step], 0.0)
    assert reader.error in (None, 400, 413, 414, 431)
    for r in reader.pending:
        assert len(r.body) <= 64


def test_the_reader_does_not_import_trio() -> None:
    code = "import sys, smsgw.gateway.http_protocol; assert 'trio' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
