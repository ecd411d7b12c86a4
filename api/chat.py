"""POST /v1/chat: an answer with exact citations, as JSON or as a typed event stream.

The answer work is CPU-bound (embedding, scoring), so it runs in worker threads: `ask`
through the threadpool, and the bot's `stream` generator one step per thread call, so the
event loop keeps serving other requests meanwhile.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, params
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import iterate_in_threadpool

from api import explain
from api.errors import ApiError, rate_limited_message, store_unavailable_message
from api.runtime import ServicesDep, prepare_bot
from api.schemas import ChatRequest, ChatResponse, ErrorBody
from rag import failures
from rag.chat import CareerBot

log = logging.getLogger("careerbot.api")

SSE_PING_SECONDS = 15

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": desc}
    for code, desc in {
        401: "Missing or invalid API key (only when the server sets CAREERBOT_API_KEYS).",
        413: "The request body is larger than 64 KiB.",
        422: "The request is invalid; the message says which field and why.",
        429: "Rate limit exceeded; Retry-After says when to retry.",
        503: "Not ready (model loading, store unreachable or index empty).",
    }.items()
}

_STREAM_DOC = (
    "With `stream: true`: text/event-stream with events `meta` ({intent}), `delta` "
    "({text}, pieces of the answer), `citations` ([...]), then `done` (the full response "
    "JSON, as without streaming), or `error` ({error: {code, message}}) if it fails midway."
)


def error_body(exc: BaseException) -> tuple[int, dict[str, str]]:
    """(status, {code, message}) for an exception raised while answering."""
    if isinstance(exc, ApiError):
        return exc.status, {"code": exc.code, "message": exc.message}
    failure = failures.classify(exc)
    if failure.kind == "store_down":
        log.warning("store error while streaming: %r", exc)
        return 503, {"code": "store_unavailable", "message": store_unavailable_message(exc)}
    if failure.kind == "rate_limited":
        return 429, {"code": "rate_limited", "message": rate_limited_message()}
    log.error("error while streaming an answer", exc_info=exc)
    return 500, {"code": "internal", "message": "the answer failed midway (logged on the "
                 "server); retry, and report it if it keeps happening"}


async def answer_events(
    bot: CareerBot, question: str, history: Sequence[Mapping[str, Any]], *,
    top_k: int | None, sources: Sequence[str] | None,
) -> AsyncIterator[tuple[str, Any]]:
    """The bot's stream events, each step run in a worker thread; a failure ends the stream
    with ("error", (status, {code, message})) instead of an exception."""
    gen = bot.stream(question, history, top_k=top_k, sources=sources)
    try:
        async for event in iterate_in_threadpool(gen):
            yield event
    except Exception as e:
        yield "error", error_body(e)
    finally:
        close = getattr(gen, "close", None)  # a client that went away: let it clean up
        try:
            if callable(close):
                close()
        except ValueError:  # still running in its worker thread; it ends on its own
            pass


def _sse(event: str, data: Any) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(data, ensure_ascii=False), event=event)


async def _chat_stream(bot: CareerBot, req: ChatRequest) -> AsyncIterator[ServerSentEvent]:
    history = [t.model_dump() for t in req.history]
    async for kind, value in answer_events(bot, req.message, history, top_k=req.top_k,
                                           sources=req.sources):
        if kind == "delta":
            yield _sse("delta", {"text": value})
        elif kind == "done":
            yield _sse("done", ChatResponse.model_validate(
                {**value, "session_id": req.session_id}).model_dump(mode="json",
                                                                    exclude_unset=True))
        elif kind == "error":
            yield _sse("error", {"error": value[1]})
        else:  # meta, citations
            yield _sse(kind, value)


async def chat(req: ChatRequest, services: ServicesDep) -> Any:
    if req.explain:
        return await explain.chat(services, req)
    bot = await run_in_threadpool(prepare_bot, services, req.sources)
    if req.stream:
        return EventSourceResponse(_chat_stream(bot, req), ping=SSE_PING_SECONDS, sep="\n")
    answer = await run_in_threadpool(
        bot.ask, req.message, [t.model_dump() for t in req.history], top_k=req.top_k,
        sources=req.sources,
    )
    log.info("chat session=%s intent=%s abstained=%s total_ms=%s", req.session_id,
             answer.intent, answer.abstained, answer.timings_ms.get("total"))
    return {**answer.to_dict(), "session_id": req.session_id}


def add_routes(app: FastAPI, dependencies: Sequence[params.Depends]) -> None:
    app.add_api_route(
        "/v1/chat", chat, methods=["POST"], tags=["chat"], dependencies=dependencies,
        response_model=ChatResponse, response_model_exclude_unset=True,  # explain: if asked
        responses={200: {"description": "The answer. " + _STREAM_DOC,
                         "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                   **ERRORS},
        summary="Answer a question from the guides, with numbered exact citations",
        description="Every citation's `quote` is exactly `GET /v1/sources/{doc_id}` "
        "`text[start:end]`. " + _STREAM_DOC,
    )
