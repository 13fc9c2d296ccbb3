"""A red team of the dateline parser (worker.enrich.dateline): openings written from knowledge of
how agencies and papers print them across decades, none taken from the project's corpora or
labelled splits. Each opening has its expected reading: the place as a reader names it (a few
spellings of the same place accepted), its country code, the month-day its date names, and the
agency. Openings that only look like datelines (labels, headlines, quotes, names) must read as
none. Pure functions: no services needed.
"""

from __future__ import annotations

import re
import time
import unicodedata
from datetime import UTC, datetime

import pytest

from worker.enrich.dateline import parse_dateline
from worker.enrich.dates import resolve_day

REFERENCE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

# (opening, place(s) "A|B", country code(s) "US|PR" or "" for none, month-day "MM-DD" or "",
#  agency(s) "a|b" or "" for none)
POSITIVES: list[tuple[str, str, str, str, str]] = [
    # Reuters, today and in the 1980s; desk headers and bylines before the dateline.
    ("LONDON, March 3 (Reuters) - British house prices rose", "London", "GB", "03-03", "Reuters"),
    ("NEW YORK (Reuters) - Wall Street's main indexes opened", "New York", "US", "", "Reuters"),
    ("TOKYO, MARCH 3 - Japan's current account surplus narrowed", "Tokyo", "JP", "03-03", ""),
    ("BONN, MARCH 3 - West German industrial output fell", "Bonn", "DE", "03-03", ""),
    ("MANILA, Jan 14 - President Corazon Aquino said", "Manila", "PH", "01-14", ""),
    ("SYDNEY, Feb 26 - Australia's trade deficit", "Sydney", "AU", "02-26", ""),
    (
        "UPDATE 1-Oil climbs on Middle East supply worries\n"
        "SINGAPORE, June 12 (Reuters) - Oil prices rose on Wednesday",
        "Singapore",
        "SG",
        "06-12",
        "Reuters",
    ),
    (
        "EXCLUSIVE-Apple suppliers weigh move out of China\n"
        "TAIPEI, Jan 5 (Reuters) - Several Apple suppliers",
        "Taipei",
        "TW",
        "01-05",
        "Reuters",
    ),
    (
        "By Reuters Staff\nFRANKFURT, Sept 14 (Reuters) - German bond yields",
        "Frankfurt|Frankfurt am Main",
        "DE",
        "09-14",
        "Reuters",
    ),
    (
        "WASHINGTON/LONDON, Nov 4 (Reuters) - The United States and Britain",
        "Washington",
        "US",
        "11-04",
        "Reuters",
    ),
    ("SAO PAULO, Feb 2 (Reuters) - Brazil's central bank", "Sao Paulo", "BR", "02-02", "Reuters"),
    ("HONG KONG, Aug 8 (Reuters) - Hong Kong shares", "Hong Kong", "HK", "08-08", "Reuters"),
    ("MEXICO CITY, April 21 (Reuters) - Mexico's", "Mexico City", "MX", "04-21", "Reuters"),
    ("JOHANNESBURG, Oct 30 (Reuters) - South Africa's", "Johannesburg", "ZA", "10-30", "Reuters"),
    ("OTTAWA, Dec 2 (Reuters) - Canada's economy", "Ottawa", "CA", "12-02", "Reuters"),
    ("BUENOS AIRES, July 9 (Reuters) - Argentina", "Buenos Aires", "AR", "07-09", "Reuters"),
    ("GENEVA (Reuters) - The World Health Organization", "Geneva", "CH", "", "Reuters"),
    (
        "BRUSSELS, Jan 17 (Reuters Breakingviews) - Europe's banks",
        "Brussels",
        "BE",
        "01-17",
        "Reuters Breakingviews|Reuters",
    ),
    # AP: state abbreviations (AP style), international, 1970s "--" and 1990s "_".
    ("WASHINGTON (AP) — President Joe Biden on Tuesday", "Washington", "US", "", "AP"),
    ("SAN JUAN, Puerto Rico (AP) _ Gov. Pedro Rossello", "San Juan", "PR|US", "", "AP"),
    ("NEW YORK (AP) -- Stocks drifted lower today", "New York", "US", "", "AP"),
    ("BIRMINGHAM, Ala. (AP) — A federal judge", "Birmingham", "US", "", "AP"),
    ("TUCSON, Ariz. (AP) — Border agents", "Tucson", "US", "", "AP"),
    ("LITTLE ROCK, Ark. (AP) — Arkansas lawmakers", "Little Rock", "US", "", "AP"),
    ("SACRAMENTO, Calif. (AP) — California", "Sacramento", "US", "", "AP"),
    ("BOULDER, Colo. (AP) — A wildfire", "Boulder", "US", "", "AP"),
    ("HARTFORD, Conn. (AP) — Connecticut", "Hartford", "US", "", "AP"),
    ("DOVER, Del. (AP) — Delaware", "Dover", "US", "", "AP"),
    ("TALLAHASSEE, Fla. (AP) — Florida", "Tallahassee", "US", "", "AP"),
    ("SAVANNAH, Ga. (AP) — A", "Savannah", "US", "", "AP"),
    ("SPRINGFIELD, Ill. (AP) — Illinois", "Springfield", "US", "", "AP"),
    ("GARY, Ind. (AP) — A", "Gary", "US", "", "AP"),
    ("TOPEKA, Kan. (AP) — Kansas", "Topeka", "US", "", "AP"),
    ("LOUISVILLE, Ky. (AP) — A", "Louisville", "US", "", "AP"),
    ("BATON ROUGE, La. (AP) — Louisiana", "Baton Rouge", "US", "", "AP"),
    ("ANNAPOLIS, Md. (AP) — Maryland", "Annapolis", "US", "", "AP"),
    ("WORCESTER, Mass. (AP) — A", "Worcester", "US", "", "AP"),
    ("LANSING, Mich. (AP) — Michigan", "Lansing", "US", "", "AP"),
    ("DULUTH, Minn. (AP) — A", "Duluth", "US", "", "AP"),
    ("JACKSON, Miss. (AP) — Mississippi", "Jackson", "US", "", "AP"),
    ("JEFFERSON CITY, Mo. (AP) — Missouri", "Jefferson City", "US", "", "AP"),
    ("HELENA, Mont. (AP) — Montana", "Helena", "US", "", "AP"),
    ("LINCOLN, Neb. (AP) — Nebraska", "Lincoln", "US", "", "AP"),
    ("RENO, Nev. (AP) — A", "Reno", "US", "", "AP"),
    ("CONCORD, N.H. (AP) — New Hampshire", "Concord", "US", "", "AP"),
    ("TRENTON, N.J. (AP) — New Jersey", "Trenton", "US", "", "AP"),
    ("SANTA FE, N.M. (AP) — New Mexico", "Santa Fe", "US", "", "AP"),
    ("ALBANY, N.Y. (AP) — New York", "Albany", "US", "", "AP"),
    ("RALEIGH, N.C. (AP) — North Carolina", "Raleigh", "US", "", "AP"),
    ("BISMARCK, N.D. (AP) — North Dakota", "Bismarck", "US", "", "AP"),
    ("TULSA, Okla. (AP) — A", "Tulsa", "US", "", "AP"),
    ("SALEM, Ore. (AP) — Oregon", "Salem", "US", "", "AP"),
    ("HARRISBURG, Pa. (AP) — Pennsylvania", "Harrisburg", "US", "", "AP"),
    ("PROVIDENCE, R.I. (AP) — Rhode Island", "Providence", "US", "", "AP"),
    ("COLUMBIA, S.C. (AP) — South Carolina", "Columbia", "US", "", "AP"),
    ("SIOUX FALLS, S.D. (AP) — A", "Sioux Falls", "US", "", "AP"),
    ("NASHVILLE, Tenn. (AP) — Tennessee", "Nashville", "US", "", "AP"),
    ("MONTPELIER, Vt. (AP) — Vermont", "Montpelier", "US", "", "AP"),
    ("RICHMOND, Va. (AP) — Virginia", "Richmond", "US", "", "AP"),
    ("SPOKANE, Wash. (AP) — A", "Spokane", "US", "", "AP"),
    ("CHARLESTON, W.Va. (AP) — West Virginia", "Charleston", "US", "", "AP"),
    ("MADISON, Wis. (AP) — Wisconsin", "Madison", "US", "", "AP"),
    ("CHEYENNE, Wyo. (AP) — Wyoming", "Cheyenne", "US", "", "AP"),
    ("FORT LAUDERDALE, Fla. (AP) — A", "Fort Lauderdale", "US", "", "AP"),
    ("WINSTON-SALEM, N.C. (AP) — A", "Winston-Salem", "US", "", "AP"),
    ("KANSAS CITY, Mo. (AP) — The", "Kansas City", "US", "", "AP"),
    ("ST. LOUIS (AP) — A", "St. Louis|Saint Louis", "US", "", "AP"),
    ("JERUSALEM (AP) — Israel's", "Jerusalem", "IL", "", "AP"),
    ("THE HAGUE, Netherlands (AP) — The", "The Hague|Den Haag", "NL", "", "AP"),
    ("VATICAN CITY (AP) — Pope Francis", "Vatican City|Vatican", "VA", "", "AP"),
    ("N'DJAMENA, Chad (AP) — Rebels", "N'Djamena", "TD", "", "AP"),
    ("LA PAZ, Bolivia (AP) — Bolivia's", "La Paz", "BO", "", "AP"),
    (
        "By JOSH BOAK, AP Economics Writer\nWASHINGTON (AP) — Employers added",
        "Washington",
        "US",
        "",
        "AP",
    ),
    ("By John Smith\nWASHINGTON (AP) — The Senate", "Washington", "US", "", "AP"),
    ("WASHINGTON (AP) _ The Senate voted 52-48", "Washington", "US", "", "AP"),
    # AFP.
    ("PARIS, Jan 5, 2012 (AFP) - France's unemployment", "Paris", "FR", "01-05", "AFP"),
    ("BEIJING (AFP) - China's exports", "Beijing", "CN", "", "AFP"),
    ("Beijing (AFP) - China's exports", "Beijing", "CN", "", "AFP"),
    ("NAIROBI, Kenya (AFP) - Kenyan police", "Nairobi", "KE", "", "AFP"),
    ("DHAKA, Sept 12, 2008 (AFP) - Bangladesh", "Dhaka", "BD", "09-12", "AFP"),
    ("ISLAMABAD, Pakistan (AFP) – Pakistan's", "Islamabad", "PK", "", "AFP"),
    ("Paris, 5 janv 2012 (AFP) - Le chômage", "Paris", "FR", "01-05", "AFP"),
    # UPI.
    ("WASHINGTON, Oct. 3 (UPI) -- The Senate", "Washington", "US", "10-03", "UPI"),
    ("CHICAGO, Jan. 5 (UPI) -- Mayor Richard J. Daley", "Chicago", "US", "01-05", "UPI"),
    ("MOSCOW, Dec. 25 (UPI) -- Soviet President", "Moscow", "RU", "12-25", "UPI"),
    ("WASHINGTON, Oct. 3\n(UPI) -- The Senate", "Washington", "US", "10-03", "UPI"),
    # Xinhua.
    ("BEIJING, Nov. 17 (Xinhua) -- China will", "Beijing", "CN", "11-17", "Xinhua"),
    ("NAIROBI, Jan. 5 (Xinhua) -- Kenya's", "Nairobi", "KE", "01-05", "Xinhua"),
    ("UNITED NATIONS, Feb. 3 (Xinhua) -- UN", "United Nations", "|US", "02-03", "Xinhua"),
    # TASS and Interfax.
    ("MOSCOW, February 7. /TASS/. Russian", "Moscow", "RU", "02-07", "TASS"),
    (
        "ST. PETERSBURG, June 16. /TASS/. The",
        "St. Petersburg|Saint Petersburg",
        "RU",
        "06-16",
        "TASS",
    ),
    ("MOSCOW, July 14 /ITAR-TASS/. Russia's", "Moscow", "RU", "07-14", "ITAR-TASS"),
    ("MOSCOW. Jan 5 (Interfax) - Russia's", "Moscow", "RU", "01-05", "Interfax"),
    ("KYIV. Oct 3 (Interfax-Ukraine) - Ukraine's", "Kyiv|Kiev", "UA", "10-03", "Interfax-Ukraine"),
    # South Asia: PTI, IANS, ANI, APP, BSS.
    ("NEW DELHI, Jan 5 (PTI) The government", "New Delhi", "IN", "01-05", "PTI"),
    ("Mumbai, Mar 12 (PTI) Shares", "Mumbai", "IN", "03-12", "PTI"),
    ("New Delhi, Jan 5 (IANS) The", "New Delhi", "IN", "01-05", "IANS"),
    ("Chennai, Aug 3 (IANS) Tamil Nadu", "Chennai", "IN", "08-03", "IANS"),
    (
        "Srinagar (Jammu and Kashmir) [India], Jan 5 (ANI): Security forces",
        "Srinagar",
        "IN",
        "01-05",
        "ANI",
    ),
    ("New Delhi [India], March 3 (ANI): The", "New Delhi", "IN", "03-03", "ANI"),
    ("ISLAMABAD, Jan 5 (APP): Prime Minister", "Islamabad", "PK", "01-05", "APP"),
    ("DHAKA, Jan 5 (BSS) - Prime Minister", "Dhaka", "BD", "01-05", "BSS"),
    # East Asia: Kyodo, Yonhap, AAP (credits without brackets).
    ("TOKYO, Jan. 5 Kyodo - Japan's", "Tokyo", "JP", "01-05", "Kyodo"),
    ("TOKYO (Kyodo) -- Japan's", "Tokyo", "JP", "", "Kyodo"),
    ("SEOUL, Jan. 5 (Yonhap) -- South Korea", "Seoul", "KR", "01-05", "Yonhap"),
    ("SYDNEY, Jan 5 AAP - Australian shares", "Sydney", "AU", "01-05", "AAP"),
    ("CANBERRA, March 3 AAP - The", "Canberra", "AU", "03-03", "AAP"),
    # Anadolu, Bernama, Trend, and other national agencies.
    ("ANKARA (AA) - Turkey's", "Ankara", "TR", "", "AA"),
    ("ISTANBUL (AA) - Turkish", "Istanbul", "TR", "", "AA"),
    ("KUALA LUMPUR, Jan 5 (Bernama) -- Malaysia", "Kuala Lumpur", "MY", "01-05", "Bernama"),
    ("BAKU, Azerbaijan, Sept. 30. /Trend/ Azerbaijan's", "Baku", "AZ", "09-30", "Trend"),
    ("TEHRAN, Jan. 5 (IRNA) -- Iran's", "Tehran", "IR", "01-05", "IRNA"),
    ("JAKARTA, Jan 5 (Antara) - Indonesia's", "Jakarta", "ID", "01-05", "Antara"),
    ("HANOI (VNA) – Vietnam's", "Hanoi", "VN", "", "VNA"),
    ("MANILA, Jan 5 (PNA) -- The", "Manila", "PH", "01-05", "PNA"),
    ("KUWAIT, Jan 5 (KUNA) -- Kuwait's", "Kuwait|Kuwait City", "KW", "01-05", "KUNA"),
    ("CAIRO, Jan 5 (MENA) - Egypt's", "Cairo", "EG", "01-05", "MENA"),
    ("DUBAI, Jan 5 (WAM) -- The", "Dubai", "AE", "01-05", "WAM"),
    ("WARSAW, Jan 5 (PAP) - Poland's", "Warsaw", "PL", "01-05", "PAP"),
    ("PRAGUE, Jan 5 (CTK) - Czech", "Prague", "CZ", "01-05", "CTK"),
    ("MINSK, Jan 5 (BelTA) - Belarus", "Minsk", "BY", "01-05", "BelTA"),
    ("ASTANA. KAZINFORM - The", "Astana", "KZ", "", "KAZINFORM"),
    ("Lisbon, Jan 5 (Lusa) - Portugal's", "Lisbon|Lisboa", "PT", "01-05", "Lusa"),
    ("JERUSALEM (JTA) — Israel's", "Jerusalem", "IL", "", "JTA"),
    ("PRAGUE (RFE/RL) -- The", "Prague", "CZ", "", "RFE/RL"),
    # EFE (Spanish and English), dpa, ANSA (English and Italian).
    ("Madrid, 5 ene (EFE).- El Gobierno", "Madrid", "ES", "01-05", "EFE"),
    ("Havana, Jan 5 (EFE).- Cuba's", "Havana", "CU", "01-05", "EFE"),
    ("BOGOTÁ, 12 mar (EFE).- El", "Bogota", "CO", "03-12", "EFE"),
    ("Berlin (dpa) - German Chancellor", "Berlin", "DE", "", "dpa"),
    ("BERLIN, 5. Januar (dpa) - Die", "Berlin", "DE", "01-05", "dpa"),
    ("ROME, Jan 5 (ANSA) - Italy's", "Rome", "IT", "01-05", "ANSA"),
    ("(ANSA) - ROME, JAN 5 - Italian Premier", "Rome", "IT", "01-05", "ANSA"),
    ("(ANSA) - ROMA, 05 GEN - Il governo", "Roma|Rome", "IT", "01-05", "ANSA"),
    # Broadcasters and papers.
    ("ATLANTA (CNN) -- A federal", "Atlanta", "US", "", "CNN"),
    ("Washington (CNN) — President", "Washington", "US", "", "CNN"),
    ("Hong Kong (CNN) — Hong Kong's", "Hong Kong", "HK", "", "CNN"),
    ("WASHINGTON — The Senate voted on Tuesday", "Washington", "US", "", ""),
    ("BAGHDAD — A car bomb", "Baghdad", "IQ", "", ""),
    ("KABUL, Afghanistan — The Taliban", "Kabul", "AF", "", ""),
    ("WASHINGTON, Jan. 5 — The Senate", "Washington", "US", "01-05", ""),
    ("WASHINGTON, Jan. 5—President Johnson today", "Washington", "US", "01-05", ""),
    ("MOSCOW, March 3—The Soviet Union announced", "Moscow", "RU", "03-03", ""),
    ("TORONTO — Ontario's", "Toronto", "CA", "", ""),
    ("OTTAWA — The federal government", "Ottawa", "CA", "", ""),
    ("TORONTO (CP) — Ontario's", "Toronto", "CA", "", "CP"),
    ("ST. JOHN'S, Nfld. (CP) — The", "St. John's", "CA", "", "CP"),
    ("LONDON (PA) - The Prime Minister", "London", "GB", "", "PA"),
    # Press releases.
    ("NEW YORK, Jan. 5, 2021 /PRNewswire/ -- Acme", "New York", "US", "01-05", "PRNewswire"),
    ("SAN FRANCISCO--(BUSINESS WIRE)--Acme Corp", "San Francisco", "US", "", "BUSINESS WIRE"),
    (
        "LOS ANGELES--(BUSINESS WIRE)--Jan. 5, 2004--Acme",
        "Los Angeles",
        "US",
        "01-05",
        "BUSINESS WIRE",
    ),
    (
        "AUSTIN, Texas, March 3, 2020 (GLOBE NEWSWIRE) -- Acme",
        "Austin",
        "US",
        "03-03",
        "GLOBE NEWSWIRE",
    ),
    ("TORONTO, May 12, 2015 /CNW/ - Acme", "Toronto", "CA", "05-12", "CNW"),
    (
        "LONDON, UK / ACCESSWIRE / March 3, 2021 / Acme",
        "London",
        "GB",
        "03-03",
        "ACCESSWIRE",
    ),
    # Weekdays, ordinals, "DATELINE:" headers, hard wraps.
    ("WASHINGTON, Tuesday, Jan. 5 - The", "Washington", "US", "01-05", ""),
    ("LONDON, 5th March - The", "London", "GB", "03-05", ""),
    ("NEW YORK, March 5th - Shares", "New York", "US", "03-05", ""),
    ("DATELINE: WASHINGTON, Jan. 5\nThe Senate voted", "Washington", "US", "01-05", ""),
    ("BAKU, Azerbaijan,\nSept. 30 (Trend) - Azerbaijan's", "Baku", "AZ", "09-30", "Trend"),
    (
        "KUALA LUMPUR, Jan 5 (Reuters) - Malaysia's central\nbank said",
        "Kuala Lumpur",
        "MY",
        "01-05",
        "Reuters",
    ),
    # Second round: older agencies' names and spellings of places, historical countries, a
    # colon after the date, Gulf News' "Dubai:", Anadolu's place alone on its line, credits
    # after a comma or with the date in one bracket.
    ("LONDON, Jan 5 (Reuter) - Britain's", "London", "GB", "01-05", "Reuter"),
    ("WASHINGTON (AP) - The House", "Washington", "US", "", "AP"),
    ("NEW YORK (UPI) - Stocks", "New York", "US", "", "UPI"),
    ("WASHINGTON, Jan. 5 - The Senate", "Washington", "US", "01-05", ""),
    (
        "By JOHN SMITH\nSpecial to The New York Times\nWASHINGTON, Jan. 5 - The",
        "Washington",
        "US",
        "01-05",
        "",
    ),
    ("MOSCOW, Jan. 5 -- Soviet officials", "Moscow", "RU", "01-05", ""),
    ("NEW YORK (Dow Jones)--Stocks", "New York", "US", "", "Dow Jones"),
    ("NEW YORK (MarketWatch) -- U.S. stocks", "New York", "US", "", "MarketWatch"),
    ("WASHINGTON—The Federal Reserve", "Washington", "US", "", ""),
    ("MOSCOW, January 5 (RIA Novosti) - Russia", "Moscow", "RU", "01-05", "RIA Novosti"),
    ("MOSCOW (Sputnik) - Russia's", "Moscow", "RU", "", "Sputnik"),
    ("Pyongyang, January 5 (KCNA) -- The", "Pyongyang", "KP", "01-05", "KCNA"),
    ("Havana, Jan 5 (Prensa Latina) Cuba's", "Havana", "CU", "01-05", "Prensa Latina"),
    ("RAMALLAH, January 5, 2021 (WAFA) - The", "Ramallah", "PS", "01-05", "WAFA"),
    ("Amman, Jan. 5 (Petra) -- Jordan's", "Amman", "JO", "01-05", "Petra"),
    ("Tokyo, Jan 5 (Jiji Press) -- Japan's", "Tokyo", "JP", "01-05", "Jiji Press"),
    ("Wien (APA) - Die", "Wien|Vienna", "AT", "", "APA"),
    ("Bucharest, Jan 5 /Agerpres/ - Romania's", "Bucharest", "RO", "01-05", "Agerpres"),
    ("VILNIUS, Jan 5 (BNS) – Lithuania's", "Vilnius", "LT", "01-05", "BNS"),
    ("CHENNAI, JAN. 5. The State", "Chennai", "IN", "01-05", ""),
    ("ISLAMABAD, Jan 5: The", "Islamabad", "PK", "01-05", ""),
    ("Dubai: The", "Dubai", "AE", "", ""),
    ("Abu Dhabi: The UAE", "Abu Dhabi", "AE", "", ""),
    ("ANKARA\nTurkey's president", "Ankara", "TR", "", ""),
    ("ISTANBUL\n\nTurkish police", "Istanbul", "TR", "", ""),
    ("SINGAPORE - The", "Singapore", "SG", "", ""),
    ("WASHINGTON (AP) -- THE SENATE VOTED TODAY", "Washington", "US", "", "AP"),
    ("WASHINGTON, Jan. 5 (AP) - The", "Washington", "US", "01-05", "AP"),
    ("HONOLULU (AP) — A", "Honolulu", "US", "", "AP"),
    ("ANCHORAGE, Alaska (AP) — A", "Anchorage", "US", "", "AP"),
    ("BOISE, Idaho (AP) — A", "Boise", "US", "", "AP"),
    ("DES MOINES, Iowa (AP) — A", "Des Moines", "US", "", "AP"),
    ("SALT LAKE CITY (AP) — A", "Salt Lake City", "US", "", "AP"),
    ("EL PASO, Texas (AP) — A", "El Paso", "US", "", "AP"),
    ("ALBANY, New York (AP) — A", "Albany", "US", "", "AP"),
    ("VANCOUVER, B.C. (CP) — A", "Vancouver", "CA", "", "CP"),
    ("MONTREAL (CP) — A", "Montreal", "CA", "", "CP"),
    ("REGINA — The", "Regina", "CA", "", ""),
    ("SYDNEY, Australia (AP) — A", "Sydney", "AU", "", "AP"),
    ("BELFAST (Reuters) - Northern", "Belfast", "GB", "", "Reuters"),
    ("DUBLIN (Reuters) - Ireland's", "Dublin", "IE", "", "Reuters"),
    ("LAGOS, Nigeria (AP) — A", "Lagos", "NG", "", "AP"),
    ("ABUJA (Reuters) - Nigeria's", "Abuja", "NG", "", "Reuters"),
    ("ADDIS ABABA, Jan 5 (Reuters) - Ethiopia's", "Addis Ababa", "ET", "01-05", "Reuters"),
    ("DAR ES SALAAM, Tanzania (AP) — A", "Dar es Salaam", "TZ", "", "AP"),
    ("KINSHASA, Congo (AP) — A", "Kinshasa", "CD", "", "AP"),
    ("RAMALLAH, West Bank (AP) — A", "Ramallah", "PS", "", "AP"),
    ("GAZA CITY, Gaza Strip (AP) — A", "Gaza City|Gaza", "PS", "", "AP"),
    ("TEL AVIV, Israel (AP) — A", "Tel Aviv", "IL", "", "AP"),
    ("ABU DHABI, United Arab Emirates (AP) — A", "Abu Dhabi", "AE", "", "AP"),
    ("BANGKOK (AP) — A", "Bangkok", "TH", "", "AP"),
    ("HO CHI MINH CITY, Vietnam (AP) — A", "Ho Chi Minh City", "VN", "", "AP"),
    ("KATHMANDU, Nepal (AP) — A", "Kathmandu", "NP", "", "AP"),
    ("COLOMBO, Sri Lanka (AP) — A", "Colombo", "LK", "", "AP"),
    ("ULAANBAATAR, Mongolia (AP) — A", "Ulaanbaatar", "MN", "", "AP"),
    ("ST. PETERSBURG, Russia (AP) — A", "St. Petersburg|Saint Petersburg", "RU", "", "AP"),
    ("ST. PETERSBURG, Fla. (AP) — A", "St. Petersburg|Saint Petersburg", "US", "", "AP"),
    ("FRANKFURT, Germany (AP) — A", "Frankfurt|Frankfurt am Main", "DE", "", "AP"),
    ("KIEV, Ukraine (AP) — A", "Kiev|Kyiv", "UA", "", "AP"),
    ("BOMBAY, India (AP) — A", "Bombay|Mumbai", "IN", "", "AP"),
    ("PEKING, Jan 5 (Reuters) - China", "Peking|Beijing", "CN", "01-05", "Reuters"),
    ("SAIGON, Jan. 5 (UPI)-- South Vietnamese", "Saigon|Ho Chi Minh City", "VN", "01-05", "UPI"),
    (
        "LENINGRAD, March 3 (Reuters) - Soviet",
        "Leningrad|Saint Petersburg|St. Petersburg",
        "RU",
        "03-03",
        "Reuters",
    ),
    ("SALISBURY, Rhodesia (AP) - Prime Minister Ian Smith", "Salisbury|Harare", "ZW", "", "AP"),
    ("BONN, West Germany (AP) - Chancellor", "Bonn", "DE", "", "AP"),
    ("EAST BERLIN (AP) - East German", "East Berlin|Berlin", "DE", "", "AP"),
    ("KIEV, U.S.S.R. (AP) - Soviet", "Kiev|Kyiv", "UA", "", "AP"),
    ("WEST BEIRUT, Lebanon (AP) - Gunmen", "West Beirut|Beirut", "LB", "", "AP"),
    ("RANGOON, Burma (AP) - Burma's", "Rangoon|Yangon", "MM", "", "AP"),
    ("KINSHASA, Zaire (AP) - President Mobutu", "Kinshasa", "CD", "", "AP"),
    ("WASHINGTON (AP)--The Senate", "Washington", "US", "", "AP"),
    ("BERLIN, Jan. 5 (AP)—The", "Berlin", "DE", "01-05", "AP"),
    ("WASHINGTON, D.C. — The", "Washington", "US", "", ""),
    ("WASHINGTON, Thursday - The", "Washington", "US", "", ""),
    ("PARIS (Reuters Life!) - French", "Paris", "FR", "", "Reuters Life!|Reuters"),
    ("Tehran, Jan 5, IRNA -- Iran's", "Tehran", "IR", "01-05", "IRNA"),
    ("Damascus, SANA – President", "Damascus", "SY", "", "SANA"),
    ("UNITED NATIONS (AP) — The", "United Nations", "|US", "", "AP"),
    ("NEW DELHI, JAN 5 (Reuters) - India's", "New Delhi", "IN", "01-05", "Reuters"),
    (
        "NEW YORK, Jan. 5, 2021 /PRNewswire-HISPANIC PR WIRE/ -- Acme",
        "New York",
        "US",
        "01-05",
        "PRNewswire-HISPANIC PR WIRE",
    ),
    (
        "VANCOUVER, British Columbia--(Marketwired - Jan. 5, 2015) - Acme",
        "Vancouver",
        "CA",
        "01-05",
        "Marketwired",
    ),
    ("CHICAGO, Jan. 5, 2021 /PRNewswire/ -- Acme", "Chicago", "US", "01-05", "PRNewswire"),
    (
        "Ottawa, Ontario--(Newsfile Corp. - January 5, 2021) - Acme",
        "Ottawa",
        "CA",
        "01-05",
        "Newsfile Corp.",
    ),
    ("MUMBAI: Shares", "Mumbai", "IN", "", ""),
    ("KARACHI: The", "Karachi", "PK", "", ""),
    ("LAHORE, Jan 5: Punjab", "Lahore", "PK", "01-05", ""),
    ("BEIJING, Jan. 5, 2021 (Xinhua) -- China", "Beijing", "CN", "01-05", "Xinhua"),
    ("JOHANNESBURG, South Africa (AP) — A", "Johannesburg", "ZA", "", "AP"),
    ("SAN JOSE, Costa Rica (AP) — A", "San Jose", "CR", "", "AP"),
    ("SAN JOSE, Calif. (AP) — A", "San Jose", "US", "", "AP"),
    ("LONDON, Ontario (CP) — A", "London", "CA", "", "CP"),
    ("PARIS, Texas (AP) — A", "Paris", "US", "", "AP"),
    ("CAMBRIDGE, Mass. (AP) — A", "Cambridge", "US", "", "AP"),
    ("CAMBRIDGE, England (AP) — A", "Cambridge", "GB", "", "AP"),
    # Third round: more agencies and languages (Lusa, ANP, PAP, ČTK, Belga, NTB, sda, Europa
    # Press, GNA, NZPA, Soviet TASS), Reuters' bullets and advisories, Dow Jones, hard wraps
    # inside brackets and dates, accented and apostrophed places.
    ("SANAA, Yemen (AP) — Houthi", "Sanaa|Sana'a", "YE", "", "AP"),
    ("Mogadishu (AFP) - Somali", "Mogadishu", "SO", "", "AFP"),
    ("ST. JOHN'S, Antigua (AP) — A", "St. John's|Saint John's", "AG", "", "AP"),
    ("PORT OF SPAIN, Trinidad (AP) — A", "Port of Spain", "TT", "", "AP"),
    ("SÃO PAULO, Brazil (AP) — A", "Sao Paulo", "BR", "", "AP"),
    ("ŁÓDŹ, Poland (AP) — A", "Lodz", "PL", "", "AP"),
    ("REYKJAVIK, Iceland (AP) — A", "Reykjavik", "IS", "", "AP"),
    ("DÜSSELDORF, Germany (AP) — A", "Dusseldorf", "DE", "", "AP"),
    ("GUATEMALA CITY (AP) — A", "Guatemala City", "GT", "", "AP"),
    ("PANAMA CITY (AP) — Panama's", "Panama City", "PA", "", "AP"),
    ("PANAMA CITY, Fla. (AP) — A", "Panama City", "US", "", "AP"),
    ("KUWAIT CITY (AP) — Kuwait's", "Kuwait City", "KW", "", "AP"),
    ("MACAU (AP) — Casino", "Macau|Macao", "MO", "", "AP"),
    ("TAIPEI, Taiwan (AP) — A", "Taipei", "TW", "", "AP"),
    ("PYONGYANG, North Korea (AP) — A", "Pyongyang", "KP", "", "AP"),
    ("PHNOM PENH, Cambodia (AP) — A", "Phnom Penh", "KH", "", "AP"),
    ("SUVA, Fiji (AP) — A", "Suva", "FJ", "", "AP"),
    ("ST. PAUL, Minn. (AP) — A", "St. Paul|Saint Paul", "US", "", "AP"),
    ("FT. WORTH, Texas (AP) — A", "Ft. Worth|Fort Worth", "US", "", "AP"),
    ("COEUR D'ALENE, Idaho (AP) — A", "Coeur d'Alene", "US", "", "AP"),
    ("McALLEN, Texas (AP) — A", "McAllen", "US", "", "AP"),
    ("LA CROSSE, Wis. (AP) — A", "La Crosse", "US", "", "AP"),
    (
        "NEW YORK, Jan 5 (Reuters Health) - People",
        "New York",
        "US",
        "01-05",
        "Reuters Health|Reuters",
    ),
    ("LONDON, Jan 5 (IFR) - European", "London", "GB", "01-05", "IFR"),
    ("MOSCOW, January 5 TASS - Soviet", "Moscow", "RU", "01-05", "TASS"),
    ("WELLINGTON, Jan 5 NZPA - New Zealand", "Wellington", "NZ", "01-05", "NZPA"),
    ("Accra, Jan. 5, GNA - The", "Accra", "GH", "01-05", "GNA"),
    ("Abuja, Jan. 5, 2021 (NAN) The", "Abuja", "NG", "01-05", "NAN"),
    ("JOHANNESBURG, Jan 5 (Sapa) - Police", "Johannesburg", "ZA", "01-05", "Sapa"),
    ("Rabat - The", "Rabat", "MA", "", ""),
    ("Bruxelles (Belga) - Le", "Bruxelles|Brussels", "BE", "", "Belga"),
    ("Oslo (NTB): Regjeringen", "Oslo", "NO", "", "NTB"),
    ("Bern (sda) - Der", "Bern|Berne", "CH", "", "sda"),
    ("MADRID, 5 (EUROPA PRESS) - El", "Madrid", "ES", "", "EUROPA PRESS"),
    ("Roma, 5 gen. (Adnkronos) - Il", "Roma|Rome", "IT", "01-05", "Adnkronos"),
    ("Lisboa, 05 fev (Lusa) - O", "Lisboa|Lisbon", "PT", "02-05", "Lusa"),
    ("Lisboa, 12 out (Lusa) - O", "Lisboa|Lisbon", "PT", "10-12", "Lusa"),
    ("AMSTERDAM, 5 januari (ANP) - Het", "Amsterdam", "NL", "01-05", "ANP"),
    ("Warszawa, 5 stycznia (PAP) - Prezydent", "Warszawa|Warsaw", "PL", "01-05", "PAP"),
    ("Praha, 5. ledna (ČTK) - Vláda", "Praha|Prague", "CZ", "01-05", "ČTK|CTK"),
    ("МОСКВА, 5 янв — РИА Новости. Президент", "Москва|Moscow", "|RU", "01-05", "|РИА Новости"),
    ("МОСКВА. 5 января. ИНТЕРФАКС - Президент", "Москва|Moscow", "|RU", "01-05", "|ИНТЕРФАКС"),
    ("Baku, January 5, AZERTAC - President", "Baku", "AZ", "01-05", "AZERTAC"),
    ("NEW YORK -(Dow Jones)- Stocks", "New York", "US", "", "Dow Jones"),
    ("LONDON & NEW YORK--(BUSINESS WIRE)--Acme", "London", "GB", "", "BUSINESS WIRE"),
    (
        "Oslo, Norway, Jan. 05, 2021 (GLOBE NEWSWIRE) -- Acme",
        "Oslo",
        "NO",
        "01-05",
        "GLOBE NEWSWIRE",
    ),
    (
        "TORONTO, ONTARIO--(Marketwire - Jan. 5, 2010) - Acme",
        "Toronto",
        "CA",
        "01-05",
        "Marketwire",
    ),
    (
        "WASHINGTON, DC, UNITED STATES, January 5, 2021 /EINPresswire.com/ -- Acme",
        "Washington",
        "US",
        "01-05",
        "EINPresswire.com",
    ),
    ("SAN DIEGO (PRWEB) January 05, 2021 Acme", "San Diego", "US", "01-05", "PRWEB"),
    (
        "UPDATE 2-Oil slides as U.S. stocks build\n* Brent down 2%\n* U.S. crude stocks rise\n"
        "(Adds quotes, updates prices)\nLONDON, Jan 5 (Reuters) - Oil",
        "London",
        "GB",
        "01-05",
        "Reuters",
    ),
    ("(Adds details)\nBERLIN, Jan 5 (Reuters) - Germany's", "Berlin", "DE", "01-05", "Reuters"),
    ("LOS ANGELES--(BUSINESS\nWIRE)--Acme", "Los Angeles", "US", "", "BUSINESS WIRE"),
    ("ARMONK, N.Y., May 5,\n2004 /PRNewswire/ -- IBM", "Armonk", "US", "05-05", "PRNewswire"),
    ("BAKU, Azerbaijan, Sept.\n30 (Trend) - Azerbaijan's", "Baku", "AZ", "09-30", "Trend"),
    ("SAN JUAN,\nPuerto Rico (AP) _ Gov.", "San Juan", "PR|US", "", "AP"),
    ("WASHINGTON (AP)\n— The Senate", "Washington", "US", "", "AP"),
    ("MANILA, Philippines — The", "Manila", "PH", "", ""),
    ("PETALING JAYA: The", "Petaling Jaya", "MY", "", ""),
    ("JOHOR BAHRU (Bernama) -- The", "Johor Bahru", "MY", "", "Bernama"),
    ("KATHMANDU, Jan 5 (RSS) - Prime Minister", "Kathmandu", "NP", "01-05", "RSS"),
    ("SANA'A, Jan 5 (Saba) - The", "Sana'a|Sanaa", "YE", "01-05", "Saba"),
    ("OSAKA – The", "Osaka", "JP", "", ""),
    ("NAIROBI, Kenya, Jan 5 (Xinhua) -- Kenya's", "Nairobi", "KE", "01-05", "Xinhua"),
]

