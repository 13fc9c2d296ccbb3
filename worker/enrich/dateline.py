"""Leading ``date YYYY-MM-DD`` lines and datelines such as ``BAKU, Azerbaijan, September 30.``.

Written by hand: no maintained library parses news datelines (dateparser reads the date once it
is found, geotext/mordecai find places anywhere in a text, not the opening's structure). The
parser reads the opening as a place followed by a few optional parts in any order, then a
separator, which covers the wire styles of several decades:

- Reuters ``NEW YORK, FEB 26 -`` (1987), ``LONDON 1996-08-30`` (RCV1/CoNLL), ``LONDON, March 3
  (Reuters) -``; AP ``KYIV, Ukraine (AP) —``, ``WASHINGTON (AP) _``; AFP, UPI ``--``; Xinhua
  ``BEIJING, Dec. 1 (Xinhua) --``; TASS ``MOSCOW, February 9. /TASS/.``; PTI ``New Delhi, Jan 5
  (PTI)`` with no separator; EFE ``MADRID, 3 Mar (EFE).-``; Trend ``BAKU, Azerbaijan, Sept. 30.``
  and ``Azerbaijan, Baku, 5 December / Trend /``; press releases ``TEMPE, Ariz., Feb. 8, 2017
  /PRNewswire/ --``, ``SAN FRANCISCO--(BUSINESS WIRE)--``, ``(GLOBE NEWSWIRE) --``; Kyodo and
  AAP crediting themselves without brackets (``TOKYO, Jan. 5 Kyodo -``); ANI's ``Srinagar (Jammu
  and Kashmir) [India], Jan 5 (ANI):``; ANSA's credit first (``(ANSA) - ROME, JAN 5 -``).
- Before the dateline: ``DATELINE:``, or a few header lines: a desk slug (``UPDATE 1-Oil
  climbs...``), Reuters' bullets and advisory (``* Brent down 2%``, ``(Adds quotes)``), a byline
  (``By JOSH BOAK, AP Economics Writer``, ``Special to The New York Times``).
- Also: Gulf News' ``Dubai: The``, the NYT's ``Washington — The``, Anadolu's ``ANKARA`` alone on
  its line, a credit after a comma (``Tehran, Jan 5, IRNA --``, ``Accra, Jan. 5, GNA -``), agency
  and date in one bracket (``--(Marketwired - Jan. 5, 2015) -``), Europa Press's day alone
  (``MADRID, 5 (EUROPA PRESS)``), a weekday alone (``WASHINGTON, Thursday -``), months in
  Spanish, French, German, Italian, Portuguese, Dutch, Polish, Czech and Russian, and former
  countries (``SALISBURY, Rhodesia``, ``BONN, West Germany``, ``EAST BERLIN``).
- Parts: a region or state (``N.J.``, ``Calif.``, ``Ohio``, ``Ukraine``), a date (``Feb 26``,
  ``FEB 26``, ``Sept. 30``, ``26 Feb``, ``May 5, 2004``, ``1996-08-30``), an agency in brackets
  or between slashes, before or after the date; whitespace between parts may be a line break
  (hard-wrapped copy).

Every token is matched at a fixed position with bounded repetition, on at most
``MAX_DATELINE_CHARS`` of the text: the cost is linear in that cap, whatever the input.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import date

from worker.enrich.gazetteer import (
    Place,
    country_place,
    find_city,
    find_country,
    resolve_place,
    us_state_code,
)

_DATE_PREFIX = re.compile(
    r"^\s*date\s*:?\s*(?P<date>\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2})?)?\s+",
    re.IGNORECASE,
)

# A dateline opens the text: only this much of it (after leading whitespace) is read. Without
# the bound, "A.B.C.D. ..., France." would make a place name as long as the body (an
# Elasticsearch keyword refuses terms over 32,766 bytes) and the pattern's optional parts read
# arbitrarily far.
MAX_DATELINE_CHARS = 1_000

_UPPER = "A-ZÀ-ÖØ-ÞĀ-ŽА-ЯЁ"  # Latin and Cyrillic ("МОСКВА, 18 июня. /ТАСС/.")
_LETTER = "A-Za-zÀ-ÖØ-öø-ÿĀ-žА-яЁё"
# Months in any case ("FEB", "Feb.", "Sept", "september"), never a longer word ("MAYOR").
_MONTH = (
    r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![^\W\d_])\.?"
)
# Months of the other languages wire datelines are written in, day first: EFE "MADRID, 3 jun
# (EFE).-", AFP "PARIS, 18 juin (AFP) -", dpa "BERLIN, 18. Juni (dpa) -", TASS and RIA "МОСКВА,
# 18 июня. /ТАСС/." (dateparser reads them all).
_FOREIGN_MONTH = (
    r"(?i:ene(?:ro)?|feb(?:rero)?|mar(?:zo)?|abr(?:il)?|may(?:o)?|jun(?:io)?|jul(?:io)?"
    r"|ago(?:sto)?|sep(?:tiembre)?|set(?:iembre)?|oct(?:ubre)?|nov(?:iembre)?|dic(?:iembre)?"
    r"|janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[ûu]t|septembre|octobre|novembre"
    r"|d[ée]cembre|januar|februar|m[äa]e?rz|juni|juli|oktober|dezember"
    # AFP in French abbreviates ("Paris, 5 janv 2012 (AFP) -"); ANSA in Italian ("ROMA, 05 GEN -")
    r"|janv|f[ée]vr|avr|juil|d[ée]c|gen(?:naio)?|febbraio|apr(?:ile)?|mag(?:gio)?|giu(?:gno)?"
    r"|lug(?:lio)?|ott(?:obre)?|settembre|dicembre"
    # Lusa ("Lisboa, 05 fev (Lusa) -"), ANP ("5 januari (ANP)"), PAP ("5 stycznia (PAP)"), ČTK
    # ("5. ledna (ČTK)"): Portuguese, Dutch, Polish and Czech months.
    r"|janeiro|fev(?:ereiro)?|mar[çc]o|maio|junho|julho|setembro|out(?:ubro)?|dez(?:embro)?"
    r"|januari|februari|maart|mei|augustus"
    r"|stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|wrze[śs]nia|pa[źz]dziernika"
    r"|listopada|grudnia|ledna|[úu]nora|b[řr]ezna|dubna|kv[ěe]tna|[čc]ervna|[čc]ervence|srpna"
    r"|z[áa][řr][íi]|[řr][íi]jna|listopadu|prosince"
    r"|января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря"
    r"|янв|фев|мар|апр|июн|июл|авг|сен|окт|ноя|дек)(?![^\W\d_])\.?"
)
_WEEKDAY = r"(?i:(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?)(?![^\W\d_])\.?"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?i:st|nd|rd|th)?(?!\d|:\d)"
_YEAR = r"(?:1[89]|20)\d\d(?!\d)"
_DATE_TEXT = (
    rf"(?:{_WEEKDAY},?\s+)?"
    rf"(?:{_MONTH}\s*{_DAY}(?:,?[ \t]+{_YEAR}|,\s*{_YEAR})?"
    rf"|{_DAY}\.?\s+(?:{_MONTH}|{_FOREIGN_MONTH})(?:,?[ \t]+{_YEAR})?"
    r"|(?:1[89]|20)\d\d-[01]\d-[0-3]\d(?!\d))"
)
# Agencies that credit themselves without brackets, after the date or the place: Kyodo's
# "TOKYO, Jan. 5 Kyodo -", AAP's "SYDNEY, Jan 5 AAP -", Kazinform's "ASTANA. KAZINFORM -",
# Soviet TASS's "MOSCOW, January 5 TASS -", "МОСКВА. 5 января. ИНТЕРФАКС -".
_BARE_AGENCY = rf"(?i:kyodo(?:[ \t]+news)?|aap|nzpa|kazinform|tass|интерфакс)(?![{_LETTER}])"
# One word of a place or region: "NEW", "St.", "N'DJAMENA", "Port-au-Prince", "N.J.", but not
# a month-day ("Feb 26") or a weekday, which start the date instead, nor an agency's bare credit.
_WORD = (
    rf"(?!{_MONTH}\s*\d)(?!{_WEEKDAY}[\s,])(?!{_BARE_AGENCY})"
    rf"[{_UPPER}][{_LETTER}'’.]*(?:-[{_LETTER}'’.]+)*"
)
_CONNECTOR = (
    r"(?:de|da|do|dos|das|del|di|du|des|es|el|al|la|le|les|los|of|on|upon|am|an|der|sur|en|au|aux)"
)
_NAME = rf"{_WORD}(?:[ \t]+(?:{_CONNECTOR}[ \t]+)?{_WORD}){{0,4}}"
# "NEW YORK/LONDON": several places; the first one is the dateline's.
_PLACE = re.compile(
    # An editor's tag before the dateline: "[CORRECTED 21:48 GMT] WASHINGTON 1997-04-13"; a
    # database's field name: "DATELINE: WASHINGTON, Jan. 5".
    r"\s*(?:\[[^\[\]\n]{1,60}\]\s*)?(?:DATELINE[ \t]*:[ \t]*)?"
    # "NEW YORK/LONDON", "LONDON & NEW YORK--(BUSINESS WIRE)--" (not TASS's region between
    # slashes: "BADEN-BADEN /Germany/").
    rf"(?P<place>{_NAME})"
    rf"(?P<more>(?:(?:/|[ \t]+&[ \t]+){_NAME}(?![{_LETTER}'’.]|-[{_LETTER}]|\s*/)){{0,3}})"
)
# Papers in Indian scripts open with the place and a colon: "বীরভূম: লোকসভা ...", "नई दिल्ली: ".
# The gazetteer holds Latin-script names only: the place is kept as written, its country unknown.
_INDIC = "\u0900-\u0963\u0966-\u0dff"  # Devanagari to Sinhala, without the danda
_INDIC_DATELINE = re.compile(
    rf"\s*(?P<place>[{_INDIC}]+(?:[ \t][{_INDIC}]+){{0,2}})[ \t]*[:：][ \t]"
)
# Chinese, Japanese and Korean wire openings: Xinhua's "新华社北京6月18日电", Kyodo's
# "【ワシントン＝共同】" or "【北京共同】", Yonhap's "(서울=연합뉴스)". The place is kept as written
# (see _INDIC_DATELINE).
_CJK_AGENCIES = (
    "新华社|中新社|中新网|中国新闻网|人民网|央视网|新华网|环球网|本报|法新社|路透社|美联社|共同社"
)
_EAST_ASIAN_DATELINES = (
    re.compile(
        rf"\s*(?P<agency>{_CJK_AGENCIES})(?:记者)?(?P<place>[\u4e00-\u9fff]{{2,8}}?)"
        r"(?P<date>\d{1,2}月\d{1,2}日)(?:电|消息)"
    ),
    re.compile(r"\s*【(?P<place>[^\s【】＝=]{1,12})[＝=](?P<agency>[^\s【】]{1,10})】"),
    re.compile(r"\s*【(?P<place>[^\s【】＝=]{1,12}?)(?P<agency>共同|時事|ロイター|AFP時事)】"),
    re.compile(r"\s*[(（](?P<place>[가-힣]{1,10})[=＝](?P<agency>연합뉴스|뉴시스|뉴스1)[)）]"),
)

_DATE = re.compile(rf"\s*(?:[,.]\s*)?(?P<date>{_DATE_TEXT})")
# "--(BUSINESS WIRE)--Jan. 5, 2004--": a date between dashes after the agency.
_DASHED_DATE = re.compile(rf"\s*(?:--|—)\s*(?P<date>{_DATE_TEXT})(?=\s*(?:--|—))")
_BRACKET = re.compile(
    r"\s*\((?P<bracket>[^()]{1,40})\)"
    # ANI's region in square brackets: "Srinagar (Jammu and Kashmir) [India], Jan 5 (ANI):".
    r"|\s*\[(?P<square>[^\[\]\n]{1,40})\]"
    # "SAN FRANCISCO--(BUSINESS WIRE)--": the agency between dashes.
    # "VANCOUVER, British Columbia--(Marketwired - Jan. 5, 2015) - ": agency and date; Dow
    # Jones' "NEW YORK -(Dow Jones)- ". A bracket may hold a line break (hard-wrapped copy).
    r"|\s*(?:-{1,2}|[—–])\s*\((?P<dashed>[^()]{1,40})\)(?=\s*(?:-|[—–]))"
)
_CREDIT_AND_DATE = re.compile(rf"(?P<credit>[^()\n]{{1,40}}?)\s*[-—–]\s*(?P<date>{_DATE_TEXT})\s*")
_BRACKETED_DATE = re.compile(rf"\s*{_DATE_TEXT}\s*")
# Wire credits written between slashes: "February 7. /TASS/." or "2017 /PRNewswire/.-"
_WIRE = re.compile(rf"\s*[.,]?\s*/\s*(?P<wire>[{_LETTER}][{_LETTER}0-9 .&,-]{{0,40}}?)\s*/")
# "Tehran, Jan 5, IRNA --", "Damascus, SANA –", "YEREVAN, JANUARY 5, ARMENPRESS.": a known
# agency after a comma (see _read_parts).
_COMMA_CREDIT = re.compile(
    rf"\s*,[ \t]*(?P<credit>[{_UPPER}][{_LETTER}-]{{1,20}}?)(?=[ \t]*(?:-|[—–:])|\.\s)"
)
# British papers' "WASHINGTON, Thursday -": the weekday alone, no date.
_WEEKDAY_ALONE = re.compile(rf"\s*,[ \t]*{_WEEKDAY}(?=[ \t]*(?:-|[—–:]))")
# Europa Press's "MADRID, 5 (EUROPA PRESS) -": the day alone, its month the story's.
_DAY_ALONE = re.compile(r"\s*,[ \t]*(?:[12]\d|3[01]|0?[1-9])(?=[ \t]*\()")
_BARE = re.compile(rf"\s*[.,]?[ \t]*(?P<bare>{_BARE_AGENCY})(?=[ \t]*(?:-|[—–:]))")
# ANSA in English credits itself before the dateline: "(ANSA) - ROME, JAN 5 - Italian".
_LEADING_CREDIT = re.compile(r"\s*\((?P<credit>[^()\n]{1,40})\)[ \t]*(?:-{1,2}|[—–])[ \t]*")
_REGION = re.compile(rf"\s*,\s*(?P<region>{_NAME})")
# '"' is a dash that lost its encoding ("PEORIA, Ill. \" Nikita"), after a region or a date only.
_SEPARATOR = re.compile(
    r"[ \t]*(?:\r?\n[ \t]*)?(?P<separator>\.-|-{2,}|[-–—_:‒―−]|\.(?!\w\.)|/|\"(?=\s)"
    # a dash as HTML or as UTF-8 read as Windows-1252: "(AP) &mdash; The", "(AP) â€” The"
    r"|&[mn]dash;|&#821[12];|â€[\u201c\u201d])"
)
# After a date or an agency, the dateline may stand on its own line ("LONDON 1996-08-30\n", or
# the whole text as RCV1 keeps it apart), or
# end with no mark before a capital ("New Delhi, Jan 5 (PTI) The").
_LINE_END = re.compile(r"[ \t]*(?:\r?\n|\Z)")
_ALONE = re.compile(rf"[ \t]*(\r?\n)[ \t]*(?:\r?\n[ \t]*)?(?=[{_UPPER}\"“‘'])")
_BEFORE_CAPITAL = re.compile(rf"[ \t]+(?=[{_UPPER}\"“‘'])")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Agencies a Title-case opening may credit ("London (Reuters) -"); an all-caps place may credit
# any bracketed name.
_AGENCIES = _words(
    """reuters ap afp upi xinhua tass itar-tass pa aap cp pti ians trend efe ansa dpa kyodo yonhap
    bernama anadolu aa apa ria-novosti interfax sputnik azertac irna isna mehr fars tasnim kuna
    wam spa qna bna ona mena petra nna sana wafa antara pna vna cna cns kazinform uza ukrinform
    unian belta bta mti pap ctk hina tanjug ani uni bss app bloomberg businesswire
    globenewswire prnewswire marketwired marketwire accesswire prweb newswire cnw ips jta rfe/rl
    cnn bbc nbc cbs abc npr pbs msnbc cnbc voa dw rfi nhk kbs cbc rte euronews france24
    aljazeera
    xinhuanet efe lusa europa notimex telam ansa apa tass тасс итар-тасс риа интерфакс рбк
    прайм регнум gna nan kna sapa nzpa rss saba agi adnkronos kcna jiji belga anp ritzau ntb tt
    stt sda ats keystone-sda agerpres beta fena srna mia ata bns leta elta sta aps map tap
    prensa ips ina ptinews armenpress interpressnews moldpres kabar khovar montsame pajhwok
    suna lana bopa nampa ziana ana-mpa tdh"""
) | frozenset(
    {
        "associated press",
        "the associated press",
        "agence france-presse",
        "agence france presse",
        "united press international",
        "business wire",
        "globe newswire",
        "pr newswire",
        "dow jones",
        "ria novosti",
        "риа новости",
        "europa press",
        "itar tass",
        "xinhua news agency",
        "al jazeera",
        "fox news",
        "sky news",
        "abc news",
        "cbs news",
        "nbc news",
    }
)
# Words an all-caps opening uses that are labels, not places: "NEW: ...", "BREAKING NEWS -".
_LABELS = _words(
    """new breaking news update updated exclusive watch live analysis opinion factbox editorial
    corrected correction urgent flash alert note photo photos video review interview commentary
    insight explainer wrapup poll feature special report refile repeat advisory bulletin
    summary preview timeline quotebox table graphic column comment sports weather"""
)
# Field names of exported copy and wire markers ("FROM:", "DATE:", "TIME:", "MORE -", "PART
# 2 -") whose words are also towns, or towns' alternate names, in the gazetteer (Frome, Date,
# Time, Mora, Perth): no place without a date, an agency or a region ("LEAD, S.D. (AP)" is).
_FIELDS = _words(
    """lead from date time more part source section length byline headline body text subject
    caption credit page memo end ends take insert kicker developing"""
)

# Abbreviated US states as datelines write them (AP style, plus older forms), Canadian
# provinces and Australian states: region -> (country code, US state code).
_US_ABBREVIATIONS = {
    "ala": "AL",
    "ariz": "AZ",
    "ark": "AR",
    "calif": "CA",
    "cal": "CA",
    "colo": "CO",
    "conn": "CT",
    "del": "DE",
    "fla": "FL",
    "ga": "GA",
    "ill": "IL",
    "ind": "IN",
    "kan": "KS",
    "kans": "KS",
    "ky": "KY",
    "la": "LA",
    "md": "MD",
    "mass": "MA",
    "mich": "MI",
    "minn": "MN",
    "miss": "MS",
    "mo": "MO",
    "mont": "MT",
    "neb": "NE",
    "nebr": "NE",
    "nev": "NV",
    "n.h": "NH",
    "n.j": "NJ",
    "n.m": "NM",
    "n.mex": "NM",
    "n.y": "NY",
    "n.c": "NC",
    "n.d": "ND",
    "n.dak": "ND",
    "okla": "OK",
    "ore": "OR",
    "oreg": "OR",
    "pa": "PA",
    "penn": "PA",
    "r.i": "RI",
    "s.c": "SC",
    "s.d": "SD",
    "s.dak": "SD",
    "tenn": "TN",
    "tex": "TX",
    "vt": "VT",
    "va": "VA",
    "wash": "WA",
    "w.va": "WV",
    "wis": "WI",
    "wisc": "WI",
    "wyo": "WY",
    "d.c": "DC",
    "dc": "DC",
}
_OTHER_REGIONS = {
    # Canada
    "alberta": "CA",
    "alta": "CA",
    "british columbia": "CA",
    "b.c": "CA",
    "manitoba": "CA",
    "man": "CA",
    "new brunswick": "CA",
    "n.b": "CA",
    "newfoundland": "CA",
    "nfld": "CA",
    "nova scotia": "CA",
    "n.s": "CA",
    "ontario": "CA",
    "ont": "CA",
    "quebec": "CA",
    "québec": "CA",
    "que": "CA",
    "saskatchewan": "CA",
    "sask": "CA",
    "prince edward island": "CA",
    "p.e.i": "CA",
    "yukon": "CA",
    # press releases write provinces by postal code: "VANCOUVER, BC", "TORONTO, ON"
    "bc": "CA",
    "ab": "CA",
    "sk": "CA",
    "mb": "CA",
    "on": "CA",
    "qc": "CA",
    "ns": "CA",
    "nb": "CA",
    "nl": "CA",
    "pe": "CA",
    # Australia
    "new south wales": "AU",
    "nsw": "AU",
    "n.s.w": "AU",
    "queensland": "AU",
    "qld": "AU",
    "victoria": "AU",
    "vic": "AU",
    "tasmania": "AU",
    "tas": "AU",
    "south australia": "AU",
    "western australia": "AU",
    "northern territory": "AU",
    # New Zealand, South Africa as older copy abbreviates them
    "n.z": "NZ",
    "nz": "NZ",
    "s. africa": "ZA",
    "s.africa": "ZA",
    # United Kingdom
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    # Short forms of countries as datelines write them, and names of former countries with one
    # successor ("SALISBURY, Rhodesia", "BONN, West Germany"); a region of a country that split
    # (USSR, Yugoslavia) stays unresolved and the city is read on its own.
    "antigua": "AG",
    "trinidad": "TT",
    "bosnia": "BA",
    "st. kitts": "KN",
    "west germany": "DE",
    "east germany": "DE",
    "rhodesia": "ZW",
    "zaire": "CD",
    "ceylon": "LK",
    "dahomey": "BJ",
    "upper volta": "BF",
    "siam": "TH",
    "persia": "IR",
    "holland": "NL",
}


@dataclass(frozen=True)
class Dateline:
    raw: str
    place: str
    region: str | None
    country: str | None
    country_code: str | None
    latitude: float | None
    longitude: float | None
    date_text: str | None
    agency: str | None


@dataclass(frozen=True)
class _Region:
    written: str
    country_code: str
    country: str
    state_code: str | None = None


def split_date_prefix(text: str) -> tuple[date | None, str]:
    """A leading ``date 2025-09-30`` (on its own line or not) and the text after it."""
    match = _DATE_PREFIX.match(text)
    if not match:
        return None, text
    try:
        found = date.fromisoformat(match["date"])
    except ValueError:
        return None, text
    return found, text[match.end() :]


def _key(name: str) -> str:
    return " ".join(name.replace("’", "'").casefold().split()).rstrip(".")


def _resolve_region(written: str, place: str | None = None) -> _Region | None:
    """A region as datelines write it: a country, a US state (in full, by postal code or by
    its AP abbreviation), a Canadian province or an Australian state. A name that is both a
    state and a country (Georgia) is the state when ``place`` is a city of that state."""
    key = _key(written)
    state = _US_ABBREVIATIONS.get(key) or _US_ABBREVIATIONS.get(key.replace(". ", "."))
    if state is None:
        state = us_state_code(written)
        both = state is not None and find_country(written) is not None
        if both and (place is None or find_city(place, "US", state) is None):
            state = None
    if state is not None:
        return _Region(written, "US", "United States", state)
    country = find_country(written)
    if country is None:
        story_place = resolve_place(written)
        if story_place is not None and story_place.kind == "country":
            country = (story_place.country_code, story_place.country)
    if country is not None:
        return _Region(written, *country)
    code = _OTHER_REGIONS.get(key)
    country_of_region = country_place(code) if code else None
    if country_of_region is not None:
        return _Region(written, country_of_region.country_code, country_of_region.country)
    return None


def _city(name: str, region: _Region | None) -> Place | None:
    """A dateline names a city: the gazetteer's best city reading (so "ST. PETERSBURG" is
    Russia's, not Florida's), within the stated country (and state) when there is one; but the
    city the name itself names when the best reading is its neighbour (NEW DELHI, not Delhi)."""
    code = region.country_code if region else None
    if region is not None and region.state_code is not None:
        in_state = find_city(name, "US", region.state_code)
        if in_state is not None:
            return in_state
    named = find_city(name, code)
    place = resolve_place(name, (code,) if code else ())
    if place is None or place.kind != "city" or code not in (None, place.country_code):
        return named
    if named is not None and _near(named, place):
        return named
    return place


def _near(one: Place, other: Place) -> bool:
    """Within about 50 km (an equirectangular approximation is plenty at that distance)."""
    dx = math.radians(one.longitude - other.longitude) * math.cos(math.radians(one.latitude))
    dy = math.radians(one.latitude - other.latitude)
    return 6371.0 * math.hypot(dx, dy) < 50.0


def _is_caps(text: str) -> bool:
    letters = [char for char in text if char.isalpha()]
    return bool(letters) and all(char.isupper() for char in letters)


def _display(place: str) -> str:
    """An all-caps place as a reader writes it: "NEW YORK" -> "New York", "RIO DE JANEIRO" ->
    "Rio de Janeiro", "PORT-AU-PRINCE" -> "Port-au-Prince", "N'DJAMENA" -> "N'Djamena", "ST.
    JOHN'S" -> "St. John's"."""
    if not _is_caps(place):
        # "St PETERSBURG": only its words in capitals are recased.
        words = place.split(" ")
        if not any(len(word) > 2 and _is_caps(word) for word in words):
            return place
        return " ".join(_display(w) if len(w) > 2 and _is_caps(w) else w for w in words)
    out: list[str] = []
    for part in re.split(r"([\s\-'’]+)", place.lower()):
        if not part or not part[0].isalpha():
            out.append(part)
            continue
        previous = "".join(out).rstrip()
        after_apostrophe = previous.endswith(("'", "’"))
        lower = bool(previous) and (
            re.fullmatch(_CONNECTOR, part) is not None
            or (after_apostrophe and len(previous.rstrip("'’").split()[-1].split("-")[-1]) > 1)
        )
        out.append(part if lower else part[:1].upper() + part[1:])
    return "".join(out)


