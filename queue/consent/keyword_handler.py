"""The inbound keyword handler: STOP, START and HELP from recipients, whatever route they came
in on (what counts as a keyword is decided by the pure matcher in :mod:`.keyword_matching`).

Called with inbound messages once they are stored (the ``on_inbound`` hook of
:class:`~smsgw.queue.scheduling.scheduler.RouteSink`). A message whose whole text is a keyword:

* ``optout``: the sender joins the opt-out list for every key (source ``keyword``, with the
  inbound message's id), and from then on no policed message reaches it;
* ``optin``: the sender leaves the list in every scope, and the message is kept as a consent
  record (the person texted START to us);
* ``help``: nothing changes.

Each can trigger the configured auto-reply. It goes back to the number the keyword came from,
from the number it was sent to, through the route it came in on, as ``transactional`` under
:data:`~smsgw.queue.consent.policy.SYSTEM_KEY` (exempt from every policy, so a STOP's
confirmation is not blocked by the opt-out it confirms). It is sent once: its ``client_ref`` is
the inbound id, so a redelivered MO does not send it twice; and a STOP or START that changes
nothing (the number was already out, or in) gets no second confirmation, which also keeps two
auto-responders from talking to each other forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from smsgw.config.schema import AutoReplyConfig
from smsgw.drivers.seam import InboundMessage
from smsgw.drivers.text.digits import is_decimal
from smsgw.queue.consent.keyword_matching import Keyword, KeywordMatcher
from smsgw.queue.consent.numbers import NumberError, parse_number
from smsgw.queue.consent.optout_list import Consents
from smsgw.queue.consent.records import ALL, ConsentRecord, OptinRequest, OptoutRequest
from smsgw.queue.model import NewMessage
from smsgw.queue.store import Store

__all__ = ["KeywordHandler", "ReplyBuilder", "sender_number"]

log = logging.getLogger("smsgw.keywords")

ReplyBuilder = Callable[[InboundMessage, str, str, float], NewMessage | None]
"""(the inbound message, the reply text, a client_ref, now) -> the reply, or None when it
cannot be sent (an alphanumeric sender has no number to answer)."""


def sender_number(raw: str, default_country: str = "") -> str:
    """The E.164 form of an inbound sender where it is a number; the text as it came if not.

    SMPP peers often drop the ``+`` (TON international, digits only), modems give ``+`` forms;
    a national form (leading 0) is read in ``default_country`` when one is configured.
    """
    text = raw.strip()
    national = text.startswith("0") and not text.startswith("00") and bool(default_country)
    if text.startswith("00"):
        candidate = "+" + text[2:]
    elif text.startswith("+") or national:
        candidate = text
    else:
        candidate = "+" + text
    digits = candidate.lstrip("+")
    if is_decimal(digits, 20) and len(digits) >= 7:
        try:
            return parse_number(candidate, default_country if national else "").e164
        except NumberError:
            return text
    return text


class KeywordHandler:
    """See the module docstring. ``handle`` returns once opt-outs, opt-ins and replies are
    committed; on cancellation what was committed stays (the store's rule)."""

    def __init__(
        self,
        matcher: KeywordMatcher,
        replies: AutoReplyConfig,
        consents: Consents,
        store: Store,
        build_reply: ReplyBuilder,
        wall: Callable[[], float],
        *,
        default_country: str = "",
        owner: Callable[[InboundMessage], str | None] = lambda msg: None,
    ) -> None:
        self.default_country = default_country
        self.owner = owner
        """The API key an inbound message belongs to: its keyword's trail entry names it, so
        that key sees the note and other keys see the opt-out without it."""
        self.matcher = matcher
        self.replies = replies
        self.consents = consents
        self.store = store
        self.build_reply = build_reply
        self.wall = wall

    async def handle(
        self, items: Sequence[InboundMessage], ids: Sequence[str]
    ) -> list[Keyword | None]:
        """Act on the keywords among ``items`` (stored as ``ids``); returns what each was."""
        kinds: list[Keyword | None] = []
        outs: list[tuple[int, OptoutRequest]] = []
        ins: list[tuple[int, OptinRequest]] = []
        consents: list[ConsentRecord] = []
        for i, (msg, iid) in enumerate(zip(items, ids, strict=True)):
            # A text cut short by the reassembly timeout is not the whole text.
            kind = self.matcher.classify(msg.text) if msg.complete else None
            kinds.append(kind)
            if kind is None:
                continue
            number = sender_number(msg.sender, self.default_country)
            note = f"{msg.text.strip()[:40]!r} to {msg.to} via {msg.route}"
            owner = self.owner(msg)
            if kind == "optout":
                outs.append(
                    (
                        i,
                        OptoutRequest(
                            number=number,
                            source="keyword",
                            at=msg.received_at,
                            inbound_id=iid,
                            key=owner,
                            note=note,
                        ),
                    )
                )
            elif kind == "optin":
                ins.append(
                    (
                        i,
                        OptinRequest(
                            number=number,
                            source="keyword",
                            at=msg.received_at,
                            inbound_id=iid,
                            key=owner,
                            note=note,
                        ),
                    )
                )
                consents.append(
                    ConsentRecord(
                        number=number,
                        scope=ALL,
                        source="keyword",
                        at=msg.received_at,
                        text_shown="",
                        evidence=note,
                        key=owner,
                        inbound_id=iid,
                    )
                )
        changed: dict[int, bool] = {}
        if outs:
            did = await self.consents.opt_out([r for _, r in outs])
            changed.update(zip((i for i, _ in outs), did, strict=True))
        if ins:
            did = await self.consents.opt_in([r for _, r in ins])
            changed.update(zip((i for i, _ in ins), did, strict=True))
        if consents:
            await self.consents.add_consents(consents, self.wall())
        await self._reply(items, ids, kinds, changed)
        return kinds

    async def _reply(
        self,
        items: Sequence[InboundMessage],
        ids: Sequence[str],
        kinds: Sequence[Keyword | None],
        changed: dict[int, bool],
    ) -> None:
        now = self.wall()
        replies: list[NewMessage] = []
        for i, (msg, iid, kind) in enumerate(zip(items, ids, kinds, strict=True)):
            if kind is None or (kind != "help" and not changed.get(i, False)):
                continue
            text = getattr(self.replies, kind)
            if not text:
                continue
            reply = self.build_reply(msg, text, f"keyword:{iid}", now)
            if reply is None:
                log.info("no auto-reply to %r on route %s: not a number", msg.sender, msg.route)
                continue
            replies.append(reply)
        if replies:
            await self.store.accept(replies)
