"""Start-up refusals: a store that cannot be trusted is refused with one line, never guessed at.

Every refusal is a :class:`StoreRefused` whose ``str()`` is ``FILE: REASON; WHAT TO DO`` —
what ``smsgw serve`` prints before it exits non-zero, instead of a traceback.

:func:`preflight` reads the file before SQLite does, because SQLite is too forgiving for a
queue that promised to keep what it accepted: it treats a 0-byte file as a new, empty
database (so a store truncated by a failed copy or a full disk would silently start empty,
and everything queued would be forgotten), and notices a short or foreign file only when it
later reads a missing page.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["CHECK_HINT", "StoreRefused", "preflight"]

_MAGIC = b"SQLite format 3\x00"

CHECK_HINT = "restore it from a backup; `smsgw store check --path {path}` tells what is wrong"


class StoreRefused(Exception):
    """The store cannot be opened; ``str()`` is one line: the file, the reason, what to do."""

    def __init__(self, path: str, reason: str, todo: str) -> None:
        super().__init__(f"{path}: {reason}; {todo}")
        self.path = path
        self.reason = reason


def preflight(path: str, *, evidence: Sequence[str] = ()) -> None:
    """Check the file at ``path`` before SQLite opens it.

    A missing file is a new store. A 0-byte file is one too, unless something says a store
    existed here: a ``-wal`` file beside it, or one of ``evidence`` (paths such as the lock
    file or the API token the gateway created next to its store). A file that is not SQLite,
    shorter than its own header says, or not a whole number of pages is refused.

    Raises :class:`StoreRefused`.
    """
    wal = path + "-wal"
    wal_size = _size(wal)
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        if wal_size:
            raise StoreRefused(
                path,
                f"the store file is missing but its write-ahead log {wal} is there",
                "restore the store file from a backup, or move the -wal file away to"
                " start a new store",
            ) from None
        return
    except OSError as e:
        raise StoreRefused(
            path, f"cannot read the store: {e.strerror}", "check its permissions"
        ) from None
    if size == 0:
        found = ([wal] if wal_size else []) + [p for p in evidence if os.path.lexists(p)]
        if found:
            raise StoreRefused(
                path,
                f"the store file is empty (0 bytes) but a store existed here ({found[0]})",
                "restore it from a backup; if this really is a new install, delete the empty file",
            )
        return
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as e:
        raise StoreRefused(
            path, f"cannot read the store: {e.strerror}", "check its permissions"
        ) from None
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise StoreRefused(
            path,
            "not an SQLite database (a foreign or damaged file)",
            "point [store] path at the smsgw store, or " + CHECK_HINT.format(path=path),
        )
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise StoreRefused(
            path, "the store's header is damaged (page size)", CHECK_HINT.format(path=path)
        )
    if wal_size:
        return  # a checkpoint cut short leaves the file short; SQLite completes it from the WAL
    # The header's page count is valid when "version-valid-for" matches the change counter
    # (SQLite file format, section 1.3.7); WAL-mode databases keep it valid.
    pages = int.from_bytes(header[28:32], "big")
    valid = pages > 0 and header[92:96] == header[24:28]
    if size % page_size or (valid and size < pages * page_size):
        expected = f"{pages * page_size} bytes" if valid else f"a multiple of {page_size}"
        raise StoreRefused(
            path,
            f"the store file is truncated ({size} bytes where it should be {expected})",
            CHECK_HINT.format(path=path),
        )


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None
