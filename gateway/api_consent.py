"""``/v1/optouts`` and ``/v1/consents``: the opt-out list and consent records over HTTP.

* ``GET /v1/optouts?after=&limit=``: numbers opted out for every key or for the caller's key,
  a page and a cursor; with ``Accept: text/csv`` or ``?format=csv``, the whole list as CSV.
* ``POST /v1/optouts`` ``{"number", "scope"?, "note"?}``: ``201`` and the opt-out (``200`` when
  it was already there); with ``Content-Type: text/csv``, an import: ``200 {"imported",
  "added"}``, or ``422`` naming the first bad line, and nothing imported.
* ``GET /v1/optouts/{number}``: whether it is opted out, and its whole trail.
* ``DELETE /v1/optouts/{number}?scope=``: ``200``, the number opted back in in that scope
  (default ``key``); ``404`` if it was not out there; ``403`` for an opt-out the key may not
  lift (``optout_by_recipient``: the recipient's own STOP; ``optout_not_yours``: another key's
  opt-out for every key).
* ``POST /v1/consents`` ``{"number", "source", "at"?, "text_shown"?, "evidence"?, "scope"?}``:
  ``201 {"id", ...}``; ``scope: "all"`` only for an admin key (``403 admin_only``).

``scope`` is ``"all"`` (every key: what a STOP means) or ``"key"`` (the caller's key only).
Every change is appended to the audit trail with the calling key; nothing is erased.

Keys are tenants. A key sees opt-outs for every key and its own; in them, what another key
wrote (its key name, its notes, the inbound message behind it) is left out. An ``admin`` key
sees and lifts everything.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from smsgw.config.schema import Config, KeyConfig
from smsgw.drivers.text import parse_decimal
from smsgw.gateway.errors import Forbidden, Invalid, NotFound, UnsupportedMediaType
from smsgw.gateway.http import Request, Response
from smsgw.gateway.schemas import E164_PATTERN
from smsgw.queue.consent.csv_io import CsvError, export_csv, parse_csv
from smsgw.queue.consent.numbers import NumberError, parse_number
from smsgw.queue.consent.optout_list import Consents
from smsgw.queue.consent.records import (
    ALL,
    ConsentRecord,
    OptinRequest,
    OptoutEvent,
    OptoutRequest,
    OptoutRow,
)
from smsgw.queue.model import rfc3339

__all__ = ["ConsentApi", "ConsentBody", "OptoutBody"]

Handler = Callable[[Request, KeyConfig | None], Awaitable[Response]]
Scope = Literal["all", "key"]
Number = Annotated[str, Meta(min_length=1, max_length=32, description="E.164 (+4917012345678).")]
Note = Annotated[str, Meta(max_length=500)]


class OptoutBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    number: Number
    scope: Scope = "all"
    note: Note = ""


class ConsentBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Evidence that the person agreed to marketing messages."""

    number: Number
    source: Annotated[str, Meta(min_length=1, max_length=64, description="web, checkout, …")]
    at: datetime | None = None
    """When consent was given (default: now)."""
    text_shown: Annotated[str, Meta(max_length=2000)] = ""
    evidence: Annotated[str, Meta(max_length=2000)] = ""
    """Anything that proves it: a form id, an IP address, an order number."""
    scope: Scope = "key"


_JSON = [("content-type", "application/json")]
_E164 = re.compile(E164_PATTERN)
_encoder = msgspec.json.Encoder()
_optout_decoder = msgspec.json.Decoder(OptoutBody)
_consent_decoder = msgspec.json.Decoder(ConsentBody)


