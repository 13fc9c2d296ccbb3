"""Keyphrases: YAKE ranks the phrases of the headline and lead; spaCy's tags and entities keep
only those a person would write as a tag.

YAKE (statistical, no model) proposes and ranks n-grams of up to three words of the headline
and the first ``LEAD_CHARS`` characters of the story; on its own it proposes verbs ("told
Trend"), cut names ("Center for National") and phrases that run past a noun ("intense
independence referendum" of "... campaign"). Where spaCy parsed the article (English), each
proposal is checked where it stands in the text, tagged by spaCy's tagger, in YAKE's order:

1. Whole names. A proposal lying inside a longer name the model found becomes that name
   ("Center for National" becomes "Center for National Content Production"; only when written
   with the name's capitals: "media" does not become "Media Forum"); one that cuts across a
   name's edge is dropped ("Uzbekistan Dilshod Saidzhanov"); one ending with a person's name
   gives the name ("Chair Devin Nunes", "ironic Zakharova"). A name is trimmed of function
   words at its edges ("the"), holds no quotation mark, colon, bracket or spaced dash and no
   lower-case word but of/for/and/the/on and name particles; a one-word name that the article
   also writes in lower case ("State") is no name; a lone nationality adjective ("Colombian")
   is no tag (a people in the plural, "Crimeans", is); a name of more than ``MAX_WORDS`` words
   is a description and dropped; nor is a name the article cites as its source ("told Trend",
   "a TASS correspondent", "quoted by", "in an interview with").
2. Otherwise, noun phrases. It starts with an adjective or noun and ends with a noun; between
   them only adjectives, nouns, hyphens, "of", and a participle right before a noun ("alleged
   surveillance"): so no verb, no "and", no function word at an edge. It does not cut a compound
   or a chain (no noun, hyphen, possessive or "of" right after it; no "of" or hyphen before it;
   no noun before it when it starts with one), and no lower-case noun runs into a capitalised
   one ("coin Weight"). It holds no number, date or amount.
3. Not a title or description of a name: a phrase found right before a name or in apposition
   after one ("prime minister" Theresa May; Zakharova, "the Russian diplomat"; Berlin, "the
   German capital"); nor a phrase about a person by role ("White House official"; a short list
   of role nouns) unless the headline has it.
4. A lone common noun only when the headline has it too and the article says it twice; never
   without a headline (a title derived from the first sentence is none), nor when the article
   uses it in a date or amount ("four months").
5. A phrase opening with a lower-case adjective, said once and not in the headline, loses the
   adjective ("fake coloring book" is "coloring book"; "big victory" goes); a phrase with "of"
   said once and not in the headline goes ("number of days", "footage of Trump").
6. In a headline Written In Title Case the tagger cannot tell a name from a verb: proposals
   found only there are dropped (a name of the article found there stays).
Then: one of a singular and its plural, and no phrase whose words all stand inside a longer one
kept ("coloring book" beside "adult coloring book"), except a place ("Azerbaijan" beside
"Azerbaijan Media Development Agency"); at most ``MAX_KEYWORDS``.

Languages without a parser keep YAKE's proposals with a stop-list filter only: none starting or
ending with a stop word of the language (spaCy's lists), none with a number. Verbs are not
recognised there.

spaCy's own noun chunks need the dependency parser and the coarse POS tags, which the worker
does not run on whole articles (see ``worker.enrich.nlp``); these checks need only the tagger,
run on the headline and lead alone (bounded, about a twentieth of the cost of the entity pass);
the rest is linear in the article.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

import yake
from spacy.tokens import Doc, Span, Token

# YAKE's cost grows with text length (about 20 ms for 1,500 characters, 40 ms for 4,000 on
# one core); a news story states its subject in the headline and the lead, so that is what
# it reads, and what is tagged.
LEAD_CHARS = 1_500
MAX_KEYWORDS = 10
# How many of YAKE's proposals are checked: about half are refused on news text.
_PROPOSALS = MAX_KEYWORDS * 6
# A name longer than this is a description, not a tag ("Department of Communications of the
# Administration of the President of Uzbekistan"): dropped.
MAX_WORDS = 6
# YAKE ships stop word lists for these (ISO 639-1); other languages use its generic list.
_YAKE_LANGUAGES = frozenset(
    [
        "ar",
        "bg",
        "br",
        "cz",
        "da",
        "de",
        "el",
        "en",
        "es",
        "et",
        "fa",
        "fi",
        "fr",
        "hi",
        "hr",
        "hu",
        "hy",
        "id",
        "it",
        "ja",
        "lt",
        "lv",
        "nl",
        "no",
        "pl",
        "pt",
        "ro",
        "ru",
        "sk",
        "sl",
        "sv",
        "tr",
        "uk",
        "zh",
    ]
)

# Nouns for a person by role: a phrase ending with one describes someone ("White House
# official", "State Police spokesman", "Russian diplomat"), unless the headline is about the role
# ("NATO envoy"). Written by hand: no lexicon here says which nouns denote people (WordNet is not
# installed; spaCy's model has none). Singular forms (plurals match through ``_stem``).
_ROLES = frozenset(
    {
        *[
            "official",
            "spokesman",
            "spokeswoman",
            "spokesperson",
            "minister",
            "ambassador",
            "diplomat",
            "envoy",
        ],
        *[
            "analyst",
            "activist",
            "senator",
            "lawmaker",
            "legislator",
            "congressman",
            "congresswoman",
        ],
        *["representative", "commissioner", "employee", "guest", "superintendent", "chairman"],
        *[
            "chairwoman",
            "chair",
            "secretary",
            "president",
            "director",
            "officer",
            "governor",
            "mayor",
        ],
        *[
            "member",
            "source",
            "witness",
            "reporter",
            "correspondent",
            "journalist",
            "man",
            "woman",
            "men",
            "women",
        ],
        *["person", "republican", "democrat"],
    }
)
# Entity labels that name amounts and times, not topics ("September", "2,400").
_NOT_TOPICS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})
# Penn Treebank tags (spaCy's ``tag_``).
_NOUNS = frozenset({"NN", "NNS", "NNP", "NNPS"})
_MODIFIERS = frozenset({"JJ", "JJR", "JJS", "HYPH", "AFX"}) | _NOUNS
_ADJECTIVES = frozenset({"JJ", "JJR", "JJS"})
# Inside a phrase, "anniversary of reunification" (not "and": "Uzbekistan and Azerbaijan" is
# two tags).
_INNER_FUNCTION_WORDS = frozenset({"of"})


@lru_cache(maxsize=32)
def _extractor(language: str) -> yake.KeywordExtractor:
    return yake.KeywordExtractor(
        lan=language if language in _YAKE_LANGUAGES else "en",
        n=3,
        dedupLim=0.7,
        top=_PROPOSALS,
    )


def _dedupe(phrases: list[str], places: frozenset[str] = frozenset()) -> list[str]:
    """Unique by case and by a plural ("security feature", "security features"), and no phrase
    kept whose words all stand inside a longer kept phrase ("coloring book" goes when "adult
    coloring book" is there); a place the article names (``places``, casefolded) always stays
    ("Azerbaijan" beside "Azerbaijan Media Development Agency")."""
    kept: list[str] = []
    keys: set[tuple[str, ...]] = set()
    for phrase in sorted(dict.fromkeys(phrases), key=lambda p: -len(p.split())):
        words = phrase.casefold().split()
        key = (*words[:-1], _stem(words[-1]))
        if key in keys:
            continue
        if phrase.casefold() not in places and any(
            _contains(other.casefold().split(), words) for other in kept
        ):
            continue
        kept.append(phrase)
        keys.add(key)
    order = {phrase: index for index, phrase in enumerate(phrases)}
    return sorted(kept, key=order.__getitem__)


def _contains(longer: Sequence[str], shorter: Sequence[str]) -> bool:
    size = len(shorter)
    return any(longer[i : i + size] == shorter for i in range(len(longer) - size + 1))


def _unique(phrases: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for phrase in phrases:
        if phrase.casefold() not in seen:
            seen.add(phrase.casefold())
            unique.append(phrase)
    return unique


def _proposals(title: str | None, lead: str, language: str) -> list[str]:
    """YAKE's phrases for the headline and lead, best first."""
    text = f"{title}.\n{lead}" if title else lead
    scored = _extractor(language).extract_keywords(text)
    return [phrase.strip() for phrase, _score in scored if len(phrase.strip()) > 2]


# ---- Languages without a parser -------------------------------------------------------------


def _stop_list_filter(phrases: list[str], language: str) -> list[str]:
    from worker.enrich.summary import stop_words

    stops = stop_words(language)
    return [
        phrase
        for phrase in phrases
        if (words := phrase.casefold().split())
        and words[0] not in stops
        and words[-1] not in stops
        and not any(word.isdigit() for word in words)
    ]


# ---- Languages with a parser ----------------------------------------------------------------
def _tag(doc: Doc) -> Doc:
    """Fine-grained tags for ``doc`` from the loaded pipeline's tagger (disabled for whole
    articles: see ``worker.enrich.nlp``)."""
    from worker.enrich.nlp import get_nlp

    nlp = get_nlp()
    for name in ("tok2vec", "tagger"):
        doc = nlp.get_pipe(name)(doc)
    return doc


# Words an entity span of the model sometimes takes in at its edges ("the European Union of",
# "Spring Festival As", "Trump's").
_EDGE_WORDS = frozenset(
    {"the", "a", "an", "of", "in", "as", "at", "on", "for", "and", "to", "by", "with", "from"}
)
# A name holding one of these is a run of text the model took for a name ('Gallery The "Kunst',
# "Markham - Norwegian Refugee Council").
# The lower-case words a name holds ("Council on Arctic and Antarctica", "Leaders-Female").
_NAME_LINKS = frozenset(
    {"of", "for", "and", "the", "on", "de", "du", "des", "la", "le", "von", "van", "der", "al"}
)
_NOT_IN_NAMES = re.compile(r"[\"“”‘:;()\[\]{}|/\n]|\s[-–—]\s")


def _trim(span: Span) -> Span:
    """The entity without function words or punctuation at its edges."""
    start, end = span.start, span.end
    doc = span.doc
    while start < end and (doc[start].lower_ in _EDGE_WORDS or doc[start].is_punct):
        start += 1
    while end > start and (
        doc[end - 1].lower_ in _EDGE_WORDS | {"'s", "’s", "'"} or doc[end - 1].is_punct
    ):
        end -= 1
    return doc[start:end]


@dataclass(frozen=True)
class _Name:
    words: tuple[str, ...]  # casefolded
    text: str  # as the tag reads
    label: str


def _cut_by_the_model(entity: Span, trimmed: Span) -> bool:
    """Whether the model's name is part of a longer one: a capitalised word that no name holds
    stands right beside it, or beyond "of" or "for" (or, before it, "and": "Ministry of" +
    "Industry and Trade", "Sukhoi Super" + "Jet-100", "Belt and" + "Road Initiative"). A title
    before a person's name is no cut ("President" Donald Trump)."""
    doc = entity.doc

    def capitalised(index: int) -> bool:
        if not 0 <= index < len(doc):
            return False
        token = doc[index]
        return token.is_title and not token.ent_type_ and not token.is_sent_start

    def beside(index: int, step: int, links: set[str]) -> bool:
        if capitalised(index):
            return True
        linked = 0 <= index < len(doc) and doc[index].lower_ in links
        return linked and capitalised(index + step)

    left = trimmed.start == entity.start and beside(entity.start - 1, -1, {"of", "for", "and"})
    if entity.label_ != "PERSON" and left:
        return True
    return trimmed.end == entity.end and beside(entity.end, 1, {"of", "for"})


def _lower_word(token: Token) -> bool:
    """A word of its own in lower case ("in"; not "hye" of "Geun-hye")."""
    return token.is_lower and token.is_alpha and bool(token.doc[token.i - 1].whitespace_)


def _names(parsed: Doc) -> dict[tuple[str, ...], _Name]:
    """The article's named entities that can be topics, by their casefolded words. A person
    named also with a title ("President Park Geun-hye", when "Park Geun-hye" is named too) reads
    as the name alone; a one-word "name" that the article also writes in lower case ("State",
    "Company", "Body") is no name."""
    lower_case = {token.text for token in parsed if token.is_lower}
    names: dict[tuple[str, ...], _Name] = {}
    sources: set[tuple[str, ...]] = set()
    for entity in parsed.ents:
        if entity.label_ in _NOT_TOPICS:
            continue
        trimmed = _trim(entity)
        words = tuple(token.lower_ for token in trimmed)
        if entity.label_ != "PERSON" and _reports(entity):
            sources.add(words)
        if not words or words in names or _NOT_IN_NAMES.search(trimmed.text):
            continue
        if any(_lower_word(token) and token.lower_ not in _NAME_LINKS for token in trimmed[1:]):
            continue  # "Republic in 2017": a run of text, not a name
        if len(words) == 1 and words[0] in lower_case:
            continue
        if _cut_by_the_model(entity, trimmed):
            continue
        if entity.label_ == "PERSON" and len(trimmed) > 2 and trimmed[0].lower_ in lower_case:
            # "Chair Devin Nunes" where the article writes "chair" too: the name is the rest
            name = _Name(words[1:], trimmed[1:].text, entity.label_)
            names[words] = names.setdefault(words[1:], name)
            continue
        names[words] = _Name(words, trimmed.text, entity.label_)
    people = [name for name in names.values() if name.label == "PERSON" and len(name.words) > 1]
    by_last_word: dict[str, list[_Name]] = defaultdict(list)
    for name in people:
        by_last_word[name.words[-1]].append(name)
    for name in people:
        tails = [
            other
            for other in by_last_word[name.words[-1]]
            if len(other.words) < len(name.words) and name.words[-len(other.words) :] == other.words
        ]
        if tails:
            names[name.words] = max(tails, key=lambda other: len(other.words))
    for words in sources:
        names.pop(words, None)
    return names


# Words beside a name that make it the story's source, not its topic ("told Trend", "a TASS
# correspondent", "quoted by RIA Novosti", "in an interview with the BBC"; not "reported":
# "the Defense Ministry reported" is an actor).
_SOURCE_BEFORE = frozenset({"told", "tells", "telling"})
_SOURCE_AFTER = frozenset({"quoted", "cited", "reporter", "correspondent"})


def _reports(entity: Span) -> bool:
    """Whether the article cites ``entity`` as where it got the story."""
    doc = entity.doc
    index = entity.start - 1
    if index >= 0 and doc[index].lower_ == "the":
        index -= 1
    before = doc[index].lower_ if index >= 0 else ""
    ahead = doc[index - 1].lower_ if index >= 1 else ""
    after = doc[entity.end].lower_ if entity.end < len(doc) else ""
    return (
        before in _SOURCE_BEFORE
        or (before == "by" and ahead in {"quoted", "cited"})
        or (before == "with" and ahead == "interview")
        or after in _SOURCE_AFTER
    )


def _title_case(title: str) -> bool:
    """A headline Written Like This: its words capitalised, whatever their part of speech."""
    words = [word for word in re.findall(r"[^\W\d_][\w'’-]*", title) if len(word) > 3]
    return len(words) >= 3 and all(word[0].isupper() for word in words)


def _occurrences(words: Sequence[str], doc: Doc) -> list[Span]:
    lowered = [token.lower_ for token in doc]
    size, wanted = len(words), list(words)
    return [
        doc[i : i + size] for i in range(len(doc) - size + 1) if lowered[i : i + size] == wanted
    ]


def _lead_doc(
    title: str | None, parsed: Doc, start: int, names: dict[tuple[str, ...], _Name]
) -> tuple[Doc, int]:
    """The headline and the first ``LEAD_CHARS`` characters of the body from ``start`` on, as
    one tagged doc carrying the body's entities (and, in the headline, the article's names
    where they appear); and the token where the body's part starts."""
    from worker.enrich.nlp import get_nlp

    first = next((token.i for token in parsed if token.idx >= start), len(parsed))
    last = next(
        (token.i for token in parsed[first:] if token.idx >= start + LEAD_CHARS), len(parsed)
    )
    lead = parsed[first:last].as_doc()
    if not title:
        return _tag(lead), 0
    head = get_nlp().make_doc(title)
    marked: list[Span] = []
    taken: set[int] = set()
    head_words = {token.lower_ for token in head}
    in_head = [item for item in names.items() if item[0][0] in head_words]
    for words, name in sorted(in_head, key=lambda item: -len(item[0])):
        for span in _occurrences(words, head):
            if taken.isdisjoint(range(span.start, span.end)):
                marked.append(Span(head, span.start, span.end, label=name.label))
                taken.update(range(span.start, span.end))
    head.set_ents(marked)
    joined = Doc.from_docs([head, lead], ensure_whitespace=True)
    return _tag(joined), len(head)


def _is_noun_phrase(span: Span, boundary: int) -> bool:
    """Whether ``span`` is a whole noun phrase by its tags (``boundary``: the token where the
    body starts after the headline; nothing runs across it)."""
    tokens = list(span)
    if not tokens or tokens[-1].tag_ not in _NOUNS or tokens[0].tag_ not in _MODIFIERS:
        return False
    for index, token in enumerate(tokens[1:-1], start=1):
        if token.tag_ in _MODIFIERS or token.lower_ in _INNER_FUNCTION_WORDS:
            continue
        # "alleged surveillance", "US-led coalition": a past participle right before a noun (a
        # present one after a noun is a verb with its object: "order banning travel")
        if token.tag_ == "VBN" and tokens[index + 1].tag_ in _NOUNS:
            continue
        # ... and a gerund after an adjective, before a noun ("adult coloring book")
        gerund = token.tag_ == "VBG" and tokens[index - 1].tag_ in _ADJECTIVES
        if gerund and tokens[index + 1].tag_ in _NOUNS:
            continue
        return False
    for left, right in pairwise(tokens):
        if left.tag_ in {"NN", "NNS"} and left.is_lower and right.tag_ in {"NNP", "NNPS"}:
            return False  # "committee Nunes chairs", "coin Weight": no phrase runs so
    doc = span.doc
    after = doc[span.end] if span.end < len(doc) and span.end != boundary else None
    before = doc[span.start - 1] if span.start > 0 and span.start != boundary else None
    if after is not None and (after.tag_ in _NOUNS | {"HYPH", "POS"} or after.lower_ == "of"):
        return False  # "independence referendum" of "independence referendum campaign"
    if before is not None and before.tag_ in _NOUNS and tokens[0].tag_ in _NOUNS:
        return False  # "penalty campaign" of "death penalty campaign"
    return before is None or (before.tag_ != "HYPH" and before.lower_ != "of")


def _describes_a_name(span: Span, boundary: int) -> bool:
    """Whether ``span`` stands right before a name, or in apposition after one: a title or a
    description ("Spanish painter Pablo Picasso", "Maria Zakharova, the Russian diplomat",
    "Berlin, the German capital", "the Lebanese militant group Hezbollah"), not a topic."""
    doc = span.doc
    if any(token.ent_type_ not in {"", "NORP"} for token in span) or span[-1].tag_ not in _NOUNS:
        return False  # a name, not a description ("Julia" after "Elmo,")
    # Beside a person any title counts; beside another name only a lower-case phrase does (a
    # capitalised one is a name the model missed: "Alibaba")
    person_only = not span[-1].is_lower
    after = doc[span.end] if span.end < len(doc) and span.end != boundary else None
    if after is not None and _starts_a_name(after, person_only):
        # not when the name modifies what follows ("electrical equipment" Zhejiang-based)
        return not (after.i + 1 < len(doc) and doc[after.i + 1].tag_ == "HYPH")
    # after a name, a comma and "the" or "a", and closed by punctuation ("Gambia, a West African
    # nation."); without the article "X, Y" is more often a list, and without the closing mark
    # the name ended a clause ("According to the ministry, the Syrian troops have ...")
    index = span.start - 1
    if span.start == boundary or index < 2 or doc[index].tag_ != "DT":
        return False
    if doc[index - 1].text != "," or not (after is None or after.is_punct):
        return False
    return _names_a_topic(doc[index - 2], person_only)


def _names_a_topic(token: Token, person_only: bool) -> bool:
    if person_only:
        return token.ent_type_ == "PERSON"
    return token.ent_type_ not in _NOT_TOPICS | {"", "NORP"}


def _starts_a_name(token: Token, person_only: bool) -> bool:
    return token.ent_iob_ == "B" and token.text[:1].isupper() and _names_a_topic(token, person_only)


def _stem(word: str) -> str:
    """Enough of a plural gone to match "floods" with "flood" (written by hand: no lemmatizer
    runs, see ``worker.enrich.nlp``)."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


@dataclass
class _Checker:
    doc: Doc  # headline and lead, tagged, with the article's entities
    body_start: int  # first token of the body in ``doc``
    title_case: bool
    names: dict[tuple[str, ...], _Name]
    article: str  # the whole text, casefolded
    counts: Counter[str]  # its words, casefolded
    headline_stems: frozenset[str]
    _starts: dict[str, list[int]] = field(init=False)  # where each word stands in ``doc``
    _entity_of: list[Span | None] = field(init=False)  # the entity each token of ``doc`` is in

    def __post_init__(self) -> None:
        self._starts = defaultdict(list)
        for token in self.doc:
            self._starts[token.lower_].append(token.i)
        self._entity_of = [None] * len(self.doc)
        for entity in self.doc.ents:
            for index in range(entity.start, entity.end):
                self._entity_of[index] = entity

    def _occurrences(self, words: Sequence[str]) -> list[Span]:
        size, wanted = len(words), list(words)
        spans = [self.doc[start : start + size] for start in self._starts.get(words[0], [])]
        return [span for span in spans if [token.lower_ for token in span] == wanted]

    def keyphrase(self, phrase: str) -> str | None:
        """The keyphrase that YAKE's ``phrase`` stands for, or None."""
        from worker.enrich.nlp import get_nlp

        tokens = [token.text for token in get_nlp().make_doc(phrase)]
        words = tuple(token.lower() for token in tokens)
        if not words:
            return None
        spans = self._occurrences(words)
        if any(_describes_a_name(span, self.body_start) for span in spans):
            return None  # "prime minister" Theresa May; Berlin, "the German capital"
        for span in spans:
            if self.title_case and span.start < self.body_start:
                continue  # a Title Case Headline's tags are guesses
            found = self._at(span, [token.text for token in span] == tokens)
            if found is not None:
                return found
        return self._by_name(words)

    def _at(self, span: Span, same_case: bool) -> str | None:
        """What the occurrence ``span`` gives: the name it lies in (when YAKE's phrase has the
        name's capitals: "Media Forum", not "media"), the person it ends with ("Chair Devin
        Nunes"), itself when a noun phrase, or nothing."""
        for token in span:
            entity = self._entity_of[token.i]
            if entity is None:
                continue
            if entity.label_ in _NOT_TOPICS:
                return None
            whole = _trim(entity)
            if entity.start <= span.start and span.end <= entity.end:
                same = (whole.start, whole.end) == (span.start, span.end)
                return self._name(whole, span) if same or same_case else None
            if not (span.start <= entity.start and entity.end <= span.end):
                return None  # cuts across a name's edge ("Uzbekistan Dilshod Saidzhanov")
            if entity.label_ == "PERSON" and whole.end == span.end:
                return self._name(whole, span)
        if any(token.tag_ == "CD" for token in span) or not _is_noun_phrase(span, self.body_start):
            return None
        if len(span) == 1 and not self._topic_word(span[0]):
            return None
        of = next((token.i for token in span if token.lower_ == "of"), span.end)
        head = span.doc[of - 1]  # the noun before "of", or the last one
        if _stem(head.lower_) in _ROLES and not self._in_headline(span):
            return None  # "government officials", "State Police spokesman"
        said_again = self._said_again(span)
        if of < span.end and not said_again:
            return None  # "number of days", "footage of Trump": said once, in passing
        if said_again or not (span[0].is_lower and span[0].tag_ in _ADJECTIVES):
            return span.text
        # A lower-case adjective on a phrase said once, in passing, is more often the writer's
        # word than the topic's ("big victory", "formal letter", "fake coloring book"): it goes,
        # and what is left stays if still a phrase ("coloring book").
        start = span.start
        while start < span.end and span[start - span.start].tag_ in _ADJECTIVES:
            start += 1
        rest = span.doc[start : span.end]
        return rest.text if start == span.start or len(rest) > 1 else None

    def _in_headline(self, span: Span) -> bool:
        words = [_stem(word) for word in span.text.casefold().split()]
        return bool(words) and all(word in self.headline_stems for word in words)

    def _said_again(self, span: Span) -> bool:
        """Whether the phrase is in the headline, or the article says it more than once."""
        if span.start < self.body_start:
            return True
        pattern = rf"\b{re.escape(span.text.casefold())}\b"
        return len(re.findall(pattern, self.article)) >= 2

    def _name(self, name: Span, span: Span) -> str | None:
        known = self.names.get(tuple(token.lower_ for token in name))
        if known is None:
            return None  # not a name the article's parse keeps (see ``_names``)
        if known.label == "NORP" and span[-1].tag_ not in {"NNS", "NNPS"}:
            return None  # "Dutch", "Colombian": adjectives, no tag; "Crimeans" (a people) stays
        return known.text

    def _by_name(self, words: tuple[str, ...]) -> str | None:
        """Where no occurrence was readable (a Title Case Headline): the article's name that
        ``words`` are, or lie in (the shortest such), if any."""
        known = self.names.get(words)
        if known is not None:
            return None if known.label == "NORP" else known.text
        if len(words) < 2:
            return None
        holders = [
            name
            for held, name in self.names.items()
            if len(held) > len(words) and _contains(held, words)
        ]
        return min(holders, key=lambda name: len(name.words)).text if holders else None

    def _topic_word(self, token: Token) -> bool:
        """A lone common noun is a topic when the headline names it too and the article comes
        back to it."""
        if token.tag_ in {"NNP", "NNPS"}:
            return False  # a capitalised word no name holds: "President", "Administration"
        if any(t.lower_ == token.lower_ and t.ent_type_ in _NOT_TOPICS for t in token.doc):
            return False  # "months" of "four months": a measure
        # Without a headline a lone common noun is never enough ("people", "group", "level").
        return _stem(token.lower_) in self.headline_stems and self.counts[token.lower_] >= 2


def extract_keywords(
    title: str | None, text: str, language: str, parsed: Doc | None = None, start: int = 0
) -> list[str]:
    """Up to ``MAX_KEYWORDS`` keyphrases of the article ``text`` (its story from ``start`` on:
    after the dateline). ``parsed`` is spaCy's parse of ``text``, when its language has one."""
    lead = text[start : start + LEAD_CHARS]
    proposals = _proposals(title, lead, language)
    if parsed is None:
        return _dedupe(_unique(_stop_list_filter(proposals, language)))[:MAX_KEYWORDS]
    names = _names(parsed)
    doc, body_start = _lead_doc(title, parsed, start, names)
    stems = frozenset(_stem(word) for word in re.findall(r"\w+", (title or "").casefold()))
    title_case = bool(title) and _title_case(title or "")
    counts = Counter(token.lower_ for token in parsed)
    checker = _Checker(doc, body_start, title_case, names, parsed.text.casefold(), counts, stems)
    found = (checker.keyphrase(phrase) for phrase in proposals)
    kept = (phrase for phrase in found if phrase and len(phrase.split()) <= MAX_WORDS)
    people = [name.words for name in names.values() if name.label == "PERSON"]
    places = frozenset(
        name.text.casefold()
        for name in names.values()
        if name.label in {"GPE", "LOC"} and not any(_contains(p, name.words) for p in people)
    )
    return _dedupe(_unique(kept), places)[:MAX_KEYWORDS]
