"""The embedded engine (rag.store_edge): the same answers as qdrant-client for the same
index, generations switched by one file, and every way a folder can be left behind (a
killed rebuild, a corrupted shard, an index made by qdrant-client's local mode)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from ingest.pipeline import IngestError, rebuild, run_ingest
from rag.retrieve import QdrantRetriever
from rag.settings import Settings
from rag.sparse import query_vector
from rag.store import Hit, Store, StoreError
from rag.store_edge import CURRENT, EdgeStore
from rag.store_qdrant import QdrantStore
from tests.conftest import FakeEmbedder, tied

QUESTIONS = ["how long does it take", "docker and kubernetes", "salary in new york",
             "is a doctorate required", "projects for a portfolio", "the", "linear algebra math"]


@pytest.fixture
def edge(settings: Settings):
    store = Store.open(settings)
    yield store
    store.close()


def ranked(hits: list[Hit]) -> list[tuple[str, float]]:
    return [(h.chunk_id, h.score) for h in hits]


def _generations(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.index_dir.glob("g-*"))


def test_same_index_same_results_as_qdrant_client(settings: Settings, edge: Store,
                                                  memory_store: Store) -> None:
    """Everything the app reads, compared with qdrant-client's local mode on the same
    ingest: guide records, spans, counts, rankings and scores in every mode, with and
    without a source filter, the inspector's lists and the answer units."""
    emb = FakeEmbedder()
    run_ingest(settings, edge, emb)
    run_ingest(settings, memory_store, emb)
    assert isinstance(edge, EdgeStore)
    def records(store: Store) -> list[dict]:  # when each was ingested aside
        return [{k: v for k, v in d.items() if k != "ingested"}
                for d in store.list_docs(with_text=True)]

    assert records(edge) == records(memory_store)
    assert sorted(edge.chunk_spans()) == sorted(memory_store.chunk_spans())
    assert edge.count() == memory_store.count() > 0
    doc = edge.list_docs()[0]["doc_id"]
    assert edge.count(doc) == memory_store.count(doc)
    for name in ("chunks", "units"):
        assert edge.point_ids(getattr(edge, name), doc) == \
            memory_store.point_ids(getattr(memory_store, name), doc)
    def calibration(store: Store) -> dict:  # the generation id is random per ingest
        return {k: v for k, v in store.get_meta().items() if k != "generation"}

    assert calibration(edge) == calibration(memory_store) != {}
    for q in QUESTIONS:
        dense, sparse = emb.embed_query(q), query_vector(q)
        for mode in ("dense", "sparse"):
            for sources in (None, [doc]):
                a = edge.search(dense, sparse, mode=mode, top_k=8, sources=sources)
                b = memory_store.search(dense, sparse, mode=mode, top_k=8, sources=sources)
                assert tied(ranked(a)) == tied(ranked(b)), (q, mode, sources)
                assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-4)
        # Hybrid: fused here over lists put in a fixed order (rag.store.fuse), so the
        # same hits and scores on either engine, ties in the lists included.
        for sources in (None, [doc]):
            a = edge.search(dense, sparse, top_k=8, prefetch_k=40, sources=sources)
            b = memory_store.search(dense, sparse, top_k=8, prefetch_k=40, sources=sources)
            assert [h.chunk_id for h in a] == [h.chunk_id for h in b], (q, sources)
            assert [h.score for h in a] == pytest.approx([h.score for h in b]), q
            assert a == sorted(a, key=lambda h: -h.score)
        assert [(i, pytest.approx(x)) for i, x in edge.ranked_lists(
            dense, sparse, depth=40)["hybrid"][:8]] == ranked(
            edge.search(dense, sparse, top_k=8, prefetch_k=40)), q
        assert edge.nearest_unit(dense) == pytest.approx(memory_store.nearest_unit(dense),
                                                         abs=1e-4)
    ids = sorted(edge.point_ids(edge.units, doc))[:5]
    got, want = edge.unit_vectors(ids), memory_store.unit_vectors(ids)
    assert set(got) == set(want) == set(ids)
    chunk_ids = [c for c, *_ in edge.chunk_spans()[:3]]
    assert edge.chunks_by_id(chunk_ids) == memory_store.chunks_by_id(chunk_ids)


