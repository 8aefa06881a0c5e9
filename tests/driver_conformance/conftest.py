"""ONE fixture, ``open_rig``, parametrised by backend: every test here runs on each driver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
import trio

from .backends import BACKENDS, Backend, Peer, Rig

OpenRig = Callable[..., AbstractAsyncContextManager[Rig]]


@pytest.fixture(params=BACKENDS, ids=[b.id for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    b: Backend = request.param
    return b


@pytest.fixture
async def open_rig(backend: Backend, tmp_path: Path) -> AsyncIterator[OpenRig]:
    """``async with open_rig(slow=..., refuse=...) as rig``: a driver (not started) on a fresh
    peer; leaving the block stops the driver and the peer."""
    async with trio.open_nursery() as nursery:

        def open_(*, slow: float = 0.0, refuse: int = 0) -> AbstractAsyncContextManager[Rig]:
            return backend.open(nursery, tmp_path, Peer(slow=slow, refuse=refuse))

        yield open_
        nursery.cancel_scope.cancel()


@pytest.fixture
async def rig(open_rig: OpenRig) -> AsyncIterator[Rig]:
    """A started driver on a peer that answers at once and accepts everything."""
    async with open_rig() as r:
        await r.start()
        yield r
