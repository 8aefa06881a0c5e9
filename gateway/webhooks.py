"""Webhook delivery: status changes and inbound messages POSTed to the store's URLs.

Deliveries live in the store's ``webhooks`` table, written in the same transaction as the change
they report, so a restart loses none. This worker leases due rows, POSTs them concurrently (a
slow receiver holds one slot, never the dispatch path), deletes them on a 2xx and otherwise
retries with backoff until ``max_attempts``.

Signature: ``X-Smsgw-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with
``X-Smsgw-Timestamp: <unix seconds>``; receivers should reject stale timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping

import trio

from smsgw.config.schema import WebhookConfig
from smsgw.gateway.httpclient import HttpClientError, request
from smsgw.metrics.instruments import Metrics
from smsgw.queue.ops_read import WebhookJob
from smsgw.queue.retry import backoff
from smsgw.queue.store import Store

__all__ = ["DELIVERY_RESULTS", "WebhookWorker", "sign"]

DELIVERY_RESULTS = ("ok", "failed", "gave_up")
"""``smsgw_webhook_deliveries_total{result}``."""

log = logging.getLogger("smsgw.webhooks")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


class WebhookWorker:
    """Delivers due webhooks until cancelled."""

    def __init__(
        self,
        store: Store,
        config: WebhookConfig,
        secrets: Mapping[str, str],
        metrics: Metrics,
        wall: Callable[[], float],
        *,
        poll: float = 0.5,
    ) -> None:
        self.store = store
        self.config = config
        self.secrets = secrets
        self.metrics = metrics
        self.wall = wall
        self.poll = poll
        self._limiter = trio.CapacityLimiter(config.concurrency)
        self._ok = metrics.webhook_deliveries.labels("ok")
        self._failed = metrics.webhook_deliveries.labels("failed")
        self._gave_up = metrics.webhook_deliveries.labels("gave_up")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        released = await self.store.release_webhooks(self.wall())
        if released:
            log.info("%d webhook deliveries interrupted by the last stop are due again", released)
        task_status.started()
        async with trio.open_nursery() as nursery:
            while True:
                # Hold a slot while asking, so a full house waits for a delivery to end, not
                # for the poll interval.
                async with self._limiter:
                    free = int(self._limiter.available_tokens) + 1
                    jobs = await self.store.due_webhooks(
                        self.wall(), free, lease=self.config.timeout * 3
                    )
                for job in jobs:
                    await self._limiter.acquire_on_behalf_of(job.wid)
                    nursery.start_soon(self._deliver, job)
                if not jobs:
                    await trio.sleep(self.poll)

    async def _deliver(self, job: WebhookJob) -> None:
        try:
            ts = int(self.wall())
            headers = [("Content-Type", "application/json"), ("X-Smsgw-Timestamp", str(ts))]
            secret = self.secrets.get(job.key, "")
            if secret:
                headers.append(("X-Smsgw-Signature", sign(secret, ts, job.body)))
            try:
                status, _ = await request(
                    "POST", job.url, job.body, headers, timeout=self.config.timeout
                )
                error = "" if 200 <= status < 300 else f"HTTP {status}"
            except HttpClientError as e:
                error = str(e)
            if not error:
                self._ok.inc()
                await self.store.webhook_done([job.wid])
                return
            attempt = job.attempts + 1
            if attempt >= self.config.max_attempts:
                self._gave_up.inc()
                log.warning("webhook to %s dropped after %d attempts: %s", job.url, attempt, error)
                await self.store.webhook_retry(job.wid, None, error)
                return
            self._failed.inc()
            delay = backoff(attempt, self.config.retry_base, self.config.retry_max)
            await self.store.webhook_retry(job.wid, self.wall() + delay, error)
        finally:
            self._limiter.release_on_behalf_of(job.wid)
