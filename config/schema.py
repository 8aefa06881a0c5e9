"""The typed config schema: one frozen msgspec Struct per TOML table.

Unknown keys are refused (``forbid_unknown_fields``), types are checked by msgspec, and the
cross-field checks (a rule naming an unknown route, a bad listen address) live in
:mod:`smsgw.config.loader`, which turns every failure into one line naming file, key and reason.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

import msgspec

from smsgw.config.conversions import ConversionsConfig
from smsgw.config.flows import FlowConfig
from smsgw.config.links import LinksConfig
from smsgw.config.smpp_server import SmppServerConfig
from smsgw.words import MessageClass

__all__ = [
    "AutoReplyConfig",
    "Config",
    "KeyConfig",
    "KeywordsConfig",
    "LimitsConfig",
    "LinksConfig",
    "ModemRouteConfig",
    "PolicyConfig",
    "QuietWindowConfig",
    "RouteConfig",
    "RuleConfig",
    "SchedulerConfig",
    "ServerConfig",
    "SimulatorRouteConfig",
    "SmppRouteConfig",
    "StoreConfig",
    "TextConfig",
    "WebhookConfig",
]

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
PosInt = Annotated[int, msgspec.Meta(ge=1)]
# \Z, not $: "$" also matches before a trailing newline ("shop\n" would pass).
Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}\Z")]
ConcatMethod = Literal["udh", "sar", "payload"]


class _Table(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class ServerConfig(_Table, frozen=True, kw_only=True):
    listen: str = "127.0.0.1:8080"
    max_body_bytes: PosInt = 1_048_576
    max_header_bytes: PosInt = 16_384
    max_connections: PosInt = 1024
    idle_timeout: Positive = 60.0
    """Seconds a keep-alive connection may sit idle between requests."""
    read_timeout: Positive = 15.0
    """Seconds a client has to send one whole request once it started."""
    shutdown_grace: Positive = 10.0
    """Seconds in-flight submits and requests get to finish on SIGTERM."""
    ops_token: str = ""
    """A bearer token for the ops console (``/status``) alone: it sees every figure and may
    take the console's actions, but the ``/v1`` API refuses it. "" = none (API keys still
    open the console)."""
    ops_token_sha256: str = ""
    """Instead of ``ops_token``: its SHA-256 in hex, so the file holds no secret."""

    def ops_token_digest(self) -> bytes:
        """The SHA-256 of the ops token (b"" when there is none)."""
        if self.ops_token:
            return hashlib.sha256(self.ops_token.encode()).digest()
        try:
            return bytes.fromhex(self.ops_token_sha256)
        except ValueError:
            return b""


class StoreConfig(_Table, frozen=True, kw_only=True):
    path: str = "var/smsgw.db"
    synchronous: Literal["full", "normal"] = "full"
    max_queued: PosInt = 5_000_000
    """Messages not yet final beyond which sends get 429 (back-pressure)."""
    commit_batch: PosInt = 1000
    """Most operations folded into one transaction by the writer thread."""
    busy_timeout: Positive = 5.0
    """Seconds a write waits for a lock another process holds on the database (an sqlite3
    shell, a backup tool) before the store counts as unavailable."""


class KeyConfig(_Table, frozen=True, kw_only=True):
    name: Name
    token: str = ""
    """The bearer token itself; or give ``token_sha256`` instead (exactly one of the two)."""
    token_sha256: str = ""
    """The token's SHA-256 as 64 hex digits, so the config file holds no secret."""
    admin: bool = False
    """Sees and changes every key's messages, opt-outs, inbound messages and routes."""
    rate: Positive = 500.0
    """Messages per second this client may send (429 beyond)."""
    burst: PosInt | None = None
    """Bucket size; default ``max(rate, limits.max_batch)`` so a full batch can always go."""
    routes: list[Name] = []
    """Routes this key may list and send through; empty means all."""
    inbound_routes: list[Name] = []
    """Inbound messages arriving on these routes belong to this key (unless a number claims
    them first)."""
    inbound_numbers: list[str] = []
    """Inbound messages sent to these numbers (E.164 or short codes) belong to this key."""
    senders: list[str] = []
    """Allowed sender ids; empty means any."""
    webhook_secret: str | list[str] = ""
    """HMAC key for this key's webhooks; a list (newest first) while rotating: each signs."""
    inbound_url: str = ""
    """Where the inbound messages that belong to this key (``inbound_routes``,
    ``inbound_numbers``; an admin key: those of no key) are POSTed, signed like status
    webhooks."""
    webhook_events: Literal["all", "final"] = "all"
    """Status webhooks for every change, or only the final one (a message may override it)."""
    callback_hosts: list[str] = []
    """Host names, addresses or networks (``10.1.0.0/16``) on private ranges this key's
    webhooks may reach although ``webhooks.allow_private`` is off."""
    smart_encoding: bool = False
    """Replace look-alike characters (curly quotes, dashes) so text stays GSM-7."""
    marketing_requires_consent: bool = False
    """Marketing goes only to numbers with a consent record (POST /v1/consents) and no later
    opt-out."""
    frequency_cap: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """This key's marketing messages per recipient per window; None: ``policy.frequency_cap``."""
    frequency_window_days: Positive | None = None
    """None: ``policy.frequency_window_days``."""

    def token_digest(self) -> bytes:
        """The SHA-256 of this key's token (from ``token``, or ``token_sha256`` as given);
        b"" when neither is set. The loader checks that exactly one is, and the hex."""
        if self.token:
            return hashlib.sha256(self.token.encode()).digest()
        try:
            return bytes.fromhex(self.token_sha256)
        except ValueError:
            return b""


