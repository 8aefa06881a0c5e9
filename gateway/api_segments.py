"""``/v1/segments``: saved filters over a key's contacts, evaluated when asked.

* ``POST /v1/segments`` ``{"name", "tags_any"?, "tags_all"?, "conditions"?, "locale"?,
  "time_zone"?}``: ``201`` and the segment; ``409 segment_exists`` when the key has one of
  that name.
* ``GET /v1/segments?after=&limit=``: a page and a cursor.
* ``GET /v1/segments/{name}``, ``PUT`` (a new filter), ``DELETE``: ``404`` when the key has
  no such segment.
* ``GET /v1/segments/{name}/contacts?after=&limit=``: the contacts the filter selects now, in
  the key's list order, a cursor to go on; ``GET /v1/segments/{name}/count``: how many.

A segment is for marketing: numbers an opt-out stops for the key are left out of both and
counted apart (``opted_out``). The filter is evaluated per contact by
:mod:`smsgw.queue.campaigns.segments` over what the store selects coarsely (tags, locale, time
zone). A page reads at most :data:`SCAN_LIMIT` contacts of the key's list, so a page of a
narrow segment may hold fewer than ``limit`` contacts with a ``next`` to go on: follow
``next`` until it is null.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from smsgw.config.schema import Config, KeyConfig
from smsgw.gateway.api_contacts import contact_view
from smsgw.gateway.errors import Conflict, Invalid, NotFound
from smsgw.gateway.http import Request, Response
from smsgw.gateway.params import owner_of, query_number
from smsgw.gateway.schemas_contacts import (
    SegmentBody,
    SegmentContacts,
    SegmentCount,
    SegmentDeleted,
    SegmentPage,
    SegmentView,
)
from smsgw.queue.campaigns.contacts import ContactError, check_zone
from smsgw.queue.campaigns.segments import (
    SegmentRules,
    coarse,
    decode_rules,
    encode_rules,
    matches,
)
from smsgw.queue.model import rfc3339
from smsgw.queue.store import Store
from smsgw.queue.store.records import NewSegment, SegmentRow

__all__ = ["SCAN_CHUNK", "SCAN_LIMIT", "SegmentsApi"]

Handler = Callable[[Request, KeyConfig | None], Awaitable[Response]]
Decode = Callable[[msgspec.json.Decoder[Any], bytes | msgspec.Raw, str], Any]

SCAN_CHUNK = 1000
"""Contacts read from the store per step of an evaluation."""
SCAN_LIMIT = 50_000
"""Contacts one page of a segment's contacts reads at most."""

_JSON = [("content-type", "application/json")]
_encoder = msgspec.json.Encoder()
_body_decoder = msgspec.json.Decoder(SegmentBody)
_rules_decoder = msgspec.json.Decoder(SegmentRules)
_PREFIX = "/v1/segments/"
_CONTACTS = "/contacts"
_COUNT = "/count"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


