"""Progress of long operations: log lines without a terminal, a bar in one, silence with
--quiet, stdout left to --json."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from ingest.progress import BarProgress, LogProgress, NoProgress, progress_for
from tests.test_cli import env, fake_model, run  # noqa: F401  (fixtures)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_lines_every_tenth_not_a_flood() -> None:
    out = io.StringIO()
    p = LogProgress(out)
    p.begin(3, 1000)
    for _ in range(1000):
        p.advance(1)
    p.end()
    lines = out.getvalue().splitlines()
    assert lines[0] == "ingest: 3 guide(s) to index, 1000 texts to embed"
    assert lines[-1].startswith("ingest: done: 1000 texts embedded in ")
    percents = [int(m.group(1)) for m in (re.search(r": (\d+)% \(", x) for x in lines) if m]
    assert percents == sorted(percents) and 8 <= len(percents) <= 10
    assert all("texts/s" in x and "s left" in x for x in lines[1:-1])


def test_big_steps_report_once_and_empty_work_is_quiet_in_between() -> None:
    out = io.StringIO()
    p = LogProgress(out)
    p.begin(1, 100)
    p.advance(55)  # crosses five marks at once: one line
    p.advance(45)
    p.end()
    assert len(out.getvalue().splitlines()) == 3
    out = io.StringIO()
    p = LogProgress(out)
    p.begin(0, 0)
    p.end()
    assert len(out.getvalue().splitlines()) == 2


def test_the_reporter_fits_the_stream() -> None:
    assert isinstance(progress_for(_Tty()), BarProgress)
    assert isinstance(progress_for(io.StringIO()), LogProgress)
    assert isinstance(progress_for(_Tty(), quiet=True), NoProgress)
    tty = _Tty()
    bar = progress_for(tty)
    bar.begin(2, 10)
    bar.advance(10)
    bar.end()
    assert "10/10" in tty.getvalue() and "ingest (2 guides)" in tty.getvalue()


def test_cli_ingest_progress_goes_to_stderr(env: dict[str, str]) -> None:  # noqa: F811
    res = run(env, "ingest", "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)  # stdout is the JSON alone
    assert report["texts_per_s"] > 0 and report["chunks_per_s"] > 0
    lines = [x for x in res.stderr.splitlines() if x.startswith("ingest: ")]
    assert lines[0].startswith("ingest: 4 guide(s) to index, ")
    assert lines[-1].startswith("ingest: done: ") and len(lines) <= 12
    again = run(env, "ingest")  # nothing changed: nothing to embed, and the summary says so
    assert "ingest: 0 guide(s) to index, 0 texts to embed" in again.stderr
    assert re.search(r"embedded: +0 chunks \+ 0 answer pieces", again.stdout)


def test_quiet_silences_progress(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    res = run(env, "reindex", "--quiet", "--json")
    assert res.exit_code == 0, res.output
    assert "ingest:" not in res.stderr and json.loads(res.stdout)["embedded"] > 0
    res = run(env, "ingest", "-q")
    assert res.exit_code == 0 and res.stderr == ""
    assert "chunks/s" in res.stdout and "texts/s" in res.stdout