class _RouteBase(_Table, frozen=True, kw_only=True, tag_field="driver"):
    name: Name
    rate: Positive = 10.0
    """Parts per second, over all binds or modems of the route (the contract's TPS)."""
    burst: PosInt | None = None
    """Parts that may leave back to back; default: 5% of ``rate`` (at least 1). Parts are
    spaced evenly: in any 100 ms at most ``ceil(rate / 10) + burst``."""
    concat: ConcatMethod = "udh"
    ref_bits: Literal[8, 16] = 8
    data_coding_gsm: Literal[0, 1, 3] = 0
    """data_coding for GSM-7 text: 0 SMSC default (unpacked septets), 3 Latin-1."""
    max_attempts: PosInt = 5
    """Temporary failures tolerated per part before it fails."""
    price_per_part: NonNegative = 0.0
    """What the carrier charges per part: a campaign's cost is its parts times this."""
    currency: Annotated[str, msgspec.Meta(max_length=8)] = ""
    """The currency of ``price_per_part`` (EUR, USD; shown with a campaign's cost)."""


class SimulatorRouteConfig(_RouteBase, frozen=True, kw_only=True, tag="simulator"):
    rate: Positive = 1000.0
    burst: PosInt | None = 100
    latency: NonNegative = 0.01
    """Seconds between submit and the carrier's acceptance."""
    receipt_delay: NonNegative = 0.5
    fail_permanent: Fraction = 0.0
    fail_temporary: Fraction = 0.0
    throttle: Fraction = 0.0
    undeliverable: Fraction = 0.0
    window: PosInt = 1000
    seed: int | None = None


class SmppRouteConfig(_RouteBase, frozen=True, kw_only=True, tag="smpp"):
    host: str
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 2775
    system_id: str
    password: str = ""
    system_type: str = ""
    address_range: str = ""
    binds: PosInt = 1
    bind: Literal["trx", "tx+rx"] = "trx"
    window: PosInt = 50
    rate: Positive = 100.0
    tls: bool = False
    tls_verify: bool = True
    tls_ca: str = ""
    """PEM file of the CA(s) to trust for the SMSC's certificate (a private CA); "": the
    system's."""
    enquire_link: Positive = 30.0
    response_timeout: Positive = 10.0
    reconnect_min: Positive = 1.0
    reconnect_max: Positive = 60.0
    throttle_pause: Positive = 1.0
    """Seconds the route pauses after ESME_RTHROTTLED/ESME_RMSGQFUL before recovering."""
    message_id_format: Literal["auto", "hex", "decimal", "string"] = "auto"
    """How carrier ids appear in receipts relative to submit_sm_resp (for normalising)."""
    source_ton: int | None = None
    source_npi: int | None = None
    dest_ton: int | None = None
    dest_npi: int | None = None
    status_overrides: dict[str, Literal["temporary", "permanent", "throttled", "bind"]] = {}
    """Vendor command_status codes (e.g. "0x00000401") and how to treat them."""


