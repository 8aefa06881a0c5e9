"""Importing a generated CSV of contacts through the CLI path: ``smsgw contacts import``'s
reader and sender against a gateway in a child process (the real HTTP API, a real SQLite
file), as a user runs it.

The file (1,000,000 rows by default, written row by row to a temporary directory) has a
number, both names, a locale, a time zone for one row in three, two tags and two attribute
columns. Prints rows per second, the gateway's and the importer's peak RSS, and the gateway's
RSS after the first tenth of the rows (memory stays flat when the import streams); ``--json``
prints the same as JSON.
Run: .venv/bin/python tests/bench/bench_contacts_import.py [--rows N] [--synchronous full]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from smsgw.gateway import contacts_import
from smsgw.gateway.bench_procs import TOKEN, Proc, free_port, write_config
from smsgw.gateway.contacts_import import cli_send, import_file

_ZONES = ("Europe/Berlin", "", "")
_LOCALES = ("de", "en-GB", "fr", "de-AT")


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            ["number", "first_name", "last_name", "locale", "time_zone", "tags", "plan", "joined"]
        )
        for i in range(rows):
            w.writerow(
                [
                    f"+49170{i:08d}",
                    f"Name{i % 997}",
                    f"Family{i % 1009}",
                    _LOCALES[i % 4],
                    _ZONES[i % 3],
                    "vip;newsletter" if i % 10 == 0 else "newsletter",
                    "gold" if i % 7 == 0 else "free",
                    f"20{10 + i % 16}-0{1 + i % 9}-1{i % 10}",
                ]
            )


class _Watch(io.StringIO):
    """The progress stream: records the gateway's RSS when a tenth of the rows is done."""

    def __init__(self, proc: Proc, tenth: int) -> None:
        super().__init__()
        self.proc, self.tenth = proc, tenth
        self.rss_at_tenth: float | None = None
        self.last = ""

    def write(self, text: str) -> int:
        self.last = text or self.last
        done = text.split(" rows", 1)[0].rsplit(" ", 1)[-1].replace(",", "")
        if self.rss_at_tenth is None and done.isdigit() and int(done) >= self.tenth:
            self.rss_at_tenth = self.proc.rss_mb()
        return len(text)


def run(rows: int, synchronous: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source = tmp / "contacts.csv"
        write_csv(source, rows)
        port = free_port()
        proc = Proc(write_config(tmp, port, 1000, synchronous, "sim"))
        try:
            proc.wait_listening()
            watch = _Watch(proc, rows // 10)
            send = cli_send(f"http://127.0.0.1:{port}", TOKEN)
            cpu_before = proc.cpu()
            started = time.perf_counter()
            with source.open(encoding="utf-8-sig", newline="") as f:
                totals = trio.run(lambda: import_file(f, send, progress=watch))
            elapsed = time.perf_counter() - started
            gateway_cpu = proc.cpu() - cpu_before
            peak = proc.peak_rss_mb()
        finally:
            proc.stop()
    return {
        "rows": totals.rows,
        "created": totals.created,
        "failed": totals.failed,
        "seconds": round(elapsed, 2),
        "rows_per_s": round(totals.rows / elapsed),
        "gateway_cpu_us_per_row": round(gateway_cpu / max(totals.rows, 1) * 1e6, 1),
        "gateway_peak_rss_mb": round(peak, 1),
        "gateway_rss_mb_at_a_tenth": round(watch.rss_at_tenth or 0.0, 1),
        "importer_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "piece_rows": contacts_import.PIECE_ROWS,
        "synchronous": synchronous,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--synchronous", default="normal", choices=["normal", "full"])
    args = ap.parse_args()
    result = run(args.rows, args.synchronous)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['rows']:,} rows ({result['created']:,} created, {result['failed']} refused) in"
        f" {result['seconds']} s: {result['rows_per_s']:,} rows/s; gateway"
        f" {result['gateway_cpu_us_per_row']} µs CPU per row, peak RSS"
        f" {result['gateway_peak_rss_mb']} MB ({result['gateway_rss_mb_at_a_tenth']} MB after a"
        f" tenth); importer peak RSS {result['importer_peak_rss_mb']} MB"
    )


if __name__ == "__main__":
    main()
