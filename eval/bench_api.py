"""HTTP API latency: a benchmark, not a test (`python -m eval.bench_api`, `make bench`).

Starts `careerbot serve` in a subprocess on a free loopback port (real embedding model,
embedded Qdrant in a temporary data dir, the corpus ingested first, extractive answers,
no rate limit), then times POST /v1/search and POST /v1/chat with 1 and with 8
concurrent clients over a fixed number of requests each, and prints JSON:

    {"startup_s", "search": {"c1": {...}, "c8": {...}}, "chat": {...}, "mixed": {...}}

"mixed" is the load test: 16 clients sending 320 requests that alternate search and chat.
"explain" is the retrieval inspector's cost: one client sends each question to /v1/search
and to /v1/chat with and without `"explain": true`, alternating which goes first, and the
p50s are compared (`extra`: on over off, minus 1).

with p50/p95/mean latency in ms, throughput (requests/s) and the error count per run.
The server runs in its own process, so the client's work does not share its GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx

from eval.stats import pct, step

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = (1, 8)
MIXED_CLIENTS, MIXED_REQUESTS = 16, 320


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def questions() -> list[str]:
    from eval.dataset import load_items

    return [it.question for it in load_items() if it.split != "test"]  # test: run once


def server_env(data_dir: Path, corpus_dir: Path = ROOT / "corpus",
               **extra: str) -> dict[str, str]:
    """The environment of a benchmarked server: embedded store, extractive answers, no
    keys and no rate limit, nothing from the caller's CAREERBOT_* settings that matters."""
    return {**os.environ, "CAREERBOT_DATA_DIR": str(data_dir),
            "CAREERBOT_CORPUS_DIR": str(corpus_dir), "CAREERBOT_QDRANT_URL": "",
            "CAREERBOT_LLM_BASE_URL": "", "CAREERBOT_API_KEYS": "", "CAREERBOT_ADMIN_KEYS": "",
            "CAREERBOT_RATE_LIMIT_PER_MINUTE": "0", "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(ROOT), **extra}


@contextmanager
def served(tmp: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, float]]:
    """`careerbot serve` in a subprocess on a free loopback port (data in `tmp/data` unless
    `env` says otherwise); yields its base URL, once ready, and how long that took (model
    load and first ingest included); stopped on exit."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp / "serve.log"
    step("starting a server (model load and first ingest)")
    t = time.perf_counter()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env or server_env(tmp / "data"), stdout=log,
            stderr=subprocess.STDOUT)
    try:
        wait_ready(base, proc, log_path)
        yield base, round(time.perf_counter() - t, 1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(base: str, proc: subprocess.Popen[bytes], log_path: Path,
               timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError("server exited:\n" + log_path.read_text()[-3000:])
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("server not ready in time:\n" + log_path.read_text()[-3000:])
        time.sleep(0.5)


async def run_load(base: str, path: str | None, bodies: list[Any], clients: int
                   ) -> dict[str, Any]:
    """Send every body once, `clients` at a time; latency of each request. With `path`
    None, each body is a (path, body) pair (a mixed load)."""
    latencies: list[float] = []
    errors = 0
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        async def worker() -> None:
            nonlocal errors
            for body in queue:  # a shared iterator: each body is taken by one worker
                url, payload = (path, body) if path else body
                t = time.perf_counter()
                try:
                    r = await client.post(url, json=payload)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - t) * 1000)
                errors += not ok

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    return {"requests": len(latencies), "errors": errors,
            "p50_ms": round(pct(latencies, 50), 1), "p95_ms": round(pct(latencies, 95), 1),
            "p99_ms": round(pct(latencies, 99), 1),
            "mean_ms": round(statistics.fmean(latencies), 1),
            "rps": round(len(latencies) / wall, 2)}


async def explain_cost(base: str, questions: list[str], rounds: int) -> dict[str, Any]:
    """p50 latency of search and chat with and without explain, measured side by side."""
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        for path, field in (("/v1/search", "query"), ("/v1/chat", "message")):
            ms: dict[bool, list[float]] = {False: [], True: []}
            errors = 0
            for i, q in zip(range(rounds), cycle(questions), strict=False):
                # alternate the order, so neither setting always meets a warmer cache
                for explain in ((False, True) if i % 2 else (True, False)):
                    t = time.perf_counter()
                    r = await client.post(path, json={field: q, "explain": explain})
                    ms[explain].append((time.perf_counter() - t) * 1000)
                    errors += r.status_code != 200
            off, on = pct(ms[False], 50), pct(ms[True], 50)
            out[path.rsplit("/", 1)[1]] = {
                "requests": rounds, "errors": errors, "p50_off_ms": round(off, 1),
                "p50_on_ms": round(on, 1), "extra": round(on / off - 1, 3)}
    return out


def bench(requests: int) -> dict[str, Any]:
    qs = questions()
    out: dict[str, Any] = {"requests_per_run": requests, "concurrency": list(CONCURRENCY)}
    with tempfile.TemporaryDirectory(prefix="careerbot-bench-api-") as tmp, \
            served(Path(tmp)) as (base, startup):
        out["startup_s"] = startup  # incl. model load, ingest
        bodies = {
            "search": [{"query": q} for q in qs],
            "chat": [{"message": q} for q in qs],
        }
        for path, name in (("/v1/search", "search"), ("/v1/chat", "chat")):
            step(f"{path}: 1 to {max(CONCURRENCY)} clients")
            asyncio.run(run_load(base, path, bodies[name][:8], 4))  # warm-up
            out[name] = {}
            for clients in CONCURRENCY:
                sample = [b for b, _ in zip(cycle(bodies[name]), range(requests),
                                            strict=False)]
                out[name][f"c{clients}"] = asyncio.run(
                    run_load(base, path, sample, clients))
        step("explain on and off, one client")
        out["explain"] = asyncio.run(explain_cost(base, qs, max(requests, 48)))
        step(f"mixed load: {MIXED_CLIENTS} clients, {MIXED_REQUESTS} requests")
        # The load test: many clients mixing search and chat, bounded in count.
        mixed = [(("/v1/search", {"query": q}) if i % 2 else ("/v1/chat", {"message": q}))
                 for i, q in zip(range(MIXED_REQUESTS), cycle(qs), strict=False)]
        out["mixed"] = asyncio.run(run_load(base, None, mixed, MIXED_CLIENTS))
        out["ready_after_load"] = httpx.get(f"{base}/readyz", timeout=10).status_code
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=48,
                    help="requests per endpoint and concurrency level (default 48)")
    args = ap.parse_args()
    print(json.dumps(bench(max(1, args.requests)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
