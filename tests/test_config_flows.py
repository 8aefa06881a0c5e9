"""``[[flows]]`` in config: what is read, and each refusal naming file, key and reason."""

from __future__ import annotations

import pytest

from smsgw.config.loader import ConfigError, parse
from smsgw.queue.flows.specs import flow_spec

BASE = """
[[keys]]
name = "shop"
token = "env:SHOP_TOKEN"

[[routes]]
name = "sim"
driver = "simulator"

[[rules]]
route = ["sim"]
"""

FLOW = """
[[flows]]
name = "cart"
key = "shop"
trigger = "cart_abandoned"
stop_on = ["order_placed"]
once_per = "{once_per}"

[[flows.steps]]
delay = "{delay}"
class = "marketing"
text = "Your cart is waiting, {{{{name}}}}."

[[flows.steps]]
delay = 5400
after = "trigger"
template = "last_call"
"""


def _parse(text: str) -> object:
    return parse((BASE + text).encode(), "smsgw.toml", {"SHOP_TOKEN": "x" * 32})


def _refusal(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        _parse(text)
    return str(info.value)


def test_a_flow_is_read_with_its_durations_in_seconds() -> None:
    config = parse(
        (BASE + FLOW.format(once_per="90d", delay="1h")).encode(),
        "smsgw.toml",
        {"SHOP_TOKEN": "x" * 32},
    )
    [flow] = config.flows
    spec = flow_spec(flow)
    assert spec.once_per == 90 * 86400.0
    assert [(s.delay, s.after) for s in spec.steps] == [(3600.0, "previous"), (5400.0, "trigger")]
    assert [s.msg_class for s in flow.steps] == ["marketing", "transactional"]
    assert flow.steps[0].text == "Your cart is waiting, {{name}}." and flow.match_ref


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            FLOW.format(once_per="90d", delay="1 hour"),
            "smsgw.toml: flows[0].steps[0].delay: '1 hour' is not a duration",
        ),
        (
            FLOW.format(once_per="3mo", delay="1h"),
            "smsgw.toml: flows[0].once_per: '3mo' is not a duration",
        ),
        (
            FLOW.format(once_per="1d", delay="1h").replace('key = "shop"', 'key = "nope"'),
            "smsgw.toml: flows[0].key: unknown key 'nope'",
        ),
        (
            FLOW.format(once_per="1d", delay="1h").replace('template = "last_call"', ""),
            "smsgw.toml: flows[0].steps[1].text: give exactly one of template and text",
        ),
        (
            FLOW.format(once_per="1d", delay="1h").replace('"order_placed"', '"cart_abandoned"'),
            "smsgw.toml: flows[0].stop_on: 'cart_abandoned' is the trigger",
        ),
        (
            FLOW.format(once_per="1d", delay="1h").replace('"marketing"', '"otp"'),
            "smsgw.toml: flows[0].steps[0].class: a flow step is transactional or marketing",
        ),
        (
            FLOW.format(once_per="1d", delay="1h") + FLOW.format(once_per="1d", delay="1h"),
            "smsgw.toml: flows[1].name: duplicate flow name 'cart'",
        ),
        (
            FLOW.format(once_per="1d", delay="1h").replace('after = "trigger"', 'after = "x"'),
            "smsgw.toml: flows[0].steps[1].after: invalid enum value 'x'",
        ),
        (
            FLOW.format(once_per="1d", delay="1h").replace("class =", "clas ="),
            "smsgw.toml: flows[0].steps[0].clas: unknown key",
        ),
        (
            '[[flows]]\nname = "x"\nkey = "shop"\ntrigger = "t"\nsteps = []\n',
            "smsgw.toml: flows[0].steps: a flow needs at least one step",
        ),
        (
            FLOW.format(once_per="1d", delay="1h").replace(
                'class = "marketing"', 'class = "marketing"\ntrack_links = true'
            ),
            "smsgw.toml: flows[0].steps[0].track_links: needs tracked links configured",
        ),
    ],
)
def test_a_bad_flow_is_refused_naming_file_key_and_reason(text: str, line: str) -> None:
    assert _refusal(text).startswith(line)
