"""One body for every error response: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# One list of store errors for the API and the UI (rag.failures): each answers them as
# "the store is unavailable", here with 503 store_unavailable.
from rag.failures import STORE_ERRORS

log = logging.getLogger("careerbot.api")


MAX_BODY_BYTES = 64 * 1024
TOO_LARGE = f"request body is larger than {MAX_BODY_BYTES // 1024} KiB; send a shorter query"


# The OpenAI-compatible routes answer errors in OpenAI's shape, a superset of ours:
# {"error": {"code", "message", "type", "param"}}, so OpenAI clients show the message.
OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")
_OPENAI_TYPES = {401: "authentication_error", 403: "permission_error",
                 429: "rate_limit_error", 503: "server_error", 500: "server_error"}


def openai_type(status: int) -> str:
    return _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def is_openai_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in OPENAI_PATHS)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *,
                 headers: dict[str, str] | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers, self.param = headers, param


def error_response(status: int, code: str, message: str, *, headers: dict[str, str] | None
                   = None, openai: bool = False, param: str | None = None) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if openai:
        body |= {"type": openai_type(status), "param": param}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _respond(request: Request, status: int, code: str, message: str, *,
             headers: dict[str, str] | None = None, param: str | None = None) -> JSONResponse:
    return error_response(status, code, message, headers=headers, param=param,
                          openai=is_openai_path(request.url.path))


def _field(loc: tuple[int | str, ...]) -> str:
    # ("body", "top_k") reads better as "top_k"; keep the location when it is all there is.
    return ".".join(map(str, loc[1:] or loc))


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _respond(request, exc.status, exc.code, exc.message, headers=exc.headers,
                    param=exc.param)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    ctype = request.headers.get("content-type", "")
    openai = is_openai_path(request.url.path)
    if any(e["loc"] == ("body",) for e in errors) and "json" not in ctype:
        # FastAPI parses a body as JSON only when the request says it is JSON.
        return _respond(
            request, 415, "unsupported_media_type",
            "send the request body as JSON with the header Content-Type: application/json "
            f"(got {ctype or 'no Content-Type'})",
        )
    bad_json = next((e for e in errors if e["type"] == "json_invalid"), None)
    if bad_json is not None:
        why = bad_json.get("ctx", {}).get("error", "JSON decode error")
        return _respond(
            request, 400, "invalid_json",
            f"request body is not valid JSON ({why} at character {_field(bad_json['loc'])}); "
            'send a JSON object such as {"query": "How do I become an ML engineer?"}',
        )
    parts = [
        f"{_field(e['loc'])}: "
        + ("unknown field, remove it" if e["type"] == "extra_forbidden" else e["msg"])
        for e in errors
    ]
    # OpenAI answers an invalid request with 400, and its clients expect that.
    return _respond(
        request, 400 if openai else 422, "invalid_request",
        "; ".join(parts) + " (the request schema is at /docs)",
        param=_field(errors[0]["loc"]) if errors else None,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    message = {
        404: f"no such route: {request.method} {request.url.path}; the API is listed at /docs",
        405: f"{request.method} is not allowed on {request.url.path}; see /docs",
        413: TOO_LARGE,
    }.get(status, str(exc.detail))
    code = "payload_too_large" if status == 413 else HTTPStatus(status).phrase.lower().replace(
        " ", "_")
    return _respond(request, status, code, message, headers=getattr(exc, "headers", None))


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("store error on %s %s: %r", request.method, request.url.path, exc)
    return _respond(request, 503, "store_unavailable", store_unavailable_message(exc),
                    headers={"Retry-After": "5"})


def rate_limited_message(per_minute: int | None = None, wait: int | None = None) -> str:
    limit = f" of {per_minute} requests per minute" if per_minute else ""
    return f"rate limit{limit} exceeded; " + (f"retry in {wait} s" if wait else "retry later")


def store_unavailable_message(exc: BaseException) -> str:
    return (f"the vector store is unavailable ({exc or type(exc).__name__}); check that Qdrant "
            "is running and reachable, then retry")


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _respond(
        request, 500, "internal", "internal server error (logged on the server); retry, and "
        "report it if it keeps happening",
    )


UPLOAD_PATHS = ("/v1/sources", "/gradio_api/upload")


class BodySizeLimit:
    """413 for a body over the limit, whether declared (Content-Length) or actually sent.

    Starlette's own limiter answers in plain text when Content-Length is too large, so it
    would break the error body shape.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES,
                 upload_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes, self.upload_bytes = app, max_bytes, upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        # Guide uploads (the admin API, the UI's Guides tab) carry whole files; the
        # multipart envelope gets 1 MiB on top of the file limit, which the upload's
        # handler enforces exactly with its own message.
        limit = self.upload_bytes + 2**20 if scope.get("path", "").startswith(
            UPLOAD_PATHS) else self.max_bytes
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            openai = is_openai_path(scope.get("path", ""))
            response = error_response(413, "payload_too_large", TOO_LARGE, openai=openai)
            return await response(scope, receive, send)
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                # FastAPI lets an HTTPException from body reading through to the handlers.
                raise HTTPException(413)
            return message

        await self.app(scope, counting_receive, send)


def install(app: FastAPI, upload_bytes: int = MAX_BODY_BYTES) -> None:
    app.add_middleware(BodySizeLimit, upload_bytes=upload_bytes)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    for cls in STORE_ERRORS:
        app.add_exception_handler(cls, _store_error)
    app.add_exception_handler(Exception, _internal_error)
