"""Near-duplicate detection measured on real text: do edited copies of an article join its
cluster, and do different articles on the same story stay apart?

Originals are the corpus's real articles, sampled by whole publication days so that articles on
the same stories (the hard negatives) come together. About half of the originals longer than
40 words get one to three copies, made the way outlets re-publish wire copy: a fifth are exact
re-posts (only whitespace, paragraphing, quote and dash style, letter case change), the rest are
edited with one to four of: sentences trimmed from the end (up to 40% of the words) or the start,
a rewritten headline-style lede, one to four per cent of words substituted, a note or a few
sentences of another article added, an agency/credit/copyright line. Copies arrive after their
original, up to 400 articles later, in batches of 20 as the worker takes them, through the real
Redis index. Truth: a copy belongs to its original's story; corpus articles whose texts are the
same (word 3-gram Jaccard >= 0.9, e.g. one speech transcript published twice) are one story;
every other corpus article is its own story. Precision and recall are over pairs of articles:
"same cluster" against "same story".

    python -m quality.near_duplicates                # full corpus, parameter grid
    python -m quality.near_duplicates --shingling    # word n-grams vs character shingles
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from math import comb
from typing import Any

import redis

from quality.corpus import NewsArticle, news_articles
from worker.enrich import duplicates
from worker.enrich.duplicates import (
    LshParams,
    PreparedArticle,
    assign_prepared,
    prepare,
    shingles,
    words,
)

NUM_PERMS = (64, 128, 256)
THRESHOLDS = (0.4, 0.5, 0.6, 0.7)
BATCH = 20  # NEWSROOM_INGEST_TASK_BATCH_SIZE's default
PRECISION_BAR, RECALL_BAR = 0.98, 0.95
MIN_COPY_WORDS = 40
SAME_TEXT_JACCARD = 0.9

_SENTENCE = re.compile(
    r"(?<=[.!?])\s+(?=[\"“‘'(]?[A-Z0-9])|(?<=[.!?][\"”’'])\s+(?=[\"“‘'(]?[A-Z0-9])"
)

SUBSTITUTIONS: dict[str, tuple[str, ...]] = {
    "said": ("says", "stated", "told reporters"),
    "says": ("said",),
    "told": ("said to",),
    "but": ("however,",),
    "about": ("around", "some"),
    "also": ("additionally",),
    "percent": ("per cent", "%"),
    "per cent": ("percent",),
    "because": ("as",),
    "people": ("individuals", "persons"),
    "killed": ("left dead",),
    "government": ("administration",),
    "president": ("leader",),
    "announced": ("unveiled",),
    "however": ("but",),
    "meanwhile": ("at the same time",),
    "according to": ("as reported by", "citing"),
    "more than": ("over",),
    "on Monday": ("Monday",),
    "on Tuesday": ("Tuesday",),
    "on Wednesday": ("Wednesday",),
    "on Thursday": ("Thursday",),
    "on Friday": ("Friday",),
    "last week": ("recently",),
    "organization": ("organisation",),
    "organisation": ("organization",),
    "defense": ("defence",),
    "defence": ("defense",),
    "United States": ("US", "U.S."),
    "U.S.": ("United States", "US"),
    "UK": ("Britain", "United Kingdom"),
    "Britain": ("the UK",),
    "two": ("2",),
    "three": ("3",),
    "million": ("m",),
    "will": ("would",),
    "would": ("will",),
    "should": ("ought to",),
    "many": ("numerous",),
    "big": ("large",),
    "large": ("big",),
    "help": ("assist",),
    "show": ("indicate",),
    "shows": ("indicates",),
    "attack": ("assault",),
    "officials": ("authorities",),
    "police": ("officers",),
}
_SUBSTITUTABLE = re.compile(
    r"\b(" + "|".join(re.escape(w) for w in sorted(SUBSTITUTIONS, key=len, reverse=True)) + r")\b"
)
REPORTERS = ("Jane Smith", "Ali Hassan", "Maria Garcia", "Tom Brown", "Chen Wei", "Olga Ivanova")
PLACES = ("WASHINGTON", "LONDON", "MOSCOW", "BEIJING", "BERLIN", "DUBLIN", "DOHA", "NEW YORK")
LEDE_ENDINGS = (
    "officials said.",
    "according to reports.",
    "sources told reporters on Tuesday.",
    "in a move that drew swift reaction.",
    "the latest turn in a fast-moving story.",
)
TAILS = (
    "Reporting by {a}; editing by {b}",
    "(Reporting by {a} in {place}; Additional reporting by {b}; Editing by {c})",
    "Copyright 2017 The Associated Press. All rights reserved. This material may not be "
    "published, broadcast, rewritten or redistributed.",
    "Follow us on Twitter and Facebook for the latest news.",
    "{a} contributed to this report.",
)
HEADS = ("{place} (Reuters) -", "{place} (AP) —", "(CNN)", "EDITOR'S NOTE: This story was updated.")
NOTES = (
    "This story has been updated with more details.",
    "More to follow.",
    "Stay with us for updates on this developing story.",
)
EDITS = ("trim_end", "trim_start", "new_lede", "substitute", "add_end", "add_start", "boilerplate")


def sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE.split(text) if part.strip()]


def _count(parts: Iterable[str]) -> int:
    return sum(len(part.split()) for part in parts)


def reformat(parts: Sequence[str], rng: random.Random) -> str:
    """Join sentences back into text changing only whitespace, paragraphing, quote and dash
    style and letter case: the words stay the same, so the copy is an exact re-post."""
    paragraphs, i = [], 0
    while i < len(parts):
        step = rng.randint(1, 4)
        paragraphs.append(" ".join(parts[i : i + step]))
        i += step
    text = rng.choice(("\n\n", "\n", "\r\n\r\n", "\n \n")).join(paragraphs)
    if rng.random() < 0.5:
        text = re.sub(r'"([^"]*)"', r"“\1”", text)
    if rng.random() < 0.5:
        text = text.replace("'", "’")
    if rng.random() < 0.5:
        text = text.replace(" - ", " — ").replace(" -- ", " — ")
    if rng.random() < 0.3:
        text = text.replace(". ", ".  ")
    if rng.random() < 0.2:
        text = text.replace(" ", "\u00a0", 3)
    if rng.random() < 0.3:
        first, _, rest = text.partition(" ")
        text = f"{first.upper()} {rest}"
    return rng.choice(("", " ", "\n")) + text + rng.choice(("", "\n", " \n"))


def _substitute(parts: list[str], rng: random.Random) -> list[str]:
    budget = max(1, int(_count(parts) * rng.uniform(0.01, 0.04)))
    spots = [
        (i, match.start(), match.end())
        for i, part in enumerate(parts)
        for match in _SUBSTITUTABLE.finditer(part)
    ]
    out = list(parts)
    for i, start, end in sorted(rng.sample(spots, min(budget, len(spots))), reverse=True):
        out[i] = out[i][:start] + rng.choice(SUBSTITUTIONS[out[i][start:end]]) + out[i][end:]
    return out


def edited_copy(
    original: NewsArticle, donor: NewsArticle, rng: random.Random
) -> tuple[str, list[str]]:
    """An edited re-publication of ``original`` and the edits applied. At most 40% of the
    words are cut and at most 15% (or 12 words) added, as outlets do with wire copy."""
    parts = sentences(original.text)
    total = _count(parts)
    may_cut, may_add = 0.4 * total, max(0.15 * total, 12.0)
    cut = added = 0
    applied = []
    fill = {
        "a": rng.choice(REPORTERS),
        "b": rng.choice(REPORTERS),
        "c": rng.choice(REPORTERS),
        "place": rng.choice(PLACES),
    }
    for edit in rng.sample(EDITS, k=rng.randint(1, 4)):
        before = list(parts)
        if edit == "trim_end":
            goal = total * rng.uniform(0.05, 0.4)
            dropped = 0
            while len(parts) > 2 and dropped + len(parts[-1].split()) <= min(goal, may_cut - cut):
                dropped += len(parts.pop().split())
            cut += dropped
        elif edit == "trim_start" and len(parts) > 4:
            lead = len(parts[0].split())
            if cut + lead <= min(may_cut, cut + 0.15 * total):
                parts, cut = parts[1:], cut + lead
        elif edit == "new_lede" and len(parts) > 2 and original.title:
            lede = f"{original.title.rstrip('.')}, {rng.choice(LEDE_ENDINGS)}"
            old = len(parts[0].split())
            if cut + old <= may_cut and added + len(lede.split()) <= may_add:
                parts, cut, added = [lede, *parts[1:]], cut + old, added + len(lede.split())
        elif edit == "substitute":
            parts = _substitute(parts, rng)
        elif edit in ("add_end", "add_start", "boilerplate"):
            at_start = edit == "add_start"
            if edit == "add_end" and rng.random() < 0.5:
                extra = [s for s in sentences(donor.text)[:2] if len(s.split()) <= 40]
            elif edit == "boilerplate":
                at_start = rng.random() < 0.4
                extra = [rng.choice(HEADS if at_start else TAILS).format(**fill)]
            else:
                extra = [rng.choice(NOTES)]
            if extra and added + _count(extra) <= may_add:
                added += _count(extra)
                parts = [*extra, *parts] if at_start else [*parts, *extra]
        if parts != before:
            applied.append(edit)
    return reformat(parts, rng), applied


@dataclass(frozen=True)
class Item:
    """One article of the evaluation stream."""

    article_id: str
    text: str
    story: str  # the truth: same story, same cluster
    kind: str  # "original", "exact" or "edited"
    edits: tuple[str, ...] = ()


def sample_originals(sample_size: int | None, rng: random.Random) -> list[NewsArticle]:
    """Whole publication days, in random order, until ``sample_size`` articles: stories and
    their follow-ups (the hard negatives) stay together."""
    by_day: dict[str, list[NewsArticle]] = defaultdict(list)
    for article in news_articles():
        by_day[article.published].append(article)
    days = sorted(by_day)
    rng.shuffle(days)
    chosen: list[NewsArticle] = []
    for day in days:
        if sample_size is not None and len(chosen) >= sample_size:
            break
        chosen.extend(by_day[day])
    return chosen[:sample_size] if sample_size is not None else chosen


class _Stories:
    """Union-find over article ids."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(b)] = self.find(a)


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def corpus_stories(originals: Sequence[NewsArticle]) -> tuple[dict[str, str], Counter[str]]:
    """Each original's story (same-text articles merged) and a histogram of the exact Jaccard of
    pairs of different stories, from 0.3 up: the hard negatives."""
    sets = {a.article_id: shingles(words(a.text)) for a in originals}
    params = LshParams.for_threshold(0.3, 128)
    buckets: dict[str, list[str]] = defaultdict(list)
    stories = _Stories()
    pairs: set[tuple[str, str]] = set()
    for article in originals:
        prepared = prepare(article.article_id, article.text, 128)
        stories.find(article.article_id)
        if prepared.signature is None:
            continue
        for band in params.band_keys(prepared.signature):
            for other in buckets[band]:
                pairs.add((other, article.article_id))
            buckets[band].append(article.article_id)
    hard: Counter[str] = Counter()
    for a, b in pairs:
        similarity = _jaccard(sets[a], sets[b])
        if similarity >= SAME_TEXT_JACCARD:
            stories.union(a, b)
        elif similarity >= 0.3:
            hard[f"{int(similarity * 10) / 10:.1f}"] += 1
    return {a.article_id: stories.find(a.article_id) for a in originals}, hard


