"""Cost of rendering a template and planning its parts, per recipient, over 100,000 recipients.

The template is parsed once; each recipient's variables are rendered into it and the text is
planned (encoding, parts) as the accept path does. One recipient in ten has a name outside
GSM-7 (UCS-2), one in five a long note (two parts). Prints recipients per second and
microseconds per recipient (best of several rounds), the parts and encodings seen; ``--json``
prints the same as JSON.
Run: .venv/bin/python tests/bench/bench_templates.py [--json] [--rounds N] [--recipients N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

from smsgw.queue.campaigns.templates import choose, compile_template, render, render_plan

TEXT = (
    "Hi {{first_name|there}}, your order {{order}} has shipped and arrives {{day|tomorrow}}."
    " Track it: https://shop.example/t/{{code}}{{note|}}"
)
VARIANTS = {"de": "Hallo {{first_name|du}}, Bestellung {{order}} ist unterwegs: {{code}}"}
_NAMES = ("Anna", "Jonas", "Léa", "Mia", "Noah", "Emma", "Liam", "Sofia", "Ben", "Zoë 李")


def recipients(n: int) -> list[tuple[dict[str, object], str | None]]:
    out: list[tuple[dict[str, object], str | None]] = []
    for i in range(n):
        v: dict[str, object] = {"first_name": _NAMES[i % 10], "order": 10_000 + i, "code": f"{i:x}"}
        if i % 5 == 0:
            v["note"] = " We packed a little thank-you in the box, enjoy it and see you soon!"
        out.append((v, "de-AT" if i % 7 == 0 else None))
    return out


def run(n: int, rounds: int) -> dict[str, object]:
    template = compile_template(TEXT, VARIANTS)
    people = recipients(n)
    best = float("inf")
    parts: Counter[int] = Counter()
    encodings: Counter[str] = Counter()
    for _ in range(rounds):
        parts.clear()
        encodings.clear()
        started = time.perf_counter()
        for variables, locale in people:
            p = render_plan(choose(template, locale), variables)
            parts[p.parts] += 1
            encodings[p.encoding] += 1
        best = min(best, time.perf_counter() - started)
    render_only = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for variables, locale in people:
            render(choose(template, locale), variables)
        render_only = min(render_only, time.perf_counter() - started)
    return {
        "recipients": n,
        "render_and_plan_per_s": round(n / best),
        "render_and_plan_us": round(best / n * 1e6, 2),
        "render_only_us": round(render_only / n * 1e6, 2),
        "parts": dict(sorted(parts.items())),
        "encodings": dict(sorted(encodings.items())),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--recipients", type=int, default=100_000)
    args = ap.parse_args()
    result = run(args.recipients, args.rounds)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['recipients']} recipients: render + part count"
        f" {result['render_and_plan_per_s']:,}/s ({result['render_and_plan_us']} µs each;"
        f" render alone {result['render_only_us']} µs); parts {result['parts']},"
        f" encodings {result['encodings']}"
    )


if __name__ == "__main__":
    main()
