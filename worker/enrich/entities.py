"""People, organisations and places named in an article: spaCy's entities, cleaned, merged and
geocoded with the GeoNames gazetteer.

The small English model's labels are noisy on names it has not seen ("Saidzhanov" as NORP,
"Azerbaijan" and "Khiva" as PERSON), so a few corrections follow the labels:

- a name that is exactly a country is a place whatever its label;
- a PERSON in a list of places ("Khiva, Samarkand, Bukhara") that the gazetteer knows is a place;
- a later single surname maps to the fuller name it ends ("Saidzhanov" → "Dilshod Saidzhanov"),
  whatever its label, and so does the bare surname where the model saw no entity at all.

Types are then checked against what we know (``_check_types``), name by name over all of its
mentions in the article:

- person evidence is a title before a mention ("Mr Jordan", "President Howard") or, for a
  single word, being a word of a fuller person name in the article ("Michael Jordan" makes
  "Jordan" a person). A reporting verb is not evidence either way ("Jordan said" is as often
  the country's government).
- a PERSON or ORG whose whole name the gazetteer knows as a country, US state or continent is
  a place unless there is person evidence; as a city (by its main name, or by another name of
  a city of a million), it is a place when it has more than one word ("Alice Springs"), or,
  for one word, when the city has 100,000 people, or a mention follows "in", "at", "near" ...
  ("in Marlow"), or it stands in a list of places; always unless there is person evidence.
- a PERSON the gazetteer does not know is no person when spaCy labels another mention of the
  same name GPE/LOC, or a mention follows "in", "at", "near" ... ("at Tora Bora"; not "in
  Smith's"): it is kept as an unresolved place.
- a one-word PERSON or ORG without person evidence that is an English word (spaCy's stop
  words, or the WordNet lemma index spaCy's model ships for its lemmatizer, plural forms
  included) is no name when the article also writes the word in lower case, at least half as
  often as capitalised ("Police ... police"), or, for a person, when every mention starts a
  sentence or line, where capitals say nothing ("Diamond Shamrock Corp said" split by the
  model). An acronym ("EU") or a word with an apostrophe or hyphen ("O'Neill") is no common word.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.enrich.dateline import parse_dateline
from worker.enrich.gazetteer import Place, find_city, resolve_place
from worker.enrich.nlp import MODEL_PACKAGE

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span

PLACE_LABELS = frozenset({"GPE", "LOC"})
# Words that open a name but are not part of it ("Sen. Elizabeth Warren", "Prime Minister X").
# Only for people: "General Motors" is an organisation.
_TITLE_WORDS = """
    president vice sen senator rep representative gov governor mayor dr mr mrs ms miss mx prof
    professor gen general lt col capt sgt adm cmdr rev reverend judge justice chief secretary
    minister prime chancellor ambassador attorney speaker sheriff commissioner chairman
    chairwoman chairperson ceo deputy coach sir dame lord former then u.s us state foreign
    defense defence house senate majority minority leader whip congressman congresswoman
    assemblyman assemblywoman councilman councilwoman detective officer sergeant lieutenant
    captain colonel admiral commander president-elect st saint
"""
_TITLES = frozenset(_TITLE_WORDS.split())
_POSSESSIVE = re.compile(r"(?:['’]s|(?<=s)['’])$")
_TRAILING = " \t\n,.;:!?-–—'’\"“”()[]"
_ABBREVIATION_END = re.compile(r"(?:^|\s)(?:[A-Z]\.){2,}$")
# Corpus and wire debris around organisation names: "Source:-Al Jazeera", "... 01/27/2017".
_ORG_DEBRIS = re.compile(r"^(?:source|photo|credit)\s*:\s*-?\s*|\s+\d{1,2}/\d{1,2}/\d{2,4}$", re.I)
# Words the small model often labels PERSON: products, platforms, events.
_NOT_PEOPLE_WORDS = """
    brexit twitter facebook instagram youtube google oscar oscars grammy grammys emmy emmys
    obamacare trumpcare alipay wechat
