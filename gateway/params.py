"""What the feature APIs read from a request's query the same way: a bounded whole number
(``after``, ``limit``) and the key whose rows an admin may reach with ``?key=``."""

from __future__ import annotations

from smsgw.config.schema import KeyConfig
from smsgw.drivers.text import parse_decimal
from smsgw.gateway.errors import Forbidden, Invalid
from smsgw.gateway.http import Request

__all__ = ["owner_of", "query_number"]


def owner_of(request: Request, key: KeyConfig, what: str) -> str:
    """The key whose ``what`` a request reaches: the caller's, or another's named by
    ``?key=`` for an admin key (403 ``admin_only`` for any other key)."""
    owner = request.query.get("key") or key.name
    if owner != key.name and not key.admin:
        raise Forbidden(
            f"only an admin key may reach another key's {what}", field="key", code="admin_only"
        )
    return owner


def query_number(query: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """A whole-number query parameter from ``lo`` to ``hi`` (``default`` when not given or
    empty); raises Invalid naming it."""
    raw = query.get(name)
    if not raw:
        return default
    value = parse_decimal(raw, 19)
    if value is None or not lo <= value <= hi:
        raise Invalid(f"'{name}' must be a whole number from {lo} to {hi}", field=name)
    return value
