"""Near-duplicate detection: the pure parts, then the shared index against the real Redis
(database 14, a prefix of its own per test, removed afterwards)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from worker.enrich.duplicates import (
    DEFAULT_PARAMS,
    MIN_WORDS,
    NUM_PERM,
    THRESHOLD,
    DuplicateInfo,
    LshParams,
    assign_clusters,
    content_fingerprint,
    estimated_jaccard,
    minhash_signature,
    prepare,
    shingles,
    words,
)

ORIGINAL = (
    "The European Central Bank left interest rates unchanged on Thursday but signalled that it "
    "could start cutting borrowing costs as early as June, as inflation in the euro zone keeps "
    "falling toward its 2% target. ECB President Christine Lagarde told reporters in Frankfurt "
    "that the governing council had discussed a cut but that most members wanted to see more "
    'data on wages before acting. "We are not there yet, but we are making progress," she '
    "said. Inflation in the 20 countries that share the euro fell to 2.4% in March, its lowest "
    "level in more than two years, while economic growth has been close to zero for five "
    "quarters. Markets had priced in a first cut in June and three in total this year, and the "
    "euro weakened slightly against the dollar after the decision. Some policymakers, "
    "including the central bank governors of France and Italy, have argued publicly for an "
    "earlier move, warning that keeping rates at a record high for too long risks damaging the "
    "economy. Others, led by Germany's Bundesbank, have urged caution, saying that services "
    "inflation remains stubborn and that a premature cut could force the bank to reverse "
    "course. The ECB raised its deposit rate ten times between July 2022 and September 2023 to "
    "fight the worst bout of inflation since the euro was introduced. The bank will publish "
    "new economic projections at its next meeting, which analysts expect to confirm the "
    "decline in price pressures."
)

# How another outlet runs the same wire story: new lede, last sentence trimmed, two words
# changed, a credit line added, reflowed into paragraphs.
EDITED = (
    "Euro zone rates stay on hold as ECB eyes June cut, officials said. ECB President "
    "Christine Lagarde told reporters in Frankfurt that the governing council had discussed a "
    'cut but that most members wanted to see more data on wages before acting.\n\n"We are not '
    'there yet, but we are making progress," she says. Inflation in the 20 countries that '
    "share the euro fell to 2.4% in March, its lowest level in over two years, while economic "
    "growth has been close to zero for five quarters. Markets had priced in a first cut in "
    "June and three in total this year, and the euro weakened slightly against the dollar "
    "after the decision.\n\nSome policymakers, including the central bank governors of France "
    "and Italy, have argued publicly for an earlier move, warning that keeping rates at a "
    "record high for too long risks damaging the economy. Others, led by Germany's "
    "Bundesbank, have urged caution, saying that services inflation remains stubborn and that "
    "a premature cut could force the bank to reverse course. The ECB raised its deposit rate "
    "ten times between July 2022 and September 2023 to fight the worst bout of inflation "
    "since the euro was introduced.\n\n(Reporting by Jane Smith; editing by Tom Brown)"
)

# The same facts written up independently: the same story, not a copy (a hard negative).
SAME_STORY = (
    "Frankfurt - The European Central Bank kept its key rates at record highs on Thursday. "
    "Christine Lagarde, who heads the bank, said a reduction had been discussed by some "
    "members of the governing council, but the majority preferred to wait for wage figures. "
    "Euro area inflation slowed to 2.4% last month, the lowest in over two years. Investors "
    "now bet on a first reduction in June. Policymakers from France and Italy have pushed for "
    "an early cut, while the German Bundesbank has warned that services prices are still "
    "rising too fast. The ECB lifted its deposit rate ten times from mid-2022 onwards."
)

UNRELATED = (
    "Heavy snow closed dozens of mountain roads in the Alps on Sunday and left thousands of "
    "skiers stranded in resorts in Switzerland and Austria, local authorities said. Avalanche "
    "warnings were raised to the highest level in several valleys, and rail services between "
    "Zurich and Milan were suspended for most of the day. Forecasters expect another metre of "
    "snow at higher altitudes before the weather clears on Tuesday. Rescue teams airlifted two "
    "hikers who had been caught in a snowdrift near the Italian border; both were taken to "
    "hospital with mild hypothermia. Resort operators said most lifts would stay closed until "
    "the avalanche risk falls."
)


def _reformatted(text: str) -> str:
    """An exact re-post: only case, whitespace, line breaks, quote and dash style differ."""
    return "  " + text.replace(". ", ".\n\n").replace('"', "“").replace("'", "’").upper() + "\n"


# --- pure parts --------------------------------------------------------------------------------


def test_words_fold_case_punctuation_and_unicode_forms() -> None:
    assert words("The ECB’s  rate\u00a0CUT—“soon”…") == ["the", "ecb", "s", "rate", "cut", "soon"]
    assert words("ﬁnance Ｆｕｌｌ") == ["finance", "full"]  # compatibility forms fold
    assert words("  \n ") == []


def test_shingles_are_overlapping_word_trigrams() -> None:
    assert shingles(["a", "b", "c", "d"]) == {"a b c", "b c d"}
    assert shingles(["a", "b"]) == {"a b"}
    assert shingles([]) == set()


def test_fingerprint_ignores_formatting_but_not_words() -> None:
    assert content_fingerprint(_reformatted(ORIGINAL)) == content_fingerprint(ORIGINAL)
    assert content_fingerprint(ORIGINAL.replace("Thursday", "Friday")) != content_fingerprint(
        ORIGINAL
    )
    assert len(content_fingerprint(ORIGINAL)) == 32


def test_signature_estimates_jaccard() -> None:
    original, edited = minhash_signature(ORIGINAL), minhash_signature(EDITED)
    assert len(original) == NUM_PERM
    a, b = set(shingles(words(ORIGINAL))), set(shingles(words(EDITED)))
    exact = len(a & b) / len(a | b)
    assert abs(original.jaccard(edited) - exact) < 0.12
    assert original.jaccard(minhash_signature(_reformatted(ORIGINAL))) == 1.0
    assert original.jaccard(minhash_signature(UNRELATED)) < 0.1
    assert original.jaccard(minhash_signature(SAME_STORY)) < THRESHOLD


def test_signature_is_the_same_in_every_process() -> None:
    """Workers compare signatures made by other processes: no per-process hash seed."""
    code = (
        "from worker.enrich.duplicates import minhash_signature; import sys; "
        "print(list(minhash_signature(sys.stdin.read()).hashvalues[:16]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            input=ORIGINAL,
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        for _ in range(2)
    }
    assert outputs == {str(list(minhash_signature(ORIGINAL).hashvalues[:16])) + "\n"}


def test_prepare_skips_texts_too_short_to_judge() -> None:
    short = prepare("x", " ".join(["word"] * (MIN_WORDS - 1)))
    assert short.fingerprint is None
    assert short.signature is None
    full = prepare("y", ORIGINAL)
    assert full.signature is not None
    assert estimated_jaccard(full.signature, full.signature) == 1.0


def test_default_banding_is_the_computed_optimum() -> None:
    assert LshParams.for_threshold(THRESHOLD, NUM_PERM) == DEFAULT_PARAMS
    signature = prepare("x", ORIGINAL).signature
    assert signature is not None
    band_keys = DEFAULT_PARAMS.band_keys(signature)
    assert len(band_keys) == DEFAULT_PARAMS.bands == len(set(band_keys))
    assert DEFAULT_PARAMS.bands * DEFAULT_PARAMS.rows <= NUM_PERM


def test_fields_are_json_safe() -> None:
    info = DuplicateInfo("a", duplicate_of="a", near_duplicates=["a", "b"], similarity=0.8671875)
    fields = info.as_fields()
    assert json.loads(json.dumps(fields)) == {
        "cluster_id": "a",
        "duplicate_of": "a",
        "near_duplicates": ["a", "b"],
        "similarity": 0.8672,
    }


# --- the shared index, on the real Redis ---------------------------------------------------------


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    url = os.environ.get("NEWSROOM_TEST_DUPLICATES_REDIS_URL", "redis://127.0.0.1:6379/14")
    connection = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
    try:
        connection.ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis not reachable at {url} ({error}); run the tests with `make test`")
    yield connection
    connection.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    name = f"test-dup-{uuid.uuid4().hex[:10]}"
    yield name
    keys = list(client.scan_iter(f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    assert not list(client.scan_iter(f"{name}:*", count=1000))


def _assign(
    client: redis.Redis, prefix: str, *articles: tuple[str, str]
) -> dict[str, DuplicateInfo]:
    return assign_clusters(list(articles), redis_client=client, prefix=prefix)


def test_exact_repost_is_recognised(client: redis.Redis, prefix: str) -> None:
    _assign(client, prefix, ("wire", ORIGINAL))
    found = _assign(client, prefix, ("repost", _reformatted(ORIGINAL)))["repost"]
    assert found.duplicate_of == "wire"
    assert found.cluster_id == "wire"
    assert found.near_duplicates == ["wire"]
    assert found.similarity == 1.0


def test_edited_copy_joins_the_cluster(client: redis.Redis, prefix: str) -> None:
    _assign(client, prefix, ("wire", ORIGINAL))
    found = _assign(client, prefix, ("copy", EDITED))["copy"]
    assert found.cluster_id == "wire"
    assert found.duplicate_of is None
    assert found.near_duplicates == ["wire"]
    assert found.similarity is not None
    assert THRESHOLD <= found.similarity < 1.0


def test_unrelated_and_same_story_articles_stay_apart(client: redis.Redis, prefix: str) -> None:
    _assign(client, prefix, ("wire", ORIGINAL))
    found = _assign(client, prefix, ("snow", UNRELATED), ("rewrite", SAME_STORY))
    for article_id in ("snow", "rewrite"):
        assert found[article_id] == DuplicateInfo(cluster_id=article_id)


def test_cluster_is_the_earliest_article(client: redis.Redis, prefix: str) -> None:
    """A copy of a copy joins the cluster of the first article, not of the copy."""
    _assign(client, prefix, ("wire", ORIGINAL))
    _assign(client, prefix, ("copy", EDITED))
    found = _assign(client, prefix, ("copy-of-copy", EDITED.replace("Jane Smith", "Ali Hassan")))
    assert found["copy-of-copy"].cluster_id == "wire"
    assert found["copy-of-copy"].near_duplicates[0] == "copy"


def test_same_id_again_does_not_match_itself_and_keeps_its_cluster(
    client: redis.Redis, prefix: str
) -> None:
    first = _assign(client, prefix, ("wire", ORIGINAL))["wire"]
    assert first == DuplicateInfo(cluster_id="wire")
    _assign(client, prefix, ("copy", EDITED))
    again = _assign(client, prefix, ("wire", ORIGINAL), ("copy", EDITED))
    assert again["wire"].cluster_id == "wire"
    assert again["wire"].duplicate_of is None
    assert again["wire"].near_duplicates == ["copy"]  # the later copy, never itself
    assert again["copy"].cluster_id == "wire"
    assert again["copy"].near_duplicates == ["wire"]
    # A replayed exact re-post stays a re-post of the first, not of itself.
    _assign(client, prefix, ("repost", _reformatted(ORIGINAL)))
    assert _assign(client, prefix, ("repost", _reformatted(ORIGINAL)))["repost"].duplicate_of == (
        "wire"
    )


def test_changed_text_replaces_the_entry(client: redis.Redis, prefix: str) -> None:
    _assign(client, prefix, ("wire", ORIGINAL))
    corrected = _assign(client, prefix, ("wire", UNRELATED))["wire"]
    assert corrected == DuplicateInfo(cluster_id="wire")
    # The old text is no longer indexed under this id: neither as exact nor as near duplicate.
    old_text = _assign(client, prefix, ("repost", ORIGINAL), ("copy", EDITED))
    assert old_text["repost"].duplicate_of is None
    assert old_text["repost"].cluster_id == "repost"
    assert old_text["repost"].near_duplicates == ["copy"]
    assert old_text["copy"].cluster_id == "repost"
    assert old_text["copy"].near_duplicates == ["repost"]
    # The new text is.
    new_text = _assign(client, prefix, ("snow-repost", _reformatted(UNRELATED)))["snow-repost"]
    assert new_text.duplicate_of == "wire"
    assert new_text.cluster_id == "wire"


def test_articles_in_one_batch_match_each_other(client: redis.Redis, prefix: str) -> None:
    found = _assign(
        client,
        prefix,
        ("wire", ORIGINAL),
        ("copy", EDITED),
        ("repost", _reformatted(ORIGINAL)),
        ("snow", UNRELATED),
    )
    assert found["wire"].cluster_id == "wire"
    assert found["wire"].duplicate_of is None
    assert found["wire"].near_duplicates == ["repost", "copy"]  # listed both ways in a batch
    assert found["copy"].cluster_id == "wire"
    assert found["copy"].near_duplicates == ["repost", "wire"]  # equally similar: by id
    assert found["repost"].duplicate_of == "wire"
    assert found["repost"].cluster_id == "wire"
    assert found["snow"] == DuplicateInfo(cluster_id="snow")


def test_replaying_a_batch_gives_the_same_clusters(client: redis.Redis, prefix: str) -> None:
    batch = [("wire", ORIGINAL), ("copy", EDITED), ("snow", UNRELATED)]
    first = assign_clusters(batch, redis_client=client, prefix=prefix)
    again = assign_clusters(batch, redis_client=client, prefix=prefix)
    assert {k: v.cluster_id for k, v in again.items()} == {
        k: v.cluster_id for k, v in first.items()
    }
    assert again["wire"].near_duplicates == ["copy"]


def test_an_empty_batch_touches_nothing(client: redis.Redis, prefix: str) -> None:
    assert assign_clusters([], redis_client=client, prefix=prefix) == {}
    assert not list(client.scan_iter(f"{prefix}:*", count=1000))


def test_short_texts_are_their_own_cluster(client: redis.Redis, prefix: str) -> None:
    found = _assign(client, prefix, ("a", "View Comments"), ("b", "View comments."))
    assert found == {"a": DuplicateInfo(cluster_id="a"), "b": DuplicateInfo(cluster_id="b")}


def test_concurrent_workers_put_copies_in_one_cluster(client: redis.Redis, prefix: str) -> None:
    """Workers holding copies of the same story at the same moment: the optimistic lock makes
    the later ones see the first, so there is one cluster, not one per worker."""
    copies = [EDITED.replace("Jane Smith", name) for name in ("A", "B", "C", "D", "E", "F")]
    start = threading.Barrier(len(copies), timeout=30)
    results: dict[str, DuplicateInfo] = {}

    def work(index: int) -> dict[str, DuplicateInfo]:
        own = redis.Redis(connection_pool=client.connection_pool)
        start.wait()
        return assign_clusters([(f"copy{index}", copies[index])], redis_client=own, prefix=prefix)

    # Futures, so a thread's exception fails the test (a bare Thread would only warn).
    with ThreadPoolExecutor(len(copies)) as pool:
        futures = [pool.submit(work, i) for i in range(len(copies))]
        for future in futures:
            results.update(future.result(timeout=60))
    assert len(results) == len(copies)
    assert len({info.cluster_id for info in results.values()}) == 1
    founder = next(iter(results.values())).cluster_id
    assert results[founder] == DuplicateInfo(cluster_id=founder)


def test_ttl_applies_to_every_key(client: redis.Redis, prefix: str) -> None:
    assign_clusters([("wire", ORIGINAL)], redis_client=client, prefix=prefix, ttl_s=3600)
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    assert len(keys) == DEFAULT_PARAMS.bands + 2  # buckets, the entry, the fingerprint
    assert all(0 < int(client.ttl(key)) <= 3600 for key in keys)
