"""``python -m bench.enrich_bounds``: the wall time of every enrichment step on hostile articles.

    python -m bench.enrich_bounds                      # every input at ingest's largest size
    python -m bench.enrich_bounds --chars 40000        # smaller inputs (to see how a step grows)
    python -m bench.enrich_bounds --input spaces --input a_dots --timeout 60

Each input runs in a child process of its own, with the models loaded as a worker loads them
(``worker.enrich.warm_up``), through every step of ``worker.enrich.STEPS`` in order and then the
near-duplicate preparation (``worker.enrich.duplicates.prepare``), printing one line per step.
A step still running after ``--timeout`` seconds (for its whole input) is reported as ``>`` that
time: the child is killed and the steps after it are not measured. The cuts a step recorded
(``enrichment.truncated``) are printed beside its time. ``tests/test_enrich_bounds.py`` uses
the same inputs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

# The largest article ingest accepts (shared/schema.py: MAX_BODY_CHARS 2,000,000 and
# MAX_HTML_CHARS 5,000,000), a little under so that the words around the hostile part fit.
BODY_CHARS = 1_900_000
HTML_CHARS = 4_990_000

_LEAD = 'Dilshod Saidzhanov said in Tashkent on Monday: "Yes." '
_TAIL = " Then he left for Baku."


def _spaces(n: int) -> dict[str, Any]:
    # After a word, not a full stop: the old paragraph pattern tried every space of the run.
    return {"body": _LEAD + "and" + " " * n + _TAIL}


def _a_dots(n: int) -> dict[str, Any]:
    return {"body": 'He said "yes." ' + "a." * (n // 2)}


def _single_word(n: int) -> dict[str, Any]:
    return {"body": "x" * n}


def _quote_marks(n: int) -> dict[str, Any]:
    return {"body": '"' * n}


def _nested_quotes(n: int) -> dict[str, Any]:
    # Openings that never close, of every kind, each after a word: every mark opens a quotation.
    unit = 'a "b “c ‘d «e '
    return {"body": _LEAD + unit * (n // len(unit))}


# With a title: without one, the first line would become it and the rest be stripped.
def _newlines(n: int) -> dict[str, Any]:
    return {"body": _LEAD + "and" + "\n" * n + _TAIL, "title": "Newlines"}


def _spaced_newlines(n: int) -> dict[str, Any]:
    return {"body": _LEAD + " \n" * (n // 2) + _TAIL, "title": "Spaced newlines"}


def _capital_dots(n: int) -> dict[str, Any]:
    # After a quotation: the sentence breaks are looked for only in a text that has one.
    return {"body": 'He said "yes." ' + "A.B.C.D." * (n // 8)}


def _said_quotes(n: int) -> dict[str, Any]:
    # Real quotations with speakers and pronouns, again and again: every one is attributed.
    unit = 'Mark Zorblatt spoke. "We agree with the plan," he said. He left. '
    return {"body": unit * (n // len(unit))}


def _pronouns(n: int) -> dict[str, Any]:
    return {"body": 'Mark Zorblatt said: "We agree." ' + "He " * (n // 3)}


def _dates(n: int) -> dict[str, Any]:
    unit = "On Monday, March 3 it rained. "
    return {"body": unit * (n // len(unit))}


def _foreign_dots(n: int) -> dict[str, Any]:
    # A language without a parser: the plain sentence splitter and the summary read all of it.
    return {"body": 'Er sagte "ja." ' + "a. " * (n // 3), "language": "de"}


def _foreign_spaces(n: int) -> dict[str, Any]:
    return {"body": "Er sagte ja. Dann ging er." + " " * n + " Ende.", "language": "de"}


def _html_empty(n: int) -> dict[str, Any]:
    unit = "<div class='x'><span></span></div>\n"
    head = "<html><head><title>Nothing here</title></head><body>"
    return {"html": head + unit * (n // len(unit)) + "</body></html>"}


def _html_nested(n: int) -> dict[str, Any]:
    unit = "<div>"
    return {"html": "<html><body>" + unit * (n // len(unit)) + "</body></html>"}


def _html_spaces(n: int) -> dict[str, Any]:
    return {"html": "<html><body><p>" + " " * n + "</p></body></html>"}


def _many_words(n: int) -> dict[str, Any]:
    # Distinct words: as many distinct shingles as words for the near-duplicate signature.
    words: list[str] = []
    size = 0
    while size < n:
        words.append(f"w{len(words)}")
        size += len(words[-1]) + 1
    return {"body": " ".join(words)}


def _many_people(n: int) -> dict[str, Any]:
    # A new person in every sentence, named again by surname and by "he": every person, mention
    # and pronoun is compared with the others.
    syllables = ["ka", "lo", "mi", "ren", "tos", "vel", "dar", "nik", "sor", "bal", "tem", "gus"]
    firsts = ["Mark", "Anna", "John", "Maria", "Peter", "Olga", "David", "Laura"]
    parts: list[str] = []
    size = 0
    for index, letters in enumerate(itertools.product(syllables, repeat=5)):
        last = "".join(letters).capitalize()
        parts.append(f'{firsts[index % 8]} {last} said "the plan works." {last} agreed. He left. ')
        size += len(parts[-1])
        if size >= n:
            break
    return {"body": "".join(parts)[:n]}


def _html_paragraphs(n: int) -> dict[str, Any]:
    unit = "<p>The port terminal reopened on Monday after the strike.</p>\n"
    return {"html": "<html><body>" + unit * (n // len(unit)) + "</body></html>"}


def _html_title(n: int) -> dict[str, Any]:
    # A title as long as the page: autocomplete inputs are made from a title's every word.
    body = "<p>The port terminal reopened on Monday after a strike of three weeks.</p>" * 5
    title = "word " * (n // 5)
    return {"html": f"<html><head><title>{title}</title></head><body>{body}</body></html>"}


# name -> (payload fields for a hostile part of about n characters, n at ingest's largest size)
HOSTILE: dict[str, tuple[Callable[[int], dict[str, Any]], int]] = {
    "spaces": (_spaces, BODY_CHARS),
    "a_dots": (_a_dots, BODY_CHARS),
    "single_word": (_single_word, BODY_CHARS),
    "quote_marks": (_quote_marks, BODY_CHARS),
    "nested_quotes": (_nested_quotes, BODY_CHARS),
    "newlines": (_newlines, BODY_CHARS),
    "spaced_newlines": (_spaced_newlines, BODY_CHARS),
    "capital_dots": (_capital_dots, BODY_CHARS),
    "said_quotes": (_said_quotes, BODY_CHARS),
    "pronouns": (_pronouns, BODY_CHARS),
    "dates": (_dates, BODY_CHARS),
    "foreign_dots": (_foreign_dots, BODY_CHARS),
    "foreign_spaces": (_foreign_spaces, BODY_CHARS),
    "html_empty": (_html_empty, HTML_CHARS),
    "html_nested": (_html_nested, HTML_CHARS),
    "html_spaces": (_html_spaces, HTML_CHARS),
    "many_words": (_many_words, BODY_CHARS),
    "many_people": (_many_people, BODY_CHARS),
    "html_paragraphs": (_html_paragraphs, HTML_CHARS),
    "html_title": (_html_title, HTML_CHARS),
}


def hostile_payload(name: str, chars: int | None = None) -> dict[str, Any]:
    """The queued payload of one hostile article (English unless the input says otherwise)."""
    build, largest = HOSTILE[name]
    fields = {"language": "en", "body": None, **build(largest if chars is None else chars)}
    return {
        "id": f"hostile-{name}",
        "received_at": datetime(2025, 10, 2, 9, 0, tzinfo=UTC).isoformat(),
        "title": None,
        "url": None,
        "source": "bench",
        **fields,
    }


def run_steps(payload: dict[str, Any], report: Callable[[str, float, list[str]], None]) -> None:
    """Every step of ``STEPS`` on one article, as the runner applies them, timing each; then
    the near-duplicate preparation. A step that raises ends the run (its error is reported)."""
    from worker.enrich import STEPS, base_document
    from worker.enrich.duplicates import prepare
    from worker.enrich.nlp import memory_zone as nlp_memory_zone
    from worker.enrich.runner import _merge

    doc = base_document(payload)
    doc["_skipped"] = []
    with nlp_memory_zone():
        for step in STEPS:
            started = time.perf_counter()
            try:
                fields = step.run_one(doc)
            except Exception as error:
                seconds = time.perf_counter() - started
                report(f"{step.name} raised {type(error).__name__}: {error}", seconds, [])
                return
            seconds = time.perf_counter() - started
            before = len(doc.get("_truncated", []))
            _merge(doc, step.name, fields)
            report(step.name, seconds, list(doc.get("_truncated", []))[before:])
    started = time.perf_counter()
    prepare(doc["id"], doc["body"])
    report("near_duplicates.prepare", time.perf_counter() - started, [])


def _child(name: str, chars: int | None) -> None:
    from worker.enrich import warm_up

    warm_up()
    payload = hostile_payload(name, chars)

    def report(step: str, seconds: float, cuts: list[str]) -> None:
        print(json.dumps({"step": step, "seconds": seconds, "cuts": cuts}), flush=True)

    print(json.dumps({"step": "ready", "seconds": 0.0, "cuts": []}), flush=True)
    run_steps(payload, report)


def _step_names() -> list[str]:
    from worker.enrich import STEPS

    return [step.name for step in STEPS] + ["near_duplicates.prepare"]


def measure(name: str, chars: int | None, timeout: float) -> list[dict[str, Any]]:
    """The step lines of one input, run in a child process; the step that was still running
    at the timeout gets ``"timeout": True``."""
    command = [sys.executable, "-m", "bench.enrich_bounds", "--child", name]
    if chars is not None:
        command += ["--chars", str(chars)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    lines: list[dict[str, Any]] = []
    deadline: float | None = None
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ)
    last = time.monotonic()
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            child.kill()
            child.wait()
            running = _step_names()[len(lines)] if len(lines) < len(_step_names()) else "?"
            lines.append({"step": running, "seconds": time.monotonic() - last, "timeout": True})
            return lines
        if not selector.select(remaining):
            continue
        line = child.stdout.readline()
        if not line:
            child.wait()
            return lines
        record = json.loads(line)
        last = time.monotonic()
        if record["step"] == "ready":
            deadline = last + timeout  # the clock starts once the models are loaded
            continue
        lines.append(record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", action="append", choices=sorted(HOSTILE))
    parser.add_argument("--chars", type=int, help="hostile part size (default: ingest's max)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per input")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        _child(arguments.child, arguments.chars)
        return
    for name in arguments.input or list(HOSTILE):
        started = time.monotonic()
        lines = measure(name, arguments.chars, arguments.timeout)
        total = time.monotonic() - started
        print(f"{name}  (whole child run {total:.1f} s)")
        for line in lines:
            mark = ">" if line.get("timeout") else " "
            cuts = "; ".join(line.get("cuts") or [])
            print(f"  {line['step']:<28} {mark}{line['seconds']:9.3f} s  {cuts}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
