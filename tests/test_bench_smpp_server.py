"""``smsgw bench --smpp-server`` runs end to end and prints its figures (a smoke test: the
figures themselves are the benchmark's to print, not a test's to judge)."""

from __future__ import annotations

import subprocess
import sys

import msgspec


def test_the_smpp_server_mode_prints_its_figures() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "smsgw", "bench", "--smpp-server", "--submits", "300"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    result = msgspec.json.decode(out)
    assert result["mode"] == "smpp-server"
    assert result["accepted"] == 300 and result["refused"] == 0
    assert result["submit_sm_per_s"] > 0 and result["resp_p99_ms"] >= result["resp_p50_ms"]