class ModemRouteConfig(_RouteBase, frozen=True, kw_only=True, tag="modem"):
    ports: list[str]
    """Serial devices: stable names (/dev/serial/by-id/...) or "imei:NNN" / "usb:SERIAL"."""
    pin: str = ""
    rate: Positive = 0.2
    """Parts per second per modem."""
    baudrate: PosInt = 115200
    smsc: str = ""
    roaming: bool = False
    daily_cap: int = 0
    """Parts per SIM per day; 0 = no cap."""
    command_timeout: Positive = 10.0
    send_timeout: Positive = 60.0
    registration_timeout: Positive = 120.0
    reconnect_min: Positive = 2.0
    reconnect_max: Positive = 120.0
    status_report: bool = True


RouteConfig = SimulatorRouteConfig | SmppRouteConfig | ModemRouteConfig


class RuleConfig(_Table, frozen=True, kw_only=True):
    route: list[Name]
    """Failover list: the first route that is up takes the message."""
    prefix: str = ""
    msg_class: Literal[MessageClass, ""] = msgspec.field(default="", name="class")
    sender: str = ""


class SchedulerConfig(_Table, frozen=True, kw_only=True):
    validity_otp: Positive = 300.0
    validity_transactional: Positive = 86_400.0
    validity_marketing: Positive = 86_400.0
    retry_base: Positive = 2.0
    retry_max: Positive = 600.0
    submit_timeout: Positive = 120.0
    """Seconds a part may stay ``sending`` before it is taken back (driver lost it)."""
    failover_after: NonNegative = 10.0
    """Seconds a route must be down before its queued messages move to the next route."""

    def validity(self, msg_class: MessageClass) -> float:
        """Seconds a message of ``msg_class`` may wait for a carrier when it names no validity."""
        return float(getattr(self, f"validity_{msg_class}"))


class TextConfig(_Table, frozen=True, kw_only=True):
    max_parts: Annotated[int, msgspec.Meta(ge=1, le=255)] = 10
    reassembly_timeout: Positive = 300.0


class WebhookConfig(_Table, frozen=True, kw_only=True):
    timeout: Positive = 5.0
    """Seconds for one delivery: connect, send and the whole answer."""
    max_attempts: PosInt = 12
    retry_base: Positive = 5.0
    retry_max: Positive = 3600.0
    concurrency: PosInt = 32
    """Deliveries in flight at once, over all receivers."""
    per_key: PosInt = 16
    """Deliveries in flight at once for one API key."""
    per_origin: PosInt = 8
    """Deliveries in flight at once to one receiver (scheme, host, port); also the most
    keep-alive connections kept open to it."""
    idle_timeout: Positive = 4.0
    """Seconds a keep-alive connection may stay idle before it is closed."""
    breaker_failures: PosInt = 5
    """Timeouts or connection failures in a row after which a receiver is left alone."""
    breaker_cooldown: Positive = 30.0
    """Seconds a receiver is left alone before one probe delivery tries it again."""
    allow_private: bool = False
    """Allow webhooks to loopback, private (RFC 1918, ULA) and CGNAT addresses for every key."""
    allow_unsigned: bool = False
    """Allow callbacks for keys without webhook_secret (a warning at start)."""


Weekday = Annotated[int, msgspec.Meta(ge=1, le=7)]
PolicyClass = Literal["transactional", "marketing"]
"""Classes a courtesy policy may hold back; ``otp`` never waits."""


class QuietWindowConfig(_Table, frozen=True, kw_only=True):
    """Quiet hours for one class and/or one country (the most specific entry wins)."""

    msg_class: PolicyClass | Literal[""] = msgspec.field(default="", name="class")
    """Empty: every class held to quiet hours (``policy.quiet_classes``)."""
    country: str = ""
    """ISO 3166 region of the destination (``DE``); empty: every country."""
    start: str = "09:00"
    end: str = "21:00"
    """Local time; an end before the start crosses midnight; start == end: always open."""
    days: list[Weekday] = msgspec.field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])
    """ISO weekdays (1 = Monday) on which the window opens."""


