"""``/v1/campaigns``: marketing campaigns over HTTP.

* ``POST /v1/campaigns`` ``{"name", "template" | "text" | "variants", "segment" |
  "recipients", "send_at"?, "route"?, "rate"?, "track_links"?}``: ``201`` and the draft.
* ``GET /v1/campaigns?after=&limit=``: a page and a cursor; ``GET /v1/campaigns/{id}``: one,
  with its recipients by state once started.
* ``POST /v1/campaigns/{id}/start``: the recipients are fixed (a segment is evaluated now,
  its opted-out numbers skipped as ``opted_out``) and the campaign runner sends them.
* ``POST /v1/campaigns/{id}/pause``, ``/resume``, ``/cancel``: ``409 campaign_state`` when
  the campaign is in no state to.

Campaigns belong to the API key that made them; an admin key lists every key's and reaches
another key's campaign by its id. Every message is of class ``marketing``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Literal

import msgspec
from msgspec import UnsetType

from smsgw.config.durations import parse_duration
from smsgw.config.schema import Config, KeyConfig
from smsgw.gateway.errors import Conflict, Invalid, NotFound
from smsgw.gateway.http import Request, Response
from smsgw.gateway.params import query_number
from smsgw.gateway.schemas_campaigns import (
    AbView,
    CampaignBody,
    CampaignPage,
    CampaignStats,
    CampaignView,
    VariantBody,
    VariantStats,
    VariantView,
)
from smsgw.queue.campaigns.records import (
    HELD,
    AbSpec,
    CampaignAction,
    CampaignRow,
    CampaignSpec,
    ClickTally,
    MessageTally,
    NewCampaign,
    NewRecipient,
    RecipientCount,
    SpecRecipient,
    SpecVariant,
)
from smsgw.queue.campaigns.segments import coarse, decode_rules, matches
from smsgw.queue.campaigns.templates import TemplateError, check_vars, compile_text
from smsgw.queue.campaigns.variants import in_test_share, pick_variant
from smsgw.queue.model import rfc3339
from smsgw.queue.store import Store
from smsgw.queue.store.records import ContactRow

__all__ = ["CampaignsApi", "contact_vars"]

Handler = Callable[[Request, KeyConfig | None], Awaitable[Response]]
Decode = Callable[[msgspec.json.Decoder[Any], bytes | msgspec.Raw, str], Any]

SCAN_CHUNK = 1000
"""Contacts read from the store per step of a segment's evaluation at start."""

_JSON = [("content-type", "application/json")]
_encoder = msgspec.json.Encoder()
_body_decoder = msgspec.json.Decoder(CampaignBody)
_PREFIX = "/v1/campaigns/"
_ACTIONS: tuple[CampaignAction, ...] = ("pause", "resume", "cancel")