"""
_NOT_PEOPLE = frozenset(_NOT_PEOPLE_WORDS.split())
# Lowercase parts of names: "Ludwig van Beethoven", "Mahmoud al-Zahar".
_NAME_PARTICLE_WORDS = "de da di del della der den van von la le du dos das bin ibn al el ben zu"
_NAME_PARTICLES = frozenset(_NAME_PARTICLE_WORDS.split())
# A lone PERSON that is a city this large, and no part of a full name, is the city.
_PERSON_AS_CITY_POPULATION = 100_000
_PARTY_STATE = re.compile(r"^[DRI]-[A-Z][A-Za-z.]*$")
_LEADING_THE = re.compile(r"^the\s+", re.IGNORECASE)
_HAS_LETTER = re.compile(r"[^\W\d_]")
# A middle initial, dropped when comparing names ("Donald J. Trump" is "Donald Trump").
_INITIAL = re.compile(r"^[A-Z]\.?$")
_NAME_SEPARATORS = re.compile(r"[\s\-‐–]+")
# Two entities separated only by this are in one list ("Khiva, Samarkand and Bukhara").
_LIST_SEPARATOR = re.compile(r"^\s*(?:,|,?\s*and|,?\s*or)\s*$")
MAX_NAME_TOKENS = 6
# Forms of a person's name kept as written (entity_mentions.people[].mentioned_as).
MAX_MENTIONED_AS = 10
# The model tags some cities FAC: a FAC is a place only if it is a country or a city this big.
_FAC_MIN_POPULATION = 100_000
# Titles that make a name a person's whatever the gazetteer says ("Mr Jordan"): a stricter set
# than _TITLES, which also strips words like "state" or "former" off names.
_HONORIFIC_WORDS = """
    mr mrs ms miss mx dr prof professor sir dame lord lady president sen senator rep gov
    governor mayor minister premier chancellor ambassador judge justice sheikh king queen prince
    princess pope gen general col colonel capt captain lt lieutenant sgt sergeant adm admiral rev
    reverend father brother sister cardinal archbishop bishop rabbi imam chairman chairwoman
    secretary detective inspector constable superintendent coach
