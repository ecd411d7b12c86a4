"""The corpus folder watched while `careerbot serve` runs (watchfiles: inotify/FSEvents,
polling where those are missing).

Changes are debounced (a copy of many files, an editor's save-and-rename) and handed on
as one batch; the callback runs the same incremental ingest as the CLI, so only changed
guides are embedded. Hidden files (an upload's temporary file, editors' swap files) are
ignored: the ingest never reads them either.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("careerbot.watch")


def _interesting(change: object, path: str) -> bool:
    return not Path(path).name.startswith(".")


class CorpusWatcher:
    """Calls `on_change(paths)` after each debounced batch of changes in `folder`."""

    def __init__(self, folder: Path, on_change: Callable[[set[Path]], None],
                 debounce_ms: int = 1500) -> None:
        self.folder = folder
        self.on_change = on_change
        self.debounce_ms = debounce_ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()  # set once the folder is being watched

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="corpus-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        from watchfiles import watch

        try:
            # yield_on_timeout: an empty batch after each rust_timeout lets us say "ready"
            # once the watch is in place, and notice a stop request.
            for changes in watch(self.folder, watch_filter=_interesting,
                                 debounce=self.debounce_ms, stop_event=self._stop,
                                 rust_timeout=500, yield_on_timeout=True,
                                 raise_interrupt=False):
                self.ready.set()
                if not changes:
                    continue
                paths = {Path(p) for _, p in changes}
                try:
                    self.on_change(paths)
                except Exception:  # one bad batch must not stop the watch
                    log.exception("ingest after a change in %s failed", self.folder)
        except Exception:
            log.exception("watching %s stopped", self.folder)
