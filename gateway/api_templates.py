"""``/v1/templates``: message templates over HTTP, and rendering them for a send.

* ``POST /v1/templates`` ``{"name", "text", "variants"?, "class"?, "description"?}``: ``201``
  and the template; ``409 template_exists`` when the key has one of that name.
* ``GET /v1/templates?after=&limit=``: a page and a cursor.
* ``GET /v1/templates/{name}``, ``PUT`` (replace all but the name), ``DELETE``: ``404`` when
  the key has no such template.
* ``POST /v1/templates/{name}/preview`` ``{"vars", "locale"?}`` or ``{"recipients": [{"vars",
  "locale"?}, ...]}``: each recipient's text, encoding, parts and the characters that forced
  UCS-2 (or its error: a missing variable), and the worst case over them.

Templates belong to the API key that made them: another key never sees or changes them. An
admin key lists every key's (each with its ``key``) and reaches another key's by ``?key=``.
A template's text is checked when it is stored (422 ``invalid_template`` naming ``text`` or
``variants.<locale>``), so a send finds it well-formed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import msgspec
from msgspec import UnsetType

from smsgw.config.schema import Config, KeyConfig
from smsgw.drivers.text import TextError
from smsgw.gateway.errors import Conflict, Invalid, NotFound, error_body
from smsgw.gateway.http import Request, Response
from smsgw.gateway.params import owner_of, query_number
from smsgw.gateway.schemas import SendRequest
from smsgw.gateway.schemas_templates import (
    PreviewRecipient,
    RecipientPreview,
    TemplateBody,
    TemplateDeleted,
    TemplatePage,
    TemplatePreviewReply,
    TemplatePreviewRequest,
    TemplateUpdate,
    TemplateView,
    WorstCase,
)
from smsgw.queue.campaigns.templates import (
    Compiled,
    CompiledTemplate,
    TemplateError,
    check_vars,
    choose,
    compile_template,
    render,
    render_plan,
)
from smsgw.queue.model import rfc3339
from smsgw.queue.store import Store
from smsgw.queue.store.records import NewTemplate, TemplateRow

__all__ = ["Rendered", "TemplatesApi"]

Handler = Callable[[Request, KeyConfig | None], Awaitable[Response]]
Decode = Callable[[msgspec.json.Decoder[Any], bytes, str], Any]

_JSON = [("content-type", "application/json")]
_encoder = msgspec.json.Encoder()
_body_decoder = msgspec.json.Decoder(TemplateBody)
_update_decoder = msgspec.json.Decoder(TemplateUpdate)
_preview_decoder = msgspec.json.Decoder(TemplatePreviewRequest)
_PREFIX = "/v1/templates/"
_PREVIEW = "/preview"


class _ClassGiven(msgspec.Struct):
    """Whether a send request named its class (a template's class applies otherwise)."""

    msg_class: str | None = msgspec.field(default=None, name="class")


_class_decoder = msgspec.json.Decoder(_ClassGiven)


class Rendered(NamedTuple):
    """A send request with its template rendered: the request to prepare and the name of
    the template it came from (None: sent as text)."""

    request: SendRequest
    template: str | None


class TemplatesApi:
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
            "/v1/templates": {"GET": self._list, "POST": self._create}
        }
        self.prefixed: dict[str, tuple[str, dict[str, Handler]]] = {
            _PREFIX: (
                "/v1/templates/{name}",
                {"GET": self._get, "PUT": self._replace, "DELETE": self._delete},
            )
        }
        self.suffixed: dict[tuple[str, str], tuple[str, dict[str, Handler]]] = {
            (_PREFIX, _PREVIEW): ("/v1/templates/{name}/preview", {"POST": self._preview})
        }

    # -- CRUD ------------------------------------------------------------------------------

    async def _create(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        body: TemplateBody = self._decode(_body_decoder, request.body, "")
        t = self._new(key.name, body.name, body)
        row = await self.store.add_template(t)
        if row is None:
            raise Conflict(
                f"a template named {body.name!r} exists; PUT /v1/templates/{body.name} to"
                " change it",
                field="name",
                code="template_exists",
            )
        return Response(201, _encoder.encode(_view(row, key)), _JSON)

    async def _list(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        after = query_number(request.query, "after", 0, 0, 2**62)
        limit = query_number(request.query, "limit", 100, 1, 1000)
        rows = await self.store.templates_page(None if key.admin else key.name, after, limit)
        page = TemplatePage(
            templates=[_view(r, key) for r in rows],
            next=str(rows[-1].cursor) if len(rows) == limit else None,
        )
        return Response(200, _encoder.encode(page), _JSON)

    async def _get(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        owner, name = self._target(request, key)
        row = await self.store.get_template(owner, name)
        if row is None:
            raise NotFound(f"no template {name!r}", field="name")
        return Response(200, _encoder.encode(_view(row, key)), _JSON)

    async def _replace(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        owner, name = self._target(request, key)
        body: TemplateUpdate = self._decode(_update_decoder, request.body, "")
        row = await self.store.replace_template(self._new(owner, name, body))
        if row is None:
            raise NotFound(f"no template {name!r}", field="name")
        return Response(200, _encoder.encode(_view(row, key)), _JSON)

    async def _delete(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        owner, name = self._target(request, key)
        if not await self.store.delete_template(owner, name):
            raise NotFound(f"no template {name!r}", field="name")
        return Response(200, _encoder.encode(TemplateDeleted(name=name, deleted=True)), _JSON)

    def _new(self, owner: str, name: str, body: TemplateBody | TemplateUpdate) -> NewTemplate:
        try:
            compile_template(body.text, body.variants)
        except TemplateError as e:
            raise Invalid(e.message, field=e.field, code=e.code) from None
        return NewTemplate(
            key=owner,
            name=name,
            text=body.text,
            variants=dict(body.variants),
            msg_class=body.msg_class,
            description=body.description,
            at=self.wall(),
        )

    def _target(self, request: Request, key: KeyConfig, suffix: str = "") -> tuple[str, str]:
        """The (owner key, name) a path addresses: the caller's, or with ``?key=`` another
        key's for an admin key. A name that cannot be one is a 404."""
        tail = request.path[len(_PREFIX) : len(request.path) - len(suffix)]
        if not _valid_name(tail):
            raise NotFound(f"no template {tail!r}", field="name")
        return owner_of(request, key, "templates"), tail

    async def _template(self, owner: str, name: str) -> tuple[TemplateRow, CompiledTemplate]:
        row = await self.store.get_template(owner, name)
        if row is None:
            raise NotFound(f"no template {name!r}", field="name")
        return row, _compiled(row)

    # -- preview ---------------------------------------------------------------------------

    async def _preview(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        owner, name = self._target(request, key, _PREVIEW)
        req: TemplatePreviewRequest = self._decode(_preview_decoder, request.body, "")
        if isinstance(req.vars, UnsetType) == isinstance(req.recipients, UnsetType):
            raise Invalid(
                "give 'vars' (one recipient) or 'recipients', not both or neither",
                field="vars" if isinstance(req.recipients, UnsetType) else "recipients",
            )
        _, template = await self._template(owner, name)
        smart = key.smart_encoding if req.smart_encoding is None else req.smart_encoding
        limit = self.config.text.max_parts
        if isinstance(req.recipients, UnsetType):
            assert not isinstance(req.vars, UnsetType)
            recipients = [(PreviewRecipient(vars=req.vars, locale=req.locale), "")]
        else:
            recipients = [(r, f"recipients[{i}].") for i, r in enumerate(req.recipients)]
        out: list[RecipientPreview | Any] = []
        parts = 0
        ucs2 = False
        refused = 0
        for r, fp in recipients:
            try:
                compiled = choose(template, r.locale or req.locale)
                one = _preview_one(compiled, r.vars, smart, fp)
            except _Refused as e:
                refused += 1
                out.append(error_body(e.code, e.message, e.field))
                continue
            parts = max(parts, one.parts)
            ucs2 = ucs2 or one.encoding == "ucs2"
            out.append(one)
        worst = WorstCase(parts=parts, ucs2=ucs2, within_limit=parts <= limit, refused=refused)
        body = TemplatePreviewReply(recipients=out, worst=worst)
        return Response(200, _encoder.encode(body), _JSON)

    # -- sending ---------------------------------------------------------------------------

    async def render_send(
        self,
        key: KeyConfig,
        req: SendRequest,
        raw: bytes | msgspec.Raw,
        fp: str,
        cache: dict[str, tuple[TemplateRow, CompiledTemplate] | None],
    ) -> Rendered:
        """The request to prepare: as given when it has a ``text``; with its template
        rendered when it names one (its class the template's when it gives none). Raises
        Invalid naming the field under the prefix ``fp`` (``text``, ``template``,
        ``vars.<name>``), NotFound (``unknown_template``) for a template the key lacks.
        ``cache`` (one per request) keeps a batch at one store read per template."""
        if isinstance(req.template, UnsetType):
            if isinstance(req.text, UnsetType):
                raise Invalid(
                    "Object missing required field `text` (or give `template` and `vars`)",
                    field=fp + "text",
                )
            return Rendered(req, None)
        if not isinstance(req.text, UnsetType):
            raise Invalid("give 'text' or 'template', not both", field=fp + "template")
        name = req.template
        if name not in cache:
            row = await self.store.get_template(key.name, name)
            cache[name] = None if row is None else (row, _compiled(row))
        found = cache[name]
        if found is None:
            raise NotFound(
                f"no template {name!r} for this key", field=fp + "template", code="unknown_template"
            )
        row, compiled = found
        variables = {} if isinstance(req.vars, UnsetType) else req.vars
        locale = None if isinstance(req.locale, UnsetType) else req.locale
        try:
            check_vars(variables)
            text = render(choose(compiled, locale), variables)
        except TemplateError as e:
            raise Invalid(e.message, field=fp + e.field, code=e.code) from None
        changes: dict[str, Any] = {"text": text}
        if row.msg_class is not None and _class_decoder.decode(raw).msg_class is None:
            changes["msg_class"] = row.msg_class
        return Rendered(msgspec.structs.replace(req, **changes), name)


class _Refused(Exception):
    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def _preview_one(
    compiled: Compiled, variables: dict[str, Any], smart: bool, fp: str
) -> RecipientPreview:
    try:
        check_vars(variables)
        p = render_plan(compiled, variables, smart=smart)
    except TemplateError as e:
        raise _Refused(e.code, e.message, fp + e.field) from None
    except TextError as e:
        raise _Refused(e.code, str(e), fp + "vars") from None
    return RecipientPreview(
        text=p.text,
        encoding=p.encoding,
        parts=p.parts,
        units=p.units,
        ucs2_chars=list(p.ucs2_chars),
    )


def _compiled(row: TemplateRow) -> CompiledTemplate:
    # Stored text was checked when it was written; a row that no longer parses is an error
    # of the store's, not the client's.
    return compile_template(row.text, row.variants)


def _view(row: TemplateRow, viewer: KeyConfig) -> TemplateView:
    return TemplateView(
        name=row.name,
        text=row.text,
        variants=row.variants,
        msg_class=row.msg_class,  # type: ignore[arg-type]
        description=row.description,
        created_at=rfc3339(row.created_at),
        updated_at=rfc3339(row.updated_at),
        key=row.key if viewer.admin else None,
    )


def _valid_name(name: str) -> bool:
    return 0 < len(name) <= 64 and all(c in _NAME_CHARS for c in name)


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
