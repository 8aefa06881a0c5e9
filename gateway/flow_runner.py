"""The flow runner: due flow steps become messages through the accept path.

Each round it takes the steps whose time came (oldest first), builds each one's message as a
POST would (the flow's key, its senders, routes and policies; the step's template or text
rendered with the event's data; ``client_ref`` ``flow:<flow>:<run>:<n>``) and hands them to
the store, which screens them with the consent and courtesy policy and schedules each run's
following step in the same commit. A step refused at the door (a missing variable, an
unknown template, no route) or by a policy is skipped with that reason and its run moves on;
a step due longer ago than its ``validity`` (the gateway was stopped) is dropped as expired.

Time: rounds are paced by ``trio.sleep`` (the autojump clock in tests); due times are wall
clock (the injected ``wall``). While the store cannot write, rounds are skipped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import msgspec
import trio

from smsgw.config.flows import FlowConfig, FlowStepConfig
from smsgw.config.schema import Config, KeyConfig
from smsgw.gateway.accept import Acceptor
from smsgw.gateway.api_templates import TemplatesApi
from smsgw.gateway.errors import GatewayError
from smsgw.gateway.schemas import SendRequest
from smsgw.metrics.instruments import Metrics
from smsgw.queue.campaigns.templates import (
    Compiled,
    CompiledTemplate,
    TemplateError,
    check_vars,
    compile_text,
    render,
)
from smsgw.queue.consent.policy import Policy
from smsgw.queue.flows.records import DueStep, Fired, FlowSpec, StepFire, client_ref
from smsgw.queue.flows.specs import flow_spec
from smsgw.queue.store import Store
from smsgw.queue.store.health import StoreUnavailable
from smsgw.queue.store.records import TemplateRow

__all__ = ["ROUND", "FlowRunner"]

ROUND = 0.25
"""Seconds between rounds: a step leaves at most about this late."""
BATCH = 500
"""Most steps fired in one commit."""

_encoder = msgspec.json.Encoder()
_Cache = dict[str, tuple[TemplateRow, CompiledTemplate] | None]


class FlowRunner:
    """Fires due flow steps; :meth:`run` loops until cancelled, :meth:`tick` is one round."""

    def __init__(
        self,
        config: Config,
        store: Store,
        acceptor: Acceptor,
        templates: TemplatesApi,
        policy: Policy,
        metrics: Metrics,
        wall: Callable[[], float],
    ) -> None:
        self.store = store
        self.acceptor = acceptor
        self.templates = templates
        self.policy = policy
        self.metrics = metrics
        self.wall = wall
        self.flows: dict[str, FlowConfig] = {f.name: f for f in config.flows}
        self.specs: dict[str, FlowSpec] = {f.name: flow_spec(f) for f in config.flows}
        self._keys: dict[str, KeyConfig] = {k.name: k for k in config.keys}
        self._texts: dict[tuple[str, int], Compiled | TemplateError] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fire due steps every :data:`ROUND` seconds until cancelled (cancellation between
        rounds, or within one before its commit, leaves the steps waiting)."""
        task_status.started()
        if not self.flows:
            await trio.sleep_forever()
        while True:
            with contextlib.suppress(StoreUnavailable):
                while len(await self.tick()) == BATCH:
                    pass
            await trio.sleep(ROUND)

    async def tick(self) -> list[Fired]:
        """One round: fire the steps due now (at most :data:`BATCH`); what became of each."""
        now = self.wall()
        due = await self.store.due_flow_steps(now, BATCH)
        if not due:
            return []
        cache: _Cache = {}
        fires = [await self._fire(step, now, cache) for step in due]
        fired = await self.store.fire_flow_steps(self.specs, fires, self.policy, now)
        by_sid = {f.sid: f for f in fires}
        for f in fired:
            if f.state != "gone":
                self.metrics.flow_steps.labels(f.flow, f.state).inc()
            msg = by_sid[f.sid].msg
            if f.state == "sent" and msg is not None:  # counted like a POST's message
                self.metrics.messages_accepted.labels(msg.msg_class).inc()
                self.metrics.parts_accepted.labels(msg.encoding).inc(len(msg.segments))
            if f.completed:
                self.metrics.flow_runs.labels(f.flow, "completed").inc()
        return fired

    async def _fire(self, step: DueStep, now: float, cache: _Cache) -> StepFire:
        flow = self.flows.get(step.flow)
        key = self._keys.get(step.key)
        if flow is None or key is None or step.n > len(flow.steps):
            return StepFire(sid=step.sid, reason="flow_removed")
        cfg = flow.steps[step.n - 1]
        if now > step.due_at + cfg.validity_seconds():
            return StepFire(sid=step.sid, expired=True, reason="expired")
        req = SendRequest(
            to=step.number,
            msg_class=cfg.msg_class,
            sender=cfg.sender,
            client_ref=client_ref(step.flow, step.run, step.n),
            track_links=cfg.track_links,
        )
        try:
            template: str | None = None
            if cfg.template:
                req.template, req.vars, template = cfg.template, step.data, cfg.template
                raw = _encoder.encode({"class": cfg.msg_class})
                req = (await self.templates.render_send(key, req, raw, "", cache)).request
            else:
                req.text = self._text(flow, step.n, cfg, step.data)
            prepared = self.acceptor.prepare(key, req, now, template=template)
        except GatewayError as e:
            return StepFire(sid=step.sid, reason=e.code)
        except TemplateError as e:
            return StepFire(sid=step.sid, reason=e.code)
        return StepFire(sid=step.sid, msg=prepared.msg, facts=prepared.facts)

    def _text(self, flow: FlowConfig, n: int, cfg: FlowStepConfig, data: dict[str, object]) -> str:
        compiled = self._texts.get((flow.name, n))
        if compiled is None:
            try:
                compiled = compile_text(cfg.text)
            except TemplateError as e:
                compiled = e
            self._texts[flow.name, n] = compiled
        if isinstance(compiled, TemplateError):
            raise compiled
        check_vars(data)
        return render(compiled, data)
