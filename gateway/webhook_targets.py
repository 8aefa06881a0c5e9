"""Where webhooks may go: the SSRF policy, checked on the address actually connected to.

By default a webhook may reach only globally routable unicast addresses. Refused:

- loopback, private (RFC 1918, ULA fc00::/7), shared (CGNAT 100.64/10) -- allowed for every key
  by ``[webhooks] allow_private = true``, or for one key by its ``callback_hosts`` (a host name,
  an address or a network);
- link-local (169.254/16 with the cloud metadata service, fe80::/10) and reserved ranges --
  allowed only when a key's ``callback_hosts`` names the address or its network;
- unspecified, multicast, broadcast, and the gateway's own listener -- never.

IPv4-mapped IPv6 (``::ffff:127.0.0.1``) is judged as the IPv4 address it maps. The check runs
after DNS resolution on each address (:meth:`TargetPolicy.allow`, given to the connection pool,
which connects only to an address it accepted), and once more at accept on what the URL itself
says (:meth:`TargetPolicy.refusal_at_accept`): an IP literal in any spelling, or ``localhost``.
"""

from __future__ import annotations

import array
import fcntl
import ipaddress
import logging
import socket
import struct
from collections.abc import Iterable
from typing import Literal

from smsgw.config.loader import ConfigError, parse_listen
from smsgw.config.schema import Config, KeyConfig
from smsgw.gateway.errors import Invalid
from smsgw.gateway.httpclient.pool import Allow
from smsgw.gateway.httpclient.url import InvalidUrl, IPAddress, Url, parse_url

__all__ = [
    "Category",
    "TargetPolicy",
    "category",
    "check_callback_url",
    "check_webhook_config",
    "key_secrets",
    "webhook_notes",
]

log = logging.getLogger("smsgw.webhooks")

Category = Literal[
    "loopback",
    "private",
    "shared",
    "link-local",
    "reserved",
    "unspecified",
    "multicast",
    "broadcast",
]
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_PRIVATE_KINDS = frozenset({"loopback", "private", "shared"})
_NEVER = frozenset({"unspecified", "multicast", "broadcast"})
_NAMES = {
    "loopback": "a loopback address",
    "private": "a private address",
    "shared": "a shared (CGNAT) address",
    "link-local": "a link-local address",
    "reserved": "a reserved address",
    "unspecified": "the unspecified address",
    "multicast": "a multicast address",
    "broadcast": "the broadcast address",
}
_HINT = "allow it with [webhooks] allow_private = true or the key's callback_hosts"


def category(ip: IPAddress) -> Category | None:
    """What kind of address ``ip`` is; None for a globally routable unicast address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip == _BROADCAST:
        return "broadcast"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "shared"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "reserved"
    return None


def _unmapped(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class _KeyHosts:
    __slots__ = ("names", "networks")

    def __init__(self, entries: Iterable[str]) -> None:
        self.names: set[str] = set()
        self.networks: list[Network] = []
        for entry in entries:
            parsed = _parse_host_entry(entry)
            if isinstance(parsed, str):
                self.names.add(parsed)
            else:
                self.networks.append(parsed)


def _parse_host_entry(entry: str) -> str | Network:
    """A ``callback_hosts`` entry: a network, an address, or a host name; raises ValueError."""
    text = entry.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    try:
        return parse_url(f"http://{text}/").host
    except InvalidUrl:
        raise ValueError(f"{entry!r} is not a host name, an address or a network") from None


class TargetPolicy:
    """The policy for one gateway's config; see the module docstring."""

    def __init__(self, config: Config) -> None:
        self.allow_private = config.webhooks.allow_private
        self._keys = {k.name: _KeyHosts(k.callback_hosts) for k in config.keys}
        self._none = _KeyHosts(())
        self._own: set[tuple[IPAddress, int]] = set()
        self._own_any_ports: set[int] = set()
        self._local: set[IPAddress] = set()
        self._allow: dict[str, Allow] = {}
        self._memo: dict[str, dict[tuple[str, int, IPAddress], str | None]] = {}
        host, port = parse_listen(config.server.listen)
        if port:  # port 0: the real one is set once the server listens
            for h in ("127.0.0.1", "::1") if host == "localhost" else (host,):
                self.set_own(h, port)

    def set_own(self, host: str, port: int) -> None:
        """The gateway listens on ``host:port``; never deliver there. A wildcard listener
        (0.0.0.0, ::) covers this machine's loopback and interface addresses on that port."""
        for memo in self._memo.values():
            memo.clear()
        ip = _unmapped(ipaddress.ip_address(host))
        if ip.is_unspecified:
            self._own_any_ports.add(port)
            self._local = _local_addresses()
        else:
            self._own.add((ip, port))

    def _is_own(self, ip: IPAddress, port: int) -> bool:
        ip = _unmapped(ip)
        if (ip, port) in self._own:
            return True
        return port in self._own_any_ports and (
            ip.is_loopback or ip.is_unspecified or ip in self._local
        )

    def refusal(self, key: str, url: Url, ip: IPAddress) -> str | None:
        """Why ``key`` may not connect to ``ip`` for ``url``, or None when it may."""
        if self._is_own(ip, url.port):
            return f"{ip} port {url.port} is this gateway's own listener"
        kind = category(ip)
        if kind is None:
            return None
        if kind in _NEVER:
            return f"{ip} is {_NAMES[kind]}"
        hosts = self._keys.get(key, self._none)
        plain = _unmapped(ip)
        if any(plain in net for net in hosts.networks if net.version == plain.version):
            return None
        if kind in _PRIVATE_KINDS and (self.allow_private or url.host in hosts.names):
            return None
        if kind in _PRIVATE_KINDS:
            return f"{ip} is {_NAMES[kind]}; {_HINT}"
        return f"{ip} is {_NAMES[kind]}; only a key's callback_hosts entry naming it allows it"

    def refusal_at_accept(self, key: str, url: Url) -> str | None:
        """What the URL alone shows: an IP literal that is refused, or a ``localhost`` name."""
        if url.ip is not None:
            return self.refusal(key, url, url.ip)
        if url.host == "localhost" or url.host.endswith(".localhost"):
            return self.refusal(key, url, ipaddress.IPv4Address("127.0.0.1"))
        return None

    def allow(self, key: str) -> Allow:
        """The check for the connection pool, for one key (made once per key)."""
        fn = self._allow.get(key)
        if fn is None:
            memo = self._memo.setdefault(key, {})

            def fn(url: Url, ip: IPAddress) -> str | None:
                # Asked for every pooled reuse: the answer for a (host, port, address)
                # does not change once the gateway listens.
                probe = (url.host, url.port, ip)
                try:
                    return memo[probe]
                except KeyError:
                    if len(memo) > 4096:
                        memo.clear()
                    answer = memo[probe] = self.refusal(key, url, ip)
                    return answer

            self._allow[key] = fn
        return fn


