"""Start-up refuses a store it cannot trust with one line (file, reason, what to do)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from smsgw.metrics.instruments import Metrics
from smsgw.queue.store import Store
from smsgw.queue.store.refusals import StoreRefused
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore
from tests.conftest import gateway_toml
from tests.helpers import new_message


def make_store(path: Path) -> Store:
    return SqliteStore(
        str(path),
        metrics=Metrics(),
        policy=DispatchPolicy(max_attempts={"sim": 3}, retry_base=2.0, retry_max=60.0),
        evidence=("api-token",),
    )


async def make_real_store(path: Path, messages: int = 300) -> None:
    store = make_store(path)
    await store.open()
    await store.accept([new_message(i) for i in range(messages)])
    await store.close()


async def refused(path: Path) -> str:
    store = make_store(path)
    with pytest.raises(StoreRefused) as e:
        await store.open()
    assert not store.opened
    line = str(e.value)
    assert "\n" not in line
    return line


async def test_an_empty_file_where_a_store_existed_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "smsgw.db"
    db.write_bytes(b"")
    (tmp_path / "api-token").write_text("x" * 32)
    line = await refused(db)
    assert str(db) in line and "empty (0 bytes)" in line and "api-token" in line
    assert db.stat().st_size == 0  # not turned into a new store


async def test_an_empty_file_after_a_store_had_its_lock_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "smsgw.db"
    await make_real_store(db)
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.truncate(str(db) + suffix, 0)
    line = await refused(db)
    assert "empty (0 bytes)" in line and "smsgw.db.lock" in line


async def test_an_empty_file_with_nothing_beside_it_is_a_new_store(tmp_path: Path) -> None:
    db = tmp_path / "smsgw.db"
    db.write_bytes(b"")  # `touch smsgw.db` on a new install
    store = make_store(db)
    await store.open()
    try:
        assert (await store.accept([new_message(1)]))[0].created
    finally:
        await store.close()


async def test_a_missing_store_with_its_wal_left_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "smsgw.db"
    (tmp_path / "smsgw.db-wal").write_bytes(b"\x37\x7f\x06\x82" + b"\0" * 28)
    line = await refused(db)
    assert "missing" in line and "smsgw.db-wal" in line


async def test_a_truncated_store_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "smsgw.db"
    await make_real_store(db)
    size = db.stat().st_size
    os.truncate(db, size // 2 - 100)
    line = await refused(db)
    assert "truncated" in line and "smsgw store check" in line


async def test_a_foreign_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "smsgw.db"
    db.write_text("[store]\npath = 'oops, this is a config file'\n" * 10)
    line = await refused(db)
    assert "not an SQLite database" in line
    assert db.read_text().startswith("[store]")


async def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "smsgw.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE invoices (n INTEGER)")
    conn.commit()
    conn.close()
    line = await refused(db)
    assert "not an smsgw store" in line and "invoices" in line
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert tables == {"invoices"}  # nothing of ours was created in it


async def test_a_store_from_a_newer_smsgw_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "smsgw.db"
    await make_real_store(db, messages=1)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    line = await refused(db)
    assert "newer smsgw (schema 99" in line and "upgrade smsgw" in line


async def test_a_corrupt_store_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "smsgw.db"
    await make_real_store(db)
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)  # page 1 past the header: the schema's b-tree
    db.write_bytes(bytes(data))
    line = await refused(db)
    assert "damaged" in line and f"smsgw store check --path {db}" in line


@contextlib.contextmanager
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder the gateway cannot write: a read-only mount as root, a 0555 folder as a user."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


async def test_a_data_directory_that_is_not_writable_is_refused(tmp_path: Path) -> None:
    with read_only_dir(tmp_path) as folder:
        line = await refused(folder / "smsgw.db")
        assert str(folder) in line and "not writable" in line


def serve(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smsgw", "serve", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", ["corrupt", "newer", "empty", "unwritable"])
async def test_serve_refuses_with_one_line_and_no_traceback(tmp_path: Path, case: str) -> None:
    db = tmp_path / "smsgw.db"
    config = tmp_path / "smsgw.toml"
    config.write_text(gateway_toml(tmp_path))
    with contextlib.ExitStack() as stack:
        if case == "corrupt":
            await make_real_store(db)
            data = bytearray(db.read_bytes())
            data[100:4096] = b"\xa5" * (4096 - 100)
            db.write_bytes(bytes(data))
        elif case == "newer":
            await make_real_store(db, messages=1)
            conn = sqlite3.connect(db)
            conn.execute("PRAGMA user_version = 99")
            conn.close()
        elif case == "empty":
            await make_real_store(db, messages=1)
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.truncate(str(db) + suffix, 0)
        else:
            folder = stack.enter_context(read_only_dir(tmp_path))
            db = folder / "smsgw.db"
            config.write_text(gateway_toml(folder))
        done = await trio.to_thread.run_sync(serve, config)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("smsgw: ") and str(db.parent) in lines[0]
    assert "listening" not in done.stdout


async def test_a_refused_start_leaves_no_lock_file_to_mislead_the_next(tmp_path: Path) -> None:
    db = tmp_path / "smsgw.db"
    db.write_text("not a database, " * 10)
    await refused(db)
    assert not (tmp_path / "smsgw.db.lock").exists()
    db.write_bytes(b"")  # the operator empties it to start afresh: a new store, not refused
    store = make_store(db)
    await store.open()
    await store.close()
