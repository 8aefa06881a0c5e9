"""The store: the durable queue behind one batch-shaped, transport-neutral interface.

:class:`Store` is what the API, the scheduler, the drivers' sink and the webhook worker call;
record types (msgspec Structs) cross it, SQL never does. The SQLite backend, with every SQL
statement, is :mod:`smsgw.queue.store.sqlite`.
"""

from smsgw.queue.store.health import StoreFatal, StoreUnavailable
from smsgw.queue.store.interface import AcceptResult, Store, StoreClosed
from smsgw.queue.store.lock import StoreLocked
from smsgw.queue.store.refusals import StoreRefused

__all__ = [
    "AcceptResult",
    "Store",
    "StoreClosed",
    "StoreFatal",
    "StoreLocked",
    "StoreRefused",
    "StoreUnavailable",
]
