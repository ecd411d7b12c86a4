"""The embedded default: Qdrant's own engine in-process (qdrant-edge), shards in the data dir.

qdrant-edge is the Rust engine of the Qdrant server as a library: the same HNSW, sparse
index with the IDF modifier, payload indexes, batched queries and write-ahead log, and
the same results as a server (tests/test_congruence.py checks them
against qdrant-client). It replaced qdrant-client's local mode, a Python brute force meant
for tests (at 20,000 chunks a query took 349 ms there; see `make bench`).

Layout (`Settings.index_dir`, default data/index/<collection>):

    .lock              held while a process has the index open (one process per folder)
    CURRENT            the live generation's name, replaced atomically
    g-<stamp>/         one generation: chunks/, units/, docs/ (an Edge shard each: one
                       shard is one collection) and layout.json (vector size, pieces)

Edge has no aliases, so a generation switch is the CURRENT file: a rebuild fills a new
g-<stamp>/ beside the live one, flushes and optimizes it, then replaces CURRENT
(`os.replace`, then the folder is synced). A process killed at any point leaves CURRENT
naming a whole generation: the write-ahead log replays the live one's last writes on the
next open, and folders CURRENT does not name (an unfinished rebuild, a replaced
generation) are deleted then. A generation that cannot be opened (a corrupted or partial
shard) is set aside as broken-<name>/ with a one-line error and the index starts empty,
so the next ingest (which `serve` runs when the index is empty) rebuilds it from the
corpus: never a crash loop.

Optimisation policy. New points land in an appendable segment searched by brute force (in
Rust: 10 ms for a hybrid query at 20,000 chunks on the bench machine, 4 ms once
optimized). `optimize()` builds the HNSW graph of the dense vectors and the quantized
piece vectors for segments past Qdrant's indexing threshold, and does nothing below it.
It holds the Python interpreter (GIL) while it works (5 s at 20,000 chunks, 43 s at
100,000), so it never runs where a server is
answering from the index (`Store.serving`):
- a generation that is not live yet (a rebuild, a migration) is optimized in a child
  process, its shards closed here meanwhile, before the switch: nothing waits;
- the live generation is optimized in this process at the end of an ingest only when no
  server answers from it (`careerbot ingest` or `reindex` run on their own, and `serve`'s
  own ingest before it starts answering);
- while serving, an ingest (an upload, the folder watcher) only flushes: its points are
  searched by brute force until the next ingest outside a server or the next `reindex`.
The piece vectors (about 9 per chunk, compared by MaxSim) are the largest cost of a query:
they get no HNSW graph (m=0) but int8 scalar quantization, built with the optimized
segments. Measured once, with a throwaway script on 20,000 synthetic chunks of 9 pieces
(the choice, not a product number; `make bench` measures the result): an HNSW graph
(m=16) made optimize take 118 s instead of 5 s for a 6.4 ms query; quantization, 5.8 s for
5.6 ms (against 12.6 ms scanning the float vectors), the top 40 by MaxSim 98.7% the same
as an exact search (rescored with the float vectors, Qdrant's default).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from filelock import FileLock, Timeout

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
from rag.store import (
    META_ID,
    Hit,
    Sparse,
    Store,
    StoreError,
    doc_point_id,
    hit,
    list_of_docs,
)

if TYPE_CHECKING:
    from qdrant_client import models

    from rag.settings import Settings

log = logging.getLogger("careerbot")

CURRENT = "CURRENT"
LAYOUT = "layout.json"
# Role names double as the collection names of this store (`upsert(store.chunks, ...)`).
NAMES = ("chunks", "units", "docs")
# The documents shard stores no vector, but the engine wants one kind declared.
NO_VECTOR = "none"
# What the child process runs (`_optimize_elsewhere`), and how long it may take.
OPTIMIZE = ("import sys, qdrant_edge as q; s = q.EdgeShard.load(sys.argv[1]); s.optimize(); "
            "s.flush(); s.close()")
OPTIMIZE_TIMEOUT_S = 3600
# Qdrant's HNSW defaults, spelled out because the constructor asks for them all.
HNSW_EF_CONSTRUCT, HNSW_FULL_SCAN_KB = 100, 10_000


def _edge() -> Any:
    """The engine, imported on first use (like the model: nothing loads at import time)."""
    import qdrant_edge

    return qdrant_edge


class EdgeStore(Store):
    """One index in a folder (see the module docstring).

    The store `open_dir` returns follows CURRENT: its `promote` switches what it reads.
    `generation()` gives a store over one new generation, for a rebuild.
    """

    def __init__(self, root: Path, gen: str | None = None, *, follows: bool = True,
                 lock: FileLock | None = None) -> None:
        self.root = root
        self.gen = gen
        self.follows = follows
        self.chunks, self.units, self.docs = NAMES
        self._lock = lock
        self._shards: dict[str, Any] = {}
        self._layout: dict[str, Any] = {}
        # Shards replaced by a promote: a query that took one just before the switch may
        # still be using it, so they are closed (and their folder deleted) at the next
        # promote or at close, not at once.
        self._retired: list[tuple[str, dict[str, Any]]] = []

    # ------------------------------------------------------------------ opening
    @classmethod
    def open_dir(cls, settings: Settings) -> EdgeStore:
        """The configured index, an older local-mode index moved into it first."""
        store = cls.open_folder(settings.index_dir)
        try:
            from rag.store_migrate import migrate_local_mode

            migrate_local_mode(settings, store)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def open_folder(cls, root: Path) -> EdgeStore:
        """The index in `root` (created when missing), locked to this store until
        `close`."""
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(root / ".lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise StoreError(
                f"the embedded store at {root} is in use by another careerbot process; "
                "stop it, use another CAREERBOT_DATA_DIR, or use server mode "
                "(CAREERBOT_QDRANT_URL) for several processes"
            ) from None
        store = cls(root, lock=lock)
        try:
            store._open_current()
        except BaseException:
            store.close()
            raise
        return store

    def _open_current(self) -> None:
        pointer = self.root / CURRENT
        self.gen = pointer.read_text().strip() if pointer.exists() else None
        for path in self.root.glob("g-*"):
            if path.name != self.gen:  # an unfinished rebuild, or a replaced generation
                shutil.rmtree(path, ignore_errors=True)
        if self.gen is None:
            return
        try:
            self._layout = json.loads((self.root / self.gen / LAYOUT).read_text())
            for name in NAMES:
                self._shards[name] = _edge().EdgeShard.load(str(self.root / self.gen / name))
        except Exception as e:  # the engine raises a bare Exception for a bad shard
            self._set_aside(e)

    def _set_aside(self, error: BaseException) -> None:
        for shard in self._shards.values():
            with contextlib.suppress(Exception):
                shard.close()
        gen, self._shards, self._layout, self.gen = self.gen, {}, {}, None
        broken = self.root / f"broken-{gen}"
        shutil.rmtree(broken, ignore_errors=True)
        if (self.root / str(gen)).exists():
            (self.root / str(gen)).rename(broken)
        (self.root / CURRENT).unlink()
        _sync_dir(self.root)
        log.error("the index at %s could not be opened (%s: %s); it was set aside as %s "
                  "and the index starts empty: the next ingest rebuilds it from the corpus",
                  self.root / str(gen), type(error).__name__, str(error)[:200], broken)

    def close(self) -> None:
        self._close_retired()
        if self.follows:
            for shard in self._shards.values():
                shard.close()
            self._shards = {}
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # ------------------------------------------------------------------ generations
    def generation(self, gen: str | None = None) -> EdgeStore:
        return EdgeStore(self.root, gen or _new_generation(), follows=False)

    def promote(self, new: Store) -> list[str]:
        if not isinstance(new, EdgeStore) or new.root != self.root or new.gen is None:
            raise TypeError("promote takes a generation of this store")
        new.flush()
        old = self.gen
        _write_current(self.root, new.gen)
        self._close_retired()
        if old is not None:
            self._retired.append((old, self._shards))
        self.gen, self._shards, self._layout = new.gen, new._shards, new._layout
        return [old] if old else []

    def _close_retired(self) -> None:
        for gen, shards in self._retired:
            for shard in shards.values():
                with contextlib.suppress(Exception):
                    shard.close()
            shutil.rmtree(self.root / gen, ignore_errors=True)
        self._retired = []

    def drop(self) -> None:
        if self.follows or self.gen is None:
            return  # only a generation that was never switched in is dropped
        for shard in self._shards.values():
            with contextlib.suppress(Exception):
                shard.close()
        self._shards = {}
        shutil.rmtree(self.root / self.gen, ignore_errors=True)

    def flush(self) -> None:
        for shard in self._shards.values():
            shard.flush()

    def finish_writes(self) -> None:
        """Flush, then optimize as the policy in the module docstring says."""
        self.flush()
        if not self.follows:
            self._optimize_elsewhere()
        elif not self.serving:
            for name in (self.chunks, self.units):
                if name in self._shards:
                    self._shards[name].optimize()

    def _optimize_elsewhere(self) -> None:
        """Optimize this (not yet live) generation's vector shards in a child process, so
        the engine's hold on the GIL stalls nobody here; the shards are closed meanwhile
        (one process per shard folder: the engine locks its write-ahead log)."""
        assert self.gen is not None
        for name in (self.chunks, self.units):
            if name not in self._shards:
                continue
            folder = self.root / self.gen / name
            self._shards.pop(name).close()
            try:
                subprocess.run([sys.executable, "-c", OPTIMIZE, str(folder)], check=True,
                               capture_output=True, timeout=OPTIMIZE_TIMEOUT_S)
            except subprocess.CalledProcessError as e:
                raise StoreError(f"optimizing {folder} failed: "
                                 f"{e.stderr.decode(errors='replace')[-500:]}") from e
            finally:
                self._shards[name] = _edge().EdgeShard.load(str(folder))

    # ------------------------------------------------------------------ schema
    def has_pieces(self) -> bool:
        return bool(self._layout.get("pieces"))

    def dense_size(self) -> int | None:
        dim = self._layout.get("dim")
        return int(dim) if dim else None

    def ensure(self, dim: int) -> None:
        if self.check_size(dim):
            return
        gen = self.gen if not self.follows else _new_generation()
        assert gen is not None
        folder = self.root / gen
        qe = _edge()
        cosine = qe.Distance.Cosine
        configs = {
            self.chunks: qe.EdgeConfig(
                vectors={
                    DENSE: qe.EdgeVectorParams(size=dim, distance=cosine),
                    PIECES: qe.EdgeVectorParams(
                        size=dim, distance=cosine,
                        multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
                        hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=HNSW_EF_CONSTRUCT,
                                                       full_scan_threshold=HNSW_FULL_SCAN_KB),
                        quantization_config=qe.ScalarQuantizationConfig(
                            qe.ScalarType.Int8, memory=qe.Memory.Pinned)),
                },
                sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}),
            self.units: qe.EdgeConfig(vectors={DENSE: qe.EdgeVectorParams(size=dim,
                                                                          distance=cosine)}),
            self.docs: qe.EdgeConfig(sparse_vectors={NO_VECTOR: qe.EdgeSparseVectorParams()}),
        }
        shards = {}
        for name, config in configs.items():
            shards[name] = qe.EdgeShard.create(str(folder / name), config)
            if name != self.docs:
                shards[name].update(qe.UpdateOperation.create_field_index(
                    DOC_ID, qe.PayloadSchemaType.Keyword))
        layout = {"dim": dim, "pieces": True}
        # Written last: a generation folder without it was never finished (set aside).
        _write_atomic(folder / LAYOUT, json.dumps(layout))
        self._shards, self._layout, self.gen = shards, layout, gen
        if self.follows:  # the first generation of this index goes live at once
            _write_current(self.root, gen)

    # ------------------------------------------------------------------ documents
    def list_docs(self, with_text: bool = False) -> list[DocRecord]:
        qe = _edge()
        docs = self._shards.get(self.docs)
        if docs is None:
            return []
        payload = True if with_text else qe.PayloadSelector.Exclude([DOC_TEXT])
        return list_of_docs((pid, rec.payload) for pid, rec in self._scroll(docs, payload))

    def get_meta(self) -> IndexMeta:
        return cast(IndexMeta, self._record(META_ID) or {})

    def put_meta(self, record: IndexMeta) -> None:
        self._put_record(META_ID, dict(record))

    def get_doc(self, doc_id: str) -> DocRecord | None:
        return cast(DocRecord | None, self._record(doc_point_id(doc_id)))

    def put_doc(self, record: DocRecord) -> None:
        self._put_record(doc_point_id(record["doc_id"]), dict(record))

    def _record(self, point_id: str) -> dict[str, Any] | None:
        docs = self._shards.get(self.docs)
        got = docs.retrieve([point_id], with_payload=True, with_vector=False) if docs else []
        return dict(got[0].payload or {}) if got else None

    def _put_record(self, point_id: str, payload: dict[str, Any]) -> None:
        qe = _edge()
        self._shard(self.docs).update(qe.UpdateOperation.upsert_points(
            [qe.Point(point_id, {}, payload)]))

    def delete_doc(self, doc_id: str) -> int:
        qe = _edge()
        n = self.count(doc_id)
        for name in (self.chunks, self.units):
            if name in self._shards:
                self._shards[name].update(qe.UpdateOperation.delete_points_by_filter(
                    _doc_filter([doc_id])))
        self.delete_points(self.docs, [doc_point_id(doc_id)])
        return n

    # ------------------------------------------------------------------ points
    def _shard(self, name: str) -> Any:
        try:
            return self._shards[name]
        except KeyError:
            raise StoreError("the index has no collections yet: run `careerbot ingest`") \
                from None

    def count(self, doc_id: str | None = None) -> int:
        chunks = self._shards.get(self.chunks)
        if chunks is None:
            return 0
        flt = _doc_filter([doc_id]) if doc_id else None
        return int(chunks.count(_edge().CountRequest(exact=True, filter=flt)))

    def _scroll(self, shard: Any, payload: Any, flt: Any = None, limit: int = 1024
                ) -> list[tuple[str, Any]]:
        qe = _edge()
        out: list[tuple[str, Any]] = []
        offset = None
        while True:
            records, offset = shard.scroll(qe.ScrollRequest(
                offset=offset, limit=limit, filter=flt, with_payload=payload,
                with_vector=False))
            out.extend((str(r.id), r) for r in records)
            if offset is None:
                return out

    def point_ids(self, collection: str, doc_id: str) -> set[str]:
        shard = self._shards.get(collection)
        if shard is None:
            return set()
        return {pid for pid, _ in self._scroll(shard, False, _doc_filter([doc_id]))}

    def chunk_spans(self) -> list[tuple[str, str, int, int]]:
        chunks = self._shards.get(self.chunks)
        if chunks is None:
            return []
        fields = _edge().PayloadSelector.Include(list(SPAN_FIELDS))
        return [(pid, *read_span(r.payload)) for pid, r in self._scroll(chunks, fields)]

    def write(self, collection: str, points: list[models.PointStruct]) -> None:
        qe = _edge()
        self._shard(collection).update(qe.UpdateOperation.upsert_points(
            [_point(qe, p) for p in points]))

    def delete_points(self, collection: str, ids: Sequence[str]) -> None:
        if ids and collection in self._shards:
            self._shards[collection].update(
                _edge().UpdateOperation.delete_points(list(ids)))

    def nearest_unit(self, dense: list[float]) -> float:
        units = self._shards.get(self.units)
        if units is None:
            return 0.0
        qe = _edge()
        got = units.query(qe.QueryRequest(limit=1, query=qe.Query.Nearest(dense, using=DENSE)))
        return float(got[0].score) if got else 0.0

    def unit_vectors(self, ids: Sequence[str]) -> dict[str, list[float]]:
        units = self._shards.get(self.units)
        if not ids or units is None:
            return {}
        got = units.retrieve(list(ids), with_payload=False, with_vector=[DENSE])
        out = {}
        for r in got:
            vec = r.vector.get(DENSE) if isinstance(r.vector, dict) else None
            if isinstance(vec, list):
                out[str(r.id)] = [float(x) for x in vec]
        return out

    def chunks_by_id(self, ids: Sequence[str]) -> dict[str, Hit]:
        chunks = self._shards.get(self.chunks)
        if not ids or chunks is None:
            return {}
        got = chunks.retrieve(list(ids), with_payload=True, with_vector=False)
        return {str(r.id): hit(r.id, r.payload, 0.0) for r in got}

    # ------------------------------------------------------------------ search
    def _search_one(self, using: str, vector: Any, *, top_k: int,
                    sources: Sequence[str] | None) -> list[Hit]:
        chunks = self._shards.get(self.chunks)
        if chunks is None:
            return []
        qe = _edge()
        query = (qe.Query.Nearest(vector, using=DENSE) if using == "dense"
                 else qe.Query.Nearest(_sparse(qe, vector), using=SPARSE))
        request = qe.QueryRequest(limit=top_k, query=query, with_payload=True,
                                  filter=_doc_filter(sources) if sources else None)
        return [hit(p.id, p.payload, p.score) for p in chunks.query(request)]

    def _candidates(self, dense: list[float], sparse: Sparse | None, *, depth: int,
                    sources: Sequence[str] | None) -> dict[str, list[tuple[str, float]]]:
        chunks = self._shards.get(self.chunks)
        if chunks is None:
            return {}
        qe = _edge()
        named: list[tuple[str, Any]] = [("dense", qe.Query.Nearest(dense, using=DENSE))]
        if sparse and sparse[0]:
            named.append(("sparse", qe.Query.Nearest(_sparse(qe, sparse), using=SPARSE)))
        if self.has_pieces():
            named.append(("pieces", qe.Query.Nearest([dense], using=PIECES)))
        flt = _doc_filter(sources) if sources else None
        responses = chunks.query_batch(qe.QueryBatchRequest([
            qe.QueryRequest(limit=depth, query=q, filter=flt, with_payload=False)
            for _, q in named]))
        return {name: [(str(p.id), float(p.score)) for p in points]
                for (name, _), points in zip(named, responses, strict=True)}


def _new_generation() -> str:
    """A generation folder's name: sortable by time, unique."""
    return f"g-{time.strftime('%Y%m%d%H%M%S')}{uuid.uuid4().hex[:6]}"


def _doc_filter(doc_ids: Sequence[str]) -> Any:
    qe = _edge()
    return qe.Filter(must=[qe.FieldCondition(key=DOC_ID, match=qe.MatchAny(list(doc_ids)))])


def _sparse(qe: Any, sparse: Sparse | None) -> Any:
    indices, values = sparse or ([], [])
    return qe.SparseVector(indices, values)


def _point(qe: Any, p: models.PointStruct) -> Any:
    """qdrant-client's point (what ingest builds, rag.schema) as the engine's."""
    from qdrant_client import models

    if not isinstance(p.vector, dict):
        raise TypeError("the index stores named vectors only")
    vector = {name: qe.SparseVector(list(v.indices), list(v.values))
              if isinstance(v, models.SparseVector) else v for name, v in p.vector.items()}
    return qe.Point(str(p.id), vector, p.payload)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _sync_dir(path.parent)


def _write_current(root: Path, gen: str) -> None:
    _write_atomic(root / CURRENT, gen + "\n")
