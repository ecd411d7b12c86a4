"""The index store: one interface, two engines, chosen by the settings.

- `rag.store_edge.EdgeStore`, the default: Qdrant's own engine in-process (qdrant-edge),
  shards in the data dir. No server to run, and fast at scale (HNSW, an inverted sparse
  index, payload indexes).
- `rag.store_qdrant.QdrantStore`: qdrant-client, for a Qdrant server
  (`CAREERBOT_QDRANT_URL`: several app processes on one index) and, in memory, for unit
  tests and as the reference the embedded engine is checked against.

Everything above the store (ingest, retrieval, answers, eval) sees only `Store`: the
payloads are rag.schema's, the points qdrant-client's `PointStruct` (the one point type both
engines are fed; the Edge store converts it), the hits `Hit`.

One index is three collections: chunks (dense, sparse and piece vectors), answer units
(a dense vector each) and documents (guide records and the index's own record, no vector),
addressed by the names in `chunks`, `units` and `docs`. A full rebuild fills a new
generation of all three (`generation()`) and switches to it in one step (`promote`), so
readers never see a half-built index.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, cast

from rag.blocks import Block
from rag.schema import DocRecord, IndexMeta, read_chunk

if TYPE_CHECKING:
    from qdrant_client import models

    from rag.settings import Settings

Mode = Literal["hybrid", "dense", "sparse"]
MODES: tuple[str, ...] = ("hybrid", "dense", "sparse")
Sparse = tuple[list[int], list[float]]
# The fusion of hybrid search: Qdrant's reciprocal rank fusion with its default constant,
# score = sum over lists of 1 / (rank + RRF_K), rank from 0 (`fuse`).
RRF_K = 2
# Candidates (or hits) fetched beyond what is kept, so that a tie at the cut-off is cut
# in `hit_order` here, not by the engine (a candidate list's depth; the retriever's top k).
TIE_MARGIN = 8


def hit_order(score: float, chunk_id: str) -> tuple[float, str]:
    """Sort key of a hit: best score first, ties in chunk-id order. The engines return
    tied hits (two chunks each first in one fused list score the same) in an order that
    can change from one process to the next; without a fixed order the same question
    could retrieve another chunk at the cut-off, or rank its chunks otherwise, after a
    restart. Scores are rounded to 6 decimals: one score computed by two engines, or
    twice by one, differs in the seventh (float32 arithmetic, summed in varying order)."""
    return -round(score, 6), chunk_id


def fuse(lists: Iterable[Sequence[tuple[str, float]]], *, depth: int, limit: int
         ) -> list[tuple[str, float]]:
    """Hybrid search's fusion: qdrant_client's reciprocal rank fusion (the function Qdrant's
    engines implement) of candidate lists, each first put in `hit_order` and cut to
    `depth`; the best `limit` (chunk id, fused score) pairs.

    Why the fusion is not left to the engine, as it was: a candidate list often holds
    exact ties (one piece in two overlapping chunks scores the same in the piece list),
    and the embedded engine ranked tied candidates in an order that changed from one
    process to the next. Rank is what RRF adds up, so a chunk's fused score (0.867 in one
    process, 1.033 in the next, measured) and with it the answer changed after a restart.
    Fusing here over lists in a fixed order gives every engine the same result."""
    from qdrant_client.hybrid.fusion import reciprocal_rank_fusion
    from qdrant_client.models import ScoredPoint

    ordered = [[ScoredPoint(id=i, version=0, score=x)
                for i, x in sorted(ranked, key=lambda p: hit_order(p[1], p[0]))[:depth]]
               for ranked in lists]
    fused = reciprocal_rank_fusion([r for r in ordered if r], limit=limit,
                                   ranking_constant_k=RRF_K)
    return [(str(p.id), float(p.score)) for p in fused]


class StoreError(RuntimeError):
    """The store cannot be reached or opened; the message says what to do."""


@dataclass(frozen=True)
class Hit:
    doc_id: str
    chunk_id: str
    title: str
    section: str
    text: str
    start: int
    end: int
    score: float
    # the answer blocks the chunk overlaps (see rag.blocks)
    blocks: tuple[Block, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "blocks"}


def hit(point_id: Any, payload: dict[str, Any] | None, score: float) -> Hit:
    chunk, blocks = read_chunk(payload)
    return Hit(doc_id=chunk["doc_id"], chunk_id=str(point_id), title=chunk["title"],
               section=chunk["section"], text=chunk["text"], start=chunk["start"],
               end=chunk["end"], score=float(score), blocks=blocks)


def doc_point_id(doc_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"careerbot-doc:{doc_id}"))


# Facts about the index as a whole (calibrated thresholds): a record beside the guides'.
META_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "careerbot-index-meta"))


def plan(mode: Mode, dense: list[float] | None, sparse: Sparse | None
         ) -> Literal["dense", "sparse", "hybrid", "none"]:
    """Which search a request makes (one rule for both engines): hybrid search with no
    query term left (nothing but stop words) is dense search; sparse search with none
    finds nothing."""
    has_terms = bool(sparse and sparse[0])
    if mode == "sparse":
        return "sparse" if has_terms else "none"
    if dense is None:
        raise ValueError(f"{mode} mode needs a dense query vector")
    return "hybrid" if mode == "hybrid" and has_terms else "dense"


class Store(ABC):
    """The operations the app needs of an index (see the module docstring)."""

    # The names of this store's three collections, for `upsert`, `point_ids`,
    # `delete_points`.
    chunks: str
    units: str
    docs: str

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """The store the settings name: a Qdrant server when a URL is set, else the
        embedded engine in the data dir (which locks it to this process)."""
        if settings.qdrant_url:
            from rag.store_qdrant import QdrantStore

            return QdrantStore.connect(settings)
        from rag.store_edge import EdgeStore

        return EdgeStore.open_dir(settings)

    @abstractmethod
    def close(self) -> None: ...

    # ------------------------------------------------------------------ generations
    @abstractmethod
    def generation(self, gen: str | None = None) -> Store:
        """A store over a new generation's collections, invisible to readers until
        `promote`."""

    @abstractmethod
    def promote(self, new: Store) -> list[str]:
        """Make `new` (from `generation()`) this store's live index in one step and drop
        what it replaced; returns the names dropped."""

    @abstractmethod
    def drop(self) -> None:
        """Delete this generation's collections (a failed rebuild's leftovers)."""

    def refresh(self) -> None:
        """Forget what was read about the collections (a rebuild may have changed them)."""
        return None  # nothing is cached unless an engine says otherwise

    # True while a server answers from this store (rag.services.Services.serving): writes
    # then avoid work that would stall it.
    serving: bool = False

    def finish_writes(self) -> None:
        """Called at the end of an ingest: make what it wrote durable and fast to query
        (the Edge store flushes and optimizes, see its policy; a server does both itself)."""
        return None

    # ------------------------------------------------------------------ schema
    @abstractmethod
    def has_pieces(self) -> bool:
        """Whether the chunks carry piece vectors (indexes made before them do not)."""

    @abstractmethod
    def dense_size(self) -> int | None:
        """The dense vector size of the index, None when there is no index yet."""

    @abstractmethod
    def ensure(self, dim: int) -> None:
        """Create the collections if missing. A changed vector size needs a full rebuild
        (raises StoreError saying so)."""

    def check_size(self, dim: int) -> bool:
        """Whether the index exists (with vectors of size `dim`; another size raises)."""
        size = self.dense_size()
        if size is not None and size != dim:
            raise StoreError(
                f"the index holds {size}-d vectors but the model makes {dim}-d ones; "
                "run `careerbot reindex` to rebuild it for the new model"
            )
        return size is not None

    # ------------------------------------------------------------------ documents
    @abstractmethod
    def list_docs(self, with_text: bool = False) -> list[DocRecord]:
        """Every guide record, by doc_id (without its text unless asked)."""

    @abstractmethod
    def get_meta(self) -> IndexMeta:
        """The index's own record (calibration, generation); empty when none was written."""

    @abstractmethod
    def put_meta(self, record: IndexMeta) -> None: ...

    @abstractmethod
    def get_doc(self, doc_id: str) -> DocRecord | None: ...

    @abstractmethod
    def put_doc(self, record: DocRecord) -> None: ...

    @abstractmethod
    def delete_doc(self, doc_id: str) -> int:
        """Delete a guide's chunks, units and record; returns how many chunks it had."""

    # ------------------------------------------------------------------ points
    @abstractmethod
    def count(self, doc_id: str | None = None) -> int:
        """Chunks in the index (of one guide)."""

    @abstractmethod
    def point_ids(self, collection: str, doc_id: str) -> set[str]: ...

    @abstractmethod
    def chunk_spans(self) -> list[tuple[str, str, int, int]]:
        """(chunk_id, doc_id, start, end) of every chunk."""

    def upsert(self, collection: str, points: Iterable[models.PointStruct],
               batch: int = 256) -> None:
        buf: list[models.PointStruct] = []
        for p in points:
            buf.append(p)
            if len(buf) >= batch:
                self.write(collection, buf)
                buf = []
        if buf:
            self.write(collection, buf)

    @abstractmethod
    def write(self, collection: str, points: list[models.PointStruct]) -> None:
        """Upsert one batch of points."""

    @abstractmethod
    def delete_points(self, collection: str, ids: Sequence[str]) -> None: ...

    @abstractmethod
    def nearest_unit(self, dense: list[float]) -> float:
        """Similarity of the stored piece or heading closest to `dense` (0 when none)."""

    @abstractmethod
    def unit_vectors(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """Stored vectors of answer units by id (ids not stored are absent)."""

    @abstractmethod
    def chunks_by_id(self, ids: Sequence[str]) -> dict[str, Hit]:
        """The chunks with these ids, as hits scored 0 (ids not stored are absent)."""

    # ------------------------------------------------------------------ search
    def search(self, dense: list[float] | None, sparse: Sparse | None, *,
               mode: Mode = "hybrid", top_k: int = 5, prefetch_k: int = 40,
               sources: Sequence[str] | None = None) -> list[Hit]:
        """The top chunks for a query (`plan` says which search a mode makes). Hybrid
        search fuses dense, sparse and (when the chunks carry them) piece candidates,
        `prefetch_k` of each, with `fuse`; `sources` keeps only those guides."""
        how = plan(mode, dense, sparse)
        if how == "none":
            return []
        if how != "hybrid":
            return self._search_one(how, dense if how == "dense" else sparse,
                                    top_k=top_k, sources=sources)
        assert dense is not None  # plan() says hybrid only with a dense vector
        fused = fuse(self._candidates(dense, sparse, depth=prefetch_k + TIE_MARGIN,
                                      sources=sources).values(),
                     depth=prefetch_k, limit=top_k)
        got = self.chunks_by_id([i for i, _ in fused])
        return [replace(got[i], score=x) for i, x in fused if i in got]

    def ranked_lists(self, dense: list[float], sparse: Sparse | None, *, depth: int,
                     sources: Sequence[str] | None = None
                     ) -> dict[str, list[tuple[str, float]]]:
        """What hybrid search is made of, as (chunk id, score) lists in rank order, each
        `depth` long at most: "dense", "sparse" and "pieces" (each retriever alone;
        "pieces" is empty for an index without piece vectors) and "hybrid" (their fusion,
        exactly what `search` returns in hybrid mode with `prefetch_k=depth`). For the
        retrieval inspector (rag.explain): one batched request, without payloads."""
        lists = self._candidates(dense, sparse, depth=depth + TIE_MARGIN, sources=sources)
        out = {name: sorted(lists.get(name, []), key=lambda p: hit_order(p[1], p[0]))[:depth]
               for name in ("dense", "sparse", "pieces")}
        out["hybrid"] = (fuse(out.values(), depth=depth, limit=depth)  # put in order above
                         if plan("hybrid", dense, sparse) == "hybrid" else list(out["dense"]))
        return out

    @abstractmethod
    def _search_one(self, using: str, vector: Any, *, top_k: int,
                    sources: Sequence[str] | None) -> list[Hit]:
        """The top chunks of one retriever alone ("dense" or "sparse"), with payloads."""

    @abstractmethod
    def _candidates(self, dense: list[float], sparse: Sparse | None, *, depth: int,
                    sources: Sequence[str] | None) -> dict[str, list[tuple[str, float]]]:
        """Hybrid search's candidate lists, `depth` each, in one batched request without
        payloads: "dense", "sparse" (only when the query has terms) and "pieces" (only
        when the chunks carry piece vectors); no list when there are no chunks."""


def list_of_docs(payloads: Iterable[tuple[str, dict[str, Any] | None]]) -> list[DocRecord]:
    """Guide records (rag.schema wrote them: `put_doc`) from the documents collection's
    (id, payload) pairs: the index's own record left out, sorted by doc_id."""
    out = [cast(DocRecord, dict(p or {})) for pid, p in payloads if pid != META_ID]
    return sorted(out, key=lambda d: d.get("doc_id", ""))
