"""One feedback log for every channel: the log (caps, rotation, the votes that count),
POST /v1/feedback (what it stores, bad input, limits), and `careerbot feedback list|export`
whose candidates `careerbot eval --dataset` runs (filled items scored, empty ones listed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from api import cli
from api.app import create_app
from eval.dataset import load_items
from eval.feedback import candidate
from eval.report import RESULTS
from rag.feedback import FILE_NAME, FeedbackLog, latest, record_vote
from rag.services import Services
from rag.settings import Settings
from rag.store import Store
from tests.conftest import FakeEmbedder
from tests.test_api import assert_error, index_corpus
from tests.test_cli import env as cli_env
from tests.test_cli import fake_model as autouse_fake_model

fake_model = autouse_fake_model
env = cli_env

# Our own questions (none of the evaluation set's).
QUESTION = "Is a bootcamp enough to land a junior role?"
OTHER = "Should I learn SQL before deep learning?"
DEGREE = "Is a CS degree a must in 2026?"
QUOTE = "A Computer Science degree helps, but it is not mandatory in 2026."
CITATION = {"n": 1, "doc_id": "003_ea9daf657743a40c", "title": "How to Become a Machine "
            "Learning Engineer in 2026", "url": "https://blogacademy.tech/en/x/",
            "section": "Do You Need a Degree?", "quote": QUOTE, "start": 4642, "end": 4707,
            "score": 0.9}


# ------------------------------------------------------------------ the log


def test_records_get_an_id_and_a_time_and_read_back_in_order(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "data" / FILE_NAME)
    assert log.read() == [] and log.files() == []
    first = log.append({"vote": "up", "question": "a"})
    log.append({"vote": "down", "question": "b", "id": "given"})
    rows = log.read()
    assert [r["question"] for r in rows] == ["a", "b"]
    assert rows[0]["id"] == first["id"] and len(first["id"]) == 32 and rows[0]["ts"]
    assert rows[1]["id"] == "given"


def test_concurrent_votes_are_whole_lines(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / FILE_NAME)
    threads = [threading.Thread(target=log.append, args=({"vote": "up", "question": "q" * 500},))
               for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(log.read()) == 30 and len(log.path.read_text().splitlines()) == 30


def test_the_log_is_capped_and_rotated(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / FILE_NAME, max_bytes=2000, backups=2)
    for i in range(60):  # about 110 bytes each: far more than three files hold
        log.append({"vote": "up", "question": f"question number {i:03d}"})
    files = log.files()
    assert [p.name for p in files] == [f"{FILE_NAME}.2", f"{FILE_NAME}.1", FILE_NAME]
    assert all(p.stat().st_size <= 2000 for p in files)
    rows = log.read()
    numbers = [int(r["question"].rsplit(" ", 1)[1]) for r in rows]
    assert numbers == sorted(numbers) and numbers[-1] == 59  # oldest first, newest kept
    assert numbers[0] > 0 and len(rows) < 60  # the oldest were dropped


def test_a_broken_line_is_skipped(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / FILE_NAME)
    log.append({"vote": "up", "question": "a"})
    with log.path.open("a") as f:
        f.write("{not json\n[1, 2]\n")
    log.append({"vote": "up", "question": "b"})
    assert [r["question"] for r in log.read()] == ["a", "b"]


def test_an_unwritable_log_raises(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).mkdir()  # a folder where the file should be
    with pytest.raises(OSError):
        FeedbackLog(tmp_path / FILE_NAME).append({"vote": "up"})


def test_the_latest_vote_on_each_ref_counts() -> None:
    rows = [
        {"id": "1", "ref": "a", "vote": "up"}, {"id": "2", "ref": None, "vote": "down"},
        {"id": "3", "ref": "b", "vote": "up"}, {"id": "4", "ref": "a", "vote": "down"},
        {"id": "5", "ref": "b", "vote": "none"}, {"id": "6", "vote": "up"},
    ]
    assert [r["id"] for r in latest(rows)] == ["2", "4", "6"]


# ------------------------------------------------------------------ record_vote


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Store]:
    return index_corpus(tmp_path_factory.mktemp("feedback"))


def _services(tmp_path: Path, store: Store, embedder: Any = None) -> Services:
    return Services(Settings(data_dir=tmp_path / "data"), store=store,
                    embedder=embedder or FakeEmbedder())


def test_a_vote_keeps_what_retrieval_did(tmp_path: Path,
                                         indexed: tuple[Settings, Store]) -> None:
    services = _services(tmp_path, indexed[1])
    history = [{"role": "user", "content": OTHER}, {"role": "assistant", "content": "Yes [1]."}]
    rec = record_vote(services, "down", DEGREE, "Usually not [1].", channel="api",
                      history=history, citations=[CITATION], comment="too short")
    assert services.feedback.read() == [rec]
    assert rec["history"] == history and rec["citations"] == [CITATION]
    assert rec["intent"] == "degree" and rec["comment"] == "too short"
    ret = rec["retrieval"]
    assert ret["mode"] == "hybrid" and ret["depth"] == 40 and len(ret["results"]) == 8
    assert all(set(r) >= {"rank", "chunk_id", "dense_rank", "sparse_rank", "pieces_rank"}
               for r in ret["results"])
    holding = [r["rank"] for r in ret["results"] if r["doc_id"] == CITATION["doc_id"]
               and r["start"] <= CITATION["start"] and CITATION["end"] <= r["end"]]
    assert ret["cited"] == [{"n": 1, "rank": holding[0] if holding else None}]


def test_a_vote_is_kept_when_ranks_cannot_be_computed(tmp_path: Path,
                                                      indexed: tuple[Settings, Store]) -> None:
    class Loading(FakeEmbedder):
        loaded = False

    services = _services(tmp_path, indexed[1], Loading())
    rec = record_vote(services, "up", DEGREE, "No [1].", channel="ui")
    assert rec["retrieval"] is None and "model loading" in rec["retrieval_error"]
    assert services.feedback.read()[0]["question"] == DEGREE


# ------------------------------------------------------------------ POST /v1/feedback


@pytest.fixture
def app_settings(tmp_path: Path, indexed: tuple[Settings, Store]) -> Settings:
    return indexed[0].model_copy(update={"data_dir": tmp_path / "data"})


@pytest.fixture
def client(app_settings: Settings, indexed: tuple[Settings, Store]) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings, store=indexed[1], embedder=FakeEmbedder())) as c:
        yield c


def test_post_feedback_stores_the_vote(client: TestClient, app_settings: Settings) -> None:
    answer = client.post("/v1/chat", json={"message": QUESTION}).json()
    r = client.post("/v1/feedback", json={
        "question": QUESTION, "answer": answer["answer"], "vote": "down",
        "citations": answer["citations"], "comment": "it skips portfolios",
        "history": [{"role": "user", "content": OTHER}], "ref": "msg-1"})
    assert r.status_code == 201 and set(r.json()) == {"id"}
    (row,) = FeedbackLog(app_settings.data_dir / FILE_NAME).read()
    assert row["id"] == r.json()["id"] and row["channel"] == "api" and row["ref"] == "msg-1"
    assert row["question"] == QUESTION and row["answer"] == answer["answer"]
    assert row["citations"] == answer["citations"] and row["retrieval"]["results"]
    # the least a client sends
    r = client.post("/v1/feedback", json={"question": OTHER, "answer": "Yes.", "vote": "up",
                                          "channel": "discord"})
    assert r.status_code == 201
    assert FeedbackLog(app_settings.data_dir / FILE_NAME).read()[-1]["channel"] == "discord"


GOOD = {"question": QUESTION, "answer": "Usually not [1].", "vote": "up"}


@pytest.mark.parametrize(("body", "field"), [
    ({**GOOD, "vote": "meh"}, "vote"),
    ({k: v for k, v in GOOD.items() if k != "answer"}, "answer"),
    ({**GOOD, "question": "   "}, "question"),
    ({**GOOD, "question": "x" * 2001}, "question"),
    ({**GOOD, "answer": "x" * 20_001}, "answer"),
    ({**GOOD, "comment": "x" * 2001}, "comment"),
    ({**GOOD, "history": [{"role": "user", "content": "q"}] * 21}, "history"),
    ({**GOOD, "history": [{"role": "bot", "content": "q"}]}, "history"),
    ({**GOOD, "citations": [CITATION] * 51}, "citations"),
    ({**GOOD, "citations": [{"n": 1}]}, "citations"),
    ({**GOOD, "channel": "ui"}, "channel"),
    ({**GOOD, "stars": 5}, "stars"),
])
def test_bad_feedback_is_a_clear_4xx_and_stores_nothing(
        client: TestClient, app_settings: Settings, body: dict[str, Any], field: str) -> None:
    message = assert_error(client.post("/v1/feedback", json=body), 422, "invalid_request")
    assert field in message
    assert not (app_settings.data_dir / FILE_NAME).exists()


def test_feedback_body_limits(client: TestClient) -> None:
    big = {**GOOD, "history": [{"role": "user", "content": "x" * 4000}] * 20}
    assert_error(client.post("/v1/feedback", json=big), 413, "payload_too_large")
    assert_error(client.post("/v1/feedback", content=b"{", headers={
        "content-type": "application/json"}), 400, "invalid_json")
    assert_error(client.post("/v1/feedback", content=b"vote=up"), 415)
    assert_error(client.get("/v1/feedback"), 405)


def test_an_unwritable_log_is_503(tmp_path: Path, indexed: tuple[Settings, Store]) -> None:
    settings = indexed[0].model_copy(update={"data_dir": tmp_path / "data"})
    (tmp_path / "data" / FILE_NAME).mkdir(parents=True)
    with TestClient(create_app(settings, store=indexed[1], embedder=FakeEmbedder())) as c:
        r = c.post("/v1/feedback", json=GOOD)
    assert "could not be stored" in assert_error(r, 503, "feedback_unavailable")


def test_feedback_needs_the_api_key_and_counts_against_the_rate(
        tmp_path: Path, indexed: tuple[Settings, Store]) -> None:
    settings = indexed[0].model_copy(update={"data_dir": tmp_path / "data", "api_keys": "k",
                                             "rate_limit_per_minute": 2})
    with TestClient(create_app(settings, store=indexed[1], embedder=FakeEmbedder())) as c:
        assert_error(c.post("/v1/feedback", json=GOOD), 401, "unauthorized")
        auth = {"Authorization": "Bearer k"}
        assert c.post("/v1/feedback", json=GOOD, headers=auth).status_code == 201
        assert c.post("/v1/feedback", json=GOOD, headers=auth).status_code == 201
        assert_error(c.post("/v1/feedback", json=GOOD, headers=auth), 429, "rate_limited")


# ------------------------------------------------------------------ the command line


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args), env=env)


def _votes(env: dict[str, str]) -> FeedbackLog:
    log = FeedbackLog(Path(env["CAREERBOT_DATA_DIR"]) / FILE_NAME)
    log.append({"channel": "ui", "vote": "up", "ref": "ui:c:0", "question": QUESTION,
                "history": [], "answer": "Often, with projects [1].", "citations": [],
                "intent": "degree"})
    log.append({"channel": "api", "vote": "down", "ref": "r2", "question": DEGREE,
                "history": [{"role": "user", "content": OTHER},
                            {"role": "assistant", "content": "Yes."}],
                "answer": "Guides differ [1].", "citations": [CITATION], "intent": "degree",
                "comment": "no verdict"})
    log.append({"channel": "discord", "vote": "down", "ref": "d3", "question": OTHER,
                "history": [], "answer": "SQL first [1].", "citations": [], "intent": "tooling"})
    log.append({"channel": "ui", "vote": "none", "ref": "d3", "question": OTHER})  # withdrawn
    return log


def test_feedback_list(env: dict[str, str]) -> None:
    res = run(env, "feedback", "list")
    assert res.exit_code == 0 and "no votes" in res.stdout
    _votes(env)
    res = run(env, "feedback", "list")
    assert res.exit_code == 0, res.output
    assert QUESTION in res.stdout and DEGREE in res.stdout and OTHER not in res.stdout
    assert "comment: no verdict" in res.stdout and "2 vote(s): 1 up, 1 down" in res.stdout
    data = json.loads(run(env, "feedback", "list", "--json").stdout)
    assert [r["question"] for r in data["items"]] == [QUESTION, DEGREE]
    down = json.loads(run(env, "feedback", "list", "--vote", "down", "--json").stdout)
    assert [r["vote"] for r in down["items"]] == ["down"]
    res = run(env, "feedback", "list", "--vote", "sideways")
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_export_makes_candidates_that_eval_runs(env: dict[str, str], tmp_path: Path) -> None:
    _votes(env)
    out = tmp_path / "cases" / "feedback.jsonl"
    res = run(env, "feedback", "export", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "2 new candidate item(s)" in res.stdout and "careerbot eval --dataset" in res.stdout
    items = {it.question: it for it in load_items(out)}
    down = items[DEGREE]
    assert down.unlabelled and down.answerable and down.evidence == [] and down.facts == []
    assert down.answer_given == "Guides differ [1]." and down.kind == "degree"
    assert "regression" in down.tags and "thumbs_down" in down.tags
    assert [t.model_dump() for t in down.history] == [
        {"role": "user", "content": OTHER}, {"role": "assistant", "content": "Yes."}]
    assert down.origin["comment"] == "no verdict" and down.origin["citations"] == [CITATION]
    assert "regression" not in items[QUESTION].tags

    # nothing filled in yet: nothing to score, and eval says which items wait
    res = run(env, "eval", "--dataset", str(out), "--validate")
    assert res.exit_code == 0 and "2 unlabelled" in res.stdout
    res = run(env, "eval", "--dataset", str(out), "--modes", "hybrid")
    assert res.exit_code == 1 and "nothing to score" in res.stderr
    assert down.id in res.stderr and "Traceback" not in res.output

    # a person fills one in: it is scored, the other is listed as unlabelled
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row in rows:
        if row["question"] == DEGREE:
            row.update(evidence=[{"doc": "003_ea9daf657743a40c", "quote": QUOTE}],
                       facts=["not mandatory"])
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs = tmp_path / "runs"
    res = run(env, "eval", "--dataset", str(out), "--modes", "hybrid", "--out", str(runs))
    assert res.exit_code == 0, res.output
    assert "all (1 q)" in res.stdout or "dev (1 q)" in res.stdout
    assert "unlabelled, not scored (1)" in res.stdout and items[QUESTION].id in res.stdout
    (folder,) = runs.iterdir()
    data = json.loads((folder / RESULTS).read_text())
    assert list(data["questions"]) == [down.id]
    assert data["unlabelled"] == [{"id": items[QUESTION].id, "question": QUESTION,
                                   "tags": items[QUESTION].tags}]
    scored = data["questions"][down.id]
    assert scored["answer_given"] == "Guides differ [1]."
    assert isinstance(scored["answer"]["same_as_given"], bool)
    assert "Unlabelled (not scored)" in (folder / "report.md").read_text()

    # exporting again adds new votes and keeps what was filled in
    FeedbackLog(Path(env["CAREERBOT_DATA_DIR"]) / FILE_NAME).append({
        "channel": "api", "vote": "down", "question": "And with a PhD?", "answer": "x",
        "history": [], "citations": []})
    res = run(env, "feedback", "export", "--out", str(out), "--vote", "down")
    assert res.exit_code == 0 and "1 new candidate" in res.stdout and "2 item(s) already" \
        in res.stdout
    again = {it.question: it for it in load_items(out)}
    assert again[DEGREE].facts == ["not mandatory"] and "And with a PhD?" in again


def test_export_never_overwrites_another_file(env: dict[str, str], tmp_path: Path) -> None:
    _votes(env)
    other = tmp_path / "notes.jsonl"
    other.write_text("my notes, not a question set\n")
    res = run(env, "feedback", "export", "--out", str(other))
    assert res.exit_code == 1 and "left as it is" in res.stderr
    assert other.read_text() == "my notes, not a question set\n"


def test_a_candidate_of_an_old_ui_record() -> None:
    """Records written before this log had only the earlier questions as history."""
    item = candidate({"id": "abc", "vote": "up", "question": "q?", "answer": "a",
                      "history": ["earlier?"], "intent": "salary"})
    assert item.id == "fb-abc" and item.kind == "salary"
    assert [t.model_dump() for t in item.history] == [{"role": "user", "content": "earlier?"}]
