"""The retrieval inspector: what each retriever found, and why the answer quotes what it
quotes. Off unless asked for (`explain: true` on the API, `--explain` on the command line,
the UI's Inspect tab, the ranks stored with a vote).

Retrieval: hybrid search fuses three ranked lists (dense, sparse, MaxSim over the pieces;
see rag.store). `explain_prepared` fetches the three lists and their fusion in one go
(`Store.ranked_lists`, which costs about what a search costs) and reports, for each
result, its rank and score in every list: a rank is None where that retriever did not
return the chunk within the depth it hands to fusion. A rank is exactly the chunk's
place in what the same search returns in that mode alone (tests check it), so
"dense_rank 3" can be reproduced with `--mode dense`.

Answers: the extractive answerer scores every piece of the retrieved blocks with a
logistic model (rag.answer). `explain_answer` runs the answerer as it always runs,
keeping the scores it computed, and reports the best candidates with the features that
pushed each one up, which of them the answer quotes, and the thresholds that decided.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rag import sparse as sparse_enc
from rag.answer import (
    FEATURES,
    Answer,
    AnswerModel,
    ExtractiveAnswerer,
    Question,
    Scored,
    answer_shape,
)
from rag.chat import CareerBot, _timed
from rag.embed import QueryVectors, embed_query_vectors
from rag.retrieve import QdrantRetriever
from rag.store import Hit, Mode, hit_order
from rag.vocab import expand_abbreviations

LISTS = ("dense", "sparse", "pieces")
CANDIDATES = 20  # candidates reported by explain_answer, best first (plus any quoted)
REASONS = 4  # features named per candidate


@dataclass(frozen=True)
class Ranks:
    """One chunk's place in each list (1-based; None: not in that list)."""

    fused_rank: int | None
    fused_score: float | None
    dense_rank: int | None
    dense_score: float | None
    sparse_rank: int | None
    sparse_score: float | None
    pieces_rank: int | None
    pieces_score: float | None
    matched_terms: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["matched_terms"] = list(self.matched_terms)
        return d


@dataclass
class Explained:
    """A search with its explanation: `hits` in the order the mode ranks them, `ranks[i]`
    for `hits[i]`."""

    query: str  # as searched: injected instructions dropped, typos repaired, abbreviations out
    mode: Mode
    depth: int  # how deep each list goes (the candidates each retriever hands to fusion)
    hits: list[Hit]
    ranks: list[Ranks]
    lists: dict[str, list[tuple[str, float]]] = field(repr=False)
    vectors: QueryVectors | None = field(repr=False, default=None)

    def response(self) -> dict[str, Any]:
        """What /v1/search and `careerbot search --explain --json` answer."""
        return {"results": self.results(),
                "explain": {"query": self.query, "mode": self.mode, "depth": self.depth}}

    def results(self) -> list[dict[str, Any]]:
        """The hits as the API and the command line print them, each with `explain`."""
        return [{**h.to_dict(), "explain": r.to_dict()} for h, r in zip(
            self.hits, self.ranks, strict=True)]


def _place(ranked: Sequence[tuple[str, float]]) -> dict[str, tuple[int, float]]:
    return {cid: (i + 1, score) for i, (cid, score) in enumerate(ranked)}


def explain_prepared(
    retriever: QdrantRetriever, text: str, *, top_k: int, mode: Mode = "hybrid",
    sources: Sequence[str] | None = None,
) -> Explained:
    """Search an already prepared text (as `QdrantRetriever.search_prepared` does) and
    explain every hit. Both query vectors are computed whatever the mode, since every
    list is reported."""
    return explain_modes(retriever, text, top_k=top_k, modes=(mode,), sources=sources)[mode]


