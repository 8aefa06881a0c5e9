"""Store maintenance that runs beside a live gateway: an integrity check and an online backup.

Both open the database read-only through a connection of their own and never take the store's
lock (:mod:`smsgw.queue.store.lock`), so they work while a gateway holds it. SQLite's WAL lets a
reader see one consistent snapshot while the gateway goes on writing; the backup copies that
snapshot page by page with SQLite's backup API in one step (a step interrupted by a write would
start over), into a temporary file that replaces the destination only once it is complete and
checked.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse

import msgspec

from smsgw.queue.store.refusals import StoreRefused
from smsgw.queue.store.sqlite.migrations import SCHEMA_VERSION
from smsgw.queue.store.sqlite.rows import scalar

__all__ = ["BackupResult", "CheckResult", "backup", "check"]

_MAX_PROBLEMS = 100


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    """What ``PRAGMA integrity_check`` found; ``problems`` empty means sound."""

    path: str
    problems: list[str]
    schema: int
    pages: int

    @property
    def ok(self) -> bool:
        return not self.problems


class BackupResult(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    destination: str
    pages: int
    bytes: int


def _open_read_only(path: str) -> sqlite3.Connection:
    if not os.path.isfile(path):
        raise StoreRefused(path, "no such store", "check [store] path or --path")
    uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def check(path: str) -> CheckResult:
    """Run SQLite's integrity check on the store at ``path`` (read-only; works while a gateway
    runs on it). Raises :class:`StoreRefused` when the file cannot be read as SQLite at all."""
    try:
        conn = _open_read_only(path)
    except sqlite3.Error as e:
        raise StoreRefused(path, f"cannot open: {e}", "check the file and its folder") from None
    try:
        try:
            rows = conn.execute(f"PRAGMA integrity_check({_MAX_PROBLEMS})").fetchall()
            schema = int(scalar(conn.execute("PRAGMA user_version")))
            pages = int(scalar(conn.execute("PRAGMA page_count")))
        except sqlite3.DatabaseError as e:
            if getattr(e, "sqlite_errorcode", None) == 26:  # SQLITE_NOTADB
                raise StoreRefused(
                    path, "not an SQLite database", "is this the store? check [store] path"
                ) from None
            return CheckResult(path=path, problems=[str(e)], schema=0, pages=0)
    finally:
        conn.close()
    problems = [str(problem) for (problem,) in rows if problem != "ok"]
    if not problems and schema > SCHEMA_VERSION:
        problems = [f"schema version {schema} is newer than this smsgw ({SCHEMA_VERSION})"]
    return CheckResult(path=path, problems=problems, schema=schema, pages=pages)


def backup(path: str, destination: str) -> BackupResult:
    """Copy the store at ``path`` to ``destination`` while a gateway may be writing to it.

    The copy is a self-contained file (rollback journal, not WAL), checked with
    ``PRAGMA quick_check`` before it atomically replaces ``destination``. Raises
    :class:`StoreRefused` when the source cannot be read or the destination written.
    """
    source, dest = os.path.abspath(path), os.path.abspath(destination)
    if source == dest or dest in (source + "-wal", source + "-shm", source + ".lock"):
        raise StoreRefused(destination, "is the store itself", "back up to another file")
    folder = os.path.dirname(dest)
    if not os.path.isdir(folder):
        raise StoreRefused(destination, "its folder does not exist", "create it first")
    tmp = f"{dest}.tmp-{os.getpid()}"
    try:
        src = _open_read_only(source)
    except sqlite3.Error as e:
        raise StoreRefused(path, f"cannot open: {e}", "check the file and its folder") from None
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        out = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(out)  # all pages in one step: one consistent snapshot
            out.execute("PRAGMA journal_mode = DELETE")
            verdict = scalar(out.execute("PRAGMA quick_check"))
            pages = int(scalar(out.execute("PRAGMA page_count")))
        finally:
            out.close()
        if verdict != "ok":
            raise StoreRefused(path, f"the copy does not check out ({verdict})", "run check")
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        dirfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except sqlite3.Error as e:
        raise StoreRefused(
            path, f"backup failed: {e}", "check the source and the destination"
        ) from None
    except OSError as e:
        raise StoreRefused(
            destination, f"cannot write the backup: {e.strerror}", "check space and permissions"
        ) from None
    finally:
        src.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return BackupResult(source=source, destination=dest, pages=pages, bytes=os.stat(dest).st_size)
