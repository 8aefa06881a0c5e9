"""The ``[links]`` table: tracked short links in messages and their redirect listener.

Its Struct is part of :class:`smsgw.config.schema.Config`; :func:`links_problems` is the
loader's cross check (``base_url`` shape, a listen address given with a base URL), each
failure naming its key.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

import msgspec

__all__ = ["DEFAULT_PREVIEW_AGENTS", "LinksConfig", "links_problems"]

DEFAULT_PREVIEW_AGENTS = (
    "facebookexternalhit",
    "Facebot",
    "Twitterbot",
    "Slackbot",
    "WhatsApp",
    "TelegramBot",
    "Discordbot",
    "Googlebot",
    "bingbot",
    "SkypeUriPreview",
    "Applebot",
    "iMessage",
    "LinkedInBot",
    "Pinterest",
    "redditbot",
    "Embedly",
    "vkShare",
    "Viber",
    "Snapchat",
)
"""User-Agent substrings of link-preview fetchers (chat apps and social networks fetch a link
to draw its card; that is not the recipient clicking)."""

_CodeLength = Annotated[int, msgspec.Meta(ge=5, le=22)]
_Positive = Annotated[float, msgspec.Meta(gt=0)]


class LinksConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Tracked links: off while ``listen`` is empty."""

    listen: str = ""
    """host:port of the redirect listener (it may face the internet; the API stays where
    ``server.listen`` puts it). "": tracked links are off."""
    base_url: str = ""
    """What a short link starts with, e.g. ``https://s.shop.example``: http(s), a host, an
    optional path prefix; no query or fragment. A short link is ``<base_url>/<code>``."""
    code_length: _CodeLength = 7
    """Characters of a link code (base62: letters and digits)."""
    expire_after: _Positive = 90 * 86_400.0
    """Seconds a short link redirects after its message was accepted (then 410 Gone)."""
    preview_agents: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_PREVIEW_AGENTS))
    """User-Agent substrings (case-insensitive) counted as link-preview fetchers, not clicks."""

    @property
    def enabled(self) -> bool:
        """Tracked links are on (a listener is configured)."""
        return bool(self.listen)


def links_problems(links: LinksConfig) -> list[tuple[str, str]]:
    """Every (key, reason) wrong in ``links`` beyond the types, in order (empty: all good).
    The listen address itself is checked by the loader like the other listeners."""
    out: list[tuple[str, str]] = []
    if not links.enabled:
        return out
    if not links.base_url:
        out.append(("links.base_url", "is required when links.listen is set"))
        return out
    try:
        url = urlsplit(links.base_url)
        url.port  # noqa: B018 - reading it checks the port
    except ValueError as e:
        out.append(("links.base_url", f"not a URL: {e}"))
        return out
    if url.scheme not in ("http", "https") or not url.hostname:
        out.append(("links.base_url", "must be an http:// or https:// URL with a host"))
    elif url.query or url.fragment or "?" in links.base_url or "#" in links.base_url:
        out.append(("links.base_url", "must not have a query or fragment"))
    elif url.username is not None or url.password is not None:
        out.append(("links.base_url", "must not hold a user name or password"))
    elif links.base_url.endswith("/"):
        out.append(("links.base_url", "must not end with / (links are <base_url>/<code>)"))
    elif any(not c.isascii() or not c.isprintable() or c == " " for c in links.base_url):
        out.append(("links.base_url", "must be printable ASCII (punycode a non-ASCII host)"))
    for i, agent in enumerate(links.preview_agents):
        if not agent.strip():
            out.append((f"links.preview_agents[{i}]", "must not be empty"))
    return out
