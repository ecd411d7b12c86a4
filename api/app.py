"""The FastAPI app. `create_app(settings)` builds it; nothing here reads configuration.

Layout: ops routes (/healthz, /readyz) are open; every /v1 route carries the `v1`
dependencies (API key when configured, rate limit; see api.security); the chat UI is
mounted at "/" last. Route modules expose `add_routes(app, dependencies)`. The app serves from
one `rag.services.Services`, which the UI receives too (it never sees this app's state).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Request, Security, params
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from api import chat, errors, explain, feedback_routes, openai_compat, sources_routes
from api.admin import AdminGuard
from api.errors import ApiError
from api.runtime import (
    EMPTY_INDEX,
    ServicesDep,
    readiness,
    require_answerable,
    require_model,
    require_store,
    unknown_sources,
)
from api.schemas import (
    ErrorBody,
    Ready,
    SearchRequest,
    SearchResponse,
    SourcesResponse,
    SourceText,
)
from api.security import ApiCORS, Guard, bearer
from ingest.sources import Guides
from rag.access import parse_list
from rag.embed import Embedder
from rag.schema import DocRecord
from rag.services import Services
from rag.settings import Settings
from rag.store import Hit, Store, StoreError

# Set before anything imports huggingface_hub (the model loads lazily, after this): the
# weights ship with a package, so a hub lookup could only time out on offline machines.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

log = logging.getLogger("careerbot.api")

__all__ = ["EMPTY_INDEX", "create_app", "unknown_sources"]

_ERRORS = chat.ERRORS


def _search(services: Services, req: SearchRequest) -> list[Hit]:
    require_answerable(services, req.sources)
    return services.retriever.search(
        req.query, top_k=req.top_k or services.settings.top_k, mode=req.mode,
        sources=req.sources,
    )


def _guard_dependency(guard: Guard) -> params.Security:
    async def guarded(
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> None:
        guard.check(request, creds)

    return Security(guarded)


def create_app(
    settings: Settings, *, store: Store | None = None, embedder: Embedder | None = None,
    services: Services | None = None, on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """The API with the chat UI mounted at "/", serving from `services` (built from
    `settings`, with `store` and `embedder` when given, unless handed in). The lifespan
    opens the store and loads the model; it closes only what it built."""
    own = services is None
    if services is None:
        services = Services(settings, store=store, embedder=embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Services]]:
        services.serving = True  # from here on, ingests must not stall the answers
        try:
            await run_in_threadpool(services.connect)
        except StoreError as e:
            log.error("store unavailable (retrying on requests): %s", e)
        if not services.model_loaded:
            # In the background so /healthz answers while the model loads (seconds on CPU).
            threading.Thread(target=services.load_model, name="model-load",
                             daemon=True).start()
        try:
            yield {"services": services}
        finally:
            # Here, not after uvicorn.run returns: on SIGTERM uvicorn shuts the app down and
            # then re-raises the signal, which ends the process before any code after it.
            services.serving = False
            if on_shutdown is not None:
                on_shutdown()
            if own:
                services.close()

    app = FastAPI(
        title="careerbot",
        summary="Answers about becoming a machine learning engineer from indexed guides, "
        "with exact citations; OpenAI-compatible at /v1/chat/completions.",
        version="0.1.0",
        lifespan=lifespan,
    )
    errors.install(app, upload_bytes=int(settings.max_upload_mb * 2**20))
    # Closed unless origins are configured; added last, so it wraps everything (error
    # bodies too).
    app.add_middleware(ApiCORS, origins=parse_list(settings.cors_origins))
    # Every /v1 route: API key (when configured) and rate limit. Routes are added to the
    # app itself, not through include_router, so each is a plain APIRoute in app.routes.
    guard = Guard(settings, services.limiter)
    v1 = [_guard_dependency(guard)]

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz", tags=["ops"], response_model=Ready, responses={503: _ERRORS[503]},
        summary="Readiness: model loaded, store reachable, index non-empty",
    )
    async def readyz(services: ServicesDep) -> Ready | JSONResponse:
        reason, chunks, documents = await run_in_threadpool(readiness, services)
        if reason:
            return errors.error_response(503, "not_ready", reason)
        return Ready(chunks=chunks, documents=documents)

    @app.post(
        "/v1/search", tags=["search"], response_model=SearchResponse, responses=_ERRORS,
        dependencies=v1, summary="Rank passages of the guides for a query",
        response_model_exclude_unset=True,  # `explain` only when asked for
    )
    async def search(req: SearchRequest, services: ServicesDep) -> dict[str, Any]:
        require_model(services)
        if req.explain:
            return await run_in_threadpool(explain.search, services, req)
        hits = await run_in_threadpool(_search, services, req)
        return {"results": [h.to_dict() for h in hits]}

    @app.get(
        "/v1/sources", tags=["sources"], response_model=SourcesResponse,
        responses={k: _ERRORS[k] for k in (401, 429, 503)}, dependencies=v1,
        summary="List the indexed documents",
    )
    async def sources(services: ServicesDep) -> dict[str, Any]:
        store = await run_in_threadpool(require_store, services)
        return {"sources": await run_in_threadpool(store.list_docs)}

    @app.get(
        "/v1/sources/{doc_id}", tags=["sources"], response_model=SourceText,
        responses={404: {"model": ErrorBody, "description": "No such document."},
                   **{k: _ERRORS[k] for k in (401, 429, 503)}},
        dependencies=v1,
        summary="One document with its full text (passage offsets index into it)",
    )
    async def source(doc_id: str, services: ServicesDep) -> DocRecord:
        store = await run_in_threadpool(require_store, services)
        doc = await run_in_threadpool(store.get_doc, doc_id)
        if doc is None:
            raise ApiError(
                404, "not_found", f"no document {doc_id!r}; GET /v1/sources lists the valid ids"
            )
        return doc

    chat.add_routes(app, v1)
    openai_compat.add_routes(app, v1)
    feedback_routes.add_routes(app, v1)
    # Writes of the guides: admin keys, not chat keys (api.admin).
    guides = Guides(services)
    sources_routes.add_routes(app, guides, guard, AdminGuard(settings))

    # Last: the chat UI's mount at "/" takes every path no route above matched.
    from ui.app import mount_ui

    mount_ui(app, services, guides)
    app.state.services = services
    return app
