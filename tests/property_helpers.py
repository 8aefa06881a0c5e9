"""Hypothesis profiles and the strategies the property tests share (tests/test_property_*.py).

Profiles (``HYPOTHESIS_PROFILE`` picks one; the default is ``dev``, or ``ci`` when ``CI`` is
set):

- ``dev``: the examples each test asks for with :func:`budget`, new ones every run, failures
  kept in ``.hypothesis/`` and replayed first;
- ``ci``: the same number, derandomized (the same examples every run) and no database;
- ``fuzz`` (``make fuzz``): ``FUZZ_SCALE`` (default 50) times as many, random, with the
  database, for a long run.

Mutations (:func:`mutated`) start from valid vectors and break them the way a wire does: bit
flips, bytes set to extremes, truncation, bytes appended, inserted, deleted or repeated, and
length fields set to extremes (0, 1, the maximum, the real length plus or minus one).
"""

from __future__ import annotations

import os
from typing import Protocol, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = ["Draw", "budget", "mutated", "mutated_text"]

T = TypeVar("T")


class Draw(Protocol):
    """A strategy in, one of its values out: ``st.DataObject.draw`` and the ``draw`` of
    ``@st.composite`` both are (``st.DrawFn`` alone does not accept a bound method)."""

    def __call__(self, strategy: st.SearchStrategy[T], label: object = None) -> T: ...


_BASE = 100
settings.register_profile(
    "dev", max_examples=_BASE, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", settings.get_profile("dev"), derandomize=True, database=None)
settings.register_profile(
    "fuzz",
    settings.get_profile("dev"),
    max_examples=_BASE * int(os.environ.get("FUZZ_SCALE", "50")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def budget(examples: int) -> settings:
    """Settings for a test worth ``examples`` examples in ``make test`` (scaled by profile)."""
    default = settings.default
    assert default is not None, "a profile is loaded when this module is imported"
    scaled = max(1, examples * default.max_examples // _BASE)
    return settings(max_examples=scaled, deadline=None)


_EXTREME_OCTETS = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)


@st.composite
def mutated(
    draw: st.DrawFn,
    seeds: st.SearchStrategy[bytes],
    *,
    length_fields: tuple[tuple[int, int], ...] = (),
    max_ops: int = 4,
) -> bytes:
    """A vector from ``seeds``, broken by up to ``max_ops`` mutations.

    ``length_fields`` names ``(offset, width)`` of big-endian length fields in the seed (e.g.
    SMPP's command_length ``(0, 4)``); any position may also be overwritten with an extreme
    1-, 2- or 4-octet value, which is how unknown length fields get hit.
    """
    data = bytearray(draw(seeds))
    for _ in range(draw(st.integers(0, max_ops))):
        n = len(data)
        op = draw(
            st.sampled_from(
                ["flip", "set", "truncate", "append", "insert", "delete", "repeat", "length"]
            )
        )
        pos = draw(st.integers(0, max(0, n - 1)))
        if op == "flip" and n:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and n:
            data[pos] = draw(st.sampled_from(_EXTREME_OCTETS) | st.integers(0, 255))
        elif op == "truncate":
            del data[pos:]
        elif op == "append":
            data += draw(st.binary(min_size=1, max_size=40))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "repeat":
            span = data[pos : pos + draw(st.integers(1, 32))]
            data[pos:pos] = span
        elif op == "length":
            if bool(length_fields) and draw(st.booleans()):
                at, width = draw(st.sampled_from(length_fields))
            else:
                at, width = pos, draw(st.sampled_from([1, 2, 4]))
            top = (1 << (8 * width)) - 1
            value = draw(st.sampled_from([0, 1, top, top - 1, n, n + 1, max(0, n - 1)]))
            if at + width <= n:
                data[at : at + width] = (value & top).to_bytes(width, "big")
    return bytes(data)


def mutated_text(seeds: st.SearchStrategy[str], *, max_ops: int = 4) -> st.SearchStrategy[str]:
    """Text from ``seeds`` mutated as its Latin-1 bytes (what a serial line or SMSC gives)."""
    return mutated(seeds.map(lambda s: s.encode("latin-1", "replace")), max_ops=max_ops).map(
        lambda b: b.decode("latin-1")
    )
