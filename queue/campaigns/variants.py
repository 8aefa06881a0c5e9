"""Which variant of a campaign a number gets: a pure function of the campaign id and the
number, split by weight, so a restart or a second look gives the same answer."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["in_test_share", "pick_variant"]


def pick_variant(campaign_id: str, number: str, weights: Sequence[int]) -> int:
    """The index of the variant ``number`` gets: a 64-bit hash of campaign id and number
    taken modulo the sum of the weights, so each variant's share is its weight over the sum.
    Raises ValueError for no weights or a weight below 1."""
    if not weights or min(weights) < 1:
        raise ValueError("weights must be one or more whole numbers from 1")
    digest = hashlib.blake2b(f"{campaign_id}\0{number}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") % sum(weights)
    for i, w in enumerate(weights):
        if point < w:
            return i
        point -= w
    raise AssertionError("unreachable")  # pragma: no cover


def in_test_share(campaign_id: str, number: str, fraction: float) -> bool:
    """Whether ``number`` is in an A/B test's test share: a 64-bit hash of campaign id and
    number (apart from :func:`pick_variant`'s) below ``fraction`` of its range, so about that
    share of the numbers is, the same on every look."""
    digest = hashlib.blake2b(f"ab\0{campaign_id}\0{number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < fraction * 2**64
