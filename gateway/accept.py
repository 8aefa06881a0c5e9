"""The accept path: a decoded :class:`SendRequest` becomes a :class:`NewMessage`, or an error
naming the field. Pure (time is passed in); the store commits what comes out."""

from __future__ import annotations

import re
from datetime import UTC
from typing import NamedTuple

import msgspec
from msgspec import UnsetType

from smsgw.config.durations import format_duration, parse_duration
from smsgw.config.schema import Config, KeyConfig
from smsgw.drivers.seam import InboundMessage
from smsgw.drivers.text import ReferenceAllocator, TextError, TooManyParts, plan
from smsgw.gateway.errors import GatewayError, Invalid
from smsgw.gateway.schemas import DEDUPE_WINDOW, DEDUPE_WINDOW_MAX, SendRequest
from smsgw.gateway.webhook_targets import TargetPolicy, check_callback_url
from smsgw.queue.consent.keyword_handler import ReplyBuilder, sender_number
from smsgw.queue.consent.numbers import NumberError, calling_code_known, parse_number, shape_ok
from smsgw.queue.consent.policy import SYSTEM_KEY, Facts, Policy
from smsgw.queue.consent.quiet_hours import UnknownZone, zone
from smsgw.queue.links import track_links
from smsgw.queue.model import NewLink, NewMessage
from smsgw.queue.scheduling.routing import Router
from smsgw.words import CLASSES

__all__ = ["Acceptor", "Prepared", "keyword_replies", "valid_sender"]

# \Z, not $: "$" also matches before a trailing newline, which would let "Shop\n" through.
E164 = re.compile(r"^\+[1-9][0-9]{6,14}\Z")
_SHORT_CODE = re.compile(r"^[0-9]{3,8}\Z")
_ALNUM_SENDER = re.compile(r"^[A-Za-z0-9 .\-_&'!?]{1,11}\Z")
SEND_AT_SKEW = 5.0
"""Seconds a send_at may lie in the past (client clocks drift) before it is refused."""
DEFAULT_SENDER = "smsgw"


def valid_sender(sender: str) -> bool:
    """E.164, a short code, or up to 11 alphanumeric GSM characters."""
    return bool(E164.match(sender) or _SHORT_CODE.match(sender) or _ALNUM_SENDER.match(sender))


class Prepared(NamedTuple):
    msg: NewMessage
    smart: bool
    """Smart encoding changed the text."""
    facts: Facts
    """What the number told us (zones, country), for the policy and the row."""
    first_of_duplicate: bool = False
    """A duplicate (its dedupe_key seen inside the window) is answered with the first
    message instead of refused."""


