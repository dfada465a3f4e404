"""Summarise a py-spy raw (collapsed-stack) profile: where the busy samples went.

    .venv/bin/python bench/hotspots.py bench/results/...-refresh-32.txt [--top 30]

Idle samples (a worker waiting in select/accept/poll, or a thread parked on a lock) are left
out, so shares are of the CPU the workers actually used. Inclusive: a frame and its callees.
"""

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = re.compile(r"\b(select|poll|accept|wait|_wait_for_tstate_lock|sleep|acquire)\b \(")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="", help="only frames whose text contains this")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    busy = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if IDLE.search(frames[-1]):
            continue
        n = int(count)
        busy += n
        for frame in set(frames):
            inclusive[re.sub(r"^process \d+:", "", frame)] += n
    print(f"{busy} busy samples")
    shown = [(f, n) for f, n in inclusive.most_common() if args.match in f][: args.top]
    for frame, n in shown:
        print(f"{100 * n / busy:5.1f}%  {frame[:150]}")


if __name__ == "__main__":
    main()
