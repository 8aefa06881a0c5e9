"""Summarise a py-spy raw profile (``py-spy record -f raw --threads``) by thread and function.

``python tests/bench/spy_summary.py PROFILE.txt [--top N] [--focus SUBSTRING]`` prints, per
thread, the share of samples whose stack holds each function (inclusive) and whose innermost
frame is it (self), plus the samples per top-level area (the first frame of ours or of trio's
run loop). ``--focus`` keeps only stacks that pass through a frame containing SUBSTRING.

Used to say where the gateway's CPU goes on ``smsgw bench --real-path --py-spy PREFIX``.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict

_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _name(frame: str) -> str:
    m = _FRAME.match(frame)
    if m is None:
        return frame
    return f"{m['fn']} ({m['file']})"


def load(path: str, focus: str | None) -> dict[str, list[tuple[list[str], int]]]:
    """Stacks per thread, outermost frame first, with their sample counts."""
    threads: dict[str, list[tuple[list[str], int]]] = defaultdict(list)
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            frames = stack.split(";")
            thread = frames[0]
            if thread.startswith("thread ") and len(frames) > 1:
                # "thread (ID): NAME" starts the stack; the rest may lack the outer frames.
                frames = frames[1:]
            if focus is not None and not any(focus in fr for fr in frames):
                continue
            threads[thread].append(([_name(fr) for fr in frames], int(count)))
    return threads


def summarise(stacks: list[tuple[list[str], int]], top: int) -> str:
    total = sum(n for _, n in stacks)
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    for frames, n in stacks:
        for fr in set(frames):
            incl[fr] += n
        if frames:
            self_[frames[-1]] += n
    out = [f"  {total} samples"]
    out.append("  inclusive:")
    for fr, n in incl.most_common(top):
        out.append(f"    {100 * n / total:5.1f}%  {fr}")
    out.append("  self:")
    for fr, n in self_.most_common(top):
        out.append(f"    {100 * n / total:5.1f}%  {fr}")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("profile")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--focus")
    args = p.parse_args()
    threads = load(args.profile, args.focus)
    grand = sum(n for stacks in threads.values() for _, n in stacks)
    for thread, stacks in sorted(threads.items(), key=lambda kv: -sum(n for _, n in kv[1])):
        n = sum(c for _, c in stacks)
        print(f"{thread}: {n} samples ({100 * n / grand:.1f}% of all)")
        print(summarise(stacks, args.top))


if __name__ == "__main__":
    main()
