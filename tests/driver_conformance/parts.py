"""Parts as the scheduler hands them to a driver: single ones, and a long text split by the
project's own segmenter into the parts of one concatenated message."""

from __future__ import annotations

from smsgw.drivers.seam import OutboundPart
from smsgw.drivers.text import plan

from .backends import ROUTE

__all__ = ["LONG_TEXT", "message", "singles"]

LONG_TEXT = (
    "Your order 4711 has shipped and will arrive on Thursday between 9 and 12. Track it at "
    "https://shop.example/t/4711 and reply STOP to opt out. Thank you for shopping with us, "
    "and see our autumn sale: everything in the garden section is 20% off until Sunday. "
    "Questions? Our team answers every day from 8 to 20 at +49 30 1234567 or in the app."
)


def singles(first: int, n: int) -> list[OutboundPart]:
    """``n`` one-part messages, part ids ``first`` onwards, each to its own number."""
    return [
        OutboundPart(
            part_id=i,
            message_id=f"msg_{i}",
            route=ROUTE,
            to=f"+49170123{i:05d}",
            sender="+4915100000001",
            text=f"Your code is {i:06d}",
            encoding="gsm7",
            seq=1,
            total=1,
            ref=0,
        )
        for i in range(first, first + n)
    ]


def message(first: int, text: str = LONG_TEXT, ref: int = 77) -> list[OutboundPart]:
    """The parts of one message carrying ``text``, part ids ``first`` onwards."""
    p = plan(text)
    return [
        OutboundPart(
            part_id=first + k,
            message_id="msg_long",
            route=ROUTE,
            to="+4917012345678",
            sender="+4915100000001",
            text=segment,
            encoding=p.encoding,
            seq=k + 1,
            total=p.parts,
            ref=ref,
        )
        for k, segment in enumerate(p.segments)
    ]
