"""Properties of the config loader (config/loader.py, and the checks ``smsgw check-config``
and ``smsgw serve`` add in ``load_checked``).

Any bytes, mutated real configs, and random TOML shaped like the schema (its tables and
keys, values of the right type near their bounds or of any other TOML type) give a checked
:class:`Config` or one :class:`ConfigError` — ``FILE: KEY: REASON`` — and nothing else. A
config that is accepted can be started on: the gateway is built from it, each route's rate
limiter too, and every time it can put on a message has a date.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.config.loader import ConfigError, parse
from smsgw.config.schema import Config, KeyConfig, ModemRouteConfig
from smsgw.gateway.cli import load_checked
from smsgw.gateway.cli import main as cli_main
from smsgw.gateway.service import Gateway
from smsgw.queue.model import rfc3339
from smsgw.queue.scheduling.limiter import RouteLimiter
from tests.property_helpers import budget, mutated

ROOT = Path(__file__).resolve().parent.parent
_SET = "SMSGW_FUZZ_SET"
"""An environment variable the tests set (``env:SMSGW_FUZZ_SET``); any other is unset."""
_TOKEN = "0123456789abcdef0123"


@contextlib.contextmanager
def _config_file(raw: bytes) -> Iterator[str]:
    old = os.environ.get(_SET)
    os.environ[_SET] = _TOKEN
    try:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "smsgw.toml")
            with open(path, "wb") as f:
                f.write(raw)
            yield path
    finally:
        if old is None:
            del os.environ[_SET]
        else:
            os.environ[_SET] = old


def _load(raw: bytes) -> Config | None:
    """The config ``raw`` holds, or None when refused with one proper ``file: key: reason``."""
    with _config_file(raw) as path:
        try:
            config = load_checked(path)
        except ConfigError as e:
            assert str(e).startswith(f"{path}: ") and e.reason, str(e)
            assert str(e).isprintable(), str(e)  # one line, as check-config prints it
            return None
        _startable(config)
        return config


def _startable(config: Config) -> None:
    """What the gateway builds from a config at start-up, built (no I/O, no sockets)."""
    if not config.keys:  # serve adds the default key (its token from a file or SMSGW_TOKEN)
        config = msgspec.structs.replace(config, keys=[KeyConfig(name="default", token=_TOKEN)])
    Gateway(config)
    for route in config.routes:
        modems = len(route.ports) if isinstance(route, ModemRouteConfig) else 1
        burst = None if route.burst is None else route.burst * modems
        RouteLimiter(
            route.rate * modems, burst, 0.0, throttle_pause=getattr(route, "throttle_pause", 1.0)
        )
    now = 1.8e9  # 2027
    s = config.scheduler
    for seconds in (s.validity_otp, s.validity_transactional, s.validity_marketing, s.retry_max):
        rfc3339(now + seconds)
    rfc3339(now + config.limits.max_send_ahead)


# -- any bytes; mutated real configs --------------------------------------------------------

_SEEDS = [
    (ROOT / "config" / "smsgw.example.toml").read_bytes().replace(b'"env:', b'"env:X'),
    (ROOT / "config" / "default.toml").read_bytes(),
    b'[[routes]]\nname = "sim"\ndriver = "simulator"\nrate = 5\n[[rules]]\nroute = ["sim"]\n',
]


@budget(150)
@given(st.binary(max_size=300) | mutated(st.sampled_from(_SEEDS), max_ops=6))
def test_any_bytes_give_a_config_or_one_line(raw: bytes) -> None:
    _load(raw)


# -- TOML shaped like the schema ------------------------------------------------------------

_WORDS = ["sim", "a", "modems", "operator-a"]
_STRINGS = [
    *_WORDS, "", " ", "127.0.0.1:8080", "[::1]:0", "localhost:99999", "127.0.0.1:٨٠",
    "09:00", "24:00", "٠٩:٠٠", "9:00\n", "UTC", "Europe/Berlin", "No/Where", "DE", "ZZ",
    "+4915112345678", "+49", "4917", "²³", "0x00000401", "1_025", "http://127.0.0.1:9/x",
    "https://hooks.example/x", "http://[::1/x", "10.0.0.0/8", "env:" + _SET, "env:UNSET_X",
    _TOKEN, "a\0b", "€", "\U0001f600",
]  # fmt: skip
_strings = st.sampled_from(_STRINGS) | st.text(max_size=12)


def _toml_values() -> st.SearchStrategy[Any]:
    """Any TOML value (what a wrong type in any key looks like); built once, as :data:`_ANY`."""
    scalars = (
        st.integers()
        | st.integers(-(2**70), 2**70)
        | st.floats()
        | st.booleans()
        | _strings
        | st.datetimes(max_value=dt.datetime(9999, 1, 1))
        | st.dates()
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_strings, inner, max_size=3),
        max_leaves=6,
    )


_ANY = _toml_values()


def _near(lo: float | None, hi: float | None) -> list[float]:
    out: list[float] = [0, 1, -1]
    for b in (lo, hi):
        if b is not None:
            out += [b - 1, b, b + 1]
    return out


def _for(t: mi.Type) -> st.SearchStrategy[Any]:
    """A value for a key of schema type ``t``: mostly of that type, sometimes anything."""
    typed: st.SearchStrategy[Any]
    if isinstance(t, mi.StructType):
        fields = {f.encode_name: _for(f.type) for f in t.fields}
        required = {f.encode_name: fields[f.encode_name] for f in t.fields if f.required}
        optional = {k: v for k, v in fields.items() if k not in required}
        if t.tag_field is not None:
            required[t.tag_field] = st.just(t.tag) | _strings
        typed = st.fixed_dictionaries(required, optional=optional)
    elif isinstance(t, mi.ListType):
        typed = st.lists(_for(t.item_type), max_size=3)
    elif isinstance(t, mi.DictType):
        typed = st.dictionaries(_strings, _for(t.value_type), max_size=3)
    elif isinstance(t, mi.UnionType):
        typed = st.one_of([_for(x) for x in t.types if not isinstance(x, mi.NoneType)])
    elif isinstance(t, mi.LiteralType):
        typed = st.sampled_from(t.values)
    elif isinstance(t, mi.IntType):
        lo: float | None = t.ge if t.ge is not None else t.gt
        hi: float | None = t.le if t.le is not None else t.lt
        typed = st.sampled_from([int(x) for x in _near(lo, hi)]) | st.integers(0, 2000)
    elif isinstance(t, mi.FloatType):
        lo = t.ge if t.ge is not None else t.gt
        hi = t.le if t.le is not None else t.lt
        edges = [*_near(lo, hi), 0.5, 1e9, 1e10, 1e300, math.inf, -math.inf, math.nan]
        typed = st.sampled_from(edges) | st.floats(0, 1e6)
    elif isinstance(t, mi.StrType):
        typed = st.sampled_from(_WORDS) if t.pattern else _strings
    elif isinstance(t, mi.BoolType):
        typed = st.booleans()
    else:
        typed = _ANY
    return st.one_of(typed, typed, typed, _ANY)


def _toml_string(s: str) -> str:
    out = []
    for ch in s:
        if " " <= ch <= "~" and ch not in '"\\':
            out.append(ch)
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(f"\\U{ord(ch):08X}")
    return '"' + "".join(out) + '"'


def _toml(value: object) -> str:
    """``value`` as a TOML inline value (tables inline, one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # "inf", "-inf" and "1e+300" are TOML
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_toml_string(k)} = {_toml(v)}" for k, v in value.items()) + "}"


