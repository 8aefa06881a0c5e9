"""The ``[smpp_server]`` table: defaults, and each refusal naming file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsgw.config.loader import ConfigError, parse
from smsgw.gateway.cli import load_checked

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
ENV = {"SHOP_TOKEN": "x" * 32, "SMPP_PW": "secret"}


def _server(extra: str) -> bytes:
    return BASE + extra.encode()


ACCOUNT = """
[smpp_server]
listen = "127.0.0.1:2775"

[[smpp_server.accounts]]
system_id = "crm"
password = "env:SMPP_PW"
key = "shop"
rate = 50
burst = 10
max_binds = 2
allow = ["127.0.0.1", "10.0.0.0/8"]
"""


def _err(extra: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(_server(extra), "smsgw.toml", ENV)
    return info.value


def test_no_table_means_no_smpp_server() -> None:
    assert parse(BASE, "smsgw.toml", ENV).smpp_server is None


def test_an_account_reads_with_its_secret_and_defaults() -> None:
    server = parse(_server(ACCOUNT), "smsgw.toml", ENV).smpp_server
    assert server is not None and server.hold_hours == 72.0
    [acct] = server.accounts
    assert (acct.system_id, acct.password, acct.key, acct.rate, acct.burst) == (
        "crm", "secret", "shop", 50.0, 10.0,
    )  # fmt: skip
    assert acct.max_binds == 2 and acct.allow == ["127.0.0.1", "10.0.0.0/8"]


def test_a_password_over_eight_octets_is_refused_at_load() -> None:
    e = _err(ACCOUNT.replace('"env:SMPP_PW"', '"ninechars"'))
    assert e.key == "smpp_server.accounts[0].password"
    assert "9 octets" in e.reason and "1 to 8" in e.reason
    assert str(e).startswith("smsgw.toml: smpp_server.accounts[0].password: ")


def test_an_unknown_api_key_is_refused() -> None:
    e = _err(ACCOUNT.replace('key = "shop"', 'key = "nobody"'))
    assert (e.key, e.reason) == ("smpp_server.accounts[0].key", "unknown API key 'nobody'")


def test_a_bad_allow_entry_is_refused() -> None:
    e = _err(ACCOUNT.replace('"10.0.0.0/8"', '"10.0.0.0/33"'))
    assert e.key == "smpp_server.accounts[0].allow[1]"


def test_a_duplicate_system_id_is_refused() -> None:
    second = ACCOUNT.split("[[smpp_server.accounts]]")[1]
    e = _err(ACCOUNT + "\n[[smpp_server.accounts]]" + second)
    assert (e.key, e.reason) == ("smpp_server.accounts[1].system_id", "duplicate system_id 'crm'")


def test_a_bad_listen_address_is_refused() -> None:
    e = _err(ACCOUNT.replace('"127.0.0.1:2775"', '"localhost"'))
    assert e.key == "smpp_server.listen"


def test_tls_needs_both_files_and_they_must_load() -> None:
    e = _err(ACCOUNT.replace("[smpp_server]\n", '[smpp_server]\ntls_cert = "/nonexistent"\n'))
    assert e.key == "smpp_server.tls_key"
    e = _err(
        ACCOUNT.replace(
            "[smpp_server]\n", '[smpp_server]\ntls_cert = "/nonexistent"\ntls_key = "/nope"\n'
        )
    )
    assert e.key == "smpp_server.tls_cert" and "cannot load" in e.reason


def test_unknown_keys_in_the_table_are_refused() -> None:
    e = _err(ACCOUNT.replace("rate = 50", "rate = 50\ntps = 3"))
    assert "tps" in str(e)


def _keywords(first: str, second: str = "") -> str:
    """Two accounts of the key "shop" with these ``inbound_keywords`` lines."""
    other = ACCOUNT.split("[[smpp_server.accounts]]")[1].replace('"crm"', '"orders"')
    return (
        ACCOUNT.replace("rate = 50", f"inbound_keywords = {first}\nrate = 50")
        + "\n[[smpp_server.accounts]]"
        + other.replace("rate = 50", f"inbound_keywords = {second or '[]'}\nrate = 50")
    )


def test_inbound_keywords_read_and_check_their_words() -> None:
    server = parse(_server(_keywords('["SHOP", "Info"]', '["ORDER"]')), "smsgw.toml", ENV)
    assert server.smpp_server is not None
    assert [a.inbound_keywords for a in server.smpp_server.accounts] == [
        ["SHOP", "Info"], ["ORDER"],
    ]  # fmt: skip
    e = _err(_keywords('["SHOP NOW"]'))
    assert e.key == "smpp_server.accounts[0].inbound_keywords[0]"
    assert e.reason == "'SHOP NOW' is not one word of 1 to 30 letters or digits"
    assert _err(_keywords('[""]')).key == "smpp_server.accounts[0].inbound_keywords[0]"


def test_one_keyword_for_two_accounts_of_a_key_is_refused() -> None:
    e = _err(_keywords('["SHOP"]', '["INFO", "shop"]'))
    assert (e.key, e.reason) == (
        "smpp_server.accounts[1].inbound_keywords[1]",
        "'shop' already sends key 'shop''s inbound to account 'crm'",
    )


def test_an_optout_or_optin_word_as_keyword_is_refused_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "smsgw.toml"
    for word, kind in (("Stop", "optout"), ("START", "optin")):
        path.write_bytes(_server(_keywords(f'["SHOP", "{word}"]')))
        with pytest.raises(ConfigError) as info:
            load_checked(str(path))
        e = info.value
        assert (e.file, e.key) == (str(path), "smpp_server.accounts[0].inbound_keywords[1]")
        assert e.reason.startswith(f"{word!r} is an {kind} keyword (policy.keywords)")
