"""Store rows to API views: times as RFC 3339 UTC, cursors as opaque strings."""

from __future__ import annotations

from smsgw.config.schema import Config, KeyConfig
from smsgw.gateway.accept import Prepared
from smsgw.gateway.schemas import (
    Accepted,
    ConversionRefView,
    HistoryView,
    InboundPage,
    InboundView,
    LinkView,
    MessagePage,
    MessageView,
    PartView,
)
from smsgw.queue.consent.policy import Screened
from smsgw.queue.model import InboundRow, MessageRow, rfc3339
from smsgw.queue.scheduling.scheduler import Scheduler

__all__ = ["accepted_view", "inbound_page", "message_page", "message_view", "route_views"]


def _opt(t: float | None) -> str | None:
    return None if t is None else rfc3339(t)


def message_view(row: MessageRow) -> MessageView:
    return MessageView(
        id=row.id,
        status=row.status,
        to=row.to,
        sender=row.sender,
        msg_class=row.msg_class,
        text=row.text,
        encoding=row.encoding,
        part_count=row.parts_total,
        parts=[
            PartView(
                seq=p.seq,
                status=p.status,
                route=p.route,
                carrier_id=p.carrier_id,
                attempts=p.attempts,
                submitted_at=_opt(p.submitted_at),
                done_at=_opt(p.done_at),
                error=p.error,
            )
            for p in row.parts
        ],
        client_ref=row.client_ref,
        callback_url=row.callback_url,
        route=row.route,
        attempts=row.attempts,
        error=row.error,
        template=row.template,
        created_at=rfc3339(row.created_at),
        updated_at=rfc3339(row.updated_at),
        send_at=_opt(row.send_at),
        expires_at=rfc3339(row.expires_at),
        history=[HistoryView(at=rfc3339(h.at), status=h.status, note=h.note) for h in row.history],
        links=[
            LinkView(
                url=x.url,
                short_url=x.short_url,
                clicks=x.clicks,
                first_click_at=_opt(x.first_click_at),
                previews=x.previews,
            )
            for x in row.links
        ],
        conversions=[
            ConversionRefView(order_id=c.order_id, value=c.value, currency=c.currency)
            for c in row.conversions
        ],
    )


def message_page(rows: list[MessageRow], limit: int) -> MessagePage:
    return MessagePage(
        messages=[message_view(r) for r in rows],
        next=str(rows[-1].cursor) if len(rows) == limit else None,
    )


def inbound_page(rows: list[InboundRow], limit: int) -> InboundPage:
    return InboundPage(
        inbound=[
            InboundView(
                id=r.id,
                sender=r.sender,
                to=r.to,
                text=r.text,
                route=r.route,
                received_at=rfc3339(r.received_at),
                parts=r.parts,
                complete=r.complete,
            )
            for r in rows
        ],
        next=str(rows[-1].cursor) if len(rows) == limit else None,
    )


def route_views(
    config: Config, scheduler: Scheduler, key: KeyConfig, ready: dict[str, int], now: float
) -> list[dict[str, object]]:
    """The routes ``key`` may use, as ``GET /v1/routes`` shows them. Figures that sum every
    key's traffic (in flight, tokens, queued parts ``ready``, throttle events) only for an
    admin key: they are other tenants' too. ``now`` is trio's clock (the limiters')."""
    allowed = set(key.routes) if key.routes else None
    routes: list[dict[str, object]] = []
    for route in config.routes:
        runner = scheduler.runners.get(route.name)
        if runner is None or (allowed is not None and route.name not in allowed):
            continue
        state = runner.driver.state()
        view: dict[str, object] = {
            "name": route.name,
            "driver": type(route).__struct_config__.tag,
            "up": state.up,
            "links": state.links,
            "window": state.window,
            "rate": route.rate,
            "effective_rate": runner.limiter.effective_rate,
        }
        if key.admin:
            view["in_flight"] = state.in_flight
            view["tokens"] = round(runner.limiter.tokens(now), 3)
            view["queued"] = ready.get(route.name, 0)
            view["throttle_events"] = runner.limiter.throttle_events
        routes.append(view)
    return routes


def accepted_view(prepared: Prepared, screened: Screened) -> Accepted:
    """The answer to an accepted message (its id, status, parts, any deferral)."""
    r = screened.result
    assert r is not None
    held = screened.deferred_until
    return Accepted(
        id=r.id,
        status=r.status,
        parts=r.parts,
        encoding=r.encoding,
        client_ref=r.client_ref,
        send_at=rfc3339(r.send_at) if r.send_at else None,
        smart_encoded=prepared.smart and r.created,
        deferred_until=rfc3339(held) if held is not None else None,
        note=screened.note if held is not None else None,
    )
