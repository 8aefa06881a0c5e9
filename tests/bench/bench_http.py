"""CPU the HTTP server spends per keep-alive request, over loopback.

The server runs in this process with a handler shaped like a single-message send (decode a
small JSON body with msgspec, encode a small answer); the load comes from a client in a
subprocess, so the server's CPU (``time.process_time`` of this process) is its own.

Prints one JSON line per scenario: requests/s and server CPU µs per request.
Run: .venv/bin/python tests/bench/bench_http.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import msgspec
import trio

from smsgw.gateway.http import HttpLimits, HttpServer, Request, Response


class Send(msgspec.Struct, forbid_unknown_fields=True):
    to: str
    text: str


class Accepted(msgspec.Struct):
    id: str
    status: str
    parts: int


_decode = msgspec.json.Decoder(Send).decode
_encode = msgspec.json.Encoder().encode
_HEADERS = [("content-type", "application/json")]


async def handler(req: Request) -> Response:
    send = _decode(req.body)
    return Response(202, _encode(Accepted("msg_" + send.to[1:], "queued", 1)), _HEADERS)


BODY = b'{"to":"+4917012345678","text":"Your order #4589 has shipped"}'
REQUEST = (
    b"POST /v1/messages HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer t0123456789\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)


async def client_connection(port: int, depth: int, stop_at: float, counts: list[int]) -> None:
    """Keep ``depth`` requests in flight on one connection until ``stop_at``."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        burst = REQUEST * depth
        buf = b""
        done = 0
        while time.monotonic() < stop_at:
            await stream.send_all(burst)
            answered = 0
            while answered < depth:
                head_end = buf.find(b"\r\n\r\n")
                if head_end < 0:
                    buf += await stream.receive_some(65536)
                    continue
                length_at = buf.find(b"content-length: ", 0, head_end) + 16
                length = int(buf[length_at : buf.find(b"\r\n", length_at)])
                end = head_end + 4 + length
                if len(buf) < end:
                    buf += await stream.receive_some(65536)
                    continue
                assert buf.startswith(b"HTTP/1.1 202"), buf[:100]
                buf = buf[end:]
                answered += 1
            done += depth
        counts.append(done)


async def client(port: int, connections: int, depth: int, seconds: float) -> None:
    counts: list[int] = []
    began = time.monotonic()
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(client_connection, port, depth, began + seconds, counts)
    print(json.dumps({"requests": sum(counts), "seconds": time.monotonic() - began}))


def run_client(port: int, connections: int, depth: int, seconds: float) -> dict[str, float]:
    argv = ["--client", str(port), "--connections", str(connections), "--depth", str(depth)]
    out = subprocess.run(
        [sys.executable, __file__, *argv, "--seconds", str(seconds)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


async def server_side(seconds: float) -> None:
    server = HttpServer(handler, HttpLimits())
    async with trio.open_nursery() as nursery:
        _, port = await nursery.start(server.serve, "127.0.0.1", 0)
        for connections, depth in ((1, 1), (4, 1), (4, 16)):
            cpu = time.process_time()
            result = await trio.to_thread.run_sync(run_client, port, connections, depth, seconds)
            cpu = time.process_time() - cpu
            n = result["requests"]
            print(
                json.dumps(
                    {
                        "connections": connections,
                        "pipeline_depth": depth,
                        "requests_per_s": round(n / result["seconds"]),
                        "server_cpu_us_per_request": round(cpu / n * 1e6, 1),
                    }
                ),
                flush=True,
            )
        nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--depth", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        trio.run(client, args.client, args.connections, args.depth, args.seconds)
    else:
        trio.run(server_side, args.seconds)


if __name__ == "__main__":
    main()
