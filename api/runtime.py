"""What the app's lifespan builds and every request (API or UI) reads: `Runtime`.

One store, one embedder and one `CareerBot` per app, so the bot's caches (document
metadata, spelling vocabulary, answerer) are shared by all requests. The lifespan puts the
runtime in the lifespan state (`request.state.rt`) and on `app.state.rt` for mounted
sub-apps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from api.errors import STORE_ERRORS, ApiError
from rag.chat import CareerBot, build_bot
from rag.embed import Embedder
from rag.retrieve import QdrantRetriever
from rag.settings import Settings
from rag.store import Store

log = logging.getLogger("careerbot.api")

EMPTY_INDEX = "index is empty: run careerbot ingest"


@dataclass
class Runtime:
    """The app's shared state. `store` is None while it cannot be opened (the embedded
    store locked by another process); when the app opened it itself (`reopen`), it tries
    again at most every `reopen_interval` seconds, so the app recovers without a restart.
    A server-mode store that goes down mid-run needs nothing: each call reconnects."""

    settings: Settings
    embedder: Embedder
    store: Store | None
    store_error: str = ""
    model_error: str = ""
    reopen: Callable[[], Store] | None = None
    reopen_interval: float = 5.0
    # The one bot of this app; the UI reads it too (None until the store is open).
    bot: CareerBot | None = None
    _next_reopen: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.store is not None and self.bot is None:
            self.attach(self.store)

    def attach(self, store: Store) -> None:
        """Serve from `store`, with a bot of its own."""
        self.bot = build_bot(self.settings, store, self.embedder)
        self.store, self.store_error = store, ""

    # ------------------------------------------------------------------ model
    def load_model(self) -> None:
        try:
            self.embedder.load()  # type: ignore[attr-defined]
        except Exception as e:  # the app stays up and /readyz says why
            log.exception("embedding model failed to load")
            self.model_error = f"{type(e).__name__}: {e}"

    def model_problem(self) -> str | None:
        if self.model_error:
            return f"embedding model failed to load: {self.model_error}"
        return None if getattr(self.embedder, "loaded", True) else "model loading"

    def require_model(self) -> None:
        if problem := self.model_problem():
            raise ApiError(503, "not_ready", problem, headers={"Retry-After": "5"})

    # ------------------------------------------------------------------ store and bot
    def current_store(self) -> Store | None:
        """The store, reopening it first when it failed and a retry is due."""
        if self.store is not None or self.reopen is None:
            return self.store
        with self._lock:
            if self.store is None and time.monotonic() >= self._next_reopen:
                self._next_reopen = time.monotonic() + self.reopen_interval
                try:
                    store = self.reopen()
                except STORE_ERRORS as e:
                    self.store_error = str(e) or type(e).__name__
                else:
                    log.info("store is back")
                    self.attach(store)
        return self.store

    def require_store(self) -> Store:
        store = self.current_store()
        if store is None:
            raise ApiError(503, "not_ready", f"store unreachable: {self.store_error}",
                           headers={"Retry-After": str(max(1, round(self.reopen_interval)))})
        return store

    def require_bot(self) -> CareerBot:
        self.require_store()
        assert self.bot is not None
        return self.bot

    def retriever(self) -> QdrantRetriever:
        # The bot's own: one per app, caching what it derives from the guides.
        return self.require_bot().retriever

    def close(self) -> None:
        if self.reopen is not None and self.store is not None:
            self.store.close()


def _runtime(request: Request) -> Runtime:
    rt: Runtime | None = getattr(request.state, "rt", None)
    if rt is None:  # a server that does not pass the lifespan state on
        rt = request.app.state.rt
    assert rt is not None
    return rt


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


def unknown_sources(store: Store, sources: Sequence[str]) -> str | None:
    """Why `sources` cannot be searched, or None when every id is indexed."""
    valid = [d["doc_id"] for d in store.list_docs()]
    unknown = sorted(set(sources) - set(valid))
    if not unknown:
        return None
    return f"unknown source id(s): {', '.join(unknown)}; valid ids: {', '.join(valid) or 'none'}"


def require_answerable(rt: Runtime, sources: Sequence[str] | None) -> Store:
    """The store, when it is reachable, non-empty and holds every id of `sources`."""
    store = rt.require_store()
    if store.count() == 0:
        raise ApiError(503, "not_ready", EMPTY_INDEX)
    if sources and (problem := unknown_sources(store, sources)):
        raise ApiError(422, "unknown_source", problem, param="sources")
    return store


def readiness(rt: Runtime) -> tuple[str | None, int, int]:
    """(reason not ready or None, chunks, documents)."""
    store = rt.current_store()
    if store is None:
        return f"store unreachable: {rt.store_error}", 0, 0
    try:
        chunks, documents = store.count(), len(store.list_docs())
    except STORE_ERRORS as e:
        return f"store unreachable: {e or type(e).__name__}", 0, 0
    if problem := rt.model_problem():
        return problem, chunks, documents
    return (EMPTY_INDEX if chunks == 0 else None), chunks, documents
