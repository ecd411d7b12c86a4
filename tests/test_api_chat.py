"""POST /v1/chat (JSON and event stream), the shared runtime, store outages and concurrency.

The in-memory corpus is embedded by FakeEmbedder, so answers may abstain: the tests check
shapes, exact citations and behaviour, not answer text.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from qdrant_client.http.exceptions import ResponseHandlingException

from api.app import create_app
from rag.services import Services
from rag.settings import Settings
from rag.store import Store
from tests.conftest import FakeEmbedder
from tests.test_api import QUESTION, assert_error, index_corpus

RESPONSE_KEYS = {"answer", "direct", "citations", "intent", "abstained", "timings_ms", "flags",
                 "session_id"}
CITATION_KEYS = {"n", "doc_id", "title", "url", "section", "quote", "start", "end", "score"}
# qdrant-client warns (from a worker thread, so whichever test runs next) when it cannot
# reach a server to check its version: expected in the server-down test.
pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")

QUESTIONS = [QUESTION, "Do I need a master's degree to become a machine learning engineer?",
             "What salary does an entry-level ML engineer earn?", "What is MLOps?"]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Store]:
    return index_corpus(tmp_path_factory.mktemp("chat"), rate_limit_per_minute=0)


@pytest.fixture
def client(indexed: tuple[Settings, Store]) -> Iterator[TestClient]:
    settings, store = indexed
    with TestClient(create_app(settings, store=store, embedder=FakeEmbedder())) as c:
        yield c


def sse_events(text: str) -> list[tuple[str, str]]:
    """(event, data) pairs of an event-stream body; comments (pings) skipped."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            events.append((event, "\n".join(data)))
    return events


def assert_exact(client: TestClient, citations: list[dict[str, Any]]) -> None:
    texts: dict[str, str] = {}
    for n, c in enumerate(citations, 1):
        assert set(c) == CITATION_KEYS and c["n"] == n
        if c["doc_id"] not in texts:
            texts[c["doc_id"]] = client.get(f"/v1/sources/{c['doc_id']}").json()["text"]
        assert c["quote"] == texts[c["doc_id"]][c["start"]:c["end"]]


def assert_response(body: dict[str, Any]) -> None:
    assert set(body) == RESPONSE_KEYS
    assert isinstance(body["answer"], str) and body["answer"]
    assert body["intent"] in {"timeline", "degree", "salary", "tooling", "other"}
    assert isinstance(body["abstained"], bool) and isinstance(body["flags"], list)
    assert set(body["timings_ms"]) == {"retrieve", "answer", "total"}
    assert all(v >= 0 for v in body["timings_ms"].values())


