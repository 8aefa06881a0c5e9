"""Where webhooks may go: the address categories, allow-lists, the check after DNS, and the
config checks for webhook settings."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import trio

from smsgw.config.loader import ConfigError, parse
from smsgw.config.schema import Config
from smsgw.gateway.cli import main as cli_main
from smsgw.gateway.httpclient import Pool, TargetRefused, parse_url
from smsgw.gateway.httpclient.url import IPAddress
from smsgw.gateway.webhook_targets import (
    TargetPolicy,
    category,
    check_webhook_config,
    webhook_notes,
)
from tests.receivers import start_receiver


def config(webhooks: str = "", keys: str = "") -> Config:
    keys = keys or '[[keys]]\nname = "shop"\ntoken = "t-0123456789abcdef"\nwebhook_secret = "s"\n'
    text = f"""
[server]
listen = "127.0.0.1:8080"
{keys}
[webhooks]
{webhooks}
[[routes]]
name = "sim"
driver = "simulator"
[[rules]]
route = ["sim"]
"""
    return parse(text.encode(), "smsgw.toml", {})


def ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("100.64.0.1", "shared"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_categories(address: str, kind: str | None) -> None:
    assert category(ip(address)) == kind


@pytest.mark.parametrize(
    "host",
    [
        "127.1",
        "0x7f000001",
        "2130706433",
        "0177.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "localhost",
        "api.localhost",
    ],
)
def test_every_spelling_of_loopback_is_refused_at_accept(host: str) -> None:
    policy = TargetPolicy(config())
    reason = policy.refusal_at_accept("shop", parse_url(f"http://{host}:9000/h"))
    assert reason is not None and "loopback" in reason and "allow_private" in reason


def test_allow_private_and_callback_hosts() -> None:
    keys = (
        '[[keys]]\nname = "shop"\ntoken = "t-0123456789abcdef"\nwebhook_secret = "s"\n'
        'callback_hosts = ["hooks.internal", "10.0.0.5", "10.1.0.0/16", "169.254.169.254"]\n'
        '[[keys]]\nname = "crm"\ntoken = "u-0123456789abcdef"\nwebhook_secret = "s"\n'
    )
    policy = TargetPolicy(config(keys=keys))
    url = parse_url("http://hooks.internal/h")
    other = parse_url("http://elsewhere.example/h")
    assert policy.refusal("shop", url, ip("192.168.7.7")) is None  # the name is listed
    assert policy.refusal("shop", other, ip("192.168.7.7")) is not None
    assert policy.refusal("shop", other, ip("10.0.0.5")) is None
    assert policy.refusal("shop", other, ip("10.1.200.3")) is None
    assert policy.refusal("shop", other, ip("10.2.0.1")) is not None
    assert policy.refusal("shop", other, ip("169.254.169.254")) is None  # listed by address
    assert policy.refusal("crm", other, ip("10.0.0.5")) is not None  # another key's list
    assert policy.refusal("crm", other, ip("8.8.8.8")) is None
    # allow_private opens loopback and private ranges, never link-local, multicast or our API.
    open_policy = TargetPolicy(config("allow_private = true"))
    assert open_policy.refusal("shop", other, ip("10.2.0.1")) is None
    assert open_policy.refusal("shop", other, ip("127.0.0.1")) is None
    assert "link-local" in str(open_policy.refusal("shop", other, ip("169.254.169.254")))
    assert "multicast" in str(open_policy.refusal("shop", other, ip("224.0.0.1")))
    own = parse_url("http://127.0.0.1:8080/v1/messages")
    assert "own listener" in str(open_policy.refusal("shop", own, ip("127.0.0.1")))


def test_a_wildcard_listener_covers_local_addresses_on_its_port() -> None:
    policy = TargetPolicy(config("allow_private = true"))
    policy.set_own("0.0.0.0", 9999)
    url = parse_url("http://hooks.example:9999/")
    assert "own listener" in str(policy.refusal("shop", url, ip("127.0.0.1")))
    assert policy.refusal("shop", parse_url("http://hooks.example:9998/"), ip("127.0.0.1")) is None


async def test_a_name_that_resolves_inside_is_refused_after_resolution(
    nursery: trio.Nursery,
) -> None:
    receiver = await start_receiver(nursery)
    policy = TargetPolicy(config())
    pool = Pool()
    try:
        # The real resolver: localhost is loopback.
        with pytest.raises(TargetRefused) as e:
            await pool.request(
                b"POST",
                parse_url(f"http://localhost:{receiver.port}/h"),
                [],
                b"",
                timeout=5,
                allow=policy.allow("shop"),
            )
        assert "loopback" in str(e.value)

        # A public-looking name whose DNS answer points inside (rebinding).
        async def inside(host: str, port: int) -> list[IPAddress]:
            return [ip("127.0.0.1")]

        rebinding = Pool(resolver=inside)
        with pytest.raises(TargetRefused):
            await rebinding.request(
                b"POST",
                parse_url(f"http://hooks.example:{receiver.port}/h"),
                [],
                b"",
                timeout=5,
                allow=policy.allow("shop"),
            )
        assert receiver.connections == 0
    finally:
        await pool.aclose()


def test_inbound_url_needs_a_secret_and_an_allowed_target() -> None:
    no_secret = '[[keys]]\nname = "shop"\ntoken = "t-0123456789abcdef"\ninbound_url = "https://hooks.example/in"\n'
    with pytest.raises(ConfigError) as e:
        check_webhook_config(config(keys=no_secret), "smsgw.toml")
    assert str(e.value).startswith("smsgw.toml: keys[0].webhook_secret: required")
    unsigned = config("allow_unsigned = true", keys=no_secret)
    check_webhook_config(unsigned, "smsgw.toml")
    assert any(n.startswith("warning") and "shop" in n for n in webhook_notes(unsigned))
    for url, reason in (
        ("http://10.0.0.1/in", "private"),
        ("http://127.0.0.1:99999/in", "port must be"),
        ("http://h.example/in€", "non-ASCII"),
    ):
        keys = (
            '[[keys]]\nname = "shop"\ntoken = "t-0123456789abcdef"\nwebhook_secret = "s"\n'
            f'inbound_url = "{url}"\n'
        )
        with pytest.raises(ConfigError) as e:
            check_webhook_config(config(keys=keys), "smsgw.toml")
        assert e.value.key == "keys[0].inbound_url" and reason in e.value.reason
    bad_host = (
        '[[keys]]\nname = "shop"\ntoken = "t-0123456789abcdef"\ncallback_hosts = ["not a host"]\n'
    )
    with pytest.raises(ConfigError) as e:
        check_webhook_config(config(keys=bad_host), "smsgw.toml")
    assert e.value.key == "keys[0].callback_hosts[0]"


def test_check_config_says_private_targets_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "smsgw.toml"
    path.write_text(
        '[[keys]]\nname = "shop"\ntoken = "t-0123456789abcdef"\n'
        'webhook_secret = ["new-s", "old-s"]\n'
        '[[routes]]\nname = "sim"\ndriver = "simulator"\n[[rules]]\nroute = ["sim"]\n'
    )
    assert cli_main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "private" in out and "allow_private = true" in out and "callback_hosts" in out
    path.write_text(
        '[[keys]]\nname = "shop"\ntoken = "t-0123456789abcdef"\ninbound_url = "https://h.example/"\n'
        '[[routes]]\nname = "sim"\ndriver = "simulator"\n[[rules]]\nroute = ["sim"]\n'
    )
    assert cli_main(["check-config", str(path)]) == 2
    assert "keys[0].webhook_secret: required" in capsys.readouterr().err


def test_the_systemd_unit_denies_link_local_addresses() -> None:
    unit = (Path(__file__).resolve().parent.parent / "systemd" / "smsgw.service").read_text()
    assert "IPAddressDeny=169.254.0.0/16" in unit.splitlines()
    assert "IPAddressAllow" not in unit  # everything else stays reachable