"""
_HONORIFICS = frozenset(_HONORIFIC_WORDS.split())
# Words before a name that make it a place ("in Marlow", "at Tora Bora").
_PLACE_PREPOSITION_WORDS = "in at near outside around across throughout inside towards toward via"
_PLACE_PREPOSITIONS = frozenset(_PLACE_PREPOSITION_WORDS.split())
_POSSESSIVE_TOKENS = frozenset({"'s", "’s", "'", "’"})
# A city known only by another of its names must be this large to take a name off a person.
_ALTERNATE_CITY_POPULATION = 1_000_000


@dataclass(frozen=True)
class Mention:
    """One occurrence of a person, organisation or place, as character offsets in the text."""

    start: int
    end: int
    written: str
    name: str  # normalised, before merging variants


def clean_text(text: str) -> str:
    """Whitespace collapsed, possessive and surrounding punctuation taken off; the final dot
    of an abbreviation ("U.S.", "D.C.") stays."""
    text = " ".join(text.split())
    text = _POSSESSIVE.sub("", text.strip(_TRAILING.replace(".", ""))).strip(_TRAILING)
    abbreviation = _ABBREVIATION_END.search(" ".join(text.split()) + ".")
    return text + "." if abbreviation and not text.endswith(".") else text


def _is_junk(name: str) -> bool:
    return len(name) < 2 or not _HAS_LETTER.search(name)


def _particle(word: str) -> str:
    return word.casefold().split("-")[0]


def normalise_person(text: str) -> str | None:
    """ "President Trump's" → "Trump"; None for what cannot be a name."""
    tokens = _LEADING_THE.sub("", clean_text(text)).split()
    while tokens and tokens[0].casefold().rstrip(".") in _TITLES:
        tokens.pop(0)
    name = clean_text(" ".join(tokens))
    if _is_junk(name) or len(tokens) > MAX_NAME_TOKENS or any(ch.isdigit() for ch in name):
        return None
    if name.casefold() in _NOT_PEOPLE or (" " not in name and name.isupper()):
        return None  # "Brexit"; an acronym ("AIIB") is not a person
    # Names are capitalised ("Garda divers", "@handle" are the model guessing), but for
    # particles: "van", "al-Zahar".
    if any(not word[:1].isupper() and _particle(word) not in _NAME_PARTICLES for word in tokens):
        return None
    return name if any(word[:1].isupper() for word in name.replace("-", " ").split()) else None


def normalise_organisation(text: str) -> str | None:
    name = clean_text(_LEADING_THE.sub("", _ORG_DEBRIS.sub("", clean_text(text))))
    # A lowercase "organisation" ("supreme leader", "education") is the model guessing.
    if _is_junk(name) or name.isdigit() or name == name.lower():
        return None
    return name


def normalise_place(text: str) -> str | None:
    name = clean_text(text)
    # "D-Mass.", "R-Texas": a politician's party and state, not a place of the story.
    return None if _is_junk(name) or _PARTY_STATE.match(name) else name


def name_key(name: str) -> tuple[str, ...]:
    """The tokens that identify a name, case-folded, hyphens as spaces ("Abdel-Aziz
    al-Rantissi" is "Abdel Aziz al Rantissi"), without middle initials."""
    tokens = _NAME_SEPARATORS.split(name.casefold().strip(" -"))
    if len(tokens) > 2:
        tokens = [
            tokens[0],
            *[t for t in tokens[1:-1] if not _INITIAL.match(t.upper())],
            tokens[-1],
        ]
    return tuple(tokens)


def surname_keys(name: str) -> tuple[str, ...]:
    """What a bare surname of this name may be, case-folded: its last word, and that word
    without a particle prefix ("al-Assad": "al-assad", "assad")."""
    last = name.split()[-1].casefold() if name.split() else ""
    particle, _, rest = last.partition("-")
    return (last, rest) if rest and particle in _NAME_PARTICLES else (last,)


def _prefix_forms(counts: Mapping[str, int]) -> dict[str, str]:
    """Names of two words or more that begin exactly one longer name of ``counts`` (name →
    mentions), word for word (hyphens as spaces), mentioned at least as often: "Abdel Aziz" →
    "Abdel-Aziz al-Rantissi", but not "Donald Trump" (twice) → "Donald Trump Europe" (once, the
    model's cut). Linear in the words."""
    longer: dict[tuple[str, ...], set[str]] = {}
    keys = {name: name_key(name) for name in counts}
    for name, key in keys.items():
        for end in range(2, len(key)):
            longer.setdefault(key[:end], set()).add(name)
    found: dict[str, str] = {}
    for name, key in keys.items():
        candidates = longer.get(key, set()) if len(key) >= 2 else set()
        if len({keys[c] for c in candidates}) == 1:
            fuller = next(iter(candidates))
            if counts[fuller] >= counts[name] and continues_name(fuller, key):
                found[name] = fuller
    return found


# "Donald Trump Jr" is another person than "Donald Trump".
_GENERATIONS = frozenset({"jr", "sr", "ii", "iii", "iv"})


def continues_name(fuller: str, start: tuple[str, ...]) -> bool:
    """Do the words of ``fuller`` after ``start`` look like the rest of one name: capitalised
    or name particles ("al-Rantissi"), no generation ("Jr"), no repeat of the start (the model's
    "Normandie Keith Normandie Keith"), not a country or continent ("Donald Trump Europe"), no
    lowercase word glued on by a hyphen ("Daniel Hurwitz-highlights")?"""
    rest = [word for word in _NAME_SEPARATORS.split(fuller.strip(" -")) if word][len(start) :]
    if not rest:
        return False
    for word in rest:
        folded = word.casefold().rstrip(".")
        if folded in _GENERATIONS or folded in start:
            return False
        if not word[:1].isupper() and folded not in _NAME_PARTICLES:
            return False
    place = resolve_place(" ".join(rest))
    return place is None or place.kind == "city"


def canonical_people(mentions: Sequence[Mention]) -> dict[str, str]:
    """Each normalised person name → its canonical form. Variants of one full name ("Donald J.
    Trump", "Donald Trump") become the most frequent; a single surname becomes the most recent
    fuller name ending with it (the most frequent one when the surname comes first)."""
    counts = Counter(m.name for m in mentions)
    by_key: dict[tuple[str, ...], list[str]] = {}
    for name in counts:
        by_key.setdefault(name_key(name), []).append(name)
    canonical: dict[str, str] = {}
    for names in by_key.values():
        best = max(names, key=lambda n: (counts[n], -len(n)))
        canonical.update(dict.fromkeys(names, best))
    prefixes = _prefix_forms(Counter(canonical[m.name] for m in mentions))
    canonical = {name: prefixes.get(full, full) for name, full in canonical.items()}
    full_counts = Counter(canonical[m.name] for m in mentions if " " in canonical[m.name])
    by_given = _by_given_name(full_counts)
    last_full: dict[str, str] = {}  # surname → the latest full name seen so far
    for m in mentions:  # in text order
        name = canonical[m.name]
        if " " in name:
            last_full.update(dict.fromkeys(surname_keys(name), name))
            continue
        surname = name.casefold()
        fuller = last_full.get(surname) or _most_frequent_with_surname(surname, full_counts)
        fuller = fuller or next(iter(by_given.get(surname, [])), None)
        if fuller:
            canonical[m.name] = fuller
    return canonical


def _by_given_name(people: Iterable[str]) -> dict[str, list[str]]:
    """Two-word names by their first word, where that word is no one's surname and starts
    only one of them: "Xi" is "Xi Jinping" (family name first)."""
    names = [p for p in people if len(p.split()) == 2]
    surnames = {key for p in people for key in surname_keys(p)}
    by_first: dict[str, list[str]] = {}
    for name in names:
        by_first.setdefault(name.split()[0].casefold(), []).append(name)
    return {k: v for k, v in by_first.items() if len(v) == 1 and k not in surnames}


def _most_frequent_with_surname(surname: str, counts: Counter[str]) -> str | None:
    matching = [name for name in counts if surname in surname_keys(name)]
    return max(matching, key=lambda n: counts[n]) if matching else None


def person_mentions(
    parsed: Doc, people: Sequence[str], *, start: int = 0, text: str | None = None
) -> list[Mention]:
    """Every mention of one of ``people`` from ``start`` on, in text order, ``name`` canonical:
    PERSON entities, and a bare surname of a full name whatever the model made of it (another
    label, or no entity at all). A bare surname is the latest full name ending with it.
    ``text`` is ``parsed.text`` if the caller has it (``Doc.text`` joins every token anew)."""
    if not people:
        return []
    by_key = {name_key(p): p for p in people}
    # "Abdel Aziz" for "Abdel-Aziz al-Rantissi": the start of exactly one longer name.
    prefixes: dict[tuple[str, ...], set[str]] = {}
    for full in people:
        key = name_key(full)
        for end in range(2, len(key)):
            prefixes.setdefault(key[:end], set()).add(full)
    for key, fuller in prefixes.items():
        if key not in by_key and len(fuller) == 1 and continues_name(next(iter(fuller)), key):
            by_key[key] = next(iter(fuller))
    by_surname: dict[str, list[str]] = {}
    for full in sorted(people, key=lambda p: -len(p.split())):  # full names first
        for surname in surname_keys(full):
            by_surname.setdefault(surname, []).append(full)
    by_given = _by_given_name(people)
    raw: list[tuple[int, int, str, str]] = []  # start, end, as written, normalised
    spans: list[tuple[int, int]] = []
    for entity in parsed.ents:
        spans.append((entity.start_char, entity.end_char))
        if entity.start_char < start:
            continue
        cleaned = normalise_person(entity.text)
        # Under another label only a bare surname counts ("Saidzhanov" as NORP).
        if cleaned is not None and (entity.label_ == "PERSON" or " " not in cleaned):
            raw.append((entity.start_char, entity.end_char, entity.text, cleaned))
    raw.extend(_bare_surnames(parsed.text if text is None else text, people, spans, start))
    raw.sort()
    found: list[Mention] = []
    last_full: dict[str, str] = {}
    for begin, end, written, name in raw:
        person = by_key.get(name_key(name))
        if person is None and " " not in name:
            folded = name.casefold()
            candidates = by_surname.get(folded, []) or by_given.get(folded, [])
            person = last_full.get(folded) or (candidates[0] if candidates else None)
        if person is None:
            continue
        if " " in person:
            last_full.update(dict.fromkeys(surname_keys(person), person))
        found.append(Mention(begin, end, written, person))
    return found


def _bare_surnames(
    text: str, people: Sequence[str], spans: list[tuple[int, int]], start: int
) -> Iterator[tuple[int, int, str, str]]:
    """Surnames of full names, capitalised as in the name ("DeVos"), outside any entity."""
    surnames = {p.split()[-1] for p in people if " " in p and len(p.split()[-1]) > 1}
    if not surnames:
        return
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(surnames))) + r")\b")
    span_starts = [s for s, _ in spans]
    for match in pattern.finditer(text, start):
        index = bisect.bisect_right(span_starts, match.start()) - 1
        if index >= 0 and spans[index][0] <= match.start() < spans[index][1]:
            continue
        yield match.start(), match.end(), match.group(), match.group()


