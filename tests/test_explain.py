"""The retrieval inspector: explained searches return what plain searches return, each rank
is the chunk's place in what that mode returns alone, and the answer's explanation names
the candidates it quoted. Against the real corpus embedded by FakeEmbedder, in memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import cli
from api.app import create_app
from ingest.pipeline import ingest_corpus
from rag.chat import CareerBot
from rag.explain import compare_modes, explain_answer, explain_search, retrieval_record
from rag.retrieve import QdrantRetriever
from rag.settings import Settings
from rag.store import MODES, Store
from tests.conftest import FakeEmbedder
from tests.test_api import assert_error, index_corpus
from tests.test_cli import env as cli_env
from tests.test_cli import fake_model as autouse_fake_model

fake_model = autouse_fake_model
env = cli_env

# Our own questions (none of the evaluation set's).
QUERIES = [
    "is a bootcamp certificate worth anything to employers",
    "what does a junior machine learning engineer do all day",
    "learn pytorch or tensorflow first",
    "how many hours a week should I study",
    "portfolio projects that get interviews",
]
STOP_WORDS_ONLY = "what is the of and it"


def tie_groups(ranked: list[tuple[str, float]]) -> list[set[str]]:
    """Consecutive ids whose scores are equal but for float noise (embedded Qdrant's scores
    of one query differ in the last digits from call to call, so equal scores may swap)."""
    groups: list[set[str]] = []
    last: float | None = None
    for cid, score in ranked:
        if last is None or abs(score - last) > 1e-6:
            groups.append(set())
        groups[-1].add(cid)
        last = score
    return groups


def assert_same_ranking(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> None:
    """The same ranking, up to the order inside a group of equal scores (the last group
    may be cut by the list's length)."""
    assert [s for _, s in a] == pytest.approx([s for _, s in b], abs=1e-6)
    ga, gb = tie_groups(a), tie_groups(b)
    assert ga[:-1] == gb[:-1]


def rank_fits(ranked: list[tuple[str, float]], cid: str, rank: int | None) -> bool:
    """Whether `rank` is `cid`'s place in `ranked` (any place among equal scores)."""
    ids = [c for c, _ in ranked]
    if cid not in ids:
        return rank is None
    if rank is None:
        return False
    own = ranked[ids.index(cid)][1]
    return abs(ranked[rank - 1][1] - own) <= 1e-6


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Store]:
    return index_corpus(tmp_path_factory.mktemp("explain"))


@pytest.fixture(scope="module")
def retriever(indexed: tuple[Settings, Store]) -> QdrantRetriever:
    return QdrantRetriever(indexed[1], FakeEmbedder())


@pytest.mark.parametrize("mode", MODES)
def test_explained_search_returns_the_plain_search(retriever: QdrantRetriever,
                                                   mode: Any) -> None:
    some = sorted({d["doc_id"] for d in retriever.store.list_docs()})[:2]
    for query in [*QUERIES, STOP_WORDS_ONLY]:
        for sources in (None, some):
            plain = retriever.search(query, top_k=6, mode=mode, sources=sources)
            found = explain_search(retriever, query, top_k=6, mode=mode, sources=sources)
            assert_same_ranking([(h.chunk_id, h.score) for h in found.hits],
                                [(h.chunk_id, h.score) for h in plain])
            by_id = {h.chunk_id: h for h in plain}
            for h in found.hits:  # payloads too
                if h.chunk_id in by_id:
                    assert (h.text, h.start, h.end, h.blocks) == (
                        by_id[h.chunk_id].text, by_id[h.chunk_id].start, by_id[h.chunk_id].end,
                        by_id[h.chunk_id].blocks)


def test_ranks_agree_with_each_mode_alone(retriever: QdrantRetriever) -> None:
    for query in QUERIES:
        found = explain_search(retriever, query, top_k=8)
        alone = {mode: [(h.chunk_id, h.score) for h in retriever.search(
            query, top_k=found.depth, mode=mode)] for mode in MODES}
        assert found.hits and len(found.hits) == len(found.ranks)
        for i, (h, r) in enumerate(zip(found.hits, found.ranks, strict=True), 1):
            assert r.fused_rank == i and rank_fits(alone["hybrid"], h.chunk_id, i)
            for mode, rank in (("dense", r.dense_rank), ("sparse", r.sparse_rank)):
                assert rank_fits(alone[mode], h.chunk_id, rank), (query, mode, rank)
            # every fused chunk came from at least one of the lists fusion was given
            assert any(x is not None for x in (r.dense_rank, r.sparse_rank, r.pieces_rank))
        # a chunk sparse search did not return has no sparse score either
        assert all((r.sparse_rank is None) == (r.sparse_score is None) for r in found.ranks)


def test_scores_are_those_of_each_mode_alone(retriever: QdrantRetriever) -> None:
    query = QUERIES[0]
    found = explain_search(retriever, query, top_k=5)
    dense = {h.chunk_id: h.score for h in retriever.search(query, top_k=found.depth,
                                                           mode="dense")}
    for h, r in zip(found.hits, found.ranks, strict=True):
        if r.dense_rank is not None:
            assert r.dense_score == pytest.approx(dense[h.chunk_id])
        assert r.fused_score == pytest.approx(h.score)


