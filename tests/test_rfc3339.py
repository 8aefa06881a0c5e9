"""The one RFC 3339 formatter: milliseconds for API bodies, whole seconds for CSV and notes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smsgw.queue.model import rfc3339


@pytest.mark.parametrize(
    ("t", "millis", "seconds"),
    [
        (0.0, "1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00Z"),
        (1764921234.9996, "2025-12-05T07:53:55.000Z", "2025-12-05T07:53:54Z"),
        (1764921234.1234, "2025-12-05T07:53:54.123Z", "2025-12-05T07:53:54Z"),
        (-50_000_000_000.0, "0385-07-25T07:06:40.000Z", "0385-07-25T07:06:40Z"),
    ],
)
def test_both_forms(t: float, millis: str, seconds: str) -> None:
    assert rfc3339(t) == millis
    assert rfc3339(t, millis=False) == seconds
    parsed = datetime.fromisoformat(seconds.replace("Z", "+00:00"))
    assert parsed.tzinfo == UTC
