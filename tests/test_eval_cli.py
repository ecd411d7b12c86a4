"""`careerbot eval` through typer's CliRunner, with FakeEmbedder in place of the model."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from typer.testing import CliRunner, Result

from api import cli
from eval.dataset import DEFAULT_SET
from eval.report import CHART, REPORT, RESULTS
from tests.test_cli import env as cli_env
from tests.test_cli import fake_model as autouse_fake_model
from tests.test_eval import BEIR_TINY

# The CLI is driven with the fake model (see tests/test_cli.py).
fake_model = autouse_fake_model
env = cli_env


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli.app, ["eval", *args], env=env)


def only_run(parent: Path) -> Path:
    (folder,) = parent.iterdir()
    return folder


def test_validate(env: dict[str, str], tmp_path: Path) -> None:
    ok = run(env, "--validate")
    assert ok.exit_code == 0, ok.output
    lines = DEFAULT_SET.read_text().splitlines()
    assert f"{len(lines)} items valid" in ok.stdout and "test " in ok.stdout
    row = json.loads(lines[0])
    row["evidence"][0]["quote"] = "words no guide contains"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([json.dumps(row), *lines[1:], '{"id": "x"}']) + "\n")
    res = run(env, "--validate", "--dataset", str(bad))
    assert res.exit_code == 1 and f"{len(lines) + 1}:" in res.stderr  # format problems first
    bad.write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    res = run(env, "--validate", "--dataset", str(bad))
    assert res.exit_code == 1, res.output
    assert f"{row['id']}: quote not found" in res.stderr and "1 problem(s)" in res.stderr
    # the real run refuses such a set too, pointing at --validate
    res = run(env, "--dataset", str(bad), "--no-answers")
    assert res.exit_code == 1 and "--validate" in res.stderr and "Traceback" not in res.output


def test_beir_run(env: dict[str, str], tmp_path: Path) -> None:
    res = run(env, "--beir", str(BEIR_TINY), "--out", str(tmp_path / "runs"), "--k", "5")
    assert res.exit_code == 0, res.output
    folder = only_run(tmp_path / "runs")
    assert folder.name.endswith("-beir-beir_tiny")
    assert f"report: {folder / REPORT}" in res.stdout and "test (5 q): dense" in res.stdout
    data = json.loads((folder / RESULTS).read_text())
    assert data["setup"]["k"] == 5 and data["splits"]["test"]["retrieval"]["hybrid"]["hit@5"]
    assert (folder / CHART).exists() and "BEIR set `beir_tiny`" in (folder / REPORT).read_text()
    assert run(env, "--validate", "--beir", str(BEIR_TINY)).exit_code == 0
    res = run(env, "--beir", str(BEIR_TINY), "--split", "dev")
    assert res.exit_code == 1 and "--split" in res.stderr
    res = run(env, "--beir", str(tmp_path / "missing"))
    assert res.exit_code == 1 and "does not exist" in res.stderr


def test_our_set_run_then_compare(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "runs"
    res = run(env, "--split", "dev", "--modes", "hybrid,sparse", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert re.match(r"dev \(\d+ q\): hybrid ndcg@10", res.stdout)
    assert "answers: fact recall all" in res.stdout and "direct answer" in res.stdout
    a = only_run(out)
    data = json.loads((a / RESULTS).read_text())
    assert list(data["splits"]) == ["dev"] and data["setup"]["modes"] == ["hybrid", "sparse"]
    assert {q["split"] for q in data["questions"].values()} == {"dev"}
    # the user's data dir gets no store: the run used a temporary one
    assert not (Path(env["CAREERBOT_DATA_DIR"]) / "qdrant").exists()

    # B: the same run with one question's outcome changed
    b = tmp_path / "b.json"
    qid = next(q for q, v in data["questions"].items() if v["ranks"].get("hybrid"))
    data["questions"][qid]["ranks"]["hybrid"] = None
    data["splits"]["dev"]["retrieval"]["hybrid"]["hit@1"] = 0.0
    b.write_text(json.dumps(data))
    res = run(env, "--compare", str(a), str(b))
    assert res.exit_code == 0, res.output
    assert f"  {qid} (dev," in res.stdout and "-> – (worse)" in res.stdout
    assert re.search(r"dev +hybrid +hit@1", res.stdout) and "1 question(s) changed" in res.stdout
    res = run(env, "--compare", str(a), str(tmp_path / "nope.json"))
    assert res.exit_code == 1 and "nope.json" in res.stderr


def test_default_out_and_bad_mode(env: dict[str, str]) -> None:
    res = run(env, "--modes", "bm25")
    assert res.exit_code == 1 and "unknown mode 'bm25'" in res.stderr
    res = run(env, "--split", "dev", "--modes", "sparse", "--no-answers")
    assert res.exit_code == 0, res.output
    folder = only_run(Path(env["CAREERBOT_DATA_DIR"]) / "eval-runs")
    data = json.loads((folder / RESULTS).read_text())
    assert data["splits"]["dev"]["answers"] is None and data["latency"]["answer"] is None
    assert (folder / CHART).exists()


def test_missing_corpus_is_a_clean_error(env: dict[str, str], tmp_path: Path) -> None:
    shutil.rmtree(env["CAREERBOT_CORPUS_DIR"])
    res = run(env, "--no-answers")
    assert res.exit_code == 1 and "does not exist" in res.stderr and "Traceback" not in res.output
