"""Live guides: a benchmark, not a test (`python -m eval.bench_live`, `make bench`).

Starts `careerbot serve` (real model, embedded store, a copy of the corpus in a temporary
folder, the folder watcher on) and measures, in one run:

- drop_to_cited_s: from a new guide file landing in the corpus folder to the first answer
  that cites it (the watcher's debounce, the incremental ingest, the reload);
- upload_to_searchable_s: POST /v1/sources of a guide as large as the largest seed guide,
  until the response (the guide is searchable when it returns), and that a search finds it;
- cli_ask: p50 of `careerbot ask` through the running server against a cold `careerbot
  ask` that opens the index and loads the model itself (on a copy of the data dir, since
  the server holds the original), `--runs` of each.

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from eval.bench_api import served, server_env
from eval.stats import step

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "which tools do I need to deploy a model?"


def _cli_seconds(env: dict[str, str], *args: str) -> float:
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "api", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return time.perf_counter() - t


def run(runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="careerbot-live-") as tmp:
        tmp_path = Path(tmp)
        corpus, data = tmp_path / "corpus", tmp_path / "data"
        shutil.copytree(ROOT / "corpus", corpus)
        env = server_env(data, corpus, CAREERBOT_WATCH_DEBOUNCE_MS="500")
        with served(tmp_path, env) as (base, _):
            largest = max((p for p in (ROOT / "corpus").iterdir() if p.suffix != ".json"),
                          key=lambda p: p.stat().st_size)

            step("a dropped file, until an answer cites it")
            text = ("# Kiln Notes\n\n## Glazes\n\nA celadon glaze needs a reduction firing at "
                    "cone ten to turn its iron a pale green.\n")
            t = time.perf_counter()
            (corpus / "kiln.md").write_text(text)
            while True:
                r = httpx.post(f"{base}/v1/chat", json={"message": "what does a celadon glaze "
                                                        "need?"}, timeout=60)
                if any(c["doc_id"] == "kiln" for c in r.json().get("citations", [])):
                    break
                if time.perf_counter() - t > 120:
                    raise RuntimeError("the dropped guide was not cited within 120 s")
                time.sleep(0.2)
            out["drop_to_cited_s"] = round(time.perf_counter() - t, 2)

            step(f"uploading a guide of {largest.stat().st_size} bytes")
            raw = largest.read_text().replace("machine learning", "kiln firing").encode()
            t = time.perf_counter()
            r = httpx.post(f"{base}/v1/sources", files={"file": ("upload.txt", raw)},
                           timeout=600)
            r.raise_for_status()
            out["upload_to_searchable_s"] = round(time.perf_counter() - t, 2)
            out["upload_bytes"] = len(raw)
            out["upload_chunks"] = r.json()["chunks"]
            hits = httpx.post(f"{base}/v1/search", json={"query": "kiln firing engineer"},
                              timeout=60).json()["results"]
            out["upload_found_by_search"] = any(h["doc_id"] == "upload" for h in hits)

            step(f"careerbot ask through the server, {runs} runs")
            through = [_cli_seconds(env, "ask", QUESTION, "--json") for _ in range(runs)]
            cold_data = tmp_path / "cold"
            shutil.copytree(data / "qdrant", cold_data / "qdrant")  # not the server's folder
            cold_env = {**env, "CAREERBOT_DATA_DIR": str(cold_data)}
            step(f"careerbot ask opening the index itself (cold), {runs} runs")
            cold = [_cli_seconds(cold_env, "ask", QUESTION, "--json") for _ in range(runs)]
            out["cli_ask"] = {
                "through_server_p50_s": round(statistics.median(through), 2),
                "cold_p50_s": round(statistics.median(cold), 2),
                "ratio_cold_over_server": round(statistics.median(cold)
                                                / statistics.median(through), 1),
                "runs": runs,
            }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    print(json.dumps(run(args.runs), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
