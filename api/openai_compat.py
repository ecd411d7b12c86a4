"""OpenAI Chat Completions compatibility: POST /v1/chat/completions, GET /v1/models.

Any OpenAI client (the official SDKs, Open WebUI, bots built on them) can use careerbot
as model `careerbot`. The answer text ends with a short numbered Sources list; the
structured citations also ride along in an extra top-level `citations` field (in the last
chunk when streaming). Sampling fields are accepted and ignored. Errors on these routes
use OpenAI's error shape: {"error": {"message", "type", "param", "code"}}.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, params
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.chat import ERRORS, SSE_PING_SECONDS, answer_events
from api.errors import ApiError, openai_type
from api.runtime import ServicesDep, prepare_bot
from api.schemas import (
    HISTORY_MAX_TURNS,
    QUERY_MAX_CHARS,
    TURN_MAX_CHARS,
    ChatCompletion,
    ChatCompletionRequest,
    ModelCard,
    ModelList,
    OpenAIErrorBody,
    OpenAIMessage,
)
from rag.chat import CareerBot

MODEL_ID = "careerbot"
MODEL_CREATED = 1767225600  # 2026-01-01: fixed, so the model card never changes

# The same statuses as the rest of the API, in OpenAI's error shape, and 400 for 422.
_OPENAI_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {**spec, "model": OpenAIErrorBody} for code, spec in ERRORS.items() if code != 422
} | {
    400: {"model": OpenAIErrorBody, "description": "The request is invalid; the message "
          "says which field and why."},
    404: {"model": OpenAIErrorBody, "description": "Unknown model id."},
}


def _card() -> ModelCard:
    return ModelCard(id=MODEL_ID, created=MODEL_CREATED)


def _check_model(model: str) -> None:
    if model != MODEL_ID:
        raise ApiError(
            404, "model_not_found",
            f"the model {model!r} does not exist; this server serves {MODEL_ID!r} "
            "(GET /v1/models)", param="model",
        )


def question_and_history(
    messages: Sequence[OpenAIMessage],
) -> tuple[str, list[dict[str, str]]]:
    """The last user message is the question; earlier user and assistant messages are the
    history. System, developer and tool messages are ignored.

    Chat clients resend the whole conversation every time, so instead of refusing a long
    one, only the last HISTORY_MAX_TURNS turns are kept, each cut to TURN_MAX_CHARS.
    """
    last = next((i for i in range(len(messages) - 1, -1, -1)
                 if messages[i].role == "user"), None)
    if last is None:
        raise ApiError(400, "invalid_request", "messages has no user message; the last user "
                       "message is the question", param="messages")
    question = messages[last].text().strip()
    if not question:
        raise ApiError(400, "invalid_request", "the last user message has no text; send the "
                       "question as its content", param=f"messages.{last}.content")
    if len(question) > QUERY_MAX_CHARS:
        raise ApiError(400, "invalid_request", f"the last user message is {len(question)} "
                       f"characters long; at most {QUERY_MAX_CHARS} are allowed",
                       param=f"messages.{last}.content")
    history = [
        {"role": m.role, "content": text[:TURN_MAX_CHARS]}
        for m in messages[:last]
        if m.role in ("user", "assistant") and (text := m.text().strip())
    ]
    return question, history[-HISTORY_MAX_TURNS:]


def sources_text(citations: Sequence[Mapping[str, Any]]) -> str:
    """A short numbered Sources list; citations of one section share a line."""
    lines: dict[tuple[str, str, str], list[int]] = {}
    for c in citations:
        key = (str(c.get("title") or c["doc_id"]), str(c.get("section") or ""),
               str(c.get("url") or ""))
        lines.setdefault(key, []).append(int(c["n"]))
    out = []
    for (title, section, url), ns in lines.items():
        line = "- " + "".join(f"[{n}]" for n in ns) + " " + title
        if section:
            line += f" › {section}"
        if url:
            line += f" — {url}"
        out.append(line)
    return "Sources:\n" + "\n".join(out) if out else ""


def with_sources(answer: str, citations: Sequence[Mapping[str, Any]]) -> str:
    listing = sources_text(citations)
    return f"{answer.rstrip()}\n\n{listing}" if listing else answer


def approx_tokens(text: str) -> int:
    """Words and punctuation marks: a rough stand-in for a tokenizer's count."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def _usage(messages: Sequence[OpenAIMessage], completion: str) -> dict[str, int]:
    prompt = approx_tokens(" ".join(m.text() for m in messages))
    done = approx_tokens(completion)
    return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}


