"""Random id digits: 80 random bits as 16 base-32 characters.

Every accepted message and every webhook delivery gets 80 random bits. Asking the kernel for
10 bytes each time costs a system call per id (which also lets the writer thread take the
GIL), and the standard library's base32 encoder is written in Python; here the bytes come
from a pooled ``os.urandom`` read and are spelt 10 bits at a time from a table.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

__all__ = ["pair_table", "random_digits"]

_POOL = 4096
"""Bytes read from the kernel at once (409 ids)."""


class _Entropy:
    """A buffer of ``os.urandom`` bytes handed out once each; safe across threads and
    emptied in a forked child (which must never repeat its parent's bytes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buf = b""
        self._pos = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if n > _POOL:
                return os.urandom(n)
            if self._pos + n > len(self._buf):
                self._buf, self._pos = os.urandom(_POOL), 0
            pos = self._pos
            self._pos = pos + n
            return self._buf[pos : pos + n]

    def forget(self) -> None:
        self._lock = threading.Lock()
        self._buf, self._pos = b"", 0


_entropy = _Entropy()
os.register_at_fork(after_in_child=_entropy.forget)


def pair_table(alphabet: str) -> list[str]:
    """Every two-character string of a 32-character ``alphabet``, indexed by 10 bits."""
    if len(alphabet) != 32:
        raise ValueError("a base-32 alphabet has 32 characters")
    return [a + b for a in alphabet for b in alphabet]


def random_digits(n: int, pairs: Sequence[str]) -> list[str]:
    """``n`` strings of 16 characters, each 80 fresh random bits in the alphabet of
    ``pairs`` (from :func:`pair_table`), most significant first, as base32 spells 10 bytes."""
    raw = _entropy.take(10 * n)
    out = []
    for i in range(0, 10 * n, 10):
        v = int.from_bytes(raw[i : i + 10], "big")
        out.append(
            pairs[v >> 70]
            + pairs[(v >> 60) & 1023]
            + pairs[(v >> 50) & 1023]
            + pairs[(v >> 40) & 1023]
            + pairs[(v >> 30) & 1023]
            + pairs[(v >> 20) & 1023]
            + pairs[(v >> 10) & 1023]
            + pairs[v & 1023]
        )
    return out
