"""The HTTP/JSON API under /v1: routing of requests to handlers, auth, quotas, error rendering.

Every handler raises :class:`~smsgw.gateway.errors.GatewayError` for a refusal; :meth:`Api.handle`
renders them, and every error JSON, ``{"error": {"code", "message", "field"?}}``, is built by
:func:`~smsgw.gateway.errors.error_body`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

import msgspec
import trio
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from smsgw.config.schema import KeyConfig
from smsgw.drivers.text import TextError, parse_decimal, plan
from smsgw.gateway.accept import Prepared
from smsgw.gateway.api_campaigns import CampaignsApi
from smsgw.gateway.api_consent import ConsentApi
from smsgw.gateway.api_contacts import ContactsApi
from smsgw.gateway.api_conversions import ConversionsApi
from smsgw.gateway.api_flows import FlowsApi
from smsgw.gateway.api_segments import SegmentsApi
from smsgw.gateway.api_templates import TemplatesApi
from smsgw.gateway.console import is_console_path
from smsgw.gateway.decoding import decode as _decode
from smsgw.gateway.errors import (
    Conflict,
    Forbidden,
    GatewayError,
    Invalid,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    ShuttingDown,
    StoreDown,
    Unauthorized,
    UnsupportedMediaType,
    error_body,
)
from smsgw.gateway.http import Request, Response
from smsgw.gateway.openapi import openapi_document
from smsgw.gateway.quota import Quotas
from smsgw.gateway.schemas import (
    Accepted,
    BatchReply,
    CancelRefsReply,
    CancelRefsRequest,
    ErrorReply,
    PreviewReply,
    PreviewRequest,
    RefCancelled,
    RefLeft,
    SendRequest,
)
from smsgw.gateway.views import accepted_view, inbound_page, message_page, message_view, route_views
from smsgw.gateway.wiring import Wiring
from smsgw.metrics.histogram import HistogramChild
from smsgw.queue.model import NewMessage
from smsgw.queue.store.health import StoreFatal, StoreUnavailable
from smsgw.words import CLASSES, ENCODINGS, STATUSES

__all__ = ["Api"]

log = logging.getLogger("smsgw.api")

_JSON_TYPES = ("application/json", "application/x-www-form-urlencoded")

_send_decoder = msgspec.json.Decoder(SendRequest)
_preview_decoder = msgspec.json.Decoder(PreviewRequest)
_cancel_refs_decoder = msgspec.json.Decoder(CancelRefsRequest)
_envelope_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_raw_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_encoder = msgspec.json.Encoder()

Handler = Callable[[Request, KeyConfig | None], Awaitable[Response]]
ConsoleHandler = Callable[[Request], Awaitable[tuple[str, Response]]]
"""The ops console's handler: it authenticates itself (it also takes the ops token) and
returns the endpoint label with the response (see :mod:`smsgw.gateway.console`)."""


class _Feature(Protocol):
    """A part of the API served from its own module (``api_*.py``)."""

    routes: dict[str, dict[str, Handler]]
    prefixed: dict[str, tuple[str, dict[str, Handler]]]


class Api:
    """The request handler given to the HTTP server."""

    def __init__(
        self,
        wiring: Wiring,
        *,
        extra_routes: dict[str, dict[str, Handler]] | None = None,
        console: ConsoleHandler | None = None,
    ) -> None:
        self.config = config = wiring.config
        self.console = console
        self.store = wiring.store
        self.scheduler = wiring.scheduler
        self.metrics = metrics = wiring.metrics
        self.wall = wall = wiring.wall
        self.router = wiring.router
        self.policy = wiring.policy
        self.acceptor = wiring.acceptor
        self.consent_api = ConsentApi(config, wiring.consents, wall=wall, decode=_decode)
        self.templates = TemplatesApi(config, wiring.store, wall=wall, decode=_decode)
        self.flows = FlowsApi(
            config, wiring.store, wiring.acceptor, metrics, wall=wall, decode=_decode
        )
        self.contacts = ContactsApi(config, wiring.store, wall=wall, decode=_decode)
        self.segments = SegmentsApi(config, wiring.store, wall=wall, decode=_decode)
        self.campaigns = CampaignsApi(config, wiring.store, wall=wall, decode=_decode)
        self.conversions = ConversionsApi(
            config, wiring.store, wiring.acceptor, metrics, wall=wall, decode=_decode
        )
        features: list[_Feature] = [self.consent_api, self.templates, self.flows, self.contacts]
        features += [self.segments, self.conversions, self.campaigns]
        self.shutting_down = False
        self._keys = {d: (d, k) for k in config.keys if (d := k.token_digest())}
        """token digest -> (the digest, to compare in constant time; the key). A key may be
        configured by the digest alone (token_sha256), so the config file need not hold it."""
        self.quotas = Quotas(config.keys, config.limits.max_batch, trio.current_time())
        self._accepted = {c: metrics.messages_accepted.labels(c) for c in CLASSES}
        self._http_metrics: dict[tuple[str, str, int], tuple[Counter, HistogramChild]] = {}
        """(method, endpoint, status) -> the request counter's and duration histogram's
        children: a labels() lookup costs more than the count it makes."""
        self._parts = {e: metrics.parts_accepted.labels(e) for e in ENCODINGS}
        # Exact paths, then the prefix for /v1/messages/{id}.
        self._routes: dict[str, dict[str, Handler]] = {
            "/v1/messages": {"POST": self._send, "GET": self._list},
            "/v1/messages/preview": {"POST": self._preview},
            "/v1/messages/cancel": {"POST": self._cancel_refs},
            "/v1/routes": {"GET": self._route_list},
            "/v1/inbound": {"GET": self._inbound},
            "/healthz": {"GET": self._healthz},
            "/readyz": {"GET": self._readyz},
            "/metrics": {"GET": self._metrics},
            "/v1/openapi.json": {"GET": self._openapi},
        }
        for feature in features:
            self._routes.update(feature.routes)
        self._routes.update(extra_routes or {})
        self._public = {"/healthz", "/readyz", "/metrics", "/v1/openapi.json"}
        self._message_item: dict[str, Handler] = {"GET": self._get, "DELETE": self._cancel}
        self._prefixed = {p: item for f in features for p, item in f.prefixed.items()}
        """Other item paths: prefix -> (endpoint label, handlers)."""
        self._suffixed = (
            self.templates.suffixed
            | self.flows.suffixed
            | self.segments.suffixed
            | self.campaigns.suffixed
        )
        """Paths below an item: (prefix, suffix) -> (endpoint label, handlers)."""

    def operations(self) -> list[tuple[str, str]]:
        """(METHOD, path template) of every operation the route table serves, the template
        being the ``endpoint`` label of the HTTP metrics (``/v1/messages/{id}``)."""
        tables = [(path, methods) for path, methods in self._routes.items()]
        tables.append(("/v1/messages/{id}", self._message_item))
        tables += list(self._prefixed.values())
        tables += list(self._suffixed.values())
        return sorted((m, path) for path, methods in tables for m in methods)

    # -- dispatch --------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        if self.console is not None and is_console_path(request.path):
            return await self._console(request, self.console)
        started = time.perf_counter()
        endpoint = request.path
        try:
            # Authentication comes before routing: without a valid token, every path but the
            # public ones answers 401, so the API's shape (paths, methods) is not revealed.
            public = request.path in self._public
            key = None if public else self._authenticate(request)
            methods = self._routes.get(request.path)
            if methods is None and request.path.startswith("/v1/messages/"):
                endpoint = "/v1/messages/{id}"
                methods = self._message_item
            if methods is None:
                for (prefix, suffix), (name, table) in self._suffixed.items():
                    path = request.path
                    if (
                        path.startswith(prefix)
                        and path.endswith(suffix)
                        and "/" in path[len(prefix) :]
                    ):
                        endpoint, methods = name, table
                        break
            if methods is None:
                for prefix, (name, table) in self._prefixed.items():
                    if request.path.startswith(prefix) and len(request.path) > len(prefix):
                        endpoint, methods = name, table
                        break
            if methods is None:
                endpoint = "other"
                raise NotFound(f"no such endpoint: {request.path}")
            handler = methods.get(request.method)
            if handler is None and request.method == "HEAD":
                handler = methods.get("GET")
            if handler is None:
                raise MethodNotAllowed(
                    f"{request.method} is not allowed here",
                    headers=(("Allow", ", ".join(sorted(methods))),),
                )
            try:
                response = await handler(request, key)
            except (StoreUnavailable, StoreFatal) as e:
                raise _store_down(e) from None
        except GatewayError as e:
            response = Response(
                e.status,
                _encoder.encode(e.body()),
                [("content-type", "application/json"), *e.headers],
            )
        counted = self._http_metrics.get((request.method, endpoint, response.status))
        if counted is None:
            counted = self._http_children(request.method, endpoint, response.status)
        counted[0].inc()
        counted[1].observe(time.perf_counter() - started)
        return response

    def _http_children(
        self, method: str, endpoint: str, status: int
    ) -> tuple[Counter, HistogramChild]:
        children = (
            self.metrics.http_requests.labels(method, endpoint, str(status)),
            self.metrics.http_duration.labels(endpoint),
        )
        # Methods (llhttp's), endpoints (ours or "other") and statuses are few; the cap is
        # a guard, not a limit anyone reaches.
        if len(self._http_metrics) < 1024:
            self._http_metrics[(method, endpoint, status)] = children
        return children

    async def _console(self, request: Request, console: ConsoleHandler) -> Response:
        started = time.perf_counter()
        endpoint, response = await console(request)
        self.metrics.http_requests.labels(request.method, endpoint, str(response.status)).inc()
        self.metrics.http_duration.labels(endpoint).observe(time.perf_counter() - started)
        return response

    def _authenticate(self, request: Request) -> KeyConfig:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(
                "missing bearer token", headers=(("WWW-Authenticate", 'Bearer realm="smsgw"'),)
            )
        digest = hashlib.sha256(token.strip().encode()).digest()
        # Look up by hash, then compare digests in constant time: timing reveals nothing of a
        # token, only of its (unpredictable) SHA-256.
        found = self._keys.get(digest)
        if found is None or not hmac.compare_digest(found[0], digest):
            raise Unauthorized(
                "invalid API token", headers=(("WWW-Authenticate", 'Bearer realm="smsgw"'),)
            )
        return found[1]

    @staticmethod
    def _require_json(request: Request) -> None:
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        # curl -d sends form-urlencoded by default; its body is still our JSON.
        if ctype and ctype not in _JSON_TYPES and not ctype.endswith("+json"):
            raise UnsupportedMediaType(f"expected application/json, got {ctype}")

    def _take_quota(self, key: KeyConfig, n: int) -> None:
        """Admit ``n`` messages of ``key`` or raise 503/429; the caller gives back what is then
        refused (:meth:`_give_back`), so only accepted messages cost quota."""
        if self.shutting_down:
            raise ShuttingDown("smsgw is shutting down", headers=(("Retry-After", "5"),))
        if not self.store.health.up:  # refused before the quota is charged
            raise _store_down(self.store.health.error())
        if self.store.active_total + n > self.config.store.max_queued:
            raise RateLimited(
                "the queue is full; try again later",
                code="queue_full",
                headers=(("Retry-After", "5"),),
            )
        self.quotas.take(key, n, trio.current_time())

    def _give_back(self, key: KeyConfig, n: int) -> None:
        self.quotas.give_back(key, n, trio.current_time())

    @contextlib.contextmanager
    def _refund_if_store_down(self, key: KeyConfig, n: int) -> Iterator[None]:
        """A send the store could not take was not sent (the writer rolled it back): its
        quota is given back."""
        try:
            yield
        except Exception:
            self._give_back(key, n)
            raise

    # -- sending ---------------------------------------------------------------------------

    async def _send(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        self._require_json(request)
        body = request.body
        if b'"messages"' in body:
            envelope = _decode(_envelope_decoder, body, "")
            if set(envelope) == {"messages"}:
                return await self._send_batch(key, envelope["messages"])
        req = _decode(_send_decoder, body, "")
        if req.client_ref is None and "idempotency-key" in request.headers:
            req.client_ref = request.headers["idempotency-key"][:128] or None
        rendered = await self.templates.render_send(key, req, body, "", {})
        prepared = self.acceptor.prepare(
            key, rendered.request, self.wall(), template=rendered.template
        )
        self._take_quota(key, 1)
        with self._refund_if_store_down(key, 1):
            [screened] = await self.store.accept_screened(
                [(prepared.msg, prepared.facts)], self.policy
            )
        if screened.refusal is not None:
            self._give_back(key, 1)
            self.metrics.messages_refused.labels(screened.refusal.code).inc()
            raise Invalid(screened.refusal.message, field="to", code=screened.refusal.code)
        result = screened.result
        assert result is not None
        if result.duplicate and not prepared.first_of_duplicate:
            self._give_back(key, 1)
            self.metrics.messages_refused.labels("duplicate").inc()
            raise Conflict(_duplicate(result.id), field="dedupe_key", code="duplicate")
        if result.created:
            self._count(prepared.msg)
        reply = accepted_view(prepared, screened)
        return Response(202 if result.created else 200, _encoder.encode(reply), _JSON_HEADERS)

    async def _send_batch(self, key: KeyConfig, raw: msgspec.Raw) -> Response:
        items = _decode(_raw_list_decoder, raw, "messages")
        limit = self.config.limits.max_batch
        if len(items) > limit:
            raise Invalid(
                f"a batch holds at most {limit} messages, got {len(items)}",
                field="messages",
                code="batch_too_large",
            )
        if not items:
            raise Invalid("'messages' is empty", field="messages", code="empty_batch")
        self.quotas.check_batch(key, len(items))
        now = self.wall()
        replies: list[Accepted | ErrorReply | None] = [None] * len(items)
        good: list[tuple[int, Prepared]] = []
        templates: dict[str, Any] = {}
        for i, item in enumerate(items):
            prefix = f"messages[{i}]."
            try:
                req = _decode(_send_decoder, item, prefix)
                r = await self.templates.render_send(key, req, item, prefix, templates)
                prepared = self.acceptor.prepare(
                    key, r.request, now, field_prefix=prefix, template=r.template
                )
            except GatewayError as e:
                self.metrics.messages_refused.labels(e.code).inc()
                replies[i] = e.body()
                continue
            good.append((i, prepared))
        if good:
            self._take_quota(key, len(good))
            with self._refund_if_store_down(key, len(good)):
                results = await self.store.accept_screened(
                    [(p.msg, p.facts) for _, p in good], self.policy
                )
            refused = 0
            for (i, prepared), s in zip(good, results, strict=True):
                if s.refusal is not None:
                    refused += 1
                    self.metrics.messages_refused.labels(s.refusal.code).inc()
                    replies[i] = error_body(s.refusal.code, s.refusal.message, f"messages[{i}].to")
                    continue
                assert s.result is not None
                if s.result.duplicate and not prepared.first_of_duplicate:
                    refused += 1
                    self.metrics.messages_refused.labels("duplicate").inc()
                    field = f"messages[{i}].dedupe_key"
                    replies[i] = error_body("duplicate", _duplicate(s.result.id), field)
                    continue
                if s.result.created:
                    self._count(prepared.msg)
                replies[i] = accepted_view(prepared, s)
            self._give_back(key, refused)
        reply = BatchReply(messages=[r for r in replies if r is not None])
        return Response(202, _encoder.encode(reply), _JSON_HEADERS)

    def _count(self, msg: NewMessage) -> None:
        self._accepted[msg.msg_class].inc()
        self._parts[msg.encoding].inc(len(msg.segments))

    async def _preview(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        self._require_json(request)
        req = _decode(_preview_decoder, request.body, "")
        smart = key.smart_encoding if req.smart_encoding is None else req.smart_encoding
        try:
            p = plan(req.text, max_parts=255, smart=smart)
        except TextError as e:
            raise Invalid(str(e), field="text", code=e.code) from None
        reply = PreviewReply(
            encoding=p.encoding,
            parts=p.parts,
            units=p.units,
            text=p.text,
            smart_encoded=p.smart_replaced,
            ucs2_chars=list(p.ucs2_chars),
        )
        if p.parts > self.config.text.max_parts:
            return Response(
                422,
                _encoder.encode(
                    {
                        "error": error_body(
                            "too_many_parts",
                            f"text needs {p.parts} parts, more than the limit of "
                            f"{self.config.text.max_parts}",
                            "text",
                        ).error,
                        "preview": reply,
                    }
                ),
                _JSON_HEADERS,
            )
        return Response(200, _encoder.encode(reply), _JSON_HEADERS)

    # -- reading ---------------------------------------------------------------------------

    async def _get(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        public_id = request.path.rsplit("/", 1)[1]
        row = await self.store.get(_scope(key), public_id)
        if row is None:
            raise NotFound(f"no message {public_id!r}", field="id")
        return Response(200, _encoder.encode(message_view(row)), _JSON_HEADERS)

    async def _cancel(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        public_id = request.path.rsplit("/", 1)[1]
        owner: str | None = key.name
        if key.admin:  # any key's message: cancel it as its owner
            row = await self.store.get(None, public_id)
            owner = None if row is None else row.key
        status = None if owner is None else await self.store.cancel(owner, public_id, self.wall())
        if status is None:
            raise NotFound(f"no message {public_id!r}", field="id")
        if status != "cancelled":
            raise Conflict(f"message already left (status {status})", code="already_sent")
        return Response(200, _encoder.encode({"id": public_id, "status": status}), _JSON_HEADERS)

    async def _cancel_refs(self, request: Request, key: KeyConfig | None) -> Response:
        """Cancel every waiting message of the key with a client_ref, or a client_ref prefix,
        in one store transaction; an admin key cancels every configured key's, or the one
        it names in ``key``."""
        assert key is not None
        self._require_json(request)
        req = _decode(_cancel_refs_decoder, request.body, "")
        exact, prefix, named = req.client_ref, req.prefix, req.key
        if not isinstance(exact, str) and not isinstance(prefix, str):
            raise Invalid("give client_ref or prefix", field="client_ref")
        if isinstance(exact, str) and isinstance(prefix, str):
            raise Invalid("give client_ref or prefix, not both", field="prefix")
        ref = exact if isinstance(exact, str) else prefix
        assert isinstance(ref, str)
        if isinstance(named, str) and named != key.name and not key.admin:
            raise Forbidden(
                "only an admin key may cancel another key's messages",
                field="key",
                code="not_your_key",
            )
        if isinstance(named, str):
            keys = [named]
        else:
            keys = [k.name for k in self.config.keys] if key.admin else [key.name]
        done = await self.store.cancel_refs(keys, ref, self.wall(), prefix=isinstance(prefix, str))
        reply = CancelRefsReply(
            cancelled=[RefCancelled(id=m.id, client_ref=m.client_ref) for m in done.cancelled],
            already_left=[
                RefLeft(id=m.id, client_ref=m.client_ref, status=m.status)
                for m in done.already_left
            ],
            more=done.more,
        )
        return Response(200, _encoder.encode(reply), _JSON_HEADERS)

    async def _list(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        q = request.query
        status = q.get("status") or None
        if status is not None and status not in STATUSES:
            raise Invalid(f"unknown status {status!r}", field="status")
        after = _int_param(q, "after", 0, 0, 2**62)
        limit = _int_param(q, "limit", 100, 1, 1000)
        rows = await self.store.list_messages(
            _scope(key),
            status=status,
            client_ref=q.get("client_ref") or None,
            after=after,
            limit=limit,
        )
        return Response(200, _encoder.encode(message_page(rows, limit)), _JSON_HEADERS)

    async def _inbound(self, request: Request, key: KeyConfig | None) -> Response:
        assert key is not None
        after = _int_param(request.query, "after", 0, 0, 2**62)
        limit = _int_param(request.query, "limit", 100, 1, 1000)
        rows = await self.store.inbound(after, limit, key=_scope(key))
        return Response(200, _encoder.encode(inbound_page(rows, limit)), _JSON_HEADERS)

    async def _route_list(self, request: Request, key: KeyConfig | None) -> Response:
        """The routes the key may use (see :func:`smsgw.gateway.views.route_views`)."""
        assert key is not None
        ready = await self.store.ready_by_route() if key.admin else {}
        routes = route_views(self.config, self.scheduler, key, ready, trio.current_time())
        return Response(200, _encoder.encode({"routes": routes}), _JSON_HEADERS)

    # -- operations ------------------------------------------------------------------------

    async def _healthz(self, request: Request, key: KeyConfig | None) -> Response:
        return Response(200, b'{"status":"ok"}', _JSON_HEADERS)

    async def _readyz(self, request: Request, key: KeyConfig | None) -> Response:
        up = [name for name in self.scheduler.runners if self.scheduler.is_up(name)]
        store = self.store.opened and self.store.health.up
        checks: dict[str, object] = {
            "store": store,
            "routes_up": up,
            "shutting_down": self.shutting_down,
        }
        ready = store and bool(up) and not self.shutting_down
        if self.shutting_down:
            checks["reason"] = "shutting down"
        elif not store:
            checks["reason"] = self.store.health.reason() or "store not open"
        elif not up:
            checks["reason"] = "no route is up"
        body = _encoder.encode({"status": "ready" if ready else "not ready", **checks})
        return Response(200 if ready else 503, body, _JSON_HEADERS)

    async def _metrics(self, request: Request, key: KeyConfig | None) -> Response:
        return Response(
            200, generate_latest(self.metrics.registry), [("content-type", CONTENT_TYPE_LATEST)]
        )

    async def _openapi(self, request: Request, key: KeyConfig | None) -> Response:
        return Response(200, openapi_document(self.config), _JSON_HEADERS)


_JSON_HEADERS = [("content-type", "application/json")]
STORE_RETRY_AFTER = "5"


def _store_down(e: StoreUnavailable | StoreFatal) -> StoreDown:
    if isinstance(e, StoreFatal):
        text = "the message store failed; smsgw is stopping"
    else:
        text = f"the message store cannot write just now ({e.detail}); try again later"
    return StoreDown(text, headers=(("Retry-After", STORE_RETRY_AFTER),))


def _duplicate(first: str) -> str:
    return (
        f"a message with this dedupe_key went to this number inside its window: {first}"
        ' (send "dedupe": "return_first" to get its answer instead)'
    )


def _scope(key: KeyConfig) -> str | None:
    """The key whose rows a request reads: its own, or every key's (None) for an admin key."""
    return None if key.admin else key.name


def _int_param(query: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    # ASCII digits only: int() would take "٣", " 5" and "1_0", and "²" passes isdigit().
    value = parse_decimal(raw, 32)
    if value is None:
        raise Invalid(f"'{name}' must be a whole number", field=name)
    if not lo <= value <= hi:
        raise Invalid(f"'{name}' must be between {lo} and {hi}", field=name)
    return value
