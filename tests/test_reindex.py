"""Zero-downtime rebuilds behind aliases, and the ingest lock."""

from __future__ import annotations

import pytest

from ingest.pipeline import IngestError, ingest_lock, rebuild, run_ingest
from rag.retrieve import QdrantRetriever
from rag.settings import Settings
from rag.store import Store, StoreError
from rag.store_qdrant import QdrantStore
from tests.conftest import FakeEmbedder


def physical(store: Store) -> set[str]:
    return {c.name for c in store.client.get_collections().collections}


def test_index_lives_behind_aliases(settings: Settings, memory_store: Store) -> None:
    run_ingest(settings, memory_store, FakeEmbedder())
    aliases = memory_store.aliases()
    assert set(aliases) == {"test", "test_units", "test_docs"}
    assert physical(memory_store) == set(aliases.values())


def test_rebuild_switches_generation(settings: Settings, memory_store: Store) -> None:
    emb = FakeEmbedder()
    run_ingest(settings, memory_store, emb)
    before = memory_store.aliases()
    n = memory_store.count()
    report = rebuild(settings, memory_store, emb)
    after = memory_store.aliases()
    assert report.documents.added == 4 and memory_store.count() == n
    assert set(before.values()).isdisjoint(after.values())
    assert physical(memory_store) == set(after.values())  # the old generation is gone
    assert QdrantRetriever(memory_store, emb).search("docker", top_k=3)


def test_queries_keep_working_during_a_rebuild(settings: Settings, memory_store: Store) -> None:
    emb = FakeEmbedder()
    run_ingest(settings, memory_store, emb)
    seen: list[int] = []

    class Probing(FakeEmbedder):
        def embed_documents(self, texts):
            # mid-rebuild, the live index still answers in full
            seen.append(len(QdrantRetriever(memory_store, emb).search("salary", top_k=5)))
            return super().embed_documents(texts)

    rebuild(settings, memory_store, Probing())
    assert seen and all(n == 5 for n in seen)


def test_failed_rebuild_leaves_the_live_index(settings: Settings, memory_store: Store) -> None:
    run_ingest(settings, memory_store, FakeEmbedder())
    before, n = memory_store.aliases(), memory_store.count()

    class Failing(FakeEmbedder):
        def embed_documents(self, texts):
            if self.calls >= 2:
                raise RuntimeError("model crashed")
            return super().embed_documents(texts)

    with pytest.raises(RuntimeError):
        rebuild(settings, memory_store, Failing())
    assert memory_store.aliases() == before and memory_store.count() == n
    assert physical(memory_store) == set(before.values())  # no leftovers


def test_model_change_rebuilds(settings: Settings, memory_store: Store) -> None:
    run_ingest(settings, memory_store, FakeEmbedder())

    class Wider(FakeEmbedder):
        dim = 96

    with pytest.raises(StoreError, match="reindex"):
        memory_store.ensure(96)
    report = run_ingest(settings, memory_store, Wider())
    assert report.documents.added == 4 and memory_store.dense_size() == 96


def test_concurrent_ingest_is_refused(settings: Settings, memory_store: Store) -> None:
    with ingest_lock(settings):
        with pytest.raises(IngestError, match="another ingest is running"):
            run_ingest(settings, memory_store, FakeEmbedder())
    assert run_ingest(settings, memory_store, FakeEmbedder()).documents.added == 4


def test_settings_choose_the_engine(settings: Settings, memory_store: Store) -> None:
    from qdrant_client import QdrantClient

    from rag.store_edge import EdgeStore

    opened = Store.open(settings)  # no URL: Qdrant's engine in the data dir
    try:
        assert isinstance(opened, EdgeStore) and opened.root == settings.index_dir
    finally:
        opened.close()
    # A server client connects lazily, so nothing needs to listen on the port.
    served = Store.open(settings.model_copy(update={"qdrant_url": "http://127.0.0.1:9"}))
    assert isinstance(served, QdrantStore) and not served.local
    assert not served.generation().local
    # qdrant-client in memory (the unit tests' store) is its local mode, unless told
    assert isinstance(memory_store, QdrantStore)
    assert memory_store.local and memory_store.generation().local
    assert QdrantStore(QdrantClient(":memory:"), "x", local=False).local is False
