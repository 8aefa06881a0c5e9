"""``/v1/conversions``: orders a shop reports, attributed to the message that brought them.

* ``POST /v1/conversions`` ``{"order_id", "value", "currency", "number" | "code" |
  "client_ref", "at"?}``: ``201`` with the conversion and what it is attributed to (or
  ``attributed: null``); the same order again answers ``200`` with the first, changing
  nothing. A bad field is a 422 naming it.
* ``GET /v1/conversions?after=&limit=``: the key's conversions, oldest first, cursor paged.
* ``GET /v1/conversions/{order_id}``: one.

Everything is scoped to the API key: an order attributes only to the key's own messages, and
a key sees only its own orders.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from smsgw.config.schema import Config, KeyConfig
from smsgw.drivers.text import parse_decimal
from smsgw.gateway.accept import SEND_AT_SKEW, Acceptor
from smsgw.gateway.errors import Invalid, NotFound
from smsgw.gateway.http import Request, Response
from smsgw.gateway.schemas import SendRequest
from smsgw.gateway.schemas_conversions import (
    AttributedView,
    ConversionBody,
    ConversionPage,
    ConversionView,
    FlowStepRef,
)
from smsgw.metrics.instruments import Metrics
from smsgw.queue.model import rfc3339
from smsgw.queue.store import Store
from smsgw.queue.store.records import ATTRIBUTED_BY, ConversionRow, NewConversion

__all__ = [
    "MAX_FRACTION_DIGITS",
    "MAX_WHOLE_DIGITS",
    "ConversionsApi",
    "conversion_value",
    "conversion_view",
]

Handler = Callable[[Request, KeyConfig | None], Awaitable[Response]]
Decode = Callable[[msgspec.json.Decoder[Any], bytes | msgspec.Raw, str], Any]

MAX_WHOLE_DIGITS = 15
"""Digits a value may have before its decimal point."""
MAX_FRACTION_DIGITS = 6
"""Digits a value may have after it."""

_JSON = [("content-type", "application/json")]
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ConversionBody)
_PREFIX = "/v1/conversions/"


_VALUE = re.compile(
    rf"(0|[1-9][0-9]{{0,{MAX_WHOLE_DIGITS - 1}}})(\.[0-9]{{1,{MAX_FRACTION_DIGITS}}})?\Z"
)


def conversion_value(value: str | int | float) -> str:
    """``value`` as the decimal string kept (``"12.50"`` stays ``"12.50"``, ``12`` and
    ``12.0`` are ``"12"``); raises :class:`Invalid` naming ``value`` for one that is not an
    amount >= 0 of at most 15 whole and 6 fraction digits, a string written plainly (no sign,
    exponent, spaces or leading zeros), or a JSON number with a fraction (a binary float would
    not keep it exactly: send those as strings)."""
    text = value if isinstance(value, str) else ""
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float) and value.is_integer() and 0 <= value < 10**MAX_WHOLE_DIGITS:
        text = str(int(value))
    if not _VALUE.match(text):
        raise Invalid(
            f"'value' must be an amount >= 0, a whole number or a decimal string like"
            f' "49.90" (at most {MAX_WHOLE_DIGITS} digits before the point and'
            f" {MAX_FRACTION_DIGITS} after it)",
            field="value",
            code="invalid_value",
        )
    return text


class ConversionsApi:
    """The handlers; ``routes`` and ``prefixed`` are what :class:`~smsgw.gateway.api.Api`
    serves."""

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
        self.store = store
        self.acceptor = acceptor
        self.wall = wall
        self.window = config.conversions.window_seconds()
        self._decode = decode
        self._counted = {by: metrics.conversions.labels(by) for by in (*ATTRIBUTED_BY, "none")}
        self.routes: dict[str, dict[str, Handler]] = {
            "/v1/conversions": {"POST": self._post, "GET": self._list},
        }
        self.prefixed: dict[str, tuple[str, dict[str, Handler]]] = {
            _PREFIX: ("/v1/conversions/{order_id}", {"GET": self._get})
        }

    async def _post(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        now = self.wall()
        body: ConversionBody = self._decode(_decoder, request.body, "")
        row, created = await self.store.record_conversion(self._conversion(key, body, now))
        if created:
            self._counted["none" if row.attributed is None else row.attributed.by].inc()
        return Response(201 if created else 200, _encoder.encode(conversion_view(row)), _JSON)

    def _conversion(self, key: KeyConfig, body: ConversionBody, now: float) -> NewConversion:
        given = [f for f in ("number", "code", "client_ref") if getattr(body, f) is not UNSET]
        if len(given) != 1:
            raise Invalid(
                "give exactly one of 'number', 'code' or 'client_ref'"
                + (f" (got {', '.join(given)})" if given else ""),
                field=given[1] if len(given) > 1 else "number",
                code="one_of",
            )
        value = conversion_value(body.value)
        number = None
        if not isinstance(body.number, UnsetType):
            try:
                number, _ = self.acceptor.destination(SendRequest(to=body.number))
            except Invalid as e:
                message = e.message.replace("'to'", "'number'", 1)
                raise Invalid(message, field="number", code=e.code) from None
        at = now
        if not isinstance(body.at, UnsetType):
            if body.at.tzinfo is None:
                raise Invalid(
                    "'at' must carry a time zone (RFC 3339, e.g. 2026-01-01T09:00:00Z)",
                    field="at",
                    code="invalid_time",
                )
            at = body.at.astimezone(UTC).timestamp()
            if at > now + SEND_AT_SKEW:
                raise Invalid("'at' is in the future", field="at", code="at_in_future")
            at = min(at, now)
        return NewConversion(
            key=key.name,
            order_id=body.order_id,
            value=value,
            currency=body.currency,
            number=number,
            code=None if isinstance(body.code, UnsetType) else body.code,
            client_ref=None if isinstance(body.client_ref, UnsetType) else body.client_ref,
            at=at,
            window=self.window,
            received_at=now,
        )

    async def _get(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        order_id = request.path[len(_PREFIX) :]
        row = await self.store.get_conversion(key.name, order_id)
        if row is None:
            raise NotFound(
                f"no conversion of order {order_id!r}", field="order_id", code="unknown_order"
            )
        return Response(200, _encoder.encode(conversion_view(row)), _JSON)

    async def _list(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        after = _int(request.query, "after", 0, 0, 2**62)
        limit = _int(request.query, "limit", 100, 1, 1000)
        rows = await self.store.conversions_page(key.name, after, limit)
        page = ConversionPage(
            conversions=[conversion_view(r) for r in rows],
            next=str(rows[-1].cursor) if len(rows) == limit else None,
        )
        return Response(200, _encoder.encode(page), _JSON)


def conversion_view(row: ConversionRow) -> ConversionView:
    """The API's view of a stored conversion."""
    a = row.attributed
    attributed = None
    if a is not None:
        flow = None if a.flow is None or a.step is None else FlowStepRef(name=a.flow, step=a.step)
        attributed = AttributedView(message=a.message, by=a.by, flow=flow, client_ref=a.client_ref)
    return ConversionView(
        id=row.id,
        order_id=row.order_id,
        value=row.value,
        currency=row.currency,
        number=row.number,
        code=row.code,
        client_ref=row.client_ref,
        at=rfc3339(row.at),
        created_at=rfc3339(row.created_at),
        attributed=attributed,
    )


def _int(query: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(name)
    if not raw:
        return default
    value = parse_decimal(raw, 19)
    if value is None or not lo <= value <= hi:
        raise Invalid(f"'{name}' must be a whole number from {lo} to {hi}", field=name)
    return value
