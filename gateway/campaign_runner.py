"""The campaign runner: a running campaign's pending recipients become messages through the
accept path, a chunk at a time.

Each round it looks at the running campaigns (oldest first; one whose ``send_at`` is still to
come waits) and takes each one's next pending recipients, at most :data:`CHUNK`, or what its
``rate`` (messages per second) allows since the last round. Each recipient's message is built
as a POST would build it (the campaign's key, its senders and routes, class ``marketing``,
its variant's template or text rendered with the recipient's variables, ``client_ref``
``cmp:<id>:<seq>:<gen>``) and the chunk is handed to the store, which screens it with the
consent and courtesy policy (opt-outs, consent, quiet hours, caps) and marks every recipient
``accepted`` or ``skipped`` with the reason in the same commit. A recipient refused at the
door (a missing variable, a number the gateway does not read) is skipped with that reason.

A pause, a resume or a cancel is one store transaction serialised with the chunk's: a chunk
taken before a pause but committed after it finds the campaign's generation moved on and
writes nothing (see :mod:`smsgw.queue.store.sqlite.campaigns`). A restart finds the running
campaigns in the store and goes on with their pending recipients.

An A/B test's held recipients are not pending: once its test share is sent (none pending)
and its ``wait`` has passed, a round asks the store to pick the winner, which makes them
pending with the winner's variant in the same transaction (once: a decided campaign is not
decided again, across restarts too).

Time: rounds are paced by ``trio.sleep`` (the autojump clock in tests); ``send_at`` is wall
clock (the injected ``wall``). While the store cannot write, rounds are skipped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import msgspec
import trio

from smsgw.config.schema import Config, KeyConfig
from smsgw.gateway.accept import Acceptor
from smsgw.gateway.api_templates import TemplatesApi
from smsgw.gateway.errors import GatewayError
from smsgw.gateway.schemas import SendRequest
from smsgw.metrics.instruments import Metrics
from smsgw.queue.campaigns.records import CampaignRow, RecipientFire, RecipientRow, client_ref
from smsgw.queue.campaigns.templates import (
    Compiled,
    CompiledTemplate,
    TemplateError,
    check_vars,
    compile_text,
    render,
)
from smsgw.queue.consent.policy import Policy
from smsgw.queue.store import Store
from smsgw.queue.store.health import StoreUnavailable
from smsgw.queue.store.records import TemplateRow

__all__ = ["CHUNK", "ROUND", "CampaignRunner"]

ROUND = 0.25
"""Seconds between rounds."""
CHUNK = 500
"""Most recipients of one campaign accepted in one commit."""

_encoder = msgspec.json.Encoder()
_RAW_CLASS = _encoder.encode({"class": "marketing"})
_Cache = dict[str, tuple[TemplateRow, CompiledTemplate] | None]


class CampaignRunner:
    """Sends running campaigns; :meth:`run` loops until cancelled, :meth:`tick` is one round."""

    def __init__(
        self,
        config: Config,
        store: Store,
        acceptor: Acceptor,
        templates: TemplatesApi,
        policy: Policy,
        metrics: Metrics,
        wall: Callable[[], float],
    ) -> None:
        self.store = store
        self.acceptor = acceptor
        self.templates = templates
        self.policy = policy
        self.metrics = metrics
        self.wall = wall
        self._keys: dict[str, KeyConfig] = {k.name: k for k in config.keys}
        self._texts: dict[tuple[str, int], Compiled | TemplateError] = {}
        self._credit: dict[str, float] = {}
        """Campaign id -> messages its rate allows now (campaigns with a rate only)."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """A round every :data:`ROUND` seconds until cancelled (cancellation between rounds,
        or within one before its commit, leaves the recipients pending)."""
        task_status.started()
        while True:
            with contextlib.suppress(StoreUnavailable):
                while await self.tick(ROUND):
                    pass
            await trio.sleep(ROUND)

    async def tick(self, elapsed: float = ROUND) -> bool:
        """One round: a chunk of each running campaign that is due; ``elapsed`` seconds of
        rate are credited to each. Whether any campaign took a whole chunk (more to do now)."""
        now = self.wall()
        more = False
        running = await self.store.running_campaigns(now)
        live = {c.id for c in running}
        for gone in set(self._credit) - live:
            del self._credit[gone]
        for c in running:
            if c.spec.send_at is not None and c.spec.send_at > now:
                continue
            take = CHUNK
            if c.spec.rate is not None:
                credit = min(self._credit.get(c.id, 0.0) + c.spec.rate * elapsed, float(CHUNK))
                take = int(credit)
                self._credit[c.id] = credit - take
            if take == 0:
                continue
            rows = await self.store.pending_recipients(c.cursor, take)
            if not rows:
                if c.spec.ab is not None and c.ab_winner is None:
                    # The held recipients become pending once the winner is picked.
                    more = await self.store.decide_campaign_ab(c.cursor, now) is not None or more
                continue
            cache: _Cache = {}
            fires = [await self._fire(c, r, now, cache) for r in rows]
            marked = await self.store.accept_campaign_chunk(
                self.policy, c.cursor, c.gen, fires, now
            )
            if marked is None:
                continue
            by_seq = {f.seq: f for f in fires}
            for seq, state, _ in marked:
                self.metrics.campaign_messages.labels(state).inc()
                msg = by_seq[seq].msg
                if state == "accepted" and msg is not None:  # counted like a POST's message
                    self.metrics.messages_accepted.labels(msg.msg_class).inc()
                    self.metrics.parts_accepted.labels(msg.encoding).inc(len(msg.segments))
            # A paced campaign waits for the next round; an unpaced one goes on at once.
            more = more or (c.spec.rate is None and len(rows) == take)
        return more

    async def _fire(
        self, c: CampaignRow, r: RecipientRow, now: float, cache: _Cache
    ) -> RecipientFire:
        key = self._keys.get(c.key)
        if key is None:
            return RecipientFire(seq=r.seq, reason="key_removed")
        variant = c.spec.variants[r.variant]
        req = SendRequest(
            to=r.number,
            msg_class="marketing",
            client_ref=client_ref(c.id, r.seq, c.gen),
            route=c.spec.route,
            track_links=c.spec.track_links,
        )
        try:
            template: str | None = None
            if variant.template is not None:
                req.template, req.vars, template = variant.template, r.vars, variant.template
                req = (await self.templates.render_send(key, req, _RAW_CLASS, "", cache)).request
                req.msg_class = "marketing"
            else:
                req.text = self._text(c, r.variant, variant.text or "", r.vars)
            prepared = self.acceptor.prepare(key, req, now, template=template)
        except (GatewayError, TemplateError) as e:
            return RecipientFire(seq=r.seq, reason=e.code)
        return RecipientFire(seq=r.seq, msg=prepared.msg, facts=prepared.facts)

    def _text(self, c: CampaignRow, n: int, text: str, data: dict[str, object]) -> str:
        compiled = self._texts.get((c.id, n))
        if compiled is None:
            try:
                compiled = compile_text(text)
            except TemplateError as e:
                compiled = e
            self._texts[c.id, n] = compiled
        if isinstance(compiled, TemplateError):
            raise compiled
        check_vars(data)
        return render(compiled, data)
