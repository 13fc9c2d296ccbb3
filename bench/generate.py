"""Generated documents for the large search indices: a corpus that grows like a real one.

Replicas (``bench.enriched.replicate``) keep the vocabulary, the entity cardinality and the
vector spread of the few thousand real articles they copy: at 1M documents kNN's top 100 was
copies of about four stories. Putting a million distinct real articles through the enrichment
would take days on two cores, so the large indices are generated instead, each document from an
enriched corpus article (its template: structure, quotes, places, dateline, sentiment), with:

- **words** (Heaps' and Zipf's laws): ``WORD_SHARE`` of the body's words and one title word are
  replaced by words drawn from a Zipf law of exponent ``ZIPF_WORDS`` over an unbounded ranked
  vocabulary: the corpus's own words by frequency, then pronounceable synthetic words
  (``synthetic_word``). Draws from a Zipf law with exponent a > 1 over an unbounded vocabulary
  bring new words at a rate that makes the distinct terms grow as about n^(1/a): Heaps' law
  with beta = 1/a (about 0.8 here; news corpora measure 0.5-0.8).
- **entities**: each person, organisation and keyword is replaced with probability
  ``ENTITY_SWAP`` by one drawn from a Zipf law over an unbounded population (the corpus's names
  by frequency, then synthetic names built from its first and last names), so the facets'
  cardinalities grow with the index; outlets too (``ZIPF_OUTLETS``).
- **vectors**: the template's embedding plus ``OTHER_WEIGHT`` times another article's plus
  Gaussian noise (``VECTOR_NOISE`` per component), normalised: a cosine of about 0.7 with its
  template, so neighbours are no longer copies of a handful of stories.
- **copies**: ``COPY_SHARE`` of the documents are near-copies (a few words swapped, another
  outlet, the same cluster) of an earlier generated document, as wire copies are.

Everything follows from the document's position and the seed: the same on every machine. The
first ``len(templates)`` positions are the enriched articles themselves.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from bench import corpus
from shared.schema import article_id

# Bumped whenever a generated document changes (bench.index's signature: indices get rebuilt).
VERSION = "zipf-1"
SEED = 18
WORD_SHARE = 0.08
ZIPF_WORDS = 1.25
ENTITY_SWAP = 0.5
ZIPF_ENTITIES = 1.3
ZIPF_OUTLETS = 1.6
OTHER_WEIGHT = 0.5
VECTOR_NOISE = 0.035
COPY_SHARE = 0.1
# A copy's original is among the last COPY_WINDOW documents before it.
COPY_WINDOW = 5000

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
SYLLABLES = tuple(c + v for c in _CONSONANTS for v in _VOWELS)  # 70
_WORDS = re.compile(r"[A-Za-z]+")


def synthetic_word(rank: int) -> str:
    """A pronounceable word for a vocabulary rank beyond the corpus's (at least three
    syllables: ``rank`` written in base 70); distinct ranks give distinct words."""
    syllables: list[str] = []
    number = rank
    while number or len(syllables) < 3:
        number, digit = divmod(number, len(SYLLABLES))
        syllables.append(SYLLABLES[digit])
    return "".join(syllables)


def words_of(text: str) -> list[str]:
    """Alphabetic words, lowercased: about what the standard analyzer indexes (numbers left out)."""
    return [w.lower() for w in _WORDS.findall(text)]


def _ranked(counts: Counter[str]) -> tuple[str, ...]:
    return tuple(name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True)
class Vocabulary:
    """The corpus's words, people, organisations and keywords, most frequent first."""

    words: tuple[str, ...]
    people: tuple[str, ...]
    organisations: tuple[str, ...]
    keywords: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]

    @classmethod
    def of(cls, docs: Sequence[dict[str, Any]]) -> Vocabulary:
        words: Counter[str] = Counter()
        people: Counter[str] = Counter()
        organisations: Counter[str] = Counter()
        keywords: Counter[str] = Counter()
        for doc in docs:
            words.update(words_of(doc.get("body") or ""))
            people.update(doc.get("people") or [])
            organisations.update(doc.get("organisations") or [])
            keywords.update(doc.get("keywords") or [])
        split = [name.split() for name in people if len(name.split()) >= 2]
        return cls(
            words=_ranked(words),
            people=_ranked(people),
            organisations=_ranked(organisations),
            keywords=_ranked(keywords),
            first_names=tuple(sorted({parts[0] for parts in split})) or ("Alex",),
            last_names=tuple(sorted({parts[-1] for parts in split})) or ("Smith",),
        )

    def word(self, rank: int) -> str:
        return self.words[rank - 1] if rank <= len(self.words) else synthetic_word(rank)

    def person(self, rank: int) -> str:
        if rank <= len(self.people):
            return self.people[rank - 1]
        first, last = divmod(rank, len(self.last_names))
        surname = self.last_names[last]
        given = self.first_names[first % len(self.first_names)]
        # Past every pair of real names, a synthetic surname keeps the names distinct.
        extra = first // len(self.first_names)
        return (
            f"{given} {synthetic_word(extra).title()}-{surname}" if extra else f"{given} {surname}"
        )

    def organisation(self, rank: int) -> str:
        if rank <= len(self.organisations):
            return self.organisations[rank - 1]
        return (
            f"{synthetic_word(rank).title()} {('Group', 'Council', 'Party', 'Institute')[rank % 4]}"
        )

    def keyword(self, rank: int) -> str:
        if rank <= len(self.keywords):
            return self.keywords[rank - 1]
        return f"{synthetic_word(rank)} {self.word(1 + rank % 2000)}"


