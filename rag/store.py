"""The Qdrant store: one collection of chunks (named dense + sparse vectors) and one of documents.

Embedded local mode (`QdrantClient(path=...)`) by default; a Qdrant server when a URL is set.
Documents live in Qdrant too (a vector-less collection), so in server mode the app itself
holds no state and several app processes can share one store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from qdrant_client import QdrantClient, models
from qdrant_client.hybrid.fusion import reciprocal_rank_fusion

from rag.blocks import Block
from rag.schema import (
    DENSE,
    DOC_ID,
    DOC_TEXT,
    PIECES,
    SPAN_FIELDS,
    SPARSE,
    DocRecord,
    IndexMeta,
    read_chunk,
    read_span,
)
from rag.settings import Settings

# Payloads and vector names are rag.schema's. Each chunk also holds the vectors of the
# answer-block pieces inside it (PIECES), compared by MaxSim: the chunk's best single
# sentence for the question. Qdrant fuses it with the chunk-level dense and sparse lists; a
# chunk whose one sentence answers the question is found even when the rest of it is about
# something else.
Mode = Literal["hybrid", "dense", "sparse"]
MODES: tuple[str, ...] = ("hybrid", "dense", "sparse")


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


def open_client(settings: Settings) -> QdrantClient:
    if settings.qdrant_url:
        return QdrantClient(
            url=settings.qdrant_url,
            api_key=settings.qdrant_api_key or None,
            timeout=int(settings.qdrant_timeout),
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(settings.qdrant_path))
    except RuntimeError as e:
        if "already accessed by another instance" in str(e):
            raise StoreError(
                f"the embedded store at {settings.qdrant_path} is in use by another careerbot "
                "process; stop it, use another CAREERBOT_DATA_DIR, or use server mode "
                "(CAREERBOT_QDRANT_URL) for several processes"
            ) from e
        raise


def is_local(client: QdrantClient) -> bool:
    """Whether `client` is embedded Qdrant (in memory or in a folder) rather than a server."""
    options = client.init_options
    return options.get("location") == ":memory:" or options.get("path") is not None


def doc_point_id(doc_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"careerbot-doc:{doc_id}"))


# Facts about the index as a whole (calibrated thresholds): a record beside the guides'.
META_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "careerbot-index-meta"))


class Store:
    """The three collections of one index, by their logical names.

    Each logical name (`careerbot`, `careerbot_units`, `careerbot_docs`) is a Qdrant alias
    of a physical collection of one generation (`careerbot__<gen>` ...). Incremental ingest
    writes through the aliases; a full rebuild fills a new generation and then moves all
    three aliases in one call, so readers never see a half-built index.
    """

    def __init__(
        self,
        client: QdrantClient,
        collection: str = "careerbot",
        *,
        shard_number: int | None = None,
        replication_factor: int | None = None,
        names: tuple[str, str, str] | None = None,
        local: bool | None = None,
    ) -> None:
        self.client = client
        self.base = collection
        self.shard_number = shard_number
        self.replication_factor = replication_factor
        # Sentence-sized answer units have their own collection and vectors, so composing
        # an answer needs no embedding work at question time.
        self.chunks, self.units, self.docs = names or (
            collection, f"{collection}_units", f"{collection}_docs"
        )
        # Embedded Qdrant takes no sharding options and has no payload indexes. Whoever opens
        # the client knows which it is (Store.open passes it); otherwise the client's public
        # record of its own arguments says so, read as QdrantClient itself reads them.
        self.local = is_local(client) if local is None else local
        self._pieces: bool | None = None

    @classmethod
    def open(cls, settings: Settings) -> Store:
        return cls(
            open_client(settings), settings.collection,
            shard_number=settings.qdrant_shard_number or None,
            replication_factor=settings.qdrant_replication_factor or None,
            local=settings.local_mode,
        )

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ generations
    @property
    def logical(self) -> tuple[str, str, str]:
        b = self.base
        return b, f"{b}_units", f"{b}_docs"

    def generation(self, gen: str | None = None) -> Store:
        """A store over the physical collections of a (new) generation, not the aliases."""
        gen = gen or time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:6]
        names = tuple(f"{n}__{gen}" for n in self.logical)
        return Store(self.client, self.base, shard_number=self.shard_number,
                     replication_factor=self.replication_factor,
                     names=names, local=self.local)  # type: ignore[arg-type]

    def aliases(self) -> dict[str, str]:
        return {a.alias_name: a.collection_name for a in self.client.get_aliases().aliases}

    def promote(self, new: Store) -> list[str]:
        """Point the logical names at `new`'s collections in one alias update; drop the
        collections they pointed at before. Returns the dropped collection names."""
        current = self.aliases()
        ops: list[models.AliasOperations] = []
        old: list[str] = []
        for alias, target in zip(self.logical, (new.chunks, new.units, new.docs), strict=True):
            if alias in current:
                old.append(current[alias])
                ops.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(
                    alias_name=alias)))
            elif self.client.collection_exists(alias):
                # An index made before aliases: a real collection holds the name. It must go
                # before the alias can take its place (a one-time, brief gap).
                self.client.delete_collection(alias)
            ops.append(models.CreateAliasOperation(create_alias=models.CreateAlias(
                collection_name=target, alias_name=alias)))
        self.client.update_collection_aliases(ops)
        for name in old:
            if name not in (new.chunks, new.units, new.docs):
                self.client.delete_collection(name)
        return old

    def drop(self) -> None:
        """Delete this store's physical collections (a failed rebuild's leftovers)."""
        for name in (self.chunks, self.units, self.docs):
            if name not in self.aliases() and self.client.collection_exists(name):
                self.client.delete_collection(name)

    # ------------------------------------------------------------------ schema
    def refresh(self) -> None:
        """Forget what was read about the collections (a rebuild may have changed them)."""
        self._pieces = None

    def has_pieces(self) -> bool:
        """Whether the chunks carry piece vectors (indexes made before them do not)."""
        if self._pieces is None and self.client.collection_exists(self.chunks):
            self._pieces = PIECES in (self.client.get_collection(self.chunks).config.params
                                      .vectors or {})
        return bool(self._pieces)

    def dense_size(self) -> int | None:
        if not self.client.collection_exists(self.chunks):
            return None
        vectors = self.client.get_collection(self.chunks).config.params.vectors
        if isinstance(vectors, dict) and DENSE in vectors:
            return int(vectors[DENSE].size)
        return None

    def _create(self, name: str, dim: int | None, sparse: bool = False) -> None:
        self.client.create_collection(
            name,
            vectors_config={
                DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE),
                **({PIECES: models.VectorParams(
                    size=dim, distance=models.Distance.COSINE,
                    multivector_config=models.MultiVectorConfig(
                        comparator=models.MultiVectorComparator.MAX_SIM))} if sparse else {}),
            } if dim else {},
            sparse_vectors_config={
                SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
            } if sparse else None,
            shard_number=None if self.local else self.shard_number,
            replication_factor=None if self.local else self.replication_factor,
        )
        if not self.local and dim:  # local mode has no payload indexes (it scans)
            self.client.create_payload_index(name, DOC_ID, models.PayloadSchemaType.KEYWORD)

    def ensure(self, dim: int) -> None:
        """Create the collections if missing (a first generation behind the aliases when
        this store works through them). A changed vector size needs a full rebuild."""
        size = self.dense_size()
        if size is not None and size != dim:
            raise StoreError(
                f"the index holds {size}-d vectors but the model makes {dim}-d ones; "
                "run `careerbot reindex` to rebuild it for the new model"
            )
        if size is not None:
            return
        if (self.chunks, self.units, self.docs) == self.logical:
            first = self.generation()
            first.ensure(dim)
            self.promote(first)
            return
        self._create(self.chunks, dim, sparse=True)
        self._create(self.units, dim)
        self._create(self.docs, None)

    # ------------------------------------------------------------------ documents
    def list_docs(self, with_text: bool = False) -> list[DocRecord]:
        if not self.client.collection_exists(self.docs):
            return []
        out: list[DocRecord] = []
        offset = None
        include = True if with_text else models.PayloadSelectorExclude(exclude=[DOC_TEXT])
        while True:
            points, offset = self.client.scroll(
                self.docs, limit=256, offset=offset, with_payload=include, with_vectors=False
            )
            out.extend(cast(DocRecord, dict(p.payload or {})) for p in points
                       if str(p.id) != META_ID)
            if offset is None:
                break
        return sorted(out, key=lambda d: d.get("doc_id", ""))

    def get_meta(self) -> IndexMeta:
        """The index's own record (calibration); empty when none was written."""
        if not self.client.collection_exists(self.docs):
            return {}
        got = self.client.retrieve(self.docs, [META_ID], with_payload=True)
        return cast(IndexMeta, dict(got[0].payload or {})) if got else {}

    def put_meta(self, record: IndexMeta) -> None:
        self.client.upsert(self.docs, [models.PointStruct(id=META_ID, vector={},
                                                          payload=dict(record))])

    def get_doc(self, doc_id: str) -> DocRecord | None:
        if not self.client.collection_exists(self.docs):
            return None
        got = self.client.retrieve(self.docs, [doc_point_id(doc_id)], with_payload=True)
        return cast(DocRecord, dict(got[0].payload or {})) if got else None

    def put_doc(self, record: DocRecord) -> None:
        self.client.upsert(
            self.docs, [models.PointStruct(id=doc_point_id(record["doc_id"]), vector={},
                                           payload=dict(record))]
        )

    def delete_doc(self, doc_id: str) -> int:
        n = self.count(doc_id)
        for name in (self.chunks, self.units):
            if self.client.collection_exists(name):
                self.client.delete(name, points_selector=self._doc_filter([doc_id]))
        self.client.delete(self.docs, points_selector=[doc_point_id(doc_id)])
        return n

    # ------------------------------------------------------------------ chunks
    @staticmethod
    def _doc_filter(doc_ids: Sequence[str]) -> models.Filter:
        return models.Filter(
            must=[models.FieldCondition(key=DOC_ID, match=models.MatchAny(any=list(doc_ids)))]
        )

    def count(self, doc_id: str | None = None) -> int:
        if not self.client.collection_exists(self.chunks):
            return 0
        flt = self._doc_filter([doc_id]) if doc_id else None
        return int(self.client.count(self.chunks, count_filter=flt, exact=True).count)

    def point_ids(self, collection: str, doc_id: str) -> set[str]:
        if not self.client.collection_exists(collection):
            return set()
        ids: set[str] = set()
        offset = None
        while True:
            points, offset = self.client.scroll(
                collection, scroll_filter=self._doc_filter([doc_id]), limit=1024, offset=offset,
                with_payload=False, with_vectors=False,
            )
            ids.update(str(p.id) for p in points)
            if offset is None:
                return ids

    def chunk_spans(self) -> list[tuple[str, str, int, int]]:
        """(chunk_id, doc_id, start, end) of every chunk."""
        if not self.client.collection_exists(self.chunks):
            return []
        out: list[tuple[str, str, int, int]] = []
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.chunks, limit=1024, offset=offset, with_payload=list(SPAN_FIELDS),
                with_vectors=False,
            )
            out.extend((str(p.id), *read_span(p.payload)) for p in points)
            if offset is None:
                return out

    def upsert(
        self, collection: str, points: Iterable[models.PointStruct], batch: int = 256
    ) -> None:
        buf: list[models.PointStruct] = []
        for p in points:
            buf.append(p)
            if len(buf) >= batch:
                self.client.upsert(collection, buf)
                buf = []
        if buf:
            self.client.upsert(collection, buf)

    def delete_points(self, collection: str, ids: Sequence[str]) -> None:
        if ids:
            self.client.delete(collection, points_selector=list(ids))

    def nearest_unit(self, dense: list[float]) -> float:
        """Similarity of the stored piece or heading closest to `dense` (0 when none)."""
        if not self.client.collection_exists(self.units):
            return 0.0
        res = self.client.query_points(self.units, query=dense, using=DENSE, limit=1)
        return float(res.points[0].score) if res.points else 0.0

    def unit_vectors(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """Stored vectors of answer units by id (ids not stored are absent)."""
        if not ids:
            return {}
        got = self.client.retrieve(self.units, list(ids), with_payload=False, with_vectors=True)
        out = {}
        for p in got:
            vec = p.vector.get(DENSE) if isinstance(p.vector, dict) else p.vector
            if isinstance(vec, list):
                out[str(p.id)] = [float(x) for x in vec]  # type: ignore[arg-type]
        return out

    # ------------------------------------------------------------------ search
    def search(
        self,
        dense: list[float] | None,
        sparse: tuple[list[int], list[float]] | None,
        *,
        mode: Mode = "hybrid",
        top_k: int = 5,
        prefetch_k: int = 40,
        sources: Sequence[str] | None = None,
    ) -> list[Hit]:
        if not self.client.collection_exists(self.chunks):
            return []
        flt = self._doc_filter(sources) if sources else None
        sparse_q = None
        if sparse and sparse[0]:
            sparse_q = models.SparseVector(indices=sparse[0], values=sparse[1])
        if mode == "dense" or (mode == "hybrid" and sparse_q is None):
            if dense is None:
                raise ValueError("dense mode needs a dense query vector")
            res = self.client.query_points(
                self.chunks, query=dense, using=DENSE, limit=top_k, query_filter=flt,
                with_payload=True,
            )
        elif mode == "sparse":
            if sparse_q is None:
                return []  # nothing but stop words: no term can match
            res = self.client.query_points(
                self.chunks, query=sparse_q, using=SPARSE, limit=top_k, query_filter=flt,
                with_payload=True,
            )
        else:
            if dense is None:
                raise ValueError("hybrid mode needs a dense query vector")
            res = self.client.query_points(
                self.chunks, prefetch=self._prefetches(dense, sparse_q, prefetch_k, flt),
                query=models.FusionQuery(fusion=models.Fusion.RRF), limit=top_k,
                with_payload=True,
            )
        return [_hit(p.id, p.payload, p.score) for p in res.points]

    def _prefetches(self, dense: list[float], sparse_q: models.SparseVector | None,
                    limit: int, flt: models.Filter | None) -> list[models.Prefetch]:
        """The candidate lists hybrid search fuses, in this order: dense, sparse and (when
        the chunks carry piece vectors) MaxSim over the pieces."""
        return [
            models.Prefetch(query=dense, using=DENSE, limit=limit, filter=flt),
            models.Prefetch(query=sparse_q, using=SPARSE, limit=limit, filter=flt),
            *([models.Prefetch(query=[dense], using=PIECES, limit=limit, filter=flt)]
              if self.has_pieces() else []),
        ]

    # ------------------------------------------------------------------ explain
    def ranked_lists(
        self,
        dense: list[float],
        sparse: tuple[list[int], list[float]] | None,
        *,
        depth: int,
        sources: Sequence[str] | None = None,
    ) -> dict[str, list[tuple[str, float]]]:
        """What hybrid search is made of, as (chunk id, score) lists in rank order, each
        `depth` long at most: "dense", "sparse" and "pieces" (each retriever alone, exactly
        what `search` returns in that mode; "pieces" is empty for an index without piece
        vectors) and "hybrid" (their fusion, exactly what `search` returns in hybrid mode
        with `prefetch_k=depth`).

        For the retrieval inspector (rag.explain), which must cost little more than a
        search: embedded Qdrant fuses in Python with qdrant_client's own RRF function, so
        here the three lists are fetched once, without payloads, and fused with that same
        function (tests check the order equals `search`'s); a server fuses by itself, so
        there the real hybrid query goes with the three lists in one batched request.
        """
        empty: dict[str, list[tuple[str, float]]] = {
            "hybrid": [], "dense": [], "sparse": [], "pieces": []}
        if not self.client.collection_exists(self.chunks):
            return empty
        flt = self._doc_filter(sources) if sources else None
        sparse_q = None
        if sparse and sparse[0]:
            sparse_q = models.SparseVector(indices=sparse[0], values=sparse[1])
        named: list[tuple[str, Any, str]] = [("dense", dense, DENSE)]
        if sparse_q is not None:
            named.append(("sparse", sparse_q, SPARSE))
        if self.has_pieces():
            named.append(("pieces", [dense], PIECES))
        requests = [models.QueryRequest(query=q, using=using, limit=depth, filter=flt,
                                        with_payload=False) for _, q, using in named]
        fused_remotely = not self.local and sparse_q is not None
        if fused_remotely:
            requests.append(models.QueryRequest(
                prefetch=self._prefetches(dense, sparse_q, depth, flt),
                query=models.FusionQuery(fusion=models.Fusion.RRF), limit=depth,
                with_payload=False))
        responses = self.client.query_batch_points(self.chunks, requests=requests)
        out = dict(empty)
        for (name, _, _), resp in zip(named, responses, strict=False):
            out[name] = [(str(p.id), float(p.score)) for p in resp.points]
        if sparse_q is None:  # nothing but stop words: hybrid search is dense search
            out["hybrid"] = list(out["dense"])
        elif fused_remotely:
            out["hybrid"] = [(str(p.id), float(p.score)) for p in responses[-1].points]
        else:
            # The function mutates the points it returns, so it gets copies (the scores
            # above are read already).
            lists = [[p.model_copy() for p in resp.points] for resp in responses]
            out["hybrid"] = [(str(p.id), float(p.score))
                             for p in reciprocal_rank_fusion(lists, limit=depth)]
        return out

    def chunks_by_id(self, ids: Sequence[str]) -> dict[str, Hit]:
        """The chunks with these ids, as hits scored 0 (ids not stored are absent)."""
        if not ids or not self.client.collection_exists(self.chunks):
            return {}
        got = self.client.retrieve(self.chunks, list(ids), with_payload=True,
                                   with_vectors=False)
        return {str(p.id): _hit(p.id, p.payload, 0.0) for p in got}


def _hit(point_id: Any, payload: dict[str, Any] | None, score: float) -> Hit:
    chunk, blocks = read_chunk(payload)
    return Hit(doc_id=chunk["doc_id"], chunk_id=str(point_id), title=chunk["title"],
               section=chunk["section"], text=chunk["text"], start=chunk["start"],
               end=chunk["end"], score=float(score), blocks=blocks)