def dateline_end(text: str, dateline_place: str | None) -> int:
    """Where the dateline ("BAKU, Azerbaijan, September 30.") ends: what comes before is not
    the story."""
    if not dateline_place:
        return 0
    dateline = parse_dateline(text)
    if dateline is not None:
        found = text.find(dateline.raw)
        if found >= 0:
            return found + len(dateline.raw)
    stripped = text.lstrip()
    if stripped.casefold().startswith(dateline_place.casefold()):
        return len(text) - len(stripped) + len(dateline_place)
    return 0


def _country_of(place: Place | None) -> str | None:
    if place is None or place.kind not in {"country", "region"}:
        return None
    return place.country_code or None


def _in_place_list(index: int, entities: Sequence[Span], text: str) -> bool:
    """Is this entity next to a GPE/LOC with only a comma or "and" between them?"""
    for other_index in (index - 1, index + 1):
        if not 0 <= other_index < len(entities):
            continue
        other = entities[other_index]
        if other.label_ not in PLACE_LABELS:
            continue
        me = entities[index]
        gap = (
            text[other.end_char : me.start_char]
            if other_index < index
            else text[me.end_char : other.start_char]
        )
        if _LIST_SEPARATOR.match(gap):
            return True
    return False


def extract_entities(parsed: Doc, *, dateline_place: str | None) -> dict[str, Any]:
    """People, organisations and geocoded places mentioned in the story (JSON-safe).

    ``parsed`` is the body as ``parse_texts`` returns it, dateline included; the dateline's own
    words are not story mentions (the caller stores the dateline separately), but its place's
    country helps to resolve ambiguous names.
    """
    text = parsed.text
    story_start = dateline_end(text, dateline_place)
    entities = [e for e in parsed.ents if e.start_char >= story_start]

    # Tokens of full names: "Jordan" is not the country where "Michael Jordan" is in the story.
    name_tokens = _full_name_tokens(entities)
    person_raw: list[Mention] = []
    organisations: list[Mention] = []
    place_raw: list[Mention] = []
    classified = []
    for index, entity in enumerate(entities):
        mention = _classify(entity, index, entities, text, name_tokens)
        if mention is not None:
            classified.append((index, *mention))
    for index, kind, name in _check_types(classified, entities, text, story_start, name_tokens):
        entity = entities[index]
        item = Mention(entity.start_char, entity.end_char, entity.text, name)
        if kind == "place":
            place_raw.append(item)
        elif kind == "person":
            person_raw.append(item)
        else:
            organisations.append(item)

    canonical = canonical_people(person_raw)
    names = list(dict.fromkeys(canonical[m.name] for m in person_raw))
    people_found = person_mentions(parsed, names, start=story_start, text=text)
    person_counts = Counter(m.name for m in people_found)
    people = sorted(person_counts, key=lambda n: -person_counts[n])  # stable: first seen first
    written_as: dict[str, dict[str, None]] = {}  # ordered sets
    for m in people_found:
        form = normalise_person(m.written) or clean_text(m.written)
        forms = written_as.setdefault(m.name, {})
        if len(forms) < MAX_MENTIONED_AS:
            forms[form] = None

    # A bare surname the model labelled ORG/GPE is a person, not an organisation or a place.
    person_spans = {(m.start, m.end) for m in people_found}
    organisations = [m for m in organisations if (m.start, m.end) not in person_spans]
    place_raw = [m for m in place_raw if (m.start, m.end) not in person_spans]

    org_counts, org_names = _merge_organisations(organisations)
    places, unresolved = _resolve_places(place_raw, dateline_place)
    return {
        "people": people,
        "organisations": org_names,
        "places": places,
        "unresolved_places": unresolved,
        "entity_mentions": {
            "people": [
                {"name": n, "mentions": person_counts[n], "mentioned_as": list(written_as[n])}
                for n in people
            ],
            "organisations": [{"name": n, "mentions": org_counts[n]} for n in org_names],
        },
    }


