"""The names of the store interface the conformance suite drives, imported in this one place.

Tests import them from here, so a change in where the package keeps a name is one edit. Only
the interface is used: the :class:`Store`, the values it takes and returns, and the
:class:`Consents` facade over its opt-out list and consent records.
"""

from __future__ import annotations

from smsgw.drivers.seam import FailureKind, InboundMessage, OutboundPart, Outcome, Receipt
from smsgw.queue.campaigns.records import (
    HELD,
    AbSpec,
    CampaignSpec,
    NewCampaign,
    NewRecipient,
    RecipientFire,
    SpecVariant,
    client_ref,
)
from smsgw.queue.consent.optout_list import Consents
from smsgw.queue.consent.policy import Facts, Policy, Screened
from smsgw.queue.consent.records import ALL, ConsentRecord, OptinRequest, OptoutRequest
from smsgw.queue.model import FINAL, MessageRow, NewLink, NewMessage
from smsgw.queue.scheduling.retry import DispatchPolicy
from smsgw.queue.store import AcceptResult, Store, StoreClosed
from smsgw.queue.store.factory import make_store
from smsgw.queue.store.records import (
    Claim,
    Click,
    ClickResult,
    Coarse,
    ContactPatch,
    ConversionRow,
    Finished,
    NewContact,
    NewConversion,
    NewSegment,
    NewTemplate,
    TemplateRow,
    WebhookJob,
)

__all__ = [
    "ALL",
    "FINAL",
    "HELD",
    "AbSpec",
    "AcceptResult",
    "CampaignSpec",
    "Claim",
    "Click",
    "ClickResult",
    "Coarse",
    "ConsentRecord",
    "Consents",
    "ContactPatch",
    "ConversionRow",
    "DispatchPolicy",
    "Facts",
    "FailureKind",
    "Finished",
    "InboundMessage",
    "MessageRow",
    "NewCampaign",
    "NewContact",
    "NewConversion",
    "NewLink",
    "NewMessage",
    "NewRecipient",
    "NewSegment",
    "NewTemplate",
    "OptinRequest",
    "OptoutRequest",
    "OutboundPart",
    "Outcome",
    "Policy",
    "Receipt",
    "RecipientFire",
    "Screened",
    "SpecVariant",
    "Store",
    "StoreClosed",
    "TemplateRow",
    "WebhookJob",
    "client_ref",
    "make_store",
]