@pytest.mark.parametrize("question", QUESTIONS)
def test_chat_answer_shape_and_exact_citations(client: TestClient, question: str) -> None:
    r = client.post("/v1/chat", json={"message": question, "session_id": "s-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_response(body)
    assert body["session_id"] == "s-1"
    assert_exact(client, body["citations"])
    for c in body["citations"]:
        assert f"[{c['n']}]" in body["answer"]
    # the direct answer is the answer's first line, so a bot can show it alone
    assert body["direct"] and body["answer"].split("\n")[0] == body["direct"]


def test_some_question_is_answered_with_citations(client: TestClient) -> None:
    bodies = [client.post("/v1/chat", json={"message": q}).json() for q in QUESTIONS]
    assert any(b["citations"] and not b["abstained"] for b in bodies)


def test_chat_history_top_k_and_sources(client: TestClient) -> None:
    ids = [s["doc_id"] for s in client.get("/v1/sources").json()["sources"]]
    history = [{"role": "user", "content": QUESTION},
               {"role": "assistant", "content": "About a year [1]."}] * 10  # 20 turns: the max
    r = client.post("/v1/chat", json={"message": "and part-time?", "history": history,
                                      "top_k": 20, "sources": ids[:2]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_response(body)
    assert {c["doc_id"] for c in body["citations"]} <= set(ids[:2])
    assert_exact(client, body["citations"])


def test_chat_trims_the_message(client: TestClient) -> None:
    a = client.post("/v1/chat", json={"message": f"\n  {QUESTION}  "}).json()
    b = client.post("/v1/chat", json={"message": QUESTION}).json()
    assert a["answer"] == b["answer"] and a["citations"] == b["citations"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"message": "  \n "}, "message"),
        ({"message": "x" * 2001}, "message"),
        ({}, "message"),
        ({"message": 5}, "message"),
        ({"message": "x", "history": [{"role": "user", "content": "q"}] * 21}, "history"),
        ({"message": "x", "history": [{"role": "user", "content": "q" * 4001}]},
         "history.0.content"),
        ({"message": "x", "history": [{"role": "system", "content": "q"}]}, "history.0.role"),
        ({"message": "x", "history": [{"role": "user"}]}, "history.0.content"),
        ({"message": "x", "history": [{"role": "user", "content": "q", "at": 1}]},
         "history.0.at: unknown field"),
        ({"message": "x", "top_k": 0}, "top_k"),
        ({"message": "x", "top_k": 21}, "top_k"),
        ({"message": "x", "stream": "sometimes"}, "stream"),
        ({"message": "x", "session_id": "s" * 129}, "session_id"),
        ({"message": "x", "temperature": 0.2}, "temperature: unknown field"),
        ({"message": "x", "sources": "001"}, "sources"),
    ],
)
def test_chat_validation(client: TestClient, body: dict[str, Any], needle: str) -> None:
    msg = assert_error(client.post("/v1/chat", json=body), 422, "invalid_request")
    assert needle in msg


def test_chat_unknown_source_body_limit_and_json(client: TestClient) -> None:
    msg = assert_error(client.post("/v1/chat", json={"message": "x", "sources": ["nope"]}),
                       422, "unknown_source")
    assert "nope" in msg and "valid ids" in msg
    big = json.dumps({"message": "x", "history": [{"role": "user", "content": "q" * 3999}] * 17})
    assert len(big) > 64 * 1024
    r = client.post("/v1/chat", content=big, headers={"content-type": "application/json"})
    assert "64 KiB" in assert_error(r, 413, "payload_too_large")
    r = client.post("/v1/chat", content=b'{"message": "x"', headers={"content-type":
                                                                      "application/json"})
    assert "not valid JSON" in assert_error(r, 400, "invalid_json")
    assert_error(client.get("/v1/chat"), 405)


def test_chat_stream_events(client: TestClient) -> None:
    r = client.post("/v1/chat", json={"message": QUESTION, "stream": True, "session_id": "x"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    kinds = [k for k, _ in events]
    assert kinds[0] == "meta" and kinds[-2:] == ["citations", "done"]
    assert set(kinds[1:-2]) == {"delta"}
    meta = json.loads(events[0][1])
    done = json.loads(events[-1][1])
    assert_response(done)
    assert done["session_id"] == "x" and meta == {"intent": done["intent"]}
    assert "".join(json.loads(d)["text"] for k, d in events if k == "delta") == done["answer"]
    assert json.loads(events[-2][1]) == done["citations"]
    assert_exact(client, done["citations"])
    plain = client.post("/v1/chat", json={"message": QUESTION}).json()
    assert plain["answer"] == done["answer"]
    assert [c["quote"] for c in plain["citations"]] == [c["quote"] for c in done["citations"]]


def test_chat_stream_failure_midway_is_an_error_event(client: TestClient) -> None:
    bot = client.app.state.services.bot  # type: ignore[attr-defined]

    class Broken:
        def answer(self, *_: Any) -> Any:
            raise ZeroDivisionError("secret detail")

    bot._answerer = Broken()
    try:
        r = client.post("/v1/chat", json={"message": QUESTION, "stream": True})
    finally:
        bot._answerer = None
    assert r.status_code == 200
    events = sse_events(r.text)
    assert [k for k, _ in events] == ["meta", "error"]
    error = json.loads(events[-1][1])
    assert error["error"]["code"] == "internal"
    assert "secret" not in r.text and "Traceback" not in r.text


def test_store_down_midway_then_back(client: TestClient, indexed: tuple[Settings, Store],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = indexed[1]

    def down(*_: Any, **__: Any) -> None:
        raise ResponseHandlingException(ConnectionRefusedError("[Errno 111] Connection refused"))

    with monkeypatch.context() as m:
        m.setattr(store, "search", down)
        msg = assert_error(client.post("/v1/chat", json={"message": QUESTION}), 503,
                           "store_unavailable")
        assert "Qdrant" in msg and "refused" in msg
        r = client.post("/v1/chat", json={"message": QUESTION, "stream": True})
        events = sse_events(r.text)
        assert events[-1][0] == "error"
        assert json.loads(events[-1][1])["error"]["code"] == "store_unavailable"
        m.setattr(store, "count", down)
        r = client.post("/v1/chat", json={"message": QUESTION, "stream": True})
        assert_error(r, 503, "store_unavailable")  # before the stream starts: plain JSON
    assert client.post("/v1/chat", json={"message": QUESTION}).status_code == 200


def test_server_mode_store_down_is_503(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, qdrant_url="http://127.0.0.1:9", qdrant_timeout=2)
    with TestClient(create_app(settings, embedder=FakeEmbedder())) as c:
        assert "store unreachable" in assert_error(c.get("/readyz"), 503, "not_ready")
        for path, body in [("/v1/chat", {"message": QUESTION}), ("/v1/search", {"query": "x"}),
                           ("/v1/chat", {"message": QUESTION, "stream": True})]:
            msg = assert_error(c.post(path, json=body), 503, "store_unavailable")
            assert "Qdrant" in msg
        assert_error(c.get("/v1/sources"), 503, "store_unavailable")


def test_locked_store_recovers_without_restart(settings: Settings) -> None:
    holder = Store.open(settings)  # the embedded store admits one client per folder
    try:
        app = create_app(settings, embedder=FakeEmbedder())
        with TestClient(app) as c:
            services: Services = app.state.services
            services.reopen_interval = 0  # retry on every request, not every 5 s
            assert "in use" in assert_error(c.post("/v1/chat", json={"message": "x"}), 503,
                                            "not_ready")
            holder.close()
            msg = assert_error(c.post("/v1/chat", json={"message": "x"}), 503, "not_ready")
            assert "index is empty" in msg  # reopened: now it is the (empty) index talking
            store = services.current_store()
            assert store is not None and services.bot.store is store
            assert c.get("/v1/sources").json() == {"sources": []}
    finally:
        holder.close()


def test_empty_index_and_model_loading(settings: Settings, memory_store: Store) -> None:
    with TestClient(create_app(settings, store=memory_store, embedder=FakeEmbedder())) as c:
        for body in ({"message": "x"}, {"message": "x", "stream": True}):
            assert "ingest" in assert_error(c.post("/v1/chat", json=body), 503, "not_ready")

    class Loading(FakeEmbedder):
        loaded = False

        def load(self) -> None:
            time.sleep(30)

    with TestClient(create_app(settings, store=memory_store, embedder=Loading())) as c:
        r = c.post("/v1/chat", json={"message": "x"})
        assert assert_error(r, 503, "not_ready") == "model loading"
        assert r.headers["retry-after"]


def test_one_bot_per_app(client: TestClient) -> None:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    bot = services.bot
    assert services.retriever is bot.retriever
    client.post("/v1/chat", json={"message": QUESTION})
    client.post("/v1/search", json={"query": QUESTION})
    assert services.bot is bot and bot._docs is not None  # its caches filled and kept


class SlowEmbedder(FakeEmbedder):
    """Blocks its thread like CPU-bound encoding would, and counts how many of its calls
    are in flight at once: the concurrency is observed, not inferred from a stopwatch."""

    delay = 0.4

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            return super().embed_query(text)
        finally:
            with self._lock:
                self.in_flight -= 1


@pytest.mark.anyio
async def test_concurrent_requests_do_not_block_the_loop(
    indexed: tuple[Settings, Store],
) -> None:
    settings, store = indexed
    slow = SlowEmbedder()
    app = create_app(settings, store=store, embedder=slow)
    async with app.router.lifespan_context(app):  # ASGITransport runs no lifespan itself
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            results: list[httpx.Response] = []
            health_during: list[int] = []

            async def ask(body: dict[str, Any]) -> None:
                results.append(await c.post("/v1/chat", json=body))

            async def health() -> None:
                while slow.in_flight == 0:  # wait until answers are being worked on
                    await anyio.sleep(0.01)
                assert (await c.get("/healthz")).status_code == 200
                health_during.append(slow.in_flight)

            async with anyio.create_task_group() as tg:
                for i in range(8):
                    tg.start_soon(ask, {"message": QUESTIONS[i % 4], "stream": i % 2 == 1})
                tg.start_soon(health)
    assert [r.status_code for r in results] == [200] * 8
    assert all("event: done" in r.text or "answer" in r.json() for r in results)
    assert health_during[0] > 0  # answered while encodings were still in flight
    assert slow.most_in_flight > 1  # served side by side (in threads), not one by one


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
