"""``smsgw bench --watch-console S``: the dispatch bench with someone watching the ops console.

A watcher fetches ``GET /status`` (the HTML page, as the page's own script does) every ``S``
seconds over its own keep-alive connection for the whole run, with the bench's ops token, and
reports how many pages it got and how long each took; compare the run's figures with and
without it to see what watching costs the dispatch path.
"""

from __future__ import annotations

import statistics
import time

import trio

__all__ = ["OPS_TOKEN", "ConsoleWatcher"]

OPS_TOKEN = "bench-ops-token-0123456789abcdef"


class ConsoleWatcher:
    """Polls the console until cancelled; :meth:`figures` sums it up."""

    def __init__(self, port: int, every: float) -> None:
        self.port = port
        self.every = every
        self.times: list[float] = []
        self.sizes: list[int] = []
        self.failures = 0

    async def run(self) -> None:
        from smsgw.gateway.bench_procs import Conn  # the bench's raw keep-alive client

        wire = (
            f"GET /status HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {OPS_TOKEN}\r\n\r\n"
        ).encode()
        conn = await Conn.open(self.port)
        next_at = trio.current_time()
        while True:
            t0 = time.perf_counter()
            status, body = await conn.call(wire)
            if status == 200:
                self.times.append(time.perf_counter() - t0)
                self.sizes.append(len(body))
            else:
                self.failures += 1
            next_at += self.every
            await trio.sleep_until(next_at)

    def figures(self) -> dict[str, object]:
        if len(self.times) < 2:
            return {"every_s": self.every, "pages": len(self.times), "failures": self.failures}
        q = statistics.quantiles(sorted(self.times), n=100)
        return {
            "every_s": self.every,
            "pages": len(self.times),
            "failures": self.failures,
            "p50_ms": round(q[49] * 1e3, 2),
            "p99_ms": round(q[98] * 1e3, 2),
            "bytes": max(self.sizes),
        }
