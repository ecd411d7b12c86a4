"""`make bench` (scale part): the embedded engine at 5k to 100k chunks, and a whole ingest
of about 20,000 chunks with the real model.

1. The four guides: ingest and query latency.
2. A synthetic corpus of ~20,000 chunks (the guides' own sentences recombined into many
   Markdown guides, so chunk sizes and vocabulary match the real thing) through the real
   ingest: throughput against the raw embedding throughput of the same texts, measured
   inside the same run; query latency in process; then `careerbot serve` on that index:
   `/v1/search` over HTTP against a bare query encode, interleaved.
3. The store alone at 5k, 20k and 100k chunks (`--sizes`): synthetic points made of the
   guides' sentence vectors (a chunk's dense vector is the mean of six sentence vectors,
   its pieces those six, its sparse vector their words), written straight into the store,
   queried with real questions' vectors: hybrid query p50 in process, before and after
   the engine's optimizer, on Qdrant's engine (the default) and, up to `--local-max`, on
   qdrant-client's local mode (the embedded default before it) for comparison.

Peak RSS is reported after step 2 (the ingest's) and after step 3.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.stats import pct, step, summary

if TYPE_CHECKING:
    from qdrant_client import models

    from rag.embed import Embedder
    from rag.services import Services
    from rag.store import Store

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
    """Passes through to the real embedder and adds up the time spent embedding; keeps
    every 50th text (up to `keep`) as a sample of what ingest embedded.

    `fast`: document vectors are a hash of the text instead of the model's (queries still
    use the model; the tokenizer, which decides the chunks, is the model's): the ingest's
    own cost (parsing, chunking, writes) at full size in minutes, for when the real
    ingest would take the better part of an hour or more."""

    def __init__(self, inner: Embedder, fast: bool = False, keep: int = 3000) -> None:
        self.inner = inner
        self.fast = fast
        self.keep = keep
        self.seconds = 0.0
        self.texts = 0
        self.sample: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed_documents(self, texts: Any) -> Any:
        self.sample.extend(t for i, t in enumerate(texts, self.texts) if i % 50 == 0)
        del self.sample[self.keep:]
        t = time.perf_counter()
        try:
            if self.fast:
                return [hash_vector(x, self.inner.dim) for x in texts]
            return self.inner.embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - t
            self.texts += len(texts)


def hash_vector(text: str, dim: int) -> list[float]:
    rng = random.Random(text)
    v = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


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


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def http_search_vs_encode(data_dir: Path, corpus: Path, embedder: Embedder,
                          queries: list[str], rounds: int = 3) -> dict[str, Any]:
    """`careerbot serve` on an existing index: /v1/search p50 over HTTP and the bare query
    encode p50 in this process, interleaved so machine noise hits both alike."""
    import httpx

    from eval.bench_api import served, server_env

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="careerbot-bench-scale-serve-") as tmp, \
            served(Path(tmp), server_env(data_dir, corpus)) as (base, startup), \
            httpx.Client(base_url=base, timeout=60) as client:
        out["startup_s"] = startup
        for q in queries[:5]:
            client.post("/v1/search", json={"query": q})
            embedder.embed_query(q)
        enc: list[float] = []
        http: list[float] = []
        errors = 0
        for _ in range(rounds):
            for q in queries:
                t = time.perf_counter()
                embedder.embed_query(q)
                enc.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                r = client.post("/v1/search", json={"query": q})
                http.append((time.perf_counter() - t) * 1000)
                errors += r.status_code != 200
        out.update(search_http=summary(http), encode=summary(enc), errors=errors,
                   http_search_to_encode_p50=round(pct(http, 50) / pct(enc, 50), 2))
    return out


class SyntheticPoints:
    """Chunk points at any count, made of real sentence vectors (see the module doc)."""

    def __init__(self, sentences: list[str], embedder: Embedder, seed: int = 11) -> None:
        self.sentences = sentences
        self.vectors = embedder.embed_documents(sentences)
        self.seed = seed

    def points(self, n: int, batch: int = 512) -> Iterator[list[models.PointStruct]]:
        from rag import sparse
        from rag.schema import chunk_payload, chunk_point

        rng = random.Random(self.seed)
        buf = []
        for i in range(n):
            picks = rng.sample(range(len(self.sentences)), 6)
            text = " ".join(self.sentences[j] for j in picks)
            vecs = [self.vectors[j] for j in picks]
            mean = [sum(col) / len(vecs) for col in zip(*vecs, strict=True)]
            norm = math.sqrt(sum(x * x for x in mean)) or 1.0
            payload = chunk_payload(f"synthetic_{i // 40:05d}", f"Synthetic guide {i // 40}",
                                    f"Part {i % 40}", 0, len(text), text, [])
            buf.append(chunk_point(str(uuid.UUID(int=i + 1)), payload,
                                   [x / norm for x in mean], sparse.doc_vector(text), vecs))
            if len(buf) >= batch:
                yield buf
                buf = []
        if buf:
            yield buf


@contextmanager
def longest_stall(tick: float = 0.01) -> Iterator[list[float]]:
    """The longest a Python thread waiting `tick` seconds was kept from running, while the
    block runs (a thread that sleeps and wakes measures the GIL as other threads see it)."""
    out = [0.0]
    done = threading.Event()

    def ticker() -> None:
        while not done.is_set():
            t = time.perf_counter()
            time.sleep(tick)
            out[0] = max(out[0], time.perf_counter() - t - tick)

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        done.set()
        thread.join()


def store_latency(store: Store, queries: list[tuple[list[float], Any]], rounds: int = 3
                  ) -> dict[str, float]:
    store.search(*queries[0], top_k=8, prefetch_k=40)
    xs = []
    for _ in range(rounds):
        for dense, terms in queries:
            t = time.perf_counter()
            store.search(dense, terms, top_k=8, prefetch_k=40)
            xs.append((time.perf_counter() - t) * 1000)
    return summary(xs)


def engines_at(sizes: list[int], local_max: int, synthetic: SyntheticPoints,
               queries: list[tuple[list[float], Any]], tmp: Path) -> dict[str, Any]:
    from qdrant_client import QdrantClient

    from rag.store_edge import EdgeStore
    from rag.store_qdrant import QdrantStore

    dim = len(synthetic.vectors[0])
    out: dict[str, Any] = {}
    for n in sizes:
        row: dict[str, Any] = {}
        step(f"the store alone at {n} chunks: Qdrant's engine in-process")
        edge = EdgeStore.open_folder(tmp / f"edge-{n}")
        edge.ensure(dim)
        t = time.perf_counter()
        for batch in synthetic.points(n):
            edge.write(edge.chunks, batch)
        row["edge_write_s"] = round(time.perf_counter() - t, 1)
        row["edge_before_optimize"] = store_latency(edge, queries)
        with longest_stall() as stall:
            t = time.perf_counter()
            edge.finish_writes()
            row["edge_optimize_s"] = round(time.perf_counter() - t, 1)
        # The engine holds the GIL while it optimizes: this is how long other Python
        # threads (a server's requests) could not run.
        row["edge_optimize_stall_s"] = round(stall[0], 1)
        row["edge"] = store_latency(edge, queries)
        edge.close()
        if n <= local_max:
            step(f"the store alone at {n} chunks: qdrant-client local mode")
            local = QdrantStore(QdrantClient(":memory:"), "bench")
            local.ensure(dim)
            t = time.perf_counter()
            for batch in synthetic.points(n):
                local.write(local.chunks, batch)
            row["local_write_s"] = round(time.perf_counter() - t, 1)
            row["local"] = store_latency(local, queries, rounds=1)
            row["local_vs_edge_p50"] = round(row["local"]["p50_ms"] / row["edge"]["p50_ms"], 1)
            local.close()
        out[str(n)] = row
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=20_000,
                    help="the synthetic corpus ingested with the real model (default 20000)")
    ap.add_argument("--sizes", default="5000,20000,100000",
                    help="store-only sizes, comma-separated (default 5000,20000,100000)")
    ap.add_argument("--local-max", type=int, default=20_000,
                    help="largest size also measured on qdrant-client local mode")
    ap.add_argument("--fast-vectors", action="store_true",
                    help="step 2 with hashed document vectors: the ingest's own cost at full "
                         "size, the model's throughput on a sample of the same texts")
    ap.add_argument("--store-only", action="store_true",
                    help="only step 3, the store alone (minutes instead of the better part "
                         "of an hour)")
    args = ap.parse_args(argv)

    from eval.dataset import load_items
    from rag import sparse
    from rag.services import Services
    from rag.settings import Settings
    from rag.vocab import expand_abbreviations

    repo = Path(__file__).resolve().parent.parent
    out: dict[str, Any] = {}
    queries = [it.question for it in load_items() if it.split != "test"][:30]
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        small = Services(Settings(data_dir=tmpd / "small", corpus_dir=repo / "corpus"))
        if not small.load_model():
            raise SystemExit(str(small.model_problem()))
        sents = sentences_of_guides(repo / "corpus")
        if not args.store_only:
            ingest_and_serve(out, small, sents, args.chunks, queries, tmpd, args.fast_vectors)

        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
        step(f"the store alone at {sizes} chunks (sentence vectors of the guides)")
        synthetic = SyntheticPoints(sents, small.embedder)
        qvecs = [(small.embedder.embed_query(q), sparse.query_vector(expand_abbreviations(q)))
                 for q in queries]
        out["store"] = engines_at(sizes, args.local_max, synthetic, qvecs, tmpd)
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out, indent=2))
    if "large" in out:
        big, small_ = out["large"], out["small"]
        print(
            f"\nscale: {big['chunks']} chunks ({big['texts_per_chunk']} texts embedded per "
            f"chunk) ingested at {big['ingest_texts_per_s']} texts/s against "
            f"{big['raw_embed_texts_per_s']} raw ({big['ingest_vs_embedding_limit']:.0%}"
            f"{', estimated: hashed vectors' if 'vectors' in big else ''}; "
            f"target >= 80%); query p50 {small_['query']['p50_ms']} ms at "
            f"{small_['chunks']} chunks vs {big['query']['p50_ms']} ms at {big['chunks']}; "
            f"/v1/search over HTTP {big['http']['search_http']['p50_ms']} ms = "
            f"{big['http']['http_search_to_encode_p50']}x a bare encode (target <= 2x); "
            f"peak RSS {out['peak_rss_mb_ingest']} MB (ingest)", file=sys.stderr)
    for size, row in out["store"].items():
        local = (f"; local mode {row['local']['p50_ms']} ms ({row['local_vs_edge_p50']}x)"
                 if "local" in row else "")
        print(f"store at {size}: hybrid p50 {row['edge']['p50_ms']} ms after optimize "
              f"({row['edge_before_optimize']['p50_ms']} ms before; optimize "
              f"{row['edge_optimize_s']} s, other threads stalled up to "
              f"{row['edge_optimize_stall_s']} s){local}", file=sys.stderr)
    return 0


def ingest_and_serve(out: dict[str, Any], small: Services, sents: list[str], chunks: int,
                     queries: list[str], tmpd: Path, fast: bool = False) -> None:
    """Steps 1 and 2 of the module docstring, into `out`."""
    from ingest.pipeline import update_index
    from ingest.progress import progress_for
    from rag.services import Services

    step("the four guides: ingest and query latency")
    update_index(small)
    out["small"] = {"chunks": small.store.count(), "query": query_latency(small, queries)}
    small.close()
    corpus = tmpd / "synthetic"
    out["synthetic_docs"] = write_synthetic(corpus, sents, chunks)

    # The same model, timed, over a store and corpus of their own.
    timed = TimedEmbedder(small.embedder, fast=fast)
    large = Services(small.settings.model_copy(
        update={"data_dir": tmpd / "large", "corpus_dir": corpus}), embedder=timed)
    step(f"the synthetic corpus of {chunks} chunks: ingest (progress below)")
    t = time.perf_counter()
    report = update_index(large, progress_for())
    secs = time.perf_counter() - t
    n = large.store.count()
    out["large"] = {
        "chunks": n,
        "units": report.units_embedded,
        "texts_per_chunk": round(timed.texts / max(1, n), 2),
        "ingest_s": round(secs, 1),
        "ingest_chunks_per_s": round(n / secs, 1),
        "ingest_texts_per_s": round(timed.texts / secs, 1),
        # The limit: the model alone on exactly the texts ingest embedded (chunks and
        # answer units), timed inside the same run.
        "embed_s": round(timed.seconds, 1),
        "raw_embed_texts_per_s": round(timed.texts / timed.seconds, 1),
        "ingest_vs_embedding_limit": round(timed.seconds / secs, 3),
        "query": query_latency(large, queries),
    }
    large.close()
    if fast:
        # What the model would have taken for the same texts, from a sample of them; the
        # ratio is then an estimate: the model's time over the model's time plus the
        # ingest's own (everything but embedding), both for this corpus.
        step(f"the model on a sample of {len(timed.sample)} of the texts ingest embedded")
        t = time.perf_counter()
        small.embedder.embed_documents(timed.sample)
        raw = len(timed.sample) / (time.perf_counter() - t)
        own = secs - timed.seconds
        model_s = timed.texts / raw
        out["large"]["hash_s"] = out["large"].pop("embed_s")
        out["large"].update(
            vectors="hashed (not the model's); queries use the model",
            ingest_own_s=round(own, 1), raw_embed_texts_per_s=round(raw, 1),
            model_s_estimated=round(model_s, 1),
            ingest_vs_embedding_limit=round(model_s / (model_s + own), 3),
            ingest_texts_per_s=round(timed.texts / (model_s + own), 1))
    out["peak_rss_mb_ingest"] = peak_rss_mb()
    out["query_p50_large_vs_small"] = round(
        out["large"]["query"]["p50_ms"] / out["small"]["query"]["p50_ms"], 2)

    step(f"`careerbot serve` on the {n}-chunk index: /v1/search vs a bare encode")
    out["large"]["http"] = http_search_vs_encode(tmpd / "large", corpus, small.embedder,
                                                 queries)

if __name__ == "__main__":
    raise SystemExit(main())
