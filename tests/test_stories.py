"""Stories at index time (issue 17) on the real Redis and Elasticsearch: the worker's
``process_batch`` (every enrichment step, near-duplicates, names, then stories), run directly.
The assigner itself: shared/stories_assign.py; its pure parts: tests/test_stories_unit.py."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from shared.article import ArticlePayload
from shared.clients import get_elasticsearch, get_redis
from shared.schema import ArticleIn, to_payload
from shared.settings import Settings
from shared.stories import read_story, resolve
from shared.stories_assign import MAX_KEYS_PER_KIND, StoryParams, assign
from tests.conftest import drop_data
from worker.pipeline import process_batch

NOW = datetime.now(UTC)

# One event (a ferry sinking) told three times in different words over three days, and an
# unrelated article naming the same person and town.
TEXTS = {
    "ferry1": (
        "Ferry capsizes off Dover with 120 aboard",
        "A passenger ferry carrying 120 people capsized in heavy seas off Dover on Tuesday "
        "night, the Maritime and Coastguard Agency said. Lifeboats from Dover and Folkestone "
        "rescued 97 passengers; coastguard commander Helen Marsh said the search for the "
        "missing would continue through the night. The ferry, the Channel Star, had left "
        "Calais two hours earlier.",
        2,
    ),
    "ferry2": (
        "Divers search wreck of Channel Star",
        "Navy divers on Wednesday reached the overturned Channel Star, the ferry that sank off "
        "the Kent coast near Dover, as hopes faded for 23 passengers still missing. Helen Marsh "
        "of the Maritime and Coastguard Agency told reporters that strong currents had slowed "
        "the search. Survivors described water flooding the car deck minutes after the ferry "
        "left Calais.",
        1,
    ),
    "ferry3": (
        "Channel Star ferry disaster: inquiry ordered",
        "The government ordered an inquiry on Thursday into the sinking of the Channel Star "
        "ferry off Dover, which left 23 passengers missing. Coastguard commander Helen Marsh "
        "said divers had recovered the ship's voyage recorder. The Maritime and Coastguard "
        "Agency said the ferry from Calais capsized after its car deck flooded in heavy seas.",
        0,
    ),
    "bakery": (
        "Helen Marsh opens Dover bakery festival",
        "Helen Marsh cut the ribbon at the annual Dover bread and pastry festival on Saturday, "
        "where forty bakers from Kent competed for the best sourdough loaf. The festival, now "
        "in its tenth year, raised money for a local school library, and the winning baker "
        "took home a trophy shaped like a croissant.",
        1,
    ),
}


@pytest.fixture
def story_settings(services: None, settings: Settings) -> Iterator[Settings]:
    """An index prefix of the test's own (stories are counted per prefix)."""
    own = settings.model_copy(
        update={"index_prefix": f"{settings.index_prefix}-stories-{uuid.uuid4().hex[:6]}"}
    )
    yield own
    drop_data(own)


def _payload(key: str) -> ArticlePayload:
    title, body, days_ago = TEXTS[key]
    article = ArticleIn(
        title=title,
        body=body,
        source="Story Wire",
        url=f"https://example.org/stories/{key}",
        published_at=NOW - timedelta(days=days_ago, hours=1),
    )
    return to_payload(article, content_type="application/json", received_at=NOW)


def _run(settings: Settings, *keys: str) -> list[str]:
    payloads = [_payload(key) for key in keys]
    outcome = process_batch(
        payloads,
        es=get_elasticsearch(settings),
        redis_client=get_redis(settings),
        settings=settings,
    )
    assert sorted(outcome.indexed) == sorted(p["id"] for p in payloads)
    return [p["id"] for p in payloads]


def _stored(settings: Settings, article_id: str) -> dict[str, Any]:
    es = get_elasticsearch(settings)
    es.indices.refresh(index=settings.articles_alias)
    source: dict[str, Any] = es.get(index=settings.articles_alias, id=article_id)["_source"]
    return source