def _day(article: NewsArticle) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", article.published)[:3])


def build_stream(sample_size: int | None, seed: int = 2017) -> tuple[list[Item], Counter[str]]:
    """Originals in publication order with their copies arriving up to 400 articles later."""
    rng = random.Random(seed)
    originals = sample_originals(sample_size, rng)
    story, hard = corpus_stories(originals)
    corpus = news_articles()
    placed: list[tuple[float, Item]] = []
    ordered = sorted(originals, key=lambda a: (_day(a), a.url))
    for position, article in enumerate(ordered):
        placed.append(
            (
                position,
                Item(article.article_id, article.text, story[article.article_id], "original"),
            )
        )
        if len(words(article.text)) < MIN_COPY_WORDS or rng.random() < 0.5:
            continue
        for n in range(rng.randint(1, 3)):
            copy_id = f"{article.article_id}-copy{n}"
            if rng.random() < 0.2:
                text, edits = reformat(sentences(article.text), rng), ["reformat"]
                kind = "exact"
            else:
                text, edits = edited_copy(article, rng.choice(corpus), rng)
                kind = "edited"
            item = Item(copy_id, text, story[article.article_id], kind, tuple(edits))
            placed.append((position + rng.uniform(0.5, 400.0), item))
    placed.sort(key=lambda pair: pair[0])
    return [item for _, item in placed], hard


