"""``/v1/contacts``: a key's contacts over HTTP.

* ``POST /v1/contacts`` ``{"contacts": [...]}`` (up to 1,000): each contact written whole
  (created, or replacing the one of its number); ``200`` with one answer per item, in order:
  ``{"number", "created"}`` or the item's ``{"error": {...}}``.
* ``POST /v1/contacts/import`` (a ``text/csv`` body, header row first): every row written as
  above, in batches; ``200`` with the counts and the first 100 refused rows with their line
  numbers (:mod:`smsgw.queue.campaigns.contacts_csv` reads the columns; a refused header is
  a ``422 invalid_csv`` naming ``line 1``, and nothing is written). The body is bounded by
  ``server.max_body_bytes`` like any other; ``smsgw contacts import`` sends a file of any
  size in pieces under it.
* ``GET /v1/contacts?tag=&after=&limit=``: a page and a cursor.
* ``GET /v1/contacts/{number}``, ``PATCH`` (the fields given replace the stored ones,
  ``attributes`` are merged, an attribute given null removed), ``DELETE``: ``404`` when the key
  has no contact of that number.

Contacts belong to the API key that wrote them: another key never sees or changes them. An
admin key lists every key's (each with its ``key``) and reaches another key's by ``?key=``.
Numbers are read as a message's destination is (E.164; national with
``policy.default_country``; checked against the numbering plan with
``policy.validate_numbers``) and stored in E.164.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import trio
from msgspec import UnsetType

from smsgw.config.schema import Config, KeyConfig
from smsgw.gateway.errors import (
    GatewayError,
    Invalid,
    NotFound,
    UnsupportedMediaType,
)
from smsgw.gateway.http import Request, Response
from smsgw.gateway.params import owner_of, query_number
from smsgw.gateway.schemas_contacts import (
    MAX_CONTACT_BATCH,
    ContactBody,
    ContactDeleted,
    ContactPage,
    ContactPatchBody,
    ContactsReply,
    ContactView,
    ContactWritten,
    ImportError_,
    ImportSummary,
)
from smsgw.queue.campaigns.contacts import (
    ContactError,
    NumberReader,
    check_attributes,
    check_tags,
    check_zone,
)
from smsgw.queue.campaigns.contacts_csv import CsvHeaderError, CsvRow, read_contacts
from smsgw.queue.model import rfc3339
from smsgw.queue.store import Store
from smsgw.queue.store.records import ContactPatch, ContactRow, NewContact

__all__ = ["IMPORT_BATCH", "IMPORT_ERRORS", "ContactsApi", "contact_view"]

Handler = Callable[[Request, KeyConfig | None], Awaitable[Response]]
Decode = Callable[[msgspec.json.Decoder[Any], bytes | msgspec.Raw, str], Any]

IMPORT_BATCH = 1000
"""Rows of an import written per store commit."""
IMPORT_ERRORS = 100
"""Refused rows an import answers with (``failed`` counts them all)."""

_JSON = [("content-type", "application/json")]
_encoder = msgspec.json.Encoder()
_body_decoder = msgspec.json.Decoder(ContactBody)
_patch_decoder = msgspec.json.Decoder(ContactPatchBody)
_PREFIX = "/v1/contacts/"


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    contacts: list[msgspec.Raw]


_batch_decoder = msgspec.json.Decoder(_Batch)


class ContactsApi:
    """The handlers; ``routes`` and ``prefixed`` are what :class:`~smsgw.gateway.api.Api`
    serves."""

    def __init__(
        self, config: Config, store: Store, *, wall: Callable[[], float], decode: Decode
    ) -> None:
        self.config = config
        self.store = store
        self.wall = wall
        self._decode = decode
        self.number = NumberReader(
            config.policy.default_country, validate=config.policy.validate_numbers
        )
        self.routes: dict[str, dict[str, Handler]] = {
            "/v1/contacts": {"GET": self._list, "POST": self._upsert},
            "/v1/contacts/import": {"POST": self._import},
        }
        self.prefixed: dict[str, tuple[str, dict[str, Handler]]] = {
            _PREFIX: (
                "/v1/contacts/{number}",
                {"GET": self._get, "PATCH": self._patch, "DELETE": self._delete},
            )
        }

    # -- writing ---------------------------------------------------------------------------

    async def _upsert(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        _require(request, "application/json")
        batch: _Batch = self._decode(_batch_decoder, request.body, "")
        if len(batch.contacts) > MAX_CONTACT_BATCH:
            raise Invalid(
                f"a batch holds at most {MAX_CONTACT_BATCH} contacts, got {len(batch.contacts)}",
                field="contacts",
                code="batch_too_large",
            )
        if not batch.contacts:
            raise Invalid("'contacts' is empty", field="contacts", code="empty_batch")
        now = self.wall()
        replies: list[ContactWritten | Any] = []
        good: list[tuple[int, NewContact]] = []
        for i, raw in enumerate(batch.contacts):
            prefix = f"contacts[{i}]."
            try:
                body: ContactBody = self._decode(_body_decoder, raw, prefix)
                good.append((len(replies), self._contact(key.name, body, now, prefix)))
                replies.append(None)
            except GatewayError as e:
                replies.append(e.body())
        created = await self.store.upsert_contacts([c for _, c in good]) if good else []
        for (i, c), made in zip(good, created, strict=True):
            replies[i] = ContactWritten(number=c.number, created=made)
        return Response(200, _encoder.encode(ContactsReply(contacts=replies)), _JSON)

    def _contact(self, owner: str, body: ContactBody, now: float, fp: str) -> NewContact:
        try:
            number = self.number(body.number)
            if body.time_zone is not None:
                check_zone(body.time_zone)
            tags = check_tags(body.tags)
            attributes = check_attributes(body.attributes)
        except ContactError as e:
            raise Invalid(e.message, field=fp + e.field, code=e.code) from None
        return NewContact(
            key=owner,
            number=number,
            first_name=body.first_name,
            last_name=body.last_name,
            locale=body.locale,
            time_zone=body.time_zone,
            tags=tags,
            attributes=attributes,
            at=now,
        )

    async def _import(self, request: Request, key: KeyConfig | None) -> Response:
        """Rows are read and checked in this task while the batch before is written by
        another (one batch waits at most), so parsing and the store's commit overlap and
        batches are written in file order."""
        assert key is not None
        _require(request, "text/csv")
        text = io.TextIOWrapper(io.BytesIO(request.body), encoding="utf-8-sig", newline="")
        rows = read_contacts(text, key=key.name, at=self.wall(), number=self.number)
        try:
            first = next(rows, None)
        except CsvHeaderError as e:
            raise Invalid(str(e), field="line 1", code="invalid_csv") from None
        summary = ImportSummary(rows=0, created=0, updated=0, failed=0, errors=[])
        send, receive = trio.open_memory_channel[list[NewContact]](0)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write_all, receive, summary)
                async with send:
                    batch: list[NewContact] = []
                    for row in itertools.chain([first] if first else [], rows):
                        summary.rows += 1
                        if row.contact is not None:
                            batch.append(row.contact)
                            if len(batch) >= IMPORT_BATCH:
                                await send.send(batch)
                                batch = []
                        else:
                            _refused(summary, row)
                    if batch:
                        await send.send(batch)
        except BaseExceptionGroup as group:
            # One task failed (the store, say): its error is the answer, as for any call.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        return Response(200, _encoder.encode(summary), _JSON)

    async def _write_all(
        self, batches: trio.MemoryReceiveChannel[list[NewContact]], summary: ImportSummary
    ) -> None:
        async with batches:
            async for batch in batches:
                created = await self.store.upsert_contacts(batch)
                made = sum(created)
                summary.created += made
                summary.updated += len(created) - made

    # -- one contact -----------------------------------------------------------------------

    async def _get(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        owner, number = self._target(request, key)
        row = await self.store.get_contact(owner, number)
        if row is None:
            raise NotFound(f"no contact {number}", field="number")
        return Response(200, _encoder.encode(contact_view(row, key)), _JSON)

    async def _patch(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        _require(request, "application/json")
        owner, number = self._target(request, key)
        body: ContactPatchBody = self._decode(_patch_decoder, request.body, "")
        try:
            row = await self.store.patch_contact(owner, number, self._changes(body))
        except ContactError as e:
            raise Invalid(e.message, field=e.field, code=e.code) from None
        if row is None:
            raise NotFound(f"no contact {number}", field="number")
        return Response(200, _encoder.encode(contact_view(row, key)), _JSON)

    def _changes(self, body: ContactPatchBody) -> ContactPatch:
        def given(value: str | UnsetType | None) -> str | None:
            return None if isinstance(value, UnsetType) else value

        clear = frozenset(
            name
            for name, value in (("locale", body.locale), ("time_zone", body.time_zone))
            if value is None
        )
        zone = given(body.time_zone)
        try:
            if zone is not None:
                check_zone(zone)
            tags = None if isinstance(body.tags, UnsetType) else check_tags(body.tags)
            check_attributes({n: v for n, v in body.attributes.items() if v is not None})
        except ContactError as e:
            raise Invalid(e.message, field=e.field, code=e.code) from None
        return ContactPatch(
            first_name=given(body.first_name),
            last_name=given(body.last_name),
            locale=given(body.locale),
            time_zone=zone,
            clear=clear,
            tags=tags,
            attributes=dict(body.attributes),
            at=self.wall(),
        )

    async def _delete(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        owner, number = self._target(request, key)
        if not await self.store.delete_contact(owner, number):
            raise NotFound(f"no contact {number}", field="number")
        return Response(200, _encoder.encode(ContactDeleted(number=number, deleted=True)), _JSON)

    def _target(self, request: Request, key: KeyConfig) -> tuple[str, str]:
        """The (owner key, E.164 number) a path addresses: the caller's, or with ``?key=``
        another key's for an admin key. A tail that is no number is a 404: no contact has
        it."""
        tail = request.path[len(_PREFIX) :]
        try:
            number = self.number(tail)
        except ContactError:
            raise NotFound(f"no contact {tail!r}", field="number") from None
        return owner_of(request, key, "contacts"), number

    # -- listing ---------------------------------------------------------------------------

    async def _list(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        q = request.query
        after = query_number(q, "after", 0, 0, 2**62)
        limit = query_number(q, "limit", 100, 1, 1000)
        tag = q.get("tag") or None
        owner = q.get("key") or None
        if owner is not None:
            owner = owner_of(request, key, "contacts")
        elif not key.admin:
            owner = key.name
        rows = await self.store.contacts_page(owner, after, limit, tag)
        page = ContactPage(
            contacts=[contact_view(r, key) for r in rows],
            next=str(rows[-1].cursor) if len(rows) == limit else None,
        )
        return Response(200, _encoder.encode(page), _JSON)


def contact_view(row: ContactRow, viewer: KeyConfig) -> ContactView:
    """A stored contact as the API shows it (its key to an admin key only)."""
    return ContactView(
        number=row.number,
        first_name=row.first_name,
        last_name=row.last_name,
        locale=row.locale,
        time_zone=row.time_zone,
        tags=row.tags,
        attributes=row.attributes,
        created_at=rfc3339(row.created_at),
        updated_at=rfc3339(row.updated_at),
        key=row.key if viewer.admin else None,
    )


def _refused(summary: ImportSummary, row: CsvRow) -> None:
    assert row.error is not None
    summary.failed += 1
    if len(summary.errors) < IMPORT_ERRORS:
        e = row.error
        summary.errors.append(
            ImportError_(
                line=row.line, row=row.row, code=e.code, message=e.message, field=e.field or None
            )
        )


def _require(request: Request, ctype: str) -> None:
    """The body's media type is ``ctype`` (a JSON body may also come untyped or as curl's
    form default); raises UnsupportedMediaType."""
    got = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if got == ctype:
        return
    if ctype == "application/json" and got in ("", "application/x-www-form-urlencoded"):
        return
    raise UnsupportedMediaType(f"expected {ctype}, got {got or 'no content-type'}")
