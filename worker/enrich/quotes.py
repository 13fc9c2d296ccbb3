"""Direct quotations and who said them.

Written here, on purpose: no available library attributes quotes well enough. textacy's
``direct_quotations`` (not installed; its own docs call it a "baseline, not-great attempt")
needs POS tags, lemmas and a parse of every sentence (about three times the cost of our NER),
and returns "he" or "the official" as the speaker; spaCy's released English pipelines have no
coreference. On the hand-checked sample (``python -m quality.quotes``) this module finds about
98% of quotations and names the right speaker for about 90% of them. The steps:

1. Quotations from the quote marks, straight or curly, typed as opening or closing by what is
   around them. A quotation left open at a paragraph's end goes on into the next paragraph,
   whether that one starts with a new opening mark (the wire convention) or not; in text whose
   paragraphs were flattened, '...leadership. "We'll' closes one and opens the next.
2. Attribution from a dependency parse of the clause around each quotation only (not of the
   article: see ``worker.enrich.nlp``), with the quoted words replaced by a stand-in
   (``"Yes,"``) so that the parse is short and the clause's shape is what the parser sees. The
   speaker is the subject (``nsubj``) of the nearest speech verb after the quotation ("...,"
   Saidzhanov noted / "...," said Smith), or of the speech verb before it whose clause holds it
   (Smith said: "..."), or the object of "according to", or the subject of a clause ending
   in a colon.
3. Names map to the article's people (``entities.person_mentions``). "he"/"she" and "the
   official" resolve, in text order, to the most recent sentence with a compatible person and,
   within it, to the first (the subject, usually); genders come from honorifics, gendered roles
   ("spokeswoman") and the pronouns already resolved, and a person of known, matching gender
   named in the last few sentences beats a closer one of unknown gender. Mentions inside
   quotations are not candidates.
4. A quotation with no clause of its own continues the previous speaker when no other person
   was named in between; otherwise the speaker is None, not a guess. Short unattributed
   quotations, title-like ones and phrases set inside a sentence are scare quotes or titles
   and are left out.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from worker.enrich.entities import Mention, person_mentions
from worker.enrich.nlp import parse_fragments

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

# Word forms, not lemmas: the lemmatizer does not run (see worker.enrich.nlp).
_SPEECH_VERB_WORDS = """
    say says said saying tell tells told telling add adds added adding note notes noted noting
    explain explains explained explaining stress stresses stressed emphasize emphasizes
    emphasized emphasise emphasises emphasised ask asks asked write writes wrote continue
    continues continued argue argues argued insist insists insisted reply replies replied
    recall recalls recalled warn warns warned declare declares declared announce announces
    announced acknowledge acknowledges acknowledged admit admits admitted claim claims claimed
    remark remarks remarked state stated observe observes observed comment comments commented
    conclude concludes concluded point points pointed suggest suggests suggested tweet tweets
    tweeted tweeting post posted joke jokes joked quip quipped shout shouted yell yelled
    scream screamed whisper whispered exclaim exclaimed respond responds responded counter
    countered predict predicted vow vows vowed promise promised urge urges urged complain
    complained read reads wonder wondered agree agrees agreed testify testified concede
    conceded confirm confirms confirmed caution cautioned boast boasted mutter muttered
    """
_SPEECH_VERBS = frozenset(_SPEECH_VERB_WORDS.split())
# Forms that are also common nouns or adjectives: only as verbs.
_VERB_TAG_REQUIRED = frozenset({"state", "point", "points", "post", "counter", "read", "reads"})
_PRONOUN = re.compile(r"\b(?:[Hh]e|[Ss]he)\b")
_HONORIFIC = re.compile(r"\b(?P<title>Mr|Mrs|Ms|Miss)\.?\s+$")
# A speaker written as a role ("the official said"); the female and male forms also tell gender.
_ROLE_WORDS = """
    official minister president senator governor mayor director chairman chairwoman chair
    chief executive secretary lawmaker congressman congresswoman representative ambassador
    professor analyst expert judge lawyer attorney coach leader diplomat envoy chancellor
    commissioner head founder researcher scientist economist officer general commander activist
    candidate spokesman spokeswoman spokesperson premier king queen prince princess pope
    republican democrat veteran star singer actor actress player striker manager mother father
    """
_ROLES = frozenset(_ROLE_WORDS.split())
_FEMALE_ROLES = frozenset({"chairwoman", "congresswoman", "spokeswoman", "queen", "princess"})
_MALE_ROLES = frozenset({"chairman", "congressman", "spokesman", "king", "prince", "pope"})
_DEFINITE = frozenset({"the", "this", "that"})
# How many sentences back a person of known gender is preferred to a closer one of unknown.
_GENDER_REACH = 3
# How many earlier mentions (names and resolved pronouns) a pronoun or role is resolved among.
# A bound, not a heuristic: each resolution read the whole history before, so an article of
# "he he he ..." cost the square of its length (40,000 characters: 30 s). A news story refers
# back to someone named within far fewer mentions than this (the corpus's quotations come out
# the same: tests/test_enrich_bounds.py).
_REFERENT_REACH = 200
_APPOSITION = re.compile(r",\s+(?:an?|the)\s+(?P<words>(?:[\w-]+\s+){0,3}[\w-]+)")

_WORD = re.compile(r"[a-z]+")
_MARKS = re.compile(r"[\"“”]")
# Paragraph breaks: newlines, or the runs of spaces that some feeds leave in their place. Only a
# whole run of whitespace can be one, so a match starts where a run starts, (?<!\s): tried
# from every space of a run, as it was ("\s*\n\s*|..."), it cost the square of the run's
# length (40,000 spaces: 4.8 s). Same breaks: tests/test_enrich_bounds.py compares the two.
_PARAGRAPH_BREAK = re.compile(r"(?<!\s)(?:[^\S\n]*\n\s*|(?<=[.!?\"”])\s{3,})")
_OPEN_CONTEXT = set(" \t\n([{—–-/:")
_CLOSE_NEXT = set(" \t\n,.;:!?)]}—–-'’")
# How far a quotation may run on without a closing mark, and how much clause is parsed.
MAX_PARAGRAPHS = 4
_MIN_RUN_ON_WORDS = 4
_MAX_CONTEXT_CHARS = 150
# Without an attribution, a quotation this short or written like a title is a scare quote, a
# name or a title, not speech.
MIN_UNATTRIBUTED_WORDS = 5
_STAND_IN = "Yes"
# A match can only start where a word starts, (?<![\w.-]): tried from every character of
# "a.a.a.a." as it was, it cost the square of the word's length. Once the word is chosen the
# whitespace after it is taken whole (\s++): only its end can be followed by a capital.
_SENTENCE_BREAK = re.compile(r"(?<![\w.-])(?P<word>[\w.-]+)[.!?][\"”]?\s++(?=[\"“]?[A-Z])")
_ABBREVIATION_WORDS = """
    Mr Mrs Ms Dr Sen Rep Gov Gen Lt Col Capt Sgt St Jr Sr Inc Co Corp Ltd No Mt Ft Prof Rev vs
    etc Jan Feb Aug Sept Oct Nov Dec U.S U.K U.N D.C Ave Blvd
