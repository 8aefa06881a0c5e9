"""Tracked links, pure: finding the URLs of a text, making codes, rewriting the text.

A message that asks for tracked links has each ``http://`` or ``https://`` URL of its text
replaced by ``<base_url>/<code>``; each code is random (:mod:`secrets`), of the configured
length, from :data:`ALPHABET`, and the store keeps the code unique (it draws again on a
collision, :func:`swap_code`). Which User-Agents are link-preview fetchers is decided here too.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence

import msgspec

from smsgw.queue.model import NewLink, NewMessage

__all__ = [
    "ALPHABET",
    "MAX_LINKS",
    "PreviewAgents",
    "find_urls",
    "new_code",
    "swap_code",
    "track_links",
]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
"""base62: every character is one septet of the GSM 7-bit default alphabet and one UCS-2 code
unit, so a code of the same length in place of another never moves a part boundary."""
MAX_LINKS = 20
"""URLs rewritten per message at most; the rest of the text stays as written."""

# Visible ASCII after the scheme (what a URL in a message is made of); punctuation a sentence
# puts after a URL is not part of it (see _trim).
_URL = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[!-~]+")
_TRAILING = ".,;:!?'\"*"
_PAIRS = {")": "(", "]": "[", "}": "{", ">": "<"}


def _trim(url: str) -> str:
    """``url`` without the sentence punctuation and unmatched closing brackets at its end."""
    while url:
        last = url[-1]
        if last in _TRAILING or (last in _PAIRS and url.count(last) > url.count(_PAIRS[last])):
            url = url[:-1]
        else:
            break
    return url


def find_urls(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each http(s) URL in ``text`` that has a host, in order."""
    out: list[tuple[int, int]] = []
    for m in _URL.finditer(text):
        url = _trim(m.group())
        if len(url) > url.index("://") + 3:
            out.append((m.start(), m.start() + len(url)))
    return out


def new_code(length: int) -> str:
    """A random code of ``length`` base62 characters (about 5.95 bits each)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def track_links(
    text: str, base_url: str, code_length: int, expires_at: float
) -> tuple[str, tuple[NewLink, ...]]:
    """``text`` with each http(s) URL (up to :data:`MAX_LINKS`) replaced by a short link, and
    the links in the order they appear. A URL that is already one of ours (it starts with
    ``base_url``) is tracked like any other. Codes are distinct within the text."""
    spans = find_urls(text)[:MAX_LINKS]
    if not spans:
        return text, ()
    out: list[str] = []
    links: list[NewLink] = []
    used: set[str] = set()
    at = 0
    for start, end in spans:
        code = new_code(code_length)
        while code in used:
            code = new_code(code_length)
        used.add(code)
        short = f"{base_url}/{code}"
        out += [text[at:start], short]
        links.append(
            NewLink(code=code, url=text[start:end], short_url=short, expires_at=expires_at)
        )
        at = end
    out.append(text[at:])
    return "".join(out), tuple(links)


def swap_code(msg: NewMessage, index: int, code: str) -> NewMessage:
    """``msg`` with its ``index``-th link given ``code`` instead, in the link, the text and
    the parts. The new code has the old one's length and alphabet, so each part keeps its
    length: the parts are cut again where they were."""
    old = msg.links[index]
    if len(code) != len(old.code):
        raise ValueError(f"a code of {len(old.code)} characters, not {len(code)}")
    short = old.short_url[: -len(old.code)] + code
    joined = "".join(msg.segments).replace(old.short_url, short)
    segments: list[str] = []
    at = 0
    for segment in msg.segments:
        segments.append(joined[at : at + len(segment)])
        at += len(segment)
    links = list(msg.links)
    links[index] = msgspec.structs.replace(old, code=code, short_url=short)
    return msgspec.structs.replace(
        msg,
        text=msg.text.replace(old.short_url, short),
        segments=tuple(segments),
        links=tuple(links),
    )


class PreviewAgents:
    """Tells link-preview fetchers (chat apps drawing a card) from people clicking, by
    User-Agent substrings matched ignoring case."""

    def __init__(self, agents: Iterable[str]) -> None:
        self._agents: Sequence[str] = tuple(a.casefold() for a in agents if a.strip())

    def __call__(self, user_agent: str) -> bool:
        """The User-Agent is a preview fetcher's."""
        ua = user_agent.casefold()
        return any(a in ua for a in self._agents)
