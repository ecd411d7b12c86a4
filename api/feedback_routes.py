"""POST /v1/feedback: a vote on an answer, into the one feedback log (rag.feedback).

The Discord bot sends its users' 👍/👎 reactions here; any other client may too. The vote
is stored with what retrieval does for the question (its ranks); when those cannot be
computed (the model still loading, the store down) the vote is stored without them, so a
vote is lost only when the log itself cannot be written (503).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import FastAPI, params
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.chat import ERRORS
from api.errors import ApiError
from api.runtime import ServicesDep
from api.schemas import (
    HISTORY_MAX_TURNS,
    QUERY_MAX_CHARS,
    ChatTurn,
    Citation,
    ErrorBody,
)
from rag.feedback import record_vote

log = logging.getLogger("careerbot.api")

ANSWER_MAX_CHARS = 20_000
COMMENT_MAX_CHARS = 2_000
CITATIONS_MAX = 50
REF_MAX_CHARS = 200


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "question": "Is a bootcamp enough to land a junior role?",
            "answer": "Usually not on its own [1].", "vote": "down",
            "comment": "It should mention portfolios.",
        }]},
    )

    question: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=QUERY_MAX_CHARS)
    ] = Field(description="The question that was answered, as sent to /v1/chat.")
    answer: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=ANSWER_MAX_CHARS)
    ] = Field(description=f"The answer voted on (at most {ANSWER_MAX_CHARS} characters).")
    vote: Literal["up", "down"]
    history: list[ChatTurn] = Field(
        default_factory=list, max_length=HISTORY_MAX_TURNS,
        description="The turns before the question, as sent to /v1/chat.")
    citations: list[Citation] = Field(
        default_factory=list, max_length=CITATIONS_MAX,
        description="The answer's citations, as /v1/chat returned them.")
    comment: str = Field("", max_length=COMMENT_MAX_CHARS, description="Why, in a few words.")
    ref: str | None = Field(
        None, max_length=REF_MAX_CHARS,
        description="What was voted on, e.g. a message id: a later vote with the same ref "
        "replaces this one in `careerbot feedback list` and export.")
    channel: Literal["api", "discord"] = Field(
        "api", description="Where the vote was cast: `discord` for the Discord bot.")


class FeedbackCreated(BaseModel):
    id: str = Field(description="The stored record's id.")


def add_routes(app: FastAPI, dependencies: Sequence[params.Depends]) -> None:
    async def feedback(req: FeedbackRequest, services: ServicesDep) -> FeedbackCreated:
        try:
            record = await run_in_threadpool(
                record_vote, services, req.vote, req.question, req.answer,
                channel=req.channel, history=[t.model_dump() for t in req.history],
                citations=[c.model_dump() for c in req.citations], comment=req.comment,
                ref=req.ref,
            )
        except OSError as e:
            log.error("feedback log not writable: %s", e)
            raise ApiError(503, "feedback_unavailable", "the vote could not be stored (the "
                           "server cannot write its feedback log); retry later") from e
        return FeedbackCreated(id=record["id"])

    app.add_api_route(
        "/v1/feedback", feedback, methods=["POST"], tags=["feedback"], status_code=201,
        dependencies=dependencies, response_model=FeedbackCreated,
        responses={**ERRORS, 503: {"model": ErrorBody, "description":
                                   "The feedback log cannot be written."}},
        summary="Store a vote (up or down) on an answer",
        description="Appends the vote, with the question, history, answer, citations and "
        "what retrieval does for the question, to the server's feedback log "
        "(`careerbot feedback list`, `careerbot feedback export`).",
    )
