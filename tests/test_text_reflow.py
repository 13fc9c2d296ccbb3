"""Hard-wrapped text joined into paragraphs, headlines taken only when clearly headlines, and
derived titles cut at a boundary (worker/enrich/text.py; pure functions, no services)."""

from __future__ import annotations

import re
import textwrap
import time
from datetime import UTC, datetime

import pytest

from shared.document import EnrichedDocument
from shared.schema import ArticleIn, to_payload
from worker.enrich import enrich
from worker.enrich.dateline import parse_dateline
from worker.enrich.text import derive_title, first_sentence, reflow, split_headline

RECEIVED = datetime(1987, 2, 27, 9, 0, tzinfo=UTC)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")

# Wire copy as 1980s teleprinters sent it (written for these tests in that style): wrapped at
# about 65 columns, paragraphs marked by a 4-space indent, a short first line (the dateline was
# set apart), a quotation across three lines, a signature indented by one space.
WIRE = """\
NEW YORK, Feb 26 - Harbour Oil Corp said that
effective today it had cut its contract prices for crude oil by
1.50 dlrs a barrel.
    The reduction brings its posted price for West Texas
Intermediate to 16.00 dlrs a barrel, the company said.
    "The price reduction today was made in the light of falling
oil product prices and a weak crude oil market," said Mary
Ellen Walsh, a spokeswoman for the company.
    Harbour is the latest in a line of U.S. oil companies that
have cut their contract, or posted, prices over the last two days.
 Reuter"""

WIRE_REFLOWED = """\
NEW YORK, Feb 26 - Harbour Oil Corp said that effective today it had cut its contract prices \
for crude oil by 1.50 dlrs a barrel.
    The reduction brings its posted price for West Texas Intermediate to 16.00 dlrs a barrel, \
the company said.
    "The price reduction today was made in the light of falling oil product prices and a weak \
crude oil market," said Mary Ellen Walsh, a spokeswoman for the company.
    Harbour is the latest in a line of U.S. oil companies that have cut their contract, or \
posted, prices over the last two days.
 Reuter"""


def _opens_with_dateline(line: str) -> bool:
    return parse_dateline(line) is not None


# --- reflow ---------------------------------------------------------------------------------


def test_wire_copy_is_joined_into_its_paragraphs() -> None:
    assert reflow(WIRE) == WIRE_REFLOWED
    assert reflow(WIRE_REFLOWED) == WIRE_REFLOWED  # reflowing twice changes nothing


def test_paragraphs_marked_by_blank_lines_are_joined_and_the_blank_lines_kept() -> None:
    paragraphs = [
        "Uzbekistan and Azerbaijan are strengthening their media cooperation, an official of "
        "the Administration of the President of Uzbekistan told reporters on Tuesday.",
        "According to him, sharing experiences and joint projects are becoming key areas of "
        "partnership between the two countries' newsrooms.",
        "The first forum in Tashkent was a success.",
    ]
    wrapped = "\n\n".join(textwrap.fill(paragraph, 64) for paragraph in paragraphs)
    assert reflow(wrapped) == "\n\n".join(paragraphs)


def test_the_sample_is_unchanged(sample_text: str) -> None:
    assert reflow(sample_text) == sample_text
    single = re.sub(r"\n\s*\n", "\n", sample_text)  # one paragraph a line, no blank lines
    assert reflow(single) == single


@pytest.mark.parametrize(
    "text",
    [
        # A list after a line ending with a colon, short lines, a table, an address block.
        "The ministry named three priorities:\n- roads and bridges\n- schools\n- clinics in the "
        "north of the country",
        "Results by region\nNorth    12.5    14.0\nSouth    10.1    9.8\nEast     7.7     8.2",
        "Media contact\nJohn Smith\nHarbour Oil Corp\n12 Water Street\nHouston, Texas",
        "1. Register before Friday\n2. Bring a photo\n3. Arrive early on the day of the exam",
        # Two lines only: nothing to tell a wrap width from.
        "A team of police is currently escorting two\nmen to the airport.",
        "",
        "One line, no break at all.",
    ],
)
def test_text_that_is_not_hard_wrapped_is_unchanged(text: str) -> None:
    assert reflow(text) == text


def test_corpus_articles_as_posted_and_one_paragraph_a_line_are_unchanged() -> None:
    from quality.corpus import news_articles

    articles = news_articles()
    assert len(articles) > 3700
    assert all(reflow(article.text) == article.text for article in articles)
    for article in articles[:600]:
        sentences = _SENTENCE.split(article.text)
        for size in (1, 3):
            for separator in ("\n", "\n\n"):
                lines = [" ".join(sentences[i : i + size]) for i in range(0, len(sentences), size)]
                posted = separator.join(lines)
                assert reflow(posted) == posted, article.article_id