_configs = _for(mi.type_info(Config)).filter(lambda v: isinstance(v, dict))


def _doc_bytes(doc: dict[str, Any]) -> bytes:
    return "".join(f"{_toml_string(k)} = {_toml(v)}\n" for k, v in doc.items()).encode()


@budget(80)
@given(_configs)
def test_random_toml_shaped_like_the_schema_gives_a_config_or_one_line(doc: dict[str, Any]) -> None:
    _load(_doc_bytes(doc))


# A config that passes, with a table of every kind; edits below change one to three keys.
_VALID: dict[str, Any] = {
    "server": {"listen": "127.0.0.1:0"},
    "store": {"path": "var/smsgw.db"},
    "keys": [{"name": "shop", "token": _TOKEN, "inbound_routes": ["sim"]}],
    "routes": [
        {"name": "sim", "driver": "simulator"},
        {"name": "operator-a", "driver": "smpp", "host": "127.0.0.1", "system_id": "shop"},
        {"name": "modems", "driver": "modem", "ports": ["/dev/modem-sim1"]},
    ],
    "rules": [{"prefix": "+49", "route": ["operator-a", "modems"]}, {"route": ["sim"]}],
    "policy": {"quiet_windows": [{"country": "DE"}], "keywords": {}, "auto_reply": {}},
}
_CONFIG = cast(mi.StructType, mi.type_info(Config))
assert isinstance(_CONFIG, mi.StructType)