def _is_agency(name: str) -> bool:
    key = _key(name)
    return key in _AGENCIES or any(part in _AGENCIES for part in re.split(r"[ /,-]+", key))


@dataclass
class _Parts:
    regions: list[str]
    date_text: str | None = None
    agency: str | None = None
    separator: str | None = None
    end: int = 0


def _read_parts(text: str, position: int) -> _Parts | None:
    """The optional parts after the place, in any order, up to the separator; None when the
    opening does not end as a dateline does."""
    parts = _Parts(regions=[])
    credits: list[str] = []
    for _ in range(8):  # place, region(s), date, agency, wire credit: a handful of parts
        if parts.date_text is None and (
            match := _DASHED_DATE.match(text, position) or _DATE.match(text, position)
        ):
            parts.date_text = match["date"]
        elif match := _BRACKET.match(text, position) or _WIRE.match(text, position):
            # "BANGALORE (India)", TASS's "BADEN-BADEN /Germany/": a region; "(Reuters)",
            # "/TASS/": the agency; "CARRIER (Severomorsk), February 9. /TASS/.": a detail.
            groups = match.groupdict()
            named = groups.get("bracket") or groups.get("dashed") or groups.get("wire") or ""
            named = " ".join((named or groups.get("square") or "").split())
            if parts.date_text is None and _BRACKETED_DATE.fullmatch(named):
                parts.date_text = named  # "WASHINGTON (Aug. 13) --": the date in brackets
            elif parts.date_text is None and (both := _CREDIT_AND_DATE.fullmatch(named)):
                parts.date_text = both["date"]  # "(Marketwired - Jan. 5, 2015)"
                credits.append(both["credit"])
            elif (
                not parts.regions
                and parts.date_text is None
                and not _is_agency(named)  # "LONDON (PA) -": the Press Association, not Pa.
                and _resolve_region(named)
            ):
                parts.regions.append(named)
            elif len(credits) < 2:
                credits.append(named)
            else:
                return None
        elif (
            not credits
            and (match := _COMMA_CREDIT.match(text, position))
            and _key(match["credit"]) in _AGENCIES
            and _resolve_region(match["credit"]) is None  # "HARRISBURG, Pa. (AP)": the state
        ):
            credits.append(match["credit"])
        elif parts.date_text is None and (
            match := _WEEKDAY_ALONE.match(text, position) or _DAY_ALONE.match(text, position)
        ):
            pass
        elif (
            len(parts.regions) < 2
            and parts.date_text is None
            and (match := _REGION.match(text, position))
        ):
            parts.regions.append(match["region"])
        elif not credits and (match := _BARE.match(text, position)):
            credits.append(match["bare"])
        else:
            break
        position = match.end()
    known = [credit for credit in credits if _is_agency(credit)]
    parts.agency = known[0] if known else (credits[0] if credits else None)
    separator = _SEPARATOR.match(text, position)
    if separator is not None and (
        separator["separator"] not in ("/", '"')
        or parts.agency
        or (separator["separator"] == '"' and (parts.regions or parts.date_text))
    ):
        parts.separator, parts.end = separator["separator"], separator.end()
        return parts
    if not (parts.date_text or parts.agency or parts.regions) and (
        alone := _ALONE.match(text, position)
    ):
        # Anadolu's "ANKARA\nTurkey's president": the place alone on its line (see _parse).
        parts.separator, parts.end = "\n", alone.start(1)
        return parts
    if parts.date_text or parts.agency:
        for pattern in (_LINE_END, _BEFORE_CAPITAL):
            if (ending := pattern.match(text, position)) is not None:
                if pattern is _BEFORE_CAPITAL and not (
                    parts.agency or re.fullmatch(r"[\d-]+", parts.date_text or "")
                ):
                    continue  # "KABUL, Oct 4 The" is too weak; "LONDON 1996-08-30 The" is not
                parts.separator, parts.end = (
                    "",
                    ending.start() if pattern is _LINE_END else position,
                )
                return parts
    return None


