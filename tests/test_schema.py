"""The payload schema: ingest writes exactly what rag.schema declares, and the store and
eval read it back through it."""

from __future__ import annotations

from pathlib import Path
from typing import get_type_hints

from ingest.pipeline import ingest_corpus
from rag import schema, sparse
from rag.store import Store
from tests.conftest import FakeEmbedder


def _fields(td: type) -> set[str]:
    return set(get_type_hints(td))


def _payloads(store: Store, collection: str) -> list[dict]:
    points, _ = store.client.scroll(collection, limit=10_000, with_payload=True)
    return [dict(p.payload or {}) for p in points]


def test_ingest_writes_the_declared_payloads(corpus_copy: Path, memory_store: Store) -> None:
    ingest_corpus(corpus_copy, memory_store, FakeEmbedder(), config={"model": "fake"})
    chunks = _payloads(memory_store, memory_store.chunks)
    assert chunks and all(set(p) == _fields(schema.ChunkPayload) for p in chunks)
    units = _payloads(memory_store, memory_store.units)
    assert units and all(set(p) == _fields(schema.UnitPayload) for p in units)
    docs = memory_store.list_docs(with_text=True)
    assert len(docs) == 4 and all(set(d) == _fields(schema.DocRecord) for d in docs)
    assert set(memory_store.get_meta()) == _fields(schema.IndexMeta)
    # the spans eval reads are the chunks' own offsets
    spans = {cid: (d, a, b) for cid, d, a, b in memory_store.chunk_spans()}
    points, _ = memory_store.client.scroll(memory_store.chunks, limit=10_000,
                                           with_payload=True)
    assert len(spans) == len(points)
    for p in points:
        pl = p.payload or {}
        assert spans[str(p.id)] == (pl["doc_id"], pl["start"], pl["end"])


def test_chunks_read_back_with_their_blocks(corpus_copy: Path, memory_store: Store) -> None:
    ingest_corpus(corpus_copy, memory_store, FakeEmbedder(), config={"model": "fake"})
    for p in _payloads(memory_store, memory_store.chunks)[:20]:
        chunk, blocks = schema.read_chunk(p)
        assert chunk == p and [b.to_payload() for b in blocks] == p["blocks"]
    assert schema.read_chunk(None)[0] == schema.ChunkPayload(
        doc_id="", title="", section="", start=0, end=0, text="", blocks=[])
    hits = memory_store.search(None, sparse.query_vector("python salary"), mode="sparse")
    assert hits
    for h in hits:
        (point,) = memory_store.client.retrieve(memory_store.chunks, [h.chunk_id])
        stored = point.payload or {}
        assert (h.doc_id, h.title, h.section, h.text, h.start, h.end) == tuple(
            stored[k] for k in ("doc_id", "title", "section", "text", "start", "end"))
        assert [b.to_payload() for b in h.blocks] == stored["blocks"]
