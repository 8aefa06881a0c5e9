"""Joining inbound multipart messages (sans-IO; the caller passes the time).

Parts are grouped by the caller's key (route, sender, recipient: whatever names one
conversation) together with the concatenation reference, total and reference size, and
joined in sequence order whatever order they arrived in. A duplicate part (the same
sequence number again, as SMSCs resend when an ack is lost) is ignored.

Nothing is lost: a message still incomplete ``timeout`` seconds after its first part
arrived is handed out by :meth:`Reassembler.expire` with what did arrive, in order, marked
``complete=False``. When ``max_pending`` messages are waiting, the oldest is handed out the
same way (at the next :meth:`~Reassembler.expire`) to make room.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from smsgw.drivers.text.errors import InvalidArgument
from smsgw.drivers.text.udh import Concat

__all__ = ["Reassembled", "Reassembler"]


@dataclass(frozen=True, slots=True)
class Reassembled:
    """A whole inbound message, or as much of it as arrived.

    ``parts`` is the number of parts the text was joined from and ``total`` the number the
    sender announced; they differ only when ``complete`` is false. ``first_at`` is when the
    first part arrived (the caller's clock). ``missing`` lists the sequence numbers that
    never came. ``key`` is the caller's key as given to :meth:`Reassembler.feed` (any hashable
    value: a string, or a tuple the caller unpacks again, hence typed ``Any``).
    """

    key: Any
    text: str
    parts: int
    complete: bool
    first_at: float
    total: int = 1
    missing: tuple[int, ...] = ()


@dataclass(slots=True)
class _Pending:
    key: Hashable
    total: int
    first_at: float
    texts: dict[int, str] = field(default_factory=dict)


class Reassembler:
    """Collects parts until a message is whole (see the module docstring).

    ``timeout`` is counted from a message's first part; ``now`` must not go backwards
    between calls (pass a monotonic clock).
    """

    def __init__(self, timeout: float = 300.0, max_pending: int = 10_000) -> None:
        if not timeout > 0:
            raise InvalidArgument(f"timeout must be positive, not {timeout}")
        if max_pending < 1:
            raise InvalidArgument(f"max_pending must be at least 1, not {max_pending}")
        self.timeout = timeout
        self.max_pending = max_pending
        self._pending: dict[tuple[Hashable, int, int, int], _Pending] = {}
        self._evicted: list[Reassembled] = []

    def __len__(self) -> int:
        """Messages waiting for parts."""
        return len(self._pending)

    def feed(self, key: Any, concat: Concat | None, text: str, now: float) -> Reassembled | None:
        """Take one part; return the whole message once its last part is in, else ``None``.

        A part without concatenation (or with ``total`` 1, or an impossible sequence number)
        is a message of its own and comes straight back.
        """
        if concat is None or concat.total <= 1 or not 1 <= concat.seq <= concat.total:
            return Reassembled(key, text, 1, True, now)
        gk = (key, concat.ref, concat.total, concat.ref_bits)
        p = self._pending.get(gk)
        if p is None:
            if len(self._pending) >= self.max_pending:
                oldest = next(iter(self._pending))
                self._evicted.append(_partial(self._pending.pop(oldest)))
            p = self._pending[gk] = _Pending(key, concat.total, now)
        if concat.seq in p.texts:
            return None  # a duplicate: the first copy stands
        p.texts[concat.seq] = text
        if len(p.texts) < p.total:
            return None
        del self._pending[gk]
        joined = "".join(p.texts[i] for i in range(1, p.total + 1))
        return Reassembled(p.key, joined, p.total, True, p.first_at, p.total)

    def next_deadline(self) -> float | None:
        """When the oldest waiting message times out (``None`` when none is waiting)."""
        for p in self._pending.values():
            return p.first_at + self.timeout
        return None

    def expire(self, now: float) -> list[Reassembled]:
        """Hand out, incomplete, the messages whose time is up (and any pushed out by
        ``max_pending``), oldest first."""
        out, self._evicted = self._evicted, []
        while self._pending:
            gk, p = next(iter(self._pending.items()))
            if p.first_at + self.timeout > now:
                break
            del self._pending[gk]
            out.append(_partial(p))
        return out


def _partial(p: _Pending) -> Reassembled:
    seqs = sorted(p.texts)
    missing = tuple(i for i in range(1, p.total + 1) if i not in p.texts)
    text = "".join(p.texts[i] for i in seqs)
    return Reassembled(p.key, text, len(seqs), False, p.first_at, p.total, missing)
