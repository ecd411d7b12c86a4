"""The engines must agree: the same corpus and questions give the same results on each.

- Qdrant's engine in-process (the embedded default, rag.store_edge) and qdrant-client's
  local mode (a separate Python implementation of Qdrant's semantics): always run.
- qdrant-client's local mode and a real Qdrant server: no Qdrant server runs on the
  development machines, so these run only when CAREERBOT_TEST_QDRANT_URL points at one
  (e.g. `docker-compose up -d qdrant`, then
  CAREERBOT_TEST_QDRANT_URL=http://localhost:6333 make test).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.conftest import CORPUS, tied

URL = os.environ.get("CAREERBOT_TEST_QDRANT_URL", "")
pytestmark = pytest.mark.integration
needs_server = pytest.mark.skipif(not URL,
                                  reason="set CAREERBOT_TEST_QDRANT_URL to a Qdrant server")

QUERIES = [
    "How long does it take to become a machine learning engineer?",
    "Is a PhD required?",
    "What's the starting pay for a junior ML engineer?",
    "Which deployment tools matter most?",
    "Which mistakes do beginners make most often?",
    "python or r",
    "a portfolio project to begin with, any suggestion",
    "interview tips please",
    "how much math do I really need",
]



class Remembering:
    """The real model, each text embedded once."""

    def __init__(self, inner) -> None:
        self.inner, self.seen = inner, {}

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def embed_documents(self, texts):
        todo = [t for t in dict.fromkeys(texts) if t not in self.seen]
        if todo:
            self.seen.update(zip(todo, self.inner.embed_documents(todo), strict=True))
        return [self.seen[t] for t in texts]


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory):
    """The corpus ingested twice with the real model: into the embedded engine and into
    qdrant-client's local mode in memory."""
    from qdrant_client import QdrantClient

    from ingest.pipeline import run_ingest
    from rag.embed import SentenceTransformerEmbedder
    from rag.settings import Settings
    from rag.store import Store
    from rag.store_qdrant import QdrantStore

    settings = Settings(data_dir=tmp_path_factory.mktemp("edge"), corpus_dir=CORPUS)
    emb = Remembering(SentenceTransformerEmbedder(settings.resolved_embed_model()))
    edge, memory = Store.open(settings), QdrantStore(QdrantClient(":memory:"), "careerbot")
    run_ingest(settings, edge, emb)
    run_ingest(settings, memory, emb)  # the same vectors, not embedded twice
    yield edge, memory, emb
    edge.close()
    memory.close()


def test_engines_hold_the_same_index(engines) -> None:
    edge, memory, _ = engines
    assert edge.count() == memory.count() > 0
    assert sorted(edge.chunk_spans()) == sorted(memory.chunk_spans())
    assert [d["fingerprint"] for d in edge.list_docs()] == \
        [d["fingerprint"] for d in memory.list_docs()]


def test_engines_rank_alike(engines) -> None:
    """Both scan exactly at this size (the dense HNSW graph is built only past Qdrant's
    indexing threshold), so each retriever's ranking is the same, scores to float
    precision, equal scores aside; and the fusion (rag.store.fuse, which puts tied
    candidates in a fixed order first) is then the same, tied candidates included."""
    from rag import sparse

    edge, memory, emb = engines
    for q in QUERIES:
        dense, terms = emb.embed_query(q), sparse.query_vector(q)
        a = edge.ranked_lists(dense, terms, depth=40)
        b = memory.ranked_lists(dense, terms, depth=40)
        for name in ("dense", "sparse", "pieces"):
            assert tied(a[name]) == tied(b[name]), (q, name)
            assert [x for _, x in a[name]] == pytest.approx([x for _, x in b[name]],
                                                            abs=1e-4), (q, name)
        assert [i for i, _ in a["hybrid"][:10]] == [i for i, _ in b["hybrid"][:10]], q
        assert [x for _, x in a["hybrid"]] == pytest.approx([x for _, x in b["hybrid"]]), q


def test_engines_answer_alike(engines) -> None:
    """The same hits and the same answer on either engine, for every question: a one-word
    query ("python or r") puts exactly tied candidates in a list, which the embedded
    engine's own fusion ordered differently from one process to the next."""
    from rag.chat import CareerBot

    edge, memory, emb = engines
    for q in QUERIES:
        bots = CareerBot(edge, emb), CareerBot(memory, emb)
        hits = [[h.chunk_id for h in bot.retrieve(q)[1]] for bot in bots]
        assert hits[0] == hits[1], q
        a, b = bots[0].ask(q), bots[1].ask(q)
        assert (a.answer, a.direct, a.abstained) == (b.answer, b.direct, b.abstained), q
        assert [(c.doc_id, c.start, c.end) for c in a.citations] == \
            [(c.doc_id, c.start, c.end) for c in b.citations], q


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory):
    from ingest.pipeline import run_ingest
    from rag.embed import SentenceTransformerEmbedder
    from rag.settings import Settings
    from rag.store import Store

    name = f"congruence_{uuid.uuid4().hex[:8]}"
    local_s = Settings(data_dir=tmp_path_factory.mktemp("local"), corpus_dir=CORPUS)
    server_s = Settings(data_dir=tmp_path_factory.mktemp("server"), corpus_dir=CORPUS,
                        qdrant_url=URL, collection=name)
    emb = SentenceTransformerEmbedder(local_s.resolved_embed_model())
    local, server = Store.open(local_s), Store.open(server_s)
    run_ingest(local_s, local, emb)
    run_ingest(server_s, server, emb)
    yield local, server, emb, server_s
    for n in [*server.logical, *server.aliases().values()]:
        if server.client.collection_exists(n) and n.startswith(name):
            server.client.delete_collection(n)
    local.close()
    server.close()


@needs_server
def test_same_documents_and_chunks(pair) -> None:
    local, server, *_ = pair
    assert local.count() == server.count() > 0
    assert [d["doc_id"] for d in local.list_docs()] == [d["doc_id"] for d in server.list_docs()]


@needs_server
@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_same_rankings(pair, mode: str) -> None:
    from rag.retrieve import QdrantRetriever

    local, server, emb, _ = pair
    for q in QUERIES:
        a = QdrantRetriever(local, emb).search(q, top_k=5, mode=mode)  # type: ignore[arg-type]
        b = QdrantRetriever(server, emb).search(q, top_k=5, mode=mode)  # type: ignore[arg-type]
        # HNSW is approximate and ties may order differently: the top hit and the set agree
        assert a[0].chunk_id == b[0].chunk_id, q
        assert len({h.chunk_id for h in a} & {h.chunk_id for h in b}) >= 4, q


@needs_server
def test_same_answers(pair) -> None:
    from rag.chat import CareerBot

    local, server, emb, _ = pair
    for q in QUERIES:
        a, b = CareerBot(local, emb).ask(q), CareerBot(server, emb).ask(q)
        assert a.abstained == b.abstained and a.intent == b.intent
        assert [c.quote for c in a.citations][:1] == [c.quote for c in b.citations][:1]


@needs_server
def test_rebuild_on_server_switches_aliases(pair, tmp_path: Path) -> None:
    from ingest.pipeline import rebuild

    _, server, emb, settings = pair
    before = server.aliases()
    rebuild(settings, server, emb)
    after = server.aliases()
    assert {k for k in after if k.startswith(settings.collection)} == set(server.logical)
    assert all(after[k] != before.get(k) for k in server.logical)
    assert server.count() > 0
