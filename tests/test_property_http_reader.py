"""Properties of the HTTP request reader (gateway/http_protocol.py RequestReader): bytes in,
requests or an error status out.

Any bytes, and mutated real requests, fed in any pieces: the reader never raises, logs no
error of its own, ends in one of the statuses it documents (400, 413, 414, 431), and holds no
more than its limits (body, header, pipelined requests). A request written on the wire, with
any path, query, headers and body (Content-Length or chunked), reads back as it was written.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from smsgw.gateway.http_protocol import SLICE, HttpLimits, RequestReader
from tests.property_helpers import budget, mutated

LIMITS = HttpLimits(max_body_bytes=256, max_header_bytes=512, max_pipelined=4)


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _read(wire: bytes, steps: list[int], limits: HttpLimits = LIMITS) -> RequestReader:
    reader = RequestReader(limits, "peer:1")
    errors = _Errors()
    log = logging.getLogger("smsgw.http")
    log.addHandler(errors)
    try:
        pos, i = 0, 0
        while pos < len(wire) and not reader.error:
            step = steps[i % len(steps)] if steps else len(wire)
            rest = reader.feed(wire[pos : pos + step], 0.0)
            fed = step if rest is None else step - len(rest)
            pos += max(fed, 0)
            i += 1
            assert len(reader.pending) <= limits.max_pipelined + SLICE // 16
            if rest is not None:
                reader.pending.clear()  # answered; the server feeds the rest next
            assert reader._body_len <= limits.max_body_bytes
            assert len(reader._url) <= limits.max_header_bytes
    finally:
        log.removeHandler(errors)
    assert errors.records == [], [r.getMessage() for r in errors.records]
    assert reader.error in (None, 400, 413, 414, 431)
    for r in reader.pending:
        assert len(r.body) <= limits.max_body_bytes
        assert r.path == "*" or r.path.startswith("/")
    return reader


_SEEDS = [
    b"GET /v1/messages?status=queued&after=12 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /v1/messages HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
    b'Content-Length: 13\r\n\r\n{"to":"+49"}\n',
    b"POST /v1/optouts HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"7\r\nnumber\n\r\n0\r\n\r\n",
    b"GET http://h:8080/v1/routes?x=%41 HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
    b"GET /healthz HTTP/1.0\r\n\r\n",
]
wires = st.one_of(
    st.binary(max_size=600),
    mutated(st.sampled_from(_SEEDS), max_ops=6),
    st.lists(mutated(st.sampled_from(_SEEDS), max_ops=2), max_size=6).map(b"".join),
)


@budget(400)
@given(wires, st.lists(st.integers(1, 80), max_size=6))
def test_any_bytes_become_requests_or_one_documented_error(wire: bytes, steps: list[int]) -> None:
    _read(wire, steps)


_hosts = st.sampled_from(["h", "127.0.0.1", "[::1]", "[v1.x]", "[::1", "a]b", "h:99999", "h:x"])


@budget(200)
@given(_hosts, st.text(max_size=30), st.sampled_from(["http", "https", "HTTP", "ftp"]))
def test_absolute_form_targets_read_or_are_a_400(host: str, path: str, scheme: str) -> None:
    target = f"{scheme}://{host}/{quote(path)}".encode()
    _read(b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n", [])


_token = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_value = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20)
# Headers the test writes itself, or that change how the request is read.
_FRAMING = frozenset(
    ("host", "content-length", "transfer-encoding", "expect", "connection", "upgrade")
)


@budget(300)
@given(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    st.lists(st.text(max_size=8), max_size=4),
    st.lists(st.tuples(_token, st.text(max_size=10)), max_size=4),
    st.dictionaries(_token.filter(lambda k: k not in _FRAMING), _value, max_size=4),
    st.binary(max_size=200),
    st.booleans(),
    st.lists(st.integers(1, 50), max_size=5),
)
def test_a_written_request_reads_back_as_it_was_written(
    method: str,
    segments: list[str],
    query: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    chunked: bool,
    steps: list[int],
) -> None:
    path = "/" + "/".join(segments)
    target = quote(path, safe="/") + (
        "?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query) if query else ""
    )
    head = f"{method} {target} HTTP/1.1\r\nHost: h\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    if chunked:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        payload = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    else:
        head += f"Content-Length: {len(body)}\r\n\r\n"
        payload = body
    reader = _read(head.encode() + payload, steps, HttpLimits(max_body_bytes=256))
    assert reader.error is None
    (r,) = reader.pending
    assert (r.method, r.path, r.body, r.http_version) == (method, path, body, "1.1")
    assert r.query == dict(query)
    for k, v in headers.items():
        assert r.headers[k] == v


def test_an_absolute_target_with_an_open_bracket_is_a_400_and_logs_nothing() -> None:
    # urlsplit raises ValueError("Invalid IPv6 URL") on it; that used to be logged as a
    # failed parser callback (a traceback per request any client can send).
    reader = _read(b"GET http://[::1/x HTTP/1.1\r\nHost: h\r\n\r\n", [])
    assert reader.error == 400
    assert not reader.pending
