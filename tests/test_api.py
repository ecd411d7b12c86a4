"""HTTP API against an in-memory store holding the real corpus, embedded by FakeEmbedder."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient

from api.app import create_app
from ingest.pipeline import ingest_corpus
from rag.settings import Settings
from rag.store import Store
from rag.store_qdrant import QdrantStore
from tests.conftest import CORPUS, FakeEmbedder, running_server

QUESTION = "How long does it take to become an ML engineer?"


def index_corpus(tmp: Path, **settings: Any) -> tuple[Settings, Store]:
    """Settings and an in-memory store holding the corpus (FakeEmbedder vectors)."""
    corpus = tmp / "corpus"
    shutil.copytree(CORPUS, corpus)
    store = QdrantStore(QdrantClient(":memory:"), "test")
    ingest_corpus(corpus, store, FakeEmbedder(), config={"model": "fake"})
    return Settings(data_dir=tmp / "data", corpus_dir=corpus, collection="test",
                    **settings), store


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Store]:
    return index_corpus(tmp_path_factory.mktemp("api"))


@pytest.fixture
def client(indexed: tuple[Settings, Store]) -> Iterator[TestClient]:
    settings, store = indexed
    with TestClient(create_app(settings, store=store, embedder=FakeEmbedder())) as c:
        yield c


class Response(Protocol):  # TestClient answers with httpx2 responses, the live test with httpx
    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


def assert_error(resp: Response, status: int | tuple[int, ...], code: str | None = None
                 ) -> str:
    assert resp.status_code in ((status,) if isinstance(status, int) else status), resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    if code:
        assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    return message


def test_healthz_and_index(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    page = client.get("/")
    assert page.status_code == 200 and "careerbot" in page.text and "/docs" in page.text


def test_readyz_after_ingest(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready" and body["documents"] == 4 and body["chunks"] > 4


def test_readyz_empty_store(settings: Settings, memory_store: Store) -> None:
    with TestClient(create_app(settings, store=memory_store, embedder=FakeEmbedder())) as c:
        msg = assert_error(c.get("/readyz"), 503, "not_ready")
        assert "index is empty" in msg and "careerbot ingest" in msg
        assert "ingest" in assert_error(c.post("/v1/search", json={"query": "python"}), 503)


def test_readyz_while_model_loads(settings: Settings, memory_store: Store) -> None:
    release = threading.Event()

    class SlowEmbedder(FakeEmbedder):
        loaded = False

        def load(self) -> None:
            release.wait(10)
            self.loaded = True

    with TestClient(create_app(settings, store=memory_store, embedder=SlowEmbedder())) as c:
        assert c.get("/healthz").status_code == 200
        assert assert_error(c.get("/readyz"), 503, "not_ready") == "model loading"
        release.set()
        for _ in range(100):
            if "model" not in c.get("/readyz").text:
                break
            time.sleep(0.02)
        assert "index is empty" in assert_error(c.get("/readyz"), 503)


def test_store_locked_by_another_client(settings: Settings) -> None:
    holder = Store.open(settings)  # the embedded store admits one client per folder
    try:
        with TestClient(create_app(settings, embedder=FakeEmbedder())) as c:
            assert c.get("/healthz").status_code == 200
            assert "store unreachable" in assert_error(c.get("/readyz"), 503, "not_ready")
            assert "in use" in assert_error(c.get("/v1/sources"), 503)
            assert "store" in assert_error(c.post("/v1/search", json={"query": "x"}), 503)
    finally:
        holder.close()


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_search_offsets_are_exact(client: TestClient, mode: str) -> None:
    r = client.post("/v1/search", json={"query": QUESTION, "mode": mode, "top_k": 6})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert 1 <= len(results) <= 6
    texts: dict[str, str] = {}
    for hit in results:
        assert set(hit) == {"doc_id", "chunk_id", "title", "section", "text", "start", "end",
                            "score"}
        if hit["doc_id"] not in texts:
            texts[hit["doc_id"]] = client.get(f"/v1/sources/{hit['doc_id']}").json()["text"]
        assert hit["text"] == texts[hit["doc_id"]][hit["start"]:hit["end"]]


def test_search_default_top_k_and_trimmed_query(client: TestClient) -> None:
    r = client.post("/v1/search", json={"query": f"  {QUESTION}\n"})
    assert r.status_code == 200 and len(r.json()["results"]) == 5


def test_search_sources_filter(client: TestClient) -> None:
    ids = [s["doc_id"] for s in client.get("/v1/sources").json()["sources"]]
    chosen = ids[1:3]
    r = client.post("/v1/search", json={"query": QUESTION, "top_k": 20, "sources": chosen})
    assert r.status_code == 200
    got = {h["doc_id"] for h in r.json()["results"]}
    assert got and got <= set(chosen)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"query": "   "}, "query"),
        ({"query": "x" * 2001}, "query"),
        ({"query": "x", "top_k": 0}, "top_k"),
        ({"query": "x", "top_k": 21}, "top_k"),
        ({"query": "x", "mode": "fuzzy"}, "mode"),
        ({"query": "x", "colour": "red"}, "colour: unknown field"),
        ({"query": 42}, "query"),
        ({"query": "x", "sources": "abc"}, "sources"),
        ({}, "query"),
    ],
)
def test_search_validation(client: TestClient, body: dict[str, Any], needle: str) -> None:
    msg = assert_error(client.post("/v1/search", json=body), 422, "invalid_request")
    assert needle in msg


def test_unknown_source_lists_valid_ids(client: TestClient) -> None:
    r = client.post("/v1/search", json={"query": "x", "sources": ["nope", "001_b99e32355209f981"]})
    msg = assert_error(r, 422, "unknown_source")
    assert "nope" in msg and "valid ids" in msg and "003_ea9daf657743a40c" in msg


def test_invalid_json(client: TestClient) -> None:
    r = client.post("/v1/search", content=b'{"query": ',
                    headers={"content-type": "application/json"})
    assert "not valid JSON" in assert_error(r, (400, 422))


def test_body_must_be_sent_as_json(client: TestClient) -> None:
    r = client.post("/v1/search", content=b'{"query": "x"}',
                    headers={"content-type": "text/plain"})
    assert "application/json" in assert_error(r, 415, "unsupported_media_type")


def test_body_too_large(client: TestClient) -> None:
    big = json.dumps({"query": "x" * (65 * 1024)}).encode()
    r = client.post("/v1/search", content=big, headers={"content-type": "application/json"})
    assert "64 KiB" in assert_error(r, 413)

    def chunked() -> Iterator[bytes]:  # no Content-Length: the middleware must count bytes
        yield b'{"query": "'
        for _ in range(70):
            yield b"x" * 1024
        yield b'"}'

    r = client.post("/v1/search", content=chunked(), headers={"content-type": "application/json"})
    assert_error(r, 413)


def test_sources(client: TestClient) -> None:
    sources = client.get("/v1/sources").json()["sources"]
    assert len(sources) == 4
    for s in sources:
        assert set(s) == {"doc_id", "title", "url", "publisher", "date", "format", "chars",
                          "chunks", "ingested"}
        assert s["ingested"].endswith("+00:00")  # when it was indexed, UTC
    one = client.get(f"/v1/sources/{sources[0]['doc_id']}").json()
    assert set(one) == set(sources[0]) | {"text"} and len(one["text"]) == one["chars"]


def test_unknown_source_404(client: TestClient) -> None:
    assert "/v1/sources" in assert_error(client.get("/v1/sources/nope"), 404, "not_found")
    assert_error(client.get("/no/such/route"), 404)
    assert_error(client.get("/v1/search"), 405)


def test_store_failure_is_503(client: TestClient, indexed: tuple[Settings, Store],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_: Any, **__: Any) -> None:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(indexed[1], "search", down)
    assert "refused" in assert_error(client.post("/v1/search", json={"query": "x"}), 503,
                                     "store_unavailable")


def test_internal_error_hides_traceback(indexed: tuple[Settings, Store]) -> None:
    class Broken(FakeEmbedder):
        def embed_query(self, text: str) -> list[float]:
            raise ZeroDivisionError("secret detail")

    app = create_app(indexed[0], store=indexed[1], embedder=Broken())
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/search", json={"query": "x", "mode": "dense"})
        assert "secret" not in assert_error(r, 500, "internal")


def test_openapi(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/search", "/v1/sources", "/v1/sources/{doc_id}", "/readyz", "/healthz",
            "/v1/chat", "/v1/chat/completions", "/v1/models", "/v1/models/{model}"
            } <= set(spec["paths"])
    chat = spec["paths"]["/v1/chat"]["post"]["responses"]
    assert {"application/json", "text/event-stream"} <= set(chat["200"]["content"])
    assert {"401", "413", "422", "429", "503"} <= set(chat)
    query = spec["components"]["schemas"]["SearchRequest"]["properties"]["query"]
    assert query["description"] and query["examples"]
    assert client.get("/docs").status_code == 200


@pytest.mark.integration
def test_serve_end_to_end(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as base:
        r = httpx.post(f"{base}/v1/search", json={"query": QUESTION}, timeout=30)
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert results
        for hit in results:
            text = httpx.get(f"{base}/v1/sources/{hit['doc_id']}", timeout=10).json()["text"]
            assert hit["text"] == text[hit["start"]:hit["end"]]


def test_a_serving_app_marks_its_store(tmp_path: Path) -> None:
    """While the app runs, ingests must not run work that stalls it (rag.store_edge's
    optimisation policy reads the flag)."""
    from rag.services import Services

    settings, store = index_corpus(tmp_path)
    services = Services(settings, store=store, embedder=FakeEmbedder())
    assert not services.serving and not store.serving
    with TestClient(create_app(settings, services=services)):
        assert services.serving and store.serving
    assert not services.serving and not store.serving
