"""The ops console's HTML: one page rendered on the server from a
:class:`~smsgw.gateway.console_model.Status`, with its style, script and throughput chart
(inline SVG) in the same response.

Plain on purpose: landmarks (header, main, sections named by their headings), tables with
captions and header cells, every state written as a word (colour and a symbol only add to
it), labelled controls, and tables that scroll sideways on a phone. Everything shown is
escaped. The page stays well under 50 KB with 50 routes and 64 modems (a test checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from urllib.parse import quote

from smsgw.gateway.console_assets import SCRIPT, STYLE
from smsgw.gateway.console_model import Chart, Job, LinkView, RouteView, SmppServerView, Status

__all__ = ["login_page", "status_page"]

_W, _H, _PAD = 600, 170, 34
"""Chart size in SVG units, and the left margin for the scale."""
_POINTS = 31
"""Points drawn per line at most (neighbours are averaged): 15 minutes in 30 s steps."""
_ERROR_TEXT = 100
"""Characters of a logged message shown on the page (``/status.json`` has up to 500)."""
_SMPP_ROWS = 8
"""SMPP server accounts shown on the page (``/status.json`` lists more)."""


def status_page(st: Status) -> str:
    """The whole page for ``st``."""
    title = "smsgw: ready" if st.readiness.ready else "smsgw: NOT READY"
    main = "".join(
        [
            _summary(st),
            _routes(st),
            _links(st),
            _smpp_server(st.smpp_server) if st.smpp_server is not None else "",
            _chart(st.chart, st.routes),
            _queue(st),
            _jobs(st.campaigns, "Campaigns", "campaign"),
            _jobs(st.flows, "Flows", "flow"),
            _retry(),
            _errors(st) if st.viewer.admin else "",
        ]
    )
    return _shell(title, f'<main id="main" data-view="status">{main}</main>')


def login_page(message: str) -> str:
    """The page for a browser without a token: a form that keeps it in the tab's session."""
    main = (
        '<main id="main" data-view="login"><section aria-labelledby="h-login">'
        '<h2 id="h-login">Sign in</h2>'
        f"<p>{escape(message)}</p>"
        '<form id="login" class="inline"><label for="token">API key or ops token</label>'
        '<input id="token" name="token" type="password" autocomplete="current-password"'
        " required><button>Open the console</button></form>"
        "<p class=m>The token is kept in this browser tab's session storage only (never in the"
        " address), and sent as <code>Authorization: Bearer</code>. Without JavaScript, ask"
        " with any HTTP client: <code>curl -H 'Authorization: Bearer …' /status</code>.</p>"
        "</section></main>"
    )
    return _shell("smsgw: sign in", main)


def _shell(title: str, main: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="icon" href="data:,">'
        f"<style>{STYLE}</style></head><body>"
        '<header><h1>smsgw ops console</h1><p id="live" role="status" aria-live="polite">'
        "Static view: refreshes every 2 s with JavaScript on.</p></header>"
        f"{main}"
        '<dialog id="confirm" aria-labelledby="confirm-text"><form method="dialog">'
        '<p id="confirm-text"></p><button value="cancel">Cancel</button> '
        '<button value="ok" id="confirm-ok">Confirm</button></form></dialog>'
        f"<script>{SCRIPT}</script></body></html>"
    )


# -- sections --------------------------------------------------------------------------------


def _section(key: str, heading: str, body: str) -> str:
    return (
        f'<section aria-labelledby="h-{key}"><h2 id="h-{key}">{escape(heading)}</h2>'
        f"{body}</section>"
    )


def _summary(st: Status) -> str:
    r = st.readiness
    ready = (
        '<span class="s up">ready</span>'
        if r.ready
        else '<span class="s down">not ready</span>: ' + escape("; ".join(r.reasons))
    )
    viewer = escape(st.viewer.name) + (" (every figure)" if st.viewer.admin else " (its routes)")
    body = (
        f"<dl><dt>Readiness</dt><dd>{ready}</dd>"
        f"<dt>Version</dt><dd>{escape(st.version)}</dd>"
        f"<dt>Up for</dt><dd>{_duration(st.uptime_seconds)},"
        f" since {_time(st.started_at, st.now)}</dd>"
        f"<dt>Now</dt><dd>{_time(st.now, st.now)}</dd>"
        f"<dt>Signed in as</dt><dd>{viewer}</dd></dl>"
    )
    return _section("gateway", "Gateway", body)


