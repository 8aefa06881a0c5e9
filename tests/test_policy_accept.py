"""The accept path's share of the policy: numbers parsed once, tz, the footer before the split."""

from __future__ import annotations

import pytest

from smsgw.config.loader import ConfigError
from smsgw.config.schema import Config
from smsgw.gateway.accept import Acceptor
from smsgw.gateway.errors import Invalid
from smsgw.gateway.schemas import SendRequest
from smsgw.queue.consent.policy import Policy, PolicyConfigError
from smsgw.queue.scheduling.routing import Router
from tests.policy_helpers import BERLIN, RUSSIA_MOBILE, SHANGHAI, at, config

NOW = at("2027-01-15T10:00:00")


def acceptor(cfg: Config) -> Acceptor:
    return Acceptor(cfg, Router(cfg.rules, [r.name for r in cfg.routes]))


def send(cfg: Config, **fields: object) -> tuple[str, int, str, tuple[str, ...], str]:
    req = SendRequest(**{"to": BERLIN, "text": "Big sale", **fields})  # type: ignore[arg-type]
    p = acceptor(cfg).prepare(cfg.keys[0], req, NOW)
    return p.msg.to, len(p.msg.segments), p.msg.text, p.facts.zones, p.facts.country


def refused(cfg: Config, **fields: object) -> Invalid:
    with pytest.raises(Invalid) as e:
        send(cfg, **fields)
    return e.value


def test_numbers_come_out_in_e164() -> None:
    cfg = config('default_country = "DE"')
    assert send(cfg, to="0151 12345678")[0] == BERLIN
    assert send(cfg, to="+49 (151) 1234-5678")[0] == BERLIN
    e = refused(config(), to="0151 12345678")
    assert (e.code, e.field, e.status) == ("invalid_number", "to", 422)
    assert "E.164" in e.message


def test_invalid_and_non_mobile_numbers_are_refused_where_config_asks() -> None:
    e = refused(config(), to="+447700900123")
    assert e.code == "invalid_number" and "not a valid phone number" in e.message
    assert send(config("validate_numbers = false"), to="+447700900123")[0] == "+447700900123"
    landline = "+49301234567"
    assert send(config(), to=landline)[0] == landline
    e = refused(config("refuse_non_mobile = true"), to=landline)
    assert e.code == "not_mobile" and "fixed line" in e.message
    assert send(config("refuse_non_mobile = true"), to=BERLIN)[0] == BERLIN


def test_zones_and_country_only_for_policed_classes() -> None:
    cfg = config()
    assert send(cfg, msg_class="marketing")[3:] == (("Europe/Berlin",), "DE")
    assert send(cfg, msg_class="transactional")[3:] == ((), "")
    assert len(send(cfg, to=RUSSIA_MOBILE, msg_class="marketing")[3]) == 16
    assert send(cfg, to=RUSSIA_MOBILE, msg_class="marketing", tz="Asia/Omsk")[3:] == (
        ("Asia/Omsk",),
        "RU",
    )
    e = refused(cfg, tz="Europe/Atlantis")
    assert (e.code, e.field) == ("invalid_tz", "tz")


def test_footer_is_added_before_the_split_and_only_once() -> None:
    cfg = config("footer = true")
    text = "x" * 150  # one part alone; with the footer, two
    _, parts, body, _, _ = send(cfg, msg_class="marketing", text=text)
    assert body == text + "\nAbmelden: STOPP antworten" and parts == 2
    # Not on other classes, not when the text already says how to stop.
    assert send(cfg, msg_class="transactional", text=text)[1] == 1
    assert send(cfg, msg_class="marketing", text="Sale! Reply STOP to opt out")[2] == (
        "Sale! Reply STOP to opt out"
    )
    assert send(cfg, msg_class="marketing", to=SHANGHAI, text="大促销")[2] == "大促销\n回复TD退订"
    custom = config('footer = true\nfooter_texts = { "" = "Text STOP to quit", "DE" = "" }')
    assert send(custom, msg_class="marketing")[2] == "Big sale"
    assert send(custom, msg_class="marketing", to=SHANGHAI)[2] == "Big sale\n回复TD退订"
    us = send(custom, msg_class="marketing", to="+18085551234")
    assert us[2] == "Big sale\nText STOP to quit"


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ('quiet_start = "9am"', "policy.quiet_start"),
        ("quiet_days = []", "policy.quiet_days"),
        ('fallback_tz = "Mars/Base"', "policy.fallback_tz"),
        ('default_country = "XX"', "policy.default_country"),
        ('[[policy.quiet_windows]]\ncountry = "Germany"', "policy.quiet_windows[0].country"),
        ('[[policy.quiet_windows]]\nend = "25:00"', "policy.quiet_windows[0].end"),
        ('[policy.keywords]\noptin = ["STOP"]', "policy.keywords"),
        ('[policy.footer_texts]\nDEU = "x"', "policy.footer_texts.DEU"),
    ],
)
def test_policy_settings_that_cannot_work_are_named(policy: str, field: str) -> None:
    try:
        cfg = config(policy)
    except ConfigError as refused:  # the loader's own check (quiet_start) is as good
        assert field in str(refused)
        return
    with pytest.raises(PolicyConfigError) as e:
        Policy(cfg)
    assert e.value.field == field
