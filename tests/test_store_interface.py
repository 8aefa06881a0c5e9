"""The store interface is the whole of what the gateway may call: every public call of the
SQLite backend is declared on the protocol (so a second backend knows what to implement), and
the gateway's code types its store as the protocol, never as the backend."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

from smsgw.queue.store import Store
from smsgw.queue.store.sqlite.store import SqliteStore

ROOT = Path(__file__).resolve().parent.parent

BACKEND_ONLY = {"call", "evidence"}
"""SQLite-only: ``call`` runs a function in the writer thread (tests look underneath with
it); ``evidence`` is a constructor setting."""


def _public(names: set[str]) -> set[str]:
    return {n for n in names if not n.startswith("_")}


def _declared(cls: type) -> set[str]:
    """What ``cls`` and its bases (the backend's mixins) define, less ``object``'s."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is not object and klass.__module__.startswith("smsgw."):
            names |= set(vars(klass)) | set(getattr(klass, "__annotations__", {}))
    return _public(names)


def _instance_attributes(cls: type) -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))  # type: ignore[misc]
    return _public(
        {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and isinstance(node.ctx, ast.Store)
        }
    )


def test_every_public_call_of_the_sqlite_store_is_on_the_interface() -> None:
    backend = _declared(SqliteStore) | _instance_attributes(SqliteStore)
    interface = _declared(Store)
    assert backend - BACKEND_ONLY - interface == set(), "add these to queue/store/interface.py"
    assert interface - backend == set(), "the SQLite store lacks these calls of the interface"


def _parameters(fn: object) -> list[tuple[str, object, object]]:
    # Names, kinds and defaults; the types themselves are mypy's to compare (the factory
    # returns a SqliteStore as a Store, so a mismatch fails type checking).
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]  # type: ignore[arg-type]


def test_the_interface_parameters_match_the_sqlite_store() -> None:
    checked = 0
    for name in sorted(_public(set(vars(Store)))):
        declared = getattr(Store, name)
        if not inspect.isfunction(declared):
            continue
        assert _parameters(getattr(SqliteStore, name)) == _parameters(declared), name
        checked += 1
    assert checked > 30


def _imports_backend(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "smsgw.queue.store.sqlite.store":
            return True
        if isinstance(node, ast.Import) and any(
            a.name == "smsgw.queue.store.sqlite.store" for a in node.names
        ):
            return True
    return False


def test_only_the_factory_builds_the_sqlite_backend() -> None:
    importers = sorted(
        str(path.relative_to(ROOT))
        for layer in ("gateway", "queue", "drivers")
        for path in (ROOT / layer).rglob("*.py")
        if _imports_backend(path)
    )
    assert importers == ["queue/store/factory.py"]