def outlet(rank: int) -> str:
    if rank <= len(corpus.ALL_OUTLETS):
        return corpus.ALL_OUTLETS[rank - 1]
    return f"The {synthetic_word(rank).title()} Times"


# The fields a generated document may change; the others are its template's, serialised once.
DYNAMIC = frozenset(
    [
        "title",
        "body",
        "summary",
        "people",
        "organisations",
        "keywords",
        "entity_mentions",
        "quotes",
        "suggest",
        "embedding",
        "source",
        "url",
        "id",
        "published_at",
        "published_at_source",
        "received_at",
        "indexed_at",
        "revision",
        "content_hash",
        "duplicates",
    ]
)
_VECTOR_FORMAT = ",".join(["%.6f"] * 384)


@dataclass
class Generated:
    """One generated document and what the index statistics need of it."""

    doc: dict[str, Any]
    synthetic_ranks: list[int] = field(default_factory=list)
    template: int | None = None  # the template's position, None for the articles themselves


class Generator:
    """``document(n)``: generated document number ``n`` (see the module's doc)."""

    def __init__(self, docs: dict[int, dict[str, Any]], seed: int = SEED) -> None:
        self.order = sorted(docs)
        self.templates = [docs[index] for index in self.order]
        self.vocabulary = Vocabulary.of(self.templates)
        self.seed = seed
        self.vectors = np.asarray([t["embedding"] for t in self.templates], dtype=np.float64)
        self._entries: dict[tuple[str, str, int], list[Any]] = {}
        self._static: dict[int, str] = {}

    def _rng(self, n: int) -> np.random.Generator:
        return np.random.Generator(np.random.Philox(key=(self.seed << 40) + n))

    def _suggest(self, out: dict[str, Any]) -> list[Any]:
        """``worker.enrich.suggest.suggestion_inputs(out)``, its entity entries remembered by
        name and mentions (computing them afresh was three quarters of a document's cost)."""
        from worker.enrich.suggest import suggestion_inputs

        entries = suggestion_inputs({"title": out.get("title")})
        seen: set[tuple[str, str]] = set()
        for name_field in ("people", "organisations"):
            counts = {
                item["name"]: int(item.get("mentions") or 1)
                for item in (out.get("entity_mentions") or {}).get(name_field) or []
                if item.get("name")
            }
            for name in out.get(name_field) or []:
                key = (name_field, name, counts.get(name, 1))
                if key[:2] in seen:
                    continue
                seen.add(key[:2])
                if key not in self._entries:
                    one = {
                        name_field: [name],
                        "entity_mentions": {name_field: [{"name": name, "mentions": key[2]}]},
                    }
                    self._entries[key] = suggestion_inputs(one)
                entries += self._entries[key]
        for place in out.get("places") or []:
            key = ("places", str(place.get("name")), int(place.get("mentions") or 1))
            if key[:2] in seen:
                continue
            seen.add(key[:2])
            if key not in self._entries:
                self._entries[key] = suggestion_inputs({"places": [place]})
            entries += self._entries[key]
        return entries

    def document(self, n: int) -> Generated:
        from bench.enriched import replicate

        size = len(self.templates)
        if n < size:
            return Generated(replicate(self.templates[n], self.order[n], 0))
        rng = self._rng(n)
        if rng.random() < COPY_SHARE and n > size:
            return self._copy(n, rng)
        return self._fresh(n, rng)

    def _is_copy(self, n: int) -> bool:
        return n > len(self.templates) and self._rng(n).random() < COPY_SHARE

    def _fresh(self, n: int, rng: np.random.Generator) -> Generated:
        vocabulary = self.vocabulary
        size = len(self.templates)
        which = n % size
        template = self.templates[which]
        out = dict(template)
        synthetic: list[int] = []

        def draw_words(count: int) -> list[str]:
            ranks = rng.zipf(ZIPF_WORDS, count)
            synthetic.extend(int(r) for r in ranks if r > len(vocabulary.words))
            return [vocabulary.word(int(r)) for r in ranks]

        body = (template.get("body") or "").split()
        if body:
            count = max(1, int(len(body) * WORD_SHARE))
            for at, word in zip(rng.integers(0, len(body), count), draw_words(count), strict=True):
                body[int(at)] = word
        out["body"] = " ".join(body)
        if template.get("title"):
            title = template["title"].split()
            title[int(rng.integers(0, len(title)))] = draw_words(1)[0]
            out["title"] = " ".join(title)
            out["summary"] = out["title"]
        renamed: dict[str, str] = {}
        for name_field, pick in (
            ("people", vocabulary.person),
            ("organisations", vocabulary.organisation),
        ):
            names = []
            for name in template.get(name_field) or []:
                if rng.random() < ENTITY_SWAP:
                    renamed[name] = pick(int(rng.zipf(ZIPF_ENTITIES)))
                names.append(renamed.get(name, name))
            out[name_field] = list(dict.fromkeys(names))
        out["keywords"] = list(
            dict.fromkeys(
                vocabulary.keyword(int(rng.zipf(ZIPF_ENTITIES)))
                if rng.random() < ENTITY_SWAP
                else keyword
                for keyword in template.get("keywords") or []
            )
        )
        if renamed:
            mentions = template.get("entity_mentions") or {}
            out["entity_mentions"] = {
                kind: [
                    {**item, "name": renamed[item["name"]], "mentioned_as": [renamed[item["name"]]]}
                    if item.get("name") in renamed
                    else item
                    for item in items
                ]
                for kind, items in mentions.items()
            }
            out["quotes"] = [
                {**quote, "speaker": renamed.get(quote.get("speaker") or "", quote.get("speaker"))}
                for quote in template.get("quotes") or []
            ]
        other = self.vectors[int(rng.integers(0, size))]
        vector = self.vectors[which] + OTHER_WEIGHT * other + rng.normal(0, VECTOR_NOISE, 384)
        out["embedding"] = (vector / np.linalg.norm(vector)).tolist()
        out["source"] = outlet(int(rng.zipf(ZIPF_OUTLETS)))
        published = corpus.FIRST_DAY + timedelta(
            minutes=int(
                rng.integers(0, int((corpus.LAST_DAY - corpus.FIRST_DAY).total_seconds() // 60))
            )
        )
        self._stamp(out, n, published)
        out["suggest"] = self._suggest(out)
        out["duplicates"] = {
            "cluster_id": out["id"],
            "duplicate_of": None,
            "near_duplicates": [],
            "similarity": None,
        }
        return Generated(out, synthetic, which)

    def _copy(self, n: int, rng: np.random.Generator) -> Generated:
        """A near-copy of an earlier generated document (never itself a copy)."""

        size = len(self.templates)
        source_n = max(size, n - 1 - int(rng.integers(0, min(COPY_WINDOW, n - size))))
        while self._is_copy(source_n):
            source_n -= 1
        original = self.document(source_n).doc
        out = dict(original)
        swap_rng = corpus.rng_for(n, 1)
        out["body"] = corpus.swap_words(original["body"], corpus.BODY_SWAPS, swap_rng)
        out["source"] = outlet(int(rng.zipf(ZIPF_OUTLETS)))
        vector = np.asarray(original["embedding"]) + rng.normal(0, 0.01, 384)
        out["embedding"] = (vector / np.linalg.norm(vector)).tolist()
        published = datetime.fromisoformat(original["published_at"]) + timedelta(
            minutes=int(rng.integers(5, 600))
        )
        self._stamp(out, n, published)
        out["suggest"] = self._suggest(out)
        out["duplicates"] = {
            "cluster_id": original["id"],
            "duplicate_of": original["id"],
            "near_duplicates": [original["id"]],
            "similarity": 0.95,
        }
        # Its words are the original's: no new ones to count.
        return Generated(out, template=(source_n % len(self.templates)))

    def serialise(self, made: Generated) -> str:
        """``json.dumps(made.doc)`` in effect (the same object once parsed), at a third of its
        cost: the template's unchanged fields are serialised once, the vector by one format."""
        if made.template is None:
            return json.dumps(made.doc, ensure_ascii=False)
        static = self._static.get(made.template)
        if static is None:
            template = self.templates[made.template]
            kept = {k: v for k, v in template.items() if k not in DYNAMIC}
            static = self._static[made.template] = json.dumps(kept, ensure_ascii=False)[1:-1]
        changed = {k: v for k, v in made.doc.items() if k in DYNAMIC and k != "embedding"}
        vector = _VECTOR_FORMAT % tuple(made.doc["embedding"])
        head = json.dumps(changed, ensure_ascii=False)[:-1]
        return f'{head},"embedding":[{vector}]{"," if static else ""}{static}}}'

    def _stamp(self, out: dict[str, Any], n: int, published: Any) -> None:
        template_url = out.get("url") or "https://bench.invalid/article"
        out["url"] = f"{template_url.rstrip('/')}/gen-{self.seed}-{n}"
        out["id"] = article_id(url=out["url"], source=None, title=None, body="")
        out["published_at"] = published.isoformat()
        out["published_at_source"] = "given"
        out["received_at"] = (published + timedelta(minutes=5)).isoformat()
        out["indexed_at"] = out["received_at"]
        out["revision"] = 1
        out["content_hash"] = hashlib.sha256(out["id"].encode()).hexdigest()


# --- statistics of a generated index ----------------------------------------------------------


@dataclass
class Tally:
    """Distinct body words as documents are added (Heaps' curve), and the exact nearest
    neighbours of a sample of query vectors (brute force over every document's vector)."""

    base_words: int  # the corpus's own distinct words (every template is used from n = size on)
    queries: np.ndarray  # (q, 384) unit vectors
    k: int = 10
    docs: int = 0
    synthetic: set[int] = field(default_factory=set)
    curve: list[tuple[int, int]] = field(default_factory=list)
    best_scores: np.ndarray = field(init=False)
    best_ids: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        count = len(self.queries)
        self.best_scores = np.full((count, self.k), -np.inf, dtype=np.float32)
        self.best_ids = np.full((count, self.k), "", dtype=object)

    @property
    def distinct_words(self) -> int:
        return self.base_words + len(self.synthetic)

    def add(self, ids: Sequence[str], vectors: np.ndarray, synthetic: Sequence[int]) -> None:
        before = self.docs
        self.docs += len(ids)
        self.synthetic.update(synthetic)
        # Checkpoints at 1, 2 and 5 times each power of ten, and the end.
        for power in range(3, 8):
            for step in (1, 2, 5):
                mark = step * 10**power
                if before < mark <= self.docs:
                    self.curve.append((mark, self.distinct_words))
        if not len(self.queries) or not len(ids):
            return
        scores = self.queries @ vectors.T.astype(np.float32)  # (q, m)
        candidates = np.concatenate([self.best_scores, scores], axis=1)
        names = np.concatenate(
            [self.best_ids, np.tile(np.asarray(ids, dtype=object), (len(self.queries), 1))], axis=1
        )
        top = np.argsort(-candidates, axis=1, kind="stable")[:, : self.k]
        self.best_scores = np.take_along_axis(candidates, top, axis=1)
        self.best_ids = np.take_along_axis(names, top, axis=1)

    def exact_neighbours(self) -> list[list[str]]:
        return [[str(i) for i in row if i] for row in self.best_ids]


def heaps_beta(curve: Sequence[tuple[int, int]]) -> float | None:
    """The exponent of V = K n^beta fitted (least squares on logs) to (documents, distinct
    words) points; None with fewer than two."""
    points = [(n, v) for n, v in curve if n > 0 and v > 0]
    if len(points) < 2:
        return None
    x = np.log([n for n, _ in points])
    y = np.log([v for _, v in points])
    slope = float(np.polyfit(x, y, 1)[0])
    return round(slope, 3)


def recall_at_k(
    found: Sequence[Sequence[str]], exact: Sequence[Sequence[str]], k: int = 10
) -> float:
    """Mean share of each query's exact top ``k`` that the search's top ``k`` holds."""
    shares = [
        len(set(got[:k]) & set(want[:k])) / len(want[:k])
        for got, want in zip(found, exact, strict=True)
        if want
    ]
    return sum(shares) / len(shares) if shares else float("nan")
