"""Retrieval metrics with ir-measures, per mode, with per-question ranks kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ir_measures
from ir_measures import RR, Qrel, R, ScoredDoc, Success, nDCG

from eval.dataset import Item, spans
from rag.retrieve import Retriever
from rag.store import Store

MEASURES = [nDCG @ 10, R @ 5, R @ 10, RR @ 10, Success @ 1, Success @ 5]
NAMES = {"nDCG@10": "ndcg@10", "R@5": "recall@5", "R@10": "recall@10", "RR@10": "mrr@10",
         "Success@1": "hit@1", "Success@5": "hit@5"}


def score_run(qrels: Sequence[Qrel], run: Sequence[ScoredDoc], query_ids: Sequence[str]
              ) -> dict[str, float]:
    """Mean of each measure over `query_ids`; a query with no retrieved (or no relevant)
    document scores 0 rather than dropping out of the mean, as it would in trec_eval."""
    ids = set(query_ids)
    per: dict[str, dict[str, float]] = {}
    qr = [q for q in qrels if q.query_id in ids]
    rn = [r for r in run if r.query_id in ids]
    if qr and rn:
        for m in ir_measures.iter_calc(MEASURES, qr, rn):
            per.setdefault(NAMES[str(m.measure)], {})[m.query_id] = float(m.value)
    n = len(ids)
    return {name: round(sum(per.get(name, {}).values()) / n, 4) if n else 0.0
            for name in NAMES.values()}


def qrels_for(items: Sequence[Item], texts: dict[str, str], store: Store) -> list[Qrel]:
    chunks = store.chunk_spans()
    qrels = []
    for it in items:
        for d, a, b in spans(it, texts):
            for cid, doc, s, e in chunks:
                if doc == d and s < b and a < e:
                    qrels.append(Qrel(it.id, cid, 1))
    # a chunk overlapping two quotes of one item counts once
    return list({(q.query_id, q.doc_id): q for q in qrels}.values())


def search_text(item: Item) -> str:
    """The text searched for an item: follow-ups carry their earlier user turns."""
    prior = [t.content for t in item.history if t.role == "user"]
    return " ".join([*prior, item.question])


def evaluate_retrieval(
    items: Sequence[Item],
    texts: dict[str, str],
    store: Store,
    retriever: Retriever,
    modes: Sequence[str] = ("dense", "sparse", "hybrid"),
    k: int = 10,
    query_of: Callable[[Item], str] = search_text,
) -> dict[str, Any]:
    answerable = [it for it in items if it.answerable and it.evidence]
    qrels = qrels_for(answerable, texts, store)
    relevant: dict[str, set[str]] = {}
    for q in qrels:
        relevant.setdefault(q.query_id, set()).add(q.doc_id)
    out: dict[str, Any] = {"questions": len(answerable), "modes": {}}
    for mode in modes:
        run: list[ScoredDoc] = []
        ranks: dict[str, int | None] = {}
        for it in answerable:
            hits = retriever.search(query_of(it), top_k=k, mode=mode)  # type: ignore[arg-type]
            # ir-measures ranks by score; k - i keeps our order whatever the fusion scores are
            run.extend(ScoredDoc(it.id, h.chunk_id, float(k - i)) for i, h in enumerate(hits))
            ranks[it.id] = next(
                (i + 1 for i, h in enumerate(hits) if h.chunk_id in relevant.get(it.id, ())), None
            )
        out["modes"][mode] = {
            "metrics": score_run(qrels, run, [it.id for it in answerable]),
            "ranks": ranks,
        }
    return out
