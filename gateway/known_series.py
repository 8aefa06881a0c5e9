"""The labelled series a gateway exports from its first scrape, at zero.

A Prometheus counter that appears only with its first event makes ``rate()`` and
``increase()`` blind to that event (there is no earlier sample to compare with), and an alert
rule about it silent until the second one. So every series whose label values are known at
start is created before the API serves: per class, per final status, per refusal code and
policy reason, per configured route (receipt results, submit error kinds, protocol error kinds
of its driver, its histograms), per link (reconnects), per pair of routes one rule lists
(failovers), per documented HTTP operation, per store error kind, per supervised task. Label
values that depend on traffic (other HTTP codes, modem identities) stay out.

Each vocabulary is defined next to the code that counts it and imported here, so a new value is
primed where it is added; ``tests/test_metrics_exported.py`` checks that the literal label
values the code counts are all in them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import permutations
from typing import get_args

from smsgw.config.schema import Config, ModemRouteConfig, SmppRouteConfig
from smsgw.drivers.modem.error_codes import PROTOCOL_ERROR_KINDS as MODEM_PROTOCOL_ERRORS
from smsgw.drivers.smpp.errors import PROTOCOL_ERROR_KINDS as SMPP_PROTOCOL_ERRORS
from smsgw.gateway.http_server import OWN_ANSWERS
from smsgw.gateway.openapi import documented_operations
from smsgw.gateway.redirects import CLICK_KINDS, MISS_REASONS
from smsgw.gateway.schemas import REFUSAL_CODES
from smsgw.gateway.webhooks import DELIVERY_RESULTS
from smsgw.metrics.instruments import Metrics
from smsgw.queue.consent.policy import DEFERRAL_REASONS, REFUSAL_REASONS
from smsgw.queue.consent.records import Source
from smsgw.queue.flows.records import RUN_RESULTS, STEP_RESULTS
from smsgw.queue.scheduling.scheduler import RECEIPT_RESULTS, SUBMIT_ERROR_KINDS, RouteRunner
from smsgw.queue.store.health import KINDS as STORE_ERROR_KINDS
from smsgw.queue.store.records import ATTRIBUTED_BY
from smsgw.words import CLASSES, ENCODINGS, FINAL

__all__ = ["known_series", "prime_metrics"]

_SERVER_ERRORS = ("500", "503")

Series = dict[str, list[tuple[str, ...]]]


def known_series(
    config: Config, links: Mapping[str, Sequence[str]], tasks: Sequence[str] = ()
) -> Series:
    """Instrument attribute -> the label value tuples known for ``config``; ``links`` names
    each route's links (binds, modems) as its driver reports them, ``tasks`` the supervised
    tasks the gateway runs. HTTP series are those of
    the documented operations (:func:`~smsgw.gateway.openapi.documented_operations`): their
    success codes and the server errors (500, 503) that the 5xx alert counts."""
    operations = documented_operations(config)
    routes = [r.name for r in config.routes]
    finals = sorted(FINAL)
    sources = get_args(Source)
    pairs = sorted(
        {pair for rule in config.rules for pair in permutations(dict.fromkeys(rule.route), 2)}
    )  # a message fails over from any route of its rule's list to any other (wrapping round)
    series: Series = {
        "messages_accepted": [(c,) for c in CLASSES],
        "parts_accepted": [(e,) for e in ENCODINGS],
        "messages_refused": [(c,) for c in (*REFUSAL_CODES, "duplicate")],
        "messages_final": [(c, s) for c in CLASSES for s in finals],
        "end_to_end_latency": [(c,) for c in CLASSES],
        "policy_refused": [(r,) for r in REFUSAL_REASONS],
        "policy_deferred": [(r,) for r in DEFERRAL_REASONS],
        "optouts": [(s,) for s in sources],
        "optins": [(s,) for s in sources],
        "webhook_deliveries": [(r,) for r in DELIVERY_RESULTS],
        "failovers": list(pairs),
        "store_errors": [(k,) for k in STORE_ERROR_KINDS],
        "task_failures": [(t,) for t in tasks],
        "parts_submitted": [(r, c) for r in routes for c in CLASSES],
        "submit_errors": [(r, k) for r in routes for k in SUBMIT_ERROR_KINDS],
        "route_throttled": [(r,) for r in routes],
        "duplicates_risked": [(r,) for r in routes],
        "receipts": [(r, res) for r in routes for res in RECEIPT_RESULTS],
        "inbound": [(r,) for r in routes],
        "conversions": [(by,) for by in (*ATTRIBUTED_BY, "none")],
        "flow_runs": [(f.name, res) for f in config.flows for res in RUN_RESULTS],
        "flow_steps": [(f.name, res) for f in config.flows for res in STEP_RESULTS],
        "submit_latency": [(r,) for r in routes],
        "reconnects": [(r, link) for r in routes for link in links.get(r, ())],
        "protocol_errors": [],
        "http_requests": [("-", "protocol", str(status)) for status in OWN_ANSWERS],
        "http_duration": [(path,) for path in dict.fromkeys(p for _, p, _ in operations)],
    }
    if config.links.enabled:
        series["link_clicks"] = [(k,) for k in CLICK_KINDS]
        series["link_misses"] = [(r,) for r in MISS_REASONS]
    series["http_requests"] += [
        (method, path, code)
        for method, path, ok in operations
        for code in dict.fromkeys([*ok, *_SERVER_ERRORS])
    ]
    for route in config.routes:
        kinds: tuple[str, ...] = ()
        if isinstance(route, SmppRouteConfig):
            kinds = SMPP_PROTOCOL_ERRORS
        elif isinstance(route, ModemRouteConfig):
            kinds = MODEM_PROTOCOL_ERRORS
        series["protocol_errors"] += [(route.name, k) for k in kinds]
    return series


def prime_metrics(
    metrics: Metrics,
    config: Config,
    runners: Mapping[str, RouteRunner],
    tasks: Sequence[str] = (),
) -> None:
    """Export :func:`known_series` at zero; call once the routes' drivers have started (their
    links are named then) and before the API serves."""
    links = {
        name: [str(link["name"]) for link in runner.driver.state().links]
        for name, runner in runners.items()
    }
    metrics.prime(known_series(config, links, tasks))