def _head(*names: str) -> str:
    return "<tr>" + "".join(f"<th scope=col>{n}" for n in names)


def _routes(st: Status) -> str:
    admin = st.viewer.admin
    head = _head(
        "Route",
        "State",
        "Since <small>UTC</small>",
        "Now / rate <small>parts/s</small>",
        "In flight / window",
        "Submitted",
        "Refused <small>throttled · temporary · permanent</small>",
        "Receipts <small>matched · pending · unmatched</small>",
        *(["Action"] if admin else []),
    )
    rows = []
    for r in st.routes:
        e, rc = r.submit_errors, r.receipts
        since = (
            "paused " + _ago(r.paused_since, st.now)
            if r.paused and r.paused_since
            else _ago(r.since, st.now)
        )
        paused_word = " (paused)" if r.paused and r.state == "down" else ""
        slowed = f", slowed {r.throttled}×" if r.throttled else ""
        action = f"<td><button>{'Resume' if r.paused else 'Pause'}</button>" if admin else ""
        rows.append(
            f"<tr class={r.state} id=route-{escape(r.name)}>"
            f"<th>{escape(r.name)} <small>{escape(r.driver)}</small>"
            f"<td>{r.state}{paused_word}<td>{since}"
            f"<td>{_rate(r.rate_now)} / {_rate(r.effective_rate)}{_configured(r)}"
            f"<td>{r.in_flight} / {r.window}<td>{r.submitted}"
            f"<td>{e['throttled']} · {e['temporary']} · {e['permanent']}{slowed}"
            f"<td>{rc['matched']} · {rc['pending']} · {rc['unmatched']}{action}"
        )
    if not rows:
        rows.append(f"<tr><td colspan={9 if admin else 8}>No route to show.")
    table = (
        "<p class=m>Each route: up or down and since when, what it sends now against its rate,"
        " what the carrier refused (and how often it asked the route to slow down).</p>"
        '<div class="scroll"><table class="t r"><caption>Routes</caption>'
        f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    return _section("routes", "Routes", table)


def _links(st: Status) -> str:
    admin = st.viewer.admin
    cols = 11 if admin else 10
    head = _head(
        "Route",
        "Bind or modem",
        "State",
        "Since <small>UTC</small>",
        "Window in use",
        "Now <small>parts/s</small>",
        "Throttles",
        "Reconnects",
        "Details",
        "Last error <small>UTC</small>",
        *(["Action"] if admin else []),
    )
    rows = "".join(_link_row(r, link, st.now, admin) for r in st.routes for link in r.links)
    body = rows or f"<tr><td colspan={cols}>No link to show."
    table = (
        '<div class="scroll"><table class="t links"><caption>Binds and modems</caption>'
        f"<thead>{head}</thead><tbody>{body}</tbody></table></div>"
    )
    return _section("links", "Binds and modems", table)


def _smpp_server(v: SmppServerView) -> str:
    head = _head(
        "Account",
        "Binds",
        "Now <small>submits/s</small>",
        "Submits <small>accepted · throttled · refused · error</small>",
        "Waiting <small>receipts · inbound</small>",
    )
    # Those with something waiting and no bind to take it first, then the bound ones.
    ranked = sorted(
        v.accounts,
        key=lambda a: (not (a.held_receipts or a.held_inbound) or a.binds > 0, not a.binds),
    )
    rows = []
    for a in ranked[:_SMPP_ROWS]:
        n = a.submits
        over = "more than " if a.held_capped else ""
        waiting = f"{over}{a.held_receipts} · {a.held_inbound}"
        if (a.held_receipts or a.held_inbound) and not a.binds:
            waiting = f"<span class=err>{waiting}</span>"
        rows.append(
            f"<tr><th>{escape(a.system_id)} <small>{escape(a.key)}</small>"
            f"<td>{a.binds} / {a.max_binds}<td>{_rate(a.rate_now)} / {_rate(a.rate)}"
            f"<td>{n['accepted']} · {n['throttled']} · {n['refused']} · {n['error']}"
            f"<td>{waiting}"
        )
    hidden = v.more_accounts + max(0, len(ranked) - _SMPP_ROWS)
    if hidden:
        rows.append(f"<tr><td colspan=5>{hidden} more in /status.json")
    if not rows:
        rows.append("<tr><td colspan=5>No account to show.")
    failures = " · ".join(f"{escape(k)} {c}" for k, c in sorted(v.bind_failures.items()))
    table = (
        f"<p class=m>On {escape(v.listen)}{f'; failed binds: {failures}' if failures else ''}."
        " Waiting: for a receiver bind.</p>"
        '<div class="scroll"><table class="t"><caption>SMPP server accounts</caption>'
        f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    return _section("smpp-server", "SMPP server", table)


def _link_row(r: RouteView, link: LinkView, now: str, admin: bool) -> str:
    details = "—"
    m = link.modem
    if m is not None:
        reg = ""  # a modem that is not up is not registered: its state says so
        if link.state == "up":
            reg = "registered" if m.registered else "not registered"
            reg += ", roaming" if m.registered and m.roaming else ""
        cap = f"{m.sent_today}/{m.daily_cap}" if m.daily_cap else f"{m.sent_today}"
        facts = [f"{m.signal_dbm} dBm" if m.signal_dbm is not None else "", reg]
        facts += [escape(m.operator or ""), f"{cap} today"]
        details = " · ".join(f for f in facts if f)
        if m.stopped:
            details += f" · <span class=err>stopped: {escape(m.stopped)}</span>"
    elif link.mode:
        details = escape(link.mode)
    error = ""  # none: an empty cell (the column is red)
    if link.last_error:
        error = escape(link.last_error)  # red by its column
        if link.last_error_at and link.last_error_at[:19] != (link.since or "")[:19]:
            error += " " + _clock(link.last_error_at, now)  # else: it is why the link went down
    window = f"{link.in_flight} / {link.window}" if link.window else f"{link.in_flight}"
    rate = _rate(link.rate_now) + (f" / {_rate(link.rate)}" if link.rate is not None else "")
    state = link.state
    word = "held down by an operator" if state == "held" else state
    action = ""
    if admin:
        action = f"<td><button>{'Disconnect' if state == 'up' else 'Reconnect'}</button>"
    throttles = "—" if link.throttles is None else link.throttles
    return (
        f"<tr class={state}><td>{escape(r.name)}"
        f"<th>{escape(link.name)}<td>{word}<td>{_clock(link.since, now)}"
        f"<td>{window}<td>{rate}<td>{throttles}<td>{link.reconnects}<td>{details}<td>{error}"
        f"{action}"
    )


def _chart(chart: Chart, routes: Sequence[RouteView]) -> str:
    top = max((v for s in chart.series for v in s.rates), default=0.0)
    scale = _nice(top)
    span = chart.span_seconds
    parts = [
        f'<svg viewBox="0 0 {_W} {_H}" role="img" aria-labelledby="chart-t chart-d">'
        '<title id="chart-t">Parts per second accepted by the carrier, last 15 minutes</title>'
        f'<desc id="chart-d">{escape(_chart_words(chart))}</desc>'
    ]
    plot_w, plot_h = _W - _PAD - 6, _H - 24
    for frac in (0.0, 0.5, 1.0):
        y = 6 + plot_h * (1 - frac)
        parts.append(
            f'<line class="grid" x1="{_PAD}" x2="{_W - 6}" y1="{y:.0f}" y2="{y:.0f}"/>'
            f'<text x="{_PAD - 4}" y="{y + 4:.0f}" text-anchor="end">{_short(scale * frac)}</text>'
        )
    for minutes in (15, 10, 5, 0):
        x = _PAD + plot_w * (1 - minutes * 60 / span)
        label = "now" if minutes == 0 else f"−{minutes} min"
        anchor = "end" if minutes == 0 else "middle" if minutes != 15 else "start"
        parts.append(f'<text x="{x:.0f}" y="{_H - 4}" text-anchor="{anchor}">{label}</text>')
    for i, s in enumerate(chart.series):
        # Each rate is a point where its interval ends; the first interval also gets its
        # start, so one interval is already a line.
        ages = [chart.start_age, *chart.ages] if chart.start_age is not None else chart.ages
        rates = [s.rates[0], *s.rates] if chart.start_age is not None and s.rates else s.rates
        points = " ".join(
            f"{_PAD + plot_w * (1 - min(age, span) / span):.0f},"
            f"{6 + plot_h * (1 - (v / scale if scale else 0)):.0f}"
            for age, v in _thin(ages, rates)
        )
        colour = f"c{8 if s.route == 'other' else i % 8}"
        parts.append(
            f'<polyline class="{colour}" data-route="{escape(s.route)}" points="{points}"/>'
        )
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="sw c{8 if s.route == "other" else i % 8}"></span>'
        f"{escape(s.route)}: {_rate(s.rates[-1] if s.rates else 0.0)}/s now</li>"
        for i, s in enumerate(chart.series)
    )
    note = (
        f'<ul class="legend">{legend}</ul>'
        if legend
        else "<p>Nothing was sent in the last 15 minutes.</p>"
    )
    return _section("chart", "Throughput", "".join(parts) + note)


def _thin(ages: Sequence[float], rates: Sequence[float]) -> list[tuple[float, float]]:
    """At most :data:`_POINTS` points: neighbours averaged, the newest kept as it is."""
    pairs = list(zip(ages, rates, strict=False))
    if len(pairs) <= _POINTS:
        return pairs
    step = -(-(len(pairs) - 1) // (_POINTS - 1))
    head, last = pairs[:-1], pairs[-1]
    out = []
    for i in range(0, len(head), step):
        chunk = head[i : i + step]
        out.append((chunk[-1][0], sum(v for _, v in chunk) / len(chunk)))
    return [*out, last]


def _chart_words(chart: Chart) -> str:
    if not chart.series:
        return "No route sent anything in the last 15 minutes."
    return "; ".join(
        f"{s.route}: {_rate(s.rates[-1] if s.rates else 0.0)} per second now, "
        f"peak {_rate(max(s.rates, default=0.0))}"
        for s in chart.series
    )


def _queue(st: Status) -> str:
    q = st.queue
    rows = "".join(
        f"<tr><th scope=row>{c.msg_class}</th><td class=n>{c.depth}</td>"
        f"<td class=n>{_duration(c.oldest_age_seconds) if c.depth else '—'}</td></tr>"
        for c in q.classes
    )
    more = "more than " if q.backlog_capped else ""
    late = (
        f'<span class="err">{_duration(q.due_late_seconds)}</span>'
        if q.due_late_seconds >= 5
        else "on time"
        if q.due_late_seconds < 1
        else _duration(q.due_late_seconds)
    )
    rc, w, o = st.receipts, st.webhooks, st.optouts
    failure = "none logged"
    if w.last_failure is not None:
        failure = (
            f'<span class="err">{escape(w.last_failure.message)}</span> '
            f"<small>{_ago(w.last_failure.at, st.now)}</small>"
        )
    deliveries = " · ".join(f"{escape(k)} {v}" for k, v in sorted(w.deliveries.items())) or "none"
    sources = " · ".join(f"{escape(k)} {v}" for k, v in sorted(o.today_by_source.items()))
    body = (
        '<div class="scroll"><table class="narrow"><caption>Unfinished messages by class'
        "</caption>"
        "<thead><tr><th scope=col>Class</th><th scope=col>Messages</th>"
        f"<th scope=col>Oldest waiting</th></tr></thead><tbody>{rows}</tbody></table></div>"
        f"<dl><dt>Scheduled</dt><dd>{more}{q.scheduled} parts wait for their send time</dd>"
        f"<dt>Deferred</dt><dd>{more}{q.deferred} parts wait for a retry or a courtesy"
        " policy</dd>"
        f"<dt>Due parts late by</dt><dd>{late}</dd>"
        f"<dt>Receipts</dt><dd>matched {rc.matched} · pending {rc.pending} · late {rc.late}"
        f" · duplicate {rc.duplicate} · unmatched {rc.unmatched}</dd>"
        f"<dt>Webhooks waiting</dt><dd>{w.backlog}</dd>"
        f"<dt>Webhook deliveries</dt><dd>{deliveries}</dd>"
        f"<dt>Last webhook failure</dt><dd>{failure}</dd>"
        f"<dt>Opt-outs today (UTC)</dt><dd>{o.today}{f' ({sources})' if sources else ''}</dd>"
        "</dl>"
    )
    return _section("queue", "Queue, receipts, webhooks, opt-outs", body)


def _jobs(jobs: Sequence[Job], heading: str, kind: str) -> str:
    if not jobs:
        return _section(kind, heading, f"<p>No {kind} is running.</p>")
    rows = []
    for j in jobs:
        progress = (
            f'<progress max="{j.total}" value="{j.done}">{j.done}/{j.total}</progress>'
            f" {j.done} of {j.total}"
            if j.total
            else f"{j.done} so far"
        )
        action = (
            _button(f"Pause {kind} {j.name}", f"/status/{kind}s/{quote(j.id, safe='')}/pause")
            if j.can_pause
            else ""
        )
        rows.append(
            f"<tr><th scope=row>{escape(j.name)}</th><td>{escape(j.state)}</td>"
            f"<td>{progress}</td><td>{action}</td></tr>"
        )
    table = (
        f'<div class="scroll"><table><caption>Running {kind}s</caption><thead><tr>'
        "<th scope=col>Name</th><th scope=col>State</th><th scope=col>Progress</th>"
        f"<th scope=col>Action</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    return _section(kind, heading, table)


def _retry() -> str:
    body = (
        '<form id="retry" class="inline"><label for="retry-id">Message id</label>'
        '<input id="retry-id" name="id" pattern="msg_[0-9A-Za-z_]+" required'
        ' placeholder="msg_…"><button>Retry…</button></form>'
        "<p class=m>A message that failed or expired: its parts that never reached the"
        " recipient are queued again as new attempts.</p>"
    )
    return _section("retry", "Retry a message given up on", body)


def _errors(st: Status) -> str:
    if not st.errors:
        return _section("errors", "Last errors", "<p>No warning or error logged.</p>")
    # The same line again (a link failing to reconnect every few seconds) is one row with its
    # count: the last 50 stay readable and the page stays small.
    groups: dict[tuple[str, str, str], list[str]] = {}
    for e in st.errors:  # newest first
        groups.setdefault((e.level, e.source, e.message), []).append(e.at)
    rows = []
    for (level, source, message), times in groups.items():
        text = message if len(message) <= _ERROR_TEXT else message[: _ERROR_TEXT - 1] + "…"
        more = (
            f" <small>×{len(times)} since {_clock(times[-1], st.now)}</small>" if times[1:] else ""
        )
        rows.append(
            f"<tr><td>{_clock(times[0], st.now)}<td>{escape(source.removeprefix('smsgw.'))}"
            f"<td>{'' if level == 'warning' else f'<b class=err>{escape(level)}:</b> '}"
            f"{escape(text)}{more}"
        )
    table = (
        '<div class="scroll tall" tabindex="0" role="region" aria-label="Last errors">'
        "<table><caption>The last 50 warnings and errors (marked), newest first, repeats"
        " counted</caption><thead>"
        + _head("When <small>UTC</small>", "Where", "Message")
        + f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    return _section("errors", "Last errors", table)


# -- small pieces ---------------------------------------------------------------------------


def _button(label: str, path: str) -> str:
    """A button outside a route or link row: it carries its whole action."""
    verb = path.rsplit("/", 1)[1]
    return (
        f'<button type="button" data-act="{escape(path)}" aria-label="{escape(label)}">'
        f"{verb.title()}</button>"
    )


def _configured(r: RouteView) -> str:
    if abs(r.effective_rate - r.rate) < 1e-9:
        return ""
    return f" <small>(configured {_rate(r.rate)})</small>"


def _time(iso: str, now: str) -> str:
    """``<time>`` showing the UTC time of day (and the date when it is not ``now``'s)."""
    text = iso[11:19] + " UTC"
    if iso[:10] != now[:10]:
        text = iso[:10] + " " + text
    return f'<time datetime="{escape(iso)}">{text}</time>'


def _clock(iso: str | None, now: str) -> str:
    """``18:02:11``: the UTC time of day (with the date when not today)."""
    if iso is None:
        return "—"
    return iso[11:19] if iso[:10] == now[:10] else f"{iso[:10]} {iso[11:19]}"


def _ago(iso: str | None, now: str) -> str:
    """``18:02:11 (4m 12s)``: the UTC time of day (with the date when not today) and how
    long ago; short, because a page shows hundreds of them."""
    if iso is None:
        return "—"
    return f"{_clock(iso, now)} ({_duration(_seconds_between(iso, now))})"


def _seconds_between(a: str, b: str) -> float:
    return max(0.0, _parse(b) - _parse(a))


def _parse(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()  # C speed: a page has a few hundred


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _rate(v: float) -> str:
    if v == 0:
        return "0"
    if v < 10:
        return f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{v:.0f}"


def _short(v: float) -> str:
    return f"{v:.0f}" if v >= 10 or v == 0 else f"{v:.1f}"


def _nice(top: float) -> float:
    """A round scale at or above ``top`` (1, 2, 5 times a power of ten)."""
    if top <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= top:
        step *= 10
    while step > top:
        step /= 10
    for m in (1, 2, 5, 10):
        if m * step >= top:
            return m * step
    return 10 * step
