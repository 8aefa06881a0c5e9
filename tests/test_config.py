"""Config loading: every refusal is one line naming file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsgw.config.loader import ConfigError, load, load_default, parse
from smsgw.config.schema import SimulatorRouteConfig, SmppRouteConfig
from smsgw.gateway.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
GOOD = b"""
[[keys]]
name = "shop"
token = "env:SHOP_TOKEN"

[[routes]]
name = "sim"
driver = "simulator"

[[rules]]
route = ["sim"]
"""


def _err(text: bytes, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, "smsgw.toml", {"SHOP_TOKEN": "x" * 32} if env is None else env)
    return info.value


def test_good_config_resolves_env_secrets() -> None:
    config = parse(GOOD, "smsgw.toml", {"SHOP_TOKEN": "t" * 32})
    assert config.keys[0].token == "t" * 32
    assert isinstance(config.routes[0], SimulatorRouteConfig)


def test_missing_secret_names_key_and_variable() -> None:
    e = _err(GOOD, env={})
    assert str(e) == "smsgw.toml: keys[0].token: environment variable SHOP_TOKEN is not set"


def test_unknown_key_is_refused() -> None:
    e = _err(GOOD + b'\n[server]\nlisten = "127.0.0.1:1"\nlisen = 3\n')
    assert (e.key, e.reason) == ("server.lisen", "unknown key")


def test_unknown_key_in_a_route() -> None:
    e = _err(GOOD.replace(b'driver = "simulator"', b'driver = "simulator"\nrat = 5'))
    assert (e.key, e.reason) == ("routes[0].rat", "unknown key")


def test_wrong_type_names_the_key() -> None:
    e = _err(GOOD.replace(b'driver = "simulator"', b'driver = "simulator"\nrate = "fast"'))
    assert e.key == "routes[0].rate"
    assert "expected `float`" in e.reason.lower()


def test_rule_naming_unknown_route() -> None:
    e = _err(GOOD.replace(b'route = ["sim"]', b'route = ["sim", "nope"]'))
    assert str(e) == "smsgw.toml: rules[0].route[1]: unknown route 'nope'"


@pytest.mark.parametrize(
    ("listen", "reason"),
    [
        ("8080", "expected HOST:PORT"),
        ("127.0.0.1:99999", "port must be"),
        ("example.com:80", "host must be an IP address"),
    ],
)
def test_bad_listen_address(listen: str, reason: str) -> None:
    e = _err(GOOD + f'\n[server]\nlisten = "{listen}"\n'.encode())
    assert e.key == "server.listen"
    assert reason in e.reason


def test_unknown_driver() -> None:
    e = _err(GOOD.replace(b'driver = "simulator"', b'driver = "pigeon"'))
    assert e.key == "routes[0].driver"


def test_invalid_toml_and_unreadable_file(tmp_path: Path) -> None:
    assert "invalid TOML" in _err(b"[server\n").reason
    with pytest.raises(ConfigError) as info:
        load(str(tmp_path / "missing.toml"))
    assert "cannot read file" in info.value.reason


def test_duplicate_route_names() -> None:
    e = _err(GOOD + b'\n[[routes]]\nname = "sim"\ndriver = "simulator"\n')
    assert (e.key, e.reason) == ("routes[1].name", "duplicate route name 'sim'")


def test_short_token_refused() -> None:
    e = _err(GOOD, env={"SHOP_TOKEN": "short"})
    assert e.key == "keys[0].token"


def test_embedded_default_is_loopback_with_a_simulator() -> None:
    config = load_default({})
    assert config.server.listen.startswith("127.0.0.1:")
    assert [type(r) for r in config.routes] == [SimulatorRouteConfig]


def test_example_config_passes_check_config(capsys: pytest.CaptureFixture[str]) -> None:
    env = {
        "SMSGW_SHOP_TOKEN": "s" * 32,
        "SMSGW_SHOP_WEBHOOK_SECRET": "w" * 32,
        "SMPP_PASSWORD": "secret",
        "SIM_PIN": "1234",
    }
    path = ROOT / "config" / "smsgw.example.toml"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        assert cli_main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ok" in out and "operator-a (smpp)" in out
    config = load(str(path), env)
    assert isinstance(config.routes[1], SmppRouteConfig)


def test_check_config_prints_the_same_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "x" * 32)
    path = tmp_path / "bad.toml"
    path.write_bytes(GOOD.replace(b'route = ["sim"]', b'route = ["gone"]'))
    assert cli_main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"{path}: rules[0].route[0]: unknown route 'gone'"


@pytest.mark.parametrize(
    ("policy", "line"),
    [
        ('fallback_tz = "Mars/Olympus"', "policy.fallback_tz: unknown time zone 'Mars/Olympus'"),
        ('default_country = "XX"', "policy.default_country: unknown country 'XX'"),
    ],
)
def test_check_config_refuses_a_policy_that_cannot_work(
    policy: str,
    line: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "x" * 32)
    path = tmp_path / "policy.toml"
    path.write_bytes(GOOD + f"\n[policy]\n{policy}\n".encode())
    assert cli_main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err.strip().startswith(f"{path}: {line}")


@pytest.mark.parametrize(
    "command", ["serve", "send", "status", "check-config", "bench", "smsc-sim", "modems"]
)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code: object = cli_main([command, "--help"])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 0
    assert f"smsgw {command}" in capsys.readouterr().out


def test_unreadable_tls_ca_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tls.toml"
    path.write_text(
        '[[routes]]\nname = "op"\ndriver = "smpp"\nhost = "smsc.example"\nsystem_id = "x"\n'
        f'tls = true\ntls_ca = "{tmp_path / "missing.pem"}"\n[[rules]]\nroute = ["op"]\n'
    )
    with pytest.raises(ConfigError) as e:
        load(str(path))
    assert e.value.key == "routes[0].tls_ca"
    assert e.value.reason.startswith("cannot load CA file")
    assert e.value.reason.endswith("No such file or directory")
