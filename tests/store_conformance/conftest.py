"""ONE fixture, ``harness``, parametrised by backend: every test here runs on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.policy_helpers import config

from .backends import BACKENDS, Backend, Harness
from .interface import Store

_POLICY = "quiet_classes = []\nfrequency_cap = 0"
"""The consent policy at accept and claim, without the courtesy rules (quiet hours and caps
have their own tests): the dispatch tests' numbers and times are not daytime anywhere."""
_KEYS = """
[[keys]]
name = "careful"
token = "careful-token-0123456789"
marketing_requires_consent = true
"""
"""Besides "shop" and "other": a key whose marketing goes only where a consent record is."""


@pytest.fixture(params=BACKENDS, ids=[b.id for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    b: Backend = request.param
    reason = b.unavailable()
    if reason is not None:
        pytest.skip(f"store backend {b.id} is not available here: {reason}")
    return b


@pytest.fixture
async def harness(backend: Backend, tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(backend, tmp_path, config(_POLICY, _KEYS))
    await h.open()
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
def store(harness: Harness) -> Store:
    """The harness's open store (reopening through the harness replaces it)."""
    return harness.store