def test_a_query_of_stop_words_is_dense_search(retriever: QdrantRetriever) -> None:
    found = explain_search(retriever, STOP_WORDS_ONLY, top_k=5)
    assert found.hits and all(r.sparse_rank is None and r.matched_terms == ()
                              for r in found.ranks)
    assert [r.dense_rank for r in found.ranks] == [1, 2, 3, 4, 5]


def test_matched_terms_are_query_words_the_passage_holds(retriever: QdrantRetriever) -> None:
    found = explain_search(retriever, "Docker and Kubernetes skills", top_k=5, mode="sparse")
    assert found.query == "Docker and Kubernetes skills"
    for h, r in zip(found.hits, found.ranks, strict=True):
        assert r.matched_terms, h.chunk_id  # sparse search found it by a word
        text = f"{h.title} {h.section} {h.text}".lower()
        assert all(w in {"docker", "kubernetes", "skills"} for w in r.matched_terms)
        assert any(w.rstrip("s") in text for w in r.matched_terms)


def test_compare_modes_is_one_search_per_mode(retriever: QdrantRetriever) -> None:
    found = compare_modes(retriever, QUERIES[2], top_k=4)
    assert set(found) == {"hybrid", "dense", "sparse"}
    for mode, view in found.items():
        assert_same_ranking(
            [(h.chunk_id, h.score) for h in view.hits],
            [(h.chunk_id, h.score) for h in retriever.search(QUERIES[2], top_k=4,
                                                             mode=mode)])  # type: ignore[arg-type]


# ---------------------------------------------------------------- answers


@pytest.fixture
def edge_bot(settings: Settings) -> Iterator[CareerBot]:
    """The corpus in the default engine. qdrant-client's local mode re-normalises its stored
    vectors in place at every cosine search (`qdrant_client.local.distances`), so there a
    similarity moves in its last float32 bit from one question to the next and two nearly
    tied pieces can swap ranks: two runs of one question need not agree exactly."""
    store = Store.open(settings)
    ingest_corpus(settings.corpus_dir, store, FakeEmbedder(), config={"model": "fake"})
    yield CareerBot(store, FakeEmbedder())
    store.close()


def test_an_explained_follow_up_is_the_answer(edge_bot: CareerBot) -> None:
    """A follow-up's pieces are scored with its own vector (`ExtractiveAnswerer.score`);
    explaining it must score them the same way, or it explains another answer."""
    history = [{"role": "user", "content": QUERIES[1]},
               {"role": "assistant", "content": edge_bot.ask(QUERIES[1]).answer}]
    question = "and which tools do they use for that"
    plain = edge_bot.ask(question, history)
    answer, report = explain_answer(edge_bot, question, history)
    assert (answer.answer, answer.citations) == (plain.answer, plain.citations)
    assert report["query"] != question  # searched with the conversation


def test_explained_answer_is_the_answer(edge_bot: CareerBot) -> None:
    bot = edge_bot
    for question in QUERIES[:3]:
        plain = bot.ask(question)
        answer, report = explain_answer(bot, question)
        assert (answer.answer, answer.citations) == (plain.answer, plain.citations)
        assert set(answer.timings_ms) == {"retrieve", "answer", "total"}
        assert report["answerer"] == "extractive" and report["retrieval"]
        scores = [c["score"] for c in report["candidates"]]
        assert scores == sorted(scores, reverse=True) and report["scored"] >= len(scores)
        cited = {n for c in report["candidates"] for n in c["cited_as"]}
        assert cited == {c.n for c in answer.citations}  # every citation's candidate shown
        for c in report["candidates"]:
            assert c["chosen"] == bool(c["cited_as"]) and len(c["why"]) == 4
            assert c["why"][0]["contribution"] >= c["why"][-1]["contribution"]
        if not answer.abstained:
            assert report["decision"] == "answered" and "first line quotes" in report["summary"]
            assert report["thresholds"]["keep"] <= report["thresholds"]["best_score"]
        json.dumps(report)  # JSON-ready


def test_explained_abstention_says_why(indexed: tuple[Settings, Store]) -> None:
    bot = CareerBot(indexed[1], FakeEmbedder())
    answer, report = explain_answer(bot, "What do ML engineers earn at Globex Corporation?")
    assert answer.abstained and report["decision"] in ("off_topic", "not_covered")
    assert report["summary"].startswith(("off topic", "not covered"))
    # each vector's floor and closest piece, as the answerer judged them
    t = report["thresholds"]
    floors = bot.extractive().offtopic_levels(bot.prepare(
        "What do ML engineers earn at Globex Corporation?"))
    assert (t["offtopic_floor"], t["own_offtopic_floor"]) == tuple(
        None if f is None else round(f, 4) for f in floors)
    assert t["nearest_piece"] is not None and t["own_nearest_piece"] is not None


