"""Random id digits: base32 of fresh bytes, never repeated, not even by a forked child."""

from __future__ import annotations

import base64
import os

from smsgw.queue.store.randids import pair_table, random_digits
from smsgw.queue.store.sqlite.webhooks import event_ids

_RFC4648 = pair_table("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def _bits(digits: str) -> bytes:
    return base64.b32decode(digits)


def test_digits_spell_their_bits_as_base32_does() -> None:
    # 1,000 ids cross the pool's refill more than once.
    ids = random_digits(1000, _RFC4648)
    assert len(set(ids)) == 1000
    for d in ids:
        assert len(d) == 16
        assert base64.b32encode(_bits(d)).decode() == d


def test_event_ids_keep_their_spelling() -> None:
    ids = event_ids(500)
    assert len(set(ids)) == 500
    for e in ids:
        body = e.removeprefix("evt_")
        assert len(body) == 16 and base64.b32encode(_bits(body.upper())).decode().lower() == body


def test_a_forked_child_never_repeats_its_parents_bytes() -> None:
    random_digits(1, _RFC4648)  # the parent's pool is filled before the fork
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next digits, then out without running the parent's cleanup
        try:
            os.write(w, "".join(random_digits(8, _RFC4648)).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        child = f.read().decode()
    os.waitpid(pid, 0)
    parent = "".join(random_digits(8, _RFC4648))
    assert len(child) == len(parent) == 128
    assert child != parent
