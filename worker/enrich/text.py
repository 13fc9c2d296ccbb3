"""Hard-wrapped text joined into paragraphs, headlines, derived titles and word counts.

Written by hand: no maintained library unwraps wire copy. ``textwrap`` only wraps; the
"unwrap" tools (``par``, ``fmt``, Markdown renderers) either rewrap every line or need the
paragraphs marked by blank lines, and none tells a wrapped line from a headline, a list or a
table. The rules here are stated on each function and tested in tests/test_text_reflow.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import islice, pairwise

_WORD = re.compile(r"\w+(?:[-'’]\w+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’»]?\s+(?=[\"'“‘«(]?[A-Z0-9])")

# --- reflow ------------------------------------------------------------------------------------

# Wire copy is wrapped at 60-80 columns; a text whose lines mostly run longer than this holds
# one paragraph a line already, and one whose lines are mostly shorter than the lower bound is
# a list, an address or a poem, not wrapped prose.
MAX_WRAP_WIDTH = 100
MIN_WRAP_WIDTH = 40
# The wrap width is the length that this share of the text's lines do not exceed (a few long
# lines, such as a web address, do not make wrapped text unwrapped).
_WIDTH_SHARE = 0.9
# A line at least this share of the wrap width is full: the next word would not have fitted.
_FULL_SHARE = 0.6
# At least this share of the line breaks inside blocks must fall mid-sentence.
_MIN_WRAPPED_SHARE = 0.25
_CLOSERS = "\"'”’»)]"
_SENTENCE_MARKS = ".!?:"
# A list item opens with a bullet or a number ("1.", "2)", "(a)").
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*•·▪◦‣]\s|\(?\d{1,3}[.)]\s|\([a-z]\)\s)")
# A table row: columns set apart by three spaces or a tab. One run of whitespace is preceded by
# one non-space, so the search is linear.
_TABLE_ROW = re.compile(r"\S(?: {3,}|\t)\S")
# A dateline opening a line: capitals, then a comma, a bracket or a dash ("NEW YORK, Feb 26 -",
# "LONDON (Reuters) -", "BAKU, Azerbaijan"). Only the line's first 60 characters are read.
_DATELINE_SHAPE = re.compile(
    r"[ \t]*[A-Z][A-Z.'’-]+(?:[ ][A-Z][A-Z.'’-]*){0,3}[ ]?(?:,[ ]|\(|[-–—]{1,2}[ ])"
)
# Words a sentence does not end on: a line ending with one is a wrapped sentence, not a headline.
_FUNCTION_WORDS = """
    a an the and or but nor of to in on at by for from with into onto upon than that which who
    whom whose as is are was were be been being has have had its his her their our your my this
    these those said told if because while when where whether not no per via
"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())
# Short words a Title Case headline leaves in lower case.
_TITLE_CASE_SMALL = (FUNCTION_WORDS - {"said", "told"}) | {"vs", "de", "la", "von", "van", "al"}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def ends_sentence(line: str) -> bool:
    """The line ends with ``.``, ``!``, ``?`` or ``:`` (closing quotes and brackets after it
    allowed)."""
    end = line.rstrip().rstrip(_CLOSERS)
    return bool(end) and end[-1] in _SENTENCE_MARKS


def _last_word(line: str) -> str:
    words = line.rsplit(None, 1)
    return words[-1].strip(_CLOSERS + ",").lower() if words else ""


def _ends_open(line: str) -> bool:
    """The line stops where a sentence cannot: on a function word, a comma, a semicolon or a
    hyphen."""
    end = line.rstrip()
    return end.endswith((",", ";", "-")) or _last_word(end) in FUNCTION_WORDS


def _starts_lower(line: str) -> bool:
    start = line.lstrip()
    return bool(start) and start[0].islower()


def _word_hyphen(line: str) -> bool:
    """A hyphen right after a letter ("inter-"), not a dash set apart ("FEB 26 -", "--")."""
    end = line.rstrip()
    return len(end) >= 2 and end[-1] == "-" and end[-2].isalpha()


def is_all_caps(line: str) -> bool:
    letters = [char for char in line if char.isalpha()]
    return len(letters) >= 2 and not any(char.islower() for char in letters)