def explain_modes(
    retriever: QdrantRetriever, text: str, *, top_k: int,
    modes: Sequence[Mode] = ("hybrid", "dense", "sparse"), sources: Sequence[str] | None = None,
) -> dict[str, Explained]:
    """`explain_prepared` for several modes from one search (the UI's Inspect tab shows
    hybrid, dense and sparse side by side)."""
    vectors = embed_query_vectors(retriever.embedder, text)
    depth = max(retriever.prefetch_k, top_k)
    lists = retriever.store.ranked_lists(vectors.search, sparse_enc.query_vector(text),
                                         depth=depth, sources=sources)
    # in the order the retriever cuts its hits in, so that explained hits are the hits
    # (the same hits when the lists reach past top_k, as they do at the default depth)
    lists = {name: sorted(ranked, key=lambda p: hit_order(p[1], p[0]))
             for name, ranked in lists.items()}
    wanted = {cid for mode in modes for cid, _ in lists[mode][:top_k]}
    stored = retriever.store.chunks_by_id(sorted(wanted))
    return {mode: _view(text, mode, depth, lists, stored, top_k, vectors) for mode in modes}


def _view(text: str, mode: Mode, depth: int, lists: dict[str, list[tuple[str, float]]],
          stored: Mapping[str, Hit], top_k: int, vectors: QueryVectors) -> Explained:
    chosen = lists[mode][:top_k]
    hits = [replace(stored[cid], score=score) for cid, score in chosen if cid in stored]
    places = {name: _place(lists[name]) for name in ("hybrid", *LISTS)}

    def ranks(h: Hit) -> Ranks:
        got = {name: places[name].get(h.chunk_id, (None, None)) for name in places}
        return Ranks(
            fused_rank=got["hybrid"][0], fused_score=got["hybrid"][1],
            dense_rank=got["dense"][0], dense_score=got["dense"][1],
            sparse_rank=got["sparse"][0], sparse_score=got["sparse"][1],
            pieces_rank=got["pieces"][0], pieces_score=got["pieces"][1],
            # the sparse vector is made of the title, the section and the text
            matched_terms=tuple(sparse_enc.matched_words(
                text, f"{h.title}\n{h.section}\n{h.text}")),
        )

    return Explained(text, mode, depth, hits, [ranks(h) for h in hits], lists, vectors)


def explain_search(
    retriever: QdrantRetriever, query: str, *, top_k: int, mode: Mode = "hybrid",
    sources: Sequence[str] | None = None,
) -> Explained:
    """`QdrantRetriever.search` with an explanation of every hit: the same hits, in the
    same order."""
    text = expand_abbreviations(retriever.prepare(query))
    return explain_prepared(retriever, text, top_k=top_k, mode=mode, sources=sources)


def compare_modes(retriever: QdrantRetriever, query: str, *, top_k: int,
                  sources: Sequence[str] | None = None) -> dict[str, Explained]:
    """Hybrid, dense and sparse search of `query` side by side, each hit explained."""
    text = expand_abbreviations(retriever.prepare(query))
    return explain_modes(retriever, text, top_k=top_k, sources=sources)


# ---------------------------------------------------------------- answers


class _Observed(ExtractiveAnswerer):
    """The answerer as configured, keeping the scores its `answer` computed, so explaining
    an answer costs no second scoring pass."""

    scored: list[Scored]

    @classmethod
    def like(cls, other: ExtractiveAnswerer) -> _Observed:
        return cls(other.store, other.docs, other.coverage, model=other.model,
                   offtopic=other.offtopic, embed=other.embed)

    def score(self, q: Question, hits: Sequence[Hit], vectors: QueryVectors | None
              ) -> list[Scored]:
        self.scored = super().score(q, hits, vectors)
        return self.scored


def contributions(model: AnswerModel, x: Sequence[float]) -> list[tuple[str, float, float]]:
    """(feature, value, contribution to the log-odds) for each feature, largest push first."""
    out = [(name, float(v), w * (v - m) / (s or 1.0))
           for name, v, w, m, s in zip(FEATURES, x, model.weights, model.mean, model.scale,
                                       strict=True)]
    return sorted(out, key=lambda t: -t[2])


