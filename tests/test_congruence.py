"""Local mode and a real Qdrant server must agree.

No Qdrant server runs on the development machines, so this suite runs only when
CAREERBOT_TEST_QDRANT_URL points at one (e.g. `docker-compose up -d qdrant`, then
CAREERBOT_TEST_QDRANT_URL=http://localhost:6333 make test).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.conftest import CORPUS

URL = os.environ.get("CAREERBOT_TEST_QDRANT_URL", "")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not URL, reason="set CAREERBOT_TEST_QDRANT_URL to a Qdrant server"),
]

QUERIES = [
    "How long does it take to become a machine learning engineer?",
    "Is a PhD required?",
    "What's the starting pay for a junior ML engineer?",
    "Which deployment tools matter most?",
    "What are the biggest mistakes beginners make?",
]


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


def test_same_documents_and_chunks(pair) -> None:
    local, server, *_ = pair
    assert local.count() == server.count() > 0
    assert [d["doc_id"] for d in local.list_docs()] == [d["doc_id"] for d in server.list_docs()]


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


def test_same_answers(pair) -> None:
    from rag.chat import CareerBot

    local, server, emb, _ = pair
    for q in QUERIES:
        a, b = CareerBot(local, emb).ask(q), CareerBot(server, emb).ask(q)
        assert a.abstained == b.abstained and a.intent == b.intent
        assert [c.quote for c in a.citations][:1] == [c.quote for c in b.citations][:1]


def test_rebuild_on_server_switches_aliases(pair, tmp_path: Path) -> None:
    from ingest.pipeline import rebuild

    _, server, emb, settings = pair
    before = server.aliases()
    rebuild(settings, server, emb)
    after = server.aliases()
    assert {k for k in after if k.startswith(settings.collection)} == set(server.logical)
    assert all(after[k] != before.get(k) for k in server.logical)
    assert server.count() > 0