class SegmentsApi:
    """The handlers; ``routes``, ``prefixed`` and ``suffixed`` are what
    :class:`~smsgw.gateway.api.Api` serves."""

    def __init__(
        self, config: Config, store: Store, *, wall: Callable[[], float], decode: Decode
    ) -> None:
        self.config = config
        self.store = store
        self.wall = wall
        self._decode = decode
        self.routes: dict[str, dict[str, Handler]] = {
            "/v1/segments": {"GET": self._list, "POST": self._create}
        }
        self.prefixed: dict[str, tuple[str, dict[str, Handler]]] = {
            _PREFIX: (
                "/v1/segments/{name}",
                {"GET": self._get, "PUT": self._replace, "DELETE": self._delete},
            )
        }
        self.suffixed: dict[tuple[str, str], tuple[str, dict[str, Handler]]] = {
            (_PREFIX, _CONTACTS): ("/v1/segments/{name}/contacts", {"GET": self._contacts}),
            (_PREFIX, _COUNT): ("/v1/segments/{name}/count", {"GET": self._count}),
        }

    # -- CRUD ------------------------------------------------------------------------------

    async def _create(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        body: SegmentBody = self._decode(_body_decoder, request.body, "")
        fields = msgspec.structs.asdict(body)
        name = fields.pop("name")
        rules = _checked(SegmentRules(**fields))
        row = await self.store.add_segment(
            NewSegment(key=key.name, name=name, rules=encode_rules(rules), at=self.wall())
        )
        if row is None:
            raise Conflict(
                f"a segment named {name!r} exists; PUT /v1/segments/{name} to change it",
                field="name",
                code="segment_exists",
            )
        return Response(201, _encoder.encode(_view(row, key)), _JSON)

    async def _list(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        after = query_number(request.query, "after", 0, 0, 2**62)
        limit = query_number(request.query, "limit", 100, 1, 1000)
        rows = await self.store.segments_page(None if key.admin else key.name, after, limit)
        page = SegmentPage(
            segments=[_view(r, key) for r in rows],
            next=str(rows[-1].cursor) if len(rows) == limit else None,
        )
        return Response(200, _encoder.encode(page), _JSON)

    async def _get(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        row = await self._segment(*self._target(request, key))
        return Response(200, _encoder.encode(_view(row, key)), _JSON)

    async def _replace(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        owner, name = self._target(request, key)
        rules = _checked(self._decode(_rules_decoder, request.body, ""))
        row = await self.store.replace_segment(
            NewSegment(key=owner, name=name, rules=encode_rules(rules), at=self.wall())
        )
        if row is None:
            raise NotFound(f"no segment {name!r}", field="name")
        return Response(200, _encoder.encode(_view(row, key)), _JSON)

    async def _delete(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        owner, name = self._target(request, key)
        if not await self.store.delete_segment(owner, name):
            raise NotFound(f"no segment {name!r}", field="name")
        return Response(200, _encoder.encode(SegmentDeleted(name=name, deleted=True)), _JSON)

    # -- evaluation ------------------------------------------------------------------------

    async def _contacts(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        owner, name = self._target(request, key, _CONTACTS)
        after = query_number(request.query, "after", 0, 0, 2**62)
        limit = query_number(request.query, "limit", 100, 1, 1000)
        rules = decode_rules((await self._segment(owner, name)).rules)
        selection = coarse(rules)
        found: list[Any] = []
        opted_out = 0
        cursor, scanned = after, 0
        more = True
        while more and len(found) < limit and scanned < SCAN_LIMIT:
            batch = await self.store.segment_candidates(owner, selection, cursor, SCAN_CHUNK)
            more = len(batch) == SCAN_CHUNK
            for cand in batch:
                cursor = cand.contact.cursor
                scanned += 1
                if not matches(rules, cand.contact):
                    continue
                if cand.opted_out:
                    opted_out += 1
                    continue
                found.append(contact_view(cand.contact, key))
                if len(found) == limit:
                    more = True
                    break
        reply = SegmentContacts(
            contacts=found, opted_out=opted_out, next=str(cursor) if more else None
        )
        return Response(200, _encoder.encode(reply), _JSON)

    async def _count(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        owner, name = self._target(request, key, _COUNT)
        rules = decode_rules((await self._segment(owner, name)).rules)
        selection = coarse(rules)
        count = opted_out = cursor = 0
        while True:
            batch = await self.store.segment_candidates(owner, selection, cursor, SCAN_CHUNK)
            for cand in batch:
                if matches(rules, cand.contact):
                    if cand.opted_out:
                        opted_out += 1
                    else:
                        count += 1
            if len(batch) < SCAN_CHUNK:
                break
            cursor = batch[-1].contact.cursor
        return Response(200, _encoder.encode(SegmentCount(count=count, opted_out=opted_out)), _JSON)

    # -- helpers ---------------------------------------------------------------------------

    def _target(self, request: Request, key: KeyConfig, suffix: str = "") -> tuple[str, str]:
        """The (owner key, name) a path addresses; a name that cannot be one is a 404."""
        tail = request.path[len(_PREFIX) : len(request.path) - len(suffix)]
        if not (0 < len(tail) <= 64 and all(c in _NAME_CHARS for c in tail)):
            raise NotFound(f"no segment {tail!r}", field="name")
        return owner_of(request, key, "segments"), tail

    async def _segment(self, owner: str, name: str) -> SegmentRow:
        row = await self.store.get_segment(owner, name)
        if row is None:
            raise NotFound(f"no segment {name!r}", field="name")
        return row


def _checked(rules: SegmentRules) -> SegmentRules:
    if rules.time_zone is not None:
        try:
            check_zone(rules.time_zone)
        except ContactError as e:
            raise Invalid(e.message, field=e.field, code=e.code) from None
    return rules


def _view(row: SegmentRow, viewer: KeyConfig) -> SegmentView:
    rules = msgspec.structs.asdict(decode_rules(row.rules))
    return SegmentView(
        **rules,
        name=row.name,
        created_at=rfc3339(row.created_at),
        updated_at=rfc3339(row.updated_at),
        key=row.key if viewer.admin else None,
    )
