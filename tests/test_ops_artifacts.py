"""The operations artefacts agree with the gateway they watch and run.

Metric names are public interface (DESIGN.md, promise 6): a dashboard query or an alert rule
naming a metric the gateway does not expose is an empty panel, or an alert that never fires, and
nobody notices until the outage. So the names are read from a real gateway's /metrics. The alert
rules are run through promtool's rule unit tests (they fire when they should and stay quiet when
they should not), and the systemd unit is checked against the CLI and the sd_notify protocol the
gateway speaks. promtool (Debian's `prometheus`), systemd-analyze, systemd-sysusers and
systemd-tmpfiles checks are skipped, with the reason, where the tool is missing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from smsgw.config.loader import parse
from smsgw.config.schema import ModemRouteConfig, ServerConfig
from smsgw.gateway.cli import build_parser
from smsgw.gateway.httpclient import request
from smsgw.gateway.service import Gateway
from smsgw.metrics.histogram import BatchHistogram
from tests.conftest import Running, StartGateway, gateway_toml
from tests.processes import EXIT, STARTUP, spawn, waiting

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "metrics" / "dashboard.json"
ALERTS = ROOT / "metrics" / "alerts.yml"
UNIT = ROOT / "systemd" / "smsgw.service"
SYSUSERS = ROOT / "systemd" / "smsgw.sysusers.conf"
TMPFILES = ROOT / "systemd" / "smsgw.tmpfiles.conf"

# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}


def _words(text: str) -> list[str]:
    return text.split()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install prometheus / systemd)")
    return path


# -- what the gateway exposes --------------------------------------------------------------------


Exposition = dict[str, set[str]]
"""Sample names a scrape can return, with the label names each can carry."""


def _add(exp: Exposition, name: str, kind: str, labels: set[str]) -> None:
    """A family's sample names: a histogram's _bucket (with le), _sum and _count; else itself."""
    hist = {"_bucket": {"le"}, "_sum": set(), "_count": set()}
    for suffix, extra in (hist if kind == "histogram" else {"": set()}).items():
        exp.setdefault(name + suffix, set()).update(labels | extra | TARGET_LABELS)


async def _exposition(gw: Running) -> Exposition:
    status, body = await gw.call("GET", "/metrics", token=None)
    assert status == 200 and isinstance(body, bytes)
    text = body.decode()
    exp: Exposition = {"up": set(TARGET_LABELS)}  # Prometheus' own series, for "gateway down"
    # Counters are typed with their _total name; their _created lines are typed gauge.
    for name, kind in re.findall(r"^# TYPE (\S+) (\w+)$", text, re.M):
        _add(exp, name, kind, set())
    # Live gauges (collectors) show their labels on their samples.
    for name, labels in re.findall(r"^(\w+)\{([^}]*)\}", text, re.M):
        _add(exp, name, "gauge", set(re.findall(r"(\w+)=", labels)))
    # Instruments not yet moved have no sample: take their label names from the instrument.
    for inst in vars(gw.gateway.metrics).values():
        if isinstance(inst, MetricWrapperBase):
            assert inst._type is not None
            suffix = "_total" if inst._type == "counter" else ""
            _add(exp, inst._name + suffix, inst._type, set(inst._labelnames))
        elif isinstance(inst, BatchHistogram):
            _add(exp, inst.name, "histogram", set(inst.labelnames))
    return exp


# -- PromQL, read just enough --------------------------------------------------------------------

_SELECTOR = re.compile(r"\b([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}")
_METRIC = re.compile(r"\b(smsgw_\w+|up)\b(?!\s*\()")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_COUNTER_FN = re.compile(r"\b(?:rate|irate|increase)\(\s*([a-zA-Z_:][\w:]*)")
_GAUGE_FN = re.compile(r"\b(?:deriv|delta|predict_linear)\(\s*([a-zA-Z_:][\w:]*)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def problems_in(expr: str, exp: Exposition) -> list[str]:
    """What in ``expr`` does not fit the exposition: unknown metrics, labels, misused types."""
    out: list[str] = []
    bare = _STRING.sub('""', expr)
    metrics = set(_METRIC.findall(bare))
    for m in sorted(metrics - exp.keys()):
        out.append(f"unknown metric {m}")
    for name, body in _SELECTOR.findall(expr):
        for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", _STRING.sub('""', body)):
            if name in exp and label not in exp[name]:
                out.append(f"{name} has no label {label}")
    known = set().union(*(exp.get(m, set()) for m in metrics))
    for group in _GROUPING.findall(bare):
        for label in filter(None, (g.strip() for g in group.split(","))):
            if label not in known:
                out.append(f"grouping by {label}, which none of {sorted(metrics)} carries")
    for name in _COUNTER_FN.findall(bare):
        if not name.endswith(("_total", "_bucket", "_count", "_sum")):
            out.append(f"rate/increase of {name}, which is not a counter")
    for name in _GAUGE_FN.findall(bare):
        if name.endswith(("_total", "_bucket")):
            out.append(f"deriv/delta of {name}, which is a counter")
    for tail in re.split(r"\bhistogram_quantile\(", bare)[1:]:
        if "_bucket" not in tail or not re.search(r"\bby\s*\([^)]*\ble\b", tail):
            out.append("histogram_quantile without sum by (..., le) over a _bucket rate")
    return out


def grafana_to_promql(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced so promtool can parse it."""
    out = re.sub(r"\$__\w+", "5m", expr)
    out = re.sub(r"\$\{?route\}?", ".*", out)
    assert "$" not in out, f"unknown Grafana variable in {expr}"
    return out


