"""The admin API of the guides: upload, replace, delete, ingest; admin keys; bad input.

Fake embedder and in-memory store; the real server and model are in test_live_guides.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient

from api.app import create_app
from ingest.pipeline import ingest_corpus
from rag.settings import Settings
from rag.store import Store
from rag.store_qdrant import QdrantStore
from tests.conftest import FakeEmbedder

GUIDE = b"# Sprocket Guide\n\n## Oils\n\nGraphite keeps sprockets quiet in cold weather.\n"
GUIDE2 = b"# Sprocket Guide\n\n## Oils\n\nLanolin keeps sprockets quiet in warm weather.\n"


def _app(tmp_path: Path, **extra: object) -> tuple[TestClient, Store, Settings]:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "widgets.md").write_text("# Widgets\n\n## Basics\n\nWidgets need gears.\n")
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, collection="t",
                        **extra)  # type: ignore[arg-type]
    store = QdrantStore(QdrantClient(":memory:"), "t")
    ingest_corpus(corpus, store, FakeEmbedder(), config={"model": "fake"})
    return TestClient(create_app(settings, store=store, embedder=FakeEmbedder())), store, settings


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Store, Settings]]:
    client, store, settings = _app(tmp_path, max_upload_mb=0.001)
    with client:
        yield client, store, settings


def _cited(client: TestClient, word: str) -> bool:
    r = client.post("/v1/search", json={"query": f"sprockets quiet weather {word}"})
    return any(word in h["text"] for h in r.json()["results"])


def test_upload_replace_delete(api: tuple[TestClient, Store, Settings]) -> None:
    client, store, settings = api
    r = client.post("/v1/sources", files={"file": ("sprockets.md", GUIDE)},
                    data={"title": "Sprockets", "publisher": "Us"})
    assert r.status_code == 201, r.text
    assert r.json() == {"doc_id": "sprockets", "title": "Sprockets", "status": "added",
                        "chunks": 1}
    assert _cited(client, "Graphite")
    assert (settings.corpus_dir / "sprockets.md").read_bytes() == GUIDE
    # the same bytes: unchanged, no duplicate
    r = client.post("/v1/sources", files={"file": ("again.md", GUIDE)})
    assert (r.status_code, r.json()["status"], r.json()["doc_id"]) == (201, "unchanged",
                                                                        "sprockets")
    assert len(client.get("/v1/sources").json()["sources"]) == 2
    # new bytes under the same name: updated in place; the old sentence is never cited
    r = client.post("/v1/sources", files={"file": ("sprockets.md", GUIDE2)})
    assert r.json()["status"] == "updated"
    assert _cited(client, "Lanolin") and not _cited(client, "Graphite")
    r = client.put("/v1/sources/sprockets", data={"title": "Oils"})
    assert (r.status_code, r.json()["title"]) == (200, "Oils")
    assert client.get("/v1/sources/sprockets").json()["title"] == "Oils"
    assert client.delete("/v1/sources/sprockets").status_code == 204
    assert client.get("/v1/sources/sprockets").status_code == 404
    assert not _cited(client, "Lanolin")
    assert client.delete("/v1/sources/sprockets").status_code == 404


@pytest.mark.parametrize(("name", "raw", "status"), [
    ("../x.md", GUIDE, 400), ("/abs/x.md", GUIDE, 400), (".hidden.md", GUIDE, 400),
    ("x.exe", GUIDE, 415), ("empty.md", b"", 400), ("junk.txt", b"\x00\xff" * 50, 422),
    ("broken.json", b'{"title": ', 422), ("big.md", b"# Big\n\n" + b"word " * 400, 413),
])
def test_bad_uploads_get_a_reason_and_change_nothing(
        api: tuple[TestClient, Store, Settings], name: str, raw: bytes, status: int) -> None:
    client, store, settings = api
    before = (sorted(p.name for p in settings.corpus_dir.iterdir()), store.count())
    r = client.post("/v1/sources", files={"file": (name, raw)})
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]
    assert (sorted(p.name for p in settings.corpus_dir.iterdir()), store.count()) == before


def test_ingest_route_reports_what_it_did(api: tuple[TestClient, Store, Settings]) -> None:
    client, _, settings = api
    (settings.corpus_dir / "sprockets.md").write_bytes(GUIDE)
    r = client.post("/v1/ingest", json={})
    assert r.status_code == 200 and r.json()["documents"]["added"] == 1
    assert _cited(client, "Graphite")


def test_admin_keys_are_not_chat_keys(tmp_path: Path) -> None:
    client, _, _ = _app(tmp_path, api_keys="chat1", admin_keys="admin1")
    with client:
        up = {"files": {"file": ("sprockets.md", GUIDE)}}
        assert client.post("/v1/sources", **up).status_code == 401
        assert client.post("/v1/sources", headers={"Authorization": "Bearer chat1"},
                           **up).status_code == 403
        assert client.post("/v1/sources", headers={"Authorization": "Bearer admin1"},
                           **up).status_code == 201
        # and the admin key is not a chat key
        assert client.post("/v1/search", json={"query": "gears"},
                           headers={"Authorization": "Bearer admin1"}).status_code == 401


def test_without_admin_keys_only_loopback_may_write(tmp_path: Path) -> None:
    client, _, _ = _app(tmp_path)
    remote = TestClient(client.app, client=("203.0.113.9", 5000))
    with remote:
        r = remote.delete("/v1/sources/widgets")
        assert r.status_code == 403 and "CAREERBOT_ADMIN_KEYS" in r.json()["error"]["message"]
        assert remote.get("/v1/sources").status_code == 200  # reading stays open
