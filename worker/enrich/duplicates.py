"""Near-duplicate detection: exact re-posts by a content fingerprint, edited copies by MinHash
over word 3-gram shingles, found through a banding LSH index in Redis shared by every worker.

Pure part: ``words`` → ``shingles`` → ``minhash_signature``, and ``content_fingerprint``.
Shared part: ``assign_clusters``, called once per batch, gives every article its ``cluster_id``
(the id of the earliest article of its cluster), the article it exactly re-posts, and its near
duplicates. Parameters and their measurement: docs/NEAR_DUPLICATES.md
(``python -m quality.near_duplicates``).

Why not datasketch's Redis storage for the index (checked with datasketch 2.0.0, redis 8.1.0):
its keys are pickled bytes, so it cannot share the project's ``decode_responses=True`` client;
it opens one connection pool per band; a query costs one round trip per band (7.6 ms per query
measured locally, above the whole budget of this step); it keeps no signatures, so candidates
cannot be verified; and its ``remove`` deletes an emptied bucket after checking it, which drops
another worker's concurrent insert into that bucket. The index below does reads and writes for a
whole batch in a few pipelined round trips, under optimistic locking (WATCH/MULTI).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import re
import time
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import version
from typing import Any

import numpy as np
import numpy.typing as npt
import redis
from datasketch import MinHash

from shared.document import Duplicates

log = logging.getLogger(__name__)

Signature = npt.NDArray[np.uint32]

# Word 3-grams: as good as 4- and 5-grams and character shingles at telling edited copies from
# other articles on the same story, and the cheapest to hash (measured in docs/NEAR_DUPLICATES.md).
SHINGLE_WORDS = 3
NUM_PERM = 128
THRESHOLD = 0.5
# Below this many words there is too little text to call anything a duplicate ("-1",
# "View Comments"): such an article gets no fingerprint and no signature, and is its own cluster.
MIN_WORDS = 8
MAX_NEAR_DUPLICATES = 20
# A bucket shared by very many articles (boilerplate) must not make one article cost thousands of
# comparisons: beyond this many candidates, a stable subset is verified.
MAX_CANDIDATES = 200
# Optimistic-locking attempts before a batch is written without the guarantee (see assign).
MAX_ATTEMPTS = 10
# Part of the stored format: changing it (or the hash, shingles, num_perm) makes old signatures
# incomparable, which the key namespace (``LshParams.tag``) takes care of.
SEED = 1
# Shingles hashed per update_batch call (see _minhash).
_HASH_CHUNK = 8_192

_WORD = re.compile(r"\w+")

# KEYS: bucket sets; ARGV[1]: TTL in seconds (0: none); ARGV[1 + i]: the member for KEYS[i].
_ADD_TO_BUCKETS = """
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
    redis.call('SADD', key, ARGV[i + 1])
    if ttl > 0 then redis.call('EXPIRE', key, ttl) end
end
return #KEYS
"""


def words(text: str) -> list[str]:
    """The words of ``text``, compatibility-folded and case-folded; punctuation and whitespace
    only separate words, so restyled quotes, dashes and line breaks change nothing."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(tokens: Sequence[str], size: int = SHINGLE_WORDS) -> set[str]:
    """Overlapping word ``size``-grams (the whole text when it is shorter than that)."""
    if len(tokens) <= size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def content_fingerprint(text: str) -> str:
    """Equal for texts with the same words in the same order, whatever their case, whitespace,
    punctuation or Unicode form: the key for exact re-posts."""
    return _fingerprint(words(text))


def _fingerprint(tokens: Sequence[str]) -> str:
    return hashlib.blake2b(" ".join(tokens).encode(), digest_size=16).hexdigest()


@lru_cache(maxsize=8)
def _permutations(num_perm: int) -> npt.NDArray[np.uint32]:
    # Drawing the permutations costs more than hashing a short article: once per size.
    permutations: npt.NDArray[np.uint32] = MinHash(num_perm=num_perm, seed=SEED).permutations
    permutations.setflags(write=False)
    return permutations


def minhash_signature_of(shingle_set: Iterable[str], num_perm: int = NUM_PERM) -> MinHash:
    """The MinHash of any set of shingles, hashed as the index hashes them."""
    return _minhash(shingle_set, num_perm)


