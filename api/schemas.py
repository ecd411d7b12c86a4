"""Request and response models; their descriptions and examples make up the OpenAPI docs."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rag.store import Mode

QUERY_MAX_CHARS = 2000


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"query": "How long does it take to become an ML engineer?", "top_k": 5},
                {"query": "MLOps skills", "mode": "sparse", "sources": ["002_9480da9f1f03aad0"]},
            ]
        },
    )

    query: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=QUERY_MAX_CHARS)
    ] = Field(
        description=f"The question or keywords; 1 to {QUERY_MAX_CHARS} characters once trimmed.",
        examples=["How long does it take to become an ML engineer?"],
    )
    top_k: int | None = Field(
        None, ge=1, le=20, description="How many passages to return (1-20); default from settings."
    )
    mode: Mode = Field(
        "hybrid",
        description="hybrid fuses dense (semantic) and sparse (BM25 keyword) rankings with RRF.",
    )
    sources: list[str] | None = Field(
        None,
        description="Only search these documents (doc ids from /v1/sources); omit to search all.",
        examples=[["001_b99e32355209f981"]],
    )


class SearchHit(BaseModel):
    doc_id: str = Field(description="Document the passage comes from; see /v1/sources/{doc_id}.")
    chunk_id: str = Field(description="Stable id of the passage.")
    title: str = Field(description="Document title.")
    section: str = Field(description="Heading path of the section holding the passage.")
    text: str = Field(description="The passage, exactly the document text[start:end].")
    start: int = Field(description="Character offset of the passage start in the document text.")
    end: int = Field(description="Character offset just past the passage end.")
    score: float = Field(
        description="Relevance (RRF in hybrid, cosine in dense, BM25 in sparse mode); compare "
        "scores within one response only."
    )


class SearchResponse(BaseModel):
    results: list[SearchHit] = Field(description="Passages, best first.")


class Source(BaseModel):
    doc_id: str = Field(examples=["001_b99e32355209f981"])
    title: str = Field(examples=["How to Become a Machine Learning Engineer: A Career Guide"])
    url: str | None = Field(None, description="Where the guide was published, when known.")
    publisher: str | None = None
    date: str | None = Field(None, description="Publication date (ISO), when known.")
    format: str = Field(description="What the source was: text, markdown, transcript, html, pdf.")
    chars: int = Field(description="Length of the document text in characters.")
    chunks: int = Field(description="Passages the document is indexed as.")


class SourceText(Source):
    text: str = Field(description="The full document text that passage offsets index into.")


class SourcesResponse(BaseModel):
    sources: list[Source]


class Ready(BaseModel):
    status: str = Field(default="ready", examples=["ready"])
    chunks: int = Field(description="Indexed passages.")
    documents: int = Field(description="Indexed documents.")


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_request"])
    message: str = Field(description="What went wrong and what to change.")


class ErrorBody(BaseModel):
    error: ErrorDetail