def test_one_event_in_other_words_over_days_shares_a_story_and_namesakes_do_not(
    story_settings: Settings,
) -> None:
    (first,) = _run(story_settings, "ferry1")
    (second,) = _run(story_settings, "ferry2")
    (third, bakery) = _run(story_settings, "ferry3", "bakery")
    docs = {i: _stored(story_settings, i) for i in (first, second, third, bakery)}
    story = docs[first]["story"]
    assert story == {"id": f"s{first}", "similarity": None}  # it started the story
    assert docs[second]["story"]["id"] == story["id"]
    assert docs[third]["story"]["id"] == story["id"]
    assert docs[second]["story"]["similarity"] >= story_settings.story_cosine_floor
    # The same person and town, another event: its own story.
    assert "Helen Marsh" in docs[bakery]["people"]
    assert docs[bakery]["story"] == {"id": f"s{bakery}", "similarity": None}
    # seen_at: the publication date (given, not in the future).
    assert docs[first]["seen_at"] == docs[first]["published_at"]

    redis_client = get_redis(story_settings)
    record = read_story(redis_client, story_settings, story["id"])
    assert record is not None
    assert record["article_count"] == 3
    assert record["first_seen"] == datetime.fromisoformat(docs[first]["seen_at"]).isoformat()
    assert record["last_updated"] == datetime.fromisoformat(docs[third]["seen_at"]).isoformat()
    assert record["sources"] == [{"name": "Story Wire", "count": 3}]
    assert {"name": "Helen Marsh", "count": 3} in record["people"]
    assert any(place["name"] == "Dover" and place["count"] == 3 for place in record["places"])
    assert record["central"] in {first, second, third}
    assert record["title"] == docs[record["central"]]["title"]
    assert redis_client.zscore(f"{story_settings.index_prefix}:story:recent", story["id"])


def test_a_replayed_batch_keeps_its_stories_and_counts_nothing_twice(
    story_settings: Settings,
) -> None:
    ids = _run(story_settings, "ferry1", "ferry2", "bakery")
    before = {i: _stored(story_settings, i)["story"] for i in ids}
    assert before[ids[0]]["id"] == before[ids[1]]["id"] != before[ids[2]]["id"]
    redis_client = get_redis(story_settings)
    count = read_story(redis_client, story_settings, before[ids[0]]["id"])
    _run(story_settings, "ferry1", "ferry2", "bakery")  # the task delivered again
    assert {i: _stored(story_settings, i)["story"]["id"] for i in ids} == {
        i: story["id"] for i, story in before.items()
    }
    assert read_story(redis_client, story_settings, before[ids[0]]["id"]) == count


def test_a_merge_restamps_the_articles_of_the_merged_away_story(story_settings: Settings) -> None:
    (first,) = _run(story_settings, "ferry1")
    # A setting that lets nothing join: the second account starts a story of its own.
    apart = story_settings.model_copy(update={"story_threshold": 2.0, "story_merge_threshold": 2.0})
    (second,) = _run(apart, "ferry2")
    assert _stored(story_settings, second)["story"]["id"] == f"s{second}"
    # The third matches both strongly: the two stories are one.
    (third,) = _run(story_settings, "ferry3")
    redis_client = get_redis(story_settings)
    survivor = resolve(redis_client, story_settings, f"s{first}")
    assert survivor == resolve(redis_client, story_settings, f"s{second}")
    loser = f"s{second}" if survivor == f"s{first}" else f"s{first}"
    for article_id in (first, second, third):
        assert _stored(story_settings, article_id)["story"]["id"] == survivor
    record = read_story(redis_client, story_settings, loser)
    assert record is not None
    assert record["id"] == survivor
    assert record["article_count"] == 3
    assert loser in record["merged"]
    raw = redis_client.hget(f"{story_settings.index_prefix}:story:s:{loser}", "merged_into")
    assert raw == survivor
    assert redis_client.zscore(f"{story_settings.index_prefix}:story:recent", loser) is None
    # The re-stamped documents kept their embedding and version.
    es = get_elasticsearch(story_settings)
    found = es.search(
        index=story_settings.articles_alias,
        query={"ids": {"values": [first, second]}},
        fields=[{"field": "embedding"}],
        version=True,
    )["hits"]["hits"]
    assert all(len(hit["fields"]["embedding"]) in (1, 384) for hit in found)
    assert all(hit["_source"]["revision"] == 1 for hit in found)


def _doc(article_id: str, vector: list[float] | None, **fields: Any) -> dict[str, Any]:
    return {
        "id": article_id,
        "body": fields.pop("body", "text"),
        "received_at": NOW.isoformat(),
        "duplicates": {"cluster_id": article_id},
        **({"embedding": vector} if vector is not None else {}),
        **fields,
    }