def _minhash(shingle_set: Iterable[str], num_perm: int) -> Any:
    # crc32 is stable across processes (unlike hash()) and a third of SHA-1's cost; datasketch
    # pre-mixes it (MurmurHash3 finaliser) before the permutations.
    minhash = MinHash(
        num_perm=num_perm,
        seed=SEED,
        hashfunc=zlib.crc32,
        permutations=_permutations(num_perm),
        scheme="affine32",
    )
    # update_batch makes (num_perm x shingles) arrays of 64-bit values: 1.9 MB of distinct words
    # (280,000 shingles) took 320 MB at once. Chunk by chunk the minima, so the signature, are
    # the same, and the memory bounded.
    encoded = [shingle.encode() for shingle in shingle_set]
    for start in range(0, len(encoded), _HASH_CHUNK):
        minhash.update_batch(encoded[start : start + _HASH_CHUNK])
    return minhash


def minhash_signature(text: str, num_perm: int = NUM_PERM) -> MinHash:
    """The MinHash of the word shingles of ``text`` (empty text: an empty MinHash)."""
    return _minhash(shingles(words(text)), num_perm)


def estimated_jaccard(a: Signature, b: Signature) -> float:
    return float(np.count_nonzero(a == b)) / float(a.size)


def _encode(signature: Signature) -> str:
    return base64.b64encode(signature.astype("<u4").tobytes()).decode("ascii")


def _decode(value: str | None, num_perm: int) -> Signature | None:
    if not value:
        return None
    signature = np.frombuffer(base64.b64decode(value), dtype="<u4").astype(np.uint32)
    return signature if signature.size == num_perm else None


def _candidate_probability(similarity: npt.NDArray[np.float64], bands: int, rows: int) -> Any:
    return 1.0 - (1.0 - similarity**rows) ** bands


