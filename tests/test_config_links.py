"""The ``[links]`` table: off by default, its defaults, and each refusal naming file, key and
reason."""

from __future__ import annotations

import pytest

from smsgw.config.links import DEFAULT_PREVIEW_AGENTS
from smsgw.config.loader import ConfigError, load_default, parse

BASE = b"""
[[keys]]
name = "shop"
token = "env:SHOP_TOKEN"

[[routes]]
name = "sim"
driver = "simulator"

[[rules]]
route = ["sim"]
"""
ENV = {"SHOP_TOKEN": "x" * 32}
LINKS = """
[links]
listen = "0.0.0.0:8081"
base_url = "https://s.shop.example"
"""


def _parse(extra: str) -> object:
    return parse(BASE + extra.encode(), "smsgw.toml", ENV)


def _err(extra: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        _parse(extra)
    return info.value


def test_links_are_off_without_the_table_and_in_the_default() -> None:
    assert not parse(BASE, "smsgw.toml", ENV).links.enabled
    assert not load_default(ENV).links.enabled


def test_a_links_table_reads_with_its_defaults() -> None:
    links = parse(BASE + LINKS.encode(), "smsgw.toml", ENV).links
    assert links.enabled and links.base_url == "https://s.shop.example"
    assert (links.code_length, links.expire_after) == (7, 90 * 86_400.0)
    assert links.preview_agents == list(DEFAULT_PREVIEW_AGENTS)
    for agent in ("facebookexternalhit", "Twitterbot", "Slackbot", "WhatsApp", "Applebot"):
        assert agent in links.preview_agents


def test_settings_are_read() -> None:
    extra = LINKS + 'code_length = 9\nexpire_after = 3600\npreview_agents = ["MyBot"]\n'
    links = parse(BASE + extra.encode(), "smsgw.toml", ENV).links
    assert (links.code_length, links.expire_after, links.preview_agents) == (9, 3600.0, ["MyBot"])


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("ftp://s.shop.example", "must be an http:// or https:// URL with a host"),
        ("https://", "must be an http:// or https:// URL with a host"),
        ("s.shop.example", "must be an http:// or https:// URL with a host"),
        ("https://s.shop.example?x=1", "must not have a query or fragment"),
        ("https://s.shop.example#top", "must not have a query or fragment"),
        ("https://s.shop.example/", "must not end with / (links are <base_url>/<code>)"),
        ("https://u:p@s.shop.example", "must not hold a user name or password"),
        ("https://s.shop.example/ a", "must be printable ASCII (punycode a non-ASCII host)"),
    ],
)
def test_a_bad_base_url_is_refused_naming_the_key(base_url: str, reason: str) -> None:
    e = _err(LINKS.replace('"https://s.shop.example"', f'"{base_url}"'))
    assert (e.key, e.reason) == ("links.base_url", reason)
    assert str(e).startswith("smsgw.toml: links.base_url: ")


def test_a_listener_needs_a_base_url() -> None:
    e = _err('[links]\nlisten = "0.0.0.0:8081"\n')
    assert (e.key, e.reason) == ("links.base_url", "is required when links.listen is set")


def test_a_bad_listen_address_is_refused() -> None:
    e = _err(LINKS.replace("0.0.0.0:8081", "s.shop.example:80"))
    assert e.key == "links.listen" and "host must be an IP address" in e.reason


def test_the_api_address_is_refused() -> None:
    e = _err(LINKS.replace("0.0.0.0:8081", "127.0.0.1:8080"))
    assert e.key == "links.listen" and "its own address" in e.reason


@pytest.mark.parametrize(("line", "key"), [("code_length = 3", "links.code_length"),
                                           ("expire_after = 0", "links.expire_after"),
                                           ('preview_agents = [" "]', "links.preview_agents[0]"),
                                           ("colour = 1", "links.colour")])  # fmt: skip
def test_bad_values_are_refused_naming_the_key(line: str, key: str) -> None:
    assert _err(LINKS + line + "\n").key == key