def test_retrieval_record_places_each_citation(indexed: tuple[Settings, Store]) -> None:
    bot = CareerBot(indexed[1], FakeEmbedder())
    answer = bot.ask(QUERIES[1])
    cites = [c.__dict__ for c in answer.citations]
    rec = retrieval_record(bot, QUERIES[1], (), cites)
    assert [r["rank"] for r in rec["results"]] == list(range(1, len(rec["results"]) + 1))
    assert len(rec["results"]) == max(bot.top_k, bot.answer_k)
    assert [c["n"] for c in rec["cited"]] == [c["n"] for c in cites]
    # the answer quotes the passages it read: each citation is inside one of them
    assert all(c["rank"] is not None for c in rec["cited"])


# ---------------------------------------------------------------- API and CLI


@pytest.fixture
def client(indexed: tuple[Settings, Store]) -> Iterator[TestClient]:
    settings, store = indexed
    with TestClient(create_app(settings, store=store, embedder=FakeEmbedder())) as c:
        yield c


def test_search_explain_is_off_by_default(client: TestClient) -> None:
    plain = client.post("/v1/search", json={"query": QUERIES[0]}).json()
    assert set(plain) == {"results"} and all("explain" not in h for h in plain["results"])
    body = client.post("/v1/search", json={"query": QUERIES[0], "explain": True}).json()
    assert_same_ranking([(h["chunk_id"], h["score"]) for h in body["results"]],
                        [(h["chunk_id"], h["score"]) for h in plain["results"]])
    # what was searched: here the speller turned "bootcamp" into the guides' "bootcamps"
    assert body["explain"] == {"query": QUERIES[0].replace("bootcamp", "bootcamps"),
                               "mode": "hybrid", "depth": 40}
    keys = {"dense_rank", "dense_score", "sparse_rank", "sparse_score", "fused_rank",
            "matched_terms", "fused_score", "pieces_rank", "pieces_score"}
    assert all(set(h["explain"]) == keys for h in body["results"])


@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_search_explain_ranks_match_the_mode_alone_over_http(client: TestClient,
                                                             mode: str) -> None:
    body = client.post("/v1/search", json={"query": QUERIES[3], "explain": True,
                                           "mode": mode, "top_k": 5}).json()
    alone = client.post("/v1/search", json={"query": QUERIES[3], "mode": mode,
                                            "top_k": 20}).json()["results"]
    ids = [h["chunk_id"] for h in alone]
    for i, h in enumerate(body["results"], 1):
        assert h["explain"][f"{mode}_rank"] == i == ids.index(h["chunk_id"]) + 1


def test_search_explain_validation(client: TestClient) -> None:
    r = client.post("/v1/search", json={"query": "x", "explain": "very"})
    assert "explain" in assert_error(r, 422, "invalid_request")


def test_chat_explain(client: TestClient) -> None:
    plain = client.post("/v1/chat", json={"message": QUERIES[4]}).json()
    assert "explain" not in plain
    body = client.post("/v1/chat", json={"message": QUERIES[4], "explain": True}).json()
    assert body["answer"] == plain["answer"]
    assert [c["quote"] for c in body["citations"]] == [c["quote"] for c in plain["citations"]]
    ex = body["explain"]
    assert ex["decision"] == "answered" and ex["candidates"] and ex["retrieval"]
    assert {c["n"] for c in body["citations"]} == {
        n for c in ex["candidates"] for n in c["cited_as"]}
    assert all(c["why"] and "contribution" in c["why"][0] for c in ex["candidates"])


def test_chat_explain_streams(client: TestClient) -> None:
    with client.stream("POST", "/v1/chat", json={"message": QUERIES[4], "explain": True,
                                                 "stream": True}) as r:
        text = "".join(r.iter_text())
    events = [line.split(": ", 1)[1] for line in text.splitlines()
              if line.startswith("event: ")]
    assert events[0] == "meta" and events[-1] == "done" and "citations" in events
    done = json.loads(text.rsplit("data: ", 1)[1].splitlines()[0])
    assert done["explain"]["candidates"] and done["answer"]


def test_cli_search_explain(env: dict[str, str]) -> None:
    assert CliRunner().invoke(cli.app, ["ingest", "-q"], env=env).exit_code == 0
    res = CliRunner().invoke(cli.app, ["search", QUERIES[2], "--explain", "--json"], env=env)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["explain"]["mode"] == "hybrid" and len(data["results"]) == 5
    assert all(h["explain"]["fused_rank"] == i for i, h in enumerate(data["results"], 1))
    plain = json.loads(CliRunner().invoke(cli.app, ["search", QUERIES[2], "--json"],
                                          env=env).stdout)
    assert_same_ranking([(h["chunk_id"], h["score"]) for h in data["results"]],
                        [(h["chunk_id"], h["score"]) for h in plain["results"]])
    assert all("explain" not in h for h in plain["results"])
    res = CliRunner().invoke(cli.app, ["search", QUERIES[2], "--explain", "-k", "2"], env=env)
    assert res.exit_code == 0 and res.stdout.startswith("searched: ")
    assert res.stdout.count("fused #") == 2 and "matched: " in res.stdout