def test_corpus_articles_wrapped_at_60_to_80_columns_come_back_whole() -> None:
    """Articles of the development corpus, in paragraphs of three sentences, wrapped by
    ``textwrap`` and marked by blank lines or by indentation: the paragraphs come back as they
    were. The few that do not hold a list ("- ", "1.") or a word-final hyphen in the text."""
    from quality.corpus import news_articles

    whole = total = 0
    for article in news_articles()[:200]:
        sentences = _SENTENCE.split(article.text)
        paragraphs = [" ".join(" ".join(sentences[i : i + 3]).split()) for i in range(0, 99, 3)]
        paragraphs = [paragraph for paragraph in paragraphs if paragraph]
        for width in (60, 70, 80):
            blank = "\n\n".join(textwrap.fill(paragraph, width) for paragraph in paragraphs)
            indent = "\n".join(
                textwrap.fill(paragraph, width, initial_indent="    " if index else "")
                for index, paragraph in enumerate(paragraphs)
            )
            if blank.count("\n") < 2:
                continue
            total += 2
            whole += reflow(blank) == "\n\n".join(paragraphs)
            whole += reflow(indent) == "\n".join(
                ("    " if index else "") + paragraph for index, paragraph in enumerate(paragraphs)
            )
    assert total > 1000
    assert whole / total >= 0.98, (whole, total)


def test_line_end_hyphens_and_dashes() -> None:
    text = (
        "The company said its inter-\n"
        "national unit and a well-\n"
        "known partner had agreed to the sale of the plant --\n"
        "pending approval -\n"
        "subject to conditions set by the regulators in Washington today.\n"
        "    A second paragraph starts here and it runs on for a while longer.\n"
    )
    assert reflow(text) == (
        "The company said its inter-national unit and a well-known partner had agreed to the sale "
        "of the plant -- pending approval - subject to conditions set by the regulators in "
        "Washington today.\n"
        "    A second paragraph starts here and it runs on for a while longer.\n"
    )


def test_a_headline_and_a_dateline_line_are_not_joined_to_the_story() -> None:
    story = WIRE.split("\n", 1)[1]
    for headline in (
        "HARBOUR OIL CUTS CRUDE PRICES BY 1.50 DLRS A BARREL EFFECTIVE TODAY",
        "Harbour Oil Cuts Crude Prices",
    ):
        text = f"{headline}\nNEW YORK, Feb 26 - Harbour Oil Corp said that\n{story}"
        assert reflow(text).split("\n")[0] == headline
    # A byline before the dateline stays apart too.
    text = f"By Mary Walsh\nNEW YORK, Feb 26 - Harbour Oil Corp said that\n{story}"
    assert reflow(text).startswith("By Mary Walsh\nNEW YORK, Feb 26 - Harbour Oil Corp said that ")


def test_a_dateline_broken_before_its_dash_is_joined_but_a_list_is_kept() -> None:
    story = WIRE.split("\n", 1)[1]
    text = f"HOUSTON, Feb 26\n- Harbour Oil Corp said that\n{story}"
    assert reflow(text).startswith("HOUSTON, Feb 26 - Harbour Oil Corp said that effective")
    listed = f"{WIRE}\n    It named three fields:\n- Permian\n- Eagle Ford\n- Bakken"
    assert reflow(listed).endswith(
        "\n    It named three fields:\n- Permian\n- Eagle Ford\n- Bakken"
    )


def test_reflow_is_linear_on_inputs_of_the_largest_size() -> None:
    """Ingest's largest body (2 MB) in hard-wrapped lines, one long line, and newlines only; the
    bound is the hostile-input one of tests/test_enrich_bounds.py (30 s a step), which a
    quadratic pass would miss by hours."""
    wrapped = (textwrap.fill(WIRE_REFLOWED.replace("\n", " "), 64) + "\n") * 3_000
    assert 1_500_000 < len(wrapped) < 2_000_000
    for text in (wrapped, "word " * 380_000, "a" + "\n" * 1_900_000 + "b", " \n" * 950_000):
        started = time.perf_counter()
        reflow(text)
        assert time.perf_counter() - started < 30


# --- headlines --------------------------------------------------------------------------------

_BODY = "Stocks rose on Monday after the central bank held its rates, traders said.\n\nMore."


