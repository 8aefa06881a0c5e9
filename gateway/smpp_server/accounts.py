"""SMPP server accounts at run time: bind decisions, the per-account part bucket, and the
slow-down for addresses that keep failing to bind. Pure: time is passed in."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator, Sequence

from smsgw.config.schema import KeyConfig
from smsgw.config.smpp_server import SmppAccountConfig
from smsgw.drivers.smpp.pdu import Status

__all__ = ["Account", "Accounts", "BindFailures", "PartBucket"]

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


class PartBucket:
    """A token bucket counted in message parts, shared by all binds of one account.

    It holds at most ``max(burst, 1)`` tokens and refills at ``rate`` per second, so in any
    one-second window it grants at most ``rate`` parts plus the bucket's size. A message of
    more parts than the bucket holds passes only when the bucket is full (the bucket then
    goes into debt, which later messages wait out), so a long message is never refused for
    ever.
    """

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.size = max(burst, 1.0)
        self._tokens = self.size
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.size, self._tokens + (now - self._at) * self.rate)
            self._at = now

    def take(self, parts: int, now: float) -> bool:
        """Take ``parts`` tokens if there are enough (True) or take nothing (False)."""
        self._refill(now)
        if self._tokens >= parts or self._tokens >= self.size:
            self._tokens -= parts
            return True
        return False

    def give_back(self, parts: int, now: float) -> None:
        """Return tokens of a message that was then not accepted."""
        self._refill(now)
        self._tokens = min(self.size, self._tokens + parts)

    def tokens(self, now: float) -> float:
        """Tokens there now (negative while in debt)."""
        self._refill(now)
        return self._tokens


class Account:
    """One configured login with its API key, bucket and the number of binds it holds."""

    def __init__(self, config: SmppAccountConfig, key: KeyConfig, now: float) -> None:
        self.config = config
        self.key = key
        self.bucket = PartBucket(config.rate, config.burst, now)
        self.binds = 0
        self._nets: tuple[_Net, ...] = tuple(
            ipaddress.ip_network(a, strict=False) for a in config.allow
        )

    @property
    def system_id(self) -> str:
        return self.config.system_id

    def allows(self, address: str) -> bool:
        """True when ``address`` may bind (an empty allow-list allows every address)."""
        if not self._nets:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self._nets)


class Accounts:
    """All accounts by system_id, and the bind decision (SMPP 3.4 §4.1.2, §5.1.3)."""

    def __init__(
        self, configs: Sequence[SmppAccountConfig], keys: Sequence[KeyConfig], now: float
    ) -> None:
        by_name = {k.name: k for k in keys}
        self._by_id = {c.system_id: Account(c, by_name[c.key], now) for c in configs}

    def __iter__(self) -> Iterator[Account]:
        return iter(self._by_id.values())

    def get(self, system_id: str) -> Account | None:
        return self._by_id.get(system_id)

    def decide(self, system_id: str, password: str, address: str) -> tuple[int, Account | None]:
        """The bind_resp status for a bind from ``address``, and the account when it is ROK.

        A wrong password and an unknown system_id both get ESME_RINVPASWD, after the same
        comparison work, so a failed bind never says whether the system_id exists. Only a
        caller with the right password learns of the allow-list or the bind limit
        (ESME_RBINDFAIL).
        """
        acct = self._by_id.get(system_id)
        expected = acct.config.password if acct is not None else "\0" * 8
        ok = hmac.compare_digest(
            password.encode("latin-1", "replace"), expected.encode("latin-1", "replace")
        )
        if acct is None or not ok:
            return Status.RINVPASWD, None
        if not acct.allows(address) or acct.binds >= acct.config.max_binds:
            return Status.RBINDFAIL, None
        return Status.ROK, acct


class BindFailures:
    """Slows down an address that keeps failing to bind: the answer to its n-th failed bind
    in a row waits ``base * 2**(n - free - 1)`` seconds (at most ``cap``), after ``free``
    failures that are answered at once. A success or ``forget`` seconds of quiet clear it.
    At most ``max_addresses`` are remembered (the oldest are forgotten first)."""

    def __init__(
        self,
        *,
        free: int = 2,
        base: float = 1.0,
        cap: float = 30.0,
        forget: float = 600.0,
        max_addresses: int = 10_000,
    ) -> None:
        self.free, self.base, self.cap, self.forget = free, base, cap, forget
        self.max_addresses = max_addresses
        self._fails: dict[str, tuple[int, float]] = {}

    def failed(self, address: str, now: float) -> float:
        """Record a failed bind; returns how long to wait before answering it."""
        count, last = self._fails.pop(address, (0, now))
        if now - last > self.forget:
            count = 0
        count += 1
        self._fails[address] = (count, now)
        while len(self._fails) > self.max_addresses:
            del self._fails[next(iter(self._fails))]
        if count <= self.free:
            return 0.0
        return min(self.cap, self.base * 2.0 ** (count - self.free - 1))

    def succeeded(self, address: str) -> None:
        self._fails.pop(address, None)
