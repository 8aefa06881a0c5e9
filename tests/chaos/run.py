"""``make chaos``: break the gateway's world on purpose and count what it lost (nothing).

Scenarios (``python tests/chaos/run.py [NAME ...]``, all by default), each against a real
``smsgw serve`` process on 127.0.0.1 with its own store in a temporary folder:

- ``smpp``: two binds to the SMSC simulator through a proxy that drops a bind mid-window every
  197th submit, makes a bind silent with TCP up every few seconds, holds one submit_sm_resp in
  five back so receipts (on any bind) come first; the simulator also answers 3 % of submits
  throttled and 2 % with a temporary error; every fifth message has a webhook to a receiver that
  answers garbage;
- ``kill9``: the same route under load while the gateway is killed with SIGKILL and started
  again on the same store, over and over; a second instance started on the store meanwhile
  must refuse in one line and leave the first alone;
- ``modem``: two modem emulators on ptys, one unplugged and plugged back, one hung and let
  go, one rebooted, in turns, under load;
- ``full_disk``: tests/chaos/full_disk.py (needs root for a small tmpfs; it says when skipped).

Each prints one JSON object: what it did (faults), accepted, delivered, duplicated, pending,
lost, tracebacks in the gateway's log (``CHAOS_KEEP=1`` keeps its folder); the run exits 1 if
any scenario lost or left pending a message, or the gateway died or logged a traceback.
``CHAOS_SECONDS`` (default 20) is how long each scenario's load runs; the settling after it
adds up to three minutes at worst.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import trio

if TYPE_CHECKING:
    # The type checker reads this folder as the package tests.chaos; the script runs from it.
    from tests.chaos.harness import GatewayProcess, HostileReceiver, Load, config, settle
    from tests.chaos.smpp_proxy import FaultProxy
else:
    from harness import GatewayProcess, HostileReceiver, Load, config, settle
    from smpp_proxy import FaultProxy

from smsgw.drivers.modem.emulator import ModemEmulator
from smsgw.drivers.smpp.sim import SimSettings, serve_smsc_sim
from smsgw.gateway.httpclient import request

SECONDS = float(os.environ.get("CHAOS_SECONDS", "20"))
Result = dict[str, object]


def _smpp_route(port: int) -> str:
    return f"""
[[routes]]
name = "carrier"
driver = "smpp"
host = "127.0.0.1"
port = {port}
system_id = "chaos"
password = "secret"
binds = 2
window = 20
rate = 300
max_attempts = 1000
enquire_link = 2
response_timeout = 2
reconnect_min = 0.1
reconnect_max = 0.5
throttle_pause = 0.2
"""


def _verdict(result: Result, gw: GatewayProcess, *, died_ok: bool = False) -> Result:
    result["gateway_starts"] = gw.starts
    result["gateway_kills"] = gw.kills
    result["tracebacks_logged"] = gw.tracebacks()
    result["ok"] = (
        result["lost"] == 0
        and result["pending"] == 0
        and result["tracebacks_logged"] == 0
        and (died_ok or result.get("gateway_alive_throughout", True) is True)
    )
    return result


async def _smpp_world(
    work: Path, body: Callable[[GatewayProcess, Load, FaultProxy, trio.Nursery], Awaitable[Result]]
) -> Result:
    """The simulator, the proxy, a hostile receiver, a load and a gateway; runs ``body``, then
    settles and reads the store."""
    sim_settings = SimSettings(
        port=0, accounts={"chaos": "secret"}, throttle=0.03, fail_temporary=0.02, seed=13
    )
    async with trio.open_nursery() as nursery:
        sim = await nursery.start(serve_smsc_sim, sim_settings)
        proxy = FaultProxy(sim.port, drop_every=197)
        await nursery.start(proxy.serve)
        hostile = HostileReceiver()
        await nursery.start(hostile.serve)
        cfg = work / "smsgw.toml"
        cfg.write_text(config(work, _smpp_route(proxy.port)))
        gw = GatewayProcess(cfg, work / "gateway.log")
        load = Load(batch=5, pause=0.2, callback=f"http://127.0.0.1:{hostile.port}/hook")
        load.url = await gw.start()
        nursery.start_soon(gw.drain)
        for _ in range(2):  # ~40 messages/s: what the route sustains while binds keep dropping
            nursery.start_soon(load.client)
        extra = await body(gw, load, proxy, nursery)
        load.running = False
        if not gw.alive():
            load.url = await gw.start()
            nursery.start_soon(gw.drain)
        result = await settle(work / "smsgw.db", load.accepted, proxy.taken, wait=180)
        result |= extra
        result["faults"] = dict(proxy.faults) | {"webhooks_answered_badly": hostile.hits}
        result["throttled_by_smsc"] = sim.stats.throttled
        result["binds_open_at_end"] = {
            "proxy": len(proxy.open_binds()),
            "smsc": sim.stats.bound_now,
        }
        if os.environ.get("CHAOS_KEEP") and gw.alive():
            _, metrics = await request("GET", gw.url + "/metrics", b"", [], timeout=10)
            (work / "metrics.txt").write_bytes(metrics)
        result["requests_unanswered"] = load.unknown
        result["gateway_exit"] = await gw.stop()
        nursery.cancel_scope.cancel()
    return result | {"gw": gw}


async def smpp(work: Path) -> Result:
    async def body(gw: GatewayProcess, load: Load, proxy: FaultProxy, _: trio.Nursery) -> Result:
        alive = True
        with trio.move_on_after(SECONDS):
            while True:
                await trio.sleep(4)
                proxy.go_silent()
                alive = alive and gw.alive()
        return {"gateway_alive_throughout": alive and gw.alive()}

    result = await _smpp_world(work, body)
    return _verdict(result, cast(GatewayProcess, result.pop("gw")))


async def kill9(work: Path) -> Result:
    async def body(
        gw: GatewayProcess, load: Load, proxy: FaultProxy, nursery: trio.Nursery
    ) -> Result:
        second: dict[str, object] = {}
        rounds = max(3, int(SECONDS / 4))
        for i in range(rounds):
            await trio.sleep(3)
            if i == 0:
                second = await _second_instance(gw)
            load.url = ""
            await gw.kill9()
            load.url = await gw.start()
            nursery.start_soon(gw.drain)
        await trio.sleep(2)
        return {"second_instance": second}

    result = await _smpp_world(work, body)
    second = result["second_instance"]
    refused = isinstance(second, dict) and second.get("refused_in_one_line") is True
    result = _verdict(result, cast(GatewayProcess, result.pop("gw")), died_ok=True)
    result["ok"] = result["ok"] and refused
    return result


async def _second_instance(gw: GatewayProcess) -> dict[str, object]:
    """Start another gateway on the same store: it must exit non-zero with one line."""
    with trio.fail_after(60):
        done = await trio.run_process(
            [sys.executable, "-m", "smsgw", "serve", "-c", str(gw.cfg), "--log-level", "warning"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    lines = (done.stdout + done.stderr).decode(errors="replace").strip().splitlines()
    return {
        "exit": done.returncode,
        "said": lines[:2],
        "refused_in_one_line": done.returncode != 0 and len(lines) == 1,
        "first_still_alive": gw.alive(),
    }


def _modem_route(links: list[str]) -> str:
    ports = ", ".join(f'"{p}"' for p in links)
    return f"""
