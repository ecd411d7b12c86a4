"""Schemathesis against /openapi.json: generated requests (valid and invalid) to every
operation; none may answer with a server error. Bounded to stay well under a minute."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from qdrant_client import QdrantClient

from api.app import create_app
from ingest.pipeline import ingest_corpus
from rag.settings import Settings
from rag.store_qdrant import QdrantStore
from tests.conftest import CORPUS, FakeEmbedder

MAX_EXAMPLES = 30  # per operation

# The schema is read when the module is collected, so the app exists then; its store is
# filled by the fixture below, only when the test runs. No rate limit: the fuzzer should
# reach the handlers, not stop at 429.
_tmp = Path(tempfile.mkdtemp(prefix="careerbot-fuzz-"))
_store = QdrantStore(QdrantClient(":memory:"), "fuzz")
_app = create_app(Settings(data_dir=_tmp / "data", corpus_dir=CORPUS, collection="fuzz",
                           rate_limit_per_minute=0), store=_store, embedder=FakeEmbedder())
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@pytest.fixture(scope="module", autouse=True)
def _indexed() -> object:
    corpus = _tmp / "corpus"
    shutil.copytree(CORPUS, corpus, dirs_exist_ok=True)
    ingest_corpus(corpus, _store, FakeEmbedder(), config={"model": "fake"})
    yield None
    shutil.rmtree(_tmp, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    )
    assert "Traceback" not in response.text
