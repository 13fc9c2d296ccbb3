"""People, organisations and places on real corpus articles, and how well places geocode.

    python -m quality.entities            # the figures
    python -m quality.entities --sample   # a fresh random sample of resolved places to judge

Geocoding hit rate: of the story's place mentions (GPE/LOC, and the mislabelled ones the step
takes as places), the share resolved to a gazetteer entry. Precision: judgements made by
reading each mention in its sentence (``_JUDGEMENTS`` below: article, the name as written,
what it resolved to, right or wrong); a judged mention that now resolves differently is
reported as changed, not counted.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from typing import Any

from quality.corpus import NewsArticle, news_articles
from worker.enrich.dateline import parse_dateline
from worker.enrich.entities import extract_entities, normalise_place
from worker.enrich.nlp import parse_texts

SEED = 7

# Resolved place mentions judged by reading each in its sentence: the 60 that ``print_sample``
# drew (400 articles, seeds 7 and 8). (article id, name as normalised, resolved as, right?)
_JUDGEMENTS: tuple[tuple[str, str, str, bool], ...] = (
    ("3472", "US", "United States, US (country)", True),
    ("1163", "Britain", "United Kingdom, GB (country)", True),
    ("602", "Fangshan", "Fangshan, CN (city)", True),
    ("1922", "Syria", "Syria, SY (country)", True),
    ("163", "Russia", "Russia, RU (country)", True),
    # a person (Thandie Newton) the model labelled GPE
    ("3102", "Newton", "Newton, US (city)", False),
    ("1752", "U.S.", "United States, US (country)", True),
    ("1275", "Norway", "Norway, NO (country)", True),
    ("1026", "US", "United States, US (country)", True),
    ("2818", "California", "California, US (region)", True),
    ("1289", "UK", "United Kingdom, GB (country)", True),
    ("3618", "Hawaii", "Hawaii, US (region)", True),
    # a person's name
    ("3740", "Bud", "Budapest, HU (city)", False),
    ("1070", "Las Vegas", "Las Vegas, US (city)", True),
    ("357", "the United States", "United States, US (country)", True),
    # the province, resolved to a city through an alternate name
    ("420", "Jiangxi", "Jiangxi, CN (city)", False),
    ("1435", "Malaysia", "Malaysia, MY (country)", True),
    ("3635", "Minsk", "Minsk, BY (city)", True),
    # 'Washington Rep.': the state, not the city
    ("2706", "Washington", "Washington, US (city)", False),
    ("508", "Beijing", "Beijing, CN (city)", True),
    ("2075", "Kuwait", "Kuwait, KW (country)", True),
    ("1741", "Malaysia", "Malaysia, MY (country)", True),
    ("2815", "Afghanistan", "Afghanistan, AF (country)", True),
    ("3374", "Ethiopia", "Ethiopia, ET (country)", True),
    ("3595", "Virginia", "Virginia, US (region)", True),
    ("270", "Cologne", "Köln, DE (city)", True),
    ("604", "Beijing", "Beijing, CN (city)", True),
    ("2407", "UK", "United Kingdom, GB (country)", True),
    ("3235", "Washington", "Washington, US (city)", True),
    ("2038", "Edinburgh", "Edinburgh, GB (city)", True),
    ("1093", "Chicago", "Chicago, US (city)", True),
    ("3299", "Nashville", "Nashville, US (city)", True),
    ("292", "Maastricht", "Maastricht, NL (city)", True),
    ("2208", "Beijing", "Beijing, CN (city)", True),
    ("1657", "The United States", "United States, US (country)", True),
    ("248", "Bucharest", "Bucharest, RO (city)", True),
    ("912", "US", "United States, US (country)", True),
    ("2762", "New Zealand", "New Zealand, NZ (country)", True),
    ("427", "Paris", "Paris, FR (city)", True),
    ("2300", "the United States", "United States, US (country)", True),
    ("2129", "Rotterdam", "Rotterdam, NL (city)", True),
    ("937", "Ireland", "Ireland, IE (country)", True),
    ("3779", "Hamburg", "Hamburg, DE (city)", True),
    ("2331", "Japan", "Japan, JP (country)", True),
    ("1506", "UK", "United Kingdom, GB (country)", True),
    ("1637", "America", "United States, US (country)", True),
    ("624", "Shanghai", "Shanghai, CN (city)", True),
    ("252", "Sweden", "Sweden, SE (country)", True),
    ("1422", "Sudan", "Sudan, SD (country)", True),
    ("2314", "Russia", "Russia, RU (country)", True),
    ("508", "Zhengzhou", "Zhengzhou, CN (city)", True),
    ("2501", "Egypt", "Egypt, EG (country)", True),
    ("423", "Brussels", "Brussels, BE (city)", True),
    ("3263", "the Czech Republic", "Czechia, CZ (country)", True),
    ("2629", "Moscow", "Moscow, RU (city)", True),
    ("744", "Ghana", "Ghana, GH (country)", True),
    ("1654", "Virginia", "Virginia, US (region)", True),
    ("3548", "London", "London, GB (city)", True),
    ("606", "Johannesburg", "Johannesburg, ZA (city)", True),
    ("290", "India", "India, IN (country)", True),
)


def _sample(sample_size: int) -> list[NewsArticle]:
    return random.Random(SEED).sample(list(news_articles()), sample_size)


def _resolved_as(place: dict[str, Any]) -> str:
    return f"{place['name']}, {place['country_code'] or '-'} ({place['kind']})"


def _analyse(articles: list[NewsArticle]) -> list[dict[str, Any]]:
    docs = parse_texts([a.text for a in articles])
    results = []
    for article, parsed in zip(articles, docs, strict=True):
        dateline = parse_dateline(article.text)
        found = extract_entities(parsed, dateline_place=dateline.place if dateline else None)
        results.append({"article": article, "parsed": parsed, "entities": found})
    return results


def evaluate(sample_size: int = 400) -> dict[str, Any]:
    results = _analyse(_sample(sample_size))
    resolved = unresolved = alternate_only = 0
    kinds: Counter[str] = Counter()
    by_written: dict[tuple[str, str], str] = {}
    people = organisations = places = 0
    for result in results:
        found = result["entities"]
        people += len(found["people"])
        organisations += len(found["organisations"])
        places += len(found["places"])
        for place in found["places"]:
            resolved += place["mentions"]
            kinds[place["kind"]] += place["mentions"]
            if place["kind"] == "city" and place["name"] not in place["mentioned_as"]:
                alternate_only += place["mentions"]
            for written in place["mentioned_as"]:
                by_written[(result["article"].article_id, written)] = _resolved_as(place)
        unresolved += sum(u["mentions"] for u in found["unresolved_places"])
    total = resolved + unresolved

    judged = [j for j in _JUDGEMENTS if by_written.get((j[0], j[1])) == j[2]]
    changed = len(_JUDGEMENTS) - len(judged)
    right = sum(j[3] for j in judged)
    precision = right / max(len(judged), 1)
    n = len(results)
    return {
        "articles": n,
        "place_mentions": total,
        "hit_rate": resolved / max(total, 1),
        "by_kind": dict(kinds.most_common()),
        "alternate_name_share": alternate_only / max(resolved, 1),
        "precision": precision,
        "judged": len(judged),
        "judged_changed": changed,
        "per_article": {
            "people": people / n,
            "organisations": organisations / n,
            "places": places / n,
        },
        "summary_lines": [
            f"{n} random corpus articles (seed {SEED}): per article {people / n:.1f} people, "
            f"{organisations / n:.1f} organisations, {places / n:.1f} distinct places.",
            f"Geocoding hit rate: **{100 * resolved / max(total, 1):.1f}%** of {total} place "
            "mentions resolved to a country, US state, continent or city "
            f"({', '.join(f'{k} {v}' for k, v in kinds.most_common())}). The misses are mostly "
            "regions the gazetteer lacks (Chinese provinces, seas, the West Bank, Davos and "
            "other towns under 15,000 people) and model errors (companies labelled GPE).",
            f"Precision, judged by reading each mention in context: **{100 * precision:.1f}%** "
            f"({right}/{len(judged)} in a sample read by hand"
            + (f"; {changed} judged mentions now resolve differently" if changed else "")
            + ").",
        ],
    }


def print_sample(count: int = 60, sample_size: int = 400) -> None:
    """Resolved place mentions in context, for judging by eye."""
    rows = []
    for result in _analyse(_sample(sample_size)):
        article, parsed = result["article"], result["parsed"]
        for place in result["entities"]["places"]:
            for entity in parsed.ents:
                if normalise_place(entity.text) in place["mentioned_as"]:
                    start = max(0, entity.start_char - 90)
                    context = article.text[start : entity.end_char + 60].replace("\n", " ")
                    rows.append((article.article_id, entity.text, _resolved_as(place), context))
                    break
    for article_id, written, resolved, context in random.Random(SEED + 1).sample(rows, count):
        print(f"{article_id}\t{written}\t-> {resolved}\t| {context}")


if __name__ == "__main__":
    if "--sample" in sys.argv:
        print_sample()
    else:
        print("\n".join(evaluate()["summary_lines"]))
