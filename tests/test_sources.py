"""Guides added, replaced and deleted through `ingest.sources`, and the folder watcher.

Unit level: the fake embedder and an in-memory store; the HTTP API and a real server are
tested in test_live_guides.py.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from ingest.pipeline import corpus_ingest, ingest_corpus
from ingest.sources import SourceError, delete_source, put_source, safe_name
from ingest.watch import CorpusWatcher
from rag.settings import Settings
from rag.store import Store
from tests.conftest import FakeEmbedder

GUIDE = b"# Sprocket Guide\n\n## Oils\n\nGraphite keeps sprockets quiet in cold weather.\n"
GUIDE2 = b"# Sprocket Guide\n\n## Oils\n\nLanolin keeps sprockets quiet in warm weather.\n"


@pytest.fixture
def env(tmp_path: Path, memory_store: Store) -> tuple[Settings, Store, FakeEmbedder]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "widgets.md").write_text("# Widgets\n\n## Basics\n\nWidgets need gears.\n")
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, collection="t")
    emb = FakeEmbedder()
    ingest_corpus(corpus, memory_store, emb, config={"model": "fake"})
    return settings, memory_store, emb


def _put(env: tuple[Settings, Store, FakeEmbedder], name: str | None, raw: bytes | None,
         doc_id: str | None = None, **meta: str):
    settings, store, emb = env
    ingest = corpus_ingest(settings, store, emb)
    return put_source(settings.corpus_dir, ingest, name=name, raw=raw, meta=meta,
                      max_bytes=1000, doc_id=doc_id)


def _texts(store: Store) -> str:
    return "\n".join(d["text"] for d in store.list_docs(with_text=True))


@pytest.mark.parametrize("name", ["../x.md", "/etc/passwd.txt", "a/b.md", "..\\x.md",
                                  "C:evil.md", "x\x00.md", ".hidden.md", "", "manifest.json",
                                  "tab\tname.md"])
def test_crafted_names_are_refused(name: str) -> None:
    with pytest.raises(SourceError) as e:
        safe_name(name)
    assert e.value.code == "bad_name"


def test_names_are_reduced_to_a_safe_set() -> None:
    assert safe_name("My Guide (v2).MD") == "My-Guide-v2.md"
    with pytest.raises(SourceError, match="unsupported file type"):
        safe_name("tool.exe")


def test_upload_update_unchanged_and_delete(env: tuple[Settings, Store, FakeEmbedder]) -> None:
    settings, store, _ = env
    added = _put(env, "sprockets.md", GUIDE, title="Sprockets", publisher="Us")
    assert (added.doc_id, added.status, added.title) == ("sprockets", "added", "Sprockets")
    assert "Graphite" in _texts(store)
    manifest = json.loads((settings.corpus_dir / "manifest.json").read_text())
    assert manifest["documents"] == [{"file": "sprockets.md", "title": "Sprockets",
                                      "publisher": "Us"}]
    # the same bytes again, under any name: nothing new
    assert _put(env, "sprockets.md", GUIDE).status == "unchanged"
    assert _put(env, "copy.md", GUIDE).doc_id == "sprockets"
    assert len(store.list_docs()) == 2
    # the same name with new bytes: replaced in place; the old sentence is gone
    updated = _put(env, "sprockets.md", GUIDE2)
    assert (updated.doc_id, updated.status) == ("sprockets", "updated")
    assert "Lanolin" in _texts(store) and "Graphite" not in _texts(store)
    # metadata only, by id
    assert _put(env, None, None, doc_id="sprockets", title="Oils").status == "updated"
    assert {d["doc_id"]: d["title"] for d in store.list_docs()}["sprockets"] == "Oils"
    deleted = delete_source(settings.corpus_dir, corpus_ingest(settings, *env[1:]), "sprockets")
    assert deleted.status == "deleted"
    assert [d["doc_id"] for d in store.list_docs()] == ["widgets"]
    assert not (settings.corpus_dir / "sprockets.md").exists()


@pytest.mark.parametrize(("raw", "code"), [
    (b"", "empty"), (b"   \n", "empty"), (b"\x00\x01\x02binary" * 10, "unreadable"),
    (b'{"title": broken', "unreadable"), (b"%PDF-1.4\n%%EOF\n", "unreadable"),
    (b"x" * 2000, "too_large"),
])
def test_bad_files_change_nothing(env: tuple[Settings, Store, FakeEmbedder], raw: bytes,
                                  code: str) -> None:
    settings, store, _ = env
    before = (sorted(p.name for p in settings.corpus_dir.iterdir()), _texts(store))
    with pytest.raises(SourceError) as e:
        _put(env, "bad.json" if raw.startswith(b"{") else "bad.txt", raw)
    assert e.value.code == code and str(e.value)
    assert (sorted(p.name for p in settings.corpus_dir.iterdir()), _texts(store)) == before


def test_another_guide_is_never_overwritten_through_a_name(
        env: tuple[Settings, Store, FakeEmbedder]) -> None:
    with pytest.raises(SourceError) as e:
        _put(env, "widgets.txt", GUIDE)  # same id as widgets.md, another file
    assert e.value.code == "name_taken"
    with pytest.raises(SourceError) as e:
        _put(env, None, None, doc_id="nope", title="x")
    assert e.value.code == "not_found"


def test_a_failed_ingest_puts_the_corpus_back(env: tuple[Settings, Store, FakeEmbedder]
                                              ) -> None:
    settings, _, _ = env

    def broken() -> None:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        put_source(settings.corpus_dir, broken, name="sprockets.md", raw=GUIDE,  # type: ignore[arg-type]
                   meta={"title": "S"}, max_bytes=1000)
    assert not (settings.corpus_dir / "sprockets.md").exists()
    assert not (settings.corpus_dir / "manifest.json").exists() or "sprockets" not in (
        settings.corpus_dir / "manifest.json").read_text()


def test_the_watcher_reports_a_dropped_file_and_ignores_hidden_ones(tmp_path: Path) -> None:
    seen: list[set[Path]] = []
    got = threading.Event()

    def on_change(paths: set[Path]) -> None:
        seen.append(paths)
        got.set()

    w = CorpusWatcher(tmp_path, on_change, debounce_ms=100)
    w.start()
    try:
        assert w.ready.wait(10)
        (tmp_path / ".swap").write_text("x")
        (tmp_path / "new.md").write_text("# New\n\nText.\n")
        assert got.wait(10)
    finally:
        w.stop()
    names = {p.name for batch in seen for p in batch}
    assert "new.md" in names and ".swap" not in names