def promtool_check(path: Path) -> str:
    promtool = _tool("promtool")
    return _run(promtool, "check", "rules", "--lint=all", "--lint-fatal", str(path))


def _run(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


# -- the dashboard -------------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def _panel_queries(dash: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def test_dashboard_imports_anywhere() -> None:
    dash = _dashboard()
    assert [(i["name"], i["type"], i["pluginId"]) for i in dash["__inputs"]] == [
        ("DS_PROMETHEUS", "datasource", "prometheus")
    ]
    assert dash["id"] is None and dash["uid"]
    assert isinstance(dash["schemaVersion"], int) and dash["schemaVersion"] >= 36
    # Every panel and query goes to the data source picked at import.
    ds = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
    for panel in dash["panels"]:
        if panel["type"] != "row":
            targets = panel["targets"]
            assert panel["datasource"] == ds and targets, panel["title"]
            assert all(t["datasource"] == ds for t in targets), panel["title"]
            assert len({t["refId"] for t in targets}) == len(targets), panel["title"]


WATCHED = _words("""smsgw_parts_submitted_total smsgw_messages_accepted_total smsgw_queue_depth
    smsgw_queue_oldest_age_seconds smsgw_messages_final_total smsgw_route_up smsgw_link_up
    smsgw_route_tokens smsgw_route_rate smsgw_route_in_flight smsgw_route_window
    smsgw_route_throttled_total smsgw_submit_errors_total smsgw_receipts_total
    smsgw_webhook_deliveries_total smsgw_webhook_queue_depth smsgw_http_requests_total
    smsgw_webhook_circuits_open smsgw_store_up smsgw_store_errors_total
    smsgw_task_failures_total""")


def test_dashboard_shows_what_operators_watch() -> None:
    queries = "\n".join(_panel_queries(_dashboard()))
    used = set(re.findall(r"\bsmsgw_\w+", queries))
    for metric in WATCHED:
        assert metric in used, f"no panel shows {metric}"
    for hist in ("smsgw_submit_latency_seconds", "smsgw_end_to_end_latency_seconds"):
        for q in ("0.5", "0.95", "0.99"):
            pattern = rf"histogram_quantile\({q}, sum by \([\w, ]+\) \(rate\({hist}_bucket\b"
            assert re.search(pattern, queries), f"no p{q} of {hist}"


async def test_dashboard_queries_name_what_the_gateway_exposes(
    start_gateway: StartGateway,
) -> None:
    exp = await _exposition(await start_gateway())
    dash = _dashboard()
    queries = _panel_queries(dash)
    problems = [f"{q}: {p}" for q in queries for p in problems_in(q, exp)]
    assert problems == []
    for var in dash["templating"]["list"]:  # each variable lists an exposed label's values
        m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", var["definition"])
        assert m and m[2] in exp.get(m[1], set()), var["definition"]
    # Picking a route filters every panel about routes.
    for q in queries:
        for m in re.finditer(r"\b(smsgw_\w+)\b(\s*\{[^}]*\})?", q):
            if "route" in exp.get(m.group(1), set()):
                assert 'route=~"$route"' in (m.group(2) or ""), f"{q} ignores the route variable"


def test_dashboard_queries_parse_as_promql(tmp_path: Path) -> None:
    queries = _panel_queries(_dashboard())
    rules = [
        {"record": f"dashboard:query_{i}", "expr": grafana_to_promql(q)}
        for i, q in enumerate(queries)
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))  # JSON is YAML
    assert f"SUCCESS: {len(queries)} rules found" in promtool_check(path)


