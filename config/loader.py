"""Load and check a config file: TOML -> ``env:`` secrets -> msgspec Structs -> cross checks.

Every failure is one :class:`ConfigError` whose text is ``FILE: KEY: REASON``, the line an
operator needs to fix it; ``smsgw check-config`` prints exactly that line.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import ssl
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

import msgspec

from smsgw.config.conversions import conversions_problems
from smsgw.config.flows import flow_problems
from smsgw.config.links import links_problems
from smsgw.config.schema import Config, ModemRouteConfig, SmppRouteConfig
from smsgw.config.smpp_server import account_problems

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "ConfigError",
    "load",
    "load_default",
    "notes",
    "parse",
    "parse_listen",
]

DEFAULT_CONFIG_NAME = "<embedded default>"
_MSGSPEC_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")
# [0-9], not \d: in a str pattern \d also matches "٣" and every other Unicode digit.
_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_PORT = re.compile(r"[0-9]{1,5}")
_PREFIX = re.compile(r"\+?[0-9]{1,15}")
_STATUS_CODE = re.compile(r"0[xX](?P<hex>[0-9A-Fa-f]{1,8})|(?P<dec>[1-9][0-9]{0,9})")
_OCTETS = ("source_ton", "source_npi", "dest_ton", "dest_npi")
# \Z rather than $ wherever a pattern validates: "$" also matches before a trailing newline.
_SHA256_HEX = re.compile(r"^[0-9A-Fa-f]{64}\Z")
_INBOUND_NUMBER = re.compile(r"^(\+[1-9][0-9]{6,14}|[0-9]{3,8})\Z")
_MAX_FLOAT = 1e9
"""The largest number a float key may hold. Floats are seconds, rates, fractions and prices;
a billion seconds is 31 years, and a time that far ahead still has a calendar date (TOML's
``inf`` or ``1e300`` as a validity gave messages an expiry no date could show)."""


class ConfigError(Exception):
    """A config that smsgw refuses to start with; ``str()`` is ``file: key: reason``."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        super().__init__(f"{file}: {_shown(key) or '(top level)'}: {_shown(reason)}")
        self.file = file
        self.key = key
        self.reason = reason


def _shown(text: str) -> str:
    """``text`` on one line: a TOML key may hold a newline or any control character."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def load(path: str | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (or the embedded default when None) and return the checked config."""
    if path is None:
        return load_default(environ)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError(path, "", f"cannot read file: {e.strerror or e}") from None
    return parse(raw, path, environ)


def load_default(environ: Mapping[str, str] | None = None) -> Config:
    """The embedded default: loopback, ``var/`` in the working directory, one simulator route."""
    raw = resources.files("smsgw.config").joinpath("default.toml").read_bytes()
    return parse(raw, DEFAULT_CONFIG_NAME, environ)


