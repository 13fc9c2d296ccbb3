"""People's names merged across articles: a short form in one article ("Arafat", "Abdel Aziz")
becomes the full name other articles give ("Yasser Arafat", "Abdel-Aziz al-Rantissi").

Within one article ``worker.enrich.entities`` already maps a bare surname, a hyphen or space
variant and the start of a longer name to the fuller name the article gives. An article that
names only "Arafat" has nothing to map it to: this step looks it up among the full names of
earlier articles, kept in Redis and shared by every worker, so all merge the same way.

Rules (names compared word by word, case-folded, hyphens as spaces, dots off: ``words``;
initials count: "George H. W. Bush" is not "George W. Bush"):

- a full name is a person's name of two words or more as an article indexes it; it is *known*
  once seen in ``min_articles`` articles (those of the batch included);
- a one-word name merges into the one known full name whose last word it is ("Arafat" →
  "Yasser Arafat"; "Assad" → "Bashar al-Assad"), unless a known full name starts with it (a
  given name: "Michael" is "Michael Flynn" as much as "George Michael");
- a name of two words or more merges into the one known name it begins ("Abdel Aziz" →
  "Abdel-Aziz al-Rantissi"), or into the most seen spelling of the same words ("Abdel Aziz
  al-Rantissi" → "Abdel-Aziz al-Rantissi", when that one is seen in more articles);
- two known people fit (two known "Smith"s): no merge.

The merged name is written into ``people`` (so facets, entity pages and quotes' speakers use
one name); the form as written stays in ``entity_mentions.people[].mentioned_as``, with the
reason in ``merged`` ("short form of 'Yasser Arafat', seen in 3 articles").

The shared state: Redis hashes ``<prefix>:names:last:<last word>`` and
``<prefix>:names:first:<first word>``, full name → articles seen in. Each hash keeps at most
``max_per_key`` names (a new name evicts the least seen other one) and expires ``ttl_s`` after
its last write: memory is bounded by the distinct first and last words of a TTL's worth of
articles times the cap, about 90 bytes a name (measured on 1,200 development articles: 636 KB
in 4,650 hashes of 6,955 names, about 530 bytes an article; less as names repeat, and at most
``MAX_NAMES_PER_ARTICLE`` names an article). A batch costs one pipelined read (HGETALL of
the keys its short forms need) and one script call that counts its full names. A retried
batch counts its names again: the counts are postings, an upper bound on articles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import redis

from shared.document import EnrichedDocument, EntityMention, EntityMentions
from worker.enrich.entities import continues_name, name_key, surname_keys
from worker.enrich.suggest import suggestion_inputs

# KEYS: name hashes; ARGV[1]: TTL in seconds; ARGV[2]: names kept per hash; ARGV[2 + i]: the
# full name to count in KEYS[i]. Over the cap, the least seen name other than the one just
# counted is dropped (a scan of at most cap + 1 fields).
_COUNT_NAMES = """
local ttl = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
    local name = ARGV[i + 2]
    redis.call('HINCRBY', key, name, 1)
    if redis.call('HLEN', key) > cap then
        local fields = redis.call('HGETALL', key)
        local least, least_count = nil, nil
        for j = 1, #fields, 2 do
            local count = tonumber(fields[j + 1])
            if fields[j] ~= name and (least_count == nil or count < least_count) then
                least, least_count = fields[j], count
            end
        end
        if least then redis.call('HDEL', key, least) end
    end
    redis.call('EXPIRE', key, ttl)
