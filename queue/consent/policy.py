"""The consent and courtesy policy: whether and when a message may leave.

One :class:`Policy`, built from config, answers twice for every message of a policed class:

* **at accept**, inside the transaction that inserts the message (:meth:`Policy.screen`):
  refuse it (``opted_out``, ``consent_required``, ``frequency_capped``), or take it
  ``deferred`` until the recipient's quiet hours end or the frequency cap allows one more (the
  history note says which policy held it and until when), or take it as it is;
* **just before it leaves**, inside the claim transaction (:meth:`Policy.check`): an opt-out
  that arrived while the message waited stops it (final status ``rejected``, reason in the
  message), and quiet hours and the cap are checked again (a backlog may have pushed it past
  21:00), deferring it again if need be.

The decisions are pure: the store reads the facts each asks for (:meth:`Policy.accept_asks`,
:meth:`Policy.claim_asks`: the opt-out list, consent records, the sends that count against
the cap) inside its transaction, and writes what they decide
(:mod:`smsgw.queue.store.screening` holds what crosses).

Which classes are policed is config: ``marketing`` gets every policy by default,
``transactional`` only what config names, ``otp`` is never deferred. Auto-replies to keywords
(key :data:`SYSTEM_KEY`) are exempt: a STOP's confirmation is never blocked by the opt-out it
confirms.

Deferral moves ``expires_at`` by as long as the message is held: validity counts from the time
the message may leave, as it does for ``send_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec
import phonenumbers

from smsgw.config.schema import Config, KeyConfig
from smsgw.metrics.instruments import Metrics
from smsgw.queue.consent.frequency import Cap, earliest_slot
from smsgw.queue.consent.keyword_matching import KeywordMatcher, footer_for, normalise
from smsgw.queue.consent.quiet_hours import UnknownZone, Window, describe, next_opening, parse_hhmm
from smsgw.queue.consent.quiet_hours import utc_text as _utc
from smsgw.queue.consent.quiet_hours import zone as _zone
from smsgw.queue.consent.records import OptoutRow
from smsgw.queue.model import NewMessage
from smsgw.queue.store.screening import (
    AcceptAsk,
    AcceptFacts,
    AcceptVerdict,
    ClaimAsk,
    ClaimCandidate,
    ClaimFacts,
    ClaimVerdict,
    Facts,
    Refusal,
    Screened,
)

__all__ = [
    "DEFERRAL_REASONS",
    "REFUSAL_REASONS",
    "SYSTEM_KEY",
    "Facts",
    "Policy",
    "PolicyConfigError",
    "Refusal",
    "Screened",
]

REFUSAL_REASONS: Final = ("opted_out", "consent_required", "frequency_capped")
"""Codes of the refusals below (``smsgw_policy_refused_total{reason}``, and the API's 422s)."""
DEFERRAL_REASONS: Final = ("quiet_hours", "frequency_cap")
"""Why a message waits (``smsgw_policy_deferred_total{reason}``)."""
SYSTEM_KEY: Final = "#keywords"
"""The key of keyword auto-replies (not a valid config key name, so it collides with none)."""
_MAX_ROUNDS: Final = 32
"""Quiet hours and the cap each push the other later; a bound on the back and forth."""


class PolicyConfigError(ValueError):
    """A policy setting that cannot work; ``field`` is its TOML path."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class _Plan(msgspec.Struct, frozen=True):
    at: float
    reasons: tuple[str, ...]


class Policy:
    """Decisions for one gateway's config; see the module docstring. Raises
    :class:`PolicyConfigError` for settings that cannot work."""

    def __init__(self, config: Config, metrics: Metrics | None = None) -> None:
        p = config.policy
        self.config = p
        self.metrics = metrics
        self.keys: dict[str, KeyConfig] = {k.name: k for k in config.keys}
        self.default_country = _region(p.default_country, "policy.default_country")
        try:
            self.matcher = KeywordMatcher(
                p.keywords.optout, p.keywords.optin, p.keywords.help, replace=p.keywords.replace
            )
        except ValueError as e:
            raise PolicyConfigError("policy.keywords", str(e)) from None
        self._check_account_keywords(config)
        try:
            _zone(p.fallback_tz)
        except UnknownZone as e:
            raise PolicyConfigError("policy.fallback_tz", str(e)) from None
        self._fallback = (p.fallback_tz,)
        self._default_window = _window(p.quiet_start, p.quiet_end, p.quiet_days, "policy")
        self._windows: dict[tuple[str, str], Window] = {}
        for i, w in enumerate(p.quiet_windows):
            where = f"policy.quiet_windows[{i}]"
            country = _region(w.country, where + ".country")
            self._windows[(w.msg_class, country)] = _window(w.start, w.end, w.days, where)
        # An entry naming a class and no country holds that class everywhere; naming a country
        # too, only there.
        self._quiet_classes = frozenset(p.quiet_classes) | {
            c for c, country in self._windows if c and not country
        }
        self._window_classes = self._quiet_classes | {c for c, _ in self._windows if c}
        self._cap_classes = frozenset(p.frequency_classes)
        self._optout_classes = frozenset(
            ["marketing"]
            + ([] if p.transactional_to_optouts else ["transactional"])
            + ([] if p.otp_to_optouts else ["otp"])
        )
        self._policed = self._optout_classes | self._window_classes | self._cap_classes
        for country in p.footer_texts:
            _region(country, f"policy.footer_texts.{country}")

    def _check_account_keywords(self, config: Config) -> None:
        """An SMPP account's inbound keyword may not be an opt-out or opt-in word: those
        messages stay with the consent handling (and go by the number rule alone)."""
        server = config.smpp_server
        for i, acct in enumerate(server.accounts if server is not None else ()):
            for j, word in enumerate(acct.inbound_keywords):
                kind = self.matcher.classify(word)
                if kind in ("optout", "optin"):
                    raise PolicyConfigError(
                        f"smpp_server.accounts[{i}].inbound_keywords[{j}]",
                        f"{word!r} is an {kind} keyword (policy.keywords); opt-outs and"
                        " opt-ins stay with smsgw's consent handling",
                    )

    # -- what the accept path asks -------------------------------------------------------

    def needs_facts(self, msg_class: str) -> bool:
        """Whether the accept path must work out the number's zones and country."""
        return msg_class in self._window_classes or (
            self.config.footer and msg_class == "marketing"
        )

    def with_footer(self, msg_class: str, country: str, text: str) -> str:
        """``text`` with the opt-out footer appended when config asks and the text has none."""
        if not self.config.footer or msg_class != "marketing":
            return text
        footer = footer_for(country, self.config.footer_texts)
        if not footer or self.matcher.mentions_optout(text):
            return text
        if normalise(footer) in normalise(text):
            return text
        return f"{text}\n{footer}"

    def window_for(self, msg_class: str, country: str) -> Window | None:
        """The quiet-hours window for a class and destination country, None if the class is
        not held to quiet hours."""
        w = self._windows.get((msg_class, country)) or self._windows.get((msg_class, ""))
        if w is not None:
            return w
        if msg_class in self._quiet_classes:
            return self._windows.get(("", country)) or self._default_window
        return None

    def cap_for(self, key: str, msg_class: str) -> Cap | None:
        if msg_class not in self._cap_classes:
            return None
        p = self.config
        k = self.keys.get(key)
        limit = k.frequency_cap if k is not None and k.frequency_cap is not None else None
        days = k.frequency_window_days if k is not None else None
        limit = p.frequency_cap if limit is None else limit
        if limit <= 0:
            return None
        window = (days if days is not None else p.frequency_window_days) * 86_400.0
        return Cap(limit=limit, window=window, per_key=p.frequency_scope == "key")

    def _optouts_apply(self, msg_class: str) -> bool:
        return msg_class in self._optout_classes

    def _needs_consent(self, key: str, msg_class: str) -> bool:
        k = self.keys.get(key)
        return msg_class == "marketing" and k is not None and k.marketing_requires_consent

    # -- accept (pure; the store runs it inside the accept transaction) -------------------

    def accept_asks(self, items: Sequence[tuple[NewMessage, Facts]]) -> list[AcceptAsk | None]:
        """Per item, the facts the decision needs (None: no policy applies to it)."""
        asks: list[AcceptAsk | None] = []
        for msg, _ in items:
            cls = msg.msg_class
            if msg.key == SYSTEM_KEY or cls not in self._policed:
                asks.append(None)
                continue
            cap = self.cap_for(msg.key, cls)
            start = msg.due_at if msg.due_at is not None else msg.created_at
            asks.append(
                AcceptAsk(
                    optouts=self._optouts_apply(cls),
                    consent=self._needs_consent(msg.key, cls),
                    slots_since=None if cap is None else start - cap.window,
                    slots_key=msg.key if cap is not None and cap.per_key else None,
                )
            )
        return asks

    def screen(
        self,
        items: Sequence[tuple[NewMessage, Facts]],
        facts: Sequence[AcceptFacts | None],
    ) -> list[AcceptVerdict]:
        """Refuse, defer or take each message (``facts`` answers :meth:`accept_asks`).

        Messages of one batch to one number share its frequency cap: each takes the next
        slot after those the batch took before it.
        """
        batch_slots: dict[tuple[str, str | None], list[float]] = {}
        out: list[AcceptVerdict] = []
        for (msg, where), known in zip(items, facts, strict=True):
            if known is None:
                out.append(AcceptVerdict(msg=msg))
            else:
                out.append(self._screen(msg, where, known, batch_slots))
        return out

    def accepted(self, screened: Sequence[Screened]) -> None:
        """Count refusals and deferrals (``smsgw_policy_refused_total``,
        ``smsgw_policy_deferred_total``) once the accept committed."""
        if self.metrics is None:
            return
        for s in screened:
            if s.refusal is not None:
                self.metrics.policy_refused.labels(s.refusal.code).inc()
            else:
                for reason in s.reasons:
                    self.metrics.policy_deferred.labels(reason).inc()

    def _screen(
        self,
        msg: NewMessage,
        facts: Facts,
        known: AcceptFacts,
        batch_slots: dict[tuple[str, str | None], list[float]],
    ) -> AcceptVerdict:
        cls = msg.msg_class
        if known.optout is not None:
            return AcceptVerdict(
                msg=msg,
                refusal=Refusal(
                    code="opted_out",
                    message=f"{msg.to} opted out ({_how(known.optout)}); {cls} messages are"
                    " not sent to it",
                ),
            )
        if self._needs_consent(msg.key, cls) and not known.consented:
            return AcceptVerdict(
                msg=msg,
                refusal=Refusal(
                    code="consent_required",
                    message=f"no consent on record for {msg.to} (POST /v1/consents) since its"
                    " last opt-out; this key sends marketing only with consent",
                ),
            )
        start = msg.due_at if msg.due_at is not None else msg.created_at
        window = self.window_for(cls, facts.country)
        cap = self.cap_for(msg.key, cls)
        if window is None and cap is None:
            return AcceptVerdict(msg=msg)
        slot_key = (msg.to, msg.key if cap is not None and cap.per_key else None)
        slots: list[float] = []
        if cap is not None:
            slots = [*known.slots, *batch_slots.get(slot_key, [])]
        plan = self._plan(facts.zones, window, cap, slots, start)
        if cap is not None:
            if "frequency_cap" in plan.reasons and self.config.frequency_exceeded == "refuse":
                return AcceptVerdict(
                    msg=msg,
                    refusal=Refusal(
                        code="frequency_capped",
                        message=f"{msg.to} already has {cap.limit} marketing messages within"
                        f" {_days(cap.window)}; the next fits at {_utc(plan.at)}",
                    ),
                )
            batch_slots.setdefault(slot_key, []).append(plan.at)
        if plan.at <= start:
            return AcceptVerdict(msg=msg, capped=cap is not None)
        deferred = msgspec.structs.replace(
            msg,
            status="deferred",
            due_at=plan.at,
            note=self._note(plan, facts.zones, window, cap),
            expires_at=msg.expires_at + (plan.at - start),
        )
        return AcceptVerdict(msg=deferred, capped=cap is not None, reasons=plan.reasons)

    def _plan(
        self,
        zones: Sequence[str],
        window: Window | None,
        cap: Cap | None,
        slots: Sequence[float],
        start: float,
    ) -> _Plan:
        """The earliest time >= start that is inside quiet hours' window and under the cap."""
        zones = zones or self._fallback
        t = start
        reasons: list[str] = []
        for _ in range(_MAX_ROUNDS):
            t1 = next_opening(zones, window, t) if window is not None else t
            if t1 > t and "quiet_hours" not in reasons:
                reasons.append("quiet_hours")
            t2 = earliest_slot(slots, t1, cap.limit, cap.window) if cap is not None else t1
            if t2 > t1 and "frequency_cap" not in reasons:
                reasons.append("frequency_cap")
            if t2 == t1:
                return _Plan(t1, tuple(reasons))
            t = t2
        return _Plan(t, tuple(reasons))

    def _note(
        self,
        plan: _Plan,
        zones: Sequence[str],
        window: Window | None,
        cap: Cap | None,
    ) -> str:
        held: list[str] = []
        if "quiet_hours" in plan.reasons and window is not None:
            where = describe(list(zones) or list(self._fallback))
            held.append(f"quiet hours ({window.label()} in {where})")
        if "frequency_cap" in plan.reasons and cap is not None:
            held.append(f"frequency cap ({cap.limit} per {_days(cap.window)})")
        return f"deferred by {' and '.join(held)} until {_utc(plan.at)}"

    # -- dispatch (pure; the store runs it inside the claim transaction) -----------------

    def polices(self, key: str, msg_class: str) -> bool:
        """Whether a check applies to ``key``'s messages of ``msg_class`` before they leave
        (keyword auto-replies are exempt)."""
        return msg_class in self._policed and key != SYSTEM_KEY

    def claim_asks(self, candidates: Sequence[ClaimCandidate], now: float) -> list[ClaimAsk]:
        """Per message about to leave, the facts :meth:`check` needs."""
        asks: list[ClaimAsk] = []
        for c in candidates:
            cap = self.cap_for(c.key, c.msg_class) if c.attempts == 0 else None
            asks.append(
                ClaimAsk(
                    optouts=self._optouts_apply(c.msg_class),
                    slots_since=None if cap is None else now - cap.window,
                    slots_key=c.key if cap is not None and cap.per_key else None,
                )
            )
        return asks

    def check(
        self,
        candidates: Sequence[ClaimCandidate],
        facts: Sequence[ClaimFacts],
        now: float,
    ) -> list[ClaimVerdict | None]:
        """Re-check messages about to leave: an opt-out that arrived while one waited stops
        it; quiet hours and the cap (at its first attempt) may defer it again; a capped one
        that goes counts from now."""
        out: list[ClaimVerdict | None] = []
        for c, known in zip(candidates, facts, strict=True):
            out.append(self._check_one(c, known, now))
        return out

    def _check_one(self, c: ClaimCandidate, known: ClaimFacts, now: float) -> ClaimVerdict | None:
        if self._optouts_apply(c.msg_class) and known.optout is not None:
            how = _how(known.optout)
            return ClaimVerdict(
                action="stop",
                note=f"stopped before leaving: {c.to} opted out ({how})",
                error=f"opted_out: {c.to} opted out ({how}) while the message waited",
                reasons=("opted_out",),
            )
        if c.attempts > 0:
            return None  # it started leaving earlier: courtesy checks were made then
        window = self.window_for(c.msg_class, c.country)
        cap = self.cap_for(c.key, c.msg_class)
        if window is None and cap is None:
            return None
        plan = self._plan(c.zones, window, cap, known.slots, now)
        if plan.at > now:
            return ClaimVerdict(
                action="defer",
                note=self._note(plan, c.zones, window, cap),
                until=plan.at,
                reasons=plan.reasons,
            )
        return ClaimVerdict(action="left") if cap is not None else None

    def claimed(self, verdicts: Sequence[ClaimVerdict]) -> None:
        """Count the stops and deferrals once the claim committed."""
        if self.metrics is None:
            return
        for v in verdicts:
            if v.action == "stop":
                for reason in v.reasons:
                    self.metrics.policy_refused.labels(reason).inc()
            elif v.action == "defer":
                for reason in v.reasons:
                    self.metrics.policy_deferred.labels(reason).inc()


def _how(row: OptoutRow) -> str:
    via = {"keyword": "by keyword", "api": "through the API", "import": "by import"}
    return f"{via.get(row.source, row.source)} at {_utc(row.at)}"


def _days(seconds: float) -> str:
    days = seconds / 86_400.0
    return f"{days:g} day" + ("" if days == 1 else "s")


def _window(start: str, end: str, days: Sequence[int], where: str) -> Window:
    try:
        a = parse_hhmm(start)
    except ValueError as e:
        raise PolicyConfigError(
            f"{where}.start" if where != "policy" else "policy.quiet_start", str(e)
        ) from None
    try:
        b = parse_hhmm(end)
    except ValueError as e:
        raise PolicyConfigError(
            f"{where}.end" if where != "policy" else "policy.quiet_end", str(e)
        ) from None
    if not days:
        raise PolicyConfigError(
            f"{where}.days" if where != "policy" else "policy.quiet_days", "needs at least one day"
        )
    return Window(start=a, end=b, days=frozenset(days))


def _region(code: str, where: str) -> str:
    if code == "":
        return ""
    up = code.upper()
    if up not in phonenumbers.SUPPORTED_REGIONS:
        raise PolicyConfigError(where, f"unknown country {code!r} (ISO 3166 like 'DE')")
    return up