def parse(raw: bytes, file: str, environ: Mapping[str, str] | None = None) -> Config:
    """Parse TOML bytes named ``file``; raises :class:`ConfigError`."""
    env = os.environ if environ is None else environ
    try:
        data = tomllib.loads(raw.decode("utf-8"))
        data = _resolve_env(data, "", file, env)
    except UnicodeDecodeError as e:
        raise ConfigError(file, "", f"not UTF-8 text ({e.reason})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(file, "", f"invalid TOML: {e}") from None
    except RecursionError:  # tomllib reads nested arrays and inline tables recursively
        raise ConfigError(file, "", "invalid TOML: arrays or tables nested too deeply") from None
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as e:
        key, reason = _split_msgspec_error(str(e))
        raise ConfigError(file, key, reason) from None
    _check_values(config, "", file)
    _check(config, file)
    return config


def notes(config: Config) -> list[str]:
    """What a valid config does that its author may not expect, one ``key: note`` line each
    (``smsgw check-config`` prints them): tenancy leaves, batch limits."""
    out: list[str] = []
    claimed = {r for k in config.keys for r in k.inbound_routes}
    admins = [k.name for k in config.keys if k.admin]
    for i, k in enumerate(config.keys):
        if k.inbound_url and not k.admin and not (k.inbound_routes or k.inbound_numbers):
            out.append(
                f"keys[{i}].inbound_url: key {k.name!r} claims no inbound_routes or"
                " inbound_numbers and is not admin: no inbound message will reach it"
            )
        if k.burst is not None and k.burst < config.limits.max_batch:
            out.append(
                f"keys[{i}].burst: {k.burst} is below limits.max_batch"
                f" ({config.limits.max_batch}): larger batches get 422 batch_exceeds_burst"
            )
    free = [r.name for r in config.routes if r.name not in claimed]
    if config.keys and free and not admins:
        out.append(
            f"keys: inbound messages on {', '.join(free)} that no key's inbound_numbers claim"
            " belong to no key, and no key is admin to see them"
        )
    return out


def parse_listen(listen: str) -> tuple[str, int]:
    """Split ``host:port`` (``[::1]:8080`` for IPv6); raises ValueError with the reason."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {listen!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not _PORT.fullmatch(port_text) or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"port must be a number from 0 to 65535, got {port_text!r}")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"host must be an IP address or localhost, got {host!r}") from None
    return host, int(port_text)


def _resolve_env(value: Any, key: str, file: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if name not in env:
            raise ConfigError(file, key, f"environment variable {name} is not set")
        return env[name]
    if isinstance(value, dict):
        return {k: _resolve_env(v, f"{key}.{k}" if key else k, file, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, f"{key}[{i}]", file, env) for i, v in enumerate(value)]
    return value


def _check_values(value: object, key: str, file: str) -> None:
    """Every float finite and at most :data:`_MAX_FLOAT` in size, no NUL in any string (file
    names, hosts and SQLite cannot hold one): what the schema's types let through and the
    start-up would trip over. ``key`` is the TOML name of ``value``."""
    if isinstance(value, msgspec.Struct):
        for f in msgspec.structs.fields(value):
            name = f.encode_name
            _check_values(getattr(value, f.name), f"{key}.{name}" if key else name, file)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_values(item, f"{key}[{i}]", file)
    elif isinstance(value, dict):
        for k, item in value.items():
            _check_values(k, key, file)
            _check_values(item, f"{key}.{k}", file)
    elif isinstance(value, float):
        if not (math.isfinite(value) and abs(value) <= _MAX_FLOAT):
            raise ConfigError(file, key, f"must be a finite number up to 1e9, not {value}")
    elif isinstance(value, str) and "\0" in value:
        raise ConfigError(file, key, "must not contain a NUL character")


def _split_msgspec_error(text: str) -> tuple[str, str]:
    m = _MSGSPEC_PATH.match(text)
    assert m is not None  # the pattern matches any text
    reason, path = m.group("reason"), (m.group("path") or "").lstrip(".")
    unknown = _UNKNOWN_FIELD.match(reason)
    if unknown:
        field = unknown.group("field")
        return (f"{path}.{field}" if path else field), "unknown key"
    return path, reason[0].lower() + reason[1:] if reason else reason


def _check(config: Config, file: str) -> None:
    try:
        parse_listen(config.server.listen)
    except ValueError as e:
        raise ConfigError(file, "server.listen", str(e)) from None
    if not config.routes:
        raise ConfigError(file, "routes", "at least one route is required")
    names: set[str] = set()
    for i, route in enumerate(config.routes):
        if route.name in names:
            raise ConfigError(file, f"routes[{i}].name", f"duplicate route name {route.name!r}")
        names.add(route.name)
        if isinstance(route, SmppRouteConfig):
            _check_smpp(route, f"routes[{i}]", file)
        if isinstance(route, ModemRouteConfig) and not route.ports:
            # The route's rate is per modem: with none it has no rate at all.
            raise ConfigError(file, f"routes[{i}].ports", "must name at least one serial port")
    for i, rule in enumerate(config.rules):
        if not rule.route:
            raise ConfigError(file, f"rules[{i}].route", "must name at least one route")
        for j, name in enumerate(rule.route):
            if name not in names:
                raise ConfigError(file, f"rules[{i}].route[{j}]", f"unknown route {name!r}")
        if rule.prefix and not _PREFIX.fullmatch(rule.prefix):
            raise ConfigError(file, f"rules[{i}].prefix", "must be digits, optionally with +")
    _check_keys(config, file, names)
    _check_ops_token(config, file)
    if config.smpp_server is not None:
        try:
            parse_listen(config.smpp_server.listen)
        except ValueError as e:
            raise ConfigError(file, "smpp_server.listen", str(e)) from None
        for key, reason in account_problems(config.smpp_server, {k.name for k in config.keys}):
            raise ConfigError(file, key, reason)
        if config.smpp_server.tls_cert:
            try:
                ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                    config.smpp_server.tls_cert, config.smpp_server.tls_key
                )
            except (OSError, ssl.SSLError) as e:
                reason = f"cannot load the certificate and key: {e}"
                raise ConfigError(file, "smpp_server.tls_cert", reason) from None
    if config.links.enabled:
        try:
            where = parse_listen(config.links.listen)
        except ValueError as e:
            raise ConfigError(file, "links.listen", str(e)) from None
        if where[1] != 0 and where == parse_listen(config.server.listen):
            reason = "the redirect listener needs its own address, not server.listen's"
            raise ConfigError(file, "links.listen", reason)
    for key, reason in links_problems(config.links):
        raise ConfigError(file, key, reason)
    for key, reason in conversions_problems(config.conversions):
        raise ConfigError(file, key, reason)
    keys = {k.name for k in config.keys}
    for key, reason in flow_problems(config.flows, keys, links_on=config.links.enabled):
        raise ConfigError(file, key, reason)
    for field in ("quiet_start", "quiet_end"):
        if not _HHMM.fullmatch(getattr(config.policy, field)):
            raise ConfigError(file, f"policy.{field}", "must be HH:MM (24-hour)")


def _check_smpp(route: SmppRouteConfig, where: str, file: str) -> None:
    """What the SMPP driver would refuse when the route starts, refused here instead."""
    for name in _OCTETS:
        value = getattr(route, name)
        if value is not None and not 0 <= value <= 0xFF:
            raise ConfigError(file, f"{where}.{name}", f"must be an octet (0..255), not {value}")
    for key in route.status_overrides:
        m = _STATUS_CODE.fullmatch(key.strip())
        code = 0 if m is None else int(m["hex"], 16) if m["hex"] else int(m["dec"])
        if not 0 < code <= 0xFFFFFFFF:
            raise ConfigError(
                file,
                f"{where}.status_overrides",
                f"key {key!r} must be a command_status from 0x00000001 to 0xFFFFFFFF (or decimal)",
            )
    if route.tls_ca:  # (no NUL: _check_values refused it)
        try:
            ssl.create_default_context(cafile=route.tls_ca)
        except (OSError, ssl.SSLError) as e:
            reason = f"cannot load CA file {route.tls_ca!r}: {getattr(e, 'strerror', None) or e}"
            raise ConfigError(file, f"{where}.tls_ca", reason) from None


def _check_ops_token(config: Config, file: str) -> None:
    """At most one of ops_token/ops_token_sha256, long enough, not an API key's token."""
    s = config.server
    if s.ops_token and s.ops_token_sha256:
        raise ConfigError(
            file, "server.ops_token", "give at most one of ops_token and ops_token_sha256"
        )
    if s.ops_token and len(s.ops_token) < 16:
        raise ConfigError(file, "server.ops_token", "must be at least 16 characters")
    if s.ops_token_sha256 and not _SHA256_HEX.match(s.ops_token_sha256):
        raise ConfigError(
            file, "server.ops_token_sha256", "must be 64 hex digits (the SHA-256 of the token)"
        )
    digest = s.ops_token_digest()
    if digest and any(k.token_digest() == digest for k in config.keys):
        field = "ops_token" if s.ops_token else "ops_token_sha256"
        raise ConfigError(file, f"server.{field}", "same token as an API key")


def _check_keys(config: Config, file: str, routes: set[str]) -> None:
    """Names and tokens unique, exactly one of token/token_sha256, known routes, and each
    inbound route or number assigned to at most one key."""
    key_names: set[str] = set()
    digests: set[bytes] = set()
    route_owner: dict[str, str] = {}
    number_owner: dict[str, str] = {}
    for i, k in enumerate(config.keys):
        at = f"keys[{i}]"
        if k.name in key_names:
            raise ConfigError(file, f"{at}.name", f"duplicate key name {k.name!r}")
        key_names.add(k.name)
        if bool(k.token) == bool(k.token_sha256):
            raise ConfigError(file, f"{at}.token", "give exactly one of token and token_sha256")
        if k.token and len(k.token) < 16:
            raise ConfigError(file, f"{at}.token", "must be at least 16 characters")
        if k.token_sha256 and not _SHA256_HEX.match(k.token_sha256):
            raise ConfigError(
                file, f"{at}.token_sha256", "must be 64 hex digits (the SHA-256 of the token)"
            )
        digest = k.token_digest()
        if digest in digests:
            field = "token" if k.token else "token_sha256"
            raise ConfigError(file, f"{at}.{field}", "same token as another key")
        digests.add(digest)
        for j, name in enumerate(k.routes):
            if name not in routes:
                raise ConfigError(file, f"{at}.routes[{j}]", f"unknown route {name!r}")
        for j, name in enumerate(k.inbound_routes):
            if name not in routes:
                raise ConfigError(file, f"{at}.inbound_routes[{j}]", f"unknown route {name!r}")
            if route_owner.setdefault(name, k.name) != k.name:
                raise ConfigError(
                    file,
                    f"{at}.inbound_routes[{j}]",
                    f"route {name!r} already gives its inbound messages to key"
                    f" {route_owner[name]!r}",
                )
        for j, number in enumerate(k.inbound_numbers):
            if not _INBOUND_NUMBER.match(number):
                raise ConfigError(
                    file,
                    f"{at}.inbound_numbers[{j}]",
                    "must be E.164 (+4915112345678) or a short code of 3-8 digits",
                )
            if number_owner.setdefault(number, k.name) != k.name:
                raise ConfigError(
                    file,
                    f"{at}.inbound_numbers[{j}]",
                    f"{number} already belongs to key {number_owner[number]!r}",
                )