@pytest.mark.parametrize(
    ("text", "headline"),
    [
        # Followed by a blank line.
        ("Markets rally as Fed holds rates\n\n" + _BODY, "Markets rally as Fed holds rates"),
        ("Will OPEC meet again?\n\n" + _BODY, "Will OPEC meet again?"),
        # In capitals or Title Case, or before a dateline, with no blank line between.
        (
            "OPEC MAY HAVE TO MEET TO FIRM PRICES - ANALYSTS\n" + _BODY,
            "OPEC MAY HAVE TO MEET TO FIRM PRICES - ANALYSTS",
        ),
        ("Markets Rally as Fed Holds Rates\n" + _BODY, "Markets Rally as Fed Holds Rates"),
        ("Fed holds, stocks rise\nNEW YORK, Feb 26 - Stocks rose.", "Fed holds, stocks rise"),
        # Shorter than the paragraph after it (one paragraph a line).
        ("Markets rally as Fed holds rates\n" + _BODY, "Markets rally as Fed holds rates"),
        # Not headlines: the story's first line stays in the body.
        ("Stocks rose on Monday.\nMore text follows here.", None),  # a sentence
        ("Stocks rose on Monday after the bank,\nwhich held rates, spoke.", None),  # a clause
        ("NEW YORK, FEB 26 - Diamond Shamrock Corp said that\neffective today", None),  # dateline
        ("BAKU, Azerbaijan\n\nUzbekistan and Azerbaijan agreed.", None),  # a dateline alone
        ("Diamond Shamrock Corp said that\neffective today it had cut prices.", None),
        ("A team of police is currently escorting two\nmen to the airport.", None),  # lower case
        ("A team of police is currently escorting the\nMayor to the airport.", None),  # "the"
        ("Only one line, nothing after it", None),
        ("x" * 151 + "\n\nBody.", None),  # too long
        # As long as the wrapped lines after it: a wrapped line, not a headline.
        (
            "A team of police is currently escorting two\n"
            "Australians to the airport, where they will\n"
            "board a flight home after their release.",
            None,
        ),
    ],
)
def test_first_line_is_the_headline_only_when_clearly_one(text: str, headline: str | None) -> None:
    found, rest = split_headline(text, _opens_with_dateline)
    assert found == headline
    if headline is None:
        assert rest == text  # the body keeps every line
    else:
        assert rest == text.split("\n", 1)[1].lstrip()


# --- derived titles -------------------------------------------------------------------------


def test_derived_title_is_the_whole_first_sentence_when_short() -> None:
    assert derive_title("Short opening sentence. Then more.") == "Short opening sentence"
    # Not cut after an abbreviation or an initial.
    assert derive_title("U.S. Lines Inc said it sold two ships. More.") == (
        "U.S. Lines Inc said it sold two ships"
    )
    assert derive_title("David T. Mizrahi expects OPEC to meet. More.") == (
        "David T. Mizrahi expects OPEC to meet"
    )
    assert derive_title("It opened on Feb. 26. Then.") == "It opened on Feb. 26"
    assert derive_title("Engines sold well in the U.S. The rest went abroad.") == (
        "Engines sold well in the U.S."
    )
    # A headline-like line of its own ends the sentence; a wrapped line does not.
    assert derive_title("Markets rally\nStocks rose on Monday.") == "Markets rally"
    assert derive_title("Diamond Shamrock Corp said that\neffective today it cut prices.") == (
        "Diamond Shamrock Corp said that effective today it cut prices"
    )


def test_long_first_sentence_is_cut_at_a_clause_boundary() -> None:
    long = (
        "Uzbekistan and Azerbaijan are strengthening their media cooperation, Head of Sector of "
        "the Department of Communications told Trend on the sidelines of the forum. Next."
    )
    assert derive_title(long) == (
        "Uzbekistan and Azerbaijan are strengthening their media cooperation"
    )
    # "2,400" is no clause boundary; the dash is.
    title = derive_title(
        "There are approximately 2,400 media outlets in Uzbekistan and regulation matters "
        "greatly to the government — so the agency said in its annual report to parliament."
    )
    assert title == (
        "There are approximately 2,400 media outlets in Uzbekistan and regulation matters "
        "greatly to the government"
    )


