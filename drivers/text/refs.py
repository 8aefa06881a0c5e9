"""Concatenation references: unique per destination, never random.

A handset joins parts by (sender, reference, total). Two multipart messages to the same
number with the same reference, both in its reassembly window, are mixed into garbage; a
random 8-bit reference collides with a 1-in-256 chance per pair of messages, which a campaign
sending a few messages to each customer hits every day.

So each destination gets its own counter: consecutive multipart messages to one number get
consecutive references, distinct for the next 256 (or 65,536) messages to it. A destination
seen for the first time starts where a shared counter stands, so that numbers new to us
(after a restart, say) spread over the space instead of all starting at 0.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Literal

from smsgw.drivers.text.errors import InvalidArgument

__all__ = ["ReferenceAllocator"]


class ReferenceAllocator:
    """Hands out concatenation references per destination (sans-IO, not thread-safe).

    ``max_destinations`` bounds memory: beyond it the destination used least recently is
    forgotten (it then starts again from the shared counter). ``start`` fixes the shared
    counter's first value (tests); by default it is drawn at random once, at construction.
    """

    def __init__(
        self,
        ref_bits: Literal[8, 16] = 8,
        *,
        max_destinations: int = 100_000,
        start: int | None = None,
    ) -> None:
        if ref_bits not in (8, 16):
            raise InvalidArgument(f"ref_bits must be 8 or 16, not {ref_bits}")
        if max_destinations < 1:
            raise InvalidArgument("max_destinations must be at least 1")
        self.ref_bits = ref_bits
        self._modulus = 1 << ref_bits
        self._max = max_destinations
        self._shared = random.randrange(self._modulus) if start is None else start % self._modulus
        self._last: OrderedDict[str, int] = OrderedDict()

    def next(self, destination: str) -> int:
        """The reference for the next multipart message to ``destination``."""
        last = self._last.get(destination)
        if last is None:
            ref = self._shared
            self._shared = (self._shared + 1) % self._modulus
            if len(self._last) >= self._max:
                self._last.popitem(last=False)
        else:
            ref = (last + 1) % self._modulus
            self._last.move_to_end(destination)
        self._last[destination] = ref
        return ref

    def __len__(self) -> int:
        """Destinations remembered."""
        return len(self._last)
