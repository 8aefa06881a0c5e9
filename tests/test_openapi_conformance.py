"""schemathesis against the document a running gateway serves: every check, a fixed seed, a
bounded number of examples per operation. A request the document allows must be accepted,
one it forbids refused, and every answer must be one the document lists, in its schema.

schemathesis runs as its own process (its CLI), so its pytest plugin and hypothesis settings
stay out of this suite's; the gateway runs in this test's event loop on a loopback port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import trio

from tests.conftest import TOKEN, StartGateway

RUN = Path(__file__).resolve().parent / "openapi_run"
SEED = 1
EXAMPLES = 10
"""Per operation and phase: about 600 requests, some 20 s on an idle machine."""


async def test_schemathesis_finds_nothing(start_gateway: StartGateway, tmp_path: Path) -> None:
    # validate_numbers off: which numbers a country assigns is more than a pattern can say
    # (the document says it in words when it is on). Tracked links on: track_links is refused
    # without them (the document says so in words too).
    links = '[links]\nlisten = "127.0.0.1:0"\nbase_url = "https://s.shop.example"'
    gw = await start_gateway(f"[policy]\nvalidate_numbers = false\n{links}")
    cli = Path(sys.executable).parent / "schemathesis"
    cmd = [
        str(cli),
        "--config-file", str(RUN / "schemathesis.toml"),
        "--no-color",
        "run", f"{gw.url}/v1/openapi.json",
        "--checks", "all",
        "--seed", str(SEED),
        "--max-examples", str(EXAMPLES),
        "--workers", "1",
        "--header", f"Authorization: Bearer {TOKEN}",
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(RUN / "hooks.py")}
    done = await trio.run_process(
        cmd, cwd=tmp_path, env=env, capture_stdout=True, stderr=subprocess.STDOUT, check=False
    )
    out = done.stdout.decode(errors="replace")
    assert done.returncode == 0, out
    assert "Operations:       49 selected / 49 total" in out, out