def test_long_first_sentence_without_a_clause_is_cut_between_words_outside_names() -> None:
    title = derive_title(
        "Diamond Shamrock Corp said that effective today it had cut its contract prices for "
        "crude oil by 1.50 dlrs a barrel. More."
    )
    assert title == (
        "Diamond Shamrock Corp said that effective today it had cut its contract prices for "
        "crude oil by 1.50 dlrs…"
    )  # not "... a…": never after a function word
    title = derive_title(
        "Officials in the northern province met representatives of the company to discuss "
        "ways to help Abdel Aziz al Rantissi and others leave the region quickly. More."
    )
    assert title == (
        "Officials in the northern province met representatives of the company to discuss "
        "ways to help…"
    )  # the name running across the cut is left out whole
    title = derive_title(
        "Officials in the northern province met with representatives of the company on Monday "
        "to discuss the Bank of England rates and more. Next."
    )
    assert title == (
        "Officials in the northern province met with representatives of the company on Monday "
        "to discuss…"
    )  # the cut falls between "of" and "England"
    title = derive_title("word " * 60)
    assert title is not None
    assert title.endswith("word…")
    assert len(title) <= 111


def test_first_sentence_reads_across_wrapped_lines() -> None:
    assert first_sentence(WIRE) == (
        "NEW YORK, Feb 26 - Harbour Oil Corp said that effective today it had cut its contract "
        "prices for crude oil by 1.50 dlrs a barrel."
    )


# --- through the enrichment steps -------------------------------------------------------------


def _enriched(body: str, title: str | None = None) -> EnrichedDocument:
    article = ArticleIn(body=body, title=title)
    return enrich(to_payload(article, content_type="text/plain", received_at=RECEIVED))


def test_a_title_less_wire_story_keeps_its_first_line_and_a_quotation_is_found_whole() -> None:
    doc = _enriched(WIRE)
    assert doc["body"] == WIRE_REFLOWED  # stored reflowed, first line kept
    assert doc["body_reflowed"] is True
    assert doc["title_derived"] is True
    assert doc["dateline"]["raw"] == "NEW YORK, Feb 26 -"
    assert doc["title"] == (
        "Harbour Oil Corp said that effective today it had cut its contract prices for crude oil "
        "by 1.50 dlrs a barrel"
    )
    quotes = doc["quotes"]
    assert isinstance(quotes, list)
    (quote,) = [quote for quote in quotes if "price reduction" in quote["text"]]
    assert quote["text"] == (
        "The price reduction today was made in the light of falling oil product prices and a "
        "weak crude oil market"
    )
    assert quote["speaker"] == "Mary Ellen Walsh"
    body = str(doc["body"])
    # Offsets refer to the stored (reflowed) body.
    assert body[quote["start"] : quote["end"]] == f'"{quote["text"]},"'


def test_a_given_title_and_a_headline_line_leave_the_body_whole() -> None:
    doc = _enriched(WIRE, title="Harbour Oil cuts crude prices")
    assert (doc["title"], doc.get("title_derived")) == ("Harbour Oil cuts crude prices", None)
    assert doc["body"] == WIRE_REFLOWED
    doc = _enriched("HARBOUR OIL CUTS CRUDE PRICES\n" + WIRE)
    assert (doc["title"], doc.get("title_derived")) == ("HARBOUR OIL CUTS CRUDE PRICES", None)
    assert doc["body"] == WIRE_REFLOWED


def test_text_that_is_not_wrapped_is_stored_as_posted(sample_text: str) -> None:
    doc = _enriched("Markets rally\n\n" + "\n".join(_SENTENCE.split(sample_text.split(" ", 2)[2])))
    assert doc["body_reflowed"] is False
    assert doc["title"] == "Markets rally"


def test_a_byline_is_no_headline_and_the_title_comes_after_the_dateline() -> None:
    body = (
        "By Jane Whitcombe\n"
        "WASHINGTON (AP) — The Senate voted on Tuesday to approve the bridge bill after a long "
        "debate over spending.\n\nA second paragraph follows."
    )
    assert split_headline(body, lambda line: parse_dateline(line) is not None) == (None, body)
    doc = _enriched(body)
    assert doc["body"] == body  # the byline stays in the text as posted
    assert doc["title"] == (
        "The Senate voted on Tuesday to approve the bridge bill after a long debate over spending"
    )
    # A desk slug before the dateline is the headline; the dateline still opens the body.
    slug = "UPDATE 1-Bridge bill passes Senate\nWASHINGTON (AP) — The Senate voted on Tuesday."
    doc = _enriched(slug + "\n\nMore.")
    assert doc["title"] == "UPDATE 1-Bridge bill passes Senate"
    assert str(doc["body"]).startswith("WASHINGTON (AP) —")