def _big_city(name: str) -> bool:
    """A city this large by its main name, or ten times as large by another ("Kiev")."""
    city = find_city(name)
    if city is None:
        return False
    main = city.name.casefold() == name.casefold()
    return city.population >= _PERSON_AS_CITY_POPULATION * (1 if main else 10)


def _full_name_tokens(entities: Iterable[Span]) -> set[str]:
    tokens: set[str] = set()
    for entity in entities:
        name = normalise_person(entity.text) if entity.label_ == "PERSON" else None
        if name and " " in name:
            tokens.update(token.casefold() for token in name.split())
    return tokens


def _classify(
    entity: Span, index: int, entities: Sequence[Span], text: str, name_tokens: set[str]
) -> tuple[str, str] | None:
    """("person" | "organisation" | "place", normalised name), or None to ignore it.
    NORP entities are dropped here; a NORP that is a surname comes back in ``person_mentions``.
    People and organisations are checked against the gazetteer later, name by name
    (``_check_types``)."""
    label = entity.label_
    if label not in {"PERSON", "ORG", "NORP", "GPE", "LOC", "FAC"}:
        return None
    place_name = normalise_place(entity.text)
    if place_name is None:
        return None
    if label in PLACE_LABELS:
        return "place", place_name
    if label == "PERSON":
        name = normalise_person(entity.text)
        return ("person", name) if name else None
    if label == "ORG":
        org = normalise_organisation(entity.text)
        return ("organisation", org) if org else None
    resolved = resolve_place(place_name)
    if (
        resolved is not None
        and resolved.kind == "country"
        and place_name.casefold() not in name_tokens
    ):
        return "place", place_name  # "Uzbekistan" labelled NORP
    if label == "FAC" and resolved is not None and resolved.population >= _FAC_MIN_POPULATION:
        return "place", place_name
    return None


