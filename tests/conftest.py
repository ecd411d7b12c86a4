"""Shared fixtures: a deterministic fake embedder and in-memory stores."""

from __future__ import annotations

import hashlib
import math
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from rag.settings import Settings
from rag.store import Store
from rag.store_qdrant import QdrantStore

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"


class FakeEmbedder:
    """Hashes words into a small normalised vector: deterministic, instant, no model.

    Texts sharing words get similar vectors, so retrieval behaves sensibly in unit tests.
    Tokens are whitespace words plus the two special tokens a BERT model adds.
    """

    dim = 64
    max_tokens = 256

    def __init__(self) -> None:
        self.calls = 0
        self.embedded = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2

    def _vec(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        for w in re.findall(r"[a-z0-9]+", text.lower()):
            h = int.from_bytes(hashlib.md5(w.encode()).digest()[:4], "big")
            v[h % self.dim] += 1.0 if (h >> 8) % 2 else -1.0
        n = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / n for x in v]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        self.embedded += len(texts)
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(autouse=True)
def _no_caller_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the caller's CAREERBOT_* settings (an API key, an LLM endpoint or a
    data dir of the person running them would change what is tested). Test switches such as
    CAREERBOT_TEST_QDRANT_URL are not settings and stay."""
    for field in Settings.model_fields:
        monkeypatch.delenv(f"CAREERBOT_{field.upper()}", raising=False)


@pytest.fixture
def memory_store() -> Store:
    return QdrantStore(QdrantClient(":memory:"), "test")


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "corpus"
    shutil.copytree(CORPUS, dst)
    return dst


@pytest.fixture
def settings(tmp_path: Path, corpus_copy: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", corpus_dir=corpus_copy, collection="test")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(data_dir: Path, corpus_dir: Path = CORPUS, timeout: float = 180,
                   extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """`careerbot serve` in a subprocess (real model, embedded store), yielding its base
    URL once /readyz answers 200; stopped with SIGINT like a user's Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    env = {**os.environ, "CAREERBOT_DATA_DIR": str(data_dir),
           "CAREERBOT_CORPUS_DIR": str(corpus_dir), "PYTHONPATH": str(ROOT), **(extra_env or {})}
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"serve-{port}.log"
    with log_path.open("w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "api", "serve", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.5)
            yield base
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def tied(ranked: Sequence[tuple[str, float]]) -> list[frozenset[str]]:
    """Ids grouped by equal score (to 4 decimals), best first: rankings compared with ties
    aside (tied candidates may come in either order). The last group, which a cut-off may
    split differently, is left out."""
    groups: dict[float, set[str]] = {}
    for i, x in ranked:
        groups.setdefault(round(x, 4), set()).add(i)
    return [frozenset(groups[k]) for k in sorted(groups, reverse=True)][:-1]
