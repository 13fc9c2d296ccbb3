"""People, organisations and places named in an article: spaCy's entities, cleaned, merged and
geocoded with the GeoNames gazetteer.

The small English model's labels are noisy on names it has not seen ("Saidzhanov" as NORP,
"Azerbaijan" and "Khiva" as PERSON), so a few corrections follow the labels:

- a name that is exactly a country is a place whatever its label;
- a PERSON in a list of places ("Khiva, Samarkand, Bukhara") that the gazetteer knows is a place;
- a later single surname maps to the fuller name it ends ("Saidzhanov" → "Dilshod Saidzhanov"),
  whatever its label, and so does the bare surname where the model saw no entity at all.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from worker.enrich.dateline import parse_dateline
from worker.enrich.gazetteer import Place, find_city, resolve_place

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
# Two entities separated only by this are in one list ("Khiva, Samarkand and Bukhara").
_LIST_SEPARATOR = re.compile(r"^\s*(?:,|,?\s*and|,?\s*or)\s*$")
MAX_NAME_TOKENS = 6
# The model tags some cities FAC: a FAC is a place only if it is a country or a city this big.
_FAC_MIN_POPULATION = 100_000


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


def _name_key(name: str) -> tuple[str, ...]:
    """The tokens that identify a name, case-folded, without middle initials."""
    tokens = name.casefold().split()
    if len(tokens) > 2:
        tokens = [
            tokens[0],
            *[t for t in tokens[1:-1] if not _INITIAL.match(t.upper())],
            tokens[-1],
        ]
    return tuple(tokens)


def _last_token(name: str) -> str:
    return name.split()[-1].casefold()


def canonical_people(mentions: Sequence[Mention]) -> dict[str, str]:
    """Each normalised person name → its canonical form. Variants of one full name ("Donald J.
    Trump", "Donald Trump") become the most frequent; a single surname becomes the most recent
    fuller name ending with it (the most frequent one when the surname comes first)."""
    counts = Counter(m.name for m in mentions)
    by_key: dict[tuple[str, ...], list[str]] = {}
    for name in counts:
        by_key.setdefault(_name_key(name), []).append(name)
    canonical: dict[str, str] = {}
    for names in by_key.values():
        best = max(names, key=lambda n: (counts[n], -len(n)))
        canonical.update(dict.fromkeys(names, best))
    full_counts = Counter(canonical[m.name] for m in mentions if " " in canonical[m.name])
    by_given = _by_given_name(full_counts)
    last_full: dict[str, str] = {}  # surname → the latest full name seen so far
    for m in mentions:  # in text order
        name = canonical[m.name]
        if " " in name:
            last_full[_last_token(name)] = name
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
    surnames = {_last_token(p) for p in people}
    by_first: dict[str, list[str]] = {}
    for name in names:
        by_first.setdefault(name.split()[0].casefold(), []).append(name)
    return {k: v for k, v in by_first.items() if len(v) == 1 and k not in surnames}


def _most_frequent_with_surname(surname: str, counts: Counter[str]) -> str | None:
    matching = [name for name in counts if _last_token(name) == surname]
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
    by_key = {_name_key(p): p for p in people}
    by_surname: dict[str, list[str]] = {}
    for full in sorted(people, key=lambda p: -len(p.split())):  # full names first
        by_surname.setdefault(_last_token(full), []).append(full)
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
        person = by_key.get(_name_key(name))
        if person is None and " " not in name:
            folded = name.casefold()
            candidates = by_surname.get(folded, []) or by_given.get(folded, [])
            person = last_full.get(folded) or (candidates[0] if candidates else None)
        if person is None:
            continue
        if " " in person:
            last_full[_last_token(person)] = person
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
    for index, entity in enumerate(entities):
        mention = _classify(entity, index, entities, text, name_tokens)
        if mention is None:
            continue
        kind, name = mention
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
            "people": [{"name": n, "mentions": person_counts[n]} for n in people],
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
    NORP entities are dropped here; a NORP that is a surname comes back in ``person_mentions``."""
    label = entity.label_
    if label not in {"PERSON", "ORG", "NORP", "GPE", "LOC", "FAC"}:
        return None
    place_name = normalise_place(entity.text)
    if place_name is None:
        return None
    if label in PLACE_LABELS:
        return "place", place_name
    resolved = resolve_place(place_name)
    if (
        resolved is not None
        and resolved.kind == "country"
        and place_name.casefold() not in name_tokens
    ):
        return "place", place_name  # "Uzbekistan" labelled ORG, NORP or PERSON
    if label == "FAC":
        if resolved is not None and resolved.population >= _FAC_MIN_POPULATION:
            return "place", place_name
        return None
    if label == "PERSON":
        name = normalise_person(entity.text)
        if name is None:
            return None
        lone = " " not in name and name.casefold() not in name_tokens
        if lone and resolved is not None and _in_place_list(index, entities, text):
            return "place", place_name  # "Khiva, Samarkand, Bukhara"
        if lone and _big_city(name):
            return "place", place_name  # "Kiev"
        return "person", name
    if label == "ORG":
        org = normalise_organisation(entity.text)
        return ("organisation", org) if org else None
    return None


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