[[routes]]
name = "modems"
driver = "modem"
ports = [{ports}]
rate = 1000
burst = 1
max_attempts = 1000
command_timeout = 1
send_timeout = 2
registration_timeout = 3
reconnect_min = 0.05
reconnect_max = 0.3
"""


async def modem(work: Path) -> Result:
    emus = [ModemEmulator(link=str(work / f"modem{i}")) for i in range(2)]
    faults: Counter[str] = Counter()
    async with trio.open_nursery() as nursery:
        for emu in emus:
            await nursery.start(emu.run)
        cfg = work / "smsgw.toml"
        cfg.write_text(config(work, _modem_route([e.link or "" for e in emus]), webhooks=False))
        gw = GatewayProcess(cfg, work / "gateway.log")
        load = Load(batch=2, pause=0.5)
        load.url = await gw.start()
        nursery.start_soon(gw.drain)
        nursery.start_soon(load.client)
        alive = True
        with trio.move_on_after(SECONDS):
            turn = 0
            while True:
                await trio.sleep(2)
                emu = emus[turn % 2]
                kind = ("unplug", "hang", "reboot")[turn % 3]
                turn += 1
                faults[kind] += 1
                if kind == "unplug":
                    await emu.unplug()
                    await trio.sleep(1.5)
                    await emu.replug()
                elif kind == "hang":
                    emu.hang()
                    await trio.sleep(3)
                    emu.unhang()
                else:
                    await emu.reboot()
                alive = alive and gw.alive()
        load.running = False
        taken: Counter[str] = Counter(s.text for e in emus for s in e.sent)
        result = await settle(work / "smsgw.db", load.accepted, taken)
        # what the emulators took during the settling counts too
        taken = Counter(s.text for e in emus for s in e.sent)
        result = await settle(work / "smsgw.db", load.accepted, taken, wait=0)
        result["faults"] = dict(faults)
        result["gateway_alive_throughout"] = alive and gw.alive()
        result["gateway_exit"] = await gw.stop()
        nursery.cancel_scope.cancel()
    return _verdict(result, gw)


def full_disk(_: Path) -> Result:
    script = Path(__file__).with_name("full_disk.py")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=900, check=False
    )
    try:
        result: Result = json.loads(done.stdout)
    except ValueError:
        return {"ok": False, "exit": done.returncode, "output": done.stdout[-2000:] + done.stderr}
    result["ok"] = done.returncode == 0
    return result


SCENARIOS: dict[str, Callable[[Path], Awaitable[Result]] | Callable[[Path], Result]] = {
    "smpp": smpp,
    "kill9": kill9,
    "modem": modem,
    "full_disk": full_disk,
}


def main(argv: list[str]) -> int:
    names = argv or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        work = Path(tempfile.mkdtemp(prefix=f"smsgw-chaos-{name}-"))
        try:
            run = SCENARIOS[name]
            if name == "full_disk":
                result = full_disk(work)
            else:
                result = trio.run(cast(Callable[[Path], Awaitable[Result]], run), work)
        finally:
            if os.environ.get("CHAOS_KEEP"):
                print(f"{name}: kept {work}", file=sys.stderr)
            else:
                shutil.rmtree(work, ignore_errors=True)
        print(json.dumps({"scenario": name, **result}, sort_keys=True), flush=True)
        if not result.get("ok"):
            failed.append(name)
    print(json.dumps({"chaos": "failed" if failed else "passed", "failed": failed}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