# -- the alert rules -----------------------------------------------------------------------------


@dataclass
class Rule:
    group: str
    alert: str
    expr: str = ""
    for_: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def _scalar(value: str) -> str:
    if value.startswith('"'):
        loaded = json.loads(value)  # YAML double-quoted escapes used here are JSON's
        assert isinstance(loaded, str)
        return loaded
    if value.startswith("'"):
        return value[1:-1].replace("''", "'")
    return value


def parse_rules(text: str) -> list[Rule]:
    """Reads alerts.yml in the shape it is written in: two-space YAML, groups of rules with an
    inline or ``|`` expr, an optional ``for`` and flat ``labels`` and ``annotations``. Anything
    else fails here; promtool reads the real YAML and must find as many rules."""
    rules: list[Rule] = []
    for group in re.split(r"(?m)^  - name: ", text)[1:]:
        name, _, body = group.partition("\n")
        for chunk in re.split(r"(?m)^      - alert: ", body)[1:]:
            alert, _, rest = chunk.partition("\n")
            rule, key = Rule(name, alert), ""
            for line in rest.splitlines():
                if m := re.fullmatch(r" {8}(\w+):\s*(.*)", line):
                    key, value = m[1], m[2]
                    assert key in ("expr", "for", "labels", "annotations"), line
                    if key == "for":
                        rule.for_ = value
                    elif key == "expr" and value != "|":
                        rule.expr = _scalar(value)
                elif key in ("labels", "annotations") and (
                    m := re.fullmatch(r" {10}(\w+): (.+)", line)
                ):
                    getattr(rule, key)[m[1]] = _scalar(m[2])
                elif key == "expr" and line.startswith(" " * 10):
                    rule.expr += line[10:] + "\n"
                else:
                    assert not line.strip() or line.strip().startswith("#"), line
            rules.append(rule)
    return rules


RULES = parse_rules(ALERTS.read_text())


REQUIRED_ALERTS = _words("""SmsgwGatewayDown SmsgwRouteDown SmsgwLinkDown SmsgwOtpQueueAgeHigh
    SmsgwMarketingQueueAgeHigh SmsgwSubmitErrorRateHigh SmsgwThrottleRateHigh SmsgwWebhookGaveUp
    SmsgwWebhookFailureRatioHigh SmsgwUnmatchedReceiptsRising SmsgwStoreUnavailable
    SmsgwTaskFailures SmsgwWebhookRefused""")


def test_alert_rules_are_complete() -> None:
    names = [r.alert for r in RULES]
    assert len(names) == len(set(names))
    for r in RULES:
        assert r.expr.strip(), r.alert
        assert r.labels.get("severity") in ("critical", "warning", "info"), r.alert
        assert set(r.annotations) >= {"summary", "description"}, r.alert
    assert {r.alert for r in RULES} >= set(REQUIRED_ALERTS)