def parse_dateline(text: str) -> Dateline | None:
    """The dateline that opens ``text``, with its place resolved to a country when possible.

    An all-caps opening counts as a dateline when it has a date, an agency or a known region, or
    when its place is a known city or country: so "AI — the future", "NEW: ..." or "NATO -" are
    not read as places; a city in capitals alone on its line counts too ("ANKARA\nTurkey's"). A
    Title-case place ("New York, Feb 26 -") needs a date or a known agency, or a known city in
    the region it names, or is a large city followed by ":", "—" or " - " and a sentence
    ("Dubai: The", "Washington — The").
    """
    # A byte-order mark or a zero-width space before the text is no part of it.
    head = text.lstrip().lstrip("\ufeff\u200b\u2060").lstrip()[:MAX_DATELINE_CHARS]
    # No-break and thin spaces read as spaces ("LONDON,\u00a0March 3"): the same length, so the
    # raw dateline is taken back from the text as written.
    spaced = head.translate(_SPACES)
    found = _parse_after_headers(spaced)
    if found is None or spaced == head:
        return found
    start = spaced.find(found.raw)
    return replace(found, raw=head[start : start + len(found.raw)])


_SPACES = str.maketrans(dict.fromkeys("\u00a0\u2007\u2009\u200a\u202f\u3000", " "))


