"""`make bench`: speed and quality numbers measured in one run, reported as ratios.

Timed tests are flaky on shared machines, so latency targets live here, not in tests.
Every ratio compares two things measured in this same process run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eval.stats import pct, step, summary

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    from eval.dataset import load_items
    from eval.retrieval import evaluate_retrieval
    from ingest.pipeline import update_index
    from ingest.progress import progress_for
    from rag.services import Services
    from rag.settings import Settings

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # The process's settings (an LLM endpoint included) with a data dir of its own.
        services = Services(Settings(data_dir=Path(tmp)))
        settings, emb = services.settings, services.embedder
        step("loading the model")
        t = time.perf_counter()
        if not services.load_model():
            raise SystemExit(str(services.model_problem()))
        out["model_load_s"] = round(time.perf_counter() - t, 2)
        store = services.store

        step("ingesting the guides from scratch")
        t = time.perf_counter()
        first = update_index(services, progress_for())
        out["ingest_scratch_s"] = round(time.perf_counter() - t, 2)
        out["ingest_scratch"] = first.to_dict()
        step("ingesting again, nothing changed")
        t = time.perf_counter()
        again = update_index(services)
        out["ingest_unchanged_s"] = round(time.perf_counter() - t, 4)
        out["ingest_unchanged_embedded"] = again.embedded
        # What ingest embeds per chunk (chunks + answer-block pieces, headings and blocks)
        # and its throughput against raw embedding of the same number of texts.
        texts_embedded = first.embedded + first.units_embedded
        out["embedded_texts_per_chunk"] = round(texts_embedded / max(1, first.embedded), 2)
        step("raw embedding throughput")
        sample = [c.get("text", "") for c in store.list_docs(with_text=True)]
        probe = [t[i : i + 600] for t in sample for i in range(0, len(t), 600)][:texts_embedded]
        t = time.perf_counter()
        emb.embed_documents(probe)
        raw_s = time.perf_counter() - t
        out["raw_embed_texts_per_s"] = round(len(probe) / raw_s, 1)
        out["ingest_texts_per_s"] = round(texts_embedded / out["ingest_scratch_s"], 1)
        out["ingest_to_raw_throughput"] = round(
            out["ingest_texts_per_s"] / out["raw_embed_texts_per_s"], 2)

        items = [it for it in load_items() if it.split != "test"]  # test: run once, by eval
        queries = [it.question for it in items]
        retriever = services.retriever
        retriever.search("warm up", top_k=5)  # builds the speller, warms caches
        for q in queries[:5]:
            emb.embed_query(q)

        step("search and bare-encode latency")
        # Interleave the two measurements so machine noise hits both alike.
        enc: list[float] = []
        srch: dict[str, list[float]] = {"hybrid": [], "dense": [], "sparse": []}
        for _ in range(3):
            for q in queries:
                t = time.perf_counter()
                emb.embed_query(q)
                enc.append((time.perf_counter() - t) * 1000)
                for mode, xs in srch.items():
                    t = time.perf_counter()
                    retriever.search(q, top_k=settings.top_k, mode=mode)  # type: ignore[arg-type]
                    xs.append((time.perf_counter() - t) * 1000)
        step("answer latency")
        # Whole answers (retrieve + compose), warm, in process, as configured.
        bot = services.bot
        bot.ask("warm up")
        ask: list[float] = []
        enc2: list[float] = []
        for _ in range(3):
            for it in items:
                t = time.perf_counter()
                emb.embed_query(it.question)
                enc2.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                bot.ask(it.question, [h.model_dump() for h in it.history])
                ask.append((time.perf_counter() - t) * 1000)
        out["answer"] = summary(ask)
        out["answer_to_encode_p50"] = round(pct(ask, 50) / pct(enc2, 50), 2)
        out["encode"] = summary(enc)
        out["search"] = {m: summary(xs) for m, xs in srch.items()}
        out["search_to_encode_p50"] = round(
            out["search"]["hybrid"]["p50_ms"] / out["encode"]["p50_ms"], 2
        )

        step("retrieval quality on train and dev")
        texts = {d["doc_id"]: d["text"] for d in store.list_docs(with_text=True)}
        quality = {}
        for split in ("train", "dev"):  # never test: it is run once, by `careerbot eval`
            subset = [it for it in items if it.split == split]
            res = evaluate_retrieval(subset, texts, store, retriever)
            quality[split] = {m: r["metrics"] for m, r in res["modes"].items()}
            quality[split]["questions"] = res["questions"]
        out["retrieval"] = quality
        services.close()

    print(json.dumps(out, indent=2))
    r = out
    print(
        f"\ningest from scratch {r['ingest_scratch_s']}s "
        f"({r['ingest_scratch']['embedded']} chunks embedded); unchanged re-run "
        f"{r['ingest_unchanged_s']}s, {r['ingest_unchanged_embedded']} embedded\n"
        f"search hybrid p50 {r['search']['hybrid']['p50_ms']} ms / p95 "
        f"{r['search']['hybrid']['p95_ms']} ms; bare encode p50 {r['encode']['p50_ms']} ms; "
        f"ratio {r['search_to_encode_p50']}x (target <= 1.5x)",
        file=sys.stderr,
    )
    print(f"answer p50 {r['answer']['p50_ms']} ms / p95 {r['answer']['p95_ms']} ms;"
          f" ratio to encode {r['answer_to_encode_p50']}x (target <= 3x)", file=sys.stderr)
    print(f"ingest embeds {r['embedded_texts_per_chunk']} texts per chunk at "
          f"{r['ingest_texts_per_s']} texts/s; raw embedding {r['raw_embed_texts_per_s']} "
          f"texts/s ({r['ingest_to_raw_throughput']}x)", file=sys.stderr)
    for split, q in r["retrieval"].items():
        h = q["hybrid"]
        print(f"{split} ({q['questions']} q): hybrid hit@5 {h['hit@5']} mrr@10 {h['mrr@10']}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
