"""Summaries of py-spy profiles (``py-spy record --format raw``: one collapsed stack per line
with its sample count), for the benchmark notes: where the samples of a process went.

    python -m bench.profiles PROFILE.txt [...] [--top 25] [--match worker/]

prints the share of samples in which each function is on the stack (inclusive) and at its top
(self), idle samples (a thread waiting on a socket or lock) left out unless ``--idle``.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# What a thread does while it waits, not while it works.
_IDLE = frozenset(
    {
        "select",
        "poll",
        "wait",
        "_wait_for_tstate_lock",
        "accept",
        "recv",
        "recv_into",
        "readinto",
        "sleep",
        "_read_from_socket",
        "acquire",
        "readline",
    }
)
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class Frame:
    function: str
    file: str

    @property
    def label(self) -> str:
        path = self.file
        for marker in ("site-packages/", "/work/main/", "python3.11/"):
            if marker in path:
                path = path.split(marker, 1)[1]
        return f"{self.function} ({path})"


def parse_line(line: str) -> tuple[list[Frame], int] | None:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack or not count.isdigit():
        return None
    frames = []
    for part in stack.split(";"):
        match = _FRAME.match(part.strip())
        if match:
            frames.append(Frame(match["function"], match["file"]))
        else:
            frames.append(Frame(part.strip(), ""))
    return frames, int(count)


def summarise(
    lines: Iterable[str], *, idle: bool = False, match: str | None = None
) -> tuple[int, Counter[str], Counter[str]]:
    """(samples counted, inclusive samples per frame, self samples per frame)."""
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in lines:
        parsed = parse_line(line)
        if parsed is None:
            continue
        frames, count = parsed
        frames = [f for f in frames if not f.function.startswith(("process ", "thread "))]
        if not frames:
            continue
        if not idle and frames[-1].function.rpartition(".")[2] in _IDLE:
            continue
        if match and not any(match in f.file for f in frames):
            continue
        total += count
        for label in {f.label for f in frames}:
            inclusive[label] += count
        own[frames[-1].label] += count
    return total, inclusive, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--idle", action="store_true", help="count waiting threads too")
    parser.add_argument("--match", help="only stacks with a frame whose file contains this")
    args = parser.parse_args()
    lines = [line for path in args.profiles for line in path.read_text().splitlines()]
    total, inclusive, own = summarise(lines, idle=args.idle, match=args.match)
    print(f"{total} samples")
    print("inclusive:")
    for label, count in inclusive.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {label}")
    print("self:")
    for label, count in own.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {label}")


if __name__ == "__main__":
    main()
