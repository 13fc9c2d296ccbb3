"""The pure parts of story assignment (shared/stories_assign.py): what an article brings, the
scores, and the decisions of a batch given what the index returned. Against Redis and
Elasticsearch: tests/test_stories.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from shared.stories_assign import (
    MAX_KEYS_PER_KIND,
    StoryParams,
    _decide,
    _Story,
    cosine,
    features,
    idf,
    joins,
    merges,
    overlap,
    seen_at,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PARAMS = StoryParams()


def _unit(*head: float) -> list[float]:
    vector = np.zeros(384)
    vector[: len(head)] = head
    return list(vector / np.linalg.norm(vector))


def _doc(article_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": article_id, "body": "b", "received_at": "2026-12-01T10:00:00+00:00", **fields}


def test_seen_at_is_the_publication_unless_it_is_missing_or_in_the_future() -> None:
    assert seen_at(_doc("a", published_at="2026-11-30T08:00:00Z"), NOW).isoformat() == (
        "2026-11-30T08:00:00+00:00"
    )
    assert seen_at(_doc("a", published_at="2026-11-29"), NOW).isoformat() == (
        "2026-11-29T00:00:00+00:00"
    )
    received = "2026-12-01T10:00:00+00:00"
    assert seen_at(_doc("a", published_at="2027-01-01"), NOW).isoformat() == received
    assert seen_at(_doc("a", published_at="soon"), NOW).isoformat() == received
    assert seen_at(_doc("a", published_at=None), NOW).isoformat() == received
    assert seen_at({"id": "a"}, NOW) == NOW


def test_features_are_capped_and_keyed() -> None:
    doc = _doc(
        "a",
        people=[f"Person {n}" for n in range(500)],
        organisations=["ACME", "acme ", 7],
        keywords=["x" * 10_000],
        places=[
            {"name": "Dover", "geonameid": 2651048},
            {"name": "Dover, again", "geonameid": 2651048},
            {"name": "Atlantis"},
            "junk",
        ],
        embedding=_unit(3.0, 4.0),
        duplicates={"cluster_id": "b"},
    )
    found = features(doc, NOW)
    assert len(found.people) == MAX_KEYS_PER_KIND
    assert found.keys["org:acme"] == "org"
    assert "place:g2651048" in found.keys
    assert "place:atlantis" in found.keys
    assert len(found.places) == 2
    assert all(len(key) < 220 for key in found.keys)
    assert found.cluster == "b"
    assert found.vector is not None
    assert abs(float(np.linalg.norm(found.vector)) - 1.0) < 1e-6
    assert features(_doc("a", duplicates={"cluster_id": "a"}), NOW).cluster is None
    for bad in ([0.0] * 384, [float("inf")] * 384, [1.0] * 3, "vector", ["x"] * 384):
        assert features(_doc("a", embedding=bad), NOW).vector is None


def test_scores() -> None:
    assert idf(1, 1000) > idf(100, 1000) > idf(1000, 1000) >= 0.1
    weights = {"person:a": 2.0, "place:b": 1.0, "keyword:c": 1.0}
    assert overlap(weights, ["person:a", "keyword:c", "person:z"]) == 0.75
    assert overlap({}, ["person:a"]) == 0.0
    a = np.asarray(_unit(1.0), dtype=np.float32)
    centroid = np.asarray(_unit(1.0), dtype=np.float32) * 3
    assert abs(cosine(a, centroid) - 1.0) < 1e-6
    assert cosine(None, centroid) == 0.0
    assert cosine(a, None) == 0.0
    # The same people and places, little in common in meaning: no join.
    assert not joins(0.3, 1.0, PARAMS)
    # Similar in meaning with some entities: joins; a near miss on both does not.
    assert joins(0.6, 0.3, PARAMS)
    assert not joins(0.52, 0.1, PARAMS)
    assert merges(0.8, 0.5, PARAMS)
    assert not merges(0.5, 1.0, PARAMS)


def _decide_batch(
    docs: list[dict[str, Any]],
    known: dict[str, _Story] | None = None,
    holders: dict[str, list[tuple[str, float]]] | None = None,
    cluster_story: dict[str, Any] | None = None,
) -> Any:
    batch = sorted((features(doc, NOW) for doc in docs), key=lambda a: a.seen_at)
    holders = holders or {}
    known = known if known is not None else {}
    weights = {a.article_id: dict.fromkeys(a.keys, 1.0) for a in batch}
    candidates = {
        a.article_id: sorted({s for key in a.keys for s, _ in holders.get(key, [])}) for a in batch
    }
    return _decide(
        batch,
        {a.article_id: None for a in batch},
        candidates,
        holders,
        cluster_story or {},
        weights,
        known,
        PARAMS,
    )


def test_a_batch_groups_its_own_articles_and_keeps_namesakes_apart() -> None:
    same = {"people": ["Helen Marsh"], "keywords": ["Channel Star"]}
    result = _decide_batch(
        [
            _doc("a", embedding=_unit(1.0, 0.2), **same),
            _doc("b", embedding=_unit(1.0, 0.3), **same),
            _doc("c", embedding=_unit(0.0, 0.0, 1.0), **same),  # the same names, other news
            _doc("d", embedding=_unit(1.0, 0.25)),  # no keys: never a candidate
        ]
    )
    stories = {i: a.story_id for i, a in result.assignments.items()}
    assert stories == {"a": "sa", "b": "sa", "c": "sc", "d": "sd"}
    assert result.assignments["a"].similarity is None
    assert result.assignments["b"].similarity > 0.9
    assert result.merges == {}


def test_an_article_matching_two_stories_merges_the_smaller_into_the_larger() -> None:
    big, small = _Story(id="sbig"), _Story(id="small")
    for story, n in ((big, 3), (small, 1)):
        for i in range(n):
            story.add(
                features(
                    _doc(f"{story.id}{i}", embedding=_unit(1.0, 0.1), people=["Helen Marsh"]),
                    NOW,
                )
            )
    holders = {"person:helen marsh": [("sbig", NOW.timestamp()), ("small", NOW.timestamp())]}
    result = _decide_batch(
        [_doc("x", embedding=_unit(1.0, 0.1), people=["Helen Marsh"])],
        known={"sbig": big, "small": small},
        holders=holders,
    )
    assert result.assignments["x"].story_id == "sbig"
    assert result.merges == {"small": "sbig"}
    assert small.merged_into == "sbig"
    assert big.article_count == 5
    assert big.merged == ["small"]


def test_a_near_duplicate_joins_its_clusters_story_whatever_its_score() -> None:
    known = {"sfirst": _Story(id="sfirst")}
    known["sfirst"].add(features(_doc("first", embedding=_unit(1.0)), NOW))
    result = _decide_batch(
        [_doc("copy", embedding=_unit(0.0, 1.0), duplicates={"cluster_id": "first"})],
        known=known,
        cluster_story={"first": "sfirst"},
    )
    assert result.assignments["copy"].story_id == "sfirst"


def test_the_time_window_keeps_old_stories_out() -> None:
    old = _Story(id="sold")
    old.add(
        features(
            _doc("old", published_at="2026-10-01", embedding=_unit(1.0), people=["Helen Marsh"]),
            NOW,
        )
    )
    holders = {"person:helen marsh": [("sold", old.last)]}
    result = _decide_batch(
        [_doc("new", embedding=_unit(1.0), people=["Helen Marsh"])],
        known={"sold": old},
        holders=holders,
    )
    assert result.assignments["new"].story_id == "snew"


def test_a_story_keeps_bounded_counts() -> None:
    story = _Story(id="s")
    for n in range(100):
        places = [{"name": f"Place {n}", "geonameid": n}, {"name": "Dover", "geonameid": 1}]
        story.add(features(_doc(f"a{n}", people=[f"P{n}", "Helen Marsh"], places=places), NOW))
    assert len(story.counts["people"]) == len(story.counts["places"]) == 30
    assert len(story.place_info) <= 30
    assert story.top("people")[0] == ("Helen Marsh", 100)
    fields = story.fields()
    assert fields["article_count"] == "100"
    assert '"name":"Dover","count":100' in fields["places"]