async def models() -> ModelList:
    return ModelList(data=[_card()])


async def model(model: str) -> ModelCard:
    _check_model(model)
    return _card()


def _chunk(cid: str, created: int, delta: dict[str, Any], finish: str | None = None,
           **extra: Any) -> ServerSentEvent:
    body = {"id": cid, "object": "chat.completion.chunk", "created": created,
            "model": MODEL_ID, "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish}], **extra}
    return ServerSentEvent(data=json.dumps(body, ensure_ascii=False))


async def _completion_stream(
    bot: CareerBot, req: ChatCompletionRequest, question: str,
    history: list[dict[str, str]],
) -> AsyncIterator[ServerSentEvent]:
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    yield _chunk(cid, created, {"role": "assistant", "content": ""})
    text = ""
    async for kind, value in answer_events(bot, question, history, top_k=None, sources=None):
        if kind == "delta":
            text += value
            yield _chunk(cid, created, {"content": value})
        elif kind == "done":
            tail = with_sources(value["answer"], value["citations"])[len(value["answer"]):]
            if tail:
                text += tail
                yield _chunk(cid, created, {"content": tail})
            yield _chunk(cid, created, {}, "stop", citations=value["citations"])
            if req.stream_options is not None and req.stream_options.include_usage:
                body = {"id": cid, "object": "chat.completion.chunk", "created": created,
                        "model": MODEL_ID, "choices": [],
                        "usage": _usage(req.messages, text)}
                yield ServerSentEvent(data=json.dumps(body))
        elif kind == "error":
            status, err = value
            err = {**err, "type": openai_type(status), "param": None}
            yield ServerSentEvent(data=json.dumps({"error": err}, ensure_ascii=False))
    yield ServerSentEvent(data="[DONE]")


async def chat_completions(req: ChatCompletionRequest, services: ServicesDep) -> Any:
    _check_model(req.model)
    question, history = question_and_history(req.messages)
    bot = await run_in_threadpool(prepare_bot, services, None)
    if req.stream:
        return EventSourceResponse(_completion_stream(bot, req, question, history),
                                   ping=SSE_PING_SECONDS, sep="\n")
    answer = (await run_in_threadpool(bot.ask, question, history)).to_dict()
    content = with_sources(answer["answer"], answer["citations"])
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_ID,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": _usage(req.messages, content),
        "system_fingerprint": None,
        "citations": answer["citations"],
    }


def add_routes(app: FastAPI, dependencies: Sequence[params.Depends]) -> None:
    errs = _OPENAI_ERRORS
    app.add_api_route(
        "/v1/chat/completions", chat_completions, methods=["POST"], tags=["openai"],
        dependencies=dependencies, response_model=ChatCompletion,
        responses={200: {"description": "A chat completion; with `stream: true`, "
                         "text/event-stream of chat.completion.chunk objects ending with "
                         "`data: [DONE]`.",
                         "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                   **errs},
        summary="OpenAI-compatible chat completions (model `careerbot`)",
        description="The answer text ends with a numbered Sources list; the structured "
        "citations are in the extra top-level `citations` field (last chunk when streaming).",
    )
    app.add_api_route(
        "/v1/models", models, methods=["GET"], tags=["openai"], dependencies=dependencies,
        response_model=ModelList, responses={k: errs[k] for k in (401, 429)},
        summary="OpenAI-compatible model list (one model: careerbot)",
    )
    app.add_api_route(
        "/v1/models/{model}", model, methods=["GET"], tags=["openai"],
        dependencies=dependencies, response_model=ModelCard,
        responses={k: errs[k] for k in (401, 404, 429)},
        summary="OpenAI-compatible model card",
    )