def _parse_after_headers(head: str) -> Dateline | None:
    """The dateline at the start of ``head``, after an agency's credit or a few header lines."""
    found = _parse(head)
    if found is not None:
        return found
    # "(ANSA) - ROME, JAN 5 - Italian": the credit, then the dateline.
    credit = _LEADING_CREDIT.match(head)
    if credit and _is_agency(credit["credit"]) and (after := _parse(head[credit.end() :])):
        raw = head[: credit.end()] + after.raw
        return replace(after, raw=raw, agency=after.agency or credit["credit"].strip())
    # A few lines before the dateline: a desk header ("UPDATE 1-Oil climbs...", "EXCLUSIVE-"),
    # a byline ("By JOSH BOAK, AP Economics Writer"). The dateline after it must have a date or
    # a known agency; its raw text is then the dateline alone (the header stays in the text). A
    # headline of another form ("OIL PRICES FALL") is the story's first line, not a header.
    start = 0
    for _ in range(_MAX_HEADER_LINES):
        end = head.find("\n", start)
        if end < 0 or end - start > _MAX_HEADER_CHARS:
            break
        if not _HEADER_LINE.match(head, start, end):
            break
        start = end + 1
        later = _parse(head[start:])
        if later is not None and (
            later.date_text or (later.agency is not None and _is_agency(later.agency))
        ):
            return later
    return None