end
return #KEYS
"""


# An article's people looked up and counted, the most mentioned first (``people`` is in that
# order): bounds a batch's keys however many names an article holds.
MAX_NAMES_PER_ARTICLE = 50


_SEPARATORS = re.compile(r"[\s\-‐–]+")


@dataclass(frozen=True)
class Merge:
    """A name of one article as the full name known from others."""

    full: str
    articles: int  # articles the full name was seen in, this batch's included
    reason: str


def _last_key(prefix: str, word: str) -> str:
    return f"{prefix}:names:last:{word}"


def _first_key(prefix: str, word: str) -> str:
    return f"{prefix}:names:first:{word}"


def is_full_name(name: str) -> bool:
    """Two words or more ("Jean-Pierre" alone is one word: a given name)."""
    return len(name.split()) >= 2


def words(name: str) -> tuple[str, ...]:
    """The words of a name, case-folded, hyphens as spaces, dots off ("George W. Bush" and
    "George W-Bush" are the same words; "George H. W. Bush" is not)."""
    return tuple(word.strip(".") for word in _SEPARATORS.split(name.casefold()) if word.strip("."))


def lookup_keys(name: str, prefix: str) -> list[str]:
    """The hashes that hold the full names ``name`` may be a short form of: for one word
    ("Arafat", "al-Assad"), the names it is the surname of and the names it begins (a given
    name is no one's surname: "Michael"); for more ("Abdel Aziz"), the names it begins."""
    found = words(name)
    if not found:
        return []
    if not is_full_name(name):
        return [_last_key(prefix, name.strip().casefold()), _first_key(prefix, found[0])]
    return [_first_key(prefix, found[0])]


def count_keys(name: str, prefix: str) -> list[str]:
    """The hashes that count a full name: its surnames ("al-assad", "assad") and first word."""
    if not is_full_name(name) or not words(name):
        return []
    return [
        *(_last_key(prefix, surname) for surname in surname_keys(name)),
        _first_key(prefix, words(name)[0]),
    ]


def decide(name: str, known: Mapping[str, int], min_articles: int) -> Merge | None:
    """The merge of ``name`` given the full names ``known`` (name → articles) from its lookup
    keys, or None (module docstring)."""
    own = words(name)
    attested = {full: count for full, count in known.items() if count >= min_articles}
    if not is_full_name(name):  # a surname, unless known as a given name
        folded = name.strip().casefold()
        if any(words(full)[:1] == own for full in attested if is_full_name(full)):
            return None  # "Michael": "Michael Flynn" as well as "George Michael"
        candidates = {
            full: count
            for full, count in attested.items()
            if is_full_name(full) and folded in surname_keys(full)
        }
    else:  # the start of a longer name, or another spelling of the same words
        candidates = {
            full: count
            for full, count in attested.items()
            if full != name
            and words(full)[: len(own)] == own
            and (words(full) == own or continues_name(full, name_key(name)))
        }
    people = {words(full) for full in candidates}
    if len(people) != 1:
        return None  # none known, or two people fit
    full, count = max(candidates.items(), key=lambda item: (item[1], item[0]))
    kind = "short form"
    if words(full) == own:
        if count <= known.get(name, 0):
            return None  # this spelling is seen as often
        kind = "spelling"
    return Merge(full, count, f"{kind} of '{full}', seen in {count} articles")


def apply_merges(doc: EnrichedDocument, merges: Mapping[str, Merge]) -> None:
    """Write the merged names into the article: ``people``, ``entity_mentions.people`` (the
    forms as written kept, with the reason), quotes' speakers and the autocomplete inputs."""
    if not merges:
        return
    doc["people"] = list(dict.fromkeys(_merged(name, merges) for name in doc.get("people") or []))
    mentions: EntityMentions = doc.get("entity_mentions") or {}
    entries: dict[str, EntityMention] = {}
    for entry in mentions.get("people") or []:
        name = entry["name"]
        merge = merges.get(name)
        target = entries.setdefault(
            _merged(name, merges),
            {"name": _merged(name, merges), "mentions": 0, "mentioned_as": []},
        )
        target["mentions"] += int(entry.get("mentions") or 0)
        for form in entry.get("mentioned_as") or [name]:
            if form not in target["mentioned_as"]:
                target["mentioned_as"].append(form)
        if merge is not None:
            target["merged"] = merge.reason
        elif entry.get("merged"):
            target["merged"] = entry["merged"]
    if mentions:
        mentions["people"] = list(entries.values())
    for quote in doc.get("quotes") or []:
        speaker = quote.get("speaker")
        if speaker is not None and speaker in merges:
            quote["speaker"] = merges[speaker].full
    if "suggest" in doc:
        doc["suggest"] = suggestion_inputs(doc)


def _merged(name: str, merges: Mapping[str, Merge]) -> str:
    merge = merges.get(name)
    return merge.full if merge else name


def _read(redis_client: redis.Redis, keys: Sequence[str]) -> dict[str, dict[str, int]]:
    if not keys:
        return {}
    reader = redis_client.pipeline(transaction=False)
    for key in keys:
        reader.hgetall(key)
    replies: list[dict[str, str]] = reader.execute()
    return {
        key: {name: int(count) for name, count in reply.items()}
        for key, reply in zip(keys, replies, strict=True)
    }


def merge_names(
    docs: Iterable[EnrichedDocument],
    *,
    redis_client: redis.Redis,
    prefix: str,
    ttl_s: int,
    min_articles: int = 2,
    max_per_key: int = 32,
) -> dict[str, dict[str, Merge]]:
    """Merge the short forms of the batch's people into full names known from other articles
    (and from the batch), then count the batch's full names. Mutates ``docs``; returns the
    merges by article id. One pipelined read and one script call."""
    docs = list(docs)
    people_of = {doc["id"]: list(doc.get("people") or [])[:MAX_NAMES_PER_ARTICLE] for doc in docs}
    wanted = sorted(
        {key for names in people_of.values() for name in names for key in lookup_keys(name, prefix)}
    )
    stored = _read(redis_client, wanted)
    # The batch's own full names count too (once per article).
    batch: dict[str, dict[str, int]] = {}
    for names in people_of.values():
        for name in names:
            for key in count_keys(name, prefix):
                counts = batch.setdefault(key, {})
                counts[name] = counts.get(name, 0) + 1
    merges: dict[str, dict[str, Merge]] = {}
    for doc in docs:
        found: dict[str, Merge] = {}
        for name in people_of[doc["id"]]:
            known: dict[str, int] = {}
            for key in lookup_keys(name, prefix):
                for source in (stored.get(key, {}), batch.get(key, {})):
                    for full, count in source.items():
                        known[full] = known.get(full, 0) + count
            merge = decide(name, known, min_articles)
            if merge is not None:
                found[name] = merge
        apply_merges(doc, found)
        merges[doc["id"]] = found
    keys: list[str] = []
    counted: list[str] = []
    for doc in docs:  # the full names as indexed, after the merges
        for name in list(dict.fromkeys(doc.get("people") or []))[:MAX_NAMES_PER_ARTICLE]:
            for key in count_keys(name, prefix):
                keys.append(key)
                counted.append(name)
    if keys:
        script = redis_client.register_script(_COUNT_NAMES)
        script(keys=keys, args=[ttl_s, max_per_key, *counted])
    return merges