def _local_addresses() -> set[IPAddress]:
    """This machine's interface addresses (Linux: ioctl for IPv4, /proc for IPv6); best effort,
    without DNS. Empty where neither works."""
    out: set[IPAddress] = set()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _index, name in socket.if_nameindex():
                req = struct.pack("256s", name.encode()[:15])
                try:
                    res = fcntl.ioctl(s.fileno(), 0x8915, req)  # SIOCGIFADDR
                except OSError:
                    continue
                out.add(ipaddress.IPv4Address(array.array("B", res[20:24]).tobytes()))
    except OSError:
        pass
    try:
        with open("/proc/net/if_inet6") as f:
            for line in f:
                out.add(ipaddress.IPv6Address(bytes.fromhex(line.split()[0])))
    except (OSError, ValueError, IndexError):
        pass
    return out


def key_secrets(key: KeyConfig) -> tuple[str, ...]:
    """The key's webhook secrets, newest first (a list during a rollover)."""
    raw = key.webhook_secret
    values = [raw] if isinstance(raw, str) else list(raw)
    return tuple(v for v in values if v)


def check_webhook_config(config: Config, file: str) -> None:
    """Refuse what would fail at delivery: bad ``callback_hosts``, a bad or refused
    ``inbound_url``, an ``inbound_url`` on a key without a secret (unless
    ``allow_unsigned``). Raises :class:`ConfigError` naming the key."""
    for i, key in enumerate(config.keys):
        for j, entry in enumerate(key.callback_hosts):
            try:
                _parse_host_entry(entry)
            except ValueError as e:
                raise ConfigError(file, f"keys[{i}].callback_hosts[{j}]", str(e)) from None
        raw = key.webhook_secret
        if isinstance(raw, list) and any(not s for s in raw):
            raise ConfigError(file, f"keys[{i}].webhook_secret", "a secret must not be empty")
    policy = TargetPolicy(config)
    for i, key in enumerate(config.keys):
        if not key.inbound_url:
            continue
        try:
            url = parse_url(key.inbound_url)
        except InvalidUrl as e:
            raise ConfigError(file, f"keys[{i}].inbound_url", str(e)) from None
        refusal = policy.refusal_at_accept(key.name, url)
        if refusal is not None:
            raise ConfigError(file, f"keys[{i}].inbound_url", f"refused: {refusal}")
        if not key_secrets(key) and not config.webhooks.allow_unsigned:
            raise ConfigError(
                file,
                f"keys[{i}].webhook_secret",
                "required for a key with an inbound_url (webhooks are signed);"
                " or set [webhooks] allow_unsigned = true",
            )


def webhook_notes(config: Config) -> list[str]:
    """What an operator should know about the webhook settings (check-config prints these,
    serve logs them)."""
    notes = []
    if not config.webhooks.allow_private:
        listed = [k.name for k in config.keys if k.callback_hosts]
        notes.append(
            "webhooks: receivers on loopback, private and link-local addresses are refused"
            " (a receiver on your own network needs [webhooks] allow_private = true or the"
            " key's callback_hosts"
            + (f"; keys with callback_hosts: {', '.join(listed)})" if listed else ")")
        )
    if config.webhooks.allow_unsigned:
        unsigned = [k.name for k in config.keys if not key_secrets(k)]
        if unsigned:
            notes.append(
                "warning: webhooks: allow_unsigned = true and key(s) without webhook_secret"
                f" send unsigned webhooks: {', '.join(unsigned)}"
            )
    return notes


def check_callback_url(
    policy: TargetPolicy, config: Config, key: KeyConfig, url: str, field: str
) -> None:
    """The accept-time check of a message's ``callback_url``; raises :class:`Invalid`
    (``invalid_url``, ``url_not_allowed``, ``webhook_secret_required``) naming ``field``."""
    try:
        parsed = parse_url(url)
    except InvalidUrl as e:
        raise Invalid(f"'callback_url' {e}", field=field, code="invalid_url") from None
    refusal = policy.refusal_at_accept(key.name, parsed)
    if refusal is not None:
        raise Invalid(
            f"'callback_url' is not allowed: {refusal}", field=field, code="url_not_allowed"
        )
    if not key_secrets(key) and not config.webhooks.allow_unsigned:
        raise Invalid(
            "this API key has no webhook_secret, so its webhooks could not be signed: set one"
            " in the key's config (or [webhooks] allow_unsigned = true)",
            field=field,
            code="webhook_secret_required",
        )