# A desk header or a byline before the dateline is one short line: "By ...", a byline's second
# line ("Associated Press", "AP Economics Writer", "Special to The New York Times", "Times Staff
# Writer"), or a desk slug written as capitals, an optional number and a hyphen against the
# headline ("UPDATE 1-Oil", "GLOBAL MARKETS-Stocks").
_MAX_HEADER_CHARS = 160
_MAX_HEADER_LINES = 6
_HEADER_LINE = re.compile(
    r"[ \t]*(?:(?i:by)[ \t]+\S"
    r"|(?:The[ \t]+)?Associated[ \t]+Press|Reuters|AP[ \t]+[A-Z]|Special[ \t]+to[ \t]"
    r"|(?:[A-Z][A-Za-z.]*[ \t]+){0,3}(?:Staff[ \t]+)?(?:Writer|Correspondent|Reporter)[ \t]*$"
    r"|[A-Z][A-Z&']{1,20}(?:[ \t][A-Z&']{2,20}){0,3}(?:[ \t]\d{1,2})?-(?=[^\s-])"
    # Reuters' summary bullets and its advisory: "* Brent down 2%", "(Adds quotes, updates".
    r"|[*•][ \t]|\((?:Adds|Updates|Corrects|Recasts|Repeats|Refiles|Changes|Rewrites|Removes"
    r"|Fixes|Inserts|Moves|Clarifies|Writethru)\b)"
)


