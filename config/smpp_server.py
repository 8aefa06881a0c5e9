"""The ``[smpp_server]`` table: smsgw as an SMSC that the store's own SMPP software binds to.

Its Structs are part of :class:`smsgw.config.schema.Config`; :func:`check_smpp_server` is the
loader's cross check (listen address, TLS files, account names, the 9-octet password of
SMPP 3.4 §4.1.1, allow-list entries, the API key an account acts as, its inbound keywords),
each failure naming its key.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

import msgspec

__all__ = ["SmppAccountConfig", "SmppServerConfig", "account_problems"]

_Positive = Annotated[float, msgspec.Meta(gt=0)]
_NonNegative = Annotated[float, msgspec.Meta(ge=0)]
_PosInt = Annotated[int, msgspec.Meta(ge=1)]

MAX_SYSTEM_ID = 15
"""system_id is a C-Octet String of 16 octets, NUL included (§4.1.1)."""
MAX_PASSWORD = 8
"""password is a C-Octet String of 9 octets, NUL included (§4.1.1)."""
MAX_KEYWORD = 30
"""The longest inbound keyword: a first word, not a sentence."""


class SmppAccountConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One login: ``system_id``/``password`` bind as the API key ``key`` (its senders, classes,
    routes and consent settings apply). ``rate`` parts per second plus ``burst`` are shared by
    all of the account's binds; ``max_binds`` caps its sessions; ``allow`` lists the addresses
    or networks (CIDR) it may bind from (empty: any)."""

    system_id: str
    password: str
    key: str
    rate: _Positive = 100.0
    burst: _NonNegative = 0.0
    max_binds: _PosInt = 4
    allow: list[str] = []
    window: _PosInt = 50
    """Outstanding submit_sm per bind; the submit beyond it gets ESME_RTHROTTLED."""
    inbound_keywords: list[str] = []
    """First words (case-insensitive) that send the key's inbound messages to this account
    rather than to the key's first account without keywords."""


class SmppServerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The listener and its accounts; ``hold_hours`` is how long receipts and inbound messages
    wait for an account that is not bound."""

    listen: str = "127.0.0.1:2775"
    tls_cert: str = ""
    tls_key: str = ""
    hold_hours: _Positive = 72.0
    system_id: str = "smsgw"
    """What bind_*_resp names us."""
    response_timeout: _Positive = 10.0
    """Seconds a deliver_sm waits for its deliver_sm_resp before it is sent again."""
    enquire_link: _Positive = 30.0
    accounts: list[SmppAccountConfig] = []


def account_problems(server: SmppServerConfig, keys: set[str]) -> list[tuple[str, str]]:
    """Every (key, reason) wrong in ``server``'s accounts, in order (empty: all good)."""
    out: list[tuple[str, str]] = []
    if bool(server.tls_cert) != bool(server.tls_key):
        out.append(("smpp_server.tls_key", "give both tls_cert and tls_key, or neither"))
    seen: set[str] = set()
    words: dict[tuple[str, str], str] = {}  # (key, folded word) -> the account that has it
    for i, acct in enumerate(server.accounts):
        at = f"smpp_server.accounts[{i}]"
        if not 1 <= len(acct.system_id.encode("latin-1", "replace")) <= MAX_SYSTEM_ID:
            out.append((f"{at}.system_id", f"must be 1 to {MAX_SYSTEM_ID} characters"))
        elif acct.system_id in seen:
            out.append((f"{at}.system_id", f"duplicate system_id {acct.system_id!r}"))
        seen.add(acct.system_id)
        try:
            size = len(acct.password.encode("latin-1"))
        except UnicodeEncodeError:
            out.append((f"{at}.password", "must be Latin-1 text (SMPP sends it as octets)"))
        else:
            if not 1 <= size <= MAX_PASSWORD:
                out.append(
                    (
                        f"{at}.password",
                        f"is {size} octets; an SMPP bind password holds 1 to {MAX_PASSWORD}",
                    )
                )
        if acct.key not in keys:
            out.append((f"{at}.key", f"unknown API key {acct.key!r}"))
        for j, entry in enumerate(acct.allow):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                out.append((f"{at}.allow[{j}]", f"not an address or CIDR network: {entry!r}"))
        for j, word in enumerate(acct.inbound_keywords):
            where = f"{at}.inbound_keywords[{j}]"
            if not word.isalnum() or len(word) > MAX_KEYWORD:
                reason = f"{word!r} is not one word of 1 to {MAX_KEYWORD} letters or digits"
                out.append((where, reason))
                continue
            other = words.setdefault((acct.key, word.casefold()), acct.system_id)
            if other != acct.system_id:
                reason = f"{word!r} already sends key {acct.key!r}'s inbound to account {other!r}"
                out.append((where, reason))
    return out
