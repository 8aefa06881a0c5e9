"""Webhook headers: event id, timestamp and HMAC signatures (one per secret while rotating).

``X-Smsgw-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with
``X-Smsgw-Timestamp: <unix seconds>`` and ``X-Smsgw-Event-Id``. During a rollover a key has
two secrets (``webhook_secret = ["new", "old"]``) and the header carries both values,
comma-separated, newest first (``v1=…,v1=…``, as Stripe does): a receiver that knows either
secret accepts it. The timestamp is under the signature, so a replayed body cannot be given a
fresh time; the event id is in the body too and stays the same on every retry.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

__all__ = ["Signer", "sign"]

_JSON = (b"content-type", b"application/json")


def sign(secret: str | Sequence[str], timestamp: int, body: bytes) -> str:
    """The ``X-Smsgw-Signature`` value for ``body`` sent at ``timestamp``."""
    secrets = [secret] if isinstance(secret, str) else list(secret)
    message = str(timestamp).encode() + b"." + body
    return ",".join(
        "v1=" + hmac.new(s.encode(), message, hashlib.sha256).hexdigest() for s in secrets
    )


class Signer:
    """Headers for one delivery, with each key's HMAC state prepared once."""

    def __init__(self, secrets: Mapping[str, Sequence[str]]) -> None:
        self._macs = {
            key: [hmac.new(s.encode(), digestmod=hashlib.sha256) for s in values]
            for key, values in secrets.items()
            if values
        }

    def signed(self, key: str) -> bool:
        return key in self._macs

    def headers(
        self, key: str, event_id: str, body: bytes, timestamp: int
    ) -> list[tuple[bytes, bytes]]:
        ts = b"%d" % timestamp
        out = [_JSON, (b"x-smsgw-timestamp", ts), (b"x-smsgw-event-id", event_id.encode())]
        macs = self._macs.get(key)
        if macs:
            values = []
            for base in macs:
                mac = base.copy()
                mac.update(ts + b"." + body)
                values.append(b"v1=" + mac.hexdigest().encode())
            out.append((b"x-smsgw-signature", b",".join(values)))
        return out
