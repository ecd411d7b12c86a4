"""The wheel carries the data the package reads: vocabularies, the fitted answer model and
the question set. Built and used outside the checkout, as the Docker image installs it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.integration
def test_the_wheel_carries_its_data_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                    str(ROOT)], check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("careerbot-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert {"rag/data/vocab.json", "rag/data/answer_model.json",
                "rag/data/query_adapter.npz", "eval/datasets/questions.jsonl"} <= names
        z.extractall(site)
    # Run from elsewhere with only the wheel's files on the path (dependencies come from
    # this environment): nothing may be read from the checkout.
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = ("import eval.dataset as d, rag.answer as a, rag.vocab as v, rag.adapter as q; "
             f"assert str(d.DEFAULT_SET).startswith({str(site)!r}); "
             "print(len(d.load_items()), len(a.default_model().weights), len(v.vocab()), "
             "len(q.QueryAdapter.load(q.ADAPTER_PATH).matrix))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    assert int(out[0]) > 200 and int(out[1]) > 10 and int(out[2]) > 5 and int(out[3]) == 384
    res = subprocess.run([sys.executable, "-m", "api", "eval", "--help"], cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0 and "--split" in res.stdout, res.stderr
