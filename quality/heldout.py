"""The held-out judge for entities, keyphrases and summaries: 100 real ABC (Australia) news
stories of 2001-2002 that nobody tuning the enrichment reads.

    python -m quality heldout run [--out PATH]         # enrich the 100, write their outputs
    python -m quality heldout pending --write FILE     # items still to judge (others re-used)
    python -m quality heldout figures [--judgements FILE]  # precision, useful share, summaries

Data: gensim 4.3.3's wheel (fetched with ``pip download`` into the quality cache, never
committed), ``gensim/test/test_data/lee_background.cor`` (300 lines) and ``lee.cor`` (50
lines), one story per line. The choice of the 100 was fixed before any story was read:

    every non-empty line of the two files, numbered from 1 in its file, is keyed
    "lee:<file name>:<line number>" (e.g. "lee:lee.cor:7"); the 100 with the smallest sha1
    hex digest of that key (UTF-8) are held out, in that order. A line whose text
    (whitespace collapsed, casefolded) equals a line already chosen is passed over and the
    next key taken.

The judging protocol is quality/data/heldout_protocol.md; the judgements of the code before
issue 13 are quality/data/heldout_judgements_before.json. Outputs are keyed by article
("lee_background.cor:12"); each article records the sha1 of its text and of each output list,
so two runs can be compared list by list, and judgements are re-used item by item: the same
entity string with the same type (and, for a place, the same GeoNames id) in the same article,
or the same keyphrase in the same article, keeps its verdict.

Enrichment runs in this process, without Celery, through ``worker.enrich.enrich_batch`` with
every step, as the worker runs it; each story is posted as a text/plain body with no title,
source or date, as a client pasting it would.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quality.corpus import cache_dir

GENSIM = "gensim==4.3.3"
_WHEEL_GLOB = "gensim-4.3.3-*.whl"
FILES = ("lee_background.cor", "lee.cor")
_MEMBER = "gensim/test/test_data/{}"
HELD_OUT = 100
ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
BEFORE = DATA / "heldout_judgements_before.json"
# Fixed, so two runs of the same code give the same documents (relative dates aside).
RECEIVED_AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BATCH = 20
ENTITY_TYPES = ("person", "organisation", "place")
# Words as the summary ratio counts them, the same regex before and after any change to the
# enrichment (worker.enrich.text.count_words may change; this must not).
_WORD = re.compile(r"\w+(?:[-'’]\w+)*")
# Reporting verbs, counted in keyphrases without judging (the issue's bar: none).
REPORTING_VERBS = frozenset(
    [
        "said",
        "says",
        "say",
        "saying",
        "told",
        "tells",
        "added",
        "adds",
        "reported",
        "declared",
        "announced",
        "stated",
        "claimed",
        "quoted",
        "according",
    ]
)


@dataclass(frozen=True)
class Story:
    key: str  # "lee_background.cor:12"
    text: str


def outputs_path() -> Path:
    return cache_dir().parent / "heldout" / "outputs.json"


def wheel_path() -> Path:
    """gensim's wheel (only its test data is read; it is not installed)."""
    found = sorted(cache_dir().glob(_WHEEL_GLOB))
    if found:
        return found[0]
    cache_dir().mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", GENSIM]
    subprocess.run([*command, "-d", str(cache_dir())], check=True)
    found = sorted(cache_dir().glob(_WHEEL_GLOB))
    if not found:
        raise FileNotFoundError(f"pip download {GENSIM} left no {_WHEEL_GLOB} in {cache_dir()}")
    return found[0]


def _sha1(text: str) -> str:
    # A split key and a change detector, not security.
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def choose(lines: Mapping[str, Sequence[str]], count: int = HELD_OUT) -> list[Story]:
    """The held-out rule (module docstring): smallest sha1 of "lee:<file>:<line>"."""
    keyed = [
        (_sha1(f"lee:{name}:{number}"), f"{name}:{number}", line.strip())
        for name, file_lines in lines.items()
        for number, line in enumerate(file_lines, start=1)
        if line.strip()
    ]
    chosen: list[Story] = []
    seen: set[str] = set()
    for _, key, text in sorted(keyed):
        norm = " ".join(text.split()).casefold()
        if norm in seen:
            continue
        seen.add(norm)
        chosen.append(Story(key, text))
        if len(chosen) == count:
            break
    return chosen


