"""Matching status reports to sent parts, and what a report's TP-ST means (sans-IO).

A modem names a sent part only by its TP-MR, one octet that wraps every 256 sends. The carrier
id we report is ``"<link>:<mr>:<destination>"``; the store matches a receipt to the most
recent part submitted with that id, so a wrapped reference to another number never matches,
and the same number reached twice within 256 sends is settled by recency.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smsgw.drivers.modem.sms_pdu import StatusReport

if TYPE_CHECKING:  # the seam imports trio; this module stays sans-IO
    from smsgw.drivers.seam import ReceiptState

__all__ = ["DailyCap", "ReceiptBook", "carrier_id", "receipt_state"]

_SAME_NUMBER_DIGITS = 8


def carrier_id(link: str, mr: int, destination: str) -> str:
    """The carrier id of a part sent by ``link`` with reference ``mr`` to ``destination``."""
    return f"{link}:{mr}:{destination}"


def receipt_state(status: int) -> tuple[ReceiptState, str]:
    """(state, error code) for a TP-ST value (TS 23.040 §9.2.3.15)."""
    code = f"ST {status}"
    if status <= 0x1F:
        return "delivered", "" if status <= 0x02 else code
    if status <= 0x3F:
        return "accepted", code  # SC still trying: not final
    if status in (0x46, 0x63):  # validity period expired (permanent / SC gave up)
        return "expired", code
    if status <= 0x7F:
        return "undelivered", code
    return "unknown", code


def _digits(number: str) -> str:
    return "".join(ch for ch in number if "0" <= ch <= "9")  # ASCII only: "²".isdigit()


@dataclass(slots=True)
class _Sent:
    destination: str
    at: float


class ReceiptBook:
    """Recent (mr -> destination) of one modem, to name receipts with the Outcome's id.

    A report's recipient may be written differently from what we sent (national form, no
    ``+``): it is matched to a recent send with the same reference whose number ends in the
    same digits. ``keep`` bounds how long (seconds) and ``depth`` how many sends per
    reference are remembered.
    """

    def __init__(self, link: str, *, keep: float = 3 * 86400.0, depth: int = 4) -> None:
        self.link = link
        self._keep = keep
        self._by_mr: dict[int, deque[_Sent]] = {}
        self._depth = depth

    def record(self, mr: int, destination: str, now: float) -> str:
        """Remember a send; returns its carrier id."""
        q = self._by_mr.setdefault(mr, deque(maxlen=self._depth))
        q.append(_Sent(destination, now))
        return carrier_id(self.link, mr, destination)

    def match(self, report: StatusReport, now: float) -> str:
        """The carrier id a report refers to (best effort when nothing recent matches)."""
        got = _digits(report.recipient.number)
        for sent in reversed(self._by_mr.get(report.mr, ())):
            if now - sent.at > self._keep:
                continue
            want = _digits(sent.destination)
            n = min(_SAME_NUMBER_DIGITS, len(want), len(got))
            if n and want[-n:] == got[-n:]:
                return carrier_id(self.link, report.mr, sent.destination)
        number = report.recipient.number
        if report.recipient.ton == 1 and not number.startswith("+"):
            number = "+" + number
        return carrier_id(self.link, report.mr, number)


class DailyCap:
    """Parts one SIM may send per UTC day (0 = unlimited); time is passed in (Unix seconds)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._day: dt.date | None = None
        self._used = 0

    def _roll(self, now: float) -> None:
        day = dt.datetime.fromtimestamp(now, dt.UTC).date()
        if day != self._day:
            self._day = day
            self._used = 0

    def reached(self, now: float) -> bool:
        if self.limit <= 0:
            return False
        self._roll(now)
        return self._used >= self.limit

    def used(self, now: float) -> int:
        self._roll(now)
        return self._used

    def take(self, now: float) -> None:
        self._roll(now)
        self._used += 1

    def snapshot(self) -> tuple[str, int] | None:
        """(UTC day, parts used that day) for keeping across a restart; None before any use."""
        return None if self._day is None else (self._day.isoformat(), self._used)

    def restore(self, day: str, used: int) -> None:
        """Carry on from a :meth:`snapshot` (a past day simply rolls over at the next use)."""
        self._day, self._used = dt.date.fromisoformat(day), max(0, used)
