"""Quotation attribution against a hand-checked sample (``quality/data/quote_labels.json``):
77 quotations in 31 real corpus articles, each with the speaker a careful reader names. The
"development" labels were looked at while the rules were written; the "held-out" ones were
labelled before the code first ran on their articles, so they are the fairer figure.

    python -m quality.quotes

Recall: labelled quotations that ``extract_quotes`` finds. Accuracy: of those found, the share
whose speaker is right (no speaker is right when the label has none: an organisation, a
document, or nobody named). A speaker matches the label's name exactly, or by surname when one
name is the other's tail ("Davis" for "Jeff Davis"), as the people facet would count it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from quality.corpus import news_articles
from worker.enrich.entities import extract_entities
from worker.enrich.nlp import parse_texts
from worker.enrich.quotes import extract_quotes

LABELS = Path(__file__).resolve().parent / "data" / "quote_labels.json"
_NON_WORD = re.compile(r"[^\w]+")


def _words(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.casefold()).split())


def same_speaker(found: str | None, expected: str | None) -> bool:
    if found is None or expected is None:
        return found is expected
    a, b = _words(found).split(), _words(expected).split()
    if a == b:
        return True
    shorter, longer = sorted((a, b), key=len)
    return bool(shorter) and longer[-len(shorter) :] == shorter


def load_labels() -> list[dict[str, Any]]:
    labels: list[dict[str, Any]] = json.loads(LABELS.read_text(encoding="utf-8"))["labels"]
    return labels


def evaluate() -> dict[str, Any]:
    labels = load_labels()
    articles = {a.article_id: a for a in news_articles()}
    ids = sorted({label["article_id"] for label in labels}, key=int)
    docs = parse_texts([articles[i].text for i in ids])
    quotes_by_article: dict[str, list[dict[str, Any]]] = {}
    for article_id, parsed in zip(ids, docs, strict=True):
        people = extract_entities(parsed, dateline_place=None)["people"]
        quotes_by_article[article_id] = extract_quotes(articles[article_id].text, parsed, people)

    rows: list[dict[str, Any]] = []
    for label in labels:
        wanted = _words(label["quote"])
        match = next(
            (q for q in quotes_by_article[label["article_id"]] if wanted in _words(q["text"])),
            None,
        )
        speaker = match["speaker"] if match else None
        rows.append(
            {
                "article_id": label["article_id"],
                "set": label.get("set", "development"),
                "quote": label["quote"],
                "expected": label["speaker"],
                "found": match is not None,
                "speaker": speaker,
                "mention": match["speaker_mention"] if match else None,
                "correct": match is not None and same_speaker(speaker, label["speaker"]),
            }
        )
    summary = {name: _score([r for r in rows if r["set"] == name]) for name in _SETS}
    summary["all"] = _score(rows)
    everything = summary["all"]
    return {
        **everything,
        "by_set": summary,
        "articles": len(ids),
        "quotes_extracted": sum(len(q) for q in quotes_by_article.values()),
        "errors": [r for r in rows if not r["correct"]],
        "summary_lines": [
            f"Hand-checked sample: {len(rows)} quotations in {len(ids)} corpus articles "
            "(`quality/data/quote_labels.json`); the held-out part was labelled before the "
            "code first ran on it.",
            *[
                f"{name}: {s['labelled']} quotations; found **{100 * s['recall']:.1f}%**; "
                f"speaker right, of those found, **{100 * s['accuracy']:.1f}%** "
                f"({s['correct']}/{s['found']}); where the label names a person "
                f"{100 * s['accuracy_named_speakers']:.1f}%."
                for name, s in summary.items()
            ],
        ],
    }


_SETS = ("development", "held-out")


def _score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    found = [r for r in rows if r["found"]]
    correct = [r for r in found if r["correct"]]
    named = [r for r in found if r["expected"] is not None]
    return {
        "labelled": len(rows),
        "found": len(found),
        "correct": len(correct),
        "recall": len(found) / max(len(rows), 1),
        "accuracy": len(correct) / max(len(found), 1),
        "accuracy_named_speakers": sum(r["correct"] for r in named) / max(len(named), 1),
    }


if __name__ == "__main__":
    result = evaluate()
    for row in result["errors"]:
        state = "NOT FOUND" if not row["found"] else f"got {row['speaker']!r} ({row['mention']!r})"
        print(
            f"  {row['set'][:4]} {row['article_id']:>5} {row['quote'][:44]!r}: "
            f"want {row['expected']!r}, {state}"
        )
    print("\n".join(result["summary_lines"]))