def _decode(data: bytes) -> str:
    # lee.cor is Latin-1 (one byte 0xA3, a pound sign); lee_background.cor is plain ASCII.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def stories() -> list[Story]:
    with zipfile.ZipFile(wheel_path()) as wheel:
        lines = {name: _decode(wheel.read(_MEMBER.format(name))).splitlines() for name in FILES}
    return choose(lines)


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def list_hash(items: Any) -> str:
    return _sha1(json.dumps(items, sort_keys=True, ensure_ascii=False))


def _place(place: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": place["name"],
        "geonameid": place.get("geonameid"),
        "kind": place.get("kind"),
        "country_code": place.get("country_code"),
        "mentioned_as": place.get("mentioned_as", []),
    }


def _output(story: Story, doc: Mapping[str, Any]) -> dict[str, Any]:
    places = [_place(p) for p in doc.get("places") or []]
    lists = {
        "people": list(doc.get("people") or []),
        "organisations": list(doc.get("organisations") or []),
        "places": places,
        "keywords": list(doc.get("keywords") or []),
    }
    summary = doc.get("summary") or ""
    return {
        "text_sha1": _sha1(story.text),
        "title": doc.get("title"),
        "title_derived": doc.get("title_derived", False),
        **lists,
        "unresolved_places": [u["name"] for u in doc.get("unresolved_places") or []],
        "summary": summary,
        "article_words": count_words(story.text),
        "summary_words": count_words(summary),
        "word_count": doc.get("word_count"),
        "body_kept_whole": " ".join(doc.get("body", "").split()) == " ".join(story.text.split()),
        "hashes": {name: list_hash(items) for name, items in lists.items()}
        | {"summary": _sha1(summary)},
    }


