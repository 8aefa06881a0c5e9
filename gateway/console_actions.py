"""What an operator may do from the ops console, each a POST with the token, each logged.

* pause and resume a route: its runner stops claiming (parts already handed to the driver
  still get their outcomes; the queue waits, it does not fail over: a paused route is not a
  down route), ``smsgw_route_paused`` says so;
* disconnect and reconnect a bind or modem: the driver holds it down (an SMPP bind drains and
  unbinds, a modem gives back what it holds) until reconnected; reconnect also cuts short the
  backoff of a link that is down for another reason;
* pause a campaign (or a flow) through its :class:`~smsgw.gateway.console_read.JobSource`,
  once smsgw has them;
* retry a message given up on (``failed`` or ``expired``): see
  :func:`smsgw.queue.store.sqlite.console.retry_message`.

Route, link and campaign actions need the ops token or an admin key (they act on every
tenant's traffic); a message may be retried by the key that owns it, an admin key or the ops
token. Every action that changed something is logged at INFO under ``smsgw.console`` with who
asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import msgspec

from smsgw.config.schema import Config, KeyConfig
from smsgw.gateway.console_model import Viewer
from smsgw.gateway.console_read import JobSource
from smsgw.gateway.errors import Conflict, Forbidden, NotFound
from smsgw.metrics.instruments import Metrics
from smsgw.queue.scheduling.scheduler import RouteRunner, Scheduler
from smsgw.queue.store import Store
from smsgw.words import CLASSES

__all__ = ["ActionReply", "Actions"]

log = logging.getLogger("smsgw.console")


class ActionReply(msgspec.Struct, frozen=True, kw_only=True):
    """The JSON answer to an action: what was done, in words too."""

    ok: bool = True
    action: str
    target: str
    message: str
    status: str | None = None
    """For a retry: the message's status now."""
    parts: int | None = None
    """For a retry: parts queued again."""


class Actions:
    """The console's actions over the gateway's parts."""

    def __init__(
        self,
        config: Config,
        store: Store,
        scheduler: Scheduler,
        metrics: Metrics,
        wall: Callable[[], float],
        jobs: Sequence[JobSource],
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.metrics = metrics
        self.wall = wall
        self.jobs = jobs
        self._validity: dict[str, float] = {c: config.scheduler.validity(c) for c in CLASSES}

    def route(self, viewer: Viewer, name: str, verb: str) -> ActionReply:
        """Pause or resume route ``name``; raises NotFound, Forbidden."""
        _need_admin(viewer)
        runner = self._runner(name)
        if verb == "pause":
            already = runner.paused
            runner.pause(self.wall())
            self.metrics.route_paused.labels(name).set(1)
            text = f"route {name} paused: it claims nothing until resumed"
        else:
            already = not runner.paused
            runner.resume()
            self.metrics.route_paused.labels(name).set(0)
            text = f"route {name} resumed"
        if already:
            text = f"route {name} was already {'paused' if verb == 'pause' else 'running'}"
        else:
            log.info("ops console: %s by %s", text, _who(viewer))
        return ActionReply(action=verb, target=name, message=text)

    def link(self, viewer: Viewer, route: str, link: str, verb: str) -> ActionReply:
        """Disconnect (hold) or reconnect a bind or modem; raises NotFound, Forbidden."""
        _need_admin(viewer)
        runner = self._runner(route)
        held = verb == "disconnect"
        if not runner.driver.hold_link(link, held):
            raise NotFound(f"route {route!r} has no bind or modem {link!r}", field="link")
        if held:
            text = f"{link} of route {route} disconnected: it stays down until reconnected"
        else:
            text = f"{link} of route {route} reconnecting"
        log.info("ops console: %s by %s", text, _who(viewer))
        return ActionReply(action=verb, target=f"{route}/{link}", message=text)

    async def job(self, viewer: Viewer, kind: str, job_id: str) -> ActionReply:
        """Pause a campaign or flow; raises NotFound (also while smsgw has none), Forbidden."""
        _need_admin(viewer)
        for source in self.jobs:
            if source.kind == kind and await source.pause(job_id):
                text = f"{kind} {job_id} paused"
                log.info("ops console: %s by %s", text, _who(viewer))
                return ActionReply(action="pause", target=job_id, message=text)
        raise NotFound(f"no running {kind} {job_id!r}", field="id")

    async def retry(self, viewer: Viewer, key: KeyConfig | None, public_id: str) -> ActionReply:
        """Queue again a failed or expired message; raises NotFound (also another key's
        message, for a non-admin key), Conflict ``not_retryable``."""
        scope = None if viewer.admin or key is None else key.name
        note = f"retried from the ops console by {_who(viewer)}"
        r = await self.store.retry_message(scope, public_id, self.wall(), self._validity, note)
        if r.result == "not_found":
            raise NotFound(f"no message {public_id!r}", field="id")
        if r.result == "not_retryable":
            raise Conflict(
                f"message {public_id} is {r.status}: only failed or expired messages can be"
                " retried",
                code="not_retryable",
                field="id",
            )
        text = f"message {public_id} ({r.previous}) queued again on route {r.route}"
        log.info("ops console: %s, %d part(s), by %s", text, r.parts, _who(viewer))
        return ActionReply(
            action="retry", target=public_id, message=text, status=r.status, parts=r.parts
        )

    def _runner(self, name: str) -> RouteRunner:
        runner = self.scheduler.runners.get(name)
        if runner is None:
            raise NotFound(f"no route {name!r}", field="route")
        return runner


def _need_admin(viewer: Viewer) -> None:
    if not viewer.admin:
        raise Forbidden(
            "only the ops token or an admin key may act on routes, links and campaigns",
            code="admin_only",
        )


def _who(viewer: Viewer) -> str:
    return "the ops token" if viewer.kind == "ops_token" else f"key {viewer.name}"
