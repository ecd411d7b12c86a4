"""Latency summaries shared by the eval runs and the benchmarks."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def pct(xs: Sequence[float], p: float) -> float:
    """The p-th percentile by nearest rank (no interpolation)."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def summary(xs: Sequence[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(xs, 50), 2), "p95_ms": round(pct(xs, 95), 2),
            "mean_ms": round(statistics.fmean(xs), 2)}


def step(message: str) -> None:
    """Say on stderr which step a benchmark is in (stdout is its JSON)."""
    import sys

    print(f"bench: {message}", file=sys.stderr, flush=True)
