"""The OpenAPI 3.1 document, generated from the msgspec Structs the API decodes and encodes.

The document says what this server enforces, so a request it allows is accepted and one it
forbids is refused (checked by schemathesis, ``tests/test_openapi_conformance.py``). What the
Structs cannot know comes from the config the gateway runs: the route names a message may ask
for, the batch size, the longest text ``text.max_parts`` can take, whether national number
formats are read (``policy.default_country``). Refusals that depend on data rather than shape
(a number phonenumbers does not know, a key's sender list, an opted-out number, a full queue)
are documented as the 4xx answers they are.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

import msgspec

from smsgw import __version__
from smsgw.config.schema import Config
from smsgw.gateway.api_consent import ConsentBody, OptoutBody
from smsgw.gateway.openapi_campaigns import campaign_components, campaign_paths
from smsgw.gateway.openapi_contacts import contact_paths
from smsgw.gateway.openapi_conversions import conversion_paths, patch_conversion_body
from smsgw.gateway.openapi_flows import flow_paths
from smsgw.gateway.openapi_paths import known_number_pattern, number_pattern, paths, ref
from smsgw.gateway.schemas import (
    Accepted,
    CancelRefsReply,
    CancelRefsRequest,
    CancelReply,
    ConsentReply,
    ErrorReply,
    HealthReply,
    ImportReply,
    InboundPage,
    MessagePage,
    MessageView,
    OptinReply,
    OptoutPage,
    OptoutState,
    PreviewReply,
    PreviewRequest,
    ReadyReply,
    RouteList,
    SendRequest,
)
from smsgw.gateway.schemas_campaigns import CampaignBody, CampaignPage, CampaignView
from smsgw.gateway.schemas_contacts import (
    MAX_CONTACT_BATCH,
    ContactBody,
    ContactDeleted,
    ContactPage,
    ContactPatchBody,
    ContactView,
    ContactWritten,
    ImportSummary,
    SegmentBody,
    SegmentContacts,
    SegmentCount,
    SegmentDeleted,
    SegmentPage,
    SegmentRules,
    SegmentView,
)
from smsgw.gateway.schemas_conversions import ConversionBody, ConversionPage, ConversionView
from smsgw.gateway.schemas_flows import EventBody, EventReply, FlowDetail, FlowList, RunPage
from smsgw.gateway.schemas_templates import (
    RecipientPreview,
    TemplateBody,
    TemplateDeleted,
    TemplatePage,
    TemplatePreviewRequest,
    TemplateUpdate,
    TemplateView,
    WorstCase,
)

__all__ = ["documented_operations", "known_number_pattern", "openapi_document"]

_STRUCTS = (
    SendRequest, Accepted, ErrorReply, MessageView, MessagePage, InboundPage, PreviewRequest,
    PreviewReply, OptoutBody, ConsentBody, CancelReply, RouteList, HealthReply, ReadyReply,
    OptoutPage, OptoutState, OptinReply, ImportReply, ConsentReply, TemplateBody,
    TemplateUpdate, TemplateView, TemplatePage, TemplateDeleted, TemplatePreviewRequest,
    RecipientPreview, WorstCase, CancelRefsRequest, CancelRefsReply, EventBody, EventReply,
    FlowList, FlowDetail, RunPage, ContactBody, ContactPatchBody, ContactView, ContactWritten,
    ContactPage, ContactDeleted, ImportSummary, SegmentBody, SegmentRules, SegmentView,
    SegmentPage, SegmentDeleted, SegmentContacts, SegmentCount, ConversionBody, ConversionView,
    ConversionPage, CampaignBody, CampaignView, CampaignPage,
)  # fmt: skip


def _set_string(props: dict[str, Any], name: str, **changes: Any) -> None:
    """Apply ``changes`` to the string schema of ``props[name]``; ``None`` drops a key."""
    prop = props[name]
    branches = prop.get("anyOf")
    targets = [b for b in branches if b.get("type") == "string"] if branches else [prop]
    for t in targets:
        for k, v in changes.items():
            if v is None:
                t.pop(k, None)
            else:
                t[k] = v


def _max_text(config: Config) -> int:
    """Characters no text of more than ``max_parts`` parts can be shorter than: a longer text
    is always refused (too_many_parts), a shorter one may be (UCS-2 fits fewer per part)."""
    parts = config.text.max_parts
    return 160 if parts == 1 else 153 * parts


def _to_description(config: Config) -> str | None:
    """What the pattern of ``to`` cannot say: with ``policy.validate_numbers`` the number must
    also be one its country assigns, and with ``policy.refuse_non_mobile`` a mobile number
    (phonenumbers' metadata, per region and number type; 422 invalid_number, not_mobile)."""
    pc = config.policy
    rules = []
    if pc.validate_numbers:
        rules.append("a number its country's numbering plan assigns (422 invalid_number)")
    if pc.refuse_non_mobile:
        rules.append("a mobile number (422 not_mobile)")
    return "The destination; also " + " and ".join(rules) + "." if rules else None


def _components(config: Config) -> dict[str, Any]:
    _, components = msgspec.json.schema_components(_STRUCTS, ref_template=ref("{name}")["$ref"])
    send = components["SendRequest"]["properties"]
    routes = [r.name for r in config.routes]
    _set_string(send, "route", enum=routes)
    _set_string(send, "tz", enum=sorted(zoneinfo.available_timezones()))
    _set_string(send, "text", maxLength=_max_text(config))
    number = {"pattern": number_pattern(config), "minLength": None}
    numbers = (
        ("SendRequest", "to"),
        ("OptoutBody", "number"),
        ("ConsentBody", "number"),
        ("EventBody", "number"),
        ("ContactBody", "number"),
        ("ConversionBody", "number"),
    )
    for name, prop in numbers:
        _set_string(components[name]["properties"], prop, **number)
    zones = sorted(zoneinfo.available_timezones())
    for name in ("ContactBody", "ContactPatchBody", "SegmentBody", "SegmentRules"):
        _set_string(components[name]["properties"], "time_zone", enum=zones)
    _set_string(send, "to", description=_to_description(config))
    _set_string(
        components["ConsentBody"]["properties"],
        "at",
        format="date-time",
        description="When consent was given (default: now); not in the future (422 invalid_time).",
    )
    _set_string(components["PreviewRequest"]["properties"], "text", maxLength=153 * 255)
    # A text, or a template: exactly one of the two.
    components["SendRequest"]["oneOf"] = [{"required": ["text"]}, {"required": ["template"]}]
    # One recipient's vars, or recipients: exactly one of the two.
    components["TemplatePreviewRequest"]["oneOf"] = [
        {"required": ["vars"]},
        {"required": ["recipients"]},
    ]
    components["TemplatePreviewReply"] = {
        "type": "object",
        "properties": {
            "recipients": {
                "type": "array",
                "items": {"anyOf": [ref("RecipientPreview"), ref("ErrorReply")]},
                "description": "One answer per recipient, in order: its rendering, or the"
                " error that refused it (a missing variable).",
            },
            "worst": ref("WorstCase"),
        },
        "required": ["recipients", "worst"],
    }
    # The window and the choice of answer mean nothing without a dedupe_key (422 otherwise).
    components["SendRequest"]["dependentRequired"] = {
        "dedupe_window": ["dedupe_key"],
        "dedupe": ["dedupe_key"],
    }
    # Exactly one of the two: what msgspec's Struct cannot say (the handler refuses the rest).
    components["CancelRefsRequest"]["oneOf"] = [
        {"required": ["client_ref"], "not": {"required": ["prefix"]}},
        {"required": ["prefix"], "not": {"required": ["client_ref"]}},
    ]
    # msgspec cannot describe an untagged union of Structs, so the batch is spelt out. Items
    # are answered one by one: an item that is not a SendRequest gets its own error in a 202.
    components["BatchRequest"] = {
        "type": "object",
        "properties": {
            "messages": {
                "type": "array",
                "items": {"anyOf": [ref("SendRequest"), {}]},
                "minItems": 1,
                "maxItems": config.limits.max_batch,
                "description": "Each item a SendRequest; one that is not gets its own error.",
            }
        },
        "required": ["messages"],
        "additionalProperties": False,
    }
    components["ContactBatch"] = {
        "type": "object",
        "properties": {
            "contacts": {
                "type": "array",
                "items": {"anyOf": [ref("ContactBody"), {}]},
                "minItems": 1,
                "maxItems": MAX_CONTACT_BATCH,
                "description": "Each item a ContactBody; one that is not gets its own error.",
            }
        },
        "required": ["contacts"],
        "additionalProperties": False,
    }
    components["ContactsReply"] = {
        "type": "object",
        "properties": {
            "contacts": {
                "type": "array",
                "items": {"anyOf": [ref("ContactWritten"), ref("ErrorReply")]},
                "description": "One answer per item, in the order sent.",
            }
        },
        "required": ["contacts"],
    }
    components["BatchReply"] = {
        "type": "object",
        "properties": {
            "messages": {
                "type": "array",
                "items": {"anyOf": [ref("Accepted"), ref("ErrorReply")]},
                "description": "One answer per item, in the order sent.",
            }
        },
        "required": ["messages"],
    }
    components["EventBatch"] = {
        "type": "object",
        "properties": {
            "events": {
                "type": "array",
                "items": {"anyOf": [ref("EventBody"), {}]},
                "minItems": 1,
                "maxItems": config.limits.max_batch,
            }
        },
        "required": ["events"],
        "additionalProperties": False,
    }
    components["EventsReply"] = {
        "type": "object",
        "properties": {
            "events": {
                "type": "array",
                "items": {"anyOf": [ref("EventReply"), ref("ErrorReply")]},
                "description": "One answer per item, in the order sent.",
            }
        },
        "required": ["events"],
    }
    patch_conversion_body(components)
    campaign_components(components, routes)
    _set_string(
        components["EventBody"]["properties"],
        "at",
        format="date-time",
        description="When it happened (default: now); not in the future (422 at_in_future).",
    )
    return components


def _build(config: Config) -> bytes:
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "smsgw", "version": __version__},
        "components": {
            "schemas": _components(config),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            **paths(config),
            **flow_paths(config),
            **contact_paths(config),
            **conversion_paths(),
            **campaign_paths(),
        },
    }
    return msgspec.json.encode(doc)


_cache: dict[tuple[object, ...], bytes] = {}


def openapi_document(config: Config | None = None) -> bytes:
    """The document for a gateway running ``config`` (the default config when None), as JSON
    bytes; built once per distinct set of the settings it depends on."""
    if config is None:
        config = Config()
    facts = (
        tuple(r.name for r in config.routes),
        config.limits.max_batch,
        config.text.max_parts,
        config.policy.default_country,
        config.policy.validate_numbers,
        config.policy.refuse_non_mobile,
    )
    doc = _cache.get(facts)
    if doc is None:
        doc = _cache[facts] = _build(config)
    return doc


def documented_operations(config: Config | None = None) -> list[tuple[str, str, tuple[str, ...]]]:
    """(METHOD, path template, documented 2xx status codes) of every operation in the
    document; the path templates are the ``endpoint`` labels of the HTTP metrics."""
    doc = msgspec.json.decode(openapi_document(config))
    return [
        (method.upper(), path, tuple(c for c in op["responses"] if c.startswith("2")))
        for path, item in doc["paths"].items()
        for method, op in item.items()
    ]
