"""The gateway's object graph, built once: store, scheduler, consent policy, router, acceptor,
keyword handling and inbound ownership, each made once and shared.

:class:`~smsgw.gateway.service.Gateway` runs what :func:`wire` builds and the API
(:class:`~smsgw.gateway.api.Api`) takes its parts from it, so the policy that decides at accept
is the one that gates each message as it leaves, and the router that picks a route for an API
call is the one that picks it for a keyword's auto-reply. Tests that need the same graph build
it here too. Nothing is opened or started: the store opens when the gateway runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from smsgw.config.schema import Config
from smsgw.gateway.accept import Acceptor, keyword_replies
from smsgw.metrics.instruments import Metrics
from smsgw.queue.consent.keyword_handler import KeywordHandler
from smsgw.queue.consent.optout_list import Consents
from smsgw.queue.consent.policy import Policy
from smsgw.queue.inbound_owner import InboundOwners
from smsgw.queue.scheduling.routing import Router
from smsgw.queue.scheduling.scheduler import Scheduler
from smsgw.queue.store import Store
from smsgw.queue.store.factory import make_store

__all__ = ["Wiring", "wire"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Wiring:
    """The parts of one gateway, connected (see the module docstring)."""

    config: Config
    metrics: Metrics
    wall: Callable[[], float]
    store: Store
    scheduler: Scheduler
    policy: Policy
    """Consent and courtesy: decides at accept and is the store's claim gate."""
    consents: Consents
    router: Router
    acceptor: Acceptor
    inbound_owners: InboundOwners
    """Which key each inbound message belongs to (the store asks it as it stores one)."""
    keywords: KeywordHandler


def wire(
    config: Config,
    *,
    metrics: Metrics | None = None,
    wall: Callable[[], float] = time.time,
    evidence: Sequence[str] = (),
) -> Wiring:
    """Build the graph for ``config``. ``evidence`` names files in the data dir that show it
    was used before (the store refuses to start afresh beside them)."""
    metrics = metrics or Metrics()
    sch = config.scheduler
    store = make_store(config, metrics=metrics, evidence=evidence, wall=wall)
    scheduler = Scheduler(
        store,
        metrics,
        wall,
        submit_timeout=sch.submit_timeout,
        failover_after=sch.failover_after,
    )
    policy = Policy(config, metrics)
    store.gate = policy
    consents = Consents(store, metrics)
    owners = InboundOwners(config.keys, policy.default_country)
    store.inbound_owner = owners.owner
    router = Router(config.rules, [r.name for r in config.routes])
    acceptor = Acceptor(config, router, policy)
    keywords = KeywordHandler(
        policy.matcher,
        config.policy.auto_reply,
        consents,
        store,
        keyword_replies(acceptor),
        wall,
        default_country=policy.default_country,
        owner=owners.owner,
    )
    return Wiring(
        config=config,
        metrics=metrics,
        wall=wall,
        store=store,
        scheduler=scheduler,
        policy=policy,
        consents=consents,
        router=router,
        acceptor=acceptor,
        inbound_owners=owners,
        keywords=keywords,
    )
