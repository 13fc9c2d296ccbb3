"""Language identification as ISO 639-1 codes (``und`` when undetermined).

lingua runs in its low-accuracy mode: on article-length text it is as accurate as the full mode
(100% on 857 real texts of 20 words or more), and it keeps memory per worker process near
100 MB instead of about 900 MB with every high-accuracy model loaded. Its weak spot is very
short text (89.8% under 20 words), so there its confidences are combined with py3langid's
probabilities (its model ships inside its package): 96.5% on held-out short texts. The
weight was chosen on 727 short speeches disjoint from the evaluation (docs/QUALITY.md).
py3langid holds about 200 MB once loaded, so it loads only when a short text first appears.
"""

from __future__ import annotations

from functools import lru_cache

from lingua import LanguageDetector, LanguageDetectorBuilder
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

UNDETERMINED = "und"
# Enough text to decide; detection time grows with length.
_SAMPLE_CHARS = 2_000
SHORT_TEXT_WORDS = 20
_LANGID_WEIGHT = 8.0
_CANDIDATES = 10


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


@lru_cache(maxsize=1)
def _langid() -> LanguageIdentifier:
    return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)


def _short_text_language(text: str) -> str:
    scores: dict[str, float] = {}
    for confidence in _detector().compute_language_confidence_values(text)[:_CANDIDATES]:
        code = str(confidence.language.iso_code_639_1.name).lower()
        scores[code] = float(confidence.value)
    for code, probability in _langid().rank(text)[:_CANDIDATES]:
        scores[code] = scores.get(code, 0.0) + _LANGID_WEIGHT * float(probability)
    return max(scores, key=scores.__getitem__) if scores else UNDETERMINED


def detect_language(text: str) -> str:
    sample = text[:_SAMPLE_CHARS].strip()
    if len(sample) < 3:
        return UNDETERMINED
    if len(sample.split()) < SHORT_TEXT_WORDS:
        return _short_text_language(sample)
    language = _detector().detect_language_of(sample)
    if language is None:
        return UNDETERMINED
    return str(language.iso_code_639_1.name).lower()


def warm_up() -> None:
    """lingua only: py3langid (about 200 MB of Python tables) loads on the first text under
    ``SHORT_TEXT_WORDS``; a stream of full articles never needs it. The sample is longer than
    that, or it would load py3langid itself (measured: about 70 MB more per worker process,
    bench/experiments.py)."""
    detect_language(
        "Warm-up text so that the language models load before the first article arrives: "
        "it has to be long enough for lingua to decide alone, without the second model."
    )
