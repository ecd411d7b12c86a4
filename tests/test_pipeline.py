from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.pipeline import IngestError, ingest_corpus
from rag.retrieve import QdrantRetriever
from rag.store import Store
from tests.conftest import FakeEmbedder

CFG = {"model": "fake", "chunk_tokens": 160, "overlap": 24}


def run(corpus: Path, store: Store, emb: FakeEmbedder, cfg=CFG):
    return ingest_corpus(corpus, store, emb, config=cfg)


def test_first_ingest_then_nothing_to_do(corpus_copy, memory_store, fake_embedder) -> None:
    r1 = run(corpus_copy, memory_store, fake_embedder)
    assert r1.documents.added == 4 and not r1.failed
    total = memory_store.count()
    assert r1.chunks.added == r1.embedded == total > 40
    before = fake_embedder.embedded
    r2 = run(corpus_copy, memory_store, fake_embedder)
    assert r2.documents.unchanged == 4 and r2.documents.added == r2.documents.updated == 0
    assert r2.embedded == 0 and fake_embedder.embedded == before
    assert r2.chunks.unchanged == total and memory_store.count() == total


def test_manifest_metadata_reaches_the_store(corpus_copy, memory_store, fake_embedder) -> None:
    run(corpus_copy, memory_store, fake_embedder)
    docs = {d["doc_id"]: d for d in memory_store.list_docs()}
    d = docs["003_ea9daf657743a40c"]
    assert d["publisher"] == "BlogAcademy" and d["format"] == "wordpress-json"
    assert d["url"].startswith("https://blogacademy.tech/")
    assert docs["000_7399247191e587c3"]["format"] == "transcript"
    assert "text" not in d
    full = memory_store.get_doc("003_ea9daf657743a40c")
    assert full and len(full["text"]) == d["chars"]


def test_changed_file_reembeds_only_new_chunks(corpus_copy, memory_store, fake_embedder) -> None:
    run(corpus_copy, memory_store, fake_embedder)
    path = corpus_copy / "001_b99e32355209f981.txt"
    path.write_text(path.read_text() + "\n\nA New Closing Section\n\nPractice every day.\n")
    r = run(corpus_copy, memory_store, fake_embedder)
    assert r.documents.updated == 1 and r.documents.unchanged == 3
    assert 1 <= r.embedded < 5  # only the chunks whose text or offsets changed
    hits = QdrantRetriever(memory_store, fake_embedder).search("practice every day", top_k=3)
    assert any("Practice every day." in h.text for h in hits)


def test_removed_file_is_deleted(corpus_copy, memory_store, fake_embedder) -> None:
    run(corpus_copy, memory_store, fake_embedder)
    n = memory_store.count("002_9480da9f1f03aad0")
    (corpus_copy / "002_9480da9f1f03aad0.txt").unlink()
    r = run(corpus_copy, memory_store, fake_embedder)
    assert r.documents.deleted == 1 and r.chunks.deleted == n
    assert memory_store.count("002_9480da9f1f03aad0") == 0
    assert memory_store.get_doc("002_9480da9f1f03aad0") is None


