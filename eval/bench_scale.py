"""`make bench` (scale part): embedded mode with a synthetic corpus of ~20,000 chunks.

The corpus is made of the guides' own sentences, recombined into many Markdown guides, so
chunk sizes and vocabulary match the real thing. Reports ingest throughput against the
raw embedding throughput measured in the same run, query latency at the small and the
large index, and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.stats import step, summary

if TYPE_CHECKING:
    from rag.embed import Embedder
    from rag.services import Services

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def sentences_of_guides(corpus: Path) -> list[str]:
    from ingest.parse import parse_bytes
    from rag.text import sentence_spans

    out = []
    for path in sorted(corpus.glob("0*")):
        doc = parse_bytes(path.read_bytes(), path.name)
        for s in doc.sections:
            for a, b in sentence_spans(doc.text, s.start, s.end):
                text = " ".join(doc.text[a:b].split())
                if len(text.split()) >= 6:
                    out.append(text)
    return out


def write_synthetic(dst: Path, sentences: list[str], target_chunks: int, seed: int = 7) -> int:
    """Markdown guides of recombined sentences, until about `target_chunks` chunks."""
    rng = random.Random(seed)
    dst.mkdir(parents=True, exist_ok=True)
    # ~6 sentences per section fit one chunk of the default budget
    sections_per_doc = 40
    n_docs = max(1, round(target_chunks / sections_per_doc))
    for d in range(n_docs):
        parts = [f"# Synthetic guide {d}\n"]
        for s in range(sections_per_doc):
            body = " ".join(rng.sample(sentences, 6))
            parts.append(f"## Part {s}: {rng.choice(sentences)[:40].rstrip()}\n\n{body}\n")
        (dst / f"synthetic_{d:05d}.md").write_text("\n".join(parts))
    return n_docs


class TimedEmbedder:
    """Passes through to the real embedder and adds up the time spent embedding."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.texts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed_documents(self, texts: Any) -> Any:
        t = time.perf_counter()
        try:
            return self.inner.embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - t
            self.texts += len(texts)


def query_latency(services: Services, queries: list[str], rounds: int = 3
                  ) -> dict[str, float]:
    r = services.retriever
    r.search("warm up", top_k=5)
    xs = []
    for _ in range(rounds):
        for q in queries:
            t = time.perf_counter()
            r.search(q, top_k=5)
            xs.append((time.perf_counter() - t) * 1000)
    return summary(xs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chunks", type=int, default=20_000, help="synthetic index size")
    args = ap.parse_args(argv)

    from eval.dataset import load_items
    from ingest.pipeline import update_index
    from ingest.progress import progress_for
    from rag.services import Services
    from rag.settings import Settings

    repo = Path(__file__).resolve().parent.parent
    out: dict[str, Any] = {}
    queries = [it.question for it in load_items() if it.split != "test"][:30]
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        small = Services(Settings(data_dir=tmpd / "small", corpus_dir=repo / "corpus"))
        if not small.load_model():
            raise SystemExit(str(small.model_problem()))

        step("the four guides: ingest and query latency")
        update_index(small)
        out["small"] = {"chunks": small.store.count(), "query": query_latency(small, queries)}
        small.close()

        sents = sentences_of_guides(repo / "corpus")
        corpus = tmpd / "synthetic"
        out["synthetic_docs"] = write_synthetic(corpus, sents, args.chunks)

        # The same model, timed, over a store and corpus of their own.
        timed = TimedEmbedder(small.embedder)
        large = Services(small.settings.model_copy(
            update={"data_dir": tmpd / "large", "corpus_dir": corpus}), embedder=timed)
        step(f"the synthetic corpus of {args.chunks} chunks: ingest (progress below)")
        t = time.perf_counter()
        report = update_index(large, progress_for())
        secs = time.perf_counter() - t
        n = large.store.count()
        out["large"] = {
            "chunks": n,
            "units": report.units_embedded,
            "ingest_s": round(secs, 1),
            "ingest_chunks_per_s": round(n / secs, 1),
            # The limit: the model alone on exactly the texts ingest embedded (chunks and
            # answer units), timed inside the same run.
            "embed_s": round(timed.seconds, 1),
            "raw_embed_texts_per_s": round(timed.texts / timed.seconds, 1),
            "ingest_vs_embedding_limit": round(timed.seconds / secs, 3),
            "query": query_latency(large, queries),
        }
        large.close()
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["query_p50_large_vs_small"] = round(
        out["large"]["query"]["p50_ms"] / out["small"]["query"]["p50_ms"], 2
    )
    print(json.dumps(out, indent=2))
    big, small = out["large"], out["small"]
    print(
        f"\nscale: {big['chunks']} chunks (+{big['units']} answer units) ingested at "
        f"{big['ingest_chunks_per_s']} chunks/s; embedding is "
        f"{big['ingest_vs_embedding_limit']:.0%} of ingest time; query p50 "
        f"{small['query']['p50_ms']} ms at {small['chunks']} chunks vs "
        f"{big['query']['p50_ms']} ms at {big['chunks']}; peak RSS {out['peak_rss_mb']} MB",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