def test_hostile_documents_cost_a_bounded_amount(story_settings: Settings) -> None:
    redis_client = get_redis(story_settings)
    prefix = story_settings.index_prefix
    vector = [1.0] + [0.0] * 383
    docs = [
        _doc("a" * 32, None, body=""),  # no embedding, empty body
        _doc("b" * 32, [float("nan")] * 384),  # not a vector
        _doc("c" * 32, [1.0, 2.0]),  # the wrong size
        _doc(
            "d" * 32,
            vector,
            people=[f"Person {n}" for n in range(10_000)],
            organisations=[f"Org {n}" for n in range(10_000)],
            keywords=[f"word {n}" * 500 for n in range(10_000)],
            places=[{"name": f"Place {n}", "geonameid": n} for n in range(10_000)]
            + ["not a place", {"geonameid": 3}],
            published_at="not a date",
            title=None,
        ),
    ]
    started = time.process_time()
    result = assign(docs, redis_client=redis_client, prefix=prefix, params=StoryParams())
    assert time.process_time() - started < 5
    assert {a.story_id for a in result.assignments.values()} == {f"s{doc['id']}" for doc in docs}
    index_keys = list(redis_client.scan_iter(f"{prefix}:story:k:*", count=1000))
    assert len(index_keys) == 4 * MAX_KEYS_PER_KIND
    record = read_story(redis_client, story_settings, "s" + "d" * 32)
    assert record is not None
    assert len(record["people"]) <= 20
    assert len(record["places"]) <= 20
    assert len(redis_client.hget(f"{prefix}:story:s:{'s' + 'd' * 32}", "counts") or "") < 20_000