def test_bad_files_are_reported_and_the_rest_ingests(corpus_copy, memory_store, fake_embedder):
    (corpus_copy / "broken.json").write_text('{"content": {"rendered": "<p>hi')
    (corpus_copy / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (corpus_copy / "empty.md").write_text("")
    r = run(corpus_copy, memory_store, fake_embedder)
    reasons = {f["file"]: f["reason"] for f in r.failed}
    assert set(reasons) == {"broken.json", "image.png", "empty.md"}
    assert "JSON" in reasons["broken.json"] and "binary" in reasons["image.png"]
    assert "empty" in reasons["empty.md"]
    assert r.documents.added == 4


def test_a_file_that_breaks_keeps_its_last_good_version(corpus_copy, memory_store, fake_embedder):
    run(corpus_copy, memory_store, fake_embedder)
    n = memory_store.count("003_ea9daf657743a40c")
    (corpus_copy / "003_ea9daf657743a40c.txt").write_text('{"broken": ')
    r = run(corpus_copy, memory_store, fake_embedder)
    assert [f["file"] for f in r.failed] == ["003_ea9daf657743a40c.txt"]
    assert memory_store.count("003_ea9daf657743a40c") == n


def test_user_adds_markdown_and_html_guides(corpus_copy, memory_store, fake_embedder) -> None:
    (corpus_copy / "notes.md").write_text("# Notes\n\n## Salary in Mars City\n\nIt pays 5 rocks.\n")
    (corpus_copy / "page.html").write_text(
        "<html><body><h2>Kubeflow</h2><p>Kubeflow runs pipelines.</p></body></html>"
    )
    r = run(corpus_copy, memory_store, fake_embedder)
    assert r.documents.added == 6 and not r.failed
    ids = {d["doc_id"] for d in memory_store.list_docs()}
    assert {"notes", "page"} <= ids


def test_broken_manifest_stops_before_touching_the_index(corpus_copy, memory_store, fake_embedder):
    run(corpus_copy, memory_store, fake_embedder)
    n = memory_store.count()
    (corpus_copy / "manifest.json").write_text("{not json")
    with pytest.raises(IngestError, match="manifest.json"):
        run(corpus_copy, memory_store, fake_embedder)
    assert memory_store.count() == n


def test_crash_mid_ingest_keeps_serving_and_next_run_repairs(corpus_copy, memory_store):
    good = FakeEmbedder()
    run(corpus_copy, memory_store, good)
    before = {d["doc_id"]: d["chunks"] for d in memory_store.list_docs()}
    path = corpus_copy / "001_b99e32355209f981.txt"
    path.write_text(path.read_text().replace("Where You Live Matters", "Location Matters"))

    class Crashing(FakeEmbedder):
        def embed_documents(self, texts):
            raise KeyboardInterrupt  # a kill in the middle of the embedding step

    with pytest.raises(KeyboardInterrupt):
        run(corpus_copy, memory_store, Crashing())
    # the old chunks still answer
    assert memory_store.count("001_b99e32355209f981") == before["001_b99e32355209f981"]
    r = run(corpus_copy, memory_store, good)
    assert r.documents.updated == 1 and r.documents.unchanged == 3
    assert {d["doc_id"]: d.get("fingerprint") != "pending" for d in memory_store.list_docs()} == {
        k: True for k in before
    }


def test_config_change_reprocesses_everything(corpus_copy, memory_store, fake_embedder) -> None:
    run(corpus_copy, memory_store, fake_embedder)
    r = run(corpus_copy, memory_store, fake_embedder, cfg={**CFG, "chunk_tokens": 100})
    assert r.documents.updated == 4


def test_manifest_title_overrides(corpus_copy, memory_store, fake_embedder) -> None:
    m = json.loads((corpus_copy / "manifest.json").read_text())
    m["documents"][2]["title"] = "Roadmap Renamed"
    (corpus_copy / "manifest.json").write_text(json.dumps(m))
    run(corpus_copy, memory_store, fake_embedder)
    d = memory_store.get_doc("002_9480da9f1f03aad0")
    assert d and d["title"] == "Roadmap Renamed"


def test_another_model_of_the_same_size_re_embeds_everything(corpus_copy, memory_store) -> None:
    """The model's identity is stored with each guide: a different model with vectors of the
    same size must not keep the old model's vectors."""
    emb = FakeEmbedder()
    first = ingest_corpus(corpus_copy, memory_store, emb, config={"model": "model-a"})
    assert first.embedded > 0
    again = ingest_corpus(corpus_copy, memory_store, emb, config={"model": "model-a"})
    assert again.embedded == 0 and again.units_embedded == 0
    other = ingest_corpus(corpus_copy, memory_store, emb, config={"model": "model-b"})
    assert other.documents.updated == 4
    assert (other.embedded, other.units_embedded) == (first.embedded, first.units_embedded)
    assert {d["model"] for d in memory_store.list_docs()} == {"model-b"}
    assert memory_store.get_meta()["model"] == "model-b"  # recalibrated for the new model
