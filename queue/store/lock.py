"""One store, one gateway: an exclusive lock on a file next to the database.

``smsgw.db`` is guarded by ``smsgw.db.lock``, held with ``fcntl.flock(LOCK_EX | LOCK_NB)`` for
as long as the store is open and holding the pid of its owner. A second gateway on the same
store is refused at start with one line naming the file and that pid, instead of starting
and taking the first one's in-flight parts back (each of which would then be sent twice).

flock belongs to the open file, not the process: two stores opened in one process conflict
too, and the kernel drops the lock when the process dies however it dies (``kill -9``
included), so a stale lock file never blocks a restart. The file itself is left in place:
removing it would let a starting gateway lock a new file while another still holds the old.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

from smsgw.queue.store.refusals import StoreRefused

__all__ = ["StoreLock", "StoreLocked", "ensure_data_dir", "lock_path"]


class StoreLocked(StoreRefused):
    """Another process holds the store's lock; ``pid`` is its pid when it wrote one."""

    def __init__(self, path: str, lock: str, pid: int | None) -> None:
        who = f"pid {pid}" if pid is not None else "a process that did not write its pid"
        super().__init__(
            path,
            f"in use by another smsgw ({who} holds {lock})",
            "stop that one first, or give this one its own [store] path",
        )
        self.lock = lock
        self.pid = pid


def lock_path(path: str) -> str:
    """The lock file of the store at ``path``."""
    return os.path.abspath(path) + ".lock"


def ensure_data_dir(path: str) -> str:
    """Create the store's folder if needed and check it is writable; returns it.

    Raises :class:`StoreRefused` naming the folder when it cannot be created or written.
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as e:
        raise StoreRefused(
            folder,
            f"cannot create the data directory: {e.strerror}",
            "create it, writable by the user smsgw runs as, or set [store] path",
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreRefused(
            folder,
            "the data directory is not writable",
            "make it writable by the user smsgw runs as (the store, its WAL and lock live"
            " there), or set [store] path",
        )
    return folder


class StoreLock:
    """The held lock; :meth:`release` (or process exit) gives it up."""

    def __init__(self, path: str, fd: int, existed: bool) -> None:
        self.path = path
        self._fd: int | None = fd
        self.existed = existed
        """The lock file was there before: a store has been opened here before."""

    @classmethod
    def acquire(cls, db_path: str) -> StoreLock:
        """Take the lock of the store at ``db_path`` without waiting.

        Raises :class:`StoreLocked` when another open store holds it, :class:`StoreRefused`
        when the lock file cannot be created (the data directory is not writable).
        """
        ensure_data_dir(db_path)
        path = lock_path(db_path)
        existed = os.path.exists(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise StoreRefused(
                path,
                f"cannot create the lock file: {e.strerror}",
                "make the data directory writable by the user smsgw runs as",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise StoreLocked(db_path, path, pid) from None
        except OSError as e:
            os.close(fd)
            raise StoreRefused(
                path, f"cannot lock: {e.strerror}", "keep the store on a local file system"
            ) from None
        # The pid is for the refusal message only: a full disk must not stop a start here.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd, existed)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self, *, forget: bool = False) -> None:
        """Give the lock up (idempotent). ``forget``: a start that was refused removes a lock
        file it created, so that the file keeps meaning "a store was opened here"."""
        fd, self._fd = self._fd, None
        if fd is not None:
            if forget and not self.existed:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)  # still locked by us: nobody else holds this file
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isascii() and text.isdecimal() else None