def _cited(s: Scored, citations: Sequence[Mapping[str, Any]]) -> list[int]:
    """The citation numbers that quote this piece (or a part of it, such as an item name)."""
    return [int(c["n"]) for c in citations if c.get("doc_id") == s.block.doc_id
            and s.piece.start <= int(c.get("start", -1)) and int(c.get("end", -1)) <= s.piece.end]


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or math.isnan(x) else round(x, nd)


def explain_answer(
    bot: CareerBot, question: str, history: Sequence[Mapping[str, Any]] = (), *,
    top_k: int | None = None, sources: Sequence[str] | None = None,
) -> tuple[Answer, dict[str, Any]]:
    """`CareerBot.ask` with an explanation: the same answer, and a JSON-ready record of the
    retrieval (each passage's ranks), the answerer's best candidates with their scores and
    the features behind them, which ones the answer quotes, and what decided."""
    t0 = time.perf_counter()
    q = bot.prepare(question, history)
    found = explain_prepared(bot.retriever, q.search_text,
                             top_k=max(top_k or bot.top_k, bot.answer_k), sources=sources)
    t1 = time.perf_counter()
    answerer = bot.answerer
    extractive = answerer if isinstance(answerer, ExtractiveAnswerer) else getattr(
        answerer, "fallback", None)
    scored: list[Scored] = []
    if isinstance(answerer, ExtractiveAnswerer):
        observed = _Observed.like(answerer)
        answer = observed.answer(q, found.hits, found.vectors)
        scored = getattr(observed, "scored", [])
    else:  # an LLM writes the answer; the candidates are those its fallback would quote
        answer = answerer.answer(q, found.hits, found.vectors)
        if isinstance(extractive, ExtractiveAnswerer):
            scored = extractive.score(q, found.hits, found.vectors)
    _timed(answer, t0, t1)
    citations = [c.__dict__ for c in answer.citations]
    report: dict[str, Any] = {
        "query": found.query, "intent": q.intent, "shape": answer_shape(q),
        "specifics": list(q.specifics),
        "answerer": "extractive" if answerer is extractive else "llm",
        "retrieval": [{"rank": i + 1, "chunk_id": h.chunk_id, "doc_id": h.doc_id,
                       "section": h.section, "score": _r(h.score), **r.to_dict()}
                      for i, (h, r) in enumerate(zip(found.hits, found.ranks, strict=True))],
        "candidates": [], "thresholds": {}, "decision": "answered", "summary": "",
    }
    if isinstance(extractive, ExtractiveAnswerer):
        report.update(_candidates(extractive, q, scored, citations, found))
    if answer.abstained:
        report["decision"] = "not_covered" if answer.citations else "off_topic"
    report["summary"] = _summary(report, answer)
    return answer, report


def _candidates(answerer: ExtractiveAnswerer, q: Question, scored: list[Scored],
                citations: Sequence[Mapping[str, Any]], found: Explained) -> dict[str, Any]:
    model = answerer.model
    ranked = sorted(scored, key=lambda s: -s.prob)
    best = ranked[0].prob if ranked else 0.0
    floor, own_floor = answerer.offtopic_levels(q)
    nearest, own_nearest = answerer.nearest(found.vectors) if found.vectors else (None, None)
    chunk_rank = {(b.doc_id, b.start): i + 1 for i, h in enumerate(found.hits)
                  for b in h.blocks}
    rows = []
    for rank, s in enumerate(ranked, 1):
        cited = _cited(s, citations)
        if rank > CANDIDATES and not cited:
            continue
        rows.append({
            "rank": rank, "score": _r(s.prob), "chosen": bool(cited), "cited_as": cited,
            "doc_id": s.block.doc_id, "section": s.block.section, "start": s.piece.start,
            "end": s.piece.end, "text": s.text, "role": s.piece.role,
            "chunk_rank": chunk_rank.get((s.block.doc_id, s.block.start)),
            "why": [{"feature": name, "value": _r(v), "contribution": _r(c, 3)}
                    for name, v, c in contributions(model, s.x)[:REASONS]],
        })
    return {
        "candidates": rows,
        "thresholds": {
            "best_score": _r(best),
            # support lines must score at least this (a share of the best)
            "keep": _r(best * model.keep),
            # the first line: the earliest piece of the best block scoring at least this
            "lead": _r(best * model.lead),
            "offtopic_floor": _r(floor),
            "nearest_piece": _r(nearest),
            "own_offtopic_floor": _r(own_floor),
            "own_nearest_piece": _r(own_nearest),
        },
        "scored": len(scored),
    }


