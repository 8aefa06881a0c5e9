"""The store: the durable queue behind one batch-shaped, transport-neutral interface.

:class:`Store` (a protocol, :mod:`smsgw.queue.store.interface`) is what the API, the scheduler,
the drivers' sink and the webhook worker call; record types (msgspec Structs) cross it, SQL
never does. The SQLite backend, with every SQL statement, is :mod:`smsgw.queue.store.sqlite`;
:func:`smsgw.queue.store.factory.make_store` builds the configured one.
"""

from smsgw.queue.store.health import StoreClosed, StoreFatal, StoreUnavailable
from smsgw.queue.store.interface import Store
from smsgw.queue.store.lock import StoreLocked
from smsgw.queue.store.refusals import StoreRefused
from smsgw.queue.store.screening import AcceptResult

__all__ = [
    "AcceptResult",
    "Store",
    "StoreClosed",
    "StoreFatal",
    "StoreLocked",
    "StoreRefused",
    "StoreUnavailable",
]
