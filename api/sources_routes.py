"""Writes of the guides over HTTP: upload, replace, delete, and an ingest of the folder.

    POST   /v1/sources            multipart: file, optional title/publisher/url/date -> 201
    PUT    /v1/sources/{doc_id}   multipart: optional file and/or metadata          -> 200
    DELETE /v1/sources/{doc_id}                                                      -> 204
    POST   /v1/ingest             {"full": false}: what `careerbot ingest` sends to a server

Each answers once the change is searchable (an upload of a guide the size of the largest
seed guide takes seconds on CPU; see `make bench`). The work runs in `ingest.sources.Guides`
under the one ingest lock, so a second upload waits for the first, and ends with a reload
of the bot. Admin keys, not chat keys, grant these routes (api.admin).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Form, Request, Response, Security, UploadFile, params
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict

from api.admin import AdminGuard
from api.errors import ApiError
from api.schemas import ErrorBody
from api.security import Guard, _client_ip, bearer
from ingest.pipeline import IngestError
from ingest.sources import Guides, SourceError, SourceResult

# SourceError.code -> HTTP status
_STATUS = {"bad_name": 400, "empty": 400, "unsupported": 415, "unreadable": 422,
           "too_large": 413, "not_found": 404, "name_taken": 409}

_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": desc} for code, desc in {
        400: "Bad file name (a path, hidden, control characters) or empty file.",
        401: "No admin key sent (only when the server sets CAREERBOT_ADMIN_KEYS).",
        403: "Not an admin key, or (with no admin keys set) not a loopback client.",
        404: "No such guide.",
        409: "Another guide has that name, or another ingest holds the index too long.",
        413: "The file is over the upload limit (CAREERBOT_MAX_UPLOAD_MB).",
        415: "Unsupported file type.",
        422: "The file cannot be read as a guide (binary, broken JSON, a PDF without text).",
        429: "Rate limit exceeded; Retry-After says when to retry.",
        503: "Store unreachable.",
    }.items()
}


class SourceChange(BaseModel):
    doc_id: str
    title: str
    status: Literal["added", "updated", "unchanged"]
    chunks: int


class IngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full: bool = False


def _admin_dependency(admin: AdminGuard, guard: Guard) -> params.Security:
    async def guarded(
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> None:
        admin.check(request, creds)
        guard.limit("admin:" + _client_ip(request))

    return Security(guarded)


def _call(fn: Any, *args: Any) -> SourceResult:
    try:
        result: SourceResult = fn(*args)
    except SourceError as e:
        raise ApiError(_STATUS.get(e.code, 400), e.code, str(e)) from e
    except IngestError as e:  # the lock was held longer than an upload waits
        raise ApiError(409, "busy", str(e), headers={"Retry-After": "30"}) from e
    return result


async def _read(file: UploadFile, limit: int) -> bytes:
    raw = await file.read(limit + 1)  # one byte over says "too large" without reading more
    if len(raw) > limit:
        raise ApiError(413, "too_large", f"the file is over the upload limit of "
                       f"{limit / 2**20:g} MiB (CAREERBOT_MAX_UPLOAD_MB)")
    return raw


def add_routes(app: FastAPI, guides: Guides, guard: Guard, admin: AdminGuard) -> None:
    deps = [_admin_dependency(admin, guard)]

    @app.post("/v1/sources", tags=["sources"], status_code=201, response_model=SourceChange,
              responses=_ADMIN_ERRORS, dependencies=deps,
              summary="Upload a guide (added, updated in place by name, or unchanged)")
    async def upload(
        file: Annotated[UploadFile, File(description="The guide: .txt .md .html .json .pdf")],
        title: Annotated[str | None, Form()] = None,
        publisher: Annotated[str | None, Form()] = None,
        url: Annotated[str | None, Form()] = None,
        date: Annotated[str | None, Form()] = None,
    ) -> dict[str, Any]:
        raw = await _read(file, guides.max_bytes)
        meta = {"title": title, "publisher": publisher, "url": url, "date": date}
        result = await run_in_threadpool(_call, guides.put, file.filename or "", raw, meta)
        return result.to_dict()

    @app.put("/v1/sources/{doc_id}", tags=["sources"], response_model=SourceChange,
             responses=_ADMIN_ERRORS, dependencies=deps,
             summary="Replace a guide's content, its metadata, or both")
    async def replace(
        doc_id: str,
        file: Annotated[UploadFile | None, File()] = None,
        title: Annotated[str | None, Form()] = None,
        publisher: Annotated[str | None, Form()] = None,
        url: Annotated[str | None, Form()] = None,
        date: Annotated[str | None, Form()] = None,
    ) -> dict[str, Any]:
        raw = await _read(file, guides.max_bytes) if file is not None else None
        meta = {"title": title, "publisher": publisher, "url": url, "date": date}
        if raw is None and not any(meta.values()):
            raise ApiError(400, "empty", "send a file, metadata (title, publisher, url, "
                           "date), or both")
        # A replacement keeps the guide's stored name: its id, and its type, stay.
        result = await run_in_threadpool(_call, guides.put, None, raw, meta, doc_id)
        return result.to_dict()

    @app.delete("/v1/sources/{doc_id}", tags=["sources"], status_code=204,
                responses=_ADMIN_ERRORS, dependencies=deps, summary="Delete a guide")
    async def delete(doc_id: str) -> Response:
        await run_in_threadpool(_call, guides.delete, doc_id)
        return Response(status_code=204)

    @app.post("/v1/ingest", tags=["sources"], responses=_ADMIN_ERRORS, dependencies=deps,
              summary="Ingest the corpus folder now (what `careerbot ingest` sends)")
    async def ingest(req: IngestRequest | None = None) -> dict[str, Any]:
        full = bool(req and req.full)
        try:
            report = await run_in_threadpool(guides.sync, full)
        except IngestError as e:
            raise ApiError(409, "busy", str(e), headers={"Retry-After": "30"}) from e
        return report.to_dict()
