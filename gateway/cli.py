"""The ``smsgw`` command: serve, send, status, check-config, store, contacts, bench, smsc-sim,
modems."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec
import trio

from smsgw import __version__
from smsgw.config.loader import DEFAULT_CONFIG_NAME, ConfigError, load, notes, parse_listen
from smsgw.config.schema import Config, KeyConfig
from smsgw.gateway.webhook_targets import check_webhook_config, webhook_notes
from smsgw.queue.consent.policy import Policy, PolicyConfigError
from smsgw.queue.store.health import StoreFatal
from smsgw.queue.store.lock import ensure_data_dir
from smsgw.queue.store.refusals import StoreRefused
from smsgw.words import CLASSES

__all__ = ["main", "resolve_token", "token_hint", "with_default_key"]

log = logging.getLogger("smsgw")
TOKEN_FILE = "api-token"


def _data_dir(config: Config) -> Path:
    return Path(config.store.path).resolve().parent


def resolve_token(config: Config, environ: dict[str, str] | None = None) -> tuple[str, str]:
    """The default key's token and where it came from: SMSGW_TOKEN, or a file in the data dir
    (folder 0700) generated once with mode 0600; an existing file readable by others is
    narrowed to 0600."""
    env = os.environ if environ is None else environ
    if env.get("SMSGW_TOKEN"):
        return env["SMSGW_TOKEN"], "SMSGW_TOKEN"
    path = _data_dir(config) / TOKEN_FILE
    if path.exists():
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return path.read_text().strip(), str(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, str(path)


def with_default_key(config: Config) -> tuple[Config, str | None]:
    """A config with no [[keys]] gets one admin key named "default" (see
    :func:`resolve_token`): the only client, so it sees everything."""
    if config.keys:
        return config, None
    token, source = resolve_token(config)
    key = KeyConfig(name="default", token=token, rate=10_000.0, admin=True)
    return msgspec.structs.replace(config, keys=[key]), source


def token_hint(token: str, source: str) -> str:
    """Where the default key's token is, for the start-up banner: never the token itself
    (the banner lands in journals and terminals), at most its first four characters."""
    if source == "SMSGW_TOKEN":
        return "API token: from SMSGW_TOKEN"
    return f"API token: in {source} (starts {token[:4]}...)"


def load_checked(path: str | None) -> Config:
    """:func:`~smsgw.config.loader.load`, then the checks that need the queue's policy code
    (time zones, keyword lists, countries); every refusal is a :class:`ConfigError`."""
    config = load(path)
    try:
        Policy(config)
    except PolicyConfigError as e:
        raise ConfigError(path or "<embedded default>", e.field, e.reason) from None
    check_webhook_config(config, path or DEFAULT_CONFIG_NAME)
    return config


def _load_or_exit(path: str | None) -> Config:
    try:
        return load_checked(path)
    except ConfigError as e:
        print(f"smsgw: {e}", file=sys.stderr)
        raise SystemExit(2) from None


# -- serve -------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    if args.listen:
        try:
            parse_listen(args.listen)
        except ValueError as e:
            print(f"smsgw: --listen: {e}", file=sys.stderr)
            return 2
    # Everything smsgw creates (database and its -wal/-shm, token file, modem counters,
    # backups) is for this user alone, whatever umask the shell or unit started us with.
    os.umask(os.umask(0o077) | 0o077)
    config = _load_or_exit(args.config)
    if args.listen:
        config = msgspec.structs.replace(
            config, server=msgspec.structs.replace(config.server, listen=args.listen)
        )
    try:
        ensure_data_dir(config.store.path)  # before the API token is written there
        config, token_source = with_default_key(config)
    except StoreRefused as e:
        print(f"smsgw: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        folder = _data_dir(config)
        print(
            f"smsgw: {folder}: cannot keep the API token there ({e.strerror}); make the data"
            " directory writable, or set SMSGW_TOKEN",
            file=sys.stderr,
        )
        return 1
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    async def main() -> None:
        from smsgw.gateway.service import Gateway

        gateway = Gateway(config)
        for note in webhook_notes(config):
            (log.warning if note.startswith("warning") else log.info)("%s", note)
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(gateway.run)
            # What start-up built (config, routes, metrics, imported modules) lives as long as
            # the process: keep it out of every later collection. Rows and PDUs die young; a
            # larger first generation collects them in fewer, cheaper passes.
            gc.freeze()
            gc.set_threshold(20_000, 20, 100)
            shown = f"[{host}]" if ":" in host else host
            print(f"smsgw {__version__} listening on http://{shown}:{port}", flush=True)
            print(f"config: {args.config or DEFAULT_CONFIG_NAME}", flush=True)
            if token_source is not None:
                print(token_hint(config.keys[0].token, token_source), flush=True)
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    gateway.shutdown()
                    break
        print("smsgw stopped", flush=True)

    failed = 0
    try:
        trio.run(main)
    except* StoreRefused as group:
        # Start-up refusals are one line (file, reason, what to do), never a traceback.
        print(f"smsgw: {_first(group)}", file=sys.stderr)
        failed = 1
    except* StoreFatal:
        failed = 1  # the store's log line said what and why, once
    return failed


def _first(group: BaseExceptionGroup[StoreRefused]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


# -- check-config --------------------------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_checked(args.file)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 2
    routes = ", ".join(f"{r.name} ({type(r).__struct_config__.tag})" for r in config.routes)
    print(f"{args.file}: ok: {len(config.keys)} key(s), routes: {routes}")
    for line in notes(config):
        print(f"{args.file}: note: {line}")
    for note in webhook_notes(config):
        prefix = "" if note.startswith("warning") else "note: "
        print(f"{args.file}: {prefix}{note}")
    return 0


# -- client commands ---------------------------------------------------------------------------


def _client_token(args: argparse.Namespace) -> str:
    if args.token:
        return str(args.token)
    if os.environ.get("SMSGW_TOKEN"):
        return os.environ["SMSGW_TOKEN"]
    config = _load_or_exit(args.config)
    path = _data_dir(config) / TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    print("smsgw: no token: pass --token or set SMSGW_TOKEN", file=sys.stderr)
    raise SystemExit(2)


def _call(args: argparse.Namespace, method: str, path: str, body: bytes = b"") -> int:
    from smsgw.gateway.httpclient import HttpClientError, request

    headers = [("Authorization", f"Bearer {_client_token(args)}")]
    if body:
        headers.append(("Content-Type", "application/json"))
    try:
        status, reply = trio.run(
            lambda: request(method, args.url.rstrip("/") + path, body, headers, timeout=30)
        )
    except HttpClientError as e:
        print(f"smsgw: {args.url}: {e}", file=sys.stderr)
        return 1
    try:
        shown = msgspec.json.format(reply, indent=2).decode()
    except msgspec.DecodeError:
        shown = reply.decode("utf-8", "replace")
    print(shown)
    return 0 if status < 400 else 1


def cmd_send(args: argparse.Namespace) -> int:
    msg: dict[str, object] = {"to": args.to, "text": args.text, "class": args.msg_class}
    if args.sender:
        msg["from"] = args.sender
    if args.client_ref:
        msg["client_ref"] = args.client_ref
    if args.send_at:
        msg["send_at"] = args.send_at
    return _call(args, "POST", "/v1/messages", msgspec.json.encode(msg))


def cmd_status(args: argparse.Namespace) -> int:
    return _call(args, "GET", f"/v1/messages/{args.id}")


def cmd_contacts_import(args: argparse.Namespace) -> int:
    from smsgw.gateway.contacts_import import cli_send, import_file
    from smsgw.gateway.httpclient import HttpClientError

    send = cli_send(args.url, _client_token(args))
    try:
        with open(args.file, encoding="utf-8-sig", newline="") as f:
            totals = trio.run(lambda: import_file(f, send, progress=sys.stderr))
    except OSError as e:
        print(f"smsgw: {args.file}: {e.strerror or e}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as e:
        print(f"smsgw: {args.file}: not UTF-8 text ({e.reason})", file=sys.stderr)
        return 1
    except HttpClientError as e:
        print(f"smsgw: {args.url}: {e}", file=sys.stderr)
        return 1
    print(msgspec.json.format(msgspec.json.encode(totals.as_json()), indent=2).decode())
    return 0 if totals.stopped is None and totals.failed == 0 else 1


# -- store check / backup --------------------------------------------------------------------


def _store_path(args: argparse.Namespace) -> str:
    if args.path:
        return str(args.path)
    return _load_or_exit(args.config).store.path


def cmd_store_check(args: argparse.Namespace) -> int:
    from smsgw.queue.store.factory import check_store

    path = _store_path(args)
    try:
        result = check_store(path)
    except StoreRefused as e:
        print(f"smsgw: {e}", file=sys.stderr)
        return 1
    if result.ok:
        print(f"{path}: ok (schema {result.schema}, {result.pages} pages)")
        return 0
    for problem in result.problems:
        print(f"{path}: {problem}")
    print(
        f"{path}: {len(result.problems)} problem(s); restore the store from a backup"
        " (`smsgw store backup` takes one while the gateway runs)",
        file=sys.stderr,
    )
    return 1


def cmd_store_backup(args: argparse.Namespace) -> int:
    from smsgw.queue.store.factory import backup_store

    path = _store_path(args)
    try:
        result = backup_store(path, args.destination)
    except StoreRefused as e:
        print(f"smsgw: {e}", file=sys.stderr)
        return 1
    print(f"{path}: backed up to {result.destination} ({result.pages} pages, {result.bytes} bytes)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from smsgw.gateway.bench import main as bench_main

    return bench_main(args.rest)


def cmd_smsc_sim(args: argparse.Namespace) -> int:
    from smsgw.drivers.smpp.sim import main as sim_main

    return sim_main(args.rest)


def cmd_modems(args: argparse.Namespace) -> int:
    from smsgw.drivers.modem.probe import main as probe_main

    return probe_main(args.rest)


# -- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="smsgw", description="Self-hosted SMS gateway and dispatch server."
    )
    p.add_argument("--version", action="version", version=f"smsgw {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run the gateway", description="Run the gateway.")
    s.add_argument("-c", "--config", help="TOML config file (default: the embedded default)")
    s.add_argument("--listen", help="override server.listen (HOST:PORT)")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    s.set_defaults(func=cmd_serve)

    c = sub.add_parser(
        "check-config",
        help="check a config file",
        description="Check a config file; prints FILE: KEY: REASON on the first problem.",
    )
    c.add_argument("file")
    c.set_defaults(func=cmd_check_config)

    store = sub.add_parser(
        "store",
        help="check or back up the store",
        description="Store maintenance; both work while a gateway runs on the store.",
    )
    store_sub = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")

    def which_store(parser: argparse.ArgumentParser) -> None:
        g = parser.add_mutually_exclusive_group()
        g.add_argument("-c", "--config", help="config naming the store (default: the embedded)")
        g.add_argument("--path", help="the store's file (instead of a config)")

    chk = store_sub.add_parser(
        "check",
        help="run SQLite's integrity check (exit 0: sound, 1: not)",
        description="Run SQLite's integrity check on the store, read-only.",
    )
    which_store(chk)
    chk.set_defaults(func=cmd_store_check)
    bak = store_sub.add_parser(
        "backup",
        help="take an online backup (SQLite backup API) into PATH",
        description="Copy the store into PATH while the gateway runs (one consistent"
        " snapshot, checked, then moved into place).",
    )
    bak.add_argument("destination", metavar="PATH")
    which_store(bak)
    bak.set_defaults(func=cmd_store_backup)

    def client(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--url",
            default=os.environ.get("SMSGW_URL", "http://127.0.0.1:8080"),
            help="gateway URL (env SMSGW_URL)",
        )
        parser.add_argument("--token", help="API token (env SMSGW_TOKEN, or the data dir's)")
        parser.add_argument("-c", "--config", help="config whose data dir holds the token")

    snd = sub.add_parser("send", help="send one message", description="Send one message.")
    snd.add_argument("--to", required=True, help="E.164 destination")
    snd.add_argument("--text", required=True)
    snd.add_argument("--from", dest="sender")
    snd.add_argument(
        "--class",
        dest="msg_class",
        default="transactional",
        choices=CLASSES,
    )
    snd.add_argument("--client-ref")
    snd.add_argument("--send-at", help="RFC 3339 time")
    client(snd)
    snd.set_defaults(func=cmd_send)

    st = sub.add_parser("status", help="show a message", description="Show a message.")
    st.add_argument("id")
    client(st)
    st.set_defaults(func=cmd_status)

    contacts = sub.add_parser(
        "contacts", help="import contacts", description="Contacts of the key (see README)."
    )
    contacts_sub = contacts.add_subparsers(dest="contacts_command", required=True, metavar="ACTION")
    imp = contacts_sub.add_parser(
        "import",
        help="import a CSV file of contacts",
        description="Send a CSV file (header: number, first_name, last_name, locale, time_zone,"
        " tags, and attribute columns) to the gateway in pieces; a progress line on stderr,"
        " the totals and the first refused rows (with their lines) as JSON on stdout. Exits 1"
        " when a row was refused.",
    )
    imp.add_argument("file", help="the CSV file (UTF-8)")
    client(imp)
    imp.set_defaults(func=cmd_contacts_import)

    for name, func, text in (
        ("bench", cmd_bench, "measure throughput and latency (see smsgw bench --help)"),
        ("smsc-sim", cmd_smsc_sim, "run an SMPP carrier simulator (see smsgw smsc-sim --help)"),
        ("modems", cmd_modems, "list and probe USB modems (see smsgw modems --help)"),
    ):
        x = sub.add_parser(name, help=text, add_help=False)
        x.add_argument("rest", nargs=argparse.REMAINDER)
        x.set_defaults(func=func)
    return p


_OWN_PARSERS = {"bench", "smsc-sim", "modems"}
"""Commands that parse their own options (argparse's REMAINDER drops a leading ``-h``)."""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _OWN_PARSERS:
        args = argparse.Namespace(rest=argv[1:])
        func = {"bench": cmd_bench, "smsc-sim": cmd_smsc_sim, "modems": cmd_modems}[argv[0]]
        return int(func(args))
    args = build_parser().parse_args(argv)
    return int(args.func(args))