def test_delete_and_incremental_ingest(settings: Settings, edge: Store, corpus_copy: Path
                                       ) -> None:
    settings = settings.model_copy(update={"corpus_dir": corpus_copy})
    run_ingest(settings, edge, FakeEmbedder())
    victim = sorted(corpus_copy.glob("00*.txt"))[-1]
    n, doc_id = edge.count(), victim.stem
    gone = edge.count(doc_id)
    victim.unlink()
    report = run_ingest(settings, edge, FakeEmbedder())
    assert report.documents.deleted == 1 and edge.count() == n - gone
    assert edge.get_doc(doc_id) is None and not edge.point_ids(edge.units, doc_id)
    assert run_ingest(settings, edge, FakeEmbedder()).embedded == 0


def test_one_process_per_folder(settings: Settings, edge: Store) -> None:
    with pytest.raises(StoreError, match="in use by another careerbot process"):
        Store.open(settings)


def test_rebuild_switches_generation_in_one_file(settings: Settings, edge: Store) -> None:
    emb = FakeEmbedder()
    run_ingest(settings, edge, emb)
    (first,) = _generations(settings)
    probes: list[int] = []

    class Probing(FakeEmbedder):
        def embed_documents(self, texts):
            # mid-rebuild, the live generation still answers in full
            probes.append(len(QdrantRetriever(edge, emb).search("salary", top_k=5)))
            return super().embed_documents(texts)

    rebuild(settings, edge, Probing())
    assert probes and all(n == 5 for n in probes)
    live = (settings.index_dir / CURRENT).read_text().strip()
    assert live != first and live in _generations(settings)
    assert QdrantRetriever(edge, emb).search("docker", top_k=3)
    edge.close()  # the replaced generation's folder goes once nothing can be reading it
    assert _generations(settings) == [live]


def test_failed_rebuild_leaves_the_live_generation(settings: Settings, edge: Store) -> None:
    run_ingest(settings, edge, FakeEmbedder())
    before, n = _generations(settings), edge.count()

    class Failing(FakeEmbedder):
        def embed_documents(self, texts):
            if self.calls >= 2:
                raise RuntimeError("model crashed")
            return super().embed_documents(texts)

    with pytest.raises((RuntimeError, IngestError)):
        rebuild(settings, edge, Failing())
    assert _generations(settings) == before and edge.count() == n


def test_a_killed_rebuild_is_cleared_on_the_next_open(settings: Settings) -> None:
    store = Store.open(settings)
    run_ingest(settings, store, FakeEmbedder())
    half = store.generation()  # a rebuild that never reached its switch
    half.ensure(FakeEmbedder.dim)
    half.put_doc(store.list_docs()[0])
    live = (settings.index_dir / CURRENT).read_text().strip()
    store.close()
    assert len(_generations(settings)) == 2
    again = Store.open(settings)
    try:
        assert _generations(settings) == [live] and again.count() > 0
    finally:
        again.close()


@pytest.mark.parametrize("damage", ["garbage config", "missing shard", "no layout",
                                    "current names nothing"])