@dataclass(frozen=True)
class LshParams:
    """Signature size, banding and the estimated Jaccard at or above which two articles are
    near duplicates."""

    num_perm: int
    threshold: float
    bands: int
    rows: int

    @classmethod
    def for_threshold(
        cls, threshold: float, num_perm: int = NUM_PERM, miss_weight: float = 0.8
    ) -> LshParams:
        """The banding that minimises the weighted areas of false candidates below the threshold
        and of misses above it. Misses weigh more: every candidate is verified with its stored
        signature, so a false candidate costs only a comparison."""
        grid = np.linspace(0.0, 1.0, 1001)
        below, above = grid <= threshold, grid >= threshold
        best: tuple[float, int, int] | None = None
        for bands in range(2, num_perm + 1):
            for rows in range(1, num_perm // bands + 1):
                probability = _candidate_probability(grid, bands, rows)
                false = float(np.trapezoid(probability[below], grid[below]))
                missed = float(np.trapezoid(1.0 - probability[above], grid[above]))
                cost = (1.0 - miss_weight) * false + miss_weight * missed
                if best is None or cost < best[0]:
                    best = (cost, bands, rows)
        assert best is not None
        return cls(num_perm=num_perm, threshold=threshold, bands=best[1], rows=best[2])

    @property
    def tag(self) -> str:
        """Names the key space: an index built with other shingles, signatures or banding is
        a different index (signatures and buckets would not compare)."""
        return f"w{SHINGLE_WORDS}p{self.num_perm}b{self.bands}r{self.rows}"

    def band_keys(self, signature: Signature) -> list[str]:
        """One key per band: the band number and a 64-bit hash of its rows."""
        values = signature.astype("<u4")
        keys = []
        for i in range(self.bands):
            rows = values[i * self.rows : (i + 1) * self.rows].tobytes()
            keys.append(f"{i}:{hashlib.blake2b(rows, digest_size=8).hexdigest()}")
        return keys


DEFAULT_PARAMS = LshParams(num_perm=NUM_PERM, threshold=THRESHOLD, bands=30, rows=4)
# Provenance, recorded with every article (enrichment.models.near_duplicates).
METHOD = (
    f"MinHash of word {SHINGLE_WORDS}-grams, {NUM_PERM} permutations, LSH "
    f"{DEFAULT_PARAMS.bands}x{DEFAULT_PARAMS.rows}, Jaccard >= {THRESHOLD} "
    f"(datasketch {version('datasketch')})"
)
# The mapping fragment of what worker/pipeline.py writes from this module after the steps
# (``DuplicateInfo.as_fields``), and the model kind it records METHOD under; the registry
# (worker/enrich/registry.py) adds both to the article mapping.
PROPERTIES: dict[str, Any] = {
    "duplicates": {
        "properties": {
            "cluster_id": {"type": "keyword"},
            "duplicate_of": {"type": "keyword"},
            "near_duplicates": {"type": "keyword"},
            "similarity": {"type": "float"},
        }
    },
}
MODEL_KIND = "near_duplicates"


@dataclass(frozen=True)
class PreparedArticle:
    """The pure, CPU-bound part of an article's duplicate check, done before touching Redis."""

    article_id: str
    fingerprint: str | None
    signature: Signature | None


def prepare(article_id: str, text: str, num_perm: int = NUM_PERM) -> PreparedArticle:
    tokens = words(text)
    if len(tokens) < MIN_WORDS:
        return PreparedArticle(article_id, None, None)
    fingerprint = _fingerprint(tokens)
    signature = _minhash(shingles(tokens), num_perm).hashvalues.astype(np.uint32)
    return PreparedArticle(article_id, fingerprint, signature)


@dataclass(frozen=True)
class DuplicateInfo:
    cluster_id: str
    duplicate_of: str | None = None
    near_duplicates: list[str] = field(default_factory=list)
    similarity: float | None = None

    def as_fields(self) -> Duplicates:
        """JSON-safe fields for the indexed document."""
        return {
            "cluster_id": self.cluster_id,
            "duplicate_of": self.duplicate_of,
            "near_duplicates": list(self.near_duplicates),
            "similarity": None if self.similarity is None else round(self.similarity, 4),
        }


class _Keys:
    def __init__(self, prefix: str, params: LshParams) -> None:
        self.space = f"{prefix}:dup:{params.tag}"

    def doc(self, article_id: str) -> str:
        """Hash: ``fp`` (fingerprint), ``sig`` (base64 signature), ``cluster``."""
        return f"{self.space}:doc:{article_id}"

    def fingerprint(self, fingerprint: str) -> str:
        """String: the id of the first article seen with this fingerprint."""
        return f"{self.space}:fp:{fingerprint}"

    def band(self, band: str) -> str:
        """Set: ids of the articles whose signature has this value in this band."""
        return f"{self.space}:band:{band}"


@dataclass
class _Stored:
    fingerprint: str | None
    signature: Signature | None
    cluster: str | None


def _text(value: Any) -> str | None:
    # Works whether or not the client decodes responses.
    if value is None or value == b"" or value == "":
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _stored(reply: Sequence[Any], num_perm: int) -> _Stored | None:
    fingerprint, signature, cluster = (_text(value) for value in reply)
    if fingerprint is None and signature is None and cluster is None:
        return None
    return _Stored(fingerprint, _decode(signature, num_perm), cluster)


def assign_clusters(
    articles: Sequence[tuple[str, str]],
    *,
    redis_client: redis.Redis,
    prefix: str,
    params: LshParams = DEFAULT_PARAMS,
    ttl_s: int | None = None,
) -> dict[str, DuplicateInfo]:
    """Find each ``(article_id, text)``'s exact and near duplicates among every article indexed
    so far and earlier in the batch, record it in the shared index, and give it a cluster.

    An id seen before keeps its cluster if its text is unchanged; with a changed text its index
    entry is replaced. A repeated id within the batch counts once, with its last text.
    ``ttl_s`` lets index entries expire (refreshed whenever an article is processed again).
    """
    latest = dict(articles)
    prepared = [prepare(article_id, text, params.num_perm) for article_id, text in latest.items()]
    return assign_prepared(
        prepared, redis_client=redis_client, prefix=prefix, params=params, ttl_s=ttl_s
    )


def assign_prepared(
    prepared: Sequence[PreparedArticle],
    *,
    redis_client: redis.Redis,
    prefix: str,
    params: LshParams = DEFAULT_PARAMS,
    ttl_s: int | None = None,
) -> dict[str, DuplicateInfo]:
    """``assign_clusters`` for articles whose signatures are already computed.

    Concurrency: every key read (own entries, fingerprints, buckets, candidates' entries) is
    WATCHed and the writes go in one MULTI/EXEC, so two workers holding near duplicates at the
    same moment are serialised: the loser retries and then sees the winner. After
    ``MAX_ATTEMPTS`` lost races (a very hot story) the batch is written unguarded; the first-seen
    fingerprint still uses SET NX, so exact duplicates stay correct, and the worst case is a
    near-duplicate that founds its own cluster instead of joining one.
    """
    batch = list({article.article_id: article for article in prepared}.values())
    if not batch:
        return {}
    keys = _Keys(prefix, params)
    for attempt in range(MAX_ATTEMPTS + 1):
        guarded = attempt < MAX_ATTEMPTS
        try:
            return _assign(batch, redis_client, keys, params, ttl_s, guarded=guarded)
        except redis.WatchError:
            # Another worker wrote a key this batch read: re-read and decide again.
            time.sleep(random.uniform(0.0, 0.002 * (attempt + 1)))  # noqa: S311
    raise AssertionError("the unguarded attempt cannot lose a race")  # pragma: no cover


def _assign(
    batch: list[PreparedArticle],
    redis_client: redis.Redis,
    keys: _Keys,
    params: LshParams,
    ttl_s: int | None,
    *,
    guarded: bool,
) -> dict[str, DuplicateInfo]:
    if not guarded:
        log.warning("near-duplicate index: writing unguarded after %d lost races", MAX_ATTEMPTS)
    ids = {article.article_id for article in batch}
    bands = {
        a.article_id: params.band_keys(a.signature) if a.signature is not None else []
        for a in batch
    }
    with redis_client.pipeline(transaction=True) as tx:
        # Round 1: own entries, fingerprint owners, bucket members.
        first_keys = [keys.doc(a.article_id) for a in batch]
        first_keys += [keys.fingerprint(a.fingerprint) for a in batch if a.fingerprint]
        first_keys += [keys.band(band) for a in batch for band in bands[a.article_id]]
        if guarded:
            tx.watch(*first_keys)  # type: ignore[no-untyped-call]
        reader = redis_client.pipeline(transaction=False)
        for a in batch:
            reader.hmget(keys.doc(a.article_id), ["fp", "sig", "cluster"])
            if a.fingerprint:
                reader.get(keys.fingerprint(a.fingerprint))
            if bands[a.article_id]:
                # One SUNION, not a SMEMBERS per band: the client's per-command cost dominates.
                reader.sunion([keys.band(band) for band in bands[a.article_id]])
        replies = iter(reader.execute())
        old: dict[str, _Stored | None] = {}
        owner: dict[str, str | None] = {}
        candidates: dict[str, set[str]] = {}
        for a in batch:
            old[a.article_id] = _stored(next(replies), params.num_perm)
            owner[a.article_id] = _text(next(replies)) if a.fingerprint else None
            members = {_text(m) for m in next(replies)} if bands[a.article_id] else set()
            candidates[a.article_id] = set(
                sorted(m for m in members if m is not None and m not in ids)[:MAX_CANDIDATES]
            )

        # Round 2: the entries of candidates and of fingerprint owners outside the batch, and
        # the owner of each changed article's old fingerprint.
        outside = {c for found in candidates.values() for c in found}
        outside |= {o for o in owner.values() if o is not None and o not in ids}
        outside_ids = sorted(outside)
        changed: dict[str, str] = {}  # article id -> its old fingerprint, when the text changed
        for a in batch:
            stored = old[a.article_id]
            if stored is not None and stored.fingerprint and stored.fingerprint != a.fingerprint:
                changed[a.article_id] = stored.fingerprint
        old_fingerprints = list(changed.values())
        if guarded and (outside_ids or old_fingerprints):
            tx.watch(  # type: ignore[no-untyped-call]
                *[keys.doc(c) for c in outside_ids],
                *[keys.fingerprint(fp) for fp in old_fingerprints],
            )
        reader = redis_client.pipeline(transaction=False)
        for c in outside_ids:
            reader.hmget(keys.doc(c), ["fp", "sig", "cluster"])
        for fp in old_fingerprints:
            reader.get(keys.fingerprint(fp))
        replies = iter(reader.execute())
        entries = {c: _stored(next(replies), params.num_perm) for c in outside_ids}
        old_owner = {fp: _text(next(replies)) for fp in old_fingerprints}

        results, claims, takeovers = _decide(batch, bands, old, owner, candidates, entries, params)

        # Write everything in one transaction (the EXEC fails if a WATCHed key changed).
        tx.multi()
        claimed = {a.fingerprint for a in claims} | {a.fingerprint for a in takeovers}
        for article_id, fp in changed.items():
            if old_owner[fp] == article_id and fp not in claimed:
                tx.delete(keys.fingerprint(fp))  # it points to text this article no longer has
        additions: list[tuple[str, str]] = []  # (bucket key, article id)
        for a in batch:
            stored = old[a.article_id]
            new_bands = bands[a.article_id]
            if stored is not None and stored.signature is not None:
                for band in set(params.band_keys(stored.signature)) - set(new_bands):
                    tx.srem(keys.band(band), a.article_id)
            doc_key = keys.doc(a.article_id)
            tx.hset(
                doc_key,
                mapping={
                    "fp": a.fingerprint or "",
                    "sig": _encode(a.signature) if a.signature is not None else "",
                    "cluster": results[a.article_id].cluster_id,
                },
            )
            if ttl_s:
                tx.expire(doc_key, ttl_s)
            additions += [(keys.band(band), a.article_id) for band in new_bands]
        if additions:
            # One script call instead of a SADD (and EXPIRE) per bucket.
            bucket_keys = [key for key, _ in additions]
            added = [article_id for _, article_id in additions]
            tx.eval(_ADD_TO_BUCKETS, len(bucket_keys), *bucket_keys, ttl_s or 0, *added)
        for a in claims:
            assert a.fingerprint is not None
            # NX: without the WATCH guarantee, the first writer still wins.
            tx.set(keys.fingerprint(a.fingerprint), a.article_id, nx=True, ex=ttl_s)
        for a in takeovers:
            assert a.fingerprint is not None
            tx.set(keys.fingerprint(a.fingerprint), a.article_id, ex=ttl_s)
        if ttl_s:
            for a in batch:
                if a.fingerprint and owner[a.article_id] == a.article_id:
                    tx.expire(keys.fingerprint(a.fingerprint), ttl_s)
        # Members whose entry has expired leave the buckets they were met in (rare: only with
        # ttl_s, and SREM of a non-member is harmless).
        for a in batch:
            stale = [c for c in candidates[a.article_id] if entries.get(c, True) is None]
            for band in bands[a.article_id] if stale else ():
                tx.srem(keys.band(band), *stale)
        tx.execute()
    return results


def _decide(
    batch: list[PreparedArticle],
    bands: dict[str, list[str]],
    old: dict[str, _Stored | None],
    owner: dict[str, str | None],
    candidates: dict[str, set[str]],
    entries: dict[str, _Stored | None],
    params: LshParams,
) -> tuple[dict[str, DuplicateInfo], list[PreparedArticle], list[PreparedArticle]]:
    """Each article's duplicate info, deciding clusters in an order where every article comes
    after the ones it may join; plus the fingerprints to claim (absent) and to take over
    (stale). Within the batch, near duplicates are listed both ways."""
    # Articles already indexed go first: they are older than the new ones in the batch.
    ordered = sorted(batch, key=lambda a: old[a.article_id] is None)
    signatures: dict[str, Signature] = {
        c: entry.signature
        for c, entry in entries.items()
        if entry is not None and entry.signature is not None
    }
    local_bands: dict[str, list[str]] = defaultdict(list)
    for a in batch:
        if a.signature is not None:
            signatures[a.article_id] = a.signature
            for band in bands[a.article_id]:
                local_bands[band].append(a.article_id)
    # Clusters known so far: of indexed articles, then of batch articles as they are decided.
    clusters = {c: entry.cluster or c for c, entry in entries.items() if entry is not None}
    fingerprints = {c: entry.fingerprint for c, entry in entries.items() if entry is not None}
    local_first: dict[str, str] = {}
    results: dict[str, DuplicateInfo] = {}
    claims: list[PreparedArticle] = []
    takeovers: list[PreparedArticle] = []
    for a in ordered:
        me = a.article_id
        stored = old[me]
        duplicate_of: str | None = None
        if a.fingerprint:
            first = owner[me]
            valid = first is not None and (
                (first == me and stored is not None and stored.fingerprint == a.fingerprint)
                or (first in results and fingerprints.get(first) == a.fingerprint)
                or (
                    first not in results
                    and first in entries
                    and fingerprints.get(first) == a.fingerprint
                )
            )
            if not valid:
                first = local_first.get(a.fingerprint)
                if first is None:
                    local_first[a.fingerprint] = me
                    (claims if owner[me] is None else takeovers).append(a)
            duplicate_of = first if first != me else None
            fingerprints[me] = a.fingerprint
        matches: list[tuple[float, str]] = []
        if a.signature is not None:
            found = set(candidates[me])
            for band in bands[me]:
                found.update(local_bands[band])
            for c in found:
                if c != me and c in signatures:
                    similarity = estimated_jaccard(a.signature, signatures[c])
                    if similarity >= params.threshold:
                        matches.append((similarity, c))
            if duplicate_of is not None and all(c != duplicate_of for _, c in matches):
                matches.append((1.0, duplicate_of))
            matches.sort(key=lambda match: (-match[0], match[1]))
        joinable = [c for _, c in matches if c in clusters]  # not batch articles decided later
        if stored is not None and stored.fingerprint == a.fingerprint and stored.cluster:
            cluster = stored.cluster  # replayed with the same text: keep what it was given
        elif duplicate_of is not None:
            cluster = clusters.get(duplicate_of, duplicate_of)
        elif joinable:
            cluster = clusters[joinable[0]]
        else:
            cluster = me
        clusters[me] = cluster
        results[me] = DuplicateInfo(
            cluster_id=cluster,
            duplicate_of=duplicate_of,
            near_duplicates=[c for _, c in matches[:MAX_NEAR_DUPLICATES]],
            similarity=matches[0][0] if matches else None,
        )
    return results, claims, takeovers
