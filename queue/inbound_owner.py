"""Which API key an inbound message belongs to.

Each key may claim inbound messages by the number they were sent to (``inbound_numbers``) and
by the route they came in on (``inbound_routes``); the config loader lets each number and each
route be claimed by one key only. A message sent to a claimed number belongs to that number's
key; otherwise one that came in on a claimed route belongs to that route's key; otherwise it
belongs to no key. A message is listed (``GET /v1/inbound``) and pushed (``inbound_url``) to
the key it belongs to; one that belongs to no key goes to the admin keys. Admin keys list every
inbound message.

Pure and cheap: one dict probe per message (two with numbers configured).
"""

from __future__ import annotations

from collections.abc import Sequence

from smsgw.config.schema import KeyConfig
from smsgw.drivers.seam import InboundMessage
from smsgw.drivers.text import is_decimal
from smsgw.queue.consent.keyword_handler import sender_number

__all__ = ["InboundOwners"]


class InboundOwners:
    """The assignment of inbound messages to keys, from the keys' config."""

    def __init__(self, keys: Sequence[KeyConfig], default_country: str = "") -> None:
        self._country = default_country
        self._by_number = {self._normal(n): k.name for k in keys for n in k.inbound_numbers}
        self._by_route = {r: k.name for k in keys for r in k.inbound_routes}
        self._keys = {k.name: k for k in keys}
        self._admins = [k for k in keys if k.admin]

    def _normal(self, number: str) -> str:
        # SMPP peers often give the destination without "+" (or as 00..., or national); a short
        # code stays digits only.
        n = sender_number(number, self._country)
        digits = n.lstrip("+")
        return digits if is_decimal(digits, 6) else n

    def owner(self, msg: InboundMessage) -> str | None:
        """The name of the key ``msg`` belongs to, or None."""
        if self._by_number:
            name = self._by_number.get(self._normal(msg.to))
            if name is not None:
                return name
        return self._by_route.get(msg.route)

    def recipients(self, owner: str | None) -> list[KeyConfig]:
        """The keys a message of ``owner`` is pushed to: that key, or the admin keys."""
        if owner is None:
            return list(self._admins)
        key = self._keys.get(owner)
        return [] if key is None else [key]

    def unclaimed(self) -> list[KeyConfig]:
        """Keys with an ``inbound_url`` that can never receive a message (no claim, no admin):
        worth a warning at start."""
        return [
            k
            for k in self._keys.values()
            if k.inbound_url and not k.admin and not (k.inbound_numbers or k.inbound_routes)
        ]