NEGATIVES = [
    "NEW: Storm knocks out power to thousands",
    "EXCLUSIVE-Tesla in talks to buy battery maker",
    "UPDATE 2-Oil prices fall as demand worries mount",
    "BREAKING: Fire at the Capitol",
    "WATCH: Stunning footage shows the eruption",
    "Q&A: What the ruling means for you",
    "OPINION | Why the Fed is wrong",
    '"We will not back down," the prime minister said on Tuesday.',
    "U.S. stocks fell on Monday as investors",
    "NATO said on Tuesday it would",
    "AI — the new electricity, some say — is here",
    "John Smith, a farmer in Iowa, said the",
    "ON THE RECORD - Quotes from the week",
    "(Bloomberg) -- Treasuries rose as",
    "(CNN) -- A massive storm",
    "Feb. 3 (Bloomberg) -- Treasuries rose",
    "CORRECTED-Fed holds rates steady",
    "FACTBOX-Who are the candidates",
    "ANALYSIS-China's slowdown bites",
    "LIVE: Election results",
    "REFILE-Stocks slide",
    "TIMELINE-Key events in the crisis",
    "BRIEF-Acme Corp says Q3 revenue rose",
    "Apple Inc said on Tuesday",
    "Mr. Johnson, who was elected in 2019, said",
    "Washington state lawmakers passed a bill",
    "Paris Hilton, the hotel heiress, said",
    "Georgia Power said on Monday",
    "Jordan Peterson, a Canadian psychologist, said",
    "LONDON CALLING - The Clash's album",
    "OBITUARY - John Smith, a teacher",
    "EDITORIAL: The wrong answer",
    "MARKET WATCH - Stocks slide",
    "JUST IN: Senate passes bill",
    "DEVELOPING: Police respond",
    "PHOTOS: The week in pictures",
    "EXPLAINER: How the vote works",
    "FACT CHECK: No, the video is not real",
    "WHAT WE KNOW: The shooting in",
    "The Latest: Biden says",
    "AP EXCLUSIVE: Documents show",
    "IMF - The International Monetary Fund said",
    "OPEC said on Monday it would",
    "EU leaders agreed on Friday",
    "Tuesday, Jan. 5 - The",
    "CHICAGO FIRE SIGN STRIKER - The club",
    "TEXAS MAN SENTENCED - A Texas man",
    "ISRAEL-HAMAS WAR: Live updates",
    "COVID-19: What you need to know",
    "BIDEN: We will not",
    "By John Smith\nThe Senate voted on Tuesday",
    "Posted by Jane Doe on Jan 5, 2021",
    "TOP NEWS - Stocks",
    "WASHINGTON POST - Editorial",
    "Mobile: The future of payments",
    "Reading — A guide to the classics",
    "Paris: the city of light",
    "China: The economy grew",
    "CHINA\nThe economy grew",
    "BREAKING\nA fire broke out",
    "UPDATE 1-Oil climbs\nShares in London fell",
    "Houston, we have a problem",
    "East Germany said on Monday",
    "By the numbers\nLONDON CALLING - The album",
    "Tuesday, Jan 5: The",
    "FILE - In this Jan. 5, 2021, file photo, President",
    "AMAZON (AMZN.O) - Amazon.com said",
    "Reuters/Ipsos poll shows",
    "Columbus: The explorer's ships",
    "(Adds details)\nThe Senate voted",
    "* Stocks fall\n* Bonds rise",
    "NEW YORK-based Acme Corp said",
    "New York-based Acme Corp said",
    "LONDON-listed shares fell",
    "JAN. 5 (Reuters) - Stocks",
    "DUBAI PORTS WORLD - The company",
    "Jan. 5, 2021 /PRNewswire/ -- Acme",
    "The- minister -has resigned",
    "HOLLYWOOD\nThe stars came out",
    "READING\nThe best books of the year",
    "SURPRISE\nThe council voted",
    "SPLIT\nThe band broke up",
    "MIAMI\nThe Heat won",
    "Sale: The best deals of the week",
    "Victoria: The queen's letters",
]


