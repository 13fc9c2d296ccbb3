"""A wall-clock budget for the enrichment of one article.

Each step is bounded by design (linear, or on a capped part of the text); this is the net
below that: the step still running when its article's budget is spent is interrupted, and the
article is dead-lettered with the step's name instead of holding its batch and its worker.

Written by hand: an interval timer (``SIGALRM``) is the one way to interrupt pure-Python and
regular-expression work in the same process (CPython's regex engine checks for signals, and so
does the interpreter between bytecodes); the timeout libraries on PyPI either use this same
signal or a thread, and a thread cannot stop the code it watches. Signals reach only the main
thread, which is where a Celery prefork child runs its tasks; elsewhere the budget is not
enforced (the task's own soft and hard time limits still are).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

REPEAT_S = 0.25


class BudgetExceeded(Exception):  # noqa: N818  (reads as the event it is)
    """The article's time budget ran out while a step was working on it."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"time budget of {seconds:.3g} s exceeded")
        self.seconds = seconds


def can_interrupt() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``BudgetExceeded`` inside the block once ``seconds`` have passed (None: no
    limit). Restores whatever SIGALRM handler was there before."""
    if seconds is None or not can_interrupt():
        yield
        return
    if seconds <= 0:
        raise BudgetExceeded(0.0)
    armed = True

    def on_alarm(_signum: int, _frame: FrameType | None) -> None:
        if armed:  # never raise after the block has finished
            raise BudgetExceeded(seconds)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    # Again every 0.25 s until the block ends: libraries that catch Exception around their
    # slow paths (trafilatura's fallbacks, dateparser) would swallow a single alarm.
    signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_S)
    try:
        yield
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