# --- types checked against the gazetteer, the context and a lexicon (module docstring) --------


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Lowercase English words: spaCy's stop words and the WordNet lemma index (nouns, verbs,
    adjectives, adverbs; about 91,000 words) that the installed model ships for its
    lemmatizer, which the pipeline does not load. Read once (about 30 ms, 6 MB)."""
    from spacy.lang.en.stop_words import STOP_WORDS
    from spacy.lookups import Lookups
    from spacy.util import get_package_path

    words: set[str] = set(STOP_WORDS)
    for folder in Path(get_package_path(MODEL_PACKAGE)).glob("*/lemmatizer/lookups"):
        index = Lookups().from_disk(folder).get_table("lemma_index")
        for _part_of_speech, lemmas in index.items():
            words.update(lemmas)
    return frozenset(words)


def is_english_word(word: str) -> bool:
    """Is ``word`` (any case) an English word or the plural of one ("Mosques")?"""
    folded = word.casefold()
    words = english_words()
    if folded in words:
        return True
    if folded.endswith("ies") and folded[:-3] + "y" in words:
        return True
    return (folded.endswith("es") and folded[:-2] in words) or (
        folded.endswith("s") and folded[:-1] in words
    )


def _plain(name: str) -> str:
    """Case-folded, accents off: "Kandahār" is "kandahar"."""
    decomposed = unicodedata.normalize("NFKD", name.strip(" ."))
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def gazetteer_place(name: str, *, person: bool = False) -> Place | None:
    """The place the gazetteer knows by this whole name: a country, US state or continent, or a
    city by its main name. For a ``person``'s name the main name must match with its accents
    ("Bush" is not Būsh, Egypt) or be another name of a city of a million ("Kiev"); else
    accents aside ("Kandahar"). A city known only by another, translated name ("White House",
    Casablanca) does not count."""
    place = resolve_place(name)
    if place is None or place.kind != "city":
        return place
    if person:
        exact = place.name.casefold() == name.casefold()
        big = " " not in name and place.population >= _ALTERNATE_CITY_POPULATION
        return place if exact or big else None
    return place if _plain(place.name) == _plain(name) else None


@dataclass
class _Evidence:
    """What the article says about one name, over all its mentions."""

    titled: bool = False  # a title before a mention: "Mr Jordan"
    place_context: bool = False  # "in Marlow", "at Tora Bora"
    place_labels: int = 0  # mentions spaCy labelled GPE/LOC
    person_labels: int = 0  # ... and PERSON
    in_place_list: bool = False  # "Khiva, Samarkand and Bukhara"
    mid_sentence: bool = False  # a mention that does not start a sentence or line
    indices: list[int] = field(default_factory=list)


def _previous_word(entity: Span, sentence_starts: set[int]) -> str:
    """The word before the entity in its sentence, case-folded, without a final dot ("Mr."
    → "mr"); "" at the start of a sentence."""
    if entity.start == 0 or entity.start in sentence_starts:
        return ""
    return entity.doc[entity.start - 1].text.casefold().rstrip(".")


# Tokens looked at before an entity to tell whether it starts a sentence or line: punctuation
# ("- Diamond", '"Police'). A fixed few, so that the check is constant per entity.
_LOOKBACK = 4


def _starts_sentence(entity: Span, sentence_starts: set[int], story_start: int) -> bool:
    """Does the entity start its sentence, its line or the story (only punctuation before)?"""
    doc = entity.doc
    index = entity.start - 1
    for _ in range(_LOOKBACK):
        if index < 0 or index + 1 in sentence_starts:
            return True
        token = doc[index]
        if token.idx + len(token.text) <= story_start or (token.is_space and "\n" in token.text):
            return True  # after the dateline ("NEW YORK, FEB 26 - Diamond") or a line break
        if not (token.is_punct or token.is_space):
            return False
        index -= 1
    return False


def _sentence_starts(doc: Doc) -> set[int]:
    try:
        return {sentence.start for sentence in doc.sents}
    except ValueError:  # no sentence boundaries: every token could be anywhere
        return set()


def _evidence_key(entity: Span) -> str | None:
    name = normalise_person(entity.text) or normalise_place(entity.text)
    return name.casefold() if name else None


def _collect_evidence(
    entities: Sequence[Span], text: str, story_start: int
) -> dict[str, _Evidence]:
    """Evidence for every name, from all its mentions; linear in the entities."""
    evidence: dict[str, _Evidence] = {}
    sentence_starts = _sentence_starts(entities[0].doc) if entities else set()
    for index, entity in enumerate(entities):
        key = _evidence_key(entity)
        if key is None:
            continue
        found = evidence.setdefault(key, _Evidence())
        found.indices.append(index)
        first_word = entity[0].text.casefold().rstrip(".")
        previous = _previous_word(entity, sentence_starts)
        if first_word in _HONORIFICS or previous in _HONORIFICS:
            found.titled = True
        doc = entity.doc
        possessive = entity[-1].text in _POSSESSIVE_TOKENS or (
            entity.end < len(doc) and doc[entity.end].text in _POSSESSIVE_TOKENS
        )
        if previous in _PLACE_PREPOSITIONS and not possessive:
            found.place_context = True  # "in Marlow", not "in Ben Stiller's film"
        if entity.label_ in PLACE_LABELS:
            found.place_labels += 1
        elif entity.label_ == "PERSON":
            found.person_labels += 1
        if _in_place_list(index, entities, text):
            found.in_place_list = True
        if not _starts_sentence(entity, sentence_starts, story_start):
            found.mid_sentence = True
    return evidence


def _lowercase_words(parsed: Doc) -> set[str]:
    """Words the article writes in lower case at least half as often as capitalised ("police"
    beside a "Police said"; not "senate" once beside three "Senate"): the article's own
    estimate of how common a word is."""
    lower: Counter[str] = Counter()
    title: Counter[str] = Counter()
    for token in parsed:
        if token.is_lower:
            lower[token.text] += 1
        elif token.is_title:
            title[token.text.casefold()] += 1
    return {word for word, count in lower.items() if 2 * count >= title[word]}


def _check_type(
    kind: str,
    name: str,
    place_name: str,
    found: _Evidence,
    name_tokens: set[str],
    lowercase: set[str],
) -> tuple[str, str] | None:
    """The checked (kind, name) of a person or organisation mention, or None: no name."""
    one_word = " " not in name
    in_full_name = one_word and name.casefold() in name_tokens  # "Michael Jordan" → "Jordan"
    is_acronym = name.replace(".", "").isupper()  # "UN" is no city "Un"; "EU" no word "eu"
    place = gazetteer_place(place_name, person=kind == "person")
    # "UN" is no city Un; "Delta", "Corona", "in Time" are no cities.
    if (
        place is not None
        and place.kind == "city"
        and one_word
        and (is_acronym or (kind == "organisation" and is_english_word(name)))
    ):
        place = None
    if place is not None and not in_full_name:
        if place.kind != "city":
            return "place", place_name  # "Jordan"; a title does not make "Miss Hungary" a person
        if not found.titled and (
            not one_word
            or place.population >= _PERSON_AS_CITY_POPULATION
            or found.place_context
            or found.in_place_list
        ):
            return "place", place_name  # "Alice Springs", "Kiev", "in Marlow", "Khiva, Bukhara"
    if found.titled or in_full_name:
        return kind, name
    if (
        kind == "person"
        and place is None
        and (found.place_context or found.place_labels >= 2 * found.person_labels)
        and not (one_word and is_english_word(name))  # "in Bush v. Gore"
    ):
        return "place", place_name  # "at Tora Bora": kept as an unresolved place
    if (
        one_word
        and name.isalpha()  # "O'Neill", "Abd-Rabbu" are no common words
        and not is_acronym
        and is_english_word(name)
        # Organisations start sentences as often as not ("Apple said"): only the lower case
        # tells there.
        and (name.casefold() in lowercase or (kind == "person" and not found.mid_sentence))
    ):
        return None  # "Police ... police", "Diamond Shamrock Corp said"
    return kind, name


def _check_types(
    classified: Sequence[tuple[int, str, str]],
    entities: Sequence[Span],
    text: str,
    story_start: int,
    name_tokens: set[str],
) -> list[tuple[int, str, str]]:
    """``classified`` (entity index, kind, name) with people and organisations checked (module
    docstring); what is no name is left out."""
    if not any(kind != "place" for _, kind, _ in classified):
        return list(classified)
    evidence = _collect_evidence(entities, text, story_start)
    lowercase = _lowercase_words(entities[0].doc) if entities else set()
    checked: list[tuple[int, str, str]] = []
    for index, kind, name in classified:
        entity = entities[index]
        key = _evidence_key(entity)
        place_name = normalise_place(entity.text)
        if kind == "place" or key is None or place_name is None:
            checked.append((index, kind, name))
            continue
        if kind == "person":
            place_name = _LEADING_THE.sub("", name)
        decided = _check_type(kind, name, place_name, evidence[key], name_tokens, lowercase)
        if decided is not None:
            checked.append((index, *decided))
    return checked


def _merge_organisations(mentions: Sequence[Mention]) -> tuple[Counter[str], list[str]]:
    """Case variants merged (the most frequent spelling wins); "the Azerbaijan Media Development
    Agency" counted as "Media Development Agency" when both occur."""
    spellings: dict[str, Counter[str]] = {}
    for m in mentions:
        spellings.setdefault(m.name.casefold(), Counter())[m.name] += 1
    counts: Counter[str] = Counter()
    folded_names = set(spellings)
    for folded, variants in spellings.items():
        target = folded
        words = folded.split()
        # A place or demonym prefixed to another organisation of this article.
        for cut in range(1, min(3, len(words) - 1) + 1):
            rest = " ".join(words[cut:])
            if rest in folded_names and resolve_place(" ".join(words[:cut])) is not None:
                target = rest
                break
        counts[target] += sum(variants.values())
    names: dict[str, str] = {}
    for folded in counts:
        names[folded] = spellings[folded].most_common(1)[0][0]
    ordered = sorted(counts, key=lambda f: -counts[f])
    return Counter({names[f]: counts[f] for f in ordered}), [names[f] for f in ordered]


