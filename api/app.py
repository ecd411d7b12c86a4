"""The FastAPI app. `create_app(settings)` builds it; nothing here reads configuration."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from api import errors
from api.errors import STORE_ERRORS, ApiError
from api.schemas import (
    ErrorBody,
    Ready,
    SearchRequest,
    SearchResponse,
    SourcesResponse,
    SourceText,
)
from rag.embed import Embedder, SentenceTransformerEmbedder
from rag.retrieve import QdrantRetriever
from rag.settings import Settings
from rag.store import Hit, Store, StoreError

# Set before anything imports huggingface_hub (the model loads lazily, after this): the
# weights ship with a package, so a hub lookup could only time out on offline machines.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

log = logging.getLogger("careerbot.api")

EMPTY_INDEX = "index is empty: run careerbot ingest"

_INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>careerbot</title></head>
<body><h1>careerbot</h1>
<p>The chat UI is coming; meanwhile see the <a href="/docs">API docs</a>
and the <a href="/v1/sources">indexed guides</a>.</p></body></html>
"""


@dataclass
class Runtime:
    """What the lifespan built; every request reads it, nothing mutates it but the loader."""

    settings: Settings
    embedder: Embedder
    store: Store | None
    store_error: str = ""
    model_error: str = ""
    _retriever: QdrantRetriever | None = None

    def retriever(self) -> QdrantRetriever:
        # One per app: it caches what it derives from the guides (the spelling vocabulary).
        if self._retriever is None:
            self._retriever = QdrantRetriever(
                self.require_store(), self.embedder, self.settings.prefetch_k
            )
        return self._retriever

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

    def require_store(self) -> Store:
        if self.store is None:
            raise ApiError(503, "not_ready", f"store unreachable: {self.store_error}")
        return self.store

    def require_model(self) -> None:
        if problem := self.model_problem():
            raise ApiError(503, "not_ready", problem)


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.state.rt
    return rt


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


def unknown_sources(store: Store, sources: Sequence[str]) -> str | None:
    """Why `sources` cannot be searched, or None when every id is indexed."""
    valid = [d["doc_id"] for d in store.list_docs()]
    unknown = sorted(set(sources) - set(valid))
    if not unknown:
        return None
    return f"unknown source id(s): {', '.join(unknown)}; valid ids: {', '.join(valid) or 'none'}"


def _search(rt: Runtime, req: SearchRequest) -> list[Hit]:
    store = rt.require_store()
    if store.count() == 0:
        raise ApiError(503, "not_ready", EMPTY_INDEX)
    if req.sources and (problem := unknown_sources(store, req.sources)):
        raise ApiError(422, "unknown_source", problem)
    return rt.retriever().search(
        req.query, top_k=req.top_k or rt.settings.top_k, mode=req.mode, sources=req.sources
    )


def _readiness(rt: Runtime) -> tuple[str | None, int, int]:
    """(reason not ready or None, chunks, documents)."""
    if rt.store is None:
        return f"store unreachable: {rt.store_error}", 0, 0
    try:
        chunks, documents = rt.store.count(), len(rt.store.list_docs())
    except STORE_ERRORS as e:
        return f"store unreachable: {e or type(e).__name__}", 0, 0
    if problem := rt.model_problem():
        return problem, chunks, documents
    return (EMPTY_INDEX if chunks == 0 else None), chunks, documents


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": desc}
    for code, desc in {
        422: "The request is invalid; the message says which field and why.",
        503: "Not ready (model loading, store unreachable or index empty).",
    }.items()
}


def create_app(
    settings: Settings, *, store: Store | None = None, embedder: Embedder | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Runtime]]:
        owned: Store | None = None
        store_error = ""
        if store is None:
            try:
                owned = await run_in_threadpool(Store.open, settings)
            except StoreError as e:
                store_error = str(e)
                log.error("store unavailable: %s", e)
        emb = embedder if embedder is not None else SentenceTransformerEmbedder(
            settings.resolved_embed_model(), settings.embed_batch_size
        )
        rt = Runtime(settings, emb, store or owned, store_error=store_error)
        if not getattr(emb, "loaded", True):
            # In the background so /healthz answers while the model loads (seconds on CPU).
            threading.Thread(target=rt.load_model, name="model-load", daemon=True).start()
        try:
            yield {"rt": rt}
        finally:
            if owned is not None:
                owned.close()

    app = FastAPI(
        title="careerbot",
        summary="Search guides about becoming a machine learning engineer, with exact citations.",
        version="0.1.0",
        lifespan=lifespan,
    )
    errors.install(app)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return _INDEX_HTML

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz", tags=["ops"], response_model=Ready, responses={503: _ERRORS[503]},
        summary="Readiness: model loaded, store reachable, index non-empty",
    )
    async def readyz(rt: RuntimeDep) -> Ready | JSONResponse:
        reason, chunks, documents = await run_in_threadpool(_readiness, rt)
        if reason:
            return errors.error_response(503, "not_ready", reason)
        return Ready(chunks=chunks, documents=documents)

    @app.post(
        "/v1/search", tags=["search"], response_model=SearchResponse, responses=_ERRORS,
        summary="Rank passages of the guides for a query",
    )
    async def search(req: SearchRequest, rt: RuntimeDep) -> dict[str, Any]:
        rt.require_model()
        hits = await run_in_threadpool(_search, rt, req)
        return {"results": [h.to_dict() for h in hits]}

    @app.get(
        "/v1/sources", tags=["sources"], response_model=SourcesResponse,
        responses={503: _ERRORS[503]}, summary="List the indexed documents",
    )
    async def sources(rt: RuntimeDep) -> dict[str, Any]:
        return {"sources": await run_in_threadpool(rt.require_store().list_docs)}

    @app.get(
        "/v1/sources/{doc_id}", tags=["sources"], response_model=SourceText,
        responses={404: {"model": ErrorBody, "description": "No such document."},
                   503: _ERRORS[503]},
        summary="One document with its full text (passage offsets index into it)",
    )
    async def source(doc_id: str, rt: RuntimeDep) -> dict[str, Any]:
        doc = await run_in_threadpool(rt.require_store().get_doc, doc_id)
        if doc is None:
            raise ApiError(
                404, "not_found", f"no document {doc_id!r}; GET /v1/sources lists the valid ids"
            )
        return doc

    return app