def is_title_case(line: str) -> bool:
    """Every word but the short function words starts with a capital or a digit, and there are at
    least two such words ("Diamond Shamrock Cuts Crude Prices")."""
    capitalised = 0
    for token in line.split():
        word = token.strip(_CLOSERS + "\"'“‘«(,.:;!?-–—")
        if not word or not any(char.isalpha() for char in word):
            continue
        if word[0].isupper() or word[0].isdigit():
            capitalised += 1
        elif word.lower() not in _TITLE_CASE_SMALL:
            return False
    return capitalised >= 2


def opens_like_dateline(line: str) -> bool:
    """Capitals then a comma, a bracket or a spaced dash: "NEW YORK, Feb 26 -", "LONDON (AP)"."""
    return _DATELINE_SHAPE.match(line[:60]) is not None


def _wrap_width(lines: Sequence[str]) -> int | None:
    """The width the text is wrapped at (the length ``_WIDTH_SHARE`` of its lines do not
    exceed), or None when that is not a wrap width. Linear: lengths are counted, not sorted."""
    counts = [0] * (MAX_WRAP_WIDTH + 2)
    total = 0
    for line in lines:
        length = len(line.rstrip())
        if length:
            counts[min(length, MAX_WRAP_WIDTH + 1)] += 1
            total += 1
    if total < 3:
        return None
    seen = 0
    for width, count in enumerate(counts):
        seen += count
        if seen >= total * _WIDTH_SHARE:
            return width if MIN_WRAP_WIDTH <= width <= MAX_WRAP_WIDTH else None
    return None  # pragma: no cover - the counts add up to total


def _breaks(lines: Sequence[str], width: int) -> list[bool]:
    """For each line, whether the line break after it is kept (True) or joined (False)."""
    indents = [_indent(line) for line in lines if line.strip()]
    base = min(indents) if indents else 0
    # Paragraphs marked by an indented first line (wire copy of the 1980s): then a line that
    # follows another without indentation never starts a paragraph.
    indented_paragraphs = any(
        line.strip() and following.strip() and _indent(following) > base
        for line, following in pairwise(lines)
    )
    full = width * _FULL_SHARE
    opening = list(islice((index for index, line in enumerate(lines) if line.strip()), 3))
    first = opening[0] if opening else 0
    kept = [True] * len(lines)
    for index in range(len(lines) - 1):
        line, following = lines[index], lines[index + 1]
        if not line.strip() or not following.strip():
            continue
        length = len(line.rstrip())
        if (
            _indent(following) > base
            or (
                _LIST_ITEM.match(following)
                and (ends_sentence(line) or _LIST_ITEM.match(line) or length < full)
                # "HOUSTON, Feb 26" / "- Marathon ...": a dateline broken before its dash
                and not (index in opening and opens_like_dateline(line[:60] + " - "))
            )
            or _TABLE_ROW.search(line)
            or _TABLE_ROW.search(following)
            or length > MAX_WRAP_WIDTH
            or len(following.rstrip()) > MAX_WRAP_WIDTH
            or (is_all_caps(line) and not is_all_caps(following))
        ):
            continue
        # Wrapped greedily, a line ends where the next word would not have fitted on it.
        fitted = length + 1 + len(following.split(None, 1)[0]) <= width
        if _starts_lower(following) or _ends_open(line):
            kept[index] = False
        elif (
            index == first
            and fitted
            and not indented_paragraphs
            and is_title_case(line)
            and not opens_like_dateline(line)
        ):
            continue  # a headline
        elif index in opening and opens_like_dateline(following):
            continue
        elif indented_paragraphs:
            # A line that is not indented never starts a paragraph: only a short line ending a
            # sentence ends one (before a table, a signature).
            kept[index] = ends_sentence(line) and length < full
        elif ends_sentence(line):
            kept[index] = fitted
        else:
            kept[index] = fitted and length < full
    return kept


