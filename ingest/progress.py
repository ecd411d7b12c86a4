"""Progress of an ingest: a bar in a terminal, a few log lines elsewhere, nothing when quiet.

One helper for every ingest path (`careerbot ingest` and `reindex`, the first ingest of
`careerbot serve`); `rag` has none. It always writes to the stream it is given (stderr),
never to stdout, so `--json` output stays machine-readable. In a terminal it is a tqdm bar
(texts embedded out of total, rate, time left); without one (CI, a log file, a pipe) it is
a start line, a line about every 10% and an end line, so a slow run can be told from a
hung one without a flood.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    def begin(self, documents: int, texts: int) -> None:
        """The work ahead: guides to index and texts (chunks, pieces...) to embed."""

    def advance(self, texts: int) -> None:
        """`texts` more were embedded."""

    def end(self) -> None: ...


class NoProgress:
    def begin(self, documents: int, texts: int) -> None:
        pass

    def advance(self, texts: int) -> None:
        pass

    def end(self) -> None:
        pass


class LogProgress:
    """Lines for a log: start, every `step` of the total (10%), end; with rate and time left."""

    def __init__(self, stream: TextIO, step: float = 0.1, label: str = "ingest") -> None:
        self.stream = stream
        self.step = step
        self.label = label
        self.total = 0
        self.done = 0
        self.next_mark = 0.0
        self.t0 = 0.0

    def _say(self, text: str) -> None:
        print(f"{self.label}: {text}", file=self.stream, flush=True)

    def begin(self, documents: int, texts: int) -> None:
        self.total, self.done, self.t0 = texts, 0, time.perf_counter()
        self.next_mark = self.step
        self._say(f"{documents} guide(s) to index, {texts} texts to embed")

    def advance(self, texts: int) -> None:
        self.done += texts
        if not self.total or self.done / self.total < self.next_mark or self.done >= self.total:
            return
        while self.done / self.total >= self.next_mark:
            self.next_mark += self.step
        rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
        left = (self.total - self.done) / rate if rate else 0.0
        self._say(f"{100 * self.done // self.total}% ({self.done}/{self.total} texts, "
                  f"{rate:.1f} texts/s, about {left:.0f} s left)")

    def end(self) -> None:
        seconds = time.perf_counter() - self.t0
        rate = self.done / seconds if seconds > 0 else 0.0
        self._say(f"done: {self.done} texts embedded in {seconds:.1f} s ({rate:.1f} texts/s)")


class BarProgress:
    """A tqdm bar for a terminal (tqdm is a dependency already)."""

    def __init__(self, stream: TextIO, label: str = "ingest") -> None:
        self.stream = stream
        self.label = label
        self.bar: Any = None

    def begin(self, documents: int, texts: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=texts, unit="text", file=self.stream, dynamic_ncols=True,
                        desc=f"{self.label} ({documents} guide{'s' if documents != 1 else ''})")

    def advance(self, texts: int) -> None:
        if self.bar is not None:
            self.bar.update(texts)

    def end(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress_for(stream: TextIO | None = None, quiet: bool = False) -> Progress:
    """The right reporter for `stream` (stderr by default): nothing when quiet, a bar in a
    terminal, log lines otherwise."""
    stream = stream or sys.stderr
    if quiet:
        return NoProgress()
    isatty = getattr(stream, "isatty", None)
    return BarProgress(stream) if callable(isatty) and isatty() else LogProgress(stream)
