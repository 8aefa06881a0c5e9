"""Tokens and files: tokens given by their SHA-256, the default key's token kept in a 0600
file and never printed, everything smsgw creates readable by its user alone."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import trio

from smsgw.config.loader import ConfigError, load_default, parse
from smsgw.gateway.cli import main as cli_main
from smsgw.gateway.cli import resolve_token, token_hint, with_default_key
from smsgw.gateway.httpclient import request
from smsgw.metrics.instruments import Metrics
from smsgw.queue.store.sqlite.dispatch import DispatchPolicy
from smsgw.queue.store.sqlite.store import SqliteStore
from tests.conftest import StartGateway
from tests.helpers import new_message
from tests.processes import EXIT, spawn, waiting

SECRET = "crm-token-0123456789abcdef"
SECRET_SHA = hashlib.sha256(SECRET.encode()).hexdigest()
ROUTES = b'[[routes]]\nname = "sim"\ndriver = "simulator"\n[[rules]]\nroute = ["sim"]\n'


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The umask a shell usually has: files 0644 and folders 0755 unless smsgw says otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _config_error(keys: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(keys.encode() + b"\n" + ROUTES, "smsgw.toml", {})
    return info.value


async def test_a_key_given_by_its_sha256_authenticates(start_gateway: StartGateway) -> None:
    gw = await start_gateway(
        extra=f'[[keys]]\nname = "crm"\ntoken_sha256 = "{SECRET_SHA.upper()}"\n'
    )
    assert (await gw.call("GET", "/v1/messages", token=SECRET))[0] == 200
    # The digest is not a token.
    assert (await gw.call("GET", "/v1/messages", token=SECRET_SHA))[0] == 401


@pytest.mark.parametrize(
    ("keys", "where", "reason"),
    [
        (
            f'[[keys]]\nname = "a"\ntoken = "{SECRET}"\ntoken_sha256 = "{SECRET_SHA}"',
            "keys[0].token",
            "give exactly one of token and token_sha256",
        ),
        ('[[keys]]\nname = "a"', "keys[0].token", "give exactly one of token and token_sha256"),
        (
            '[[keys]]\nname = "a"\ntoken_sha256 = "abc"',
            "keys[0].token_sha256",
            "must be 64 hex digits",
        ),
        (
            f'[[keys]]\nname = "a"\ntoken_sha256 = "{SECRET_SHA}\\n"',
            "keys[0].token_sha256",
            "must be 64 hex digits",
        ),
        (
            f'[[keys]]\nname = "a"\ntoken = "{SECRET}"\n'
            f'[[keys]]\nname = "b"\ntoken_sha256 = "{SECRET_SHA}"',
            "keys[1].token_sha256",
            "same token as another key",
        ),
        ('[[keys]]\nname = "shop\\n"\ntoken = "x"', "keys[0].name", "matching regex"),
        (
            f'[[keys]]\nname = "a"\ntoken = "{SECRET}"\nroutes = ["nope"]',
            "keys[0].routes[0]",
            "unknown route 'nope'",
        ),
        (
            f'[[keys]]\nname = "a"\ntoken = "{SECRET}"\ninbound_routes = ["sim"]\n'
            f'[[keys]]\nname = "b"\ntoken = "{SECRET}-b"\ninbound_routes = ["sim"]',
            "keys[1].inbound_routes[0]",
            "route 'sim' already gives its inbound messages to key 'a'",
        ),
        (
            f'[[keys]]\nname = "a"\ntoken = "{SECRET}"\ninbound_numbers = ["+4930901820"]\n'
            f'[[keys]]\nname = "b"\ntoken = "{SECRET}-b"\ninbound_numbers = ["+4930901820"]',
            "keys[1].inbound_numbers[0]",
            "+4930901820 already belongs to key 'a'",
        ),
        (
            f'[[keys]]\nname = "a"\ntoken = "{SECRET}"\ninbound_numbers = ["+4930901820\\n"]',
            "keys[0].inbound_numbers[0]",
            "must be E.164",
        ),
        (
            f'[[keys]]\nname = "a"\ntoken = "{SECRET}"\n[policy]\nquiet_start = "09:00\\n"',
            "policy.quiet_start",
            "must be HH:MM",
        ),
    ],
)
def test_key_config_refusals_name_the_key(keys: str, where: str, reason: str) -> None:
    e = _config_error(keys)
    assert e.key == where and reason in e.reason, str(e)


def test_check_config_takes_a_digest_and_tells_what_may_surprise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "smsgw.toml"
    path.write_bytes(
        f'[[keys]]\nname = "crm"\ntoken_sha256 = "{SECRET_SHA}"\nburst = 10\n'
        f'inbound_url = "https://hooks.example.com/in"\n'
        f'webhook_secret = "whsec-0123456789"\n'.encode()
        + ROUTES
    )
    assert cli_main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: ok: 1 key(s), routes: sim (simulator)"
    assert out[1:] == [
        f"{path}: note: keys[0].inbound_url: key 'crm' claims no inbound_routes or"
        " inbound_numbers and is not admin: no inbound message will reach it",
        f"{path}: note: keys[0].burst: 10 is below limits.max_batch (1000): larger batches"
        " get 422 batch_exceeds_burst",
        f"{path}: note: keys: inbound messages on sim that no key's inbound_numbers claim"
        " belong to no key, and no key is admin to see them",
        f"{path}: note: webhooks: receivers on loopback, private and link-local addresses are"
        " refused (a receiver on your own network needs [webhooks] allow_private = true or the"
        " key's callback_hosts)",
    ]


def test_the_default_token_file_is_0600_in_a_0700_folder(tmp_path: Path, loose_umask: None) -> None:
    config = msgspec.structs.replace(
        load_default({}),
        store=msgspec.structs.replace(load_default({}).store, path=str(tmp_path / "v" / "q.db")),
    )
    token, source = resolve_token(config, environ={})
    path = tmp_path / "v" / "api-token"
    assert source == str(path) and path.read_text().strip() == token
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    # A token file left readable by others (copied in, an older smsgw) is narrowed.
    path.chmod(0o644)
    assert resolve_token(config, environ={}) == (token, source)
    assert _mode(path) == 0o600
    # The default key is the only one: an admin, so it sees what no key claims.
    with_key, _ = with_default_key(config)
    assert with_key.keys[0].admin and with_key.keys[0].token == token
    hint = token_hint(token, source)
    assert token not in hint and str(path) in hint and len(token) > 40
    assert token_hint("from-env-0123456789", "SMSGW_TOKEN") == "API token: from SMSGW_TOKEN"


async def test_the_database_files_are_0600_in_a_0700_folder(
    tmp_path: Path, loose_umask: None
) -> None:
    path = tmp_path / "data" / "q.db"
    store = SqliteStore(
        str(path),
        metrics=Metrics(),
        policy=DispatchPolicy(max_attempts={"sim": 3}, retry_base=2.0, retry_max=60.0),
    )
    await store.open()
    try:
        await store.accept([new_message(1)])
        files = sorted(p.name for p in path.parent.iterdir())
        assert files == ["q.db", "q.db-shm", "q.db-wal", "q.db.lock"]
        assert {p.name: _mode(p) for p in path.parent.iterdir()} == dict.fromkeys(files, 0o600)
        assert _mode(path.parent) == 0o700
    finally:
        await store.close()


@pytest.mark.slow
async def test_make_run_keeps_its_token_to_itself(tmp_path: Path, loose_umask: None) -> None:
    """``smsgw serve`` with no config (what ``make run`` starts), from a shell's umask: the
    token is in var/api-token, not on stdout, and every file is its user's alone."""
    env = {k: v for k, v in os.environ.items() if k != "SMSGW_TOKEN"}
    argv = [sys.executable, "-m", "smsgw", "serve", "--listen", "127.0.0.1:0"]
    async with spawn([*argv, "--log-level", "warning"], cwd=tmp_path, env=env) as gw:
        await gw.line_with(b"API token")
        text = gw.output.decode()
        var = tmp_path / "var"
        token = (var / "api-token").read_text().strip()
        assert token not in text and str(var / "api-token") in text
        url = text.split("listening on ", 1)[1].split()[0]
        status, _ = await request(
            "POST",
            url + "/v1/messages",
            b'{"to":"+4917012345678","text":"hello"}',
            [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")],
        )
        assert status == 202
        # The command line finds the token where the server put it.
        with waiting(EXIT, "smsgw send to exit"):
            send = await trio.run_process(
                [
                    sys.executable,
                    "-m",
                    "smsgw",
                    "send",
                    "--url",
                    url,
                    "--to",
                    "+4917012345678",
                    "--text",
                    "from the CLI",
                ],
                cwd=tmp_path,
                env=env,
                capture_stdout=True,
                capture_stderr=True,
            )
        assert send.returncode == 0 and b'"status"' in send.stdout
        assert _mode(var) == 0o700
        made = {p.name: _mode(p) for p in var.iterdir()}
        assert {"api-token", "smsgw.db", "smsgw.db-wal", "smsgw.db-shm"} <= made.keys()
        assert set(made.values()) == {0o600}, made
        assert await gw.terminated() == 0, gw.tail()