class ConsentApi:
    """The handlers; ``routes`` and ``prefixed`` are what :class:`~smsgw.gateway.api.Api`
    serves."""

    def __init__(
        self,
        config: Config,
        consents: Consents,
        *,
        wall: Callable[[], float] = time.time,
        decode: Callable[[msgspec.json.Decoder[Any], bytes, str], Any],
    ) -> None:
        self.config = config
        self.consents = consents
        self.wall = wall
        self._decode = decode
        self._country = config.policy.default_country.upper()
        self.routes: dict[str, dict[str, Handler]] = {
            "/v1/optouts": {"GET": self._list, "POST": self._add},
            "/v1/consents": {"POST": self._consent},
        }
        self.prefixed: dict[str, tuple[str, dict[str, Handler]]] = {
            "/v1/optouts/": ("/v1/optouts/{number}", {"GET": self._get, "DELETE": self._remove})
        }

    def number(self, raw: str, field: str = "number") -> str:
        """E.164 for ``raw``; raises Invalid. Without a default country only E.164 as written
        is read (phonenumbers alone would take "+4917012345678*" or spaces around it)."""
        if not self._country and not _E164.fullmatch(raw):
            raise Invalid(
                f"{raw!r} is not a phone number: must be in E.164 form like +4917012345678"
                " (no default country)",
                field=field,
                code="invalid_number",
            )
        try:
            return parse_number(raw, self._country).e164
        except NumberError as e:
            raise Invalid(
                f"{raw!r} is not a phone number: {e.reason}", field=field, code="invalid_number"
            ) from None

    def _scope(self, scope: str, key: KeyConfig) -> str:
        return ALL if scope == "all" else key.name

    @staticmethod
    def _reads(key: KeyConfig) -> str | None:
        """The scopes a key reads: the every-key one and its own (None: all, an admin)."""
        return None if key.admin else key.name

    # -- handlers ------------------------------------------------------------------------

    async def _list(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        q = request.query
        wants_csv = q.get("format") == "csv" or "text/csv" in request.headers.get("accept", "")
        if wants_csv:
            rows = await self.consents.export_all(self._reads(key))
            return Response(
                200,
                export_csv(_redacted(r, key) for r in rows),
                [
                    ("content-type", "text/csv; charset=utf-8"),
                    ("content-disposition", 'attachment; filename="optouts.csv"'),
                ],
            )
        after = _cursor(q.get("after"))
        limit = _limit(q.get("limit"))
        page = await self.consents.page(self._reads(key), after, limit)
        body = {
            "optouts": [_view(r, key) for r in page],
            "next": str(page[-1].cursor) if len(page) == limit else None,
        }
        return Response(200, _encoder.encode(body), _JSON)

    async def _add(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        now = self.wall()
        if ctype == "text/csv":
            return await self._import(request.body, key, now)
        if ctype and ctype not in ("application/json", "application/x-www-form-urlencoded"):
            raise UnsupportedMediaType(f"expected application/json or text/csv, got {ctype}")
        body: OptoutBody = self._decode(_optout_decoder, request.body, "")
        number = self.number(body.number)
        req = OptoutRequest(
            number=number,
            scope=self._scope(body.scope, key),
            source="api",
            at=now,
            key=key.name,
            note=body.note,
        )
        [changed] = await self.consents.opt_out([req])
        row = await self.consents.blocking(number, key.name)
        assert row is not None
        return Response(201 if changed else 200, _encoder.encode(_view(row, key)), _JSON)

    async def _import(self, data: bytes, key: KeyConfig, now: float) -> Response:
        def normalise(raw: str) -> str:
            try:
                return parse_number(raw, self._country).e164
            except NumberError as e:
                raise ValueError(e.reason) from None

        try:
            items = parse_csv(data, key=key.name, now=now, number=normalise)
        except CsvError as e:
            raise Invalid(str(e), field=f"line {e.line}", code="invalid_csv") from None
        changed = await self.consents.opt_out(items)
        body = {"imported": len(items), "added": sum(changed)}
        return Response(200, _encoder.encode(body), _JSON)

    async def _get(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        number = self.number(_tail(request.path), "number")
        current, events = await self.consents.history(number, self._reads(key))
        body = {
            "number": number,
            "opted_out": any(r.scope in (ALL, key.name) for r in current),
            "optouts": [_view(r, key) for r in current],
            "history": [_event_view(e, key) for e in events],
        }
        return Response(200, _encoder.encode(body), _JSON)

    async def _remove(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        number = self.number(_tail(request.path), "number")
        # The key's own scope by default: lifting the every-key opt-out is a deliberate act.
        scope_text = request.query.get("scope", "key")
        if scope_text not in ("all", "key"):
            raise Invalid("'scope' must be 'all' or 'key'", field="scope")
        scope = self._scope(scope_text, key)
        req = OptinRequest(number=number, scope=scope, source="api", at=self.wall(), key=key.name)
        done = await self.consents.lift(req, admin=key.admin)
        if done == "by_recipient":
            raise Forbidden(
                f"{number} opted out by texting a STOP keyword; only the recipient (START) or"
                " an admin key can lift it",
                field="number",
                code="optout_by_recipient",
            )
        if done == "by_other_key":
            raise Forbidden(
                f"{number} was opted out for every key by another API key; only that key or an"
                " admin key can lift it",
                field="number",
                code="optout_not_yours",
            )
        if done == "not_out":
            if await self.consents.blocking(number, key.name) is None:
                raise NotFound(f"{number} is not opted out", field="number")
            other = "all" if scope_text == "key" else "key"
            raise NotFound(
                f"{number} is not opted out in scope {scope_text!r} (it is in scope {other!r})",
                field="scope",
            )
        still = await self.consents.blocking(number, key.name)
        body = {"number": number, "opted_out": still is not None}
        return Response(200, _encoder.encode(body), _JSON)

    async def _consent(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        body: ConsentBody = self._decode(_consent_decoder, request.body, "")
        if body.scope == "all" and not key.admin:
            # A consent for every key would let this key vouch for another tenant's marketing.
            raise Forbidden(
                "only an admin key may record consent for every key (scope 'all')",
                field="scope",
                code="admin_only",
            )
        now = self.wall()
        given = now
        if body.at is not None:
            if body.at.tzinfo is None:
                raise Invalid("'at' must carry a time zone", field="at", code="invalid_time")
            given = body.at.timestamp()
            if given > now + 300:
                raise Invalid("'at' is in the future", field="at", code="invalid_time")
        record = ConsentRecord(
            number=self.number(body.number),
            scope=self._scope(body.scope, key),
            source=body.source,
            at=given,
            text_shown=body.text_shown,
            evidence=body.evidence,
            key=key.name,
        )
        [cid] = await self.consents.add_consents([record], now)
        reply = {
            "id": f"cns_{cid}",
            "number": record.number,
            "scope": "all" if record.scope == ALL else "key",
            "source": record.source,
            "at": rfc3339(record.at),
        }
        return Response(201, _encoder.encode(reply), _JSON)


def _foreign(maker: str | None, viewer: KeyConfig) -> bool:
    """An entry ``viewer`` sees without who made it and why: another key's (or, for a keyword
    from an inbound message that belongs to no key, nobody's), unless the viewer is an admin."""
    return not viewer.admin and maker != viewer.name


def _redacted(r: OptoutRow, viewer: KeyConfig) -> OptoutRow:
    if not _foreign(r.key, viewer):
        return r
    return msgspec.structs.replace(r, key=None, note="", inbound_id=None)


def _view(r: OptoutRow, viewer: KeyConfig) -> dict[str, object]:
    r = _redacted(r, viewer)
    return {
        "number": r.number,
        "scope": "all" if r.scope == ALL else r.scope,
        "source": r.source,
        "at": rfc3339(r.at),
        "inbound_id": r.inbound_id,
        "note": r.note,
    }


def _event_view(e: OptoutEvent, viewer: KeyConfig) -> dict[str, object]:
    foreign = _foreign(e.key, viewer)
    return {
        "action": "opt_out" if e.action == "out" else "opt_in",
        "scope": "all" if e.scope == ALL else e.scope,
        "source": e.source,
        "at": rfc3339(e.at),
        "inbound_id": None if foreign else e.inbound_id,
        "key": None if foreign else e.key,
        "note": "" if foreign else e.note,
    }


def _tail(path: str) -> str:
    # The server hands over the path percent-decoded already.
    return path.rsplit("/", 1)[1]


def _cursor(raw: str | None) -> int:
    if not raw:
        return 0
    # ASCII digits only: "²".isdigit() is true and int() refuses it (that would be a 500).
    value = parse_decimal(raw, 18)
    if value is None:
        raise Invalid("'after' must be a cursor from a previous page", field="after")
    return value


def _limit(raw: str | None) -> int:
    if not raw:
        return 100
    value = parse_decimal(raw, 4)
    if value is None or not 1 <= value <= 1000:
        raise Invalid("'limit' must be between 1 and 1000", field="limit")
    return value
