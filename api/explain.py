"""`"explain": true` on POST /v1/search and POST /v1/chat (the retrieval inspector; see
rag.explain). Off by default: without it the routes answer exactly as before, and the
`explain` keys are absent, not null (the routes serialise what was set)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.runtime import prepare_bot, require_answerable
from api.schemas import ChatRequest, ChatResponse, SearchRequest
from rag.explain import explain_answer, explain_search
from rag.services import Services

SSE_PING_SECONDS = 15


def search(services: Services, req: SearchRequest) -> dict[str, Any]:
    """The /v1/search body with `explain` on every result. Blocking: run it in a thread."""
    require_answerable(services, req.sources)
    found = explain_search(services.retriever, req.query,
                           top_k=req.top_k or services.settings.top_k, mode=req.mode,
                           sources=req.sources)
    return found.response()


async def chat(services: Services, req: ChatRequest) -> Any:
    """The /v1/chat answer with `explain`; with `stream`, the same events as without
    explain, the answer being composed first."""
    bot = await run_in_threadpool(prepare_bot, services, req.sources)
    answer, report = await run_in_threadpool(
        explain_answer, bot, req.message, [t.model_dump() for t in req.history],
        top_k=req.top_k, sources=req.sources)
    body = {**answer.to_dict(), "session_id": req.session_id, "explain": report}
    if not req.stream:
        return body
    return EventSourceResponse(_events(body), ping=SSE_PING_SECONDS, sep="\n")


def _sse(event: str, data: Any) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(data, ensure_ascii=False), event=event)


async def _events(body: dict[str, Any]) -> AsyncIterator[ServerSentEvent]:
    yield _sse("meta", {"intent": body["intent"]})
    lines = str(body["answer"]).split("\n")
    for i, line in enumerate(lines):
        yield _sse("delta", {"text": line + ("\n" if i < len(lines) - 1 else "")})
    yield _sse("citations", body["citations"])
    yield _sse("done", ChatResponse.model_validate(body).model_dump(mode="json",
                                                                    exclude_unset=True))
