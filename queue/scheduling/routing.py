"""Routing rules: the first rule matching destination prefix, class and sender names a
failover list of routes."""

from __future__ import annotations

from collections.abc import Sequence

from smsgw.config.schema import RuleConfig

__all__ = ["Router"]


class Router:
    """Picks a message's route list; pure and cheap (a handful of string checks)."""

    def __init__(self, rules: Sequence[RuleConfig], route_names: Sequence[str]) -> None:
        self._rules = [
            (r.prefix if r.prefix.startswith("+") or not r.prefix else "+" + r.prefix, r)
            for r in rules
        ]
        self._routes = set(route_names)

    def pick(
        self,
        to: str,
        msg_class: str,
        sender: str,
        *,
        allowed: frozenset[str] | None = None,
    ) -> tuple[str, ...] | None:
        """The route list of the first matching rule, or None when no rule matches.

        With ``allowed`` (an API key's routes), only those routes are kept in the matching
        rule's list, so a key's messages never leave, nor fail over, through a route it may
        not use; None when the list names none of them (the first match still decides: a
        rule sending +33 to one route is not bypassed by a catch-all below it).
        """
        for prefix, rule in self._rules:
            if prefix and not to.startswith(prefix):
                continue
            if rule.msg_class and rule.msg_class != msg_class:
                continue
            if rule.sender and rule.sender != sender:
                continue
            if allowed is None:
                return tuple(rule.route)
            return tuple(r for r in rule.route if r in allowed) or None
        return None

    def known(self, route: str) -> bool:
        return route in self._routes