# Gulf News' "Dubai: The", the New York Times' "Washington — The", MAP's and Al Jazeera's
# "Rabat - The": a Title-case place with only a colon or a dash is a dateline when it is a large
# city (so "Mobile: The future" or "Reading — A guide" stay text) and a sentence starts after it.
_BIG_CITY = 500_000
_ALONE_CITY = 1_000_000


_HALF = re.compile(r"(?i:east|west)[ \t]+(?P<city>.+)")


def _big_city_then_sentence(
    head: str, written: str, parts: _Parts, city: Place | None, region: _Region | None
) -> bool:
    return (
        parts.separator in (":", "—", "–", "-")
        # a spaced hyphen only ("Rabat - The", not "The- US secretary")
        and (parts.separator != "-" or head[parts.end - 2 : parts.end] == " -")
        and region is None
        and city is not None
        and city.population >= _BIG_CITY
        and _key(written) not in _FIELDS
        and _BEFORE_CAPITAL.match(head, parts.end) is not None
    )


def _parse(head: str) -> Dateline | None:
    """The dateline at the very start of ``head`` (see parse_dateline)."""
    if indic := _INDIC_DATELINE.match(head):
        raw = indic.group(0).strip()
        return Dateline(raw, indic["place"], None, None, None, None, None, None, None)
    for pattern in _EAST_ASIAN_DATELINES:
        if east := pattern.match(head):
            groups = east.groupdict()
            return Dateline(
                raw=east.group(0).strip(),
                place=groups["place"],
                region=None,
                country=None,
                country_code=None,
                latitude=None,
                longitude=None,
                date_text=groups.get("date"),
                agency=groups["agency"],
            )
    place_match = _PLACE.match(head)
    if place_match is None:
        return None
    place_raw = place_match["place"].strip(" .,")
    parts = _read_parts(head, place_match.end())
    if parts is None or not place_raw:
        return None
    caps = _is_caps(place_raw)
    if all(word in _LABELS for word in _key(place_raw).split()):
        return None
    regions = [found for written in parts.regions if (found := _resolve_region(written, place_raw))]
    region = regions[0] if regions else None
    written_region = parts.regions[0] if parts.regions else None
    city = None
    if parts.regions and region is None:
        # "Azerbaijan, Baku, 5 December / Trend /": the country is written before the city.
        first = _resolve_region(place_raw)
        if first is not None and first.state_code is None:
            city = _city(parts.regions[0], first)
            if city is not None:
                place_raw, written_region, region = parts.regions[0], place_raw, first
    city = city or _city(place_raw, region)
    if city is None and (half := _HALF.fullmatch(place_raw)):
        city = _city(half["city"], region)  # "EAST BERLIN", "WEST BEIRUT": that city's half
    as_country = _resolve_region(place_raw) if city is None and region is None else None
    agency_known = parts.agency is not None and _is_agency(parts.agency)
    if parts.separator == "\n" and not (
        caps and city is not None and len(place_raw) > 3 and city.population >= _ALONE_CITY
    ):
        # Alone on its line: only a city of a million in capitals ("ANKARA"), not "CHINA" nor a
        # section name that is also a town ("HOLLYWOOD", "READING", "SPLIT", "SURPRISE").
        return None
    if caps:
        short_acronym = len(place_raw) <= 3 and " " not in place_raw
        evidence = parts.date_text or agency_known or region is not None
        known_place = city is not None or as_country is not None
        if not evidence and (short_acronym or not known_place or _key(place_raw) in _FIELDS):
            return None
    elif not (
        parts.date_text
        or agency_known
        or (region is not None and city is not None)
        or _big_city_then_sentence(head, place_raw, parts, city, region)
    ):
        return None
    country_code = region.country_code if region else None
    country = region.country if region else None
    # The place as the dateline writes it (Issue 13: the article's own spelling when it
    # resolves to the same place: "CALCUTTA" stays Calcutta, "KUWAIT" is not "Kuwait City").
    name = _display(place_raw)
    if city is not None:
        if country_code is None:
            country_code, country = city.country_code, city.country
    elif as_country is not None:
        country_code, country = as_country.country_code, as_country.country
        if as_country.state_code is None:
            name = as_country.country
    return Dateline(
        raw=head[: parts.end].strip(),
        place=name,
        region=written_region,
        country=country,
        country_code=country_code,
        latitude=city.latitude if city else None,
        longitude=city.longitude if city else None,
        date_text=" ".join(parts.date_text.split()) if parts.date_text else None,
        agency=parts.agency,
    )
