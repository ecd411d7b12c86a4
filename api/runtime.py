"""What every API request reads, the process's `Services` (rag.services), and the API's
wording of what keeps a request from being served: 503s with Retry-After, 422s.

The app keeps one `Services` (built by `create_app`, or handed in by `careerbot serve`);
the lifespan opens its store and loads its model and puts it in the lifespan state
(`request.state.services`), and `create_app` on `app.state.services` too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError
from rag.chat import CareerBot
from rag.failures import EMPTY_INDEX, STORE_ERRORS, Failure
from rag.services import Services
from rag.store import Store

log = logging.getLogger("careerbot.api")

__all__ = ["EMPTY_INDEX", "ServicesDep", "readiness", "require_answerable", "unknown_sources"]

MODEL_RETRY_S = 5


def _services(request: Request) -> Services:
    services: Services | None = getattr(request.state, "services", None)
    if services is None:  # a server that does not pass the lifespan state on
        services = request.app.state.services
    assert services is not None
    return services


ServicesDep = Annotated[Services, Depends(_services)]


def not_ready(services: Services, failure: Failure) -> ApiError:
    """503 not_ready; Retry-After when waiting helps (not for an empty index)."""
    retry = {"starting": MODEL_RETRY_S, "model_failed": MODEL_RETRY_S,
             "store_down": max(1, round(services.reopen_interval))}.get(failure.kind)
    return ApiError(503, "not_ready", failure.detail,
                    headers={"Retry-After": str(retry)} if retry else None)


def require_model(services: Services) -> None:
    if (problem := services.model_problem()) is not None:
        raise not_ready(services, problem)


def require_store(services: Services) -> Store:
    if (problem := services.store_problem()) is not None:
        raise not_ready(services, problem)
    return services.store


def unknown_sources(store: Store, sources: Sequence[str]) -> str | None:
    """Why `sources` cannot be searched, or None when every id is indexed."""
    valid = [d["doc_id"] for d in store.list_docs()]
    unknown = sorted(set(sources) - set(valid))
    if not unknown:
        return None
    return f"unknown source id(s): {', '.join(unknown)}; valid ids: {', '.join(valid) or 'none'}"


def require_answerable(services: Services, sources: Sequence[str] | None) -> Store:
    """The store, when it is reachable, non-empty and holds every id of `sources`."""
    store = require_store(services)
    if store.count() == 0:
        raise not_ready(services, Failure("empty_index", EMPTY_INDEX))
    if sources and (problem := unknown_sources(store, sources)):
        raise ApiError(422, "unknown_source", problem, param="sources")
    return store


def prepare_bot(services: Services, sources: Sequence[str] | None) -> CareerBot:
    """The bot, once the model, the store, the index and `sources` are fine (else 4xx/503).

    Blocking (store calls): run it in a worker thread.
    """
    require_model(services)
    require_answerable(services, sources)
    return services.bot


def readiness(services: Services) -> tuple[str | None, int, int]:
    """(reason not ready or None, chunks, documents)."""
    if (problem := services.store_problem()) is not None:
        return problem.detail, 0, 0
    store = services.store
    try:
        chunks, documents = store.count(), len(store.list_docs())
    except STORE_ERRORS as e:
        return f"store unreachable: {e or type(e).__name__}", 0, 0
    if (problem := services.model_problem()) is not None:
        return problem.detail, chunks, documents
    return (EMPTY_INDEX if chunks == 0 else None), chunks, documents