def _folded(name: str) -> str:
    """Accents and case folded: Bogotá is Bogota, "St." is "Saint"'s written form."""
    name = name.translate(str.maketrans("łŁøØđĐ", "lLoOdD"))  # letters NFKD keeps whole
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if c.isascii())
    return " ".join(plain.casefold().split())


def _credit(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", _folded(name))


# Cases the parser does not read, each with the reason (strict: fixing one makes it fail).
XFAIL: dict[str, str] = {}
NEGATIVE_XFAIL = {
    "Columbus: The explorer's ships": "a large city's name, a colon and a sentence is read as a"
    ' dateline (Gulf News\' "Dubai: The"); a headline of that form opening a body is rare',
    "Sale: The best deals of the week": "Salé (Morocco, 900,000 people) folds to Sale: the same"
    " large-city rule reads it as a place",
    "Victoria: The queen's letters": "the gazetteer's Victoria (Hong Kong) is a large city: the"
    " same large-city rule reads it as a place",
}


def _params() -> list[object]:
    params: list[object] = []
    for case in POSITIVES:
        opening = case[0]
        marks = [pytest.mark.xfail(reason=XFAIL[opening], strict=True)] if opening in XFAIL else []
        params.append(pytest.param(*case, marks=marks, id=opening[:40]))
    return params


@pytest.mark.parametrize(("opening", "places", "codes", "month_day", "agencies"), _params())
def test_red_team_datelines(
    opening: str, places: str, codes: str, month_day: str, agencies: str
) -> None:
    dateline = parse_dateline(opening)
    assert dateline is not None, opening
    got_day = None
    if dateline.date_text is not None:
        day = resolve_day(dateline.date_text, reference=REFERENCE)
        got_day = day.strftime("%m-%d") if day else "unresolved"
    got = (
        _folded(dateline.place),
        dateline.country_code or "",
        got_day or "",
        _credit(dateline.agency or ""),
    )
    assert got[0] in {_folded(p) for p in places.split("|")}, got
    assert got[1] in codes.split("|"), got
    assert got[2] == month_day, got
    assert got[3] in {_credit(a) for a in agencies.split("|")}, got
    assert dateline.raw in opening


@pytest.mark.parametrize(
    "opening",
    [
        pytest.param(
            n,
            id=n[:40],
            marks=[pytest.mark.xfail(reason=NEGATIVE_XFAIL[n], strict=True)]
            if n in NEGATIVE_XFAIL
            else [],
        )
        for n in NEGATIVES
    ],
)
def test_red_team_not_datelines(opening: str) -> None:
    assert parse_dateline(opening) is None


def test_enough_cases() -> None:
    assert len(POSITIVES) >= 120
    assert len(NEGATIVES) >= 40


@pytest.mark.parametrize(
    "hostile",
    [
        "By " + "x " * 500_000,
        "UPDATE 1-" + "A" * 1_000_000,
        "DATELINE: " * 100_000,
        "LONDON [" * 200_000,
        "ROME, Jan 5 " + "AAP " * 250_000,
        "(ANSA) - " * 100_000,
        "A\n" * 500_000 + "LONDON (Reuters) - x",
        "(Adds details)\n" * 70_000 + "LONDON (Reuters) - x",
        "* x\n" * 300_000,
        "LONDON & " * 120_000,
        "NEW YORK -(" * 100_000,
        "MADRID, 5 " * 100_000,
        "Dubai: " * 150_000,
        "EAST " * 200_000,
    ],
)
def test_hostile_megabyte_openings_stay_fast(hostile: str) -> None:
    parse_dateline("LONDON (Reuters) - x")  # the gazetteer loads once, outside the timing
    start = time.perf_counter()
    parse_dateline(hostile)
    assert time.perf_counter() - start < 0.5