def _struct(t: mi.Type) -> mi.StructType:
    while isinstance(t, (mi.ListType, mi.UnionType)):
        t = t.item_type if isinstance(t, mi.ListType) else t.types[0]
    assert isinstance(t, mi.StructType)
    return t


def _tables() -> list[tuple[tuple[str | int, ...], mi.StructType]]:
    """Where each table of ``_VALID`` is, and its schema type."""
    out: list[tuple[tuple[str | int, ...], mi.StructType]] = []
    fields = {f.encode_name: f.type for f in _CONFIG.fields}
    for name in ("server", "store", "scheduler", "text", "webhooks", "policy", "limits"):
        out.append(((name,), _struct(fields[name])))
    policy = {f.encode_name: f.type for f in _struct(fields["policy"]).fields}
    for name in ("keywords", "auto_reply"):
        out.append((("policy", name), _struct(policy[name])))
    out.append((("policy", "quiet_windows", 0), _struct(policy["quiet_windows"])))
    out.append((("keys", 0), _struct(fields["keys"])))
    out.append((("rules", 0), _struct(fields["rules"])))
    routes = fields["routes"]
    assert isinstance(routes, mi.ListType) and isinstance(routes.item_type, mi.UnionType)
    for i, variant in enumerate(routes.item_type.types):
        assert isinstance(variant, mi.StructType)
        out.append((("routes", i), variant))
    return out


# Where each table is, and a value strategy for each of its keys (built once: building the
# strategies costs more than drawing from them).
_EDITS = [
    (where, [(f.encode_name, _for(f.type)) for f in table.fields]) for where, table in _tables()
]


@st.composite
def _near_valid(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(_VALID))  # a deep copy
    for _ in range(draw(st.integers(1, 3))):
        where, fields = draw(st.sampled_from(_EDITS))
        name, values = draw(st.sampled_from(fields))
        node: Any = doc
        try:
            for step in where:
                node = node.setdefault(step, {}) if isinstance(step, str) else node[step]
        except (AttributeError, IndexError, KeyError, TypeError):
            continue  # an earlier edit replaced the table this one is in
        if isinstance(node, dict):
            node[name] = draw(values)
    return doc


@budget(200)
@given(_near_valid())
def test_a_valid_config_with_keys_changed_gives_a_config_or_one_line(doc: dict[str, Any]) -> None:
    _load(_doc_bytes(doc))


def test_the_valid_config_the_edits_start_from_passes() -> None:
    assert _load(_doc_bytes(_VALID)) is not None


# -- each fault found, by name ------------------------------------------------------------

_ROUTE = '[[routes]]\nname = "sim"\ndriver = "simulator"\n'


