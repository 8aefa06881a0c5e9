"""``/v1/events`` and ``/v1/flows``: the events that start and stop flows, and what the flows
did.

* ``POST /v1/events`` ``{"type", "number", "ref"?, "data"?, "at"?}``, or ``{"events": [...]}``
  (at most ``limits.max_batch``): ``202`` and, per event, the runs it started, stopped and
  skipped (with why). The event and the runs it changes are one commit. A bad field is a 422
  naming it (in a batch, the item's error in place).
* ``GET /v1/flows``: the key's flows (from config) with their runs by state.
* ``GET /v1/flows/{name}``: the definition and, per step, how many were scheduled, sent,
  cancelled, skipped, expired, and their messages delivered.
* ``GET /v1/flows/{name}/runs?number=&after=&limit=``: runs, each step's state (waiting until
  when, sent as which message, cancelled by which event, skipped for which reason).

Everything is scoped to the API key: a key sees only its own flows and events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

import msgspec

from smsgw.config.flows import FlowConfig
from smsgw.config.schema import Config, KeyConfig
from smsgw.drivers.text import parse_decimal
from smsgw.gateway.accept import SEND_AT_SKEW, Acceptor
from smsgw.gateway.errors import GatewayError, Invalid, NotFound
from smsgw.gateway.http import Request, Response
from smsgw.gateway.schemas import ErrorReply, SendRequest
from smsgw.gateway.schemas_flows import (
    EventBody,
    EventReply,
    EventsReply,
    FlowDetail,
    FlowList,
    FlowSummary,
    RunPage,
    RunRef,
    RunSkipped,
    RunStopped,
    RunView,
    StepDetail,
    StepView,
)
from smsgw.metrics.instruments import Metrics
from smsgw.queue.flows.records import EventResult, FlowCounts, FlowSpec, NewEvent, RunRow, StepStats
from smsgw.queue.flows.specs import flow_spec
from smsgw.queue.model import rfc3339
from smsgw.queue.store import Store

__all__ = ["FlowsApi"]

Handler = Callable[[Request, KeyConfig | None], Awaitable[Response]]
Decode = Callable[[msgspec.json.Decoder[Any], bytes | msgspec.Raw, str], Any]

_JSON = [("content-type", "application/json")]
_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(EventBody)
_envelope_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_PREFIX = "/v1/flows/"
_RUNS = "/runs"


class FlowsApi:
    """The handlers; ``routes``, ``prefixed`` and ``suffixed`` are what
    :class:`~smsgw.gateway.api.Api` serves."""

    def __init__(
        self,
        config: Config,
        store: Store,
        acceptor: Acceptor,
        metrics: Metrics,
        *,
        wall: Callable[[], float],
        decode: Decode,
    ) -> None:
        self.config = config
        self.store = store
        self.acceptor = acceptor
        self.metrics = metrics
        self.wall = wall
        self._decode = decode
        self._flows: dict[str, list[FlowConfig]] = {}
        self._specs: dict[str, list[FlowSpec]] = {}
        for f in config.flows:
            self._flows.setdefault(f.key, []).append(f)
            self._specs.setdefault(f.key, []).append(flow_spec(f))
        self.routes: dict[str, dict[str, Handler]] = {
            "/v1/events": {"POST": self._events},
            "/v1/flows": {"GET": self._list},
        }
        self.prefixed: dict[str, tuple[str, dict[str, Handler]]] = {
            _PREFIX: ("/v1/flows/{name}", {"GET": self._get})
        }
        self.suffixed: dict[tuple[str, str], tuple[str, dict[str, Handler]]] = {
            (_PREFIX, _RUNS): ("/v1/flows/{name}/runs", {"GET": self._runs})
        }

    # -- events ----------------------------------------------------------------------------

    async def _events(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        body = request.body
        now = self.wall()
        if b'"events"' in body:
            envelope = self._decode(_envelope_decoder, body, "")
            if set(envelope) == {"events"}:
                return await self._batch(key, envelope["events"], now)
        event = self._event(key, body, "", now)
        [result] = await self.store.record_events(self._specs.get(key.name, []), [event])
        self._count(result)
        return Response(202, _encoder.encode(_reply(event, result)), _JSON)

    async def _batch(self, key: KeyConfig, raw: msgspec.Raw, now: float) -> Response:
        items = self._decode(_list_decoder, raw, "events")
        limit = self.config.limits.max_batch
        if len(items) > limit:
            raise Invalid(
                f"a batch holds at most {limit} events, got {len(items)}",
                field="events",
                code="batch_too_large",
            )
        if not items:
            raise Invalid("'events' is empty", field="events", code="empty_batch")
        replies: list[EventReply | ErrorReply | None] = [None] * len(items)
        good: list[tuple[int, NewEvent]] = []
        for i, item in enumerate(items):
            try:
                good.append((i, self._event(key, item, f"events[{i}].", now)))
            except GatewayError as e:
                replies[i] = e.body()
        if good:
            specs = self._specs.get(key.name, [])
            results = await self.store.record_events(specs, [e for _, e in good])
            for (i, event), result in zip(good, results, strict=True):
                self._count(result)
                replies[i] = _reply(event, result)
        reply = EventsReply(events=[r for r in replies if r is not None])
        return Response(202, _encoder.encode(reply), _JSON)

    def _event(self, key: KeyConfig, raw: bytes | msgspec.Raw, fp: str, now: float) -> NewEvent:
        body: EventBody = self._decode(_event_decoder, raw, fp)
        try:
            number, _ = self.acceptor.destination(SendRequest(to=body.number))
        except Invalid as e:
            raise Invalid(_number_message(e), field=fp + "number", code=e.code) from None
        at = now
        if body.at is not None:
            if body.at.tzinfo is None:
                raise Invalid(
                    "'at' must carry a time zone (RFC 3339, e.g. 2026-01-01T09:00:00Z)",
                    field=fp + "at",
                    code="invalid_time",
                )
            at = body.at.astimezone(UTC).timestamp()
            if at > now + SEND_AT_SKEW:
                raise Invalid("'at' is in the future", field=fp + "at", code="at_in_future")
            at = min(at, now)
        return NewEvent(
            key=key.name,
            type=body.type,
            number=number,
            ref=body.ref,
            data=body.data,
            at=at,
            received_at=now,
        )

    def _count(self, result: EventResult) -> None:
        for flow, _ in result.started:
            self.metrics.flow_runs.labels(flow, "started").inc()
        for s in result.skipped:
            self.metrics.flow_runs.labels(s.flow, "skipped").inc()
        for st in result.stopped:
            self.metrics.flow_runs.labels(st.flow, "stopped").inc()
            if st.cancelled:
                self.metrics.flow_steps.labels(st.flow, "cancelled").inc(len(st.cancelled))

    # -- flows -----------------------------------------------------------------------------

    async def _list(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        flows = self._flows.get(key.name, [])
        stats = await self.store.flow_stats(key.name, [f.name for f in flows])
        reply = FlowList(
            flows=[
                FlowSummary(
                    name=f.name,
                    trigger=f.trigger,
                    stop_on=list(f.stop_on),
                    steps=len(f.steps),
                    runs=_counts(stats[f.name][0]),
                )
                for f in flows
            ]
        )
        return Response(200, _encoder.encode(reply), _JSON)

    def _flow(self, key: KeyConfig, name: str) -> FlowConfig:
        for f in self._flows.get(key.name, []):
            if f.name == name:
                return f
        raise NotFound(f"no flow {name!r} for this key", field="name", code="unknown_flow")

    async def _get(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        flow = self._flow(key, request.path[len(_PREFIX) :])
        counts, steps = (await self.store.flow_stats(key.name, [flow.name]))[flow.name]
        spec = flow_spec(flow)
        by_n = {s.n: s for s in steps}
        reply = FlowDetail(
            name=flow.name,
            trigger=flow.trigger,
            stop_on=list(flow.stop_on),
            match_ref=flow.match_ref,
            once_per=spec.once_per,
            runs=_counts(counts),
            steps=[
                StepDetail(
                    n=n,
                    delay=spec.steps[n - 1].delay,
                    after=s.after,
                    template=s.template or None,
                    text=s.text or None,
                    msg_class=s.msg_class,
                    stats=_step_stats(by_n.get(n, StepStats(n=n))),
                )
                for n, s in enumerate(flow.steps, 1)
            ],
        )
        return Response(200, _encoder.encode(reply), _JSON)

    async def _runs(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        flow = self._flow(key, request.path[len(_PREFIX) : -len(_RUNS)])
        q = request.query
        after = _int(q, "after", 0, 0, 2**62)
        limit = _int(q, "limit", 100, 1, 1000)
        number = q.get("number") or None
        if number is not None:
            try:
                number, _ = self.acceptor.destination(SendRequest(to=number))
            except Invalid as e:
                raise Invalid(_number_message(e), field="number", code=e.code) from None
        rows = await self.store.flow_runs(key.name, flow.name, number, after, limit)
        page = RunPage(
            runs=[_run_view(r) for r in rows],
            next=str(rows[-1].cursor) if len(rows) == limit else None,
        )
        return Response(200, _encoder.encode(page), _JSON)


def _number_message(e: Invalid) -> str:
    return e.message.replace("'to'", "'number'", 1)


def _reply(event: NewEvent, result: EventResult) -> EventReply:
    return EventReply(
        id=result.id,
        type=event.type,
        number=event.number,
        ref=event.ref,
        started=[RunRef(flow=f, run=r) for f, r in result.started],
        stopped=[
            RunStopped(flow=s.flow, run=s.run, cancelled=list(s.cancelled), sent=list(s.sent))
            for s in result.stopped
        ],
        skipped=[RunSkipped(flow=s.flow, run=s.run, reason=s.reason) for s in result.skipped],
    )


def _counts(c: FlowCounts) -> dict[str, int]:
    return {f: getattr(c, f) for f in c.__struct_fields__}


def _step_stats(s: StepStats) -> dict[str, int | dict[str, str]]:
    return {f: getattr(s, f) for f in s.__struct_fields__ if f != "n"}


def _run_view(r: RunRow) -> RunView:
    return RunView(
        id=r.id,
        flow=r.flow,
        number=r.number,
        ref=r.ref,
        state=r.state,
        reason=r.reason,
        event=r.event,
        started_at=rfc3339(r.started_at),
        ended_at=None if r.ended_at is None else rfc3339(r.ended_at),
        stopped_by=r.stopped_by,
        steps=[
            StepView(
                n=s.n,
                state=s.state,
                due_at=rfc3339(s.due_at),
                message=s.message,
                cancelled_by=s.event,
                reason=s.reason,
                done_at=None if s.done_at is None else rfc3339(s.done_at),
            )
            for s in r.steps
        ],
    )


def _int(query: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(name)
    if not raw:
        return default
    value = parse_decimal(raw, 19)
    if value is None or not lo <= value <= hi:
        raise Invalid(f"'{name}' must be a whole number from {lo} to {hi}", field=name)
    return value