def pair_scores(truth: Sequence[str], predicted: Sequence[str]) -> tuple[float, float]:
    """Precision and recall over pairs: "same predicted cluster" against "same true story"."""
    both = sum(comb(n, 2) for n in Counter(zip(truth, predicted, strict=True)).values())
    predicted_pairs = sum(comb(n, 2) for n in Counter(predicted).values())
    true_pairs = sum(comb(n, 2) for n in Counter(truth).values())
    return both / max(predicted_pairs, 1), both / max(true_pairs, 1)


def _delete_prefix(redis_client: redis.Redis, pattern: str) -> None:
    batch: list[Any] = []
    for key in redis_client.scan_iter(pattern, count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            redis_client.delete(*batch)
            batch = []
    if batch:
        redis_client.delete(*batch)


def _memory_per_article(redis_client: redis.Redis, pattern: str, articles: int) -> float:
    pipe = redis_client.pipeline(transaction=False)
    count = 0
    for key in redis_client.scan_iter(pattern, count=5000):
        pipe.memory_usage(key, samples=0)
        count += 1
    total = sum(size or 0 for size in pipe.execute()) if count else 0
    return total / max(articles, 1)


def run(
    items: Sequence[Item],
    prepared: Sequence[PreparedArticle],
    params: LshParams,
    *,
    redis_client: redis.Redis,
    prefix: str,
    measure_memory: bool = False,
) -> dict[str, Any]:
    """Put the stream through the Redis index in batches; score the clusters."""
    clusters: dict[str, str] = {}
    duplicate_of: dict[str, str | None] = {}
    started, cpu_started = time.perf_counter(), time.process_time()
    for start in range(0, len(prepared), BATCH):
        found = assign_prepared(
            prepared[start : start + BATCH], redis_client=redis_client, prefix=prefix, params=params
        )
        for article_id, info in found.items():
            clusters[article_id] = info.cluster_id
            duplicate_of[article_id] = info.duplicate_of
    index_ms = (time.perf_counter() - started) * 1000 / len(prepared)
    index_cpu_ms = (time.process_time() - cpu_started) * 1000 / len(prepared)
    memory = (
        _memory_per_article(redis_client, f"{prefix}:*", len(items)) if measure_memory else None
    )
    _delete_prefix(redis_client, f"{prefix}:*")
    story = {item.article_id: item.story for item in items}
    precision, recall = pair_scores(
        [item.story for item in items], [clusters[item.article_id] for item in items]
    )
    exact = [item for item in items if item.kind == "exact"]
    exact_found = sum(
        1 for item in exact if (d := duplicate_of[item.article_id]) and story[d] == item.story
    )
    wrong_exact = sum(1 for i, d in duplicate_of.items() if d and story[d] != story[i])
    copies = [item for item in items if item.kind != "original"]
    joined = _copies_joined(items, clusters)
    return {
        "num_perm": params.num_perm,
        "threshold": params.threshold,
        "bands": params.bands,
        "rows": params.rows,
        "precision": precision,
        "recall": recall,
        "copies_joined": joined / max(len(copies), 1),
        "exact_recognised": exact_found / max(len(exact), 1),
        "wrong_exact": wrong_exact,
        "index_ms": index_ms,
        "index_cpu_ms": index_cpu_ms,
        "bytes_per_article": memory,
    }


def _copies_joined(items: Sequence[Item], clusters: dict[str, str]) -> int:
    """Copies in the same cluster as their original."""
    original_of = {item.story: item.article_id for item in items if item.kind == "original"}
    return sum(
        1
        for item in items
        if item.kind != "original"
        and clusters[item.article_id] == clusters[original_of[item.story]]
    )


def _prepare_all(items: Sequence[Item], num_perm: int) -> tuple[list[PreparedArticle], float]:
    """Signatures, and their CPU milliseconds per article (CPU time, not wall time: what a core
    spends, unaffected by other processes on a busy machine)."""
    started = time.process_time()
    prepared = [prepare(item.article_id, item.text, num_perm) for item in items]
    return prepared, (time.process_time() - started) * 1000 / len(items)


def evaluate(
    redis_client: redis.Redis,
    prefix: str,
    sample_size: int | None = None,
    *,
    num_perms: Sequence[int] = NUM_PERMS,
    thresholds: Sequence[float] = THRESHOLDS,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Precision and recall of "same cluster" for each (num_perm, threshold), and the figures of
    the parameters the worker uses. Index keys go under ``prefix`` and are deleted afterwards."""
    items, hard = build_stream(sample_size)
    chosen = duplicates.DEFAULT_PARAMS
    grid: list[dict[str, Any]] = []
    result_chosen: dict[str, Any] | None = None
    for num_perm in sorted(set(num_perms) | {chosen.num_perm}):
        prepared, signature_ms = _prepare_all(items, num_perm)
        for threshold in sorted(
            set(thresholds) | ({chosen.threshold} if num_perm == chosen.num_perm else set())
        ):
            params = LshParams.for_threshold(threshold, num_perm)
            is_chosen = params == chosen
            space = f"{prefix}:nd-{uuid.uuid4().hex[:6]}"
            row = run(
                items,
                prepared,
                params,
                redis_client=redis_client,
                prefix=space,
                measure_memory=is_chosen,
            )
            row["signature_ms"] = signature_ms
            row["chosen"] = is_chosen
            grid.append(row)
            if is_chosen:
                result_chosen = row
            if progress:
                progress(_row_text(row))
    assert result_chosen is not None
    copies = [item for item in items if item.kind != "original"]
    exact = sum(1 for item in copies if item.kind == "exact")
    edits = Counter(edit for item in copies for edit in item.edits)
    text_of = {item.story: item.text for item in items if item.kind == "original"}
    copy_similarity = sorted(
        _jaccard(shingles(words(item.text)), shingles(words(text_of[item.story])))
        for item in copies
        if item.kind == "edited"
    )
    spread = {
        f"p{round(q * 100)}": copy_similarity[int(q * (len(copy_similarity) - 1))]
        for q in (0.0, 0.01, 0.05, 0.5)
    }
    meets = result_chosen["precision"] >= PRECISION_BAR and result_chosen["recall"] >= RECALL_BAR
    c = result_chosen
    summary = [
        f"{len(items) - len(copies)} real articles and {len(copies)} copies of them "
        f"({exact} exact re-posts, {len(copies) - exact} edited), streamed through the Redis "
        f"index in batches of {BATCH}; {sum(hard.values())} pairs of different articles share "
        "30-90% of their word 3-grams (hard negatives). Exact word 3-gram Jaccard of edited "
        f"copies with their original: min {spread['p0']:.2f}, 1st percentile "
        f"{spread['p1']:.2f}, 5th {spread['p5']:.2f}, median {spread['p50']:.2f}.",
        f"Chosen: word 3-grams, {c['num_perm']} permutations, estimated Jaccard >= "
        f"{c['threshold']} ({c['bands']} bands x {c['rows']} rows). Same-cluster precision "
        f"**{c['precision']:.4f}**, recall **{c['recall']:.4f}** (bars {PRECISION_BAR} / "
        f"{RECALL_BAR}: {'met' if meets else '**not met**'}); copies joined to their "
        f"original {c['copies_joined']:.1%}; exact re-posts recognised "
        f"{c['exact_recognised']:.1%}, wrongly called exact {c['wrong_exact']}.",
        f"Cost per article: signature {c['signature_ms']:.2f} ms CPU; Redis index (query, "
        f"verify, insert; batches of {BATCH}) {c['index_cpu_ms']:.2f} ms CPU in the worker, "
        f"{c['index_ms']:.2f} ms wall with the round trips; Redis memory "
        f"{(c['bytes_per_article'] or 0) / 1024:.1f} KiB per article (MEMORY USAGE, no TTL).",
        "The threshold table and the method: docs/NEAR_DUPLICATES.md.",
    ]
    return {
        "originals": len(items) - len(copies),
        "copies": len(copies),
        "exact_copies": exact,
        "edits": dict(edits),
        "hard_negatives": dict(sorted(hard.items())),
        "edited_copy_jaccard": spread,
        "chosen": result_chosen,
        "meets_bars": meets,
        "grid": grid,
        "summary_lines": summary,
    }


def _row_text(row: dict[str, Any]) -> str:
    return (
        f"| {row['threshold']:.2f} | {row['num_perm']} | {row['bands']}x{row['rows']} "
        f"| {row['precision']:.4f} | {row['recall']:.4f} | {row['copies_joined']:.4f} "
        f"| {row['exact_recognised']:.4f} | {row['signature_ms']:.2f} "
        f"| {row['index_cpu_ms']:.2f} | {row['index_ms']:.2f} |"
        + (" chosen" if row["chosen"] else "")
    )


def _char_shingles(size: int) -> Callable[[str], set[str]]:
    def make(text: str) -> set[str]:
        joined = " ".join(words(text))
        return {joined[i : i + size] for i in range(max(1, len(joined) - size + 1))}

    return make


def _word_shingles(size: int) -> Callable[[str], set[str]]:
    return lambda text: shingles(words(text), size)


def compare_shingling(sample_size: int | None = None) -> list[dict[str, Any]]:
    """Exact (not estimated) Jaccard of each edited copy with its original, and of the pairs of
    different stories that score highest, for several shingle kinds: the recall and the number
    of hard negatives above each threshold, and the cost of making the shingles."""
    items, _ = build_stream(sample_size)
    originals = [item for item in items if item.kind == "original"]
    story = {item.article_id: item.story for item in items}
    original_of = {item.story: item.article_id for item in originals}
    edited = [item for item in items if item.kind == "edited"]
    # Candidate pairs of different stories: any pair sharing a band at a low threshold, found
    # once with word 3-gram signatures, then scored exactly with each kind of shingle.
    params = LshParams.for_threshold(0.2, 128)
    buckets: dict[str, list[str]] = defaultdict(list)
    pairs: set[tuple[str, str]] = set()
    for item in originals:
        signature = prepare(item.article_id, item.text, 128).signature
        if signature is None:
            continue
        for band in params.band_keys(signature):
            pairs.update((o, item.article_id) for o in buckets[band] if story[o] != item.story)
            buckets[band].append(item.article_id)
    rows = []
    kinds: dict[str, Callable[[str], set[str]]] = {
        **{f"word {n}-grams": _word_shingles(n) for n in (2, 3, 4, 5)},
        **{f"char {n}-grams": _char_shingles(n) for n in (5, 7, 9)},
    }
    for name, make in kinds.items():
        sets = {item.article_id: make(item.text) for item in originals}
        # What a signature costs with these shingles: making them and hashing them (128
        # permutations); character shingles are four to five times as many to hash.
        timed = originals[:1000]
        started = time.process_time()
        for item in timed:
            duplicates.minhash_signature_of(make(item.text), 128)
        cost_ms = (time.process_time() - started) * 1000 / len(timed)
        positives = [_jaccard(make(item.text), sets[original_of[item.story]]) for item in edited]
        negatives = [_jaccard(sets[a], sets[b]) for a, b in pairs]
        rows.append(
            {
                "shingles": name,
                "signature_ms": cost_ms,
                "mean_shingles": sum(len(s) for s in sets.values()) / len(sets),
                **{
                    f"recall@{t}": sum(p >= t for p in positives) / len(positives)
                    for t in (0.4, 0.5, 0.6, 0.7)
                },
                **{f"negatives@{t}": sum(n >= t for n in negatives) for t in (0.4, 0.5, 0.6, 0.7)},
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sample-size", type=int, default=None, help="originals (default: all)")
    parser.add_argument("--redis-url", default=None, help="default: NEWSROOM_REDIS_URL")
    parser.add_argument("--shingling", action="store_true", help="compare shingle kinds instead")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if args.shingling:
        for row in compare_shingling(args.sample_size):
            print(json.dumps(row))
        return
    if args.redis_url:
        redis_client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    else:
        from shared.clients import get_redis

        redis_client = get_redis()
    print(
        "| threshold | num_perm | bands x rows | precision | recall | copies joined "
        "| exact re-posts recognised | signature ms (CPU) | index ms (CPU) | index ms (wall) |",
        file=sys.stderr,
    )
    result = evaluate(
        redis_client,
        f"newsroom-quality-nd-{uuid.uuid4().hex[:8]}",
        args.sample_size,
        progress=lambda line: print(line, file=sys.stderr),
    )
    print(json.dumps(result, indent=2) if args.json else "\n".join(result["summary_lines"]))


if __name__ == "__main__":
    main()