def test_a_damaged_index_is_set_aside_and_rebuilt(settings: Settings, damage: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    store = Store.open(settings)
    run_ingest(settings, store, FakeEmbedder())
    n = store.count()
    store.close()
    live = (settings.index_dir / CURRENT).read_text().strip()
    folder = settings.index_dir / live
    if damage == "garbage config":
        (folder / "chunks" / "edge_config.json").write_text("{not json")
    elif damage == "missing shard":
        for p in sorted((folder / "units").rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        (folder / "units").rmdir()
    elif damage == "no layout":
        (folder / "layout.json").unlink()
    else:
        (settings.index_dir / CURRENT).write_text("g-nothing-here\n")
    with caplog.at_level(logging.ERROR, logger="careerbot"):
        opened = Store.open(settings)  # no exception: a clear error and an empty index
    try:
        assert opened.count() == 0
        assert any("could not be opened" in r.getMessage() and "rebuilds it" in r.getMessage()
                   for r in caplog.records)
        if damage != "current names nothing":
            assert (settings.index_dir / f"broken-{live}").is_dir()
        report = run_ingest(settings, opened, FakeEmbedder())  # what serve does when empty
        assert report.documents.added == 4 and opened.count() == n
    finally:
        opened.close()
    reopened = Store.open(settings)  # and the next start is a normal one
    try:
        assert reopened.count() == n
    finally:
        reopened.close()


def test_an_index_made_by_local_mode_is_moved(settings: Settings,
                                              caplog: pytest.LogCaptureFixture) -> None:
    old = QdrantStore(QdrantClient(path=str(settings.local_mode_dir)), settings.collection)
    emb = FakeEmbedder()
    run_ingest(settings, old, emb)
    docs, n, meta = old.list_docs(with_text=True), old.count(), old.get_meta()
    dense = emb.embed_query("docker deployment")
    sparse = query_vector("docker deployment")
    want = {m: tied(ranked(old.search(dense, sparse, mode=m, top_k=8)))  # type: ignore[arg-type]
            for m in ("dense", "sparse")}
    old.close()

    with caplog.at_level(logging.WARNING, logger="careerbot"):
        moved = Store.open(settings)
    try:
        assert isinstance(moved, EdgeStore)
        assert moved.list_docs(with_text=True) == docs and moved.count() == n
        assert moved.get_meta() == meta
        assert {m: tied(ranked(moved.search(dense, sparse, mode=m, top_k=8)))  # type: ignore[arg-type]
                for m in want} == want
        # nothing to embed: the copy kept every vector and the guides' fingerprints
        assert run_ingest(settings, moved, emb).embedded == 0
    finally:
        moved.close()
    notices = [r.getMessage() for r in caplog.records if "moved the index" in r.getMessage()]
    assert len(notices) == 1 and f"{len(docs)} guides, {n} chunks" in notices[0]
    assert not settings.local_mode_dir.exists()
    assert settings.local_mode_dir.with_name("qdrant.before-edge").is_dir()  # kept
    caplog.clear()
    Store.open(settings).close()  # once only
    assert not any("moved the index" in r.getMessage() for r in caplog.records)


class Recording:
    """A shard that notes whether it was optimized."""

    def __init__(self, shard) -> None:
        self.shard, self.optimized = shard, 0

    def __getattr__(self, name: str):
        return getattr(self.shard, name)

    def optimize(self) -> bool:
        self.optimized += 1
        return bool(self.shard.optimize())


def test_a_serving_store_is_not_optimized_in_process(settings: Settings, edge: Store) -> None:
    """The engine holds the GIL while it optimizes: never where a server answers."""
    assert isinstance(edge, EdgeStore)
    run_ingest(settings, edge, FakeEmbedder())
    shards = {n: Recording(edge._shards[n]) for n in (edge.chunks, edge.units)}
    edge._shards.update(shards)
    edge.serving = True
    edge.finish_writes()
    assert [s.optimized for s in shards.values()] == [0, 0]
    edge.serving = False  # `careerbot ingest` on its own: nobody waits
    edge.finish_writes()
    assert [s.optimized for s in shards.values()] == [1, 1]
    edge._shards.update({n: s.shard for n, s in shards.items()})


def test_a_new_generation_is_optimized_in_a_child_process(
        settings: Settings, edge: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.store_edge as store_edge

    run_ingest(settings, edge, FakeEmbedder())
    edge.serving = True
    calls: list[list[str]] = []
    real = store_edge.subprocess.run

    def run(args, **kw):
        calls.append(list(args))
        return real(args, **kw)

    monkeypatch.setattr(store_edge.subprocess, "run", run)
    n = edge.count()
    rebuild(settings, edge, FakeEmbedder())
    assert [c[-1].rsplit("/", 1)[-1] for c in calls] == ["chunks", "units"]
    assert all(store_edge.OPTIMIZE in c for c in calls)
    assert edge.count() == n and QdrantRetriever(edge, FakeEmbedder()).search("salary")
