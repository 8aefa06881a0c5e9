"""Supervision for long-running tasks: an unexpected exception is one unit's failure, never the
gateway's end.

Every layer uses this (drivers are the bottom layer, so it lives here and imports nothing of
ours): the webhook worker, each route's links, the scheduler's timers, the stats loop.
:func:`supervised` runs a task function again and again; when it raises something other than
cancellation or a :class:`Fatal` error, the exception is logged once with its traceback and the
task's name, counted through ``on_failure`` (``smsgw_task_failures_total{task}``), and the task
starts again after an exponential backoff with jitter. A task that ran healthily for a while
before failing starts again at the shortest delay.

Only :class:`Fatal` (a failure of the store itself, a broken invariant the process cannot
recover from) and cancellation pass through: they stop the nursery, which is the shutdown path.

:func:`contained` is the same idea for one unit of work inside a loop (one webhook delivery,
one inbound batch): it returns whether the unit succeeded instead of restarting anything.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import NoReturn

import trio

from smsgw.drivers.backoff import backoff

__all__ = ["Fatal", "contained", "supervised"]

log = logging.getLogger("smsgw.supervise")

HEALTHY_AFTER = 60.0
"""Seconds a task must run before a failure is treated as a first failure again."""


class Fatal(Exception):
    """An error that must stop the gateway (the store is gone, not just busy or full)."""


def _is_passthrough(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_is_passthrough(e) for e in exc.exceptions)
    return isinstance(exc, trio.Cancelled | Fatal | KeyboardInterrupt | SystemExit)


async def supervised(
    name: str,
    fn: Callable[[], Awaitable[object]],
    *,
    on_failure: Callable[[str], None],
    backoff_min: float = 1.0,
    backoff_max: float = 60.0,
    rng: random.Random | None = None,
) -> NoReturn:
    """Run ``fn()`` forever: restart it after it raises (see the module docstring) or returns.

    ``on_failure(name)`` is called once per failure (count it). Raises only what
    :func:`_is_passthrough` lets through: cancellation, :class:`Fatal`, interpreter exit.
    """
    rng = rng or random.Random()
    failures = 0
    while True:
        started = trio.current_time()
        try:
            await fn()
        except BaseException as exc:
            if _is_passthrough(exc):
                raise
            if trio.current_time() - started >= HEALTHY_AFTER:
                failures = 0
            failures += 1
            on_failure(name)
            log.error("task %s failed (%d in a row); restarting", name, failures, exc_info=exc)
        else:
            # A supervised task is meant to run until cancelled; returning is a bug, treated
            # like a failure so it cannot spin.
            failures += 1
            on_failure(name)
            log.error("task %s returned; restarting", name)
        await trio.sleep(backoff(failures, backoff_min, backoff_max, rng))


async def contained(
    name: str,
    fn: Callable[[], Awaitable[object]],
    *,
    on_failure: Callable[[str], None],
    context: str = "",
) -> bool:
    """Run one unit of work; an unexpected exception is logged, counted and swallowed.

    Returns True when ``fn`` completed. Cancellation and :class:`Fatal` pass through.
    """
    try:
        await fn()
    except BaseException as exc:
        if _is_passthrough(exc):
            raise
        on_failure(name)
        log.error("task %s: unit failed%s", name, f" ({context})" if context else "", exc_info=exc)
        return False
    return True