def _resolve_places(
    mentions: Sequence[Mention], dateline_place: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Geocode each distinct name: first the countries (and US states) the article names, then
    every name with those countries as context for ambiguous ones."""
    distinct = list(dict.fromkeys(m.name for m in mentions))
    context: set[str] = set()
    for name in distinct:
        code = _country_of(resolve_place(name))
        if code:
            context.add(code)
    if dateline_place:
        dateline = resolve_place(dateline_place, context)
        if dateline is not None and dateline.country_code:
            context.add(dateline.country_code)
    resolved = {name: resolve_place(name, context) for name in distinct}

    places: dict[tuple[str, str, int], dict[str, Any]] = {}
    unresolved: Counter[str] = Counter()
    for m in mentions:
        place = resolved[m.name]
        if place is None:
            unresolved[m.name] += 1
            continue
        key = (place.kind, place.country_code, place.geonameid)
        entry = places.get(key)
        if entry is None:
            entry = places[key] = {
                "name": place.name,
                "kind": place.kind,
                "country_code": place.country_code or None,
                "country": place.country or None,
                "location": {"lat": place.latitude, "lon": place.longitude},
                "geonameid": place.geonameid or None,
                "mentions": 0,
                "mentioned_as": [],
            }
        entry["mentions"] += 1
        if m.name not in entry["mentioned_as"]:
            entry["mentioned_as"].append(m.name)
    ordered = sorted(places.values(), key=lambda p: -int(p["mentions"]))
    return ordered, [{"name": n, "mentions": c} for n, c in unresolved.most_common()]