class CampaignsApi:
    """The handlers; ``routes``, ``prefixed`` and ``suffixed`` are what
    :class:`~smsgw.gateway.api.Api` serves."""

    def __init__(
        self, config: Config, store: Store, *, wall: Callable[[], float], decode: Decode
    ) -> None:
        self.config = config
        self.store = store
        self.wall = wall
        self._decode = decode
        self._routes_known = {r.name for r in config.routes}
        self._prices = {r.name: (r.price_per_part, r.currency) for r in config.routes}
        self.routes: dict[str, dict[str, Handler]] = {
            "/v1/campaigns": {"GET": self._list, "POST": self._create}
        }
        self.prefixed: dict[str, tuple[str, dict[str, Handler]]] = {
            _PREFIX: ("/v1/campaigns/{id}", {"GET": self._get})
        }
        self.suffixed: dict[tuple[str, str], tuple[str, dict[str, Handler]]] = {
            (_PREFIX, "/start"): ("/v1/campaigns/{id}/start", {"POST": self._start}),
            **{
                (_PREFIX, f"/{a}"): (f"/v1/campaigns/{{id}}/{a}", {"POST": self._action(a)})
                for a in _ACTIONS
            },
        }

    async def _create(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        body: CampaignBody = self._decode(_body_decoder, request.body, "")
        variants = await self._variants(key, body)
        segment: str | None = None
        recipients: list[SpecRecipient] | None = None
        if isinstance(body.segment, UnsetType) == isinstance(body.recipients, UnsetType):
            raise Invalid("give 'segment' or 'recipients', not both or neither", field="segment")
        if not isinstance(body.segment, UnsetType):
            if await self.store.get_segment(key.name, body.segment) is None:
                raise NotFound(
                    f"no segment {body.segment!r}", field="segment", code="unknown_segment"
                )
            segment = body.segment
        else:
            assert not isinstance(body.recipients, UnsetType)
            for i, r in enumerate(body.recipients):
                try:
                    check_vars(r.vars)
                except TemplateError as e:
                    raise Invalid(
                        e.message, field=f"recipients[{i}].{e.field}", code=e.code
                    ) from None
            recipients = [SpecRecipient(to=r.to, vars=r.vars) for r in body.recipients]
        if body.route is not None and body.route not in self._routes_known:
            raise Invalid(f"unknown route {body.route!r}", field="route", code="no_route")
        if body.track_links and not self.config.links.enabled:
            raise Invalid(
                "'track_links' needs tracked links configured ([links] listen and base_url)",
                field="track_links",
                code="links_off",
            )
        ab: AbSpec | None = None
        if body.ab is not None:
            if len(variants) < 2:
                raise Invalid("an A/B test needs two variants or more", field="ab")
            try:
                wait = parse_duration(body.ab.wait)
            except ValueError as e:
                raise Invalid(f"'wait': {e}", field="ab.wait") from None
            ab = AbSpec(test_fraction=body.ab.test_fraction, wait=wait, metric=body.ab.metric)
        now = self.wall()
        spec = CampaignSpec(
            variants=variants,
            segment=segment,
            send_at=None if body.send_at is None else body.send_at.timestamp(),
            route=body.route,
            rate=body.rate,
            track_links=body.track_links,
            ab=ab,
        )
        row = await self.store.add_campaign(
            NewCampaign(key=key.name, name=body.name, spec=spec, recipients=recipients, at=now)
        )
        return Response(201, _encoder.encode(_view(row, key, None)), _JSON)

    async def _variants(self, key: KeyConfig, body: CampaignBody) -> list[SpecVariant]:
        given = [
            not isinstance(body.template, UnsetType),
            not isinstance(body.text, UnsetType),
            not isinstance(body.variants, UnsetType),
        ]
        if sum(given) != 1:
            raise Invalid("give one of 'template', 'text' and 'variants'", field="text")
        if isinstance(body.variants, UnsetType):
            items = [(VariantBody(template=body.template, text=body.text), "")]
        else:
            items = [(v, f"variants[{i}].") for i, v in enumerate(body.variants)]
        out: list[SpecVariant] = []
        for v, fp in items:
            if isinstance(v.template, UnsetType) == isinstance(v.text, UnsetType):
                raise Invalid("give 'template' or 'text', not both or neither", field=fp + "text")
            if not isinstance(v.template, UnsetType):
                if await self.store.get_template(key.name, v.template) is None:
                    raise NotFound(
                        f"no template {v.template!r} for this key",
                        field=fp + "template",
                        code="unknown_template",
                    )
                out.append(SpecVariant(template=v.template, weight=int(v.weight)))
                continue
            assert not isinstance(v.text, UnsetType)
            try:
                compile_text(v.text)
            except TemplateError as e:
                raise Invalid(e.message, field=fp + e.field, code=e.code) from None
            out.append(SpecVariant(text=v.text, weight=int(v.weight)))
        return out

    async def _list(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        after = query_number(request.query, "after", 0, 0, 2**62)
        limit = query_number(request.query, "limit", 100, 1, 1000)
        rows = await self.store.campaigns_page(None if key.admin else key.name, after, limit)
        page = CampaignPage(
            campaigns=[_view(r, key, None) for r in rows],
            next=str(rows[-1].cursor) if len(rows) == limit else None,
        )
        return Response(200, _encoder.encode(page), _JSON)

    async def _get(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        row = await self._campaign(request, key, "")
        stats = None if row.state == "draft" else await self._stats(row)
        return Response(
            200, _encoder.encode(await self._ab_values(_view(row, key, stats), row)), _JSON
        )

    async def _start(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        row = await self._campaign(request, key, "/start")
        if row.state != "draft":
            raise _state_conflict(row.state, "start")
        spec = row.spec
        weights = [v.weight for v in spec.variants]
        if spec.segment is None:
            recipients = [
                NewRecipient(number=r.to, vars=r.vars, variant=pick_variant(row.id, r.to, weights))
                for r in await self.store.draft_recipients(row.cursor)
            ]
        else:
            recipients = await self._evaluate(row, weights)
        if spec.ab is not None:
            fraction = spec.ab.test_fraction
            recipients = [
                r
                if r.state != "pending" or in_test_share(row.id, r.number, fraction)
                else NewRecipient(number=r.number, vars=r.vars, variant=HELD, state="held")
                for r in recipients
            ]
        done = await self.store.start_campaign(row.key, row.id, recipients, self.wall())
        if done is None:
            raise NotFound(f"no campaign {row.id!r}", field="id")
        if isinstance(done, str):
            raise _state_conflict(done, "start")
        view = _view(done, key, await self._stats(done))
        return Response(200, _encoder.encode(await self._ab_values(view, done)), _JSON)

    async def _evaluate(self, row: CampaignRow, weights: list[int]) -> list[NewRecipient]:
        """The segment's contacts now, in the key's list order; opted-out numbers skipped."""
        assert row.spec.segment is not None
        seg = await self.store.get_segment(row.key, row.spec.segment)
        if seg is None:
            raise NotFound(
                f"no segment {row.spec.segment!r}", field="segment", code="unknown_segment"
            )
        rules = decode_rules(seg.rules)
        selection = coarse(rules)
        out: list[NewRecipient] = []
        cursor = 0
        while True:
            batch = await self.store.segment_candidates(row.key, selection, cursor, SCAN_CHUNK)
            for cand in batch:
                c = cand.contact
                if not matches(rules, c):
                    continue
                out.append(
                    NewRecipient(
                        number=c.number,
                        vars=contact_vars(c),
                        variant=pick_variant(row.id, c.number, weights),
                        state="skipped" if cand.opted_out else "pending",
                        reason="opted_out" if cand.opted_out else None,
                    )
                )
            if len(batch) < SCAN_CHUNK:
                return out
            cursor = batch[-1].contact.cursor

    def _action(self, action: CampaignAction) -> Handler:
        async def handle(request: Request, key: KeyConfig | None) -> Response:
            assert key is not None
            row = await self._campaign(request, key, f"/{action}")
            done = await self.store.campaign_action(row.key, row.id, action, self.wall())
            if done is None:
                raise NotFound(f"no campaign {row.id!r}", field="id")
            if isinstance(done, str):
                raise _state_conflict(done, action)
            view = _view(done, key, await self._stats(done))
            return Response(200, _encoder.encode(await self._ab_values(view, done)), _JSON)

        return handle

    async def _ab_values(self, view: CampaignView, row: CampaignRow) -> CampaignView:
        """``view`` with its A/B test's metric per variant now (a started test only)."""
        if view.ab is not None and row.state != "draft":
            view.ab.values = await self.store.campaign_ab_values(
                row.cursor, len(row.spec.variants), view.ab.metric
            )
        return view

    async def _stats(self, row: CampaignRow) -> CampaignStats:
        counts = await self.store.campaign_counts(row.cursor)
        tallies, clicks = await self.store.campaign_messages(row.cursor)
        return _stats(counts, tallies, clicks, len(row.spec.variants), self._prices)

    async def _campaign(self, request: Request, key: KeyConfig, suffix: str) -> CampaignRow:
        campaign_id = request.path[len(_PREFIX) : len(request.path) - len(suffix)]
        row = None
        if 0 < len(campaign_id) <= 64 and "/" not in campaign_id:
            row = await self.store.get_campaign(None if key.admin else key.name, campaign_id)
        if row is None:
            raise NotFound(f"no campaign {campaign_id!r}", field="id")
        return row


def contact_vars(c: ContactRow) -> dict[str, Any]:
    """A contact's fields as a template's variables: its attributes that are text or numbers,
    then ``first_name``, ``last_name`` and ``number`` over them."""
    out: dict[str, Any] = {
        k: v
        for k, v in c.attributes.items()
        if isinstance(v, str | int | float) and not isinstance(v, bool)
    }
    out.update(first_name=c.first_name, last_name=c.last_name, number=c.number)
    return out


def _state_conflict(state: str, action: str) -> Conflict:
    return Conflict(
        f"a campaign that is {state} cannot {action}", field="state", code="campaign_state"
    )


def _view(row: CampaignRow, viewer: KeyConfig, stats: CampaignStats | None) -> CampaignView:
    spec = row.spec
    return CampaignView(
        id=row.id,
        name=row.name,
        state=row.state,
        variants=[
            VariantView(template=v.template, text=v.text, weight=v.weight) for v in spec.variants
        ],
        segment=spec.segment,
        recipients=row.listed,
        send_at=None if spec.send_at is None else rfc3339(spec.send_at),
        route=spec.route,
        rate=spec.rate,
        track_links=spec.track_links,
        created_at=rfc3339(row.created_at),
        updated_at=rfc3339(row.updated_at),
        started_at=None if row.started_at is None else rfc3339(row.started_at),
        ended_at=None if row.ended_at is None else rfc3339(row.ended_at),
        stats=stats,
        ab=_ab_view(row, stats),
        key=row.key if viewer.admin else None,
    )


def _ab_view(row: CampaignRow, stats: CampaignStats | None) -> AbView | None:
    ab = row.spec.ab
    if ab is None:
        return None
    phase: Literal["testing", "waiting", "decided"]
    if row.ab_winner is not None:
        phase = "decided"
    elif stats is not None and stats.pending == 0 and stats.held > 0:
        phase = "waiting"
    else:
        phase = "testing"
    return AbView(
        phase=phase,
        test_fraction=ab.test_fraction,
        wait=ab.wait,
        metric=ab.metric,
        winner=row.ab_winner,
        decided_at=None if row.ab_decided_at is None else rfc3339(row.ab_decided_at),
        reason=row.ab_reason,
    )


def _stats(
    counts: list[RecipientCount],
    tallies: list[MessageTally],
    clicks: list[ClickTally],
    n_variants: int,
    prices: dict[str, tuple[float, str]],
) -> CampaignStats:
    per = [VariantStats(skipped={}) for _ in range(n_variants)]
    total = CampaignStats(skipped={})

    def both(variant: int) -> list[VariantStats]:
        return [per[variant], total] if 0 <= variant < n_variants else [total]

    for c in counts:
        for s in both(c.variant):
            s.recipients += c.n
            if c.state == "skipped":
                reason = c.reason or "refused"
                s.skipped[reason] = s.skipped.get(reason, 0) + c.n
            elif c.state in ("pending", "accepted", "cancelled", "held"):
                setattr(s, c.state, getattr(s, c.state) + c.n)
    currencies: set[str] = set()
    for t in tallies:
        price, currency = prices.get(t.route, (0.0, ""))
        if price:
            currencies.add(currency)
        for s in both(t.variant):
            s.sent += t.sent
            s.delivered += t.delivered
            s.failed += t.failed
            s.parts += t.parts
            if price:
                s.cost = (s.cost or 0.0) + t.parts * price
    for k in clicks:
        for s in both(k.variant):
            s.clicks += k.clicks
            s.unique_clicks += k.clicked
            s.conversions += k.conversions
            s.revenue = _add_revenue(s.revenue, k.revenue)
    for s in [*per, total]:
        s.click_rate = s.unique_clicks / s.sent if s.sent else 0.0
        if s.cost is not None:
            s.cost = round(s.cost, 6)
    total.variants = per
    total.currency = currencies.pop() if len(currencies) == 1 else None
    return total


def _add_revenue(into: dict[str, str], more: dict[str, str]) -> dict[str, str]:
    """Per-currency sums of exact decimal amounts (never added across currencies)."""
    out = {c: Decimal(v) for c, v in into.items()}
    for c, v in more.items():
        out[c] = out.get(c, Decimal(0)) + Decimal(v)
    return {c: format(d, "f") for c, d in sorted(out.items())}
