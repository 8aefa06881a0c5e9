"""The consent and courtesy policy: whether and when a message may leave.

One :class:`Policy`, built from config, answers twice for every message of a policed class:

* **at accept**, inside the transaction that inserts the message
  (:meth:`Policy.accept_op`): refuse it (``opted_out``, ``consent_required``,
  ``frequency_capped``), or take it ``deferred`` until the recipient's quiet hours end or the
  frequency cap allows one more (the history note says which policy held it and until when),
  or take it as it is;
* **just before it leaves**, inside the claim transaction (:meth:`Policy.check_claim`): an
  opt-out that arrived while the message waited stops it (final status ``rejected``, reason in
  the message), and quiet hours and the cap are checked again (a backlog may have pushed it
  past 21:00), deferring it again if need be.

Which classes are policed is config: ``marketing`` gets every policy by default,
``transactional`` only what config names, ``otp`` is never deferred. Auto-replies to keywords
(key :data:`SYSTEM_KEY`) are exempt: a STOP's confirmation is never blocked by the opt-out it
confirms.

Deferral moves ``expires_at`` by as long as the message is held: validity counts from the time
the message may leave, as it does for ``send_at``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

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
from smsgw.queue.store.sqlite import accept as ops_accept
from smsgw.queue.store.sqlite import consent
from smsgw.queue.store.sqlite import courtesy as frequency
from smsgw.queue.store.sqlite.accept import AcceptResult
from smsgw.queue.store.sqlite.transitions import Change, MsgInfo, derive
from smsgw.queue.store.sqlite.writer import Tx

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


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    """What the accept path learnt about the destination and keeps in the row for dispatch."""

    zones: tuple[str, ...] = ()
    country: str = ""


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str


class Screened(msgspec.Struct, frozen=True, kw_only=True):
    """One item's fate at accept: a result (taken, maybe deferred) or a refusal."""

    result: AcceptResult | None = None
    refusal: Refusal | None = None
    msg: NewMessage | None = None
    """The message as committed (status, due time and note after policy)."""
    deferred_until: float | None = None
    note: str = ""
    reasons: tuple[str, ...] = ()
    """Policies that deferred it: ``quiet_hours``, ``frequency_cap``."""