def _is_wrapped(lines: Sequence[str], width: int) -> bool:
    """Enough line breaks fall mid-sentence: the next line starts in lower case (strong), or a
    full line ends without a sentence mark (weak; two are needed)."""
    pairs = strong = weak = 0
    for line, following in pairwise(lines):
        if not line.strip() or not following.strip():
            continue
        pairs += 1
        if ends_sentence(line):
            continue
        if _starts_lower(following):
            strong += 1
        elif len(line.rstrip()) >= width * _FULL_SHARE:
            weak += 1
    if strong == 0 and weak < 2:
        return False
    return strong + weak >= pairs * _MIN_WRAPPED_SHARE


def reflow(text: str) -> str:
    """Hard-wrapped text joined into paragraphs; any other text returned unchanged.

    The text is hard-wrapped when it has at least three non-blank lines, 90% of them are at most
    ``W`` characters long with 40 <= W <= 100 (W, the wrap width), and at least a quarter of
    the breaks between two non-blank lines fall mid-sentence: the next line starts in lower
    case (one is enough), or a line of at least 0.6 W ends without ``.!?:`` (two are needed).
    One paragraph a line, as posted today, fails this and comes back identical.

    In hard-wrapped text, a break between two non-blank lines is decided by the first rule
    that applies (blank lines are always kept):

    1. KEPT when the next line is indented more than the text's least-indented lines (a
       paragraph's first line, a block quote, a signature); or is a list item (``-``, ``*``,
       ``•``, ``1.``, ``2)``, ``(a)``) after a line that ends a sentence, is short (under
       0.6 W) or is a list item too (else "- " is a dash the wrap put first), unless the
       line, among the text's first three, is a dateline broken before its dash; or either line
       is a table row (three spaces or a tab between words) or is over 100 characters; or
       the line is in capitals and the next is not (a headline, a heading).
    2. JOINED when the next line starts in lower case, or the line ends on a function word
       ("that", "the", "of", "to", "and", "said", ...), a comma, a semicolon or a hyphen.
    3. KEPT after the first line when it is in Title Case, does not open with a dateline, the
       next line's first word would have fitted on it within W, and paragraphs are not
       marked by indentation (a headline).
    4. KEPT before a line, among the text's first three, that opens like a dateline
       ("NEW YORK, Feb 26 -": after a headline or a byline).
    5. Where paragraphs are marked by indentation, JOINED unless the line ends a sentence and
       is short (a line that is not indented never starts a paragraph there; the first line
       of a Reuters story is short because its dateline was set apart, and joins).
    6. Otherwise a line ending a sentence is JOINED only when the next line's first word
       would not have fitted on it within W (a paragraph's last line is as long as it happens
       to be), and a line ending mid-sentence is JOINED when it is at least 0.6 W long or the
       next word would not have fitted.

    A joined break (the spaces around it too) becomes one space; after a hyphen that follows a
    letter ("inter-" / "national") it becomes nothing and the hyphen stays ("inter-national",
    "well-known"): a hyphen at a line's end may be the writer's or the wrap's, and keeping it
    loses nothing the writer typed. Every other character, kept breaks, blank lines and
    indentation included, stays as posted. Linear in the length of the text.
    """
    if "\n" not in text:
        return text
    lines = text.split("\n")
    width = _wrap_width(lines)
    if width is None or not _is_wrapped(lines, width):
        return text
    kept = _breaks(lines, width)
    pieces: list[str] = []
    joined_before = False
    for index, line in enumerate(lines):
        if joined_before:
            line = line.lstrip()
        if index == len(lines) - 1:
            pieces.append(line)
        elif kept[index]:
            pieces.append(line + "\n")
        else:
            end = line.rstrip()
            pieces.append(end if _word_hyphen(end) else end + " ")
        joined_before = not kept[index]
    return "".join(pieces)


# --- headlines and titles ----------------------------------------------------------------------

_MAX_HEADLINE_CHARS = 150
_MAX_HEADLINE_WORDS = 25
# A first line at least this share as long as the longest of the lines after it, in a block of
# short lines, is one of them: wrapped text, not a headline.
_WRAPPED_SHARE = 0.8
_BLOCK_LINES = 5


def _never(_line: str) -> bool:
    return False


def _is_wrapped_line(first: str, block: Sequence[str]) -> bool:
    """``first`` is as long as the lines of the block that follows it (two or more lines, none
    over the widest wrap): a line of wrapped text that was not joined, not a headline."""
    lengths = [len(line.strip()) for line in block]
    if len(lengths) < 2 or max(lengths) > MAX_WRAP_WIDTH:
        return False
    return len(first) >= _WRAPPED_SHARE * max(lengths)