async def test_alert_rules_name_what_the_gateway_exposes(start_gateway: StartGateway) -> None:
    exp = await _exposition(await start_gateway())
    problems = [f"{r.alert}: {p}" for r in RULES for p in problems_in(r.expr, exp)]
    assert problems == []


def test_promtool_accepts_alert_rules() -> None:
    out = promtool_check(ALERTS)
    # The test's own reading of the file saw every rule promtool saw.
    assert f"SUCCESS: {len(RULES)} rules found" in out


# -- the first scrape of the example config ------------------------------------------------------

EXAMPLE = ROOT / "config" / "smsgw.example.toml"
EXAMPLE_ENV = {
    "SMSGW_SHOP_TOKEN": "example-shop-token-0123456789",
    "SMSGW_SHOP_WEBHOOK_SECRET": "whsec-example",
    "SMPP_PASSWORD": "secret",
    "SIM_PIN": "1234",
}
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_SELECTOR_OR_NAME = re.compile(r"\b(smsgw_\w+)\b(?!\s*\()(\s*\{[^}]*\})?")


def example_config(tmp: Path, smpp_port: int) -> str:
    """The example config as shipped, moved onto this box: loopback, a temporary store, its
    SMPP route pointed at a local port where nothing answers. Its modem is not plugged in."""
    text = EXAMPLE.read_text()
    for old, new in (
        ('listen = "127.0.0.1:8080"', 'listen = "127.0.0.1:0"'),
        ('path = "/var/lib/smsgw/smsgw.db"', f'path = "{tmp / "smsgw.db"}"'),
        ('host = "smpp.example.net"\nport = 2775', f'host = "127.0.0.1"\nport = {smpp_port}'),
    ):
        assert old in text, f"the example config changed: {old!r} is gone"
        text = text.replace(old, new)
    return text