class _Verdict(NamedTuple):
    msg: NewMessage
    capped: bool
    reasons: tuple[str, ...]


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

    # -- accept (writer thread) ----------------------------------------------------------

    def accept_op(
        self, tx: Tx, items: Sequence[tuple[NewMessage, Facts]], ids: Sequence[str]
    ) -> list[Screened]:
        """Screen and insert a batch in one transaction (so a check and the insert it allows
        cannot be split by another writer)."""
        if not any(m.msg_class in self._policed and m.key != SYSTEM_KEY for m, _ in items):
            # Nothing to police (OTP, transactional by default): the plain insert.
            plain = ops_accept.accept(tx, [m for m, _ in items], ids)
            return [Screened(result=r, msg=m) for (m, _), r in zip(items, plain, strict=True)]
        out: list[Screened | None] = [None] * len(items)
        batch_slots: dict[tuple[str, str | None], list[float]] = {}
        taken: list[tuple[int, NewMessage, Facts, str, _Verdict]] = []
        # One probe of the opt-out list for the whole batch; details only for the refused.
        blocked = consent.opted_out(
            tx,
            [
                (m.to, m.key)
                for m, _ in items
                if m.key != SYSTEM_KEY and self._optouts_apply(m.msg_class)
            ],
        )
        for i, (msg, facts) in enumerate(items):
            if msg.key == SYSTEM_KEY or msg.msg_class not in self._policed:
                taken.append((i, msg, facts, ids[i], _Verdict(msg, False, ())))
                continue
            verdict = self._screen(tx, msg, facts, batch_slots, (msg.to, msg.key) in blocked)
            if isinstance(verdict, Refusal):
                if msg.client_ref is not None and _known_ref(tx, msg.key, msg.client_ref):
                    # An idempotent replay: the store answers with the original message.
                    taken.append((i, msg, facts, ids[i], _Verdict(msg, False, ())))
                else:
                    out[i] = Screened(refusal=verdict)
                continue
            taken.append((i, verdict.msg, facts, ids[i], verdict))
        results = ops_accept.accept(tx, [t[1] for t in taken], [t[3] for t in taken])
        facts_rows: list[tuple[object, ...]] = []
        reservations: list[tuple[str, str, str, float]] = []
        for (i, msg, facts, _, verdict), r in zip(taken, results, strict=True):
            capped = verdict.capped
            deferred = msg.due_at if r.created and msg.status == "deferred" else None
            out[i] = Screened(
                result=r,
                msg=msg,
                deferred_until=deferred,
                note=msg.note,
                reasons=verdict.reasons if r.created else (),
            )
            if not r.created:
                continue
            if facts.zones or facts.country:
                facts_rows.append((",".join(facts.zones), facts.country, r.id))
            if capped:
                at = msg.due_at if msg.due_at is not None else msg.created_at
                reservations.append((r.id, msg.key, msg.to, at))
        if facts_rows:
            tx.conn.executemany("UPDATE messages SET tz = ?, country = ? WHERE id = ?", facts_rows)
        frequency.reserve(tx, reservations)
        final = [s for s in out if s is not None]
        tx.after_commit(lambda: self._count_accept(final))
        return final

    def _count_accept(self, screened: Sequence[Screened]) -> None:
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
        tx: Tx,
        msg: NewMessage,
        facts: Facts,
        batch_slots: dict[tuple[str, str | None], list[float]],
        blocked: bool,
    ) -> Refusal | _Verdict:
        cls = msg.msg_class
        if blocked:
            row = consent.blocking_optouts(tx, msg.to, msg.key)
            if row is not None:
                return Refusal(
                    code="opted_out",
                    message=f"{msg.to} opted out ({_how(row)}); {cls} messages are not sent to it",
                )
        if self._needs_consent(msg.key, cls) and not consent.consent_ok(tx, msg.to, msg.key):
            return Refusal(
                code="consent_required",
                message=f"no consent on record for {msg.to} (POST /v1/consents) since its"
                " last opt-out; this key sends marketing only with consent",
            )
        start = msg.due_at if msg.due_at is not None else msg.created_at
        window = self.window_for(cls, facts.country)
        cap = self.cap_for(msg.key, cls)
        if window is None and cap is None:
            return _Verdict(msg, False, ())
        slot_key = (msg.to, msg.key if cap is not None and cap.per_key else None)
        slots: list[float] | None = None
        if cap is not None:
            since = start - cap.window
            slots = frequency.planned_slots(tx, msg.to, slot_key[1], since)
            slots += batch_slots.get(slot_key, [])
        plan = self._plan(facts.zones, window, cap, slots or [], start)
        if cap is not None:
            if "frequency_cap" in plan.reasons and self.config.frequency_exceeded == "refuse":
                return Refusal(
                    code="frequency_capped",
                    message=f"{msg.to} already has {cap.limit} marketing messages within"
                    f" {_days(cap.window)}; the next fits at {_utc(plan.at)}",
                )
            batch_slots.setdefault(slot_key, []).append(plan.at)
        if plan.at <= start:
            return _Verdict(msg, cap is not None, ())
        deferred = msgspec.structs.replace(
            msg,
            status="deferred",
            due_at=plan.at,
            note=self._note(plan, facts.zones, window, cap),
            expires_at=msg.expires_at + (plan.at - start),
        )
        return _Verdict(deferred, cap is not None, plan.reasons)

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

    # -- dispatch (writer thread, inside claim) ------------------------------------------

    def check_claim(self, tx: Tx, infos: Iterable[MsgInfo], now: float) -> dict[int, Change]:
        """Re-check messages about to leave; returns the ones held back (their parts already
        rejected or deferred in this transaction) with the status change to record."""
        relevant = [i for i in infos if i.msg_class in self._policed and i.key != SYSTEM_KEY]
        if not relevant:
            return {}
        rows = _dispatch_rows(tx, [i.mid for i in relevant])
        blocked = consent.opted_out(
            tx,
            [(rows[i.mid][0], i.key) for i in relevant if self._optouts_apply(i.msg_class)],
        )
        held: dict[int, Change] = {}
        left: list[tuple[int, str, str, float]] = []
        counts: list[tuple[str, str]] = []
        for info in relevant:
            to, tz, country, attempts = rows[info.mid]
            if self._optouts_apply(info.msg_class) and (to, info.key) in blocked:
                held[info.mid] = self._stop(tx, info, to, now)
                counts.append(("refused", "opted_out"))
                continue
            if attempts > 0:
                continue  # it started leaving earlier: courtesy checks were made then
            window = self.window_for(info.msg_class, country)
            cap = self.cap_for(info.key, info.msg_class)
            if window is None and cap is None:
                continue
            zones = tuple(tz.split(",")) if tz else ()
            slots: list[float] = []
            if cap is not None:
                who = info.key if cap.per_key else None
                slots = frequency.left_slots(tx, to, who, now - cap.window, info.mid)
            plan = self._plan(zones, window, cap, slots, now)
            if plan.at > now:
                note = self._note(plan, zones, window, cap)
                held[info.mid] = self._defer(tx, info, plan.at, now, note)
                counts += [("deferred", r) for r in plan.reasons]
            elif cap is not None:
                left.append((info.mid, info.key, to, now))
        frequency.mark_left(tx, left)
        if counts and self.metrics is not None:
            tx.after_commit(lambda: self._count(counts))
        return held

    def _count(self, counts: Sequence[tuple[str, str]]) -> None:
        assert self.metrics is not None
        for kind, reason in counts:
            family = (
                self.metrics.policy_refused if kind == "refused" else self.metrics.policy_deferred
            )
            family.labels(reason).inc()

    def _stop(self, tx: Tx, info: MsgInfo, to: str, now: float) -> Change:
        row = consent.blocking_optouts(tx, to, info.key)
        how = _how(row) if row is not None else "opted out"
        error = f"opted_out: {to} opted out ({how}) while the message waited"
        _set_waiting(tx, info, "rejected", now, error=error)
        new = "rejected" if info.total == 1 else derive(tx, info)
        return Change(info, new, f"stopped before leaving: {to} opted out ({how})", error)

    def _defer(self, tx: Tx, info: MsgInfo, until: float, now: float, note: str) -> Change:
        first, last = info.first_pid, info.first_pid + info.total - 1
        tx.conn.execute(
            "UPDATE parts SET status = 'deferred', due_at = ? WHERE pid BETWEEN ? AND ?"
            " AND status = 'queued'",
            (until, first, last),
        )
        tx.conn.execute(
            "UPDATE messages SET expires_at = expires_at + ? WHERE mid = ?", (until - now, info.mid)
        )
        frequency.move_planned(tx, info.mid, until)
        new = "deferred" if info.total == 1 else derive(tx, info)
        return Change(info, new, note)


def _set_waiting(tx: Tx, info: MsgInfo, status: str, now: float, *, error: str) -> None:
    first, last = info.first_pid, info.first_pid + info.total - 1
    tx.conn.execute(
        "UPDATE parts SET status = ?, done_at = ?, error = ? WHERE pid BETWEEN ? AND ?"
        " AND status IN ('queued', 'scheduled', 'deferred')",
        (status, now, error, first, last),
    )


def _dispatch_rows(tx: Tx, mids: Sequence[int]) -> dict[int, tuple[str, str | None, str, int]]:
    out: dict[int, tuple[str, str | None, str, int]] = {}
    for i in range(0, len(mids), 500):
        chunk = mids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for mid, to, tz, country, attempts in tx.conn.execute(
            f"SELECT mid, to_number, tz, country, attempts FROM messages WHERE mid IN ({marks})",
            chunk,
        ):
            out[mid] = (to, tz, country or "", attempts)
    return out


def _known_ref(tx: Tx, key: str, client_ref: str) -> bool:
    row = tx.conn.execute(
        "SELECT 1 FROM messages WHERE key = ? AND client_ref = ?", (key, client_ref)
    ).fetchone()
    return row is not None


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
