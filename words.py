"""The gateway's words, each spelled once: message classes, text encodings, message statuses.

This module imports nothing of smsgw, so every layer (config, drivers, queue, gateway, metrics)
may import it. Everything else that lists these values (the ``Literal`` types of API bodies,
config and store rows, the OpenAPI enums, the CLI's choices, the metric series primed at zero)
takes them from here, so adding a class or a status is one edit.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "ACTIVE",
    "CLASSES",
    "ENCODINGS",
    "FINAL",
    "PRIORITY",
    "STATUSES",
    "WAITING",
    "Encoding",
    "FinalStatus",
    "MessageClass",
    "Status",
]

MessageClass = Literal["otp", "transactional", "marketing"]
"""What a message is for; it sets the queue priority and the default validity."""
CLASSES: Final[tuple[MessageClass, ...]] = get_args(MessageClass)
"""The classes in priority order: ``otp`` leaves first, ``marketing`` last."""
PRIORITY: Final[dict[str, int]] = {c: i for i, c in enumerate(CLASSES)}
"""Class -> queue priority (0 is served first)."""

Encoding = Literal["gsm7", "ucs2"]
"""How a text goes on the wire: the GSM 03.38 default alphabet, or UCS-2 (UTF-16)."""
ENCODINGS: Final[tuple[Encoding, ...]] = get_args(Encoding)

FinalStatus = Literal["delivered", "undelivered", "expired", "failed", "rejected", "cancelled"]
"""The statuses a message or part never leaves."""
Status = Literal["queued", "scheduled", "deferred", "sending", "submitted", FinalStatus]
"""A message's or part's status: ``queued`` -> (``scheduled`` | ``deferred``) -> ``sending``
-> ``submitted`` -> a final status. A message refused at the door has none (it gets no id)."""
STATUSES: Final[tuple[Status, ...]] = get_args(Status)
"""Every status, in lifecycle order."""
FINAL: Final[frozenset[str]] = frozenset(get_args(FinalStatus))
WAITING: Final[frozenset[str]] = frozenset({"queued", "scheduled", "deferred"})
"""Accepted and not yet handed to a driver."""
ACTIVE: Final[frozenset[str]] = WAITING | {"sending"}
"""Not yet submitted to a carrier."""