"""
_ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
# Initials ("J.") and party-state tags ("D-Mass.").
_STATE_ABBREVIATION = re.compile(r"^(?:[A-Z]|[A-Z]-[A-Z][a-z]*|.*\.[A-Za-z])$")
_GLUED_DASH = re.compile(r"(?<=[:.,;!?])-|-(?=\s*$)")
_NOT_SPACE = re.compile(r"\S")
_LAST_WORD = re.compile(r"(?<![\w.-])(?P<word>[\w.-]+)\.\s*$")


def _content_end(text: str, index: int) -> int:
    """``len(text[:index].rstrip())`` without copying ``text[:index]`` (once per quotation
    mark, that copy made the scan quadratic): only the whitespace just before ``index`` is
    read, and that run is read again by no other mark."""
    while index > 0 and text[index - 1].isspace():
        index -= 1
    return index


def _is_abbreviation(word: str) -> bool:
    return word in _ABBREVIATIONS or bool(_STATE_ABBREVIATION.match(word))


@dataclass
class _Quotation:
    open: int  # the opening mark
    close: int  # the closing mark
    pieces: list[tuple[int, int]]  # the quoted text, without re-opening marks between paragraphs
    speaker: str | None = None
    mention: str | None = None
    verb: str | None = None
    attribution: str | None = None  # "after", "before", "colon", "continuation"

    def text(self, source: str) -> str:
        joined = " ".join(source[start:end] for start, end in self.pieces)
        return " ".join(joined.split()).strip().rstrip(",").rstrip()


def _paragraph_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in _PARAGRAPH_BREAK.finditer(text))]


def _mark_type(text: str, index: int) -> str:
    """ "open", "close" or "either", from the characters around the mark, then its glyph."""
    before = text[index - 1] if index > 0 else "\n"
    after = text[index + 1] if index + 1 < len(text) else "\n"
    if before in _OPEN_CONTEXT and not after.isspace():
        return "open"
    if not before.isspace() and (after in _CLOSE_NEXT or after.isspace()):
        return "close"
    glyph = text[index]
    return "open" if glyph == "“" else "close" if glyph == "”" else "either"


def find_quotations(text: str) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """(opening mark, closing mark, quoted pieces) for each balanced quotation."""
    starts = _paragraph_starts(text)
    found: list[tuple[int, int, list[tuple[int, int]]]] = []
    opened: int | None = None
    pieces: list[tuple[int, int]] = []
    piece_start = 0
    for match in _MARKS.finditer(text):
        index = match.start()
        kind = _mark_type(text, index)
        paragraph = bisect.bisect_right(starts, index) - 1
        if opened is None:
            if kind != "close":
                opened, pieces, piece_start = index, [], index + 1
            continue
        opened_paragraph = bisect.bisect_right(starts, opened) - 1
        if paragraph - opened_paragraph > MAX_PARAGRAPHS:
            opened = None  # never closed: a stray mark
            if kind != "close":
                opened, pieces, piece_start = index, [], index + 1
            continue
        at_paragraph_start = paragraph > opened_paragraph and index == starts[paragraph]
        if kind == "open" and at_paragraph_start:
            pieces.append((piece_start, index))  # "...on. / "Then..." continues the quotation
            piece_start = index + 1
        elif kind == "open":
            # Paragraphs flattened into one line leave the wire convention as '...leadership.
            # "We'll go...': a quotation that ends a sentence and a new opening mark before a
            # capital. Otherwise the earlier mark never closed and is dropped.
            content_end = _content_end(text, index)
            if (
                text[content_end - 1 : content_end] in {".", "!", "?"}
                and text[index + 1 : index + 2].isupper()
                and len(text[piece_start:content_end].split()) >= _MIN_RUN_ON_WORDS
            ):
                found.append((opened, content_end, [*pieces, (piece_start, content_end)]))
            opened, pieces, piece_start = index, [], index + 1
        else:
            pieces.append((piece_start, index))
            found.append((opened, index, pieces))
            opened = None
    return found


# --- attribution -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """A clause around one quotation, its quoted words replaced by the stand-in."""

    text: str
    left: tuple[int, int]  # original offsets of the text before the quotation
    right: tuple[int, int]  # ... and after it
    stand_in: tuple[int, int]  # window offsets of the stand-in quotation

    def original(self, offset: int) -> int | None:
        """The original offset of a window offset, None inside the stand-in."""
        left_len = self.left[1] - self.left[0]
        if offset < left_len:
            return self.left[0] + offset
        if offset < self.stand_in[1]:
            return None
        return self.right[0] + offset - self.stand_in[1]


class _Sentences:
    """Sentence boundaries: the senter's, plus the plain ". The" breaks it misses (it often
    runs a sentence on after a quotation)."""

    def __init__(self, parsed: Doc, text: str) -> None:
        # Arrays, not doc.sents: building Span and Token objects costs more than the rest.
        annotations = parsed.to_array(["IDX", "SENT_START"])
        senter = [int(idx) for idx, start in annotations.tolist() if start == 1]
        # The senter also splits after "Capt." or "Sen.": those are not sentence ends.
        starts = {
            start_char
            for start_char in senter
            if not (found := _LAST_WORD.search(text[max(0, start_char - 30) : start_char]))
            or not _is_abbreviation(found["word"])
        }
        for match in _SENTENCE_BREAK.finditer(text):
            if not _is_abbreviation(match["word"]):
                starts.add(match.end())
        self.starts = sorted(starts | {0})
        self.ends = [*self.starts[1:], len(text)]

    def index(self, offset: int) -> int:
        return max(0, bisect.bisect_right(self.starts, offset) - 1)

    def start(self, offset: int) -> int:
        return self.starts[self.index(offset)] if self.starts else 0

    def end(self, offset: int) -> int:
        return self.ends[self.index(offset)] if self.ends else offset


def _ending(text: str, quote: _Quotation) -> str:
    """The punctuation the quoted words end with, before the closing mark ("," or "." ...)."""
    start, end = quote.pieces[-1] if quote.pieces else (quote.open + 1, quote.close)
    last = text[start:end].rstrip()[-1:]
    return last if last in {",", ".", "?", "!", "—", "-", ";", ":"} else ""


def _window(
    text: str,
    quote: _Quotation,
    previous_close: int,
    next_open: int,
    sentences: _Sentences,
    paragraphs: list[int],
) -> _Window:
    paragraph = paragraphs[bisect.bisect_right(paragraphs, quote.open) - 1]
    left_start = max(sentences.start(quote.open), previous_close + 1, paragraph)
    left_start = max(left_start, quote.open - _MAX_CONTEXT_CHARS)
    after = quote.close + 1
    close_paragraph = bisect.bisect_right(paragraphs, quote.close)
    paragraph_end = paragraphs[close_paragraph] if close_paragraph < len(paragraphs) else len(text)
    # The sentence that holds the first word after the closing mark.
    first_after = _NOT_SPACE.search(text, after)
    probe = first_after.start() if first_after else len(text)
    right_end = min(sentences.end(probe), next_open, paragraph_end, after + _MAX_CONTEXT_CHARS)
    right_end = max(right_end, after)
    ending = _ending(text, quote)
    # Some feeds glue a dash to punctuation ('said:-"Instead'); same length, so offsets hold.
    left = _GLUED_DASH.sub(" ", text[left_start : quote.open])
    right = _GLUED_DASH.sub(" ", text[after:right_end])
    # A space on each side, so that 'January.-"The' does not tokenize as one word; never two,
    # which the tagger reads differently.
    space_before = "" if not left or left[-1].isspace() else " "
    space_after = "" if not right or right[0].isspace() else " "
    middle = f'{space_before}"{_STAND_IN}{ending}"{space_after}'
    window = f"{left}{middle}{right}".replace("\n", " ")
    return _Window(
        text=window,
        left=(left_start, quote.open),
        right=(after, right_end),
        stand_in=(len(left), len(left) + len(middle)),
    )


def _is_speech_verb(token: Token) -> bool:
    word = token.lower_
    if word not in _SPEECH_VERBS:
        return False
    return token.tag_.startswith("VB") or word not in _VERB_TAG_REQUIRED


def _subject(verb: Token) -> Token | None:
    """The speaker of a speech verb: its subject, or that of the clause it hangs from ("he
    said, adding"; "by saying"), or the name right after it ("said Smith") when the parser
    made that an object. A relative "who" stands for the noun it modifies."""
    current = verb
    for _ in range(4):
        for child in current.children:
            if child.dep_ in {"nsubj", "nsubjpass"}:
                if child.tag_ in {"WP", "WDT"} and current.dep_ == "relcl":
                    return current.head
                return child
        if current.dep_ in {"ROOT", "ccomp", "relcl"} or current.head is current:
            break
        current = current.head
    for child in verb.rights:
        if child.dep_ in {"dobj", "attr", "npadvmod", "dep", "appos", "oprd"} and child.tag_ in {
            "NNP",
            "NNPS",
            "NN",
            "PRP",
        }:
            return child
    return None


def _according_to(doc: Doc, window: _Window) -> Token | None:
    for token in doc:
        if (
            token.lower_ == "according"
            and token.i + 1 < len(doc)
            and doc[token.i + 1].lower_ == "to"
        ):
            for child in doc[token.i + 1].children:
                if child.dep_ == "pobj" and window.original(child.idx) is not None:
                    return child
    return None


def _is_bare(verb: Token) -> bool:
    """ "Puzder said in a statement." attributes what came before; "Harper said he had not..."
    reports something else."""
    return not any(child.dep_ in {"ccomp", "xcomp", "dobj", "dative"} for child in verb.children)


def _attribution(doc: Doc, window: _Window, ending: str) -> tuple[Token, Token | None, str] | None:
    """(speech verb, speaker token, "after" | "before") for the quotation in its parsed window.

    After the quotation, a verb counts in the sentence that the quotation ends (when it ends
    with a comma, dash, "?" or "!"), or as a bare clause in the next sentence ("...." Puzder,
    a fast food executive, said in a statement). Before it, in the same sentence."""
    closing = next((t for t in doc if t.idx >= window.stand_in[1] - 1), None)
    quote_sentence = closing.sent.start if closing is not None else -1
    if closing is not None and not any(
        t.tag_.startswith("VB") for t in closing.sent if t.i > closing.i
    ):
        # The parser ended the sentence early ("... Capt. | Jeff Davis told reporters").
        quote_sentence = closing.sent.end if closing.sent.end < len(doc) else quote_sentence
        quote_sentence = doc[quote_sentence].sent.start if quote_sentence < len(doc) else -1
    after: list[Token] = []
    before: list[Token] = []
    for token in doc:
        if window.stand_in[0] <= token.idx < window.stand_in[1] or not _is_speech_verb(token):
            continue
        if token.idx < window.stand_in[0]:
            before.append(token)
        elif ending in {",", "—", "-", "?", "!"} and token.sent.start == quote_sentence:
            after.append(token)
        elif _is_bare(token) and token.i - token.sent.start <= 20:
            first_sentence_after = token.sent.start <= (closing.i + 1 if closing else 0)
            if first_sentence_after:
                after.append(token)
    if after and (ending in {",", "—", "-", "?", "!"} or not before):
        verb = min(after, key=lambda t: t.idx)
        return verb, _subject(verb), "after"
    if before:
        # The verb whose clause holds the quotation ("told Al Jazeera that ... the "...""),
        # not just the nearest ("announce how it plans").
        stand_in = next(
            (t for t in doc if t.idx >= window.stand_in[0] and t.text == _STAND_IN), None
        )
        governing = [v for v in before if stand_in is not None and v.is_ancestor(stand_in)]
        verb = max(governing or before, key=lambda t: t.idx)
        return verb, _subject(verb), "before"
    according = _according_to(doc, window)
    if according is not None:
        side = "after" if according.idx > window.stand_in[0] else "before"
        return according.head.head, according, side
    return None


def _colon_subject(doc: Doc, window: _Window) -> Token | None:
    """ "Smith offered a warning: "..."": the subject of the clause that a colon ends."""
    left = doc.char_span(0, window.stand_in[0], alignment_mode="contract")
    if left is None or not left.text.rstrip().endswith(":"):
        return None
    for token in left:
        if token.dep_ == "ROOT":
            return next((c for c in token.children if c.dep_ == "nsubj"), None)
    return None


# --- who is "he" --------------------------------------------------------------------------


@dataclass
class _Referents:
    """People as the text goes, for resolving "he", "she" and "the official"."""

    history: list[tuple[int, int, str]]  # (offset, sentence, person), in text order
    genders: dict[str, str]
    pronouns: dict[int, str]  # offset of a resolved he/she → person
    roles: dict[str, set[str]]

    def resolve(
        self, offset: int, sentence: int, gender: str | None, role: str | None = None
    ) -> str | None:
        # The latest _REFERENT_REACH entries before ``offset`` (the history is in text order).
        end = bisect.bisect_left(self.history, offset, key=lambda entry: entry[0])
        earlier = self.history[max(0, end - _REFERENT_REACH) : end]
        compatible = [
            entry
            for entry in earlier
            if gender is None or self.genders.get(entry[2]) in {None, gender}
        ]
        if role:
            with_role = [entry for entry in compatible if role in self.roles.get(entry[2], set())]
            if with_role:
                return with_role[-1][2]
        if not compatible:
            return None
        if gender is not None:
            # A person known to fit, named in the last few sentences, beats a closer one whose
            # gender is unknown ("Ms. Lopez ... John Smith ... she said").
            known = [
                entry
                for entry in compatible
                if self.genders.get(entry[2]) == gender and entry[1] >= sentence - _GENDER_REACH
            ]
            compatible = known or compatible
        latest_sentence = compatible[-1][1]
        # Within a sentence, the first person named is usually its subject.
        return next(entry[2] for entry in compatible if entry[1] == latest_sentence)


def _roles_around(text: str, start: int, end: int) -> set[str]:
    """Role words written as a title ("Finance Minister Peter Novak", "Pentagon spokesman US
    Navy Capt. Jeff Davis") or an apposition ("Xochitl Hinojosa, a spokeswoman for ...")."""
    roles: set[str] = set()
    for word in reversed(text[max(0, start - 60) : start].split()[-5:]):
        bare = word.strip(",.").casefold()
        if bare in _ROLES:
            roles.add(bare)
        elif not word[:1].isupper():
            break  # "a spokeswoman for Tom Perez": "for" ends the title
    apposition = _APPOSITION.match(text, end)
    if apposition:
        roles.update(w.casefold() for w in apposition["words"].split() if w.casefold() in _ROLES)
    return roles


def _referents(
    text: str,
    mentions: Sequence[Mention],
    quoted: list[tuple[int, int]],
    sentences: _Sentences,
) -> _Referents:
    quote_starts = [start for start, _ in quoted]

    def inside_quote(offset: int) -> bool:
        i = bisect.bisect_right(quote_starts, offset) - 1
        return i >= 0 and quoted[i][0] < offset < quoted[i][1]

    mentions = [m for m in mentions if not inside_quote(m.start)]
    genders: dict[str, str] = {}
    roles: dict[str, set[str]] = {}
    for m in mentions:
        honorific = _HONORIFIC.search(text[max(0, m.start - 8) : m.start])
        if honorific:
            genders.setdefault(m.name, "m" if honorific["title"] == "Mr" else "f")
        found_roles = _roles_around(text, m.start, m.end)
        roles.setdefault(m.name, set()).update(found_roles)
        if found_roles & _FEMALE_ROLES:
            genders.setdefault(m.name, "f")
        elif found_roles & _MALE_ROLES:
            genders.setdefault(m.name, "m")
    events: list[tuple[int, str | None, str | None]] = [(m.start, m.name, None) for m in mentions]
    for match in _PRONOUN.finditer(text):
        if not inside_quote(match.start()):
            events.append((match.start(), None, "m" if match.group().lower() == "he" else "f"))
    events.sort(key=lambda event: event[0])
    referents = _Referents(history=[], genders=genders, pronouns={}, roles=roles)
    for offset, person, gender in events:
        sentence = sentences.index(offset)
        if person is None:
            person = referents.resolve(offset, sentence, gender)
            if person is None:
                continue
            referents.pronouns[offset] = person
            if gender:
                genders.setdefault(person, gender)
        referents.history.append((offset, sentence, person))
    return referents


def _written(tokens: Sequence[Token], window: _Window, source: str) -> str | None:
    """The tokens as the article writes them."""
    offsets = [window.original(t.idx) for t in tokens]
    known = [(o, t) for o, t in zip(offsets, tokens, strict=True) if o is not None]
    if not known:
        return None
    start, end = known[0][0], known[-1][0] + len(known[-1][1].text)
    return " ".join(source[start:end].split())


def _phrase(token: Token) -> list[Token]:
    """The noun phrase without its clauses ("who is based in...", "penned at the behest of")."""
    tokens = [token]
    for child in token.children:
        if child.dep_ not in {"relcl", "acl", "advcl", "punct", "cc", "conj"}:
            tokens.extend(_phrase(child))
    return sorted(tokens, key=lambda t: t.i)


def _named_in_phrase(token: Token, window: _Window, mentions_at: dict[int, str]) -> str | None:
    """A person named at the end of a descriptive subject: "head of the Ahmed Kathrada
    Foundation Neeshan Balton said". Not after a preposition ("the lawyer for Smith") and not
    a possessive ("Harder's office")."""
    if not token.tag_.startswith("NN"):
        return None
    subtree = [t for t in _phrase(token) if window.original(t.idx) is not None and t.i >= token.i]
    for position in range(len(subtree) - 1, -1, -1):
        offset = window.original(subtree[position].idx)
        if offset is None or offset not in mentions_at:
            continue
        following = subtree[position + 1] if position + 1 < len(subtree) else None
        first = position
        while first > 0 and window.original(subtree[first - 1].idx) in mentions_at:
            first -= 1
        preceding = subtree[first - 1] if first > 0 else None
        if (following is not None and following.tag_ == "POS") or (
            preceding is not None and preceding.tag_ == "IN"
        ):
            return None
        return mentions_at[offset]
    return None


def _speaker(
    token: Token,
    window: _Window,
    source: str,
    referents: _Referents,
    sentences: _Sentences,
    mentions_at: dict[int, str],
    people: Sequence[str],
) -> tuple[str | None, str | None]:
    """(canonical person or None, the speaker as written) for a subject token."""
    start = window.original(token.idx)
    if start is None:
        return None, None
    # The noun phrase up to its head: "Sen. Elizabeth Warren", "the official", "The mother".
    phrase = [t for t in token.subtree if t.i <= token.i and window.original(t.idx) is not None]
    written = _written(phrase or [token], window, source)
    # Only the name itself: in "Harder's office" the speaker is the office, not Harder.
    name = [t for t in token.lefts if t.dep_ in {"compound", "flat"}] + [token]
    for t in name:
        offset = window.original(t.idx)
        if offset is not None and offset in mentions_at:
            return mentions_at[offset], written
    named = _named_in_phrase(token, window, mentions_at)
    if named is not None:
        return named, written
    word = token.lower_
    if word in {"he", "she"}:
        return referents.pronouns.get(start), written
    if word in _ROLES and token.ent_type_ == "":  # "the Utah Republican", not an entity
        determiners = {c.lower_ for c in token.lefts if c.dep_ in {"det", "poss"}}
        if determiners & _DEFINITE:
            gender = "f" if word in _FEMALE_ROLES else "m" if word in _MALE_ROLES else None
            return referents.resolve(start, sentences.index(start), gender, word), written
        return None, written
    if token.tag_ in {"NNP", "NNPS"}:
        for person in people:
            if person.casefold().split()[-1] == word:
                return person, written
    return None, written


def extract_quotes(text: str, parsed: Doc, people: Sequence[str]) -> list[dict[str, Any]]:
    """Direct quotations in ``text`` (the text ``parsed`` was made from) with their speakers.

    Each: ``text`` (the quoted words, paragraphs joined), ``speaker`` (one of ``people`` or
    None), ``speaker_mention`` (the subject as written: "he", "the official", "Smith"; None
    when there is no attribution), ``verb`` ("said"), ``attribution`` ("after", "before",
    "colon", "continuation" or None), ``start``/``end`` (offsets of the marks in ``text``),
    ``paragraphs`` (how many paragraphs the quotation runs over).
    """
    found = find_quotations(text)
    if not found:
        return []
    quotations = [_Quotation(open=o, close=c, pieces=p) for o, c, p in found]
    sentences = _Sentences(parsed, text)
    paragraphs = _paragraph_starts(text)
    windows = [
        _window(
            text,
            quote,
            quotations[i - 1].close if i else -1,
            quotations[i + 1].open if i + 1 < len(quotations) else len(text),
            sentences,
            paragraphs,
        )
        for i, quote in enumerate(quotations)
    ]
    quoted = [(q.open, q.close) for q in quotations]
    mentions = person_mentions(parsed, people, text=text)
    referents = _referents(text, mentions, quoted, sentences)
    # Every word of a mention points to its person: the parse's tokens start at words.
    mentions_at: dict[int, str] = {}
    for m in mentions:
        for word in re.finditer(r"\S+", text[m.start : m.end]):
            mentions_at[m.start + word.start()] = m.name

    # Only clauses that could attribute anything are parsed: most scare quotes and titles
    # have no speech verb, "according to" or colon near them.
    to_parse = [i for i, w in enumerate(windows) if _could_attribute(w)]
    for i, doc in zip(to_parse, parse_fragments([windows[i].text for i in to_parse]), strict=True):
        _attribute(quotations[i], windows[i], doc, text, referents, sentences, mentions_at, people)
    _continue_speakers(quotations, text, mentions_at)
    return [
        record
        for q in quotations
        if _is_speech(q, text)
        for record in _as_dicts(q, text, paragraphs)
    ]


def _could_attribute(window: _Window) -> bool:
    left = window.text[: window.stand_in[0]]
    if left.rstrip().endswith(":"):
        return True
    words = _WORD.findall(window.text.casefold())
    return "according" in words or not _SPEECH_VERBS.isdisjoint(words)


def _attribute(
    quote: _Quotation,
    window: _Window,
    doc: Doc,
    text: str,
    referents: _Referents,
    sentences: _Sentences,
    mentions_at: dict[int, str],
    people: Sequence[str],
) -> None:
    found = _attribution(doc, window, _ending(text, quote))
    if found is not None:
        verb, subject, side = found
        quote.verb, quote.attribution = verb.text, side
        if subject is not None:
            quote.speaker, quote.mention = _speaker(
                subject, window, text, referents, sentences, mentions_at, people
            )
        return
    subject = _colon_subject(doc, window)
    if subject is not None:
        quote.attribution = "colon"
        quote.speaker, quote.mention = _speaker(
            subject, window, text, referents, sentences, mentions_at, people
        )


def _continue_speakers(
    quotations: list[_Quotation], text: str, mentions_at: dict[int, str]
) -> None:
    """A quotation with no attribution of its own, right after an attributed one with no other
    person named in between, goes on with the same speaker."""
    offsets = sorted(mentions_at)
    for previous, quote in pairwise(quotations):
        if quote.attribution is not None or previous.speaker is None:
            continue
        between = offsets[
            bisect.bisect_right(offsets, previous.close) : bisect.bisect_left(offsets, quote.open)
        ]
        others = {mentions_at[o] for o in between} - {previous.speaker}
        gap = text[previous.close + 1 : quote.open]
        if not others and len(gap) <= 2 * _MAX_CONTEXT_CHARS:
            quote.speaker, quote.attribution = previous.speaker, "continuation"
            quote.mention, quote.verb = previous.mention, previous.verb


def _is_speech(quote: _Quotation, text: str) -> bool:
    """Attributed quotations count; unattributed ones only when long enough, and not a title or
    a phrase set inside a sentence ("called it "a disaster"")."""
    if quote.attribution is not None:
        return bool(quote.text(text))
    words = quote.text(text).split()
    if len(words) < MIN_UNATTRIBUTED_WORDS:
        return False
    capitalised = sum(w[:1].isupper() for w in words)
    if capitalised >= 0.6 * len(words):
        return False
    before = _content_end(text, quote.open)
    embedded = before > 0 and text[before - 1].isalnum() and words[0][:1].islower()
    return not embedded


def _clean(passage: str) -> str:
    return " ".join(passage.split()).strip().strip("\"“”'‘’").strip().rstrip(",").rstrip()


def _as_dicts(quote: _Quotation, text: str, paragraphs: list[int]) -> list[dict[str, Any]]:
    """One record per quoted paragraph: a quotation that runs over several paragraphs is, in
    print, several quoted passages (each opening with its own mark), and readers search and cite
    them one by one; ``part`` and ``parts`` keep them together."""
    by_paragraph: dict[int, list[tuple[int, int]]] = {}
    for start, end in quote.pieces:
        first, last = bisect.bisect_right(paragraphs, start), bisect.bisect_left(paragraphs, end)
        cuts = paragraphs[first:last]
        for piece_start, piece_end in zip([start, *cuts], [*cuts, end], strict=True):
            if text[piece_start:piece_end].strip():
                paragraph = bisect.bisect_right(paragraphs, piece_start) - 1
                by_paragraph.setdefault(paragraph, []).append((piece_start, piece_end))
    groups = list(by_paragraph.values()) or [list(quote.pieces)]
    records = []
    for number, ranges in enumerate(groups, start=1):
        records.append(
            {
                "text": quote.text(text)
                if len(groups) == 1
                else _clean(" ".join(text[s:e] for s, e in ranges)),
                "speaker": quote.speaker,
                "speaker_mention": quote.mention,
                "verb": quote.verb,
                "attribution": quote.attribution,
                "start": quote.open if number == 1 else ranges[0][0],
                "end": quote.close + 1 if number == len(groups) else ranges[-1][1],
                "paragraphs": len(groups),
                "part": number,
                "parts": len(groups),
            }
        )
    return records
