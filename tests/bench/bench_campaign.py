"""A campaign of 100,000 recipients, each with its own variables, through a gateway in this
process: the draft posted over HTTP (validated), started (the recipients fixed), and sent by
the campaign runner (each message rendered, its parts counted, screened and committed in
chunks of 500 with its recipient row). The route is paused, so nothing leaves while it runs
and the figure is the campaign's alone. Prints seconds per phase and in all, and the peak RSS
of the process; ``--json`` prints the same as JSON.
Run: .venv/bin/python tests/bench/bench_campaign.py [--json] [--recipients N]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import trio

from smsgw.config.loader import parse
from smsgw.gateway.httpclient import request
from smsgw.gateway.service import Gateway

TOKEN = "bench-token-0123456789abcdef"
TEXT = "Hi {{first_name}}, your code {{code}} takes 20% off order {{order}} until Sunday."
_NAMES = ("Anna", "Jonas", "Léa", "Mia", "Noah", "Emma", "Liam", "Sofia", "Ben", "Zoë")


def _config(folder: Path) -> str:
    return f"""
[server]
listen = "127.0.0.1:0"
max_body_bytes = 67108864

[store]
path = "{folder / "smsgw.db"}"
synchronous = "normal"

[[keys]]
name = "shop"
token = "{TOKEN}"
rate = 1000000

[[routes]]
name = "sim"
driver = "simulator"
rate = 1000

[[rules]]
route = ["sim"]
"""


def recipients(n: int) -> list[dict[str, Any]]:
    return [
        {
            "to": f"+49170{i:07d}",
            "vars": {"first_name": _NAMES[i % 10], "code": f"X{i:06X}", "order": 10_000 + i},
        }
        for i in range(n)
    ]


async def _call(url: str, method: str, path: str, body: object = None) -> Any:
    data = b"" if body is None else msgspec.json.encode(body)
    headers = [("Authorization", f"Bearer {TOKEN}"), ("Content-Type", "application/json")]
    status, reply = await request(method, url + path, data, headers, timeout=600)
    if status >= 300:
        raise SystemExit(f"{method} {path}: {status} {reply[:300]!r}")
    return msgspec.json.decode(reply)


def wall() -> float:
    """10:00 in Berlin on a weekday: marketing may go (quiet hours do not defer the figure)."""
    return 1_800_000_000.0 - (1_800_000_000 % 86400) + 9 * 3600


async def _run(n: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        config = parse(_config(Path(folder)).encode(), "bench.toml", {})
        async with trio.open_nursery() as nursery:
            gw = Gateway(config, wall=wall)
            host, port = await nursery.start(gw.run)
            url = f"http://{host}:{port}"
            runner = gw.scheduler.runners["sim"]
            runner.pause(wall())
            await runner.wait_parked()
            body = {"name": "bench", "text": TEXT, "recipients": recipients(n)}
            t0 = time.perf_counter()
            draft = await _call(url, "POST", "/v1/campaigns", body)
            t1 = time.perf_counter()
            await _call(url, "POST", f"/v1/campaigns/{draft['id']}/start")
            t2 = time.perf_counter()
            while True:  # the row alone: the stats (GET) read every recipient
                row = await gw.store.get_campaign(None, draft["id"])
                if row is None or row.state != "running":
                    break
                await trio.sleep(0.05)
            t3 = time.perf_counter()
            view = await _call(url, "GET", f"/v1/campaigns/{draft['id']}")
            gw.shutdown()
    stats = view["stats"]
    return {
        "recipients": n,
        "accepted": stats["accepted"],
        "skipped": stats["skipped"],
        "draft_seconds": round(t1 - t0, 2),
        "start_seconds": round(t2 - t1, 2),
        "send_seconds": round(t3 - t2, 2),
        "total_seconds": round(t3 - t0, 2),
        "recipients_per_second": round(n / (t3 - t0)),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--recipients", type=int, default=100_000)
    args = parser.parse_args()
    result = trio.run(_run, args.recipients)
    if args.json:
        print(json.dumps(result))
        return
    for k, v in result.items():
        print(f"{k:>22}: {v}")


if __name__ == "__main__":
    main()
