"""The ops console page's inline style and script, and the Content-Security-Policy that allows
exactly these two (by hash) and nothing else: no third-party asset, no other script.

The script is small on purpose: the server renders every view (the page reads the same with
JavaScript off); the script only polls ``/status`` every two seconds with the token from the
tab's ``sessionStorage`` (never from a URL), swaps the ``<main>`` region, and turns action
buttons into a confirm step followed by a POST with the token.
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["CSP", "SCRIPT", "STYLE"]

STYLE = """
:root{color-scheme:light dark;--up:#1a7f37;--down:#c62828;--warn:#9a6700;
font:15px/1.4 system-ui,sans-serif}
body{margin:0 auto;max-width:84rem;padding:0 .75rem 2rem}
header{display:flex;flex-wrap:wrap;gap:.2rem 1rem;align-items:baseline}
h1{font-size:1.3rem;margin:.8rem 0 .2rem}h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
#live{margin:0;opacity:.8}
.scroll{overflow-x:auto}.links td{white-space:nowrap}
.links td:nth-last-child(-n+2){white-space:normal}.tall{max-height:26rem;overflow-y:auto}
table.narrow{width:auto;min-width:20rem}time{white-space:nowrap}
table{border-collapse:collapse;width:100%;font-size:.88rem}
caption{text-align:left;font-weight:600;padding:.2rem 0}
th,td{padding:.22rem .4rem;border-bottom:1px solid #8885;text-align:left;vertical-align:top}
thead th{font-weight:600}th small{font-weight:400}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.s,.r>:nth-child(2),.links tr>:nth-child(3){font-weight:700;white-space:nowrap}
.up>.s,.r .up>:nth-child(2),.links .up>:nth-child(3){color:var(--up)}
.down>.s,.r .down>:nth-child(2),.links .down>:nth-child(3){color:var(--down)}
.r .paused>:nth-child(2),.links .held>:nth-child(3),.links .connecting>:nth-child(3)
{color:var(--warn)}
.r .up>:nth-child(2):before,.links .up>:nth-child(3):before,.s.up:before{content:"\\25B2 "}
.r .down>:nth-child(2):before,.links .down>:nth-child(3):before,.s.down:before
{content:"\\25BC "}
.r .paused>:nth-child(2):before,.links .held>:nth-child(3):before{content:"\\2016 "}
.links td:nth-child(10){color:var(--down)}
tr.down{background:#c6282818;box-shadow:inset 4px 0 var(--down)}
tr.paused,tr.held{box-shadow:inset 4px 0 var(--warn)}
.err{color:var(--down)}small,.m{opacity:.8}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:0}
dt{font-weight:600}dd{margin:0}
button{font:inherit;padding:.1rem .5rem;cursor:pointer}
form.inline{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center}
svg{width:100%;max-width:48rem;height:auto;display:block}
svg text{font-size:11px;fill:currentColor}
svg .grid{stroke:#8886;stroke-width:1}
svg polyline{fill:none;stroke-width:2}
.legend{display:flex;flex-wrap:wrap;gap:.2rem 1rem;list-style:none;padding:0;margin:.3rem 0}
.sw{display:inline-block;width:.9rem;height:.25rem;vertical-align:middle;margin-right:.3rem}
.c0{--c:#1f77b4}.c1{--c:#d62728}.c2{--c:#2ca02c}.c3{--c:#9467bd}.c4{--c:#ff7f0e}
.c5{--c:#17becf}.c6{--c:#e377c2}.c7{--c:#8c564b}.c8{--c:#7f7f7f;stroke-dasharray:4 3}
polyline{stroke:var(--c)}.sw{background:var(--c)}
dialog{max-width:30rem}
@media (max-width:40rem){:root{font-size:14px}th,td{padding:.2rem .25rem}svg text{font-size:20px}}
""".strip()

SCRIPT = """
"use strict";
(() => {
  const KEY = "smsgw-ops-token", EVERY = 2000;
  const $ = (s, r = document) => r.querySelector(s);
  const live = $("#live"), dialog = $("#confirm");
  const WHY = {
    pause: "It takes nothing more from the queue until resumed.",
    resume: "It takes messages from the queue again.",
    disconnect: "It closes the connection and stays down until reconnected.",
    reconnect: "It connects again now.",
    retry: "Its failed or expired parts are queued again as new attempts."
  };
  let timer = 0, busy = false, pending = null;
  const auth = () => {
    const t = sessionStorage.getItem(KEY);
    return t ? {Authorization: "Bearer " + t} : {};
  };
  const say = (text) => { live.textContent = text; };
  const stamp = () => new Date().toLocaleTimeString();
  async function refresh() {
    if (busy || document.hidden || dialog.open) return;
    busy = true;
    try {
      const r = await fetch("/status", {headers: auth(), cache: "no-store"});
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      const next = $("main", doc);
      if (next) $("main").replaceWith(next);
      document.title = doc.title;
      if (r.status === 401) { stop(); say("The token was refused: enter it again."); return; }
      say("Live: updated " + stamp());
    } catch (e) {
      say("Connection lost at " + stamp() + "; still trying.");
    } finally { busy = false; }
  }
  function start() { if (!timer) timer = setInterval(refresh, EVERY); }
  function stop() { clearInterval(timer); timer = 0; }
  function ask(label, url) {
    const verb = url.split("/").pop();
    pending = url;
    $("#confirm-text").textContent = label + "? " + (WHY[verb] || "");
    dialog.showModal();
  }
  document.addEventListener("submit", async (ev) => {
    const f = ev.target;
    if (f.id === "login") {
      ev.preventDefault();
      sessionStorage.setItem(KEY, f.elements.token.value.trim());
      f.reset();
      await refresh();
      if ($("main").dataset.view === "status") start();
    } else if (f.id === "retry") {
      ev.preventDefault();
      const id = f.elements.id.value.trim();
      if (id) ask("Retry message " + id, "/status/messages/" + encodeURIComponent(id) + "/retry");
    }
  });
  // A row's buttons act on the row's route (its id) or link (its route cell and header):
  // the row says which, the button the verb.
  const target = (tr) => {
    if (tr.id.startsWith("route-")) return ["route " + tr.id.slice(6), tr.id.slice(6), ""];
    const route = $("td", tr).textContent, link = $("th", tr).textContent;
    return [link + " of route " + route, route, "/links/" + encodeURIComponent(link)];
  };
  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-act], tbody tr button");
    if (!b) return;
    const verb = b.textContent.trim();
    if (b.dataset.act) { ask(b.getAttribute("aria-label") || verb, b.dataset.act); return; }
    const [label, route, link] = target(b.closest("tr"));
    const path = "/status/routes/" + encodeURIComponent(route) + link + "/" + verb.toLowerCase();
    ask(verb + " " + label, path);
  });
  dialog.addEventListener("close", async () => {
    const url = pending;
    pending = null;
    if (dialog.returnValue !== "ok" || !url) { say("Cancelled."); return; }
    try {
      const r = await fetch(url, {method: "POST", headers: auth()});
      const body = await r.json();
      say(r.ok ? body.message : "Refused: " + (body.error ? body.error.message : r.status));
    } catch (e) {
      say("The action could not be sent: " + e);
    }
    await refresh();
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  if ($("main").dataset.view === "status") start();
  else if (sessionStorage.getItem(KEY)) refresh().then(() => {
    if ($("main").dataset.view === "status") start();
  });
})();
""".strip()


def _compact(text: str) -> str:
    """Lines stripped of indentation, comment lines dropped (line breaks kept, so the
    script means the same): the page carries it on every refresh."""
    lines = (line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


SCRIPT = _compact(SCRIPT)


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


CSP = (
    "default-src 'none'; "
    f"script-src 'sha256-{_sha256(SCRIPT)}'; "
    f"style-src 'sha256-{_sha256(STYLE)}'; "
    "img-src data:; connect-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
"""Only this page's own style and script run; fetches go to this gateway alone."""