_BYLINE = re.compile(r"(?:By|BY)\s+\S")


def split_headline(
    text: str, opens_with_dateline: Callable[[str], bool] = _never
) -> tuple[str | None, str]:
    """The first line as a headline and the text after it, when it is clearly a headline; else
    ``(None, text)`` and the body keeps every line (the title is derived instead).

    The first non-blank line is a headline only when all of these hold:
    1. more text follows it;
    2. it is short: at most 150 characters and 25 words;
    3. it does not end like a sentence or a clause: no final ``.``, ``,``, ``;`` or ``:``
       (a ``?`` or ``!`` is fine: headlines ask and exclaim);
    4. it does not end on a function word ("that", "the", "of", "to", "and", "said", ...):
       a wrapped sentence stops there, a headline does not;
    5. it does not itself open with a dateline (``opens_with_dateline``, or the shape
       "NEW YORK, Feb 26 -" in a line that is not all capitals): that is the story's first line;
       nor is it a byline ("By John Smith", "BY JANE DOE"): that names who wrote it;
    6. when the next line follows it without a blank line between:
       a. the next line does not start in lower case (it would continue the first), and
       b. the first line is headline-like: in capitals or Title Case, or the next line opens
          with a dateline, or the first line is not as long as the lines of the block after it
          (at least 0.8 of the longest of the next five lines, all at most 100 characters:
          in hard-wrapped text every line is about as long, so it is wrapped text).
    """
    stripped = text.lstrip()
    first, newline, rest = stripped.partition("\n")
    first = first.strip()
    if not newline or not rest.strip() or not first:
        return None, text
    if (
        len(first) > _MAX_HEADLINE_CHARS
        or len(first.split()) > _MAX_HEADLINE_WORDS
        or first.rstrip(_CLOSERS)[-1:] in (".", ",", ";", ":", "")
        or _last_word(first) in FUNCTION_WORDS
        or opens_with_dateline(first)
        or (opens_like_dateline(first) and not is_all_caps(first))
        or _BYLINE.match(first)
    ):
        return None, text
    blank_after = not rest.split("\n", 1)[0].strip()
    if not blank_after:
        block: list[str] = []
        for line in rest.split("\n", _BLOCK_LINES)[:_BLOCK_LINES]:
            if not line.strip():
                break
            block.append(line)
        following = block[0]
        if _starts_lower(following):
            return None, text
        headline_like = (
            is_all_caps(first)
            or is_title_case(first)
            or opens_with_dateline(following)
            or opens_like_dateline(following)
        )
        if not headline_like and _is_wrapped_line(first, block):
            return None, text
    return first, rest.lstrip()


# A derived title is read from this much of the text: enough for any first sentence it keeps.
_TITLE_SOURCE_CHARS = 2_000
DERIVED_TITLE_CHARS = 110
_MIN_CLAUSE_CHARS = 40
# Clause boundaries a long first sentence is cut at, the latest that fits: a comma or semicolon
# followed by a space (not "2,400"), a colon, a spaced dash. Not before "said" or "that": the
# words before a reporting verb name the speaker, not the news.
_CLAUSE_BREAK = re.compile(r"[,;:](?=\s)|\s(?=[—–]|--?\s)")
# Abbreviations that come before a name or a number, so never end a sentence ("Gen. Smith",
# "Feb. 26", "No. 1"); "Corp." or "Inc." may.
_ABBREVIATION_WORDS = """
    Mr Mrs Ms Dr Sen Rep Gov Gen Lt Col Capt Sgt St Mt Ft No Prof Rev vs
    Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec
"""
_ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
# After "U.S." or "N.J." a sentence ends only when one of these starts the next.
_OPENER_WORDS = """
    The A An It He She They We I This That These Those But And In On At Then However Its His
    Her Their There
"""
_OPENERS = frozenset(_OPENER_WORDS.split())
# Words that hold a name together ("Bank of England", "Abdel Aziz al-Rantissi").
_NAME_JOINERS = frozenset({"of", "de", "del", "da", "di", "van", "von", "der", "al", "bin", "la"})


