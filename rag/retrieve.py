"""Retrieval: encode the query once (dense + sparse); the store fuses the candidate lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rag import sparse as sparse_enc
from rag.embed import Embedder, QueryVectors, embed_query_vectors
from rag.query import clean_query
from rag.spelling import Vocabulary
from rag.store import TIE_MARGIN, Hit, Mode, Store, hit_order
from rag.vocab import expand_abbreviations


class Retriever(Protocol):
    def search(
        self, query: str, *, top_k: int = 5, mode: Mode = "hybrid",
        sources: Sequence[str] | None = None,
    ) -> list[Hit]: ...


class QdrantRetriever:
    def __init__(
        self, store: Store, embedder: Embedder, prefetch_k: int = 40, spelling: bool = True
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.prefetch_k = prefetch_k
        self.spelling = spelling
        self._vocabulary: Vocabulary | None = None

    def refresh(self) -> None:
        """Rebuild what is derived from the indexed guides (call after an ingest)."""
        self._vocabulary = None

    def vocabulary(self) -> Vocabulary:
        if self._vocabulary is None:
            known = getattr(self.embedder, "known_words", None)
            self._vocabulary = Vocabulary(
                (d.get("text", "") for d in self.store.list_docs(with_text=True)),
                known() if callable(known) else (),
            )
        return self._vocabulary

    def prepare(self, query: str) -> str:
        """The query as it is searched: injected instructions dropped, misspellings repaired."""
        query = clean_query(query)
        return self.vocabulary().correct(query) if self.spelling else query

    def search(
        self, query: str, *, top_k: int = 5, mode: Mode = "hybrid",
        sources: Sequence[str] | None = None,
    ) -> list[Hit]:
        return self.search_prepared(
            expand_abbreviations(self.prepare(query)), top_k=top_k, mode=mode, sources=sources
        )[0]

    def search_prepared(
        self, text: str, *, top_k: int = 5, mode: Mode = "hybrid",
        sources: Sequence[str] | None = None,
    ) -> tuple[list[Hit], QueryVectors | None]:
        """Search an already prepared text; also returns its vectors for reuse (the
        search's and the model's own, `rag.embed.QueryVectors`; None in sparse mode)."""
        vectors = embed_query_vectors(self.embedder, text) if mode != "sparse" else None
        dense = vectors.search if vectors is not None else None
        sparse = sparse_enc.query_vector(text) if mode != "dense" else None
        # More than top_k are fetched and cut here in a fixed order: a tie at the cut-off
        # would otherwise be settled by the engine, differently from run to run.
        hits = self.store.search(
            dense, sparse, mode=mode, top_k=top_k + TIE_MARGIN,
            prefetch_k=max(self.prefetch_k, top_k), sources=sources,
        )
        return sorted(hits, key=lambda h: hit_order(h.score, h.chunk_id))[:top_k], vectors
