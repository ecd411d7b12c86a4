"""Guides that change while the bot runs, against the real program: `careerbot serve` in a
subprocess with the real model and the embedded store.

A dropped file is cited once the watcher's ingest ran; an edited sentence is never cited
after the edit; a deleted guide is gone; upload, replace and delete over HTTP with an admin
key (a chat key refused); crafted names refused; the CLI beside the running server; a
server killed during an upload's ingest answers from the previous state after a restart.
Waiting loops poll with generous deadlines: speed is measured in `make bench`, not here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CORPUS, ROOT, running_server

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-secret"}
CHAT = {"Authorization": "Bearer chat-secret"}
ENV = {"CAREERBOT_ADMIN_KEYS": "admin-secret", "CAREERBOT_API_KEYS": "chat-secret",
       "CAREERBOT_WATCH_DEBOUNCE_MS": "300", "CAREERBOT_RATE_LIMIT_PER_MINUTE": "0"}

DROPPED = ("# Kiln Notes\n\n## Glazes\n\nA celadon glaze needs a reduction firing at cone ten "
           "to turn its iron a pale green.\n")
EDITED = DROPPED.replace("pale green", "deep olive")
UPLOADED = ("# Loom Notes\n\n## Warping\n\nA tapestry loom is warped with cotton seine twine "
            "at eight ends per inch for a firm weft-faced cloth.\n")


def _until(check: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def _quotes(base: str, query: str) -> list[str]:
    r = httpx.post(f"{base}/v1/chat", json={"message": query}, headers=CHAT, timeout=60)
    assert r.status_code == 200, r.text
    return [c["quote"] for c in r.json()["citations"]]


def _searched(base: str, query: str) -> str:
    r = httpx.post(f"{base}/v1/search", json={"query": query, "top_k": 3}, headers=CHAT,
                   timeout=60)
    assert r.status_code == 200, r.text
    return "\n".join(h["text"] for h in r.json()["results"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    tmp = tmp_path_factory.mktemp("live")
    corpus = tmp / "corpus"
    shutil.copytree(CORPUS, corpus)
    with running_server(tmp / "data", corpus, extra_env=ENV) as base:
        yield base, corpus, tmp / "data"


def test_dropped_edited_and_deleted_files(live: tuple[str, Path, Path]) -> None:
    base, corpus, _ = live
    path = corpus / "kiln.md"
    path.write_text(DROPPED)
    _until(lambda: "pale green" in _searched(base, "celadon glaze reduction firing"))
    assert any("pale green" in q for q in _quotes(base, "what does a celadon glaze need"))
    path.write_text(EDITED)
    _until(lambda: "deep olive" in _searched(base, "celadon glaze reduction firing"))
    quotes = _quotes(base, "what does a celadon glaze need")
    assert not any("pale green" in q for q in quotes)
    path.unlink()
    _until(lambda: "celadon" not in _searched(base, "celadon glaze reduction firing"))
    ids = [d["doc_id"] for d in httpx.get(f"{base}/v1/sources", headers=CHAT).json()["sources"]]
    assert "kiln" not in ids


def test_upload_replace_delete_over_http(live: tuple[str, Path, Path]) -> None:
    base, corpus, _ = live
    up = {"files": {"file": ("looms.md", UPLOADED.encode())}, "data": {"title": "Looms"}}
    assert httpx.post(f"{base}/v1/sources", **up).status_code == 401  # type: ignore[arg-type]
    assert httpx.post(f"{base}/v1/sources", headers=CHAT,  # type: ignore[arg-type]
                      **up).status_code == 403
    r = httpx.post(f"{base}/v1/sources", headers=ADMIN, timeout=120, **up)  # type: ignore[arg-type]
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "added" and r.json()["chunks"] >= 1
    assert "seine twine" in _searched(base, "tapestry loom warping")  # searchable at once
    assert (corpus / "looms.md").exists()
    new = UPLOADED.replace("eight ends", "twelve ends")
    r = httpx.put(f"{base}/v1/sources/looms", headers=ADMIN, timeout=120,
                  files={"file": ("looms.md", new.encode())})
    assert r.status_code == 200 and r.json()["status"] == "updated"
    text = _searched(base, "tapestry loom warping ends per inch")
    assert "twelve ends" in text and "eight ends" not in text
    for name in (b"../x.md", b"/etc/x.md", b"a\x00b.md", b".hidden.md"):
        # by hand: an HTTP client would escape the NUL byte before the server saw it
        body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + name
                + b"\"\r\nContent-Type: text/markdown\r\n\r\n" + UPLOADED.encode()
                + b"\r\n--b--\r\n")
        r = httpx.post(f"{base}/v1/sources", content=body, headers={
            **ADMIN, "Content-Type": "multipart/form-data; boundary=b"})
        assert r.status_code == 400, (name, r.text)
    assert httpx.delete(f"{base}/v1/sources/looms", headers=ADMIN, timeout=120
                        ).status_code == 204
    assert httpx.get(f"{base}/v1/sources/looms", headers=CHAT).status_code == 404
    assert "seine twine" not in _searched(base, "tapestry loom warping")


def _cli(data: Path, corpus: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAREERBOT_DATA_DIR": str(data), "CAREERBOT_CORPUS_DIR": str(corpus),
           "PYTHONPATH": str(ROOT), **ENV}
    return subprocess.run([sys.executable, "-m", "api", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_command_line_beside_the_running_server(live: tuple[str, Path, Path]) -> None:
    base, corpus, data = live
    got = _cli(data, corpus, "ask", "how long does it take to learn ML part time?", "--json")
    assert got.returncode == 0, got.stderr
    assert "through the server" in got.stderr and '"citations"' in got.stdout
    got = _cli(data, corpus, "sources")
    assert got.returncode == 0 and "chunks" in got.stdout, got.stderr
    got = _cli(data, corpus, "search", "docker", "--json")
    assert got.returncode == 0 and '"results"' in got.stdout, got.stderr
    got = _cli(data, corpus, "ingest")
    assert got.returncode == 0 and "documents:" in got.stdout, got.stderr


def test_a_server_killed_during_an_upload_answers_from_before(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    data = tmp_path / "data"
    big = (CORPUS / "001_b99e32355209f981.txt").read_text().replace("machine learning",
                                                                     "kiln firing")
    with running_server(data, corpus, extra_env=ENV) as base:
        before = {d["doc_id"] for d in httpx.get(f"{base}/v1/sources", headers=CHAT
                                                 ).json()["sources"]}
        pid = int(__import__("json").loads((data / "server.json").read_text())["pid"])
        result: dict[str, Any] = {}

        def upload() -> None:
            try:
                result["r"] = httpx.post(f"{base}/v1/sources", headers=ADMIN, timeout=120,
                                         files={"file": ("big.txt", big.encode())})
            except httpx.HTTPError as e:
                result["error"] = e

        t = threading.Thread(target=upload)
        t.start()
        time.sleep(2.0)  # the upload's ingest is embedding by now
        os.kill(pid, signal.SIGKILL)
        t.join(30)
    # Restarted on the same data dir: it answers, and the guide is whole or absent.
    with running_server(data, corpus, extra_env=ENV) as base:
        docs = {d["doc_id"]: d for d in httpx.get(f"{base}/v1/sources", headers=CHAT
                                                  ).json()["sources"]}
        assert before <= set(docs)
        r = httpx.post(f"{base}/v1/chat", json={"message": "which tools for deployment?"},
                       headers=CHAT, timeout=60)
        assert r.status_code == 200 and r.json()["citations"]
        if "big" in docs:  # the restart's ingest finished it: every chunk is there
            text = httpx.get(f"{base}/v1/sources/big", headers=CHAT).json()["text"]
            assert "kiln firing" in text and docs["big"]["chunks"] > 10