def test_two_workers_with_one_new_event_end_in_one_story(story_settings: Settings) -> None:
    redis_client = get_redis(story_settings)
    vector = list(np.linspace(1.0, 2.0, 384))
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def work(article_id: str) -> None:
        doc = _doc(article_id, vector, people=["Helen Marsh"], keywords=["Channel Star"])
        barrier.wait()
        found = assign(
            [doc],
            redis_client=redis_client,
            prefix=story_settings.index_prefix,
            params=StoryParams(),
        )
        results[article_id] = found.assignments[article_id].story_id

    threads = [threading.Thread(target=work, args=(c * 32,)) for c in "ef"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    live = {resolve(redis_client, story_settings, story) for story in results.values()}
    assert len(live) == 1
    record = read_story(redis_client, story_settings, live.pop())
    assert record is not None
    assert record["article_count"] == 2


def test_rebuild_assigns_stories_across_the_index_and_reindexing_keeps_them(
    story_settings: Settings,
) -> None:
    from click.testing import CliRunner

    from cli.main import cli
    from shared.index import bulk_index
    from shared.stories_assign import read_with_vectors

    ids = dict(zip(TEXTS, _run(story_settings, *TEXTS), strict=True))
    es = get_elasticsearch(story_settings)
    redis_client = get_redis(story_settings)
    # Documents indexed before stories existed: no story, no seen_at, nothing in Redis.
    es.indices.refresh(index=story_settings.articles_alias)
    docs = read_with_vectors(
        es, story_settings.articles_alias, {"ids": {"values": list(ids.values())}}, size=10
    )
    assert len(docs) == 4
    for doc in docs:
        del doc["story"], doc["seen_at"]
    assert not bulk_index(es, story_settings.articles_write_alias, docs, stamp=False).failed
    for key in redis_client.scan_iter(f"{story_settings.index_prefix}:story:*"):
        redis_client.delete(key)
    assert "story" not in _stored(story_settings, ids["ferry1"])

    result = CliRunner().invoke(cli, ["stories", "rebuild", "--quiet"], obj=story_settings)
    assert result.exit_code == 0, result.output
    assert "4 articles in 2 stories" in result.output
    stored = {key: _stored(story_settings, i) for key, i in ids.items()}
    # In seen_at order, so the oldest account starts the story.
    assert {stored[k]["story"]["id"] for k in ("ferry1", "ferry2", "ferry3")} == {
        f"s{ids['ferry1']}"
    }
    assert stored["bakery"]["story"]["id"] == f"s{ids['bakery']}"
    assert stored["ferry2"]["seen_at"] == stored["ferry2"]["published_at"]
    assert stored["ferry2"]["revision"] == 1
    record = read_story(redis_client, story_settings, f"s{ids['ferry1']}")
    assert record is not None
    assert record["article_count"] == 3

    # A second rebuild starts from a clean namespace: the same stories, counted once.
    again = CliRunner().invoke(cli, ["stories", "rebuild", "--quiet"], obj=story_settings)
    assert again.exit_code == 0, again.output
    assert read_story(redis_client, story_settings, f"s{ids['ferry1']}") == record

    # Re-enrichment (`newsroom reindex` queues payloads marked "rebuild" to process_batch).
    payloads = [_payload(key) | {"rebuild": True} for key in ("bakery", "ferry3")]
    process_batch(payloads, es=es, redis_client=redis_client, settings=story_settings)
    assert _stored(story_settings, ids["ferry3"])["story"]["id"] == f"s{ids['ferry1']}"
    assert _stored(story_settings, ids["bakery"])["story"]["id"] == f"s{ids['bakery']}"


def test_rebuild_refuses_without_an_index(story_settings: Settings) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    result = CliRunner().invoke(cli, ["stories", "rebuild", "--quiet"], obj=story_settings)
    assert result.exit_code == 1
    assert "nothing to rebuild" in result.output


def test_a_taken_down_article_leaves_its_story(story_settings: Settings) -> None:
    from shared.takedown import purge

    first, second = _run(story_settings, "ferry1", "ferry2")
    redis_client = get_redis(story_settings)
    story = f"s{first}"
    record = read_story(redis_client, story_settings, story)
    assert record is not None
    central = record["central"]
    assert record["title"] == _stored(story_settings, central)["title"]
    purge(get_elasticsearch(story_settings), redis_client, story_settings, [central])
    record = read_story(redis_client, story_settings, story)
    assert record is not None
    assert record["title"] == ""  # never the taken-down article's
    assert record["central"] == ""
    assert redis_client.get(f"{story_settings.index_prefix}:story:article:{central}") is None
    # The next article of the story becomes its central one.
    (third,) = _run(story_settings, "ferry3")
    record = read_story(redis_client, story_settings, story)
    assert record is not None
    assert record["central"] == third
    assert record["title"] == TEXTS["ferry3"][0]
    (other,) = {first, second} - {central}
    assert redis_client.get(f"{story_settings.index_prefix}:story:article:{other}") == story


def test_a_corrupt_story_record_does_not_stop_assignment(story_settings: Settings) -> None:
    """A story hash whose numbers or lists do not parse (hand-edited, half-written) is read
    around: the batches that meet it are assigned, never failed (a failing batch would be
    retried and dead-lettered, and every later article of the event with it)."""
    redis_client = get_redis(story_settings)
    prefix = story_settings.index_prefix
    vector = [1.0] + [0.0] * 383
    first = _doc("1" * 32, vector, people=["Helen Marsh"], keywords=["Channel Star"])
    story = assign([first], redis_client=redis_client, prefix=prefix, params=StoryParams())
    story_id = story.assignments["1" * 32].story_id
    redis_client.hset(
        f"{prefix}:story:s:{story_id}",
        mapping={
            "embedded": "x",
            "article_count": "many",
            "merged": "5",
            "counts": '{"counts": {}, "places": [1]}',
        },
    )
    later = _doc("2" * 32, vector, people=["Helen Marsh"], keywords=["Channel Star"])
    found = assign([later, first], redis_client=redis_client, prefix=prefix, params=StoryParams())
    assert found.assignments["1" * 32].story_id == story_id
    assert found.assignments["2" * 32].story_id == story_id
    record = read_story(redis_client, story_settings, story_id)
    assert record is not None
    assert record["article_count"] >= 1


def test_a_taken_down_central_article_whose_article_key_expired_leaves_its_title(
    story_settings: Settings,
) -> None:
    """An article's story key expires (``ttl_s``) while a long story lives on; taken down then,
    its title must still leave the story's record (search and /rising label stories with it)."""
    from shared.takedown import purge

    first, _ = _run(story_settings, "ferry1", "ferry2")
    redis_client = get_redis(story_settings)
    story = f"s{first}"
    record = read_story(redis_client, story_settings, story)
    assert record is not None
    central = record["central"]
    redis_client.delete(f"{story_settings.index_prefix}:story:article:{central}")  # expired
    purge(get_elasticsearch(story_settings), redis_client, story_settings, [central])
    record = read_story(redis_client, story_settings, story)
    assert record is not None
    assert record["title"] == ""
    assert record["central"] == ""


def test_re_enrichment_after_the_story_keys_expired_keeps_the_story(
    story_settings: Settings,
) -> None:
    """`newsroom reindex` of articles older than the story keys' life (``ttl_s``; the inverted
    index lives ``2 * window``): each keeps the story its indexed document carries, instead of
    starting a story of its own."""
    ids = dict(zip(TEXTS, _run(story_settings, "ferry1", "ferry2", "ferry3"), strict=False))
    story = f"s{ids['ferry1']}"
    assert _stored(story_settings, ids["ferry3"])["story"]["id"] == story
    redis_client = get_redis(story_settings)
    for key in list(redis_client.scan_iter(f"{story_settings.index_prefix}:story:*")):
        redis_client.delete(key)  # expired, all of them
    payloads = [_payload(key) | {"rebuild": True} for key in ("ferry3", "ferry2")]
    process_batch(
        payloads,
        es=get_elasticsearch(story_settings),
        redis_client=redis_client,
        settings=story_settings,
    )
    assert _stored(story_settings, ids["ferry3"])["story"]["id"] == story
    assert _stored(story_settings, ids["ferry2"])["story"]["id"] == story
    assert redis_client.get(f"{story_settings.index_prefix}:story:article:{ids['ferry3']}") == story


def test_a_merge_during_a_reindex_restamps_each_index_from_itself(
    story_settings: Settings,
) -> None:
    """While `newsroom reindex` fills a new index (the next alias), a merge re-stamps that
    index's documents, never copies of the live index's (same external version: they would
    overwrite the re-enriched documents with the old enrichment)."""
    from shared.index import bulk_index, ensure_index
    from shared.stories_assign import restamp
    from worker.enrich.registry import article_mappings

    es = get_elasticsearch(story_settings)
    mappings = article_mappings()
    write = ensure_index(es, story_settings, mappings)
    new_index = f"{story_settings.index_prefix}-articles-next-{uuid.uuid4().hex[:6]}"
    es.indices.create(
        index=new_index, mappings=mappings, aliases={story_settings.articles_next_alias: {}}
    )
    article = uuid.uuid4().hex
    old = _doc(article, None, title="Old enrichment", story={"id": "sloser", "similarity": None})
    assert not bulk_index(es, write, [old]).failed
    new = old | {"title": "New enrichment"}
    assert not bulk_index(es, story_settings.articles_next_alias, [new]).failed
    es.indices.refresh(index=f"{write},{new_index}")
    targets = [write, story_settings.articles_next_alias]
    assert restamp(es, story_settings, targets, "sloser", "swinner", limit=10) >= 1
    es.indices.refresh(index=f"{write},{new_index}")
    in_new = es.get(index=new_index, id=article)["_source"]
    in_old = es.get(index=story_settings.articles_alias, id=article)["_source"]
    assert (in_new["title"], in_new["story"]["id"]) == ("New enrichment", "swinner")
    assert (in_old["title"], in_old["story"]["id"]) == ("Old enrichment", "swinner")
    # A rebuild's own batch writes to the new index alone: only it is re-stamped.
    again = _doc(
        uuid.uuid4().hex, None, title="New only", story={"id": "sother", "similarity": None}
    )
    assert not bulk_index(es, story_settings.articles_next_alias, [again]).failed
    es.indices.refresh(index=new_index)
    restamp(es, story_settings, [story_settings.articles_next_alias], "sother", "sthird", limit=10)
    assert es.get(index=new_index, id=again["id"])["_source"]["story"]["id"] == "sthird"


def test_rebuild_refuses_while_a_reindex_fills_a_new_index(story_settings: Settings) -> None:
    """The rebuild reads the live index: writing its documents into the index `newsroom
    reindex` is filling would overwrite re-enriched documents (same external version)."""
    from click.testing import CliRunner

    from cli.main import cli
    from shared.index import bulk_index, ensure_index
    from worker.enrich.registry import article_mappings

    es = get_elasticsearch(story_settings)
    mappings = article_mappings()
    write = ensure_index(es, story_settings, mappings)
    new_index = f"{story_settings.index_prefix}-articles-next-{uuid.uuid4().hex[:6]}"
    es.indices.create(
        index=new_index, mappings=mappings, aliases={story_settings.articles_next_alias: {}}
    )
    article = uuid.uuid4().hex
    old = _doc(article, None, title="Old enrichment")
    assert not bulk_index(es, write, [old]).failed
    assert not bulk_index(
        es, story_settings.articles_next_alias, [old | {"title": "New enrichment"}]
    ).failed
    es.indices.refresh(index=f"{write},{new_index}")
    result = CliRunner().invoke(cli, ["stories", "rebuild", "--quiet"], obj=story_settings)
    assert result.exit_code == 1
    assert "reindex" in result.output
    assert es.get(index=new_index, id=article)["_source"]["title"] == "New enrichment"
