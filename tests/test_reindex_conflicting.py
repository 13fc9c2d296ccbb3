"""A conflicting mapping change, end to end: the live index is of an older ``INDEX_VERSION``
whose mapping the code's cannot be put on (a field's type differs). Workers on today's code keep
writing to it; `newsroom reindex` (the command, in a process of its own, holding no mapping)
builds the new version beside it from the index template the workers published, searches and
ingest go on, and one alias switch moves readers and writers to it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from elasticsearch import BadRequestError

from shared.clients import get_elasticsearch
from shared.index import (
    INDEX_VERSION,
    create_index,
    index_behind,
    index_name,
    template_meta,
)
from shared.settings import Settings
from tests.conftest import ROOT, wait_until
from tests.reindex_support import (
    Drill,
    SearchLoop,
    all_indexed,
    article,
    lane_env,
    post,
    post_one_by_one,
    reindex_drill,
    stored,
)
from worker.enrich.registry import ENRICHMENT_VERSION, article_mappings

BEFORE = 10  # articles indexed into the old version
DURING = 8  # articles posted while the command runs
OLD_VERSION = INDEX_VERSION - 1
CHANGED = "reading_time_minutes"  # an integer today; a float in the old version
ADDED = "word_count"  # not in the old version: today's workers add it there


def _old_mappings() -> dict[str, Any]:
    """Today's mapping with one field of another type (putting today's on it is refused) and
    one field fewer."""
    mappings = article_mappings()
    properties = mappings["properties"] | {CHANGED: {"type": "float"}}
    mappings["properties"] = {name: field for name, field in properties.items() if name != ADDED}
    mappings["_meta"] = {"index_version": OLD_VERSION}
    return mappings


def _create_old_version(own: Settings) -> None:
    es = get_elasticsearch(own)
    old = index_name(own, version=OLD_VERSION)
    aliases = {own.articles_alias: {}, own.articles_write_alias: {"is_write_index": True}}
    create_index(es, own, old, aliases, _old_mappings())
    # The conflict is real: what `ensure_index` used to do at every start fails on it.
    with pytest.raises(BadRequestError, match=CHANGED):
        es.indices.put_mapping(index=own.articles_write_alias, **article_mappings())


def _template_published(drill: Drill) -> None:
    """Workers publish their template as they start, before any article: a quiet system can
    be reindexed too."""
    es = get_elasticsearch(drill.settings)
    wait_until(lambda: template_meta(es, drill.settings), timeout_s=60)


def _newsroom(own: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The `newsroom` command line, in a process of its own, working in the drill's lane."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env=lane_env(own),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def drill(
    services: None, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Drill]:
    with reindex_drill(
        settings,
        tmp_path_factory.mktemp("conflict"),
        "conflict",
        before=BEFORE,
        prepare=_create_old_version,
        started=_template_published,
    ) as drill:
        yield drill


def test_a_conflicting_change_is_built_beside_the_old_version_and_switched(
    drill: Drill,
) -> None:
    own = drill.settings
    es = get_elasticsearch(own)
    old = index_name(own, version=OLD_VERSION)
    # Today's workers wrote into the old version without changing its fields (they added the
    # one it lacked), said so, and published today's mapping as the template of their version.
    assert index_behind(es, own.articles_write_alias) == old
    assert set(stored(drill, old)) == set(drill.accepted)
    old_fields = es.indices.get_mapping(index=old)[old]["mappings"]["properties"]
    assert old_fields[CHANGED] == {"type": "float"}
    assert old_fields[ADDED] == {"type": "integer"}
    assert (
        f"is v{OLD_VERSION}, behind the code's v{INDEX_VERSION}: its fields are left as they "
        f"are (added those it lacked: {ADDED})"
    ) in drill.worker_log.read_text()
    assert template_meta(es, own) == {
        "index_version": INDEX_VERSION,
        "enrichment_version": ENRICHMENT_VERSION,
    }

    searches = SearchLoop(drill.web, BEFORE)
    searches.start()
    during: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        poster = pool.submit(post_one_by_one, drill, DURING, during)
        result = _newsroom(own, "reindex", "--timeout", "120")
        poster.result(timeout=120)
    all_indexed(drill, during)
    time.sleep(0.5)
    searches.finish()

    assert result.returncode == 0, result.stdout + result.stderr
    new = index_behind(es, own.articles_alias)
    assert new is not None
    assert new.startswith(f"{index_name(own)}-")
    assert f"from {old} to {new}" in result.stdout
    # One switch moved readers and writers; the rebuild alias is gone; the old version is kept.
    assert index_behind(es, own.articles_write_alias) == new
    assert index_behind(es, own.articles_next_alias) is None
    assert es.indices.exists(index=old)
    # Searches answered throughout, every one with hits.
    assert searches.searches > 20
    assert searches.failures == []

    # The new index has the new mapping, the old one its own.
    mappings = es.indices.get_mapping(index=f"{new},{old}")
    assert mappings[new]["mappings"]["properties"][CHANGED] == {"type": "integer"}
    assert mappings[new]["mappings"]["_meta"]["index_version"] == INDEX_VERSION
    assert mappings[old]["mappings"]["properties"][CHANGED] == {"type": "float"}
    # Every article, those posted during the rebuild too, is in it, enriched by today's code.
    documents = stored(drill, new)
    assert set(documents) == set(drill.accepted)
    assert set(during) <= set(documents)
    for document in documents.values():
        assert document["enrichment"]["version"] == ENRICHMENT_VERSION
        assert isinstance(document[CHANGED], int)
        assert document[ADDED] > 0

    # After the switch, articles keep arriving, into the new version.
    (late,) = post(drill, [article(0, "after")])
    all_indexed(drill, [late])
    assert late in stored(drill, new)


def test_the_command_refuses_without_a_template_of_its_version(
    services: None, settings: Settings
) -> None:
    """Without a worker of this version, nothing says what the new mapping is: no index is
    made and the live one is untouched."""
    own = settings.model_copy(update={"index_prefix": f"{settings.index_prefix}-untemplated"})
    es = get_elasticsearch(own)
    old = index_name(own, version=OLD_VERSION)
    _create_old_version(own)
    try:
        result = _newsroom(own, "reindex")
        assert result.returncode != 0
        assert "start a worker of this version first" in result.stderr
        assert list(es.indices.get(index=f"{own.index_prefix}-*")) == [old]
        assert index_behind(es, own.articles_alias) == old
    finally:
        es.indices.delete(index=old)
