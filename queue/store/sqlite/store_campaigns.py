"""The SQLite store's calls for what stores build campaigns and flows from: message templates,
flows and their events, contacts and segments, campaigns, tracked links, conversions (a part of
:class:`~smsgw.queue.store.sqlite.store.SqliteStore`).

Every method runs its statements (the modules of this package) in the writer thread and
returns once its transaction committed (group commit, see
:mod:`smsgw.queue.store.sqlite.writer`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from smsgw.queue.campaigns import records as crec
from smsgw.queue.flows.records import (
    DueStep,
    EventResult,
    Fired,
    FlowCounts,
    FlowSpec,
    NewEvent,
    RunRow,
    StepFire,
    StepStats,
)
from smsgw.queue.store import records as rec
from smsgw.queue.store.records import (
    Click,
    ClickResult,
    NewTemplate,
    TemplateRow,
)
from smsgw.queue.store.screening import AcceptGate, Screened
from smsgw.queue.store.sqlite import accept as ops_accept
from smsgw.queue.store.sqlite import campaigns as ops_campaigns
from smsgw.queue.store.sqlite import contacts as ops_contacts
from smsgw.queue.store.sqlite import conversions as ops_conversions
from smsgw.queue.store.sqlite import flows as ops_flows
from smsgw.queue.store.sqlite import links as ops_links
from smsgw.queue.store.sqlite import templates as ops_templates
from smsgw.queue.store.sqlite.transitions import Events
from smsgw.queue.store.sqlite.writer import Writer

__all__ = ["CampaignCalls"]

T = TypeVar("T")


class CampaignCalls:
    """Templates, flows, contacts, segments, tracked links and conversions: mixed into
    :class:`~smsgw.queue.store.sqlite.store.SqliteStore`, whose writer and events they use."""

    _writer: Writer
    _events: Events

    if TYPE_CHECKING:

        def _count_accepted(self, screened: Sequence[Screened]) -> None: ...

    # -- message templates -----------------------------------------------------------------

    async def add_template(self, t: NewTemplate) -> TemplateRow | None:
        """Store a new template; None when its key has one of that name already."""
        return await self._writer.call(ops_templates.add, t)

    async def get_template(self, key: str, name: str) -> TemplateRow | None:
        return await self._writer.call(ops_templates.get, key, name)

    async def templates_page(self, key: str | None, after: int, limit: int) -> list[TemplateRow]:
        """``key``'s templates (None: every key's) after the cursor ``after``."""
        return await self._writer.call(ops_templates.page, key, after, limit)

    async def replace_template(self, t: NewTemplate) -> TemplateRow | None:
        """Replace ``t.key``'s template ``t.name``; None when there is none."""
        return await self._writer.call(ops_templates.replace, t)

    async def delete_template(self, key: str, name: str) -> bool:
        return await self._writer.call(ops_templates.delete, key, name)

    # -- flows -----------------------------------------------------------------------------

    async def record_events(
        self, specs: Sequence[FlowSpec], items: Sequence[NewEvent]
    ) -> list[EventResult]:
        """Store events; start and stop runs of ``specs`` as they call for, in one commit."""
        ids = ops_accept.new_ids("evt_", [e.received_at for e in items])
        return await self._writer.call(ops_flows.record_events, self._events, specs, items, ids)

    async def due_flow_steps(self, now: float, limit: int) -> list[DueStep]:
        return await self._writer.call(ops_flows.due_steps, now, limit)

    async def next_flow_due(self) -> float | None:
        return await self._writer.call(ops_flows.next_due)

    async def fire_flow_steps(
        self,
        specs: Mapping[str, FlowSpec],
        fires: Sequence[StepFire],
        policy: AcceptGate,
        now: float,
    ) -> list[Fired]:
        """Due steps become messages (screened like any accept) and each run's following step
        is scheduled, in one commit; steps a stop event got to first are left alone."""
        ids = ops_accept.new_ids("msg_", [now] * len(fires))
        fired, screened = await self._writer.call(
            ops_flows.fire_steps, policy, specs, fires, ids, now
        )
        self._count_accepted(screened)
        return fired

    async def flow_runs(
        self, key: str, flow: str, number: str | None, after: int, limit: int
    ) -> list[RunRow]:
        return await self._writer.call(ops_flows.runs_page, key, flow, number, after, limit)

    async def flow_stats(
        self, key: str, names: Sequence[str]
    ) -> dict[str, tuple[FlowCounts, list[StepStats]]]:
        return await self._writer.call(ops_flows.flow_stats, key, names)

    # -- contacts and segments (see the protocol for what each promises) -------------------

    async def upsert_contacts(self, items: Sequence[rec.NewContact]) -> list[bool]:
        return await self._writer.call(ops_contacts.upsert, items)

    async def get_contact(self, key: str, number: str) -> rec.ContactRow | None:
        return await self._writer.call(ops_contacts.get, key, number)

    async def contacts_page(
        self, key: str | None, after: int, limit: int, tag: str | None = None
    ) -> list[rec.ContactRow]:
        return await self._writer.call(ops_contacts.page, key, after, limit, tag)

    async def patch_contact(
        self, key: str, number: str, p: rec.ContactPatch
    ) -> rec.ContactRow | None:
        return await self._writer.call(ops_contacts.patch, key, number, p)

    async def delete_contact(self, key: str, number: str) -> bool:
        return await self._writer.call(ops_contacts.delete, key, number)

    async def segment_candidates(
        self, key: str, coarse: rec.Coarse, after: int, limit: int
    ) -> list[rec.Candidate]:
        return await self._writer.call(ops_contacts.candidates, key, coarse, after, limit)

    async def add_segment(self, s: rec.NewSegment) -> rec.SegmentRow | None:
        return await self._writer.call(ops_contacts.add_segment, s)

    async def get_segment(self, key: str, name: str) -> rec.SegmentRow | None:
        return await self._writer.call(ops_contacts.get_segment, key, name)

    async def segments_page(self, key: str | None, after: int, limit: int) -> list[rec.SegmentRow]:
        return await self._writer.call(ops_contacts.segments_page, key, after, limit)

    async def replace_segment(self, s: rec.NewSegment) -> rec.SegmentRow | None:
        return await self._writer.call(ops_contacts.replace_segment, s)

    async def delete_segment(self, key: str, name: str) -> bool:
        return await self._writer.call(ops_contacts.delete_segment, key, name)

    # -- campaigns (see the protocol for what each promises) -------------------------------

    async def add_campaign(self, c: crec.NewCampaign) -> crec.CampaignRow:
        [campaign_id] = ops_accept.new_ids("cmp_", [c.at])
        return await self._writer.call(ops_campaigns.add, c, campaign_id)

    async def get_campaign(self, key: str | None, campaign_id: str) -> crec.CampaignRow | None:
        return await self._writer.call(ops_campaigns.get, key, campaign_id)

    async def draft_recipients(self, cid: int) -> list[crec.SpecRecipient]:
        return await self._writer.call(ops_campaigns.draft_recipients, cid)

    async def campaigns_page(
        self, key: str | None, after: int, limit: int
    ) -> list[crec.CampaignRow]:
        return await self._writer.call(ops_campaigns.page, key, after, limit)

    async def start_campaign(
        self,
        key: str,
        campaign_id: str,
        recipients: Sequence[crec.NewRecipient],
        now: float,
    ) -> crec.CampaignRow | str | None:
        return await self._writer.call(ops_campaigns.start, key, campaign_id, recipients, now)

    async def campaign_action(
        self, key: str, campaign_id: str, action: crec.CampaignAction, now: float
    ) -> crec.CampaignRow | str | None:
        return await self._writer.call(
            ops_campaigns.act, self._events, key, campaign_id, action, now
        )

    async def running_campaigns(self, now: float) -> list[crec.CampaignRow]:
        return await self._writer.call(ops_campaigns.running, now)

    async def pending_recipients(self, cid: int, limit: int) -> list[crec.RecipientRow]:
        return await self._writer.call(ops_campaigns.pending, cid, limit)

    async def accept_campaign_chunk(
        self,
        policy: AcceptGate,
        cid: int,
        gen: int,
        fires: Sequence[crec.RecipientFire],
        now: float,
    ) -> list[tuple[int, str, str | None]] | None:
        ids = ops_accept.new_ids("msg_", [now] * len(fires))
        done = await self._writer.call(
            ops_campaigns.accept_chunk, policy, cid, gen, fires, ids, now
        )
        if done is None:
            return None
        marked, screened = done
        self._count_accepted(screened)
        return marked

    async def campaign_counts(self, cid: int) -> list[crec.RecipientCount]:
        return await self._writer.call(ops_campaigns.counts, cid)

    async def campaign_messages(
        self, cid: int
    ) -> tuple[list[crec.MessageTally], list[crec.ClickTally]]:
        return await self._writer.call(ops_campaigns.message_stats, cid)

    async def decide_campaign_ab(self, cid: int, now: float) -> crec.CampaignRow | None:
        return await self._writer.call(ops_campaigns.decide_ab, cid, now)

    async def campaign_ab_values(self, cid: int, n_variants: int, metric: str) -> list[float]:
        return await self._writer.call(ops_campaigns.ab_values, cid, n_variants, metric)

    # -- tracked links ---------------------------------------------------------------------

    async def record_clicks(self, clicks: Sequence[Click]) -> list[ClickResult]:
        """Look up and record clicks (:func:`smsgw.queue.store.sqlite.links.record_clicks`);
        returns once committed. Concurrent callers share the writer's group commit."""
        return await self._writer.call(ops_links.record_clicks, clicks, self._events.on_webhooks)

    # -- conversions -----------------------------------------------------------------------

    async def record_conversion(self, c: rec.NewConversion) -> tuple[rec.ConversionRow, bool]:
        """Attribute and record an order (:func:`smsgw.queue.store.sqlite.conversions.record`)
        in one commit; an order the key reported before answers its first row and False."""
        [public_id] = ops_accept.new_ids("cnv_", [c.received_at])
        return await self._writer.call(ops_conversions.record, c, public_id)

    async def get_conversion(self, key: str, order_id: str) -> rec.ConversionRow | None:
        return await self._writer.call(ops_conversions.get, key, order_id)

    async def conversions_page(self, key: str, after: int, limit: int) -> list[rec.ConversionRow]:
        return await self._writer.call(ops_conversions.page, key, after, limit)
