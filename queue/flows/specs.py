"""The store's view of the configured flows (:class:`~smsgw.queue.flows.records.FlowSpec`)."""

from __future__ import annotations

from smsgw.config.flows import FlowConfig
from smsgw.queue.flows.records import FlowSpec, StepSpec

__all__ = ["flow_spec"]


def flow_spec(flow: FlowConfig) -> FlowSpec:
    """What starts, stops and times ``flow``'s runs, with every duration in seconds (the
    loader has checked them)."""
    return FlowSpec(
        name=flow.name,
        key=flow.key,
        trigger=flow.trigger,
        stop_on=tuple(flow.stop_on),
        match_ref=flow.match_ref,
        once_per=flow.once_per_seconds(),
        steps=tuple(
            StepSpec(delay=s.delay_seconds(), after=s.after, validity=s.validity_seconds())
            for s in flow.steps
        ),
    )
