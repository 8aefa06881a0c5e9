"""Builds the driver for a route's config (transports are imported only when a route uses them)."""

from __future__ import annotations

from smsgw.config.schema import (
    ModemRouteConfig,
    RouteConfig,
    SimulatorRouteConfig,
    SmppRouteConfig,
    TextConfig,
)
from smsgw.drivers.seam import Driver
from smsgw.metrics.instruments import Metrics

__all__ = ["make_driver"]


def make_driver(
    route: RouteConfig, metrics: Metrics, text: TextConfig, state_dir: str | None = None
) -> Driver:
    """The driver for ``route``; its links come up when it is started. ``state_dir`` is where a
    driver may keep small state across restarts (a modem's daily count)."""
    if isinstance(route, SimulatorRouteConfig):
        from smsgw.drivers.simulator import SimulatorDriver

        return SimulatorDriver(route, metrics)
    if isinstance(route, SmppRouteConfig):
        from smsgw.drivers.smpp.client import SmppDriver

        return SmppDriver(route, metrics, text)
    if isinstance(route, ModemRouteConfig):
        from smsgw.drivers.modem.bank import ModemBank

        return ModemBank(route, metrics, text, state_dir=state_dir)
    raise TypeError(f"no driver for {type(route).__name__}")