def run(out: Path) -> dict[str, Any]:
    """Enrich the held-out stories with the worker's own pipeline (no Celery) and write their
    outputs to ``out``."""
    from shared.schema import ArticleIn, to_payload
    from worker.enrich import ENRICHMENT_VERSION, enrich_batch

    chosen = stories()
    articles: dict[str, Any] = {}
    for start in range(0, len(chosen), BATCH):
        batch = chosen[start : start + BATCH]
        payloads = [
            to_payload(ArticleIn(body=s.text), content_type="text/plain", received_at=RECEIVED_AT)
            for s in batch
        ]
        result = enrich_batch(payloads)
        by_id = {doc["id"]: doc for doc in result.documents}
        for story, payload in zip(batch, payloads, strict=True):
            doc = by_id.get(payload["id"])
            if doc is None:
                articles[story.key] = {"failed": result.failures.get(payload["id"], "failed")}
            else:
                articles[story.key] = _output(story, doc)
        print(f"{start + len(batch)}/{len(chosen)}", file=sys.stderr)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    report = {
        "made": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "enrichment_version": ENRICHMENT_VERSION,
        "data": f"{GENSIM} {', '.join(FILES)}",
        "articles": articles,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return report


# --- Judging ---------------------------------------------------------------------------------


def entity_items(output: dict[str, Any]) -> list[dict[str, Any]]:
    """The entities a reader sees for one article, one per distinct name and type."""
    items: list[dict[str, Any]] = []
    for name in dict.fromkeys(output.get("people", [])):
        items.append({"type": "person", "name": name, "geonameid": None})
    for name in dict.fromkeys(output.get("organisations", [])):
        items.append({"type": "organisation", "name": name, "geonameid": None})
    seen: set[tuple[str, Any]] = set()
    for place in output.get("places", []):
        key = (place["name"], place.get("geonameid"))
        if key not in seen:
            seen.add(key)
            items.append(
                {
                    "type": "place",
                    "name": place["name"],
                    "geonameid": place.get("geonameid"),
                    "mentioned_as": place.get("mentioned_as", []),
                }
            )
    return items


def keyphrase_items(output: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(output.get("keywords", [])))


def entity_key(article: str, item: dict[str, Any]) -> tuple[str, str, str, Any]:
    return (article, item["type"], item["name"], item.get("geonameid"))


def keyphrase_key(article: str, phrase: str) -> tuple[str, str]:
    return (article, phrase)


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _known(
    judgement_files: Iterable[Path],
) -> tuple[dict[tuple[str, str, str, Any], dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    """Verdicts already given, later files winning; unjudged (null) verdicts ignored."""
    entities: dict[tuple[str, str, str, Any], dict[str, Any]] = {}
    keyphrases: dict[tuple[str, str], dict[str, Any]] = {}
    for path in judgement_files:
        if not path.exists():
            continue
        data = load_json(path)
        for row in data.get("entities", []):
            if row.get("verdict") is not None:
                entities[entity_key(row["article"], row)] = row
        for row in data.get("keyphrases", []):
            if row.get("verdict") is not None:
                keyphrases[keyphrase_key(row["article"], row["phrase"])] = row
    return entities, keyphrases


def pending(outputs: dict[str, Any], judgement_files: Sequence[Path]) -> dict[str, Any]:
    """A judgements file for ``outputs``: every item, its verdict re-used from an identical item
    already judged in the same article, else null (to judge)."""
    known_entities, known_keyphrases = _known(judgement_files)
    entities: list[dict[str, Any]] = []
    keyphrases: list[dict[str, Any]] = []
    reused = 0
    for article, output in outputs["articles"].items():
        if "failed" in output:
            continue
        for item in entity_items(output):
            old = known_entities.get(entity_key(article, item))
            row = {"article": article, **item, "verdict": None, "kind": None, "reason": None}
            if old is not None:
                reused += 1
                row |= {k: old.get(k) for k in ("verdict", "kind", "reason")}
            entities.append(row)
        for phrase in keyphrase_items(output):
            old = known_keyphrases.get(keyphrase_key(article, phrase))
            row = {"article": article, "phrase": phrase, "verdict": None, "kind": None}
            row["reason"] = None
            if old is not None:
                reused += 1
                row |= {k: old.get(k) for k in ("verdict", "kind", "reason")}
            keyphrases.append(row)
    # What the figures need besides the items, so the judgements file stands on its own.
    articles = {
        article: {
            key: output.get(key)
            for key in ("text_sha1", "article_words", "summary_words", "hashes")
        }
        for article, output in outputs["articles"].items()
        if "failed" not in output
    }
    return {
        "protocol": "quality/data/heldout_protocol.md",
        "outputs_commit": outputs.get("commit"),
        "outputs_made": outputs.get("made"),
        "enrichment_version": outputs.get("enrichment_version"),
        "reused": reused,
        "failed": sorted(a for a, o in outputs["articles"].items() if "failed" in o),
        "articles": articles,
        "entities": entities,
        "keyphrases": keyphrases,
    }


def outputs_from_judgements(judgements: dict[str, Any]) -> dict[str, Any]:
    """The listed items and summary counts recorded in a judgements file (``pending`` writes
    them), in the shape ``figures`` reads: the figures of a judged run need no other file."""
    articles: dict[str, dict[str, Any]] = {
        article: {
            "people": [],
            "organisations": [],
            "places": [],
            "keywords": [],
            "article_words": counts["article_words"],
            "summary_words": counts["summary_words"],
        }
        for article, counts in judgements["articles"].items()
    }
    lists = {"person": "people", "organisation": "organisations"}
    for row in judgements["entities"]:
        output = articles[row["article"]]
        if row["type"] == "place":
            output["places"].append(
                {
                    "name": row["name"],
                    "geonameid": row.get("geonameid"),
                    "mentioned_as": row.get("mentioned_as", []),
                }
            )
        else:
            output[lists[row["type"]]].append(row["name"])
    for row in judgements["keyphrases"]:
        articles[row["article"]]["keywords"].append(row["phrase"])
    return {"articles": articles}


def print_pending(judgements: dict[str, Any], texts: dict[str, str]) -> int:
    """Print, article by article, the text and the items whose verdict is still null."""
    todo: dict[str, list[str]] = {}
    for row in judgements["entities"]:
        if row["verdict"] is None:
            place = f" (mentioned as {row['mentioned_as']})" if row["type"] == "place" else ""
            todo.setdefault(row["article"], []).append(
                f"  entity {row['type']}: {row['name']!r}{place}"
            )
    for row in judgements["keyphrases"]:
        if row["verdict"] is None:
            todo.setdefault(row["article"], []).append(f"  keyphrase: {row['phrase']!r}")
    for article, lines in todo.items():
        print(f"== {article}\n{texts.get(article, '(text not found)')}")
        print("\n".join(lines))
    count = sum(len(lines) for lines in todo.values())
    print(f"{count} items to judge in {len(todo)} articles", file=sys.stderr)
    return count


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def figures(outputs: dict[str, Any], judgements: dict[str, Any]) -> dict[str, Any]:
    """Precision by entity type, share of useful keyphrases, summary length and error kinds,
    over the items ``outputs`` lists (a judgement for an item no longer listed is ignored; an
    item without a verdict is counted as unjudged)."""
    known_entities, known_keyphrases = {}, {}
    for row in judgements.get("entities", []):
        known_entities[entity_key(row["article"], row)] = row
    for row in judgements.get("keyphrases", []):
        known_keyphrases[keyphrase_key(row["article"], row["phrase"])] = row
    by_type: dict[str, Counter[str]] = {t: Counter() for t in ENTITY_TYPES}
    entity_kinds: dict[str, Counter[str]] = {t: Counter() for t in ENTITY_TYPES}
    phrase_counts: Counter[str] = Counter()
    phrase_kinds: Counter[str] = Counter()
    ratios: list[float] = []
    reporting: list[str] = []
    articles = 0
    for article, output in outputs["articles"].items():
        if "failed" in output:
            continue
        articles += 1
        for item in entity_items(output):
            row = known_entities.get(entity_key(article, item))
            verdict = row.get("verdict") if row else None
            counts = by_type[item["type"]]
            counts["listed"] += 1
            if verdict is None:
                counts["unjudged"] += 1
            elif verdict == "right":
                counts["right"] += 1
            else:
                counts["wrong"] += 1
                entity_kinds[item["type"]][str(row.get("kind") if row else None)] += 1
        for phrase in keyphrase_items(output):
            row = known_keyphrases.get(keyphrase_key(article, phrase))
            verdict = row.get("verdict") if row else None
            phrase_counts["listed"] += 1
            if REPORTING_VERBS & set(phrase.casefold().split()):
                reporting.append(phrase)
            if verdict is None:
                phrase_counts["unjudged"] += 1
            elif verdict == "useful":
                phrase_counts["useful"] += 1
            else:
                phrase_counts["not useful"] += 1
                phrase_kinds[str(row.get("kind") if row else None)] += 1
        if output["article_words"]:
            ratios.append(output["summary_words"] / output["article_words"])
    entities: dict[str, dict[str, Any]] = {}
    for kind in ENTITY_TYPES:
        c = by_type[kind]
        judged = c["right"] + c["wrong"]
        entities[kind] = {
            "listed": c["listed"],
            "right": c["right"],
            "wrong": c["wrong"],
            "unjudged": c["unjudged"],
            "precision": _share(c["right"], judged),
            "errors": dict(entity_kinds[kind].most_common()),
        }
    all_right = sum(by_type[t]["right"] for t in ENTITY_TYPES)
    all_judged = all_right + sum(by_type[t]["wrong"] for t in ENTITY_TYPES)
    judged_phrases = phrase_counts["useful"] + phrase_counts["not useful"]
    return {
        "articles": articles,
        "entities": entities,
        "entity_precision_all": _share(all_right, all_judged),
        "keyphrases": {
            "listed": phrase_counts["listed"],
            "useful": phrase_counts["useful"],
            "not_useful": phrase_counts["not useful"],
            "unjudged": phrase_counts["unjudged"],
            "useful_share": _share(phrase_counts["useful"], judged_phrases),
            "errors": dict(phrase_kinds.most_common()),
            "with_reporting_verb": len(reporting),
            "reporting_verb_examples": reporting[:10],
        },
        "summaries": {
            "articles": len(ratios),
            "median_ratio": statistics.median(ratios) if ratios else 0.0,
            "over_half": _share(sum(r > 0.5 for r in ratios), len(ratios)),
            "over_half_count": sum(r > 0.5 for r in ratios),
            "at_least_90_percent_count": sum(r >= 0.9 for r in ratios),
            "median_article_words": statistics.median(
                o["article_words"] for o in outputs["articles"].values() if "failed" not in o
            ),
        },
    }


def render(result: dict[str, Any]) -> str:
    lines = [f"{result['articles']} held-out articles"]
    for kind, e in result["entities"].items():
        unjudged = f", {e['unjudged']} unjudged" if e["unjudged"] else ""
        lines.append(
            f"{kind}: precision {100 * e['precision']:.1f}% ({e['right']}/"
            f"{e['right'] + e['wrong']}{unjudged}); errors {e['errors']}"
        )
    lines.append(f"all entities: precision {100 * result['entity_precision_all']:.1f}%")
    k = result["keyphrases"]
    unjudged = f", {k['unjudged']} unjudged" if k["unjudged"] else ""
    lines.append(
        f"keyphrases: useful {100 * k['useful_share']:.1f}% ({k['useful']}/"
        f"{k['useful'] + k['not_useful']}{unjudged}); errors {k['errors']}; "
        f"{k['with_reporting_verb']} with a reporting verb"
    )
    s = result["summaries"]
    lines.append(
        f"summaries: median {100 * s['median_ratio']:.1f}% of the article's words "
        f"(median article {s['median_article_words']} words); over half the article: "
        f"{100 * s['over_half']:.1f}% ({s['over_half_count']}/{s['articles']}); 90% or more: "
        f"{s['at_least_90_percent_count']}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m quality heldout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="enrich the held-out articles and write their outputs")
    run_p.add_argument("--out", type=Path, default=outputs_path())
    pend_p = sub.add_parser(
        "pending", help="write a judgements file re-using verdicts; print what is left to judge"
    )
    pend_p.add_argument("--outputs", type=Path, default=outputs_path())
    pend_p.add_argument(
        "--judgements",
        type=Path,
        action="append",
        help="judgements to re-use (repeatable; later win); default: the 'before' file and "
        "--write if it exists",
    )
    pend_p.add_argument("--write", type=Path, required=True, help="the judgements file to write")
    fig_p = sub.add_parser("figures", help="the figures from a judgements file")
    fig_p.add_argument("--judgements", type=Path, default=BEFORE)
    fig_p.add_argument(
        "--outputs",
        type=Path,
        help="count over these outputs' items instead of those the judgements file lists "
        "(items it has no verdict for are reported as unjudged)",
    )
    fig_p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    elif args.command == "pending":
        sources = args.judgements or [BEFORE, args.write]
        result = pending(load_json(args.outputs), sources)
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(
            json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        texts = {s.key: s.text for s in stories()}
        print_pending(result, texts)
        print(f"wrote {args.write} ({result['reused']} verdicts re-used)", file=sys.stderr)
    else:
        judgements = load_json(args.judgements)
        outputs = load_json(args.outputs) if args.outputs else outputs_from_judgements(judgements)
        result = figures(outputs, judgements)
        print(json.dumps(result, indent=1) if args.json else render(result))


if __name__ == "__main__":
    main()
