"""``smsgw store check`` and ``smsgw store backup``: beside a running gateway, without its lock."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
import trio

from smsgw.gateway.cli import main
from smsgw.metrics.instruments import Metrics
from smsgw.queue.store import Store
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore
from tests.conftest import gateway_toml
from tests.helpers import new_message
from tests.processes import EXIT, gateway_process, waiting
from tests.test_lifecycle import post_batch


def make_store(path: Path) -> Store:
    return SqliteStore(
        str(path),
        metrics=Metrics(),
        policy=DispatchPolicy(max_attempts={"sim": 3}, retry_base=2.0, retry_max=60.0),
    )


async def test_check_says_ok_for_a_sound_store_held_by_a_gateway(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = make_store(tmp_path / "q.db")
    await store.open()
    try:
        await store.accept([new_message(i) for i in range(100)])
        code = await trio.to_thread.run_sync(main, ["store", "check", "--path", store.path])
    finally:
        await store.close()
    out = capsys.readouterr().out
    assert code == 0 and out.startswith(f"{store.path}: ok (schema ")


async def test_check_finds_a_damaged_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "q.db"
    store = make_store(db)
    await store.open()
    await store.accept([new_message(i, segments=("x" * 150,)) for i in range(300)])
    await store.close()
    data = bytearray(db.read_bytes())
    page = 4096
    data[8 * page : 10 * page] = b"\x5a" * (2 * page)  # two pages in the middle of a table
    db.write_bytes(bytes(data))
    assert main(["store", "check", "--path", str(db)]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() and "restore the store from a backup" in captured.err


def test_check_refuses_a_foreign_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "q.db"
    db.write_text("hello " * 100)
    assert main(["store", "check", "--path", str(db)]) == 1
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).strip().splitlines()
    assert len(lines) == 1 and str(db) in lines[0]
    assert main(["store", "check", "--path", str(tmp_path / "missing.db")]) == 1
    assert "no such store" in capsys.readouterr().err


async def test_backup_while_the_store_is_being_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = make_store(tmp_path / "q.db")
    await store.open()
    copy = tmp_path / "backup" / "q-copy.db"
    copy.parent.mkdir()
    written = 0
    try:
        await store.accept([new_message(i) for i in range(500)])
        async with trio.open_nursery() as nursery:

            async def write_on() -> None:
                nonlocal written
                for b in range(50):
                    await store.accept([new_message(10_000 + b * 20 + i) for i in range(20)])
                    written += 20

            nursery.start_soon(write_on)
            code = await trio.to_thread.run_sync(
                main, ["store", "backup", str(copy), "--path", store.path]
            )
    finally:
        await store.close()
    assert code == 0 and "backed up to" in capsys.readouterr().out
    # The copy is a store of its own: one file, sound, a consistent snapshot of the queue.
    assert not (copy.parent / "q-copy.db-wal").exists()
    assert main(["store", "check", "--path", str(copy)]) == 0
    restored = make_store(copy)
    await restored.open()
    try:
        assert 500 <= restored.active_total <= 500 + written
        assert restored.active_total % 20 == 0  # whole transactions only
    finally:
        await restored.close()


def test_backup_refuses_to_overwrite_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "q.db"
    sqlite3.connect(db).close()
    assert main(["store", "backup", str(db), "--path", str(db)]) == 1
    assert "is the store itself" in capsys.readouterr().err


@pytest.mark.slow
async def test_backup_of_a_running_gateway_process(tmp_path: Path) -> None:
    config = tmp_path / "smsgw.toml"
    config.write_text(gateway_toml(tmp_path))
    async with gateway_process(config) as gw:
        msgs: list[dict[str, object]] = [
            {"to": "+4917012345678", "text": f"m{n}"} for n in range(50)
        ]
        ids = await post_batch(gw.url, msgs)
        copy = tmp_path / "copy.db"
        with waiting(EXIT, "smsgw store backup beside a running gateway"):
            done = await trio.run_process(
                [sys.executable, "-m", "smsgw", "store", "backup", str(copy), "-c", str(config)],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        assert done.returncode == 0, done.stderr
        conn = sqlite3.connect(copy)
        found = {r[0] for r in conn.execute("SELECT id FROM messages")}
        conn.close()
        assert set(ids) <= found
        assert gw.proc.returncode is None  # the gateway kept its lock and runs on
        assert await gw.child.terminated() == 0, gw.child.tail()
