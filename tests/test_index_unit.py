"""The index package's pure parts: composing the mapping, reading an index's version."""

from __future__ import annotations

import pytest

from shared.index import (
    CORE_PROPERTIES,
    INDEX_VERSION,
    article_mappings,
    index_name,
    index_version,
    merge_properties,
)
from shared.settings import Settings


def test_the_mapping_is_strict_and_says_what_it_is_for() -> None:
    mappings = article_mappings(
        {"word_count": {"type": "integer"}}, ("language", "nlp"), enrichment_version="7"
    )
    assert mappings["dynamic"] == "strict"
    assert mappings["_meta"] == {"index_version": INDEX_VERSION, "enrichment_version": "7"}
    assert mappings["properties"]["word_count"] == {"type": "integer"}
    assert set(CORE_PROPERTIES) < set(mappings["properties"])
    models = mappings["properties"]["enrichment"]["properties"]["models"]["properties"]
    assert models == {"language": {"type": "keyword"}, "nlp": {"type": "keyword"}}
    # The core's own enrichment fields are kept beside the models.
    assert "version" in mappings["properties"]["enrichment"]["properties"]
    assert "enrichment_version" not in article_mappings()["_meta"]


def test_a_field_declared_twice_must_be_the_same() -> None:
    base = {"a": {"type": "keyword"}, "o": {"properties": {"x": {"type": "integer"}}}}
    assert merge_properties(base, {"a": {"type": "keyword"}}) == base
    merged = merge_properties(base, {"o": {"properties": {"y": {"type": "date"}}}})
    assert merged["o"] == {"properties": {"x": {"type": "integer"}, "y": {"type": "date"}}}
    with pytest.raises(ValueError, match="field a declared twice"):
        merge_properties(base, {"a": {"type": "text"}})
    with pytest.raises(ValueError, match=r"field o\.x declared twice"):
        merge_properties(base, {"o": {"properties": {"x": {"type": "float"}}}})
    with pytest.raises(ValueError, match="field o declared twice"):
        merge_properties(base, {"o": {"type": "nested", "properties": {}}})
    assert base == {"a": {"type": "keyword"}, "o": {"properties": {"x": {"type": "integer"}}}}


def test_an_index_version_is_read_from_its_name() -> None:
    settings = Settings(index_prefix="news")
    assert index_version(settings, index_name(settings)) == INDEX_VERSION
    assert index_version(settings, index_name(settings, 0, build="20261201120000")) == 0
    assert index_version(settings, "news-articles-v12-concurrent") == 12
    assert index_version(settings, "news-other-articles-v1") is None
    assert index_version(settings, "newsroom-articles-v1") is None
