"""What parsing destination numbers costs the accept path, per message.

    python tests/bench/bench_numbers.py [count]

Prints microseconds per number for: the E.164 shape check the accept path used before, one
``phonenumbers`` parse with validation (every class), the same with time zones and country
(classes held to quiet hours), an LRU-cache hit (a number seen before), and the quiet-hours
lookup at accept. Numbers are unique (a campaign's are), spread over several countries.
A figure, not a test: nothing asserts on time.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable

from smsgw.queue.consent.numbers import _cached, parse_number, shape_ok
from smsgw.queue.consent.quiet_hours import Window, next_opening

# Mobile prefixes that phonenumbers knows, by country: DE, US (808), AU, RU, CN, FR, GB, BR.
_DIGITS = {
    "+49151": 8,
    "+1808": 7,
    "+614": 8,
    "+7916": 7,
    "+86138": 8,
    "+336": 8,
    "+447911": 6,
    "+55119": 8,
}
_PREFIXES = tuple(_DIGITS)


def numbers(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < count:
        prefix = rng.choice(_PREFIXES)
        digits = _DIGITS[prefix]
        out.add(prefix + "".join(rng.choice("0123456789") for _ in range(digits)))
    return sorted(out)


def per_item(fn: Callable[[str], object], items: list[str], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        _cached.cache_clear()
        started = time.perf_counter()
        for n in items:
            fn(n)
        best = min(best, time.perf_counter() - started)
    return best / len(items) * 1e6


def main(argv: list[str]) -> int:
    count = int(argv[1]) if len(argv) > 1 else 20_000
    items = numbers(count)
    valid = sum(parse_number(n).valid for n in items)
    window = Window(start=9 * 60, end=21 * 60)
    zones = [parse_number(n, details=True).zones for n in items]
    now = time.time()

    def cached_hit(n: str) -> object:
        return parse_number(n)

    for n in items:  # fill the cache once for the hit figure
        parse_number(n)
    started = time.perf_counter()
    for n in items:
        cached_hit(n)
    hit = (time.perf_counter() - started) / len(items) * 1e6

    started = time.perf_counter()
    for z in zones:
        next_opening(z, window, now)
    quiet = (time.perf_counter() - started) / len(items) * 1e6

    figures = {
        "numbers": count,
        "valid": valid,
        "shape_check_us": round(per_item(shape_ok, items), 3),
        "parse_validate_us": round(per_item(parse_number, items), 2),
        "parse_validate_zones_us": round(
            per_item(lambda n: parse_number(n, details=True), items), 2
        ),
        "cache_hit_us": round(hit, 3),
        "quiet_hours_lookup_us": round(quiet, 2),
    }
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
