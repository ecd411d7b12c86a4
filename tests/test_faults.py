"""Faults and bad input against the real program: killed ingests, restarts, a battery of
malformed requests to a running server. Real model, real embedded Qdrant, subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import CORPUS, ROOT, running_server

pytestmark = pytest.mark.integration


def _env(data: Path, corpus: Path) -> dict[str, str]:
    return {**os.environ, "CAREERBOT_DATA_DIR": str(data), "CAREERBOT_CORPUS_DIR": str(corpus),
            "CAREERBOT_RATE_LIMIT_PER_MINUTE": "0"}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def _consistent(data: Path, corpus: Path) -> dict[str, int]:
    """Open the store in this process and check every document is whole; doc -> chunks."""
    from rag.settings import Settings
    from rag.store import Store

    store = Store.open(Settings(data_dir=data, corpus_dir=corpus))
    try:
        docs = store.list_docs()
        for d in docs:
            assert d["fingerprint"] != "pending", d["doc_id"]
            assert store.count(d["doc_id"]) == d["chunks"], d["doc_id"]
        return {d["doc_id"]: d["chunks"] for d in docs}
    finally:
        store.close()


def test_killed_ingest_keeps_the_old_index_and_the_next_run_repairs(tmp_path: Path) -> None:
    corpus, data = tmp_path / "corpus", tmp_path / "data"
    shutil.copytree(CORPUS, corpus)
    env = _env(data, corpus)
    first = _cli(env, "ingest", "--json")
    assert first.returncode == 0, first.stderr
    before = _consistent(data, corpus)
    assert len(before) == 4

    guide = corpus / "001_b99e32355209f981.txt"
    guide.write_text(guide.read_text() + "\n\nA Closing Note\n\nKeep building projects.\n")
    proc = subprocess.Popen([sys.executable, "-m", "api", "ingest"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(6)  # model loaded, somewhere in parsing, embedding or writing
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    # Whatever the kill interrupted, the index still answers from every guide...
    search = _cli(env, "search", "How long does it take?", "--json")
    assert search.returncode == 0, search.stderr
    assert json.loads(search.stdout)["results"]
    # ...and the next run brings it to a consistent, up-to-date state.
    again = _cli(env, "ingest", "--json")
    assert again.returncode == 0, again.stderr
    after = _consistent(data, corpus)
    assert set(after) == set(before)
    # A restart with nothing changed embeds nothing.
    third = json.loads(_cli(env, "ingest", "--json").stdout)
    assert third["embedded"] == 0 and third["documents"]["unchanged"] == 4


def test_killed_reindex_keeps_the_live_generation(tmp_path: Path) -> None:
    """kill -9 while `reindex` fills a new generation beside the live one: after a restart
    the live one answers as before, and the half-built one is gone."""
    corpus, data = tmp_path / "corpus", tmp_path / "data"
    shutil.copytree(CORPUS, corpus)
    env = _env(data, corpus)
    assert _cli(env, "ingest").returncode == 0
    before = _consistent(data, corpus)
    index = data / "index" / "careerbot"
    live = (index / "CURRENT").read_text()
    proc = subprocess.Popen([sys.executable, "-m", "api", "reindex"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):  # until the new generation's folder exists: it is being filled
        if len(list(index.glob("g-*"))) > 1 or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "reindex finished before it could be killed"
    time.sleep(1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    search = _cli(env, "search", "How long does it take?", "--json")
    assert search.returncode == 0, search.stderr
    assert json.loads(search.stdout)["results"]
    assert (index / "CURRENT").read_text() == live
    assert _consistent(data, corpus) == before
    assert [p.name for p in index.glob("g-*")] == [live.strip()]  # the half-built one went


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("serve")
    with running_server(tmp / "data", extra_env={"CAREERBOT_RATE_LIMIT_PER_MINUTE": "0"}) as base:
        yield base, tmp
    # A restart keeps the index: serving again finds nothing to ingest.
    out = _cli(_env(tmp / "data", CORPUS), "ingest", "--json")
    assert json.loads(out.stdout)["embedded"] == 0


BATTERY: list[tuple[str, dict | str | bytes, int]] = [
    ("/v1/chat", {"message": ""}, 422),
    ("/v1/chat", {"message": "   \n\t "}, 422),
    ("/v1/chat", {"message": "x" * 2001}, 422),
    ("/v1/chat", b'{"message": "unterminated', 400),
    ("/v1/chat", {"message": 42}, 422),
    ("/v1/chat", {"message": "hi", "history": "not a list"}, 422),
    ("/v1/chat", {"message": "hi", "history": [{"role": "user", "content": "x"}] * 21}, 422),
    ("/v1/chat", {"message": "hi", "history": [{"role": "system", "content": "x"}]}, 422),
    ("/v1/chat", {"message": "hi", "history": [{"role": "user", "content": "y" * 4001}]}, 422),
    ("/v1/chat", {"message": "hi", "nested": {"a": [[[[[]]]]]}}, 422),
    ("/v1/chat", {"message": "hi", "top_k": 0}, 422),
    ("/v1/chat", {"message": "hi", "top_k": 21}, 422),
    ("/v1/chat", {"message": "hi", "sources": ["no-such-guide"]}, 422),
    ("/v1/chat", {"message": "hi", "sources": "003_ea9daf657743a40c"}, 422),
    ("/v1/chat", {"message": "x" * 70_000}, 413),
    ("/v1/search", {"query": "salary", "mode": "telepathy"}, 422),
    ("/v1/search", {"query": "salary", "unknown": 1}, 422),
]


@pytest.mark.parametrize(("path", "body", "status"), BATTERY)
def test_bad_input_gets_a_clear_4xx(server, path: str, body, status: int) -> None:
    base, _ = server
    if isinstance(body, bytes):
        r = httpx.post(base + path, content=body, headers={"content-type": "application/json"})
    else:
        r = httpx.post(base + path, json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] and len(err["message"]) > 10 and "Traceback" not in r.text


@pytest.mark.parametrize(
    "message",
    ["What do ML engineers earn?\x00\x00", "Ｈｏｗ ｌｏｎｇ does it take? 🚀🚀",
     "\u202eIs a PhD required?", "Is Python enough? " + "\u0301" * 50,
     "¿Cuánto gana un ingeniero de ML?"],
)
def test_odd_text_is_answered_or_refused_cleanly(server, message: str) -> None:
    base, _ = server
    r = httpx.post(f"{base}/v1/chat", json={"message": message}, timeout=60)
    assert r.status_code in (200, 422), r.text
    body = r.json()
    assert ("answer" in body) if r.status_code == 200 else ("error" in body)


def test_healthy_after_the_battery(server) -> None:
    base, _ = server
    r = httpx.post(f"{base}/v1/chat", json={"message": "Do I need a degree?"}, timeout=60)
    assert r.status_code == 200 and r.json()["citations"]
    assert httpx.get(f"{base}/readyz").status_code == 200
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