def _summary(report: Mapping[str, Any], answer: Answer) -> str:
    t = report["thresholds"]
    if report["decision"] == "off_topic":
        for near, floor, vector in (("nearest_piece", "offtopic_floor", "the search's vector"),
                                    ("own_nearest_piece", "own_offtopic_floor",
                                     "the model's own vector")):
            # `<=`: the figures are rounded, and a refused question's closest piece may
            # round to its floor
            if t.get(floor) is not None and t.get(near) is not None and t[near] <= t[floor]:
                return (f"off topic: with {vector}, the closest piece of the guides is at "
                        f"{t[near]}, below the calibrated off-topic level {t[floor]}")
        return "off topic: no passage of the guides was retrieved"
    if report["decision"] == "not_covered":
        return ("not covered: the question names something the guides do not speak to; "
                "the quoted pieces are the closest they come")
    chosen = [c for c in report["candidates"] if c["chosen"]]
    if not chosen:
        return f"answered by the {report['answerer']} answerer"
    lead = min(chosen, key=lambda c: min(c["cited_as"]))
    reasons = ", ".join(f"{w['feature']} ({w['contribution']:+})" for w in lead["why"][:3])
    return (f"the first line quotes candidate #{lead['rank']} of {report.get('scored', 0)} "
            f"(score {lead['score']}; best {t.get('best_score')}), pushed up most by "
            f"{reasons}; support lines scored at least {t.get('keep')} "
            f"({len(chosen)} pieces quoted, {len(answer.citations)} citations)")


def retrieval_record(bot: CareerBot, question: str, history: Sequence[Mapping[str, Any]] = (),
                     citations: Sequence[Mapping[str, Any]] = (),
                     sources: Sequence[str] | None = None) -> dict[str, Any]:
    """What retrieval did for a question, kept with a vote (rag.feedback): the text
    searched, the passages the answerer read with their rank in each list, and where each
    citation's passage ranked (None: not among them)."""
    q = bot.prepare(question, history)
    found = explain_prepared(bot.retriever, q.search_text,
                             top_k=max(bot.top_k, bot.answer_k), sources=sources)
    results: list[dict[str, Any]] = [{"rank": i + 1, "chunk_id": h.chunk_id, "doc_id": h.doc_id,
                "section": h.section, "start": h.start, "end": h.end, "score": _r(h.score),
                "dense_rank": r.dense_rank, "sparse_rank": r.sparse_rank,
                "pieces_rank": r.pieces_rank}
               for i, (h, r) in enumerate(zip(found.hits, found.ranks, strict=True))]

    def rank_of(c: Mapping[str, Any]) -> int | None:
        start, end = int(c.get("start", -1)), int(c.get("end", -1))
        return next((r["rank"] for r in results if r["doc_id"] == c.get("doc_id")
                     and r["start"] <= start and end <= r["end"]), None)

    return {"query": found.query, "intent": q.intent, "mode": "hybrid", "depth": found.depth,
            "results": results,
            "cited": [{"n": c.get("n"), "rank": rank_of(c)} for c in citations]}
