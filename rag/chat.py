"""The question-answering service: conversation context, retrieval, answer, timings.

One instance per process (it caches what it derives from the indexed guides); the CLI,
the API and the UI all call `ask`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rag import sparse
from rag.answer import Answer, Answerer, DocMeta, ExtractiveAnswerer, Question, specific_terms
from rag.embed import Embedder
from rag.intent import classify
from rag.query import clean_query
from rag.retrieve import QdrantRetriever
from rag.store import Store

_FOLLOWUP_START = re.compile(
    r"^\s*(and|but|so|also|then|or|what\s+about|how\s+about|what\s+if|and\s+if|same|ok(ay)?"
    r"|in\s+that\s+case|instead)\b", re.IGNORECASE,
)
_REFERENCE = re.compile(r"\b(it|that|this|they|them|those|these|there|one|ones)\b", re.IGNORECASE)


def is_followup(question: str) -> bool:
    """Whether a question leans on an earlier turn ("And in New York?", "Which one...")."""
    content = [t for t in sparse.terms(question)]
    if _FOLLOWUP_START.search(question):
        return True
    if len(content) <= 2:
        return True
    return bool(_REFERENCE.search(question)) and len(content) <= 4


class CareerBot:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        *,
        top_k: int = 5,
        answer_k: int = 8,
        prefetch_k: int = 40,
        answerer: Answerer | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.top_k = top_k
        self.answer_k = answer_k
        self.retriever = QdrantRetriever(store, embedder, prefetch_k)
        self._answerer = answerer
        self._docs: dict[str, DocMeta] | None = None

    def refresh(self) -> None:
        """Forget what was derived from the index (call after an ingest)."""
        self._docs = None
        self.retriever.refresh()
        if isinstance(self._answerer, ExtractiveAnswerer):
            self._answerer = None

    def docs(self) -> dict[str, DocMeta]:
        if self._docs is None:
            self._docs = {
                d["doc_id"]: DocMeta(
                    title=d.get("title") or d["doc_id"],
                    url=d.get("url"),
                    source=d.get("publisher") or d.get("title") or d["doc_id"],
                )
                for d in self.store.list_docs()
            }
        return self._docs

    def extractive(self) -> ExtractiveAnswerer:
        return ExtractiveAnswerer(self.store, self.docs(), self.retriever.vocabulary())

    @property
    def answerer(self) -> Answerer:
        if self._answerer is None:
            self._answerer = self.extractive()
        return self._answerer

    def prepare(self, question: str, history: Sequence[Mapping[str, Any]] = ()) -> Question:
        """Clean the question and resolve it against earlier user turns."""
        context = ""
        context_intent = "other"
        for turn in history:
            if turn.get("role") != "user":
                continue
            prior = self._resolve(str(turn.get("content", "")), context, context_intent)
            context, context_intent = prior.search_text, prior.intent
        return self._resolve(question, context, context_intent)

    def _resolve(self, question: str, context: str, context_intent: str) -> Question:
        text = self.retriever.prepare(question)
        intent = classify(text)
        search_text = text
        if context and is_followup(clean_query(question)):
            search_text = f"{context} {text}"
            if intent == "other":
                intent = context_intent  # type: ignore[assignment]
        # Specifics also as typed: "in seatle" must not turn into "in settle" and pass.
        both = specific_terms(text) + specific_terms(clean_query(question))
        specifics = tuple({t.lower(): t for t in reversed(both)}.values())[::-1]
        return Question(text, search_text, intent, specifics)

    def ask(
        self,
        question: str,
        history: Sequence[Mapping[str, Any]] = (),
        *,
        top_k: int | None = None,
        sources: Sequence[str] | None = None,
    ) -> Answer:
        t0 = time.perf_counter()
        q = self.prepare(question, history)
        hits, qvec = self.retriever.search_prepared(
            q.search_text, top_k=max(top_k or self.top_k, self.answer_k), sources=sources
        )
        t1 = time.perf_counter()
        answer = self.answerer.answer(q, hits, qvec)
        t2 = time.perf_counter()
        answer.timings_ms = {
            "retrieve": round((t1 - t0) * 1000, 2),
            "answer": round((t2 - t1) * 1000, 2),
            "total": round((t2 - t0) * 1000, 2),
        }
        return answer
