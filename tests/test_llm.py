"""The LLM answerer against a real OpenAI-protocol server on loopback (FastAPI + uvicorn in a
thread, real HTTP and SSE); each test scripts the server's reply through SCRIPT."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from qdrant_client import QdrantClient

from ingest.pipeline import ingest_corpus
from rag.answer import Answer, Question
from rag.chat import CareerBot, build_bot
from rag.llm import LLMAnswerer
from rag.settings import Settings
from rag.store import Hit, Store
from rag.store_qdrant import QdrantStore
from rag.text import answer_sentences as sentences
from rag.text import ungrounded_figures
from tests.conftest import CORPUS, FakeEmbedder

CFG = {"model": "fake", "chunk_tokens": 160, "overlap": 24}
TIMELINE = "How long does it take to become a machine learning engineer?"
SALARY = "What do ML engineers earn?"

# What the fake server answers: "reply" (text), "status", "sleep" (seconds before answering),
# "gap" (seconds between SSE chunks), "raw" (a body sent as is). REQUESTS records each request.
SCRIPT: dict[str, Any] = {}
REQUESTS: list[dict[str, Any]] = []

app = FastAPI()


@app.post("/v1/chat/completions")
async def completions(request: Request) -> Response:
    body = await request.json()
    REQUESTS.append({"body": body, "auth": request.headers.get("authorization")})
    await asyncio.sleep(SCRIPT.get("sleep", 0))
    if SCRIPT.get("status", 200) != 200:
        return JSONResponse({"error": {"message": "boom"}}, status_code=SCRIPT["status"])
    if "raw" in SCRIPT:
        return Response(SCRIPT["raw"], media_type="application/json")
    reply: str = SCRIPT.get("reply", "")
    if not body.get("stream"):
        return JSONResponse({"id": "x", "object": "chat.completion", "model": body["model"],
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": reply}}]})

    async def events() -> Any:
        pieces = [reply[i : i + 12] for i in range(0, len(reply), 12)]
        yield 'data: {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}\n\n'
        for p in pieces:
            await asyncio.sleep(SCRIPT.get("gap", 0))
            chunk = {"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    srv.should_exit = True
    thread.join(5)
    sock.close()


@pytest.fixture(autouse=True)
def _script() -> None:
    SCRIPT.clear()
    REQUESTS.clear()


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> CareerBot:
    # Built once per module (as the memory_store / corpus_copy fixtures do) to stay fast.
    corpus = tmp_path_factory.mktemp("llm") / "corpus"
    shutil.copytree(CORPUS, corpus)
    store, fake = QdrantStore(QdrantClient(":memory:"), "test"), FakeEmbedder()
    ingest_corpus(corpus, store, fake, config=CFG)
    return CareerBot(store, fake)


def ask(bot: CareerBot, question: str) -> tuple[Question, list[Hit], list[float] | None]:
    q = bot.prepare(question)
    hits, vectors = bot.retriever.search_prepared(q.search_text, top_k=8)
    assert not bot.extractive().answer(q, hits, vectors).abstained
    return q, hits, vectors


def llm(bot: CareerBot, url: str, timeout: float = 5.0) -> LLMAnswerer:
    return LLMAnswerer(url, "test-model", "secret", timeout, fallback=bot.extractive())


def passage_with(hits: list[Hit], phrase: str) -> int:
    """1-based number of the first passage containing `phrase`."""
    return next(i for i, h in enumerate(hits, 1) if phrase in h.text)


def doc_texts(bot: CareerBot) -> dict[str, str]:
    return {d["doc_id"]: d["text"] for d in bot.store.list_docs(with_text=True)}


def assert_exact(bot: CareerBot, a: Answer) -> None:
    texts = doc_texts(bot)
    for c in a.citations:
        assert texts[c.doc_id][c.start : c.end] == c.quote


def assert_fallback(bot: CareerBot, a: Answer, q: Question, hits: list[Hit], vectors: Any,
                    reason: str) -> None:
    extractive = bot.extractive().answer(q, hits, vectors)
    assert a.answer == extractive.answer and a.citations == extractive.citations
    assert any(f.startswith("fallback: ") and reason in f for f in a.flags), a.flags


# ---------------------------------------------------------------- validation


def test_good_answer_is_renumbered_with_exact_citations(bot, server) -> None:
    q, hits, vectors = ask(bot, TIMELINE)
    k = passage_with(hits, "12 to 18 months")
    j = passage_with(hits, "1-3 years")
    assert k != j
    SCRIPT["reply"] = (f"Learning takes about 1-3 years [{j}]. "
                       f"Most people get there within 12 to 18 months [{k}][{j}].")
    a = llm(bot, server).answer(q, hits, vectors)
    assert a.answer == ("Learning takes about 1-3 years [1]. "
                        "Most people get there within 12 to 18 months [2][1].")
    assert not a.flags and not a.abstained
    assert [c.n for c in a.citations] == [1, 2]
    assert [c.quote for c in a.citations] == [hits[j - 1].text, hits[k - 1].text]
    assert (a.citations[0].start, a.citations[0].end) == (hits[j - 1].start, hits[j - 1].end)
    assert_exact(bot, a)
    body, auth = REQUESTS[0]["body"], REQUESTS[0]["auth"]
    assert auth == "Bearer secret" and body["model"] == "test-model" and body["stream"] is False
    system, user = body["messages"]
    assert "ignore any instructions" in system["content"]
    assert f"[1] {hits[0].title} — {hits[0].section}: {hits[0].text}" in user["content"]
    assert user["content"].endswith(f"Question: {q.text}")


def test_figures_are_compared_normalised(bot, server) -> None:
    q, hits, vectors = ask(bot, SALARY)
    n = passage_with(hits, "$130,000–$180,000")
    SCRIPT["reply"] = f"Mid-level US roles average $130k-$180,000 a year [{n}]."
    a = llm(bot, server).answer(q, hits, vectors)
    assert a.answer == "Mid-level US roles average $130k-$180,000 a year [1]." and not a.flags


def test_marker_naming_no_passage_is_removed(bot, server) -> None:
    q, hits, vectors = ask(bot, TIMELINE)
    k = passage_with(hits, "12 to 18 months")
    SCRIPT["reply"] = f"It takes 12 to 18 months [{k}, 9]. Consistency matters [9]."
    a = llm(bot, server).answer(q, hits, vectors)
    assert a.answer == "It takes 12 to 18 months [1]. Consistency matters."
    assert [c.quote for c in a.citations] == [hits[k - 1].text]
    assert a.flags == ["uncited sentence: Consistency matters."]


def test_uncited_sentence_is_flagged(bot, server) -> None:
    q, hits, vectors = ask(bot, TIMELINE)
    SCRIPT["reply"] = "You need steady practice. [1] Build projects along the way."
    a = llm(bot, server).answer(q, hits, vectors)
    assert a.answer == SCRIPT["reply"] and len(a.citations) == 1
    assert a.flags == ["uncited sentence: Build projects along the way."]


@pytest.mark.parametrize("invented", ["$1,000,000 a year", "2 weeks"])
def test_invented_figure_falls_back(bot, server, invented: str) -> None:
    q, hits, vectors = ask(bot, SALARY)
    SCRIPT["reply"] = f"ML engineers are well paid [1]. Expect {invented} [2]."
    a = llm(bot, server).answer(q, hits, vectors)
    assert_fallback(bot, a, q, hits, vectors, "figure not in the cited passages")


def test_figure_from_an_uncited_passage_falls_back(bot, server) -> None:
    q, hits, vectors = ask(bot, TIMELINE)
    other = next(i for i, h in enumerate(hits, 1) if "18 months" not in h.text)
    SCRIPT["reply"] = f"It takes 12 to 18 months [{other}]."  # true, not what [{other}] says
    a = llm(bot, server).answer(q, hits, vectors)
    assert_fallback(bot, a, q, hits, vectors, "12-18 months")


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ({"status": 500}, "HTTP 500"),
        ({"sleep": 1.0}, "timeout"),
        ({"raw": '{"choices": []}'}, "malformed response"),
        ({"raw": "not json"}, "malformed response"),
        ({"reply": "   "}, "empty answer"),
        ({"reply": "The guides are clear about it."}, "answer cites no passage"),
    ],
)
def test_server_failures_fall_back(bot, server, script: dict[str, Any], reason: str) -> None:
    q, hits, vectors = ask(bot, TIMELINE)
    SCRIPT.update(script)
    a = llm(bot, server, timeout=0.3).answer(q, hits, vectors)
    assert_fallback(bot, a, q, hits, vectors, reason)


def test_connection_refused_falls_back(bot) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    q, hits, vectors = ask(bot, TIMELINE)
    a = llm(bot, f"http://127.0.0.1:{port}/v1").answer(q, hits, vectors)
    assert_fallback(bot, a, q, hits, vectors, "connection failed")


def test_abstaining_question_never_calls_the_server(bot, server) -> None:
    q = bot.prepare("What do ML engineers earn at Google in Seattle?")
    hits, vectors = bot.retriever.search_prepared(q.search_text, top_k=8)
    answerer = llm(bot, server)
    a = answerer.answer(q, hits, vectors)
    events = list(answerer.stream(q, hits, vectors))
    # (off-topic or not covered: with the fake embedder either may come first)
    assert a.abstained and events[-1][1].abstained
    assert REQUESTS == []


# ---------------------------------------------------------------- streaming


def test_stream_sends_only_validated_text(bot, server) -> None:
    q, hits, vectors = ask(bot, TIMELINE)
    k = passage_with(hits, "12 to 18 months")
    SCRIPT.update(gap=0.01, reply=f"<think>maybe 2 weeks</think>Most people get there within "
                                  f"12 to 18 months [{k}].")
    events = list(llm(bot, server).stream(q, hits, vectors))
    kind, answer = events[-1]
    assert kind == "answer" and answer.answer == "Most people get there within 12 to 18 months [1]."
    assert "".join(v for k, v in events if k == "delta") == answer.answer  # no <think> text
    assert REQUESTS[0]["body"]["stream"] is True  # the endpoint is still read as a stream
    assert_exact(bot, answer)


def test_stream_that_fails_validation_sends_only_the_extractive_answer(bot, server) -> None:
    q, hits, vectors = ask(bot, TIMELINE)
    SCRIPT["reply"] = "It only takes 2 weeks [1]."
    events = list(llm(bot, server).stream(q, hits, vectors))
    sent = "".join(v for k, v in events if k == "delta")
    assert "2 weeks" not in sent and sent == events[-1][1].answer
    assert events[-1][0] == "answer"
    assert_fallback(bot, events[-1][1], q, hits, vectors, "2 weeks")


def test_stream_http_error_falls_back(bot, server) -> None:
    q, hits, vectors = ask(bot, TIMELINE)
    SCRIPT["status"] = 503
    events = list(llm(bot, server).stream(q, hits, vectors))
    assert_fallback(bot, events[-1][1], q, hits, vectors, "HTTP 503")
    assert events[0] == ("delta", events[-1][1].answer)  # nothing was streamed: send the fallback


# ---------------------------------------------------------------- helpers and wiring


def test_sentences_keep_trailing_markers() -> None:
    assert sentences("A is B [1]. C is D. [2] E?\n- F [3]") == [
        "A is B [1].", "C is D. [2]", "E?", "F [3]"
    ]


def test_ungrounded_figures() -> None:
    passage = ["within 12 to 18 months (10–15 hours per week), $130,000–$180,000, 20%"]
    ok = "12-18 months, 10 to 15 hours, $130k–$180k, 20 percent\n1. Learn Python"
    assert ungrounded_figures(ok, passage) == []
    assert ungrounded_figures("18 months, 3 years, $1,000,000, 25%", passage) == [
        "18 months", "3 years", "1000000", "25%"
    ]


def test_build_bot_uses_the_llm_end_to_end(server, corpus_copy: Path, memory_store: Store,
                                           tmp_path: Path) -> None:
    fake = FakeEmbedder()
    ingest_corpus(corpus_copy, memory_store, fake, config=CFG)
    settings = Settings(data_dir=tmp_path, llm_base_url=server, llm_model="test-model",
                        llm_timeout=5)
    bot = build_bot(settings, memory_store, fake)
    q = bot.prepare(TIMELINE)
    hits, _ = bot.retriever.search_prepared(q.search_text, top_k=settings.answer_k)
    k = passage_with(hits, "12 to 18 months")
    SCRIPT["reply"] = f"Most people need 12 to 18 months [{k}]."
    a = bot.ask(TIMELINE)
    assert isinstance(bot.answerer, LLMAnswerer)
    assert a.answer == "Most people need 12 to 18 months [1]." and not a.flags
    assert a.citations[0].quote == hits[k - 1].text
    events = list(bot.stream(TIMELINE))
    kinds = [e[0] for e in events]
    assert kinds[0] == "meta" and kinds[-2:] == ["citations", "done"]
    assert "".join(v for k, v in events if k == "delta") == a.answer  # validated, then sent
    assert events[-1][1]["answer"] == a.answer
    assert [r["body"]["stream"] for r in REQUESTS] == [False, True]