def first_sentence(text: str) -> str:
    """The text's first sentence: it ends at ``.!?`` followed by a capital (not after a title, a
    month or an initial: "Mr.", "Feb.", "T."; after "U.S." only before "The", "He", ...), or at
    a line break that ends a paragraph (the line ends a sentence, or the next line starts with
    a capital and the line does not end on a function word, a comma or a hyphen)."""
    text = text[:_TITLE_SOURCE_CHARS]
    lines = text.strip().split("\n")
    paragraph = [lines[0]]
    for line in lines[1:]:
        previous = paragraph[-1]
        if not line.strip() or not previous.strip():
            break
        if not (_starts_lower(line) or _ends_open(previous)) or ends_sentence(previous):
            break
        paragraph.append(line)
    joined = " ".join(" ".join(paragraph).split())
    for end in _SENTENCE_END.finditer(joined):
        following = joined[end.end() :].split(" ", 1)[0].strip("\"'“‘«(")
        if not _is_abbreviation(joined[: end.start()].rsplit(" ", 1)[-1], following):
            return joined[: end.start()]
    return joined


def _is_abbreviation(word: str, following: str = "") -> bool:
    """``word`` (with its final full stop) is an abbreviation or an initial, not a sentence's end:
    "Mr.", "Feb.", "T.", and "U.S." or "N.J." unless ``following`` opens a sentence ("The")."""
    stem = word.lstrip("\"'“‘«(").rstrip(".")
    if "." in stem:
        return following not in _OPENERS
    return len(stem) == 1 or stem in _ABBREVIATIONS


def _starts_name(word: str) -> bool:
    return bool(word) and (word[0].isupper() or word.lower() in _NAME_JOINERS)


def _word_cut(sentence: str, limit: int) -> str:
    """``sentence`` cut at its last word boundary within ``limit`` characters, not inside a name
    (a run of capitalised words running across the cut is left out whole) and not after a
    function word, with an ellipsis."""
    cut = sentence.rfind(" ", 0, limit + 1)
    kept = sentence[:cut].split(" ") if cut > 0 else [sentence[:limit]]
    following = sentence[cut + 1 :].split(" ", 1)[0] if cut > 0 else ""
    # "... the Bank of | England ...": the name is left out whole.
    if _starts_name(following) and _starts_name(kept[-1].strip(_CLOSERS + ",")):
        run = len(kept)
        while run > 1 and _starts_name(kept[run - 1].strip(_CLOSERS + ",")):
            run -= 1
        if run > 1 and len(" ".join(kept[:run])) >= _MIN_CLAUSE_CHARS // 2:
            kept = kept[:run]
    while len(kept) > 1 and _last_word(kept[-1]) in FUNCTION_WORDS:
        kept.pop()
    return " ".join(kept).rstrip(",;:—–- ") + "…"


def derive_title(text: str) -> str | None:
    """A title from the opening sentence (see ``first_sentence``; the caller takes the dateline
    off): the whole sentence, without its full stop, when at most 110 characters; else cut at
    the latest clause boundary (", ", "; ", ": ", " — ", " – ", " - ", " -- ") within 110
    characters that leaves at least 40; else at the last word boundary within 110 characters,
    never inside a name and never after a function word, with an ellipsis. Never mid-word."""
    sentence = first_sentence(text)
    if sentence.endswith(".") and "." not in sentence.rsplit(" ", 1)[-1][:-1]:
        sentence = sentence[:-1]  # its full stop, not the one of "U.S."
    if not sentence.strip(" ."):
        return None
    if len(sentence) <= DERIVED_TITLE_CHARS:
        return sentence
    head = sentence[: DERIVED_TITLE_CHARS + 1]
    ends = [match.start() for match in _CLAUSE_BREAK.finditer(head)]
    ends = [end for end in ends if _MIN_CLAUSE_CHARS <= end <= DERIVED_TITLE_CHARS]
    if ends:
        return head[: ends[-1]].rstrip()
    return _word_cut(sentence, DERIVED_TITLE_CHARS)


def count_words(text: str) -> int:
    return len(_WORD.findall(text))
