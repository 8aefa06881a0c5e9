"""The store built from config: one factory for the service, the store commands and tests."""

from __future__ import annotations

from pathlib import Path

import msgspec

from smsgw.config.loader import parse
from smsgw.metrics.instruments import Metrics
from smsgw.queue.store.factory import backup_store, check_store, make_store
from tests.helpers import new_message

_CONFIG = """
[store]
path = "{path}"

[[routes]]
name = "sim"
driver = "simulator"
max_attempts = 2

[[rules]]
route = ["sim"]

[scheduler]
retry_base = 3.0
retry_max = 30.0
"""


async def test_the_store_is_where_config_says_and_keeps_its_retry_settings(
    tmp_path: Path,
) -> None:
    db = tmp_path / "data" / "q.db"
    config = parse(_CONFIG.format(path=db).encode(), "smsgw.toml", {})
    store = make_store(config, metrics=Metrics())
    assert store.policy.max_attempts == {"sim": 2}
    assert (store.policy.retry_base, store.policy.retry_max) == (3.0, 30.0)
    await store.open()
    try:
        [r] = await store.accept([new_message(1)])
    finally:
        await store.close()
    assert db.exists()
    # The store commands of the same backend read what it wrote.
    assert check_store(str(db)).ok
    copy = backup_store(str(db), str(tmp_path / "copy.db"))
    again = make_store(
        msgspec.structs.replace(
            config, store=msgspec.structs.replace(config.store, path=copy.destination)
        ),
        metrics=Metrics(),
    )
    await again.open()
    try:
        row = await again.get("shop", r.id)
    finally:
        await again.close()
    assert row is not None and row.status == "queued"
