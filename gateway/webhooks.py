"""Webhook delivery: status changes and inbound messages POSTed to the store's URLs.

Deliveries live in the store's ``webhooks`` table, written in the same transaction as the change
they report, so a restart loses none. The worker:

- wakes when rows are committed (the store tells it which lanes got rows), so a delivery
  starts milliseconds after its commit; timers only for retries and paused receivers;
- claims rows per lane (key and receiver) and starts them under caps over all, per key and per
  receiver, taking keys and lanes in turn (:mod:`smsgw.gateway.webhook_lanes`), so one slow or
  dead receiver holds only its own slots;
- sends them over keep-alive connections (:mod:`smsgw.gateway.httpclient`) to addresses the
  target policy accepts after DNS (:mod:`smsgw.gateway.webhook_targets`), signed
  (:mod:`smsgw.gateway.webhook_signing`);
- leaves a receiver that keeps timing out alone for a while (:mod:`~smsgw.gateway.webhook_breaker`):
  its rows wait in the store, unattempted;
- records results in batches: one store call per cycle records everything that finished
  since the last one and claims what is next;
- per message, one delivery at a time, in order, across retries.

Outcomes: a 2xx is done (the row is deleted); another status, a timeout or a transport error
is retried with backoff until ``max_attempts`` (then given up); a refused target or a URL that
cannot be sent (an old row) fails at once, for good, with its reason in ``last_error``.

An unexpected exception in one delivery is that delivery's failed attempt, counted in
``smsgw_task_failures_total{task="webhooks"}``; one in the worker's loop restarts it (with
backoff), after handing back what it held. Neither ends the gateway.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial

import trio

from smsgw.config.schema import Config
from smsgw.drivers.backoff import backoff
from smsgw.drivers.supervise import contained, supervised
from smsgw.gateway.httpclient import HttpClientError, InvalidUrl, Pool, parse_url
from smsgw.gateway.webhook_breaker import Breaker
from smsgw.gateway.webhook_lanes import Lanes
from smsgw.gateway.webhook_signing import Signer, sign
from smsgw.gateway.webhook_targets import TargetPolicy, check_webhook_config, key_secrets
from smsgw.metrics.instruments import Metrics
from smsgw.queue.store import Store
from smsgw.queue.store.health import outlasting
from smsgw.queue.store.records import DEAD_KEPT, Finished, Lane, WebhookJob

__all__ = ["DELIVERY_RESULTS", "WebhookWorker", "sign"]

DELIVERY_RESULTS = ("ok", "failed", "gave_up", "refused")
"""``smsgw_webhook_deliveries_total{result}``."""

log = logging.getLogger("smsgw.webhooks")

MAX_ANSWER = 64 * 1024
"""Bytes of a receiver's answer body read (and dropped); more is a failed attempt."""
_REAP_EVERY = 1.0
_LINGER = 0.005
"""Seconds between store steps while deliveries keep finishing (batches their results)."""
_PURGE_EVERY = 3600.0
_BREAKER_KINDS = frozenset({"timeout", "connect", "dns", "tls"})


class _Outcome:
    __slots__ = ("error", "kind", "permanent")

    def __init__(self, error: str = "", *, kind: str = "", permanent: bool = False) -> None:
        self.error = error
        self.kind = kind
        self.permanent = permanent


_OK = _Outcome()