class KeywordsConfig(_Table, frozen=True, kw_only=True):
    """Inbound keywords; matched against the whole text, ignoring case, accents, spacing and
    punctuation."""

    replace: bool = False
    """False: these words extend the built-in lists; True: they replace them."""
    optout: list[str] = []
    optin: list[str] = []
    help: list[str] = []


class AutoReplyConfig(_Table, frozen=True, kw_only=True):
    """Replies sent (as ``transactional``, through the route the keyword came in on) when a
    keyword arrives; "" sends nothing."""

    optout: str = "You are unsubscribed and will get no more messages. Reply START to resubscribe."
    optin: str = "You are subscribed again. Reply STOP to opt out."
    help: str = "Reply STOP to opt out, START to opt back in."


class PolicyConfig(_Table, frozen=True, kw_only=True):
    """Consent and courtesy policies; defaults are the safe ones."""

    quiet_start: str = "09:00"
    quiet_end: str = "21:00"
    quiet_days: list[Weekday] = msgspec.field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])
    quiet_classes: list[PolicyClass] = msgspec.field(default_factory=lambda: ["marketing"])
    """Classes held to the recipient's local daytime (the window above, or ``quiet_windows``)."""
    quiet_windows: list[QuietWindowConfig] = []
    fallback_tz: str = "UTC"
    """Zone used for quiet hours when a number's zone is unknown."""
    frequency_cap: Annotated[int, msgspec.Meta(ge=0)] = 2
    """Messages per recipient per window (0: no cap); per key with ``keys.frequency_cap``."""
    frequency_window_days: Positive = 7.0
    frequency_classes: list[PolicyClass] = msgspec.field(default_factory=lambda: ["marketing"])
    frequency_exceeded: Literal["defer", "refuse"] = "defer"
    """Over the cap: wait until the window allows it, or refuse with ``frequency_capped``."""
    frequency_scope: Literal["key", "all"] = "key"
    """Count a recipient's messages per API key, or over all keys."""
    transactional_to_optouts: bool = True
    """Transactional messages still go to opted-out numbers (an order's shipping notice)."""
    otp_to_optouts: bool = True
    default_country: str = ""
    """ISO 3166 region for numbers given in national format; "": only E.164 is accepted."""
    validate_numbers: bool = True
    """Refuse numbers ``phonenumbers`` does not recognise (422 ``invalid_number``)."""
    refuse_non_mobile: bool = False
    """Refuse fixed-line, toll-free and other non-mobile destinations (422 ``not_mobile``)."""
    footer: bool = False
    """Append an opt-out footer to marketing whose text has none (counted in its parts)."""
    footer_texts: dict[str, str] = {}
    """Footer per destination country (``"DE"``), ``""`` for the rest; over the built-in ones."""
    keywords: KeywordsConfig = KeywordsConfig()
    auto_reply: AutoReplyConfig = AutoReplyConfig()


class LimitsConfig(_Table, frozen=True, kw_only=True):
    max_batch: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1000
    max_send_ahead: Positive = 365 * 86_400.0
    """Seconds into the future a ``send_at`` may lie (422 ``send_at_too_far`` beyond)."""


class Config(_Table, frozen=True, kw_only=True):
    server: ServerConfig = ServerConfig()
    store: StoreConfig = StoreConfig()
    keys: list[KeyConfig] = []
    routes: list[RouteConfig] = []
    rules: list[RuleConfig] = []
    scheduler: SchedulerConfig = SchedulerConfig()
    text: TextConfig = TextConfig()
    webhooks: WebhookConfig = WebhookConfig()
    policy: PolicyConfig = PolicyConfig()
    limits: LimitsConfig = LimitsConfig()
    smpp_server: SmppServerConfig | None = None
    """smsgw as an SMSC (off when the table is absent)."""
    links: LinksConfig = LinksConfig()
    """Tracked short links and their redirect listener (off while ``links.listen`` is "")."""
    flows: list[FlowConfig] = []
    """Message sequences started and stopped by events (``POST /v1/events``)."""
    conversions: ConversionsConfig = ConversionsConfig()
    """Attribution of the orders reported by ``POST /v1/conversions``."""
