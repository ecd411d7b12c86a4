"""The chat's first load in a browser: a benchmark, not a test (`python -m eval.bench_ui`,
`make bench`).

Starts `careerbot serve` on a loopback port (as eval.bench_api does), then opens the page
in headless Chromium (Debian's /usr/bin/chromium through Playwright, never Playwright's
own download) several times, each in a fresh browser context (an empty cache, like a first
visit), and once more in the same context (a return visit, cache warm). For each load it
measures the bytes transferred (the network's encoded sizes, headers included, from the
DevTools protocol) and the time from navigation until the question box accepts input (a
typed character shows in it). Prints JSON:

    {"startup_s", "cold": {"loads", "bytes_p50", "requests_p50", "interactive_ms_p50",
     "interactive_ms": [...]}, "warm": {...}}
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eval.bench_api import served
from eval.stats import step

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BOX = "#cb-input textarea"


def load(context: Any, url: str) -> dict[str, float]:
    """One page load: bytes, requests, and ms until the question box takes a keystroke."""
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    sizes: list[float] = []
    cdp.on("Network.loadingFinished", lambda e: sizes.append(float(e["encodedDataLength"])))
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    box = page.locator(BOX)
    box.wait_for(state="visible")
    while True:  # interactive: enabled, and a typed character lands in it
        if box.is_editable():
            box.press("x")
            if box.input_value().endswith("x"):
                break
        page.wait_for_timeout(10)
    interactive = (time.perf_counter() - t0) * 1000
    page.wait_for_load_state("load")
    page.wait_for_timeout(1500)  # what loads after: the conversations, the guide list
    page.close()
    return {"bytes": sum(sizes), "requests": len(sizes), "interactive_ms": interactive}


def summary(loads: list[dict[str, float]]) -> dict[str, Any]:
    return {"loads": len(loads),
            "bytes_p50": int(statistics.median(x["bytes"] for x in loads)),
            "requests_p50": int(statistics.median(x["requests"] for x in loads)),
            "interactive_ms_p50": round(statistics.median(x["interactive_ms"] for x in loads)),
            "interactive_ms": [round(x["interactive_ms"]) for x in loads]}


def bench(loads: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="careerbot-bench-ui-") as tmp, \
            served(Path(tmp)) as (base, startup):
        url = f"{base}/"
        out["startup_s"] = startup
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=ARGS)
            try:
                warmup = browser.new_context()
                load(warmup, url)  # the server's first page render and file reads
                warmup.close()
                step(f"{loads} first visits (empty cache)")
                cold = []
                for _ in range(loads):
                    ctx = browser.new_context()
                    cold.append(load(ctx, url))
                    ctx.close()
                step(f"{loads} return visits (cache warm)")
                ctx = browser.new_context()
                load(ctx, url)
                warm = [load(ctx, url) for _ in range(loads)]
                ctx.close()
            finally:
                browser.close()
        out["cold"], out["warm"] = summary(cold), summary(warm)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loads", type=int, default=5, help="page loads per kind (default 5)")
    args = ap.parse_args()
    if not CHROMIUM.exists():
        print(f"bench_ui: skipped, {CHROMIUM} not found (apt-get install -y chromium)",
              file=sys.stderr)
        return 0
    print(json.dumps(bench(max(1, args.loads)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