def _selectors(expr: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(metric, [(label, op, value)]) for each smsgw_ series an expression reads."""
    out = []
    for m in _SELECTOR_OR_NAME.finditer(grafana_to_promql(expr)):
        out.append((m[1], _MATCHER.findall(m[2] or "")))
    return out


def _matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for name, op, value in matchers:
        have = labels.get(name, "")
        ok = {
            "=": have == value,
            "!=": have != value,
            "=~": re.fullmatch(value, have) is not None,
            "!~": re.fullmatch(value, have) is None,
        }[op]
        if not ok:
            return False
    return True


async def test_example_config_exports_every_series_the_dashboard_and_alerts_read(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """From the first scrape on, each selector of each dashboard query and alert rule has a
    series: panels are drawn and rate() and increase() count from the first event on."""
    config = parse(example_config(tmp_path, _free_port()).encode(), str(EXAMPLE), EXAMPLE_ENV)
    assert any(isinstance(r, ModemRouteConfig) for r in config.routes)  # modem panels count
    gw = Gateway(config)
    host, port = await nursery.start(gw.run)
    status, body = await request("GET", f"http://{host}:{port}/metrics", b"", [])
    assert status == 200
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample.labels)
    exprs = [*_panel_queries(_dashboard()), *(r.expr for r in RULES)]
    missing = sorted(
        {
            f"{name}{{{', '.join(f'{k}{op}{v!r}' for k, op, v in matchers)}}}"
            for expr in exprs
            for name, matchers in _selectors(expr)
            if not any(_matches(labels, matchers) for labels in samples.get(name, []))
        }
    )
    assert missing == [], "no series for: " + ", ".join(missing)
    # Modem series come from modem routes alone, one set per modem route.
    modems = {r.name for r in config.routes if isinstance(r, ModemRouteConfig)}
    modem_routes = {
        labels.get("route")
        for name, series in samples.items()
        if name.startswith("smsgw_modem_")
        for labels in series
    }
    assert modem_routes == modems
    gw.shutdown()


async def test_no_modem_series_without_a_modem_route(start_gateway: StartGateway) -> None:
    """A gateway with only a simulator route exports no modem series: a modem panel of the
    dashboard is empty there because there is no modem, not because a name is wrong."""
    gw = await start_gateway()
    status, body = await gw.call("GET", "/metrics", token=None)
    assert status == 200 and isinstance(body, bytes)
    names = {s.name for f in text_string_to_metric_families(body.decode()) for s in f.samples}
    assert "smsgw_route_up" in names  # the scrape has the route's series
    assert sorted(n for n in names if n.startswith("smsgw_modem_")) == []


Expect = tuple[str, str, dict[str, str] | None]


def _case(series: dict[str, str], *expect: Expect) -> dict[str, Any]:
    """A promtool unit test: series scraped each minute, then at each time, the one alert of
    that name expected with those labels (None: none fires)."""
    checks = [
        {"eval_time": at, "alertname": name, "exp_alerts": [{"exp_labels": lb}] if lb else []}
        for at, name, lb in expect
    ]
    series_list = [{"series": k, "values": v} for k, v in series.items()]
    return {"interval": "1m", "input_series": series_list, "alert_rule_test": checks}


CRIT, WARN = {"severity": "critical"}, {"severity": "warning"}
SUBMITTED = "smsgw_parts_submitted_total"
ERRORS = "smsgw_submit_errors_total"
AGE = "smsgw_queue_oldest_age_seconds"
RECEIPTS = "smsgw_receipts_total"
WEBHOOKS = "smsgw_webhook_deliveries_total"
HTTP = 'smsgw_http_requests_total{method="POST", endpoint="/v1/messages"'

# What Prometheus would have scraped, and which alerts must (or must not) fire when.
ALERT_CASES = [
    _case(  # route a down from minute 2, route b up, the gateway scraped fine
        {
            'smsgw_route_up{route="a"}': "1 1 0x6",
            'smsgw_route_up{route="b"}': "1x8",
            'smsgw_link_up{route="a", link="a-1"}': "1 0x8",
            'up{job="smsgw", instance="gw:8080"}': "1x8",
        },
        ("3m", "SmsgwRouteDown", None),
        ("5m", "SmsgwRouteDown", CRIT | {"route": "a"}),
        ("4m", "SmsgwLinkDown", None),
        ("7m", "SmsgwLinkDown", WARN | {"route": "a", "link": "a-1"}),
        ("7m", "SmsgwGatewayDown", None),
    ),
    _case(  # the store cannot write for three minutes from minute 2; a runner fails once
        {
            "smsgw_store_up": "1 1 0 0 0 1x10",
            'smsgw_task_failures_total{task="runner:a"}': "0 0 0 1x20",
        },
        ("2m", "SmsgwStoreUnavailable", None),
        ("3m", "SmsgwStoreUnavailable", CRIT),
        ("6m", "SmsgwStoreUnavailable", None),
        ("2m", "SmsgwTaskFailures", None),
        ("4m", "SmsgwTaskFailures", WARN | {"task": "runner:a"}),
        ("25m", "SmsgwTaskFailures", None),
    ),
    _case(  # the target stops answering at minute 1, then vanishes from discovery
        {'up{job="smsgw", instance="gw:8080"}': "1 0 0 0 0"},
        ("2m", "SmsgwGatewayDown", None),
        ("4m", "SmsgwGatewayDown", CRIT | {"job": "smsgw", "instance": "gw:8080"}),
        ("14m", "SmsgwGatewayDown", CRIT | {"job": "smsgw"}),
    ),
    _case(  # codes and promos equally old: only the codes are an emergency
        {
            f'{AGE}{{class="otp"}}': "0+60x20",
            f'{AGE}{{class="transactional"}}': "0+60x20",
            f'{AGE}{{class="marketing"}}': "0+60x20",
            'smsgw_messages_final_total{class="otp", status="expired"}': "0 0 0 0 1x16",
        },
        ("3m", "SmsgwOtpQueueAgeHigh", None),
        ("4m", "SmsgwOtpQueueAgeHigh", CRIT | {"class": "otp"}),
        ("10m", "SmsgwMarketingQueueAgeHigh", None),
        ("10m", "SmsgwTransactionalQueueAgeHigh", None),
        ("3m", "SmsgwOtpExpiring", None),
        ("5m", "SmsgwOtpExpiring", CRIT),
        ("16m", "SmsgwOtpExpiring", None),
    ),
    _case(  # transactional and marketing queues that never drain, each past its threshold
        {
            f'{AGE}{{class="transactional"}}': "0+60x1100",
            f'{AGE}{{class="marketing"}}': "0+60x1100",
        },
        ("30m", "SmsgwTransactionalQueueAgeHigh", None),
        ("50m", "SmsgwTransactionalQueueAgeHigh", WARN | {"class": "transactional"}),
        ("15h", "SmsgwMarketingQueueAgeHigh", None),
        ("17h", "SmsgwMarketingQueueAgeHigh", WARN | {"class": "marketing"}),
    ),
    _case(  # route a: 10% permanent errors; route b: 2% temporary errors, but throttled hard
        {
            f'{SUBMITTED}{{route="a", class="otp"}}': "0+90x30",
            f'{ERRORS}{{route="a", kind="permanent"}}': "0+10x30",
            f'{SUBMITTED}{{route="b", class="otp"}}': "0+98x30",
            f'{ERRORS}{{route="b", kind="temporary"}}': "0+2x30",
            f'{ERRORS}{{route="b", kind="throttled"}}': "0+50x30",
        },
        ("5m", "SmsgwSubmitErrorRateHigh", None),
        ("25m", "SmsgwSubmitErrorRateHigh", WARN | {"route": "a"}),
        ("25m", "SmsgwThrottleRateHigh", WARN | {"route": "b"}),
    ),
    _case(  # receipts: 5% of route a's find no part, 0.5% of route b's
        {
            f'{RECEIPTS}{{route="a", result="matched"}}': "0+200x120",
            f'{RECEIPTS}{{route="a", result="unmatched"}}': "0+10x120",
            f'{RECEIPTS}{{route="b", result="matched"}}': "0+200x120",
            f'{RECEIPTS}{{route="b", result="unmatched"}}': "0+1x120",
            f'{RECEIPTS}{{route="b", result="pending"}}': "0+100x120",
        },
        ("20m", "SmsgwUnmatchedReceiptsRising", None),
        ("100m", "SmsgwUnmatchedReceiptsRising", WARN | {"route": "a"}),
    ),
    _case(  # webhooks: a third of the attempts fail, and one delivery is dropped at minute 3
        {
            f'{WEBHOOKS}{{result="ok"}}': "0+8x45",
            f'{WEBHOOKS}{{result="failed"}}': "0+4x45",
            f'{WEBHOOKS}{{result="gave_up"}}': "0 0 0 1x42",
            f'{WEBHOOKS}{{result="refused"}}': "0x10 2x35",
        },
        ("2m", "SmsgwWebhookGaveUp", None),
        ("4m", "SmsgwWebhookGaveUp", WARN),
        ("30m", "SmsgwWebhookGaveUp", None),
        ("9m", "SmsgwWebhookRefused", None),
        ("12m", "SmsgwWebhookRefused", WARN),
        ("30m", "SmsgwWebhookRefused", None),
        ("10m", "SmsgwWebhookFailureRatioHigh", None),
        ("40m", "SmsgwWebhookFailureRatioHigh", WARN),
    ),
    _case(  # 10% of API requests answered 503 for 20 minutes, then none
        {f'{HTTP}, code="202"}}': "0+90x40", f'{HTTP}, code="503"}}': "0+10x20 200x20"},
        ("15m", "SmsgwHttpServerErrors", WARN),
        ("35m", "SmsgwHttpServerErrors", None),
    ),
]


def test_alert_rules_fire_when_they_should(tmp_path: Path) -> None:
    fired = {t["alertname"] for c in ALERT_CASES for t in c["alert_rule_test"] if t["exp_alerts"]}
    assert fired == {r.alert for r in RULES}, "each alert needs a case where it fires"
    promtool = _tool("promtool")
    # promtool compares annotations too; the cases are about when rules fire, so they run on
    # the rules as read above, without annotations (promtool checked those templates above).
    rules = tmp_path / "rules.yml"
    groups: dict[str, list[dict[str, object]]] = {}
    for r in RULES:
        rule: dict[str, object] = {"alert": r.alert, "expr": r.expr, "labels": r.labels}
        if r.for_:
            rule["for"] = r.for_
        groups.setdefault(r.group, []).append(rule)
    rules.write_text(json.dumps({"groups": [{"name": g, "rules": v} for g, v in groups.items()]}))
    cases = tmp_path / "cases.yml"
    cases.write_text(
        json.dumps({"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": ALERT_CASES})
    )
    _run(promtool, "test", "rules", str(cases))


# -- systemd -------------------------------------------------------------------------------------


def parse_unit(text: str) -> dict[str, list[str]]:
    """``Section.Key`` -> values in order (systemd keys repeat; configparser would refuse)."""
    out: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        if m := re.fullmatch(r"\[(\w+)\]", line):
            section = m[1]
        elif line.strip() and not line.startswith(("#", ";")):
            key, sep, value = line.partition("=")
            assert sep and section, f"not a unit line: {line!r}"
            out.setdefault(f"{section}.{key}", []).append(value)
    return out


def _seconds(value: str) -> float:
    return float(value.removesuffix("s"))  # the unit writes plain seconds


UNIT_KEYS = parse_unit(UNIT.read_text())


def _one(key: str) -> str:
    values = UNIT_KEYS.get(key, [])
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def test_unit_is_a_notify_service_with_watchdog_and_restart() -> None:
    assert _one("Service.Type") == "notify"
    assert _one("Service.Restart") == "on-failure"
    # The gateway pings at half the interval; anything under a few seconds would kill it on a
    # busy box, anything over a few minutes leaves a hung gateway unnoticed.
    assert 10 <= _seconds(_one("Service.WatchdogSec")) <= 120
    assert _one("Service.KillSignal") == "SIGTERM"
    # SIGTERM drains for server.shutdown_grace; systemd must not SIGKILL before that is over.
    assert _seconds(_one("Service.TimeoutStopSec")) >= ServerConfig().shutdown_grace + 5


HARDENING = _words("""NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes
    ProtectKernelTunables=yes ProtectKernelModules=yes LockPersonality=yes
    MemoryDenyWriteExecute=yes StateDirectory=smsgw DevicePolicy=closed""")


def test_unit_runs_as_the_dedicated_user_with_hardening() -> None:
    assert _one("Service.User") == "smsgw"
    assert _one("Service.DynamicUser") == "no"
    assert "dialout" in _one("Service.SupplementaryGroups").split()
    assert _one("Service.CapabilityBoundingSet") == ""
    for setting in HARDENING:
        key, _, value = setting.partition("=")
        assert _one(f"Service.{key}") == value, key
    families = set(_one("Service.RestrictAddressFamilies").split())
    assert families == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "@system-service" in UNIT_KEYS["Service.SystemCallFilter"]
    assert {"char-ttyUSB rw", "char-ttyACM rw"} <= set(UNIT_KEYS["Service.DeviceAllow"])
    # ProtectSystem=strict leaves only the state directory writable: the store must live there.
    assert _one("Service.WorkingDirectory") == "/var/lib/smsgw"
    assert _one("Service.EnvironmentFile").startswith("-/etc/smsgw/")


def test_unit_command_line_is_one_the_cli_accepts() -> None:
    argv = shlex.split(_one("Service.ExecStart"))
    assert argv[0] == "/usr/bin/smsgw"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "serve"
    assert args.config == "/etc/smsgw/smsgw.toml"


def test_systemd_analyze_verify_finds_nothing_to_complain_about(tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze")
    # verify insists on an existing executable; the command line is checked against the CLI above.
    text = re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={sys.executable}", UNIT.read_text())
    unit = tmp_path / "smsgw.service"
    unit.write_text(text)
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    # It reports unknown keys and bad values on stderr, naming the file, and still exits 0.
    ours = [line for line in proc.stderr.splitlines() if str(unit) in line]
    assert ours == [], "\n".join(ours)
    assert proc.returncode == 0, proc.stderr


def test_sysusers_and_tmpfiles_lay_out_user_and_directories(tmp_path: Path) -> None:
    sysusers, tmpfiles = _tool("systemd-sysusers"), _tool("systemd-tmpfiles")
    if os.geteuid() != 0:
        pytest.skip("systemd-tmpfiles needs root to chown (even under --root)")
    root = tmp_path / "root"
    (root / "etc" / "smsgw").mkdir(parents=True)
    env = root / "etc" / "smsgw" / "env"
    env.write_text("SMPP_PASSWORD=secret\n")
    env.chmod(0o644)  # as a careless `echo >` leaves it
    _run(sysusers, f"--root={root}", str(SYSUSERS))
    _run(tmpfiles, f"--root={root}", "--create", str(TMPFILES))
    passwd = {
        f[0]: f
        for f in (line.split(":") for line in (root / "etc/passwd").read_text().splitlines())
    }
    user = passwd["smsgw"]
    uid, gid, home = int(user[2]), int(user[3]), user[5]
    assert home == f"/var/lib/{_one('Service.StateDirectory')}" == _one("Service.WorkingDirectory")
    state = (root / home.lstrip("/")).stat()
    assert (state.st_uid, state.st_gid, state.st_mode & 0o777) == (uid, gid, 0o750)
    conf = (root / "etc" / "smsgw").stat()
    assert (conf.st_uid, conf.st_gid, conf.st_mode & 0o777) == (0, gid, 0o750)
    secrets = env.stat()  # readable by the service's group, by nobody else
    assert (secrets.st_uid, secrets.st_gid, secrets.st_mode & 0o777) == (0, gid, 0o640)


# -- the sd_notify conversation the unit relies on ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.slow
async def test_gateway_reports_ready_pings_watchdog_and_stops_cleanly(tmp_path: Path) -> None:
    """What Type=notify and WatchdogSec= expect, from `smsgw serve` as a real process."""
    name = f"smsgw-test-{os.getpid()}-{tmp_path.name}"
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    await sock.bind("\0" + name)  # abstract namespace: no path length limit, nothing to clean
    port = _free_port()
    config = tmp_path / "smsgw.toml"
    config.write_text(gateway_toml(tmp_path).replace('"127.0.0.1:0"', f'"127.0.0.1:{port}"'))
    env = dict(os.environ, NOTIFY_SOCKET="@" + name, WATCHDOG_USEC="400000")
    argv = [sys.executable, "-m", "smsgw", "serve", "-c", str(config), "--log-level", "warning"]
    try:
        async with spawn(argv, env=env) as gw:
            with waiting(STARTUP, lambda: f"READY=1 on the notify socket{gw.tail()}"):
                assert await sock.recv(256) == b"READY=1"
            # Ready means serving: the API answers at once.
            status, _ = await request("GET", f"http://127.0.0.1:{port}/healthz", b"", [])
            assert status == 200
            with waiting(EXIT, lambda: f"three watchdog pings, then STOPPING=1{gw.tail()}"):
                for _ in range(3):
                    assert await sock.recv(256) == b"WATCHDOG=1"
                gw.proc.send_signal(signal.SIGTERM)
                while (msg := await sock.recv(256)) == b"WATCHDOG=1":
                    pass
                assert msg == b"STOPPING=1"
            assert await gw.exits() == 0, gw.tail()
    finally:
        sock.close()
