"""The store on qdrant-client: a Qdrant server, or qdrant-client's in-memory local mode.

A server when `CAREERBOT_QDRANT_URL` is set (what users take past one machine: several app
processes share one index, and the app itself holds no state). In memory (`QdrantClient(
":memory:")`) for unit tests and as the reference the embedded engine is checked against
(tests/test_congruence.py): qdrant-client's local mode is a Python re-implementation, so the
two agreeing says both follow Qdrant's semantics. Its folder mode is no longer a default:
`rag.store_edge` migrates an index it made.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, cast

from qdrant_client import QdrantClient, models

from rag.schema import (
    DENSE,
    DOC_ID,
    DOC_TEXT,
    PIECES,
    SPAN_FIELDS,
    SPARSE,
    DocRecord,
    IndexMeta,
    read_span,
)
from rag.settings import Settings
from rag.store import (
    META_ID,
    Hit,
    Sparse,
    Store,
    doc_point_id,
    hit,
    list_of_docs,
)


def open_client(settings: Settings) -> QdrantClient:
    """A client of the configured Qdrant server."""
    return QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key or None,
                        timeout=int(settings.qdrant_timeout))


def is_local(client: QdrantClient) -> bool:
    """Whether `client` is qdrant-client's local mode (in memory or in a folder)."""
    options = client.init_options
    return options.get("location") == ":memory:" or options.get("path") is not None


class QdrantStore(Store):
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
        # Local mode takes no sharding options, has no payload indexes and fuses in Python.
        # Whoever opens the client knows which it is (`connect` says server); otherwise
        # the client's public record of its own arguments says so, read as QdrantClient
        # itself reads them.
        self.local = is_local(client) if local is None else local
        self._pieces: bool | None = None

    @classmethod
    def connect(cls, settings: Settings) -> QdrantStore:
        """The configured server's index (connects lazily: nothing is sent yet)."""
        return cls(
            open_client(settings), settings.collection,
            shard_number=settings.qdrant_shard_number or None,
            replication_factor=settings.qdrant_replication_factor or None,
            local=False,
        )

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ generations
    @property
    def logical(self) -> tuple[str, str, str]:
        b = self.base
        return b, f"{b}_units", f"{b}_docs"

    def generation(self, gen: str | None = None) -> QdrantStore:
        """A store over the physical collections of a (new) generation, not the aliases."""
        gen = gen or time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:6]
        names = tuple(f"{n}__{gen}" for n in self.logical)
        return QdrantStore(self.client, self.base, shard_number=self.shard_number,
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
        self._pieces = None

    def has_pieces(self) -> bool:
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
        this store works through them)."""
        if self.check_size(dim):
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
        out: list[tuple[str, dict[str, Any] | None]] = []
        offset = None
        include = True if with_text else models.PayloadSelectorExclude(exclude=[DOC_TEXT])
        while True:
            points, offset = self.client.scroll(
                self.docs, limit=256, offset=offset, with_payload=include, with_vectors=False
            )
            out.extend((str(p.id), p.payload) for p in points)
            if offset is None:
                return list_of_docs(out)

    def get_meta(self) -> IndexMeta:
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

    def points(self, collection: str, batch: int = 256) -> Iterator[models.PointStruct]:
        """Every point of a collection with its vectors and payload (for a migration)."""
        if not self.client.collection_exists(collection):
            return
        offset = None
        while True:
            got, offset = self.client.scroll(collection, limit=batch, offset=offset,
                                             with_payload=True, with_vectors=True)
            for p in got:
                yield models.PointStruct(id=p.id, vector=p.vector or {}, payload=p.payload)
            if offset is None:
                return

    def write(self, collection: str, points: list[models.PointStruct]) -> None:
        self.client.upsert(collection, points)

    def delete_points(self, collection: str, ids: Sequence[str]) -> None:
        if ids:
            self.client.delete(collection, points_selector=list(ids))

    def nearest_unit(self, dense: list[float]) -> float:
        if not self.client.collection_exists(self.units):
            return 0.0
        res = self.client.query_points(self.units, query=dense, using=DENSE, limit=1)
        return float(res.points[0].score) if res.points else 0.0

    def unit_vectors(self, ids: Sequence[str]) -> dict[str, list[float]]:
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
    def _search_one(self, using: str, vector: Any, *, top_k: int,
                    sources: Sequence[str] | None) -> list[Hit]:
        if not self.client.collection_exists(self.chunks):
            return []
        query = vector if using == "dense" else _sparse(vector)
        res = self.client.query_points(
            self.chunks, query=query, using=DENSE if using == "dense" else SPARSE,
            limit=top_k, query_filter=self._doc_filter(sources) if sources else None,
            with_payload=True)
        return [hit(p.id, p.payload, p.score) for p in res.points]

    def _candidates(self, dense: list[float], sparse: Sparse | None, *, depth: int,
                    sources: Sequence[str] | None) -> dict[str, list[tuple[str, float]]]:
        if not self.client.collection_exists(self.chunks):
            return {}
        named: list[tuple[str, Any, str]] = [("dense", dense, DENSE)]
        if sparse and sparse[0]:
            named.append(("sparse", _sparse(sparse), SPARSE))
        if self.has_pieces():
            named.append(("pieces", [dense], PIECES))
        flt = self._doc_filter(sources) if sources else None
        responses = self.client.query_batch_points(self.chunks, requests=[
            models.QueryRequest(query=q, using=using, limit=depth, filter=flt,
                                with_payload=False) for _, q, using in named])
        return {name: [(str(p.id), float(p.score)) for p in resp.points]
                for (name, _, _), resp in zip(named, responses, strict=True)}

    def chunks_by_id(self, ids: Sequence[str]) -> dict[str, Hit]:
        if not ids or not self.client.collection_exists(self.chunks):
            return {}
        got = self.client.retrieve(self.chunks, list(ids), with_payload=True,
                                   with_vectors=False)
        return {str(p.id): hit(p.id, p.payload, 0.0) for p in got}



def _sparse(sparse: Sparse | None) -> models.SparseVector:
    indices, values = sparse or ([], [])
    return models.SparseVector(indices=indices, values=values)