@pytest.mark.parametrize("depth", [200, 5000])
def test_deeply_nested_arrays_and_tables_are_one_line(depth: int) -> None:
    # tomllib reads them recursively: a RecursionError escaped as a traceback.
    for value in ("[" * depth + "]" * depth, "{a = " * depth + "1" + "}" * depth):
        with pytest.raises(ConfigError) as e:
            parse(f"x = {value}\n".encode(), "f.toml", {})
        assert str(e.value).startswith("f.toml: ")


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        (_ROUTE + "rate = inf\n", "routes[0].rate"),
        (_ROUTE + "price_per_part = 1e10\n", "routes[0].price_per_part"),
        (
            _ROUTE + "[scheduler]\nvalidity_transactional = inf\n",
            "scheduler.validity_transactional",
        ),
        (_ROUTE + "[scheduler]\nvalidity_marketing = 1e300\n", "scheduler.validity_marketing"),
        (_ROUTE + "[scheduler]\nretry_max = 100000000000\n", "scheduler.retry_max"),
        (_ROUTE + "[limits]\nmax_send_ahead = inf\n", "limits.max_send_ahead"),
    ],
)
def test_floats_beyond_a_billion_are_refused_naming_the_key(toml: str, key: str) -> None:
    # rate = inf stopped `smsgw serve` with an OverflowError in the route's limiter; a validity
    # of inf or 1e300 made every GET of a message a 500 (its expiry has no date).
    with pytest.raises(ConfigError) as e:
        parse(toml.encode(), "f.toml", {})
    assert e.value.key == key and "finite number up to 1e9" in e.value.reason


def test_a_billion_seconds_is_still_a_config() -> None:
    config = parse((_ROUTE + "[scheduler]\nvalidity_marketing = 1e9\n").encode(), "f.toml", {})
    _startable(config)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        (_ROUTE + '[store]\npath = "var/a\\u0000b.db"\n', "store.path"),
        (
            '[[routes]]\nname = "m"\ndriver = "modem"\nports = ["/dev/x\\u0000"]\n',
            "routes[0].ports[0]",
        ),
        (
            '[[routes]]\nname = "s"\ndriver = "smpp"\nhost = "h\\u0000"\nsystem_id = "x"\n',
            "routes[0].host",
        ),
        (
            '[[routes]]\nname = "s"\ndriver = "smpp"\nhost = "h"\nsystem_id = "x"\n'
            'tls_ca = "a\\u0000"\n',
            "routes[0].tls_ca",
        ),
    ],
)
def test_nul_characters_are_refused_naming_the_key(toml: str, key: str) -> None:
    # A NUL in store.path stopped `smsgw serve` with "ValueError: embedded null byte".
    with pytest.raises(ConfigError) as e:
        parse(toml.encode(), "f.toml", {})
    assert e.value.key == key and "NUL" in e.value.reason


def test_a_key_with_a_newline_is_named_on_one_line() -> None:
    # `"a\nb" = 1` printed its refusal over two lines.
    with pytest.raises(ConfigError) as e:
        parse(b'"a\\nb" = 1\n', "f.toml", {})
    assert str(e.value) == "f.toml: a\\nb: unknown key"
    assert e.value.key == "a\nb"


def test_a_modem_route_without_ports_is_refused() -> None:
    # Its rate is per modem; with none, `smsgw serve` stopped on a limiter of rate 0.
    with pytest.raises(ConfigError) as e:
        parse(b'[[routes]]\nname = "m"\ndriver = "modem"\nports = []\n', "f.toml", {})
    assert e.value.key == "routes[0].ports"


@pytest.mark.parametrize("listen", ["127.0.0.1:x", "127.0.0.1:٨٠٨٠", "nohost", "[::1:80"])
def test_serve_listen_override_is_checked_like_the_config(
    listen: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `smsgw serve --listen 127.0.0.1:x` ended in a ValueError traceback.
    assert cli_main(["serve", "--listen", listen]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("smsgw: --listen: ") and "\n" not in err
