"""The command line of ``smsgw smsc-sim`` (the simulator itself is :mod:`.sim`)."""

from __future__ import annotations

import argparse
import sys

import trio

from smsgw.drivers.smpp.sim import SimSettings, SmscSim, serve_smsc_sim

__all__ = ["main"]


def _fraction(value: str) -> float:
    f = float(value)
    if not 0.0 <= f <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not a fraction between 0 and 1")
    return f


def _account(value: str) -> tuple[str, str]:
    system_id, sep, password = value.partition(":")
    if not system_id or not sep:
        raise argparse.ArgumentTypeError(f"{value!r} is not SYSTEM_ID:PASSWORD")
    return system_id, password


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="smsgw smsc-sim",
        description="Run a simulated SMSC (SMPP 3.4 server) to try an smpp route against. "
        "Lines 'FROM TO TEXT' on stdin (with --mo-stdin) are delivered as inbound messages.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=2775, help="TCP port (2775; 0 = any free)")
    p.add_argument(
        "--account",
        type=_account,
        action="append",
        default=[],
        metavar="SYSTEM_ID:PASSWORD",
        help="an account that may bind (repeatable); none = accept any",
    )
    p.add_argument(
        "--receipt-delay", type=float, default=0.0, metavar="SECONDS", help="submit to receipt"
    )
    p.add_argument(
        "--response-delay", type=float, default=0.0, metavar="SECONDS", help="before submit_sm_resp"
    )
    p.add_argument("--no-receipts", action="store_true", help="never send delivery receipts")
    p.add_argument("--throttle", type=_fraction, default=0.0, help="fraction ESME_RTHROTTLED")
    p.add_argument("--fail-temporary", type=_fraction, default=0.0, help="fraction ESME_RSYSERR")
    p.add_argument("--fail-permanent", type=_fraction, default=0.0, help="fraction ESME_RINVDSTADR")
    p.add_argument("--undeliverable", type=_fraction, default=0.0, help="fraction UNDELIV")
    p.add_argument("--id-format", choices=["hex", "decimal"], default="hex")
    p.add_argument("--receipt-id-format", choices=["same", "decimal", "hex"], default="same")
    p.add_argument("--no-receipt-tlvs", action="store_true", help="receipt text only, no TLVs")
    p.add_argument("--window", type=int, default=100, help="deliver_sm outstanding per bind")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--tls-cert", default="", metavar="PEM")
    p.add_argument("--tls-key", default="", metavar="PEM")
    p.add_argument(
        "--silent-after",
        type=int,
        default=0,
        metavar="N",
        help="the connection that gets the N-th submit_sm goes silent (TCP open, nothing"
        " answered); 0 = never",
    )
    p.add_argument("--mo-stdin", action="store_true", help="read 'FROM TO TEXT' lines as MO")
    return p


async def _mo_from_stdin(sim: SmscSim) -> None:
    stream = trio.lowlevel.FdStream(sys.stdin.fileno())
    buf = b""
    while chunk := await stream.receive_some(4096):
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            parts = line.decode("utf-8", errors="replace").strip().split(None, 2)
            if len(parts) == 3:
                n = sim.inject_mo(parts[0], parts[1], parts[2])
                print(f"smsc-sim: MO from {parts[0]} queued ({n} part(s))", flush=True)
            elif parts:
                print("smsc-sim: MO lines are 'FROM TO TEXT'", file=sys.stderr, flush=True)
        if len(buf) > 4096:
            buf = b""


async def _run(settings: SimSettings, mo_stdin: bool) -> None:
    async with trio.open_nursery() as nursery:
        sim: SmscSim = await nursery.start(serve_smsc_sim, settings)
        accounts = ", ".join(settings.accounts) or "any account"
        print(
            f"smsc-sim: listening on {settings.host}:{sim.port} ({accounts})",
            flush=True,
        )
        if mo_stdin:
            nursery.start_soon(_mo_from_stdin, sim)


def main(argv: list[str]) -> int:
    """Parse ``argv``, run the simulator until interrupted; returns the exit status."""
    parser = _parser()
    try:
        a = parser.parse_args(argv)
    except SystemExit as exc:  # --help or a usage error; argparse already printed it
        return int(exc.code or 0)
    if bool(a.tls_cert) != bool(a.tls_key):
        parser.print_usage(sys.stderr)
        print("smsc-sim: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    settings = SimSettings(
        host=a.host,
        port=a.port,
        accounts=dict(a.account),
        receipts=not a.no_receipts,
        receipt_delay=a.receipt_delay,
        response_delay=a.response_delay,
        throttle=a.throttle,
        fail_temporary=a.fail_temporary,
        fail_permanent=a.fail_permanent,
        undeliverable=a.undeliverable,
        id_format=a.id_format,
        receipt_id_format=a.receipt_id_format,
        receipt_tlvs=not a.no_receipt_tlvs,
        window=max(1, a.window),
        seed=a.seed,
        tls_cert=a.tls_cert,
        tls_key=a.tls_key,
        silent_after=max(0, a.silent_after),
    )
    try:
        trio.run(_run, settings, a.mo_stdin)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"smsc-sim: {exc}", file=sys.stderr)
        return 1
    return 0