class Acceptor:
    """Validates and prepares messages for one gateway's config."""

    def __init__(self, config: Config, router: Router, policy: Policy | None = None) -> None:
        self.config = config
        self.router = router
        self.policy = policy if policy is not None else Policy(config)
        self.targets = TargetPolicy(config)
        self._refs = {8: ReferenceAllocator(8), 16: ReferenceAllocator(16)}
        self._ref_bits = {r.name: r.ref_bits for r in config.routes}
        self._allowed = {k.name: frozenset(k.routes) for k in config.keys if k.routes}
        """Per key with a route allow-list, the routes it may use (built once, not per message)."""
        self._validity = {c: config.scheduler.validity(c) for c in CLASSES}

    def build(
        self, key: KeyConfig, req: SendRequest, now: float, *, field_prefix: str = ""
    ) -> tuple[NewMessage, bool]:
        """Return the message and whether smart encoding changed its text; raises Invalid."""
        prepared = self.prepare(key, req, now, field_prefix=field_prefix)
        return prepared.msg, prepared.smart

    def destination(self, req: SendRequest, fp: str = "") -> tuple[str, Facts]:
        """The E.164 destination and what policy needs of it; raises Invalid.

        The number is parsed once here (``phonenumbers`` is not cheap); zones and country are
        worked out only for classes held to quiet hours or given a footer.
        """
        pc = self.config.policy
        details = self.policy.needs_facts(req.msg_class)
        zones: tuple[str, ...] = ()
        if req.tz is not None:
            try:
                zone(req.tz)
            except UnknownZone:
                raise Invalid(
                    f"'tz' must be an IANA time zone like Europe/Berlin, got {req.tz!r}",
                    field=fp + "tz",
                    code="invalid_tz",
                ) from None
            zones = (req.tz,)
        # Without a default country, E.164 exactly as written, whatever the class (the API
        # document's pattern); phonenumbers alone would also read spaces, dashes, brackets.
        raw = req.to.strip() if pc.default_country else req.to
        if not pc.default_country and not (shape_ok(raw) and calling_code_known(raw)):
            raise Invalid(
                f"'to' must be an E.164 number like +4917012345678, got {req.to!r}",
                field=fp + "to",
                code="invalid_number",
            )
        if not (pc.validate_numbers or pc.refuse_non_mobile or pc.default_country or details):
            return raw, Facts()
        try:
            info = parse_number(raw, self.policy.default_country, details=details)
        except NumberError as e:
            raise Invalid(
                f"'to' {req.to!r} is not a phone number: {e.reason}",
                field=fp + "to",
                code="invalid_number",
            ) from None
        if pc.validate_numbers and not info.valid:
            raise Invalid(
                f"'to' {info.e164} is not a valid phone number",
                field=fp + "to",
                code="invalid_number",
            )
        if pc.refuse_non_mobile and not info.mobile:
            raise Invalid(
                f"'to' {info.e164} is a {info.kind.replace('_', ' ')} number; only mobile"
                " numbers are accepted",
                field=fp + "to",
                code="not_mobile",
            )
        if not details:
            return info.e164, Facts()
        return info.e164, Facts(zones=zones or info.zones, country=info.country)

    def prepare(
        self,
        key: KeyConfig,
        req: SendRequest,
        now: float,
        *,
        field_prefix: str = "",
        template: str | None = None,
    ) -> Prepared:
        """The message, whether smart encoding changed its text, and the number's facts;
        raises Invalid naming the field. ``template`` names the template ``req.text`` was
        rendered from (the message records it; a refusal of the text names ``template``)."""
        fp = field_prefix
        to, facts = self.destination(req, fp)
        text_field = fp + ("text" if template is None else "template")
        body = req.text
        if isinstance(body, UnsetType) or not body:
            raise Invalid("'text' must not be empty", field=text_field, code="empty_text")
        sender = req.sender if req.sender is not None else (key.senders or [DEFAULT_SENDER])[0]
        if not valid_sender(sender):
            raise Invalid(
                "'from' must be E.164, a short code, or 1-11 letters and digits",
                field=fp + "from",
                code="invalid_sender",
            )
        if key.senders and sender not in key.senders:
            raise Invalid(
                f"sender {sender!r} is not allowed for this API key",
                field=fp + "from",
                code="sender_not_allowed",
            )
        if req.callback_url is not None:
            check_callback_url(
                self.targets, self.config, key, req.callback_url, fp + "callback_url"
            )
        send_at: float | None = None
        if req.send_at is not None:
            if req.send_at.tzinfo is None:
                raise Invalid(
                    "'send_at' must carry a time zone (RFC 3339, e.g. 2026-01-01T09:00:00Z)",
                    field=fp + "send_at",
                    code="invalid_time",
                )
            send_at = req.send_at.astimezone(UTC).timestamp()
            if send_at < now - SEND_AT_SKEW:
                raise Invalid("'send_at' is in the past", field=fp + "send_at", code="send_at_past")
            ahead = self.config.limits.max_send_ahead
            if send_at > now + ahead:
                raise Invalid(
                    f"'send_at' is more than {format_duration(ahead)} ahead"
                    " (limits.max_send_ahead)",
                    field=fp + "send_at",
                    code="send_at_too_far",
                )
            if send_at <= now:
                send_at = None
        allowed = (self._allowed.get(key.name) or frozenset(key.routes)) if key.routes else None
        if req.route is not None:
            if not self.router.known(req.route):
                raise Invalid(f"unknown route {req.route!r}", field=fp + "route", code="no_route")
            if allowed is not None and req.route not in allowed:
                raise Invalid(
                    f"route {req.route!r} is not allowed for this API key",
                    field=fp + "route",
                    code="route_not_allowed",
                )
            routes: tuple[str, ...] = (req.route,)
        else:
            picked = self.router.pick(to, req.msg_class, sender, allowed=allowed)
            if picked is None:
                why = (
                    f"no routing rule matches {to}"
                    if allowed is None
                    else f"no routing rule gives {to} a route this API key may use"
                )
                raise Invalid(why, field=fp + "to", code="no_route")
            routes = picked
        ref_bits = self._ref_bits.get(routes[0], 8)
        smart = key.smart_encoding if req.smart_encoding is None else req.smart_encoding
        text = body
        links: tuple[NewLink, ...] = ()
        if req.track_links:
            lc = self.config.links
            if not lc.enabled:
                raise Invalid(
                    "'track_links' needs tracked links configured ([links] listen and base_url)",
                    field=fp + "track_links",
                    code="links_off",
                )
            # Before the split: the parts (and what the client pays for) hold the short links.
            text, links = track_links(text, lc.base_url, lc.code_length, now + lc.expire_after)
        # The footer goes on before the split, so the part count the client pays for has it.
        text = self.policy.with_footer(req.msg_class, facts.country, text)
        try:
            p = plan(text, max_parts=self.config.text.max_parts, ref_bits=ref_bits, smart=smart)
        except TooManyParts as e:
            raise Invalid(
                f"text needs {e.parts} parts, more than the limit of {e.max_parts}",
                field=text_field,
                code="too_many_parts",
            ) from None
        except TextError as e:
            raise Invalid(str(e), field=text_field, code=e.code) from None
        dedupe_until = self._dedupe_until(req, now, fp)
        start = send_at if send_at is not None else now
        validity = float(req.validity) if req.validity else self._validity[req.msg_class]
        ref = self._refs[ref_bits].next(to) if p.parts > 1 else 0
        msg = NewMessage(
            key=key.name,
            to=to,
            sender=sender,
            text=p.text,
            encoding=p.encoding,
            segments=tuple(p.segments),
            msg_class=req.msg_class,
            routes=routes,
            ref=ref,
            ref_bits=ref_bits,
            created_at=now,
            expires_at=start + validity,
            send_at=send_at,
            client_ref=req.client_ref,
            callback_url=req.callback_url,
            webhook_events=req.webhook_events or key.webhook_events,
            status="scheduled" if send_at is not None else "queued",
            due_at=send_at,
            note="accepted" if send_at is None else "accepted, scheduled for send_at",
            template=template,
            links=links,
            dedupe_key=req.dedupe_key if isinstance(req.dedupe_key, str) else None,
            dedupe_until=dedupe_until,
        )
        return Prepared(msg, p.smart_replaced, facts, req.dedupe == "return_first")

    @staticmethod
    def _dedupe_until(req: SendRequest, now: float, fp: str) -> float | None:
        """When the message's dedupe_key stops holding its number; raises Invalid."""
        window = req.dedupe_window
        if not isinstance(req.dedupe_key, str):
            for name, given in (("dedupe_window", window), ("dedupe", req.dedupe)):
                if given is not msgspec.UNSET:
                    raise Invalid(f"'{name}' needs a 'dedupe_key'", field=fp + name)
            return None
        if isinstance(window, msgspec.UnsetType):
            return now + DEDUPE_WINDOW
        try:
            return now + parse_duration(window, maximum=DEDUPE_WINDOW_MAX)
        except ValueError as e:
            raise Invalid(str(e), field=fp + "dedupe_window") from None


_SYSTEM = KeyConfig(name=SYSTEM_KEY, token="")
"""The key keyword auto-replies are accepted under (any sender, exempt from policy)."""


def keyword_replies(acceptor: Acceptor) -> ReplyBuilder:
    """Builds keyword auto-replies (:mod:`smsgw.queue.consent.keyword_handler`): back to the sender,
    from the number the keyword was sent to, through the route it came in on, validated and
    split like any message. None when there is no number to answer (an alphanumeric sender)."""

    def build(msg: InboundMessage, text: str, client_ref: str, now: float) -> NewMessage | None:
        country = acceptor.policy.default_country
        ours = sender_number(msg.to, country)
        req = SendRequest(
            to=sender_number(msg.sender, country),
            text=text,
            sender=ours if valid_sender(ours) else None,
            msg_class="transactional",
            client_ref=client_ref,
            route=msg.route,
        )
        try:
            return acceptor.prepare(_SYSTEM, req, now).msg
        except GatewayError:
            return None

    return build
