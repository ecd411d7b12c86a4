"""The careerbot command, with FakeEmbedder and an embedded store in a tmp folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from api import cli
from rag import embed
from rag.settings import Settings
from tests.conftest import FakeEmbedder

QUESTION = "How long does it take to become an ML engineer?"


@pytest.fixture(autouse=True)
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def build(settings: Settings) -> FakeEmbedder:
        return FakeEmbedder()

    monkeypatch.setattr(embed, "embedder_for", build)


@pytest.fixture
def env(tmp_path: Path, corpus_copy: Path) -> dict[str, str]:
    return {"CAREERBOT_DATA_DIR": str(tmp_path / "data"), "CAREERBOT_CORPUS_DIR": str(corpus_copy)}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args), env=env)


def run_json(env: dict[str, str], *args: str) -> Any:
    result = run(env, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_clean_failure(result: Result, *needles: str) -> None:
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr


def test_ingest_is_incremental(env: dict[str, str]) -> None:
    first = run_json(env, "ingest")
    assert first["documents"] == {"added": 4, "updated": 0, "deleted": 0, "unchanged": 0}
    assert first["embedded"] == first["chunks"]["added"] > 0 and first["failed"] == []
    second = run_json(env, "ingest")
    assert second["documents"]["unchanged"] == 4 and second["documents"]["added"] == 0
    assert second["embedded"] == 0 and second["chunks"]["unchanged"] == first["chunks"]["added"]


def test_ingest_human_summary_reports_failures(env: dict[str, str]) -> None:
    (Path(env["CAREERBOT_CORPUS_DIR"]) / "broken.txt").write_bytes(b"\x00\x01binary")
    result = run(env, "ingest")
    assert result.exit_code == 0, result.output
    assert "documents: 4 added" in result.stdout and "embedded:" in result.stdout
    assert "broken.txt: binary file" in result.stdout


def test_search_json(env: dict[str, str]) -> None:
    run(env, "ingest")
    results = run_json(env, "search", QUESTION, "--top-k", "3")["results"]
    assert len(results) == 3
    assert set(results[0]) == {"doc_id", "chunk_id", "title", "section", "text", "start", "end",
                               "score"}
    only = results[0]["doc_id"]
    filtered = run_json(env, "search", QUESTION, "--mode", "sparse", "--source", only)["results"]
    assert filtered and {r["doc_id"] for r in filtered} == {only}


def test_search_text(env: dict[str, str]) -> None:
    run(env, "ingest")
    result = run(env, "search", QUESTION, "-k", "2", "--mode", "dense")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1. [") and "\n2. [" in result.stdout


def test_search_errors(env: dict[str, str]) -> None:
    assert_clean_failure(run(env, "search", QUESTION), "careerbot ingest")
    run(env, "ingest")
    assert_clean_failure(run(env, "search", QUESTION, "--source", "nope"), "nope", "valid ids")
    assert_clean_failure(run(env, "search", "   "), "empty")
    assert run(env, "search", QUESTION, "--top-k", "21").exit_code == 2  # usage error


def test_ask(env: dict[str, str], corpus_copy: Path) -> None:
    run(env, "ingest")
    result = run(env, "ask", QUESTION)
    assert result.exit_code == 0, result.output
    assert "(kind: timeline;" in result.stdout
    body = run_json(env, "ask", QUESTION)
    assert set(body) >= {"answer", "direct", "citations", "intent", "abstained", "timings_ms"}
    # the CLI prints the direct answer first
    assert result.stdout.lstrip().startswith(body["direct"].split(" [")[0][:40])
    assert body["intent"] == "timeline"
    assert set(body["timings_ms"]) == {"retrieve", "answer", "total"}
    assert [c["n"] for c in body["citations"]] == list(range(1, len(body["citations"]) + 1))
    if not body["abstained"]:
        assert body["citations"] and "Sources:" in result.stdout
    from ingest.parse import parse_bytes

    for c in body["citations"]:
        doc = parse_bytes((corpus_copy / f"{c['doc_id']}.txt").read_bytes())
        assert doc.text[c["start"] : c["end"]] == c["quote"]


def test_ask_with_history_file(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "ingest")
    history = tmp_path / "h.json"
    history.write_text(json.dumps([
        {"role": "user", "content": "Typical pay for an ML engineer job based in San Francisco?"},
        {"role": "assistant", "content": "About $193,919."},
    ]))
    body = run_json(env, "ask", "And in Austin?", "--history", str(history))
    assert body["intent"] == "salary"
    history.write_text('{"not": "a list"')
    assert_clean_failure(run(env, "ask", "And in Austin?", "--history", str(history)),
                         "history")


def test_missing_corpus_is_a_clean_error(env: dict[str, str], tmp_path: Path) -> None:
    env["CAREERBOT_CORPUS_DIR"] = str(tmp_path / "nowhere")
    assert_clean_failure(run(env, "ingest"), "nowhere", "does not exist")


def test_invalid_setting_is_a_clean_error(env: dict[str, str]) -> None:
    assert_clean_failure(run({**env, "CAREERBOT_TOP_K": "0"}, "ingest"), "top_k")


def test_reindex_keeps_the_index_answering(env: dict[str, str]) -> None:
    run(env, "ingest")
    before = run_json(env, "search", QUESTION)["results"]
    report = run_json(env, "reindex")
    assert report["documents"]["added"] == 4 and report["embedded"] > 0
    assert run_json(env, "search", QUESTION)["results"] == before


def test_serve_on_a_store_another_process_holds_says_what_to_do(env: dict[str, str]) -> None:
    from rag.store import Store

    holder = Store.open(Settings(data_dir=Path(env["CAREERBOT_DATA_DIR"])))
    try:
        assert_clean_failure(run(env, "serve", "--port", "1"), "in use by another careerbot",
                             "CAREERBOT_DATA_DIR", "server mode")
    finally:
        holder.close()


@pytest.mark.parametrize(("flags", "watched"), [((), True), (("--no-watch",), False)])
def test_serve_watches_the_corpus_unless_told_not_to(
        env: dict[str, str], monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...],
        watched: bool) -> None:
    started: list[Path] = []
    seen: dict[str, Any] = {}

    class Watcher:
        def __init__(self, folder: Path, on_change: Any, debounce_ms: int) -> None:
            self.folder = folder

        def start(self) -> None:
            started.append(self.folder)

        def stop(self) -> None:
            pass

    def fake_run(app: Any, host: str, port: int) -> None:  # instead of listening
        seen["server.json"] = json.loads((Path(env["CAREERBOT_DATA_DIR"]) / "server.json")
                                         .read_text())

    monkeypatch.setattr(cli, "CorpusWatcher", Watcher)
    monkeypatch.setattr("uvicorn.run", fake_run)
    result = run(env, "serve", "--port", "8123", *flags)
    assert result.exit_code == 0, result.output
    assert started == ([Path(env["CAREERBOT_CORPUS_DIR"])] if watched else [])
    # while serving, the command line finds it by this file; it is gone afterwards
    assert seen["server.json"]["url"] == "http://127.0.0.1:8123"
    assert not (Path(env["CAREERBOT_DATA_DIR"]) / "server.json").exists()