class WebhookWorker:
    """Delivers due webhooks until cancelled; see the module docstring."""

    def __init__(
        self,
        store: Store,
        config: Config,
        metrics: Metrics,
        wall: Callable[[], float],
        *,
        pool: Pool | None = None,
    ) -> None:
        check_webhook_config(config, "<config>")
        self.store = store
        self.config = config.webhooks
        self.metrics = metrics
        self.wall = wall
        self.targets = TargetPolicy(config)
        """Where deliveries may go; :meth:`TargetPolicy.set_own` once the API listens."""
        self.keys = {k.name for k in config.keys}
        self.signer = Signer({k.name: key_secrets(k) for k in config.keys})
        self._pool_given = pool
        self.pool = pool or self._new_pool()
        c = self.config
        self.lanes = Lanes(concurrency=c.concurrency, per_key=c.per_key, per_origin=c.per_origin)
        self.breakers: dict[str, Breaker] = {}
        self._finished = Finished()
        self._wake = trio.Event()
        self._ok = metrics.webhook_deliveries.labels("ok")
        self._failed = metrics.webhook_deliveries.labels("failed")
        self._gave_up = metrics.webhook_deliveries.labels("gave_up")
        self._refused = metrics.webhook_deliveries.labels("refused")
        self._failures = metrics.task_failures.labels("webhooks")
        self._open = metrics.webhook_circuits_open
        self._nursery: trio.Nursery | None = None
        self.steps = 0
        """Store calls made to record and claim (statistics: one per cycle, not per delivery)."""
        self.recorded = 0
        """Deliveries whose outcome (done, retry, dead) is committed."""
        self._progress = trio.Event()

    def _new_pool(self) -> Pool:
        c = self.config
        return Pool(
            max_idle_per_origin=c.per_origin,
            max_idle=max(64, 2 * c.concurrency),
            idle_timeout=c.idle_timeout,
        )

    # -- running -------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver until cancelled; ready once the first session has taken back what the
        last process held (``task_status.started()``)."""
        self.store.on_webhooks = self._committed
        pending = [task_status]

        async def session() -> None:
            await self._session(pending)

        # A store outage is waited out (outlasting), not counted as the worker's failure.
        await supervised(
            "webhooks",
            partial(outlasting, self.store.health, session),
            on_failure=self._task_failed,
        )

    def _task_failed(self, task: str) -> None:
        self._failures.inc()

    async def _session(self, starting: list[trio.TaskStatus[None]]) -> None:
        """One life of the worker: take back what was held, then loop. On its way out it
        records what finished (shielded, briefly); what was still in flight is taken back
        by the next session or the next start."""
        self.lanes = Lanes(
            concurrency=self.config.concurrency,
            per_key=self.config.per_key,
            per_origin=self.config.per_origin,
        )
        self._finished = Finished()
        if self._pool_given is None:
            self.pool = self._new_pool()
        released, waiting = await self.store.release_webhooks()
        if released:
            log.info("%d webhook deliveries interrupted by the last stop are due again", released)
        for info in waiting:
            lane = self.lanes.lane(*info.lane)
            lane.due_at = info.next_at
        if starting:
            starting.pop().started()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self._loop()
        finally:
            self._nursery = None
            await self.pool.aclose()
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + 2.0
                if self._finished:
                    finished, self._finished = self._finished, Finished()
                    await self.store.webhook_step(finished, [], self.wall())

    def _recorded(self, finished: Finished) -> None:
        self.recorded += len(finished.done) + len(finished.retry) + len(finished.dead)
        self._progress.set()
        self._progress = trio.Event()

    async def wait_recorded(self, n: int) -> None:
        """Return once ``n`` delivery outcomes were committed in all (tests and tools)."""
        while self.recorded < n:
            await self._progress.wait()

    def _committed(self, lanes: Mapping[Lane, int]) -> None:
        """The store committed new rows (called in trio, right after the commit)."""
        for key, origin in lanes:
            self.lanes.lane(key, origin).more = True
        self._wake.set()

    async def _loop(self) -> None:
        next_reap = trio.current_time() + _REAP_EVERY
        next_purge = trio.current_time()
        last_step = -math.inf
        while True:
            # Under load, gather for a moment so one commit records many outcomes (a commit
            # costs about the same for 1 row as for 50) -- but never while slots could be
            # filled and nothing is ready to fill them.
            wait = last_step + _LINGER - trio.current_time()
            if wait > 0 and self._finished and self.lanes.ready_total():
                await trio.sleep(wait)
            now = self.wall()
            claims = self.lanes.plan(now, self._paused)
            t = trio.current_time()
            if t >= next_purge:
                self._finished.purge_before = now - DEAD_KEPT
                next_purge = t + _PURGE_EVERY
            if claims or self._finished:
                self._wake = trio.Event()
                finished, self._finished = self._finished, Finished()
                self.steps += 1
                last_step = trio.current_time()
                results = await self.store.webhook_step(finished, claims, now)
                self._recorded(finished)
                for claim, got in zip(claims, results, strict=True):
                    for job, at in self.lanes.claimed(claim, got.jobs, got.next_at):
                        self._finished.release.append((job.wid, at))
                for _wid, mid, _at, _error in finished.retry:
                    if mid is not None:
                        self.lanes.retrying.pop(mid, None)
                self._dispatch()
                continue
            self._dispatch()
            if t >= next_reap:
                await self.pool.reap()
                self.lanes.forget_idle()
                self._forget_breakers()
                next_reap = t + _REAP_EVERY
            with trio.move_on_after(self._sleep_for(now, next_reap - t)):
                await self._wake.wait()
            self._wake = trio.Event()

    def _sleep_for(self, now: float, until_reap: float) -> float:
        """Seconds until a lane with room has rows due, or a breaker lets a probe through."""
        delay = max(until_reap, 0.0)
        t = trio.current_time()
        for state in self.lanes.lanes.values():
            if (state.due_at is None and not state.more) or self.lanes.room(state) <= 0:
                continue
            breaker = self.breakers.get(state.origin)
            if breaker is not None and breaker.state == "open":
                delay = min(delay, breaker.opened_until - t)
            elif state.due_at is not None:
                delay = min(delay, state.due_at - now)
        return max(delay, 0.001)

    def _paused(self, origin: str) -> bool:
        """True while the receiver's breaker is open (no claims, no attempts)."""
        breaker = self.breakers.get(origin)
        return (
            breaker is not None
            and breaker.state == "open"
            and not breaker.allows(trio.current_time())
        )

    def _blocked(self, origin: str) -> bool:
        breaker = self.breakers.get(origin)
        return breaker is not None and not breaker.allows(trio.current_time())

    def _dispatch(self) -> None:
        assert self._nursery is not None
        while True:
            job = self.lanes.next_job(self._blocked)
            if job is None:
                return
            breaker = self.breakers.get(job.origin)
            if breaker is not None:
                breaker.started()
            self._nursery.start_soon(self._deliver, job)

    # -- one delivery --------------------------------------------------------------------

    async def _deliver(self, job: WebhookJob) -> None:
        outcome = _Outcome("internal error (logged)")

        async def attempt() -> None:
            nonlocal outcome
            outcome = await self._attempt(job)

        await contained(
            "webhooks", attempt, on_failure=self._task_failed, context=f"delivery {job.event_id}"
        )
        self._finish(job, outcome)

    async def _attempt(self, job: WebhookJob) -> _Outcome:
        if job.key not in self.keys:
            return _Outcome(f"key {job.key!r} is no longer configured", permanent=True)
        try:
            url = parse_url(job.url)
        except InvalidUrl as e:
            return _Outcome(f"invalid URL: {e}", kind="url", permanent=True)
        headers = self.signer.headers(job.key, job.event_id, job.body, int(self.wall()))
        try:
            response = await self.pool.request(
                b"POST",
                url,
                headers,
                job.body,
                timeout=self.config.timeout,
                allow=self.targets.allow(job.key),
                max_body=MAX_ANSWER,
            )
        except HttpClientError as e:
            return _Outcome(str(e), kind=e.kind, permanent=e.permanent)
        if 200 <= response.status < 300:
            return _OK
        return _Outcome(f"HTTP {response.status}", kind="status")

    def _finish(self, job: WebhookJob, outcome: _Outcome) -> None:
        breaker = self.breakers.get(job.origin)
        now = trio.current_time()
        if outcome is _OK:
            self._ok.inc()
            self._finished.done.append(job.wid)
            if breaker is not None:
                breaker.succeeded()
            self._release(self.lanes.finish(job), 0.0)
        elif outcome.permanent or job.attempts + 1 >= self.config.max_attempts:
            (self._refused if outcome.permanent else self._gave_up).inc()
            reason = (
                outcome.error
                if outcome.permanent
                else f"gave up after {job.attempts + 1} attempts: {outcome.error}"
            )
            log.warning("webhook %s to %s failed for good: %s", job.event_id, job.url, reason)
            self._finished.dead.append((job.wid, reason))
            self.lanes.finish(job)
        else:
            self._failed.inc()
            delay = backoff(job.attempts + 1, self.config.retry_base, self.config.retry_max)
            at = self.wall() + delay
            self._finished.retry.append((job.wid, job.mid, at, outcome.error))
            self._release(self.lanes.finish(job, retry_at=at), at)
            if outcome.kind in _BREAKER_KINDS:
                if breaker is None:
                    c = self.config
                    breaker = self.breakers[job.origin] = Breaker(
                        c.breaker_failures, c.breaker_cooldown
                    )
                if breaker.failed(now):
                    self._opened(job.origin, breaker)
            elif breaker is not None:
                breaker.answered()
        self._wake.set()  # Lanes.finish marked the lane: the next step claims it again
        if self._nursery is not None:  # the freed slot goes to the next job at once
            self._dispatch()

    def _opened(self, origin: str, breaker: Breaker) -> None:
        log.warning(
            "webhook receiver %s keeps failing (timeouts or connection errors): left alone"
            " for %.0f s",
            origin,
            breaker.opened_until - trio.current_time(),
        )
        paused_for = breaker.opened_until - trio.current_time()
        self._release(self.lanes.release_origin(origin), self.wall() + paused_for)
        self._open.set(sum(1 for b in self.breakers.values() if b.state != "closed"))

    def _release(self, jobs: Sequence[WebhookJob], not_before: float) -> None:
        self._finished.release.extend((j.wid, not_before) for j in jobs)

    def _forget_breakers(self) -> None:
        for origin in [o for o, b in self.breakers.items() if b.idle]:
            del self.breakers[origin]
        self._open.set(sum(1 for b in self.breakers.values() if b.state != "closed"))
