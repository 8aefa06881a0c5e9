"""The HTTP client against scripted receivers on real loopback sockets."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from smsgw.gateway.httpclient import HttpClientError, Pool, TargetRefused, parse_url, request
from smsgw.gateway.httpclient.url import IPAddress, Url
from tests.receivers import (
    CLOSE,
    STALL,
    Received,
    chunked,
    close_delimited,
    content_length,
    start_receiver,
)

MakePool = Callable[..., Pool]


@pytest.fixture
async def make_pool() -> AsyncIterator[MakePool]:
    """Pools that are closed when the test ends (an idle socket left open would warn)."""
    made: list[Pool] = []

    def make(**kw: Any) -> Pool:
        made.append(Pool(**kw))
        return made[-1]

    yield make
    for p in made:
        await p.aclose()


async def post(
    pool: Pool, url: str, body: bytes = b"{}", timeout: float = 5.0
) -> tuple[int, bytes]:
    r = await pool.request(
        b"POST", parse_url(url), [(b"content-type", b"application/json")], body, timeout=timeout
    )
    return r.status, r.body


async def test_a_receiver_that_keeps_the_connection_open_is_reused(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery, content_length(200, b"fine"))
    pool = make_pool()
    for i in range(20):
        assert await post(pool, receiver.url, b'{"n": %d}' % i) == (200, b"fine")
    assert receiver.connections == 1 and pool.opened == 1
    assert [r.index for r in receiver.requests] == list(range(20))
    assert receiver.requests[0].headers["host"] == f"127.0.0.1:{receiver.port}"
    assert receiver.requests[3].body == b'{"n": 3}'


async def test_chunked_answers_are_read_by_their_framing(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery, chunked(202, (b"acc", b"ep", b"ted")))
    pool = make_pool()
    assert await post(pool, receiver.url) == (202, b"accepted")
    assert await post(pool, receiver.url) == (202, b"accepted")
    assert receiver.connections == 1


async def test_a_close_delimited_answer_ends_with_the_connection(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(
        nursery, close_delimited(200, b"the end"), closes_after_answer=True
    )
    pool = make_pool()
    assert await post(pool, receiver.url) == (200, b"the end")
    assert await post(pool, receiver.url) == (200, b"the end")
    assert receiver.connections == 2 and pool.idle == 0


async def test_garbage_after_a_chunked_header_is_a_client_error(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz-not-hex\r\n\r\n"
    receiver = await start_receiver(nursery, bad)
    pool = make_pool()
    with pytest.raises(HttpClientError) as e:
        await post(pool, receiver.url)
    assert e.value.kind == "protocol" and not e.value.permanent
    assert pool.idle == 0
    for garbage in (
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    ):
        other = await start_receiver(nursery, garbage)
        with pytest.raises(HttpClientError) as e:
            await post(pool, other.url)
        assert e.value.kind == "protocol"


async def test_the_answer_body_is_bounded(make_pool: MakePool, nursery: trio.Nursery) -> None:
    receiver = await start_receiver(nursery, content_length(200, b"x" * 5000))
    pool = make_pool()
    with pytest.raises(HttpClientError) as e:
        await pool.request(b"POST", parse_url(receiver.url), [], b"", timeout=5, max_body=4096)
    assert e.value.kind == "too_large"
    big = await start_receiver(nursery, chunked(200, (b"y" * 3000,) * 3))
    with pytest.raises(HttpClientError):
        await pool.request(b"POST", parse_url(big.url), [], b"", timeout=5, max_body=4096)


async def test_a_stalled_receiver_times_out_at_the_deadline(
    make_pool: MakePool, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def stall(req: Received) -> object:
        return STALL

    receiver = await start_receiver(nursery, stall)
    pool = make_pool()
    start = trio.current_time()
    with pytest.raises(HttpClientError) as e:
        await post(pool, receiver.url, timeout=5.0)
    assert e.value.kind == "timeout"
    assert trio.current_time() - start == pytest.approx(5.0)
    assert pool.idle == 0


async def test_a_pooled_connection_closed_by_the_peer_is_not_used(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    # Answers as if keep-alive, then closes: the next request must notice, not fail.
    receiver = await start_receiver(nursery, content_length(), closes_after_answer=True)
    pool = make_pool()
    assert (await post(pool, receiver.url))[0] == 200
    await trio.testing.wait_all_tasks_blocked()
    assert (await post(pool, receiver.url))[0] == 200
    assert receiver.connections == 2


async def test_a_pooled_connection_that_breaks_on_reuse_is_retried_once(
    make_pool: MakePool,
    nursery: trio.Nursery,
) -> None:
    # Each connection answers its first request and drops the second without a byte.
    async def once_per_connection(req: Received) -> object:
        return content_length() if req.index == 0 else CLOSE

    receiver = await start_receiver(nursery, once_per_connection)
    pool = make_pool()
    assert (await post(pool, receiver.url))[0] == 200
    assert (await post(pool, receiver.url))[0] == 200
    assert [(r.connection, r.index) for r in receiver.requests] == [(0, 0), (0, 1), (1, 0)]

    # A fresh connection that breaks is not retried.
    async def never(req: Received) -> object:
        return CLOSE

    dead = await start_receiver(nursery, never)
    with pytest.raises(HttpClientError):
        await post(pool, dead.url)
    assert len(dead.requests) == 1


async def test_redirects_are_not_followed(make_pool: MakePool, nursery: trio.Nursery) -> None:
    receiver = await start_receiver(
        nursery, content_length(302, b"", "Location: http://169.254.169.254/\r\n")
    )
    assert await post(make_pool(), receiver.url) == (302, b"")
    assert len(receiver.requests) == 1


async def test_informational_answers_are_skipped(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(
        nursery, b"HTTP/1.1 100 Continue\r\n\r\n" + content_length(201, b"made")
    )
    assert await post(make_pool(), receiver.url) == (201, b"made")


async def test_idle_connections_are_reaped(
    make_pool: MakePool, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = await start_receiver(nursery)
    pool = make_pool(idle_timeout=4.0)
    await post(pool, receiver.url)
    await trio.sleep(3.0)
    assert await pool.reap() == 0 and pool.idle == 1
    await trio.sleep(1.5)
    assert await pool.reap() == 1 and pool.idle == 0
    await post(pool, receiver.url)
    assert receiver.connections == 2


async def test_the_pool_is_bounded_per_origin_and_in_all(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    receivers = [await start_receiver(nursery) for _ in range(3)]
    pool = make_pool(max_idle_per_origin=2, max_idle=3)
    async with trio.open_nursery() as n:
        for _ in range(4):
            n.start_soon(post, pool, receivers[0].url)
    assert pool.idle == 2
    for r in receivers[1:]:
        await post(pool, r.url)
    assert pool.idle == 3


async def test_a_refused_target_is_never_connected(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery)

    def refuse(url: Url, ip: IPAddress) -> str | None:
        return "loopback" if ip.is_loopback else None

    with pytest.raises(TargetRefused) as e:
        await make_pool().request(
            b"POST", parse_url(receiver.url), [], b"", timeout=5, allow=refuse
        )
    assert e.value.permanent and "127.0.0.1" in str(e.value)
    assert receiver.connections == 0


async def test_the_address_checked_is_the_address_connected(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    # A name whose answer changes between lookups (rebinding): the check sees what is used.
    receiver = await start_receiver(nursery)
    seen: list[IPAddress] = []

    async def resolver(host: str, port: int) -> list[IPAddress]:
        import ipaddress

        return [ipaddress.ip_address("127.0.0.1")]

    def allow(url: Url, ip: IPAddress) -> str | None:
        seen.append(ip)
        return None

    pool = make_pool(resolver=resolver)
    url = parse_url(f"http://hooks.example:{receiver.port}/hook")
    r = await pool.request(b"POST", url, [], b"", timeout=5, allow=allow)
    assert r.status == 200 and [str(s) for s in seen] == ["127.0.0.1"]
    assert receiver.requests[0].headers["host"] == f"hooks.example:{receiver.port}"


async def test_request_helper_errors_are_its_own() -> None:
    for url in ("http://127.0.0.1:99999/x", "ftp://x/", "http://[::1/"):
        with pytest.raises(HttpClientError) as e:
            await request("GET", url)
        assert e.value.permanent
    with pytest.raises(HttpClientError) as e:
        await request("GET", "http://127.0.0.1:1/", timeout=5)
    assert e.value.kind == "connect"


async def test_request_helper_reads_any_framing(nursery: trio.Nursery) -> None:
    for answer, close in (
        (chunked(200, (b"a", b"b")), False),
        (close_delimited(200, b"ab"), True),
        (content_length(200, b"ab"), False),
    ):
        receiver = await start_receiver(nursery, answer, closes_after_answer=close)
        assert await request("POST", receiver.url + "?q=€", b"{}") == (200, b"ab")
        assert receiver.requests[0].target == "/hook?q=%E2%82%AC"
        assert receiver.requests[0].headers["connection"] == "close"


def test_host_header_brackets_an_ipv6_literal() -> None:
    assert parse_url("http://[::1]:8080/h").host_header == b"[::1]:8080"
    assert parse_url("https://[2001:db8::1]/h").host_header == b"[2001:db8::1]"
    assert parse_url("http://Example.COM:80/").host_header == b"example.com"
    assert parse_url("http://münchen.de/").host_header == b"xn--mnchen-3ya.de"


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_verifies_the_certificate(
    make_pool: MakePool, nursery: trio.Nursery, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    receiver = await start_receiver(nursery)
    listeners = await nursery.start(trio.serve_ssl_over_tcp, receiver.serve, 0, server_ctx)
    port = listeners[0].transport_listener.socket.getsockname()[1]
    url = parse_url(f"https://127.0.0.1:{port}/hook")
    trusting = make_pool(ssl_context=ssl.create_default_context(cafile=str(cert)))
    for _ in range(3):
        r = await trusting.request(b"POST", url, [], b"{}", timeout=5)
        assert r.status == 200
    assert trusting.opened == 1
    with pytest.raises(HttpClientError) as e:
        await make_pool().request(b"POST", url, [], b"{}", timeout=5)
    assert e.value.kind == "tls" and "not trusted" in str(e.value)
    wrong_name = parse_url(f"https://127.0.0.2:{port}/hook")
    with pytest.raises(HttpClientError):
        await trusting.request(b"POST", wrong_name, [], b"{}", timeout=5)


async def test_a_bad_method_or_header_never_reaches_the_wire(
    make_pool: MakePool, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery, content_length(200, b"fine"))
    pool = make_pool()
    url = parse_url(receiver.url)
    bad: list[tuple[bytes, list[tuple[bytes, bytes]]]] = [
        (b"PO ST", []),
        (b"", []),
        (b"POST", [(b"x-a", b"1\r\nx-smuggled: yes")]),
        (b"POST", [(b"x-a", b" leading")]),
        (b"POST", [(b"x-a", b"trailing ")]),
        (b"POST", [(b"x-a", b"tab\there")]),
        (b"POST", [(b"x-a", b"\x80")]),
        (b"POST", [(b"x a", b"1")]),
        (b"POST", [(b"x:a", b"1")]),
        (b"POST", [(b"", b"1")]),
    ]
    for method, headers in bad:
        with pytest.raises(HttpClientError) as e:
            await pool.request(method, url, headers, b"{}", timeout=5.0)
        assert e.value.kind == "request" and e.value.permanent, (method, headers)
    good = [(b"x-a", b""), (b"x-b", b"a b ~!"), (b"X-Smsgw-Signature", b"v1=ab,v1=cd")]
    r = await pool.request(b"POST", url, good, b"{}", timeout=5.0)
    assert r.status == 200
    assert len(receiver.requests) == 1  # only the good request was sent
