"""The real worker, plus one fault: enriching an article whose body holds ``CRASH_MARKER``
kills the worker process outright (SIGKILL, as the OOM killer or a segfault in a model would),
in the quotation step, every time. With ``CRASHING_WORKER_HANG_S`` set it hangs there that
many seconds instead, deaf to the soft time limit's signal (as C code that never returns to
Python would be), so only the hard time limit ends it.

Run as ``celery -A tests.crashing_worker worker ...``. Only the tests start it.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import worker.enrich.quotes
import worker.enrich.steps.find_quotes
from worker.celery_app import app

CRASH_MARKER = "\u2620 kill-the-worker \u2620"
# find_quotes looks extract_quotes up in its step module at each call: replace it there.
_extract_quotes = worker.enrich.quotes.extract_quotes


def _extract_quotes_or_die(text: str, *args: Any, **kwargs: Any) -> Any:
    if CRASH_MARKER in text:
        hang_s = float(os.environ.get("CRASHING_WORKER_HANG_S") or 0)
        if not hang_s:
            os.kill(os.getpid(), signal.SIGKILL)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGALRM})
        try:
            time.sleep(hang_s)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1, signal.SIGALRM})
    return _extract_quotes(text, *args, **kwargs)


setattr(worker.enrich.steps.find_quotes, "extract_quotes", _extract_quotes_or_die)  # noqa: B010

__all__ = ["app"]
