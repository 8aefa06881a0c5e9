"""Which SMPP server account an inbound message is held for. Pure.

The message's API key comes first (its ``inbound_numbers``, then its ``inbound_routes``:
:mod:`smsgw.queue.inbound_owner`); among that key's accounts, the first whose
``inbound_keywords`` holds the text's first word (case-insensitive, punctuation around it
ignored) gets it, else the key's first account without keywords, else none (the message is
still listed and pushed to the key, only not held for SMPP). A text that is an opt-out or
opt-in keyword as a whole (STOP, START, ...) is never routed by keyword: it goes by the
number rule alone, and smsgw's consent handling sees it as it sees every inbound message.
"""

from __future__ import annotations

from collections.abc import Sequence

from smsgw.config.smpp_server import SmppAccountConfig
from smsgw.drivers.seam import InboundMessage
from smsgw.queue.consent.keyword_matching import KeywordMatcher

__all__ = ["InboundAccounts", "first_word"]


def first_word(text: str) -> str:
    """The text's first word, case-folded, without the punctuation around it ("" for none)."""
    words = text.split(maxsplit=1)
    if not words:
        return ""
    token = words[0]
    start, end = 0, len(token)
    while start < end and not token[start].isalnum():
        start += 1
    while end > start and not token[end - 1].isalnum():
        end -= 1
    return token[start:end].casefold()


class InboundAccounts:
    """The account (system_id) for an inbound message of a key, from the accounts' config."""

    def __init__(self, accounts: Sequence[SmppAccountConfig], matcher: KeywordMatcher) -> None:
        self._matcher = matcher
        self._by_key: dict[str, list[tuple[str, frozenset[str]]]] = {}
        for a in accounts:
            words = frozenset(w.casefold() for w in a.inbound_keywords)
            self._by_key.setdefault(a.key, []).append((a.system_id, words))

    def account_for(self, key: str | None, msg: InboundMessage) -> str | None:
        """The system_id ``msg`` (owned by ``key``) is held for, or None."""
        accounts = self._by_key.get(key) if key is not None else None
        if not accounts:
            return None
        if any(words for _, words in accounts) and self._matcher.classify(msg.text) not in (
            "optout",
            "optin",
        ):
            word = first_word(msg.text)
            for system_id, words in accounts:
                if word in words:
                    return system_id
        return next((system_id for system_id, words in accounts if not words), None)
