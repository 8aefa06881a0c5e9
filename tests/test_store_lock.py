"""One store, one gateway: the store's lock file, in one process and across two processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import trio

from smsgw.metrics.instruments import Metrics
from smsgw.queue.store import Store, StoreLocked
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore
from tests.conftest import gateway_toml
from tests.helpers import new_message
from tests.processes import EXIT, gateway_process, waiting


def _store(path: Path) -> Store:
    return SqliteStore(
        str(path),
        metrics=Metrics(),
        policy=DispatchPolicy(max_attempts={"sim": 3}, retry_base=2.0, retry_max=60.0),
    )


async def test_a_second_store_on_the_same_file_is_refused_and_takes_nothing_back(
    tmp_path: Path,
) -> None:
    first = _store(tmp_path / "q.db")
    await first.open()
    await first.accept([new_message(i) for i in range(20)])
    parts = await first.claim("sim", 20, 1_001.0)
    assert len(parts) == 20  # in flight: handed to the route, outcome pending
    second = _store(tmp_path / "q.db")
    with pytest.raises(StoreLocked) as refused:
        await second.open()
    line = str(refused.value)
    assert "\n" not in line
    assert str(tmp_path / "q.db") in line and f"pid {os.getpid()}" in line
    assert "stop that one first" in line
    assert not second.opened and not second.held
    # The first one's in-flight parts are still its own.
    assert await first.claim("sim", 20, 1_002.0) == []
    with pytest.raises(RuntimeError, match="only under lock"):
        await second.recover_in_flight(1_002.0)
    await first.close()
    # Closed (or dead): the lock is free again, and the parts come back to the next holder.
    await second.open()
    try:
        assert second.held
        # mypy keeps second.held narrowed to False across open(), which changes it.
        assert len(await second.recover_in_flight(1_003.0)) == 20  # type: ignore[unreachable]
    finally:
        await second.close()


async def test_the_lock_file_holds_the_pid(tmp_path: Path) -> None:
    store = _store(tmp_path / "q.db")
    await store.open()
    try:
        text = (tmp_path / "q.db.lock").read_text()
        assert text.strip() == str(os.getpid())
    finally:
        await store.close()


@pytest.mark.slow
async def test_a_second_gateway_process_exits_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "smsgw.toml"
    config.write_text(gateway_toml(tmp_path))
    async with gateway_process(config) as first:
        with waiting(EXIT, "the second gateway to refuse the store and exit"):
            second = await trio.run_process(
                [sys.executable, "-m", "smsgw", "serve", "-c", str(config)],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        assert second.returncode != 0
        assert second.stdout == b""
        err = second.stderr.decode()
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert str(tmp_path / "smsgw.db") in lines[0]
        assert f"pid {first.proc.pid}" in lines[0]
        # The first gateway still serves.
        assert first.proc.returncode is None
        assert await first.child.terminated() == 0, first.child.tail()
