"""Cost of planning (encoding choice + splitting) and of the wire forms, per message.

Prints one line per case: microseconds per call (best of several rounds, so a noisy
neighbour inflates it less), parts and encoding; ``--json`` prints the same as JSON.
Run: .venv/bin/python tests/bench/bench_text.py [--json] [--rounds N]
"""

from __future__ import annotations

import argparse
import functools
import json
import timeit
from collections.abc import Callable

from smsgw.drivers.text import (
    decode_payload,
    encode_gsm7,
    encode_ucs2,
    pack_septets,
    plan,
    udh_concat,
)

_SHIPPED = (
    "Your order #10423 has shipped and arrives tomorrow. Track it: https://shop.example/t/8f3k2"
)
_PROMO = (
    "Hi Anna, your cart misses you! Take 20% off everything until Sunday with code SPRING20 "
    "at https://shop.example/c/3kd8. Free delivery over 49 EUR. Reply STOP to opt out. "
)
_RU = "Здравствуйте! Ваш заказ №10423 отправлен и будет доставлен завтра. "

CASES: dict[str, str] = {
    "gsm7 1 part": _SHIPPED,
    "gsm7 2 parts": _PROMO + _SHIPPED,
    "gsm7 3 parts": _PROMO * 2 + _SHIPPED,
    "gsm7 2 parts, € and {}": (_PROMO + "Price: 10€ {incl. VAT} [ask us]") * 1,
    "ucs2 1 part": _RU[:60],
    "ucs2 2 parts": _RU * 2,
    "ucs2 3 parts": _RU * 3,
    "ucs2 2 parts, emoji": "Your parcel 📦 is on its way 🚚 " * 3,
    "smart gsm7 2 parts": (_PROMO + "Don’t miss it – “SPRING20”…").replace("'", "’"),
}


def _time(fn: Callable[[], object], rounds: int) -> float:
    t = timeit.Timer(fn)
    n, _ = t.autorange()
    return min(t.repeat(repeat=rounds, number=n)) / n * 1e6


def _wire_smpp(text: str) -> Callable[[], object]:
    p = plan(text)

    def render() -> list[bytes]:
        enc = encode_gsm7 if p.encoding == "gsm7" else encode_ucs2
        if p.parts == 1:
            return [enc(p.text)]
        return [udh_concat(1, p.parts, i, 8) + enc(s) for i, s in enumerate(p.segments, 1)]

    return render


def _wire_modem(text: str) -> Callable[[], object]:
    p = plan(text)

    def render() -> list[bytes]:
        if p.encoding == "ucs2":
            return [encode_ucs2(s) for s in p.segments]
        return [pack_septets(encode_gsm7(s), 1) for s in p.segments]

    return render


def _decode(text: str) -> Callable[[], object]:
    p = plan(text)
    dc = 0 if p.encoding == "gsm7" else 8
    enc = encode_gsm7 if p.encoding == "gsm7" else encode_ucs2
    multi = p.parts > 1
    datas = [
        (udh_concat(1, p.parts, i, 8) if multi else b"") + enc(s)
        for i, s in enumerate(p.segments, 1)
    ]

    def decode() -> list[object]:
        return [decode_payload(d, dc, udhi=multi) for d in datas]

    return decode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for name, text in CASES.items():
        smart = name.startswith("smart")
        p = plan(text, smart=smart)
        rows.append(
            {
                "case": name,
                "encoding": p.encoding,
                "parts": p.parts,
                "chars": len(text),
                "plan_us": round(_time(functools.partial(plan, text, smart=smart), args.rounds), 2),
                "smpp_render_us": round(_time(_wire_smpp(p.text), args.rounds), 2),
                "modem_render_us": round(_time(_wire_modem(p.text), args.rounds), 2),
                "decode_us": round(_time(_decode(p.text), args.rounds), 2),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(_line(("case", "enc", "parts", "plan µs", "smpp µs", "modem µs", "decode µs")))
    for r in rows:
        print(_line(tuple(str(v) for k, v in r.items() if k != "chars")))


def _line(cells: tuple[str, ...]) -> str:
    widths = (26, 5, 5, 8, 8, 9, 10)
    return " ".join(
        c.ljust(w) if i < 2 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


if __name__ == "__main__":
    main()
