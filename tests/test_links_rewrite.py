"""Rewriting a text's URLs into tracked short links (pure), and telling preview fetchers."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.config.links import DEFAULT_PREVIEW_AGENTS
from smsgw.drivers.text import plan
from smsgw.queue.links import ALPHABET, MAX_LINKS, PreviewAgents, find_urls, swap_code, track_links
from tests.helpers import new_message

BASE = "https://s.shop.example"


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("see https://shop.example/a.", ["https://shop.example/a"]),
        ("(https://shop.example/a)", ["https://shop.example/a"]),
        ("https://en.wikipedia.org/wiki/Foo_(bar)", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
        ("HTTP://SHOP.EXAMPLE/x?y=1&z=2#f, ok", ["HTTP://SHOP.EXAMPLE/x?y=1&z=2#f"]),
        ("a http://x.example b https://y.example/", ["http://x.example", "https://y.example/"]),
        ("no url: shop.example, ftp://x.example, https://", []),
    ],
)
def test_urls_are_found_without_the_sentence_around_them(text: str, urls: list[str]) -> None:
    assert [text[a:b] for a, b in find_urls(text)] == urls


def test_each_url_becomes_a_short_link_with_its_own_code() -> None:
    text, links = track_links("A https://shop.example/a B https://shop.example/a!", BASE, 7, 5.0)
    assert [link.url for link in links] == ["https://shop.example/a"] * 2
    assert links[0].code != links[1].code
    assert text == f"A {links[0].short_url} B {links[1].short_url}!"
    for link in links:
        assert link.short_url == f"{BASE}/{link.code}" and link.expires_at == 5.0
        assert len(link.code) == 7 and set(link.code) <= set(ALPHABET)


def test_a_text_without_urls_is_unchanged() -> None:
    assert track_links("Your code is 1234", BASE, 7, 5.0) == ("Your code is 1234", ())


def test_at_most_max_links_urls_are_rewritten() -> None:
    text = " ".join(f"https://shop.example/{i}" for i in range(MAX_LINKS + 2))
    out, links = track_links(text, BASE, 7, 5.0)
    assert len(links) == MAX_LINKS and out.endswith(f"https://shop.example/{MAX_LINKS + 1}")


def test_a_long_url_rewritten_takes_fewer_parts() -> None:
    text = "Your cart is waiting: https://shop.example/cart?" + "item=12345&" * 20
    out, _ = track_links(text, BASE, 7, 5.0)
    assert plan(text).parts == 2 and plan(out).parts == 1


def test_swapping_a_code_keeps_every_part_boundary() -> None:
    text, links = track_links("x" * 150 + "https://shop.example/a", BASE, 7, 5.0)
    p = plan(text)
    assert p.parts == 2
    msg = msgspec.structs.replace(new_message(segments=tuple(p.segments)), links=links)
    assert msg.text == text
    swapped = swap_code(msg, 0, "ZZZZZZZ")
    assert swapped.links[0].code == "ZZZZZZZ" and swapped.text == "x" * 150 + f"{BASE}/ZZZZZZZ"
    assert [len(s) for s in swapped.segments] == [len(s) for s in msg.segments]
    assert "".join(swapped.segments) == swapped.text
    with pytest.raises(ValueError):
        swap_code(msg, 0, "short")


def test_preview_agents_match_ignoring_case() -> None:
    preview = PreviewAgents(DEFAULT_PREVIEW_AGENTS)
    assert preview("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)")
    assert preview("WhatsApp/2.23.20.0 A") and preview("TelegramBot (like TwitterBot)")
    assert preview("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)")
    assert not preview("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1")
    assert not PreviewAgents([])("Slackbot")


_PIECES = st.sampled_from(
    [
        " ", "\n", ".", ",", ")", "(", "!", "é", "€", "word", "https://", "http://", "HTTPS://",
        "shop.example", "/path", "?q=1", "&b=2", "#f", "s.shop.example/", "ftp://x",
    ]
)  # fmt: skip


@given(st.lists(_PIECES, max_size=40).map("".join))
def test_a_rewrite_maps_back_to_the_text_it_came_from(text: str) -> None:
    out, links = track_links(text, BASE, 7, 5.0)
    assert len(links) == min(len(find_urls(text)), MAX_LINKS)
    assert len({link.code for link in links}) == len(links)
    back = out
    for link in links:
        assert back.count(link.short_url) == 1
        back = back.replace(link.short_url, link.url)
    assert back == text
