"""Request and response models; their descriptions and examples make up the OpenAPI docs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.explain_schemas import ChatExplain, ExplainRanks, SearchExplain
from rag.intent import Intent
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
    explain: bool = Field(
        False, description="Add to every result its rank and score in the dense, sparse and "
        "fused lists and the query words it matched (the retrieval inspector).",
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
    explain: ExplainRanks | None = Field(
        None, description="Only with `explain: true`: where each retriever ranked it.")


class SearchResponse(BaseModel):
    results: list[SearchHit] = Field(description="Passages, best first.")
    explain: SearchExplain | None = Field(
        None, description="Only with `explain: true`: what was searched, and how deep.")


class Source(BaseModel):
    doc_id: str = Field(examples=["001_b99e32355209f981"])
    title: str = Field(examples=["How to Become a Machine Learning Engineer: A Career Guide"])
    url: str | None = Field(None, description="Where the guide was published, when known.")
    publisher: str | None = None
    date: str | None = Field(None, description="Publication date (ISO), when known.")
    format: str = Field(description="What the source was: text, markdown, transcript, html, pdf.")
    chars: int = Field(description="Length of the document text in characters.")
    chunks: int = Field(description="Passages the document is indexed as.")
    ingested: str | None = Field(None, description="When this version was indexed (UTC).")


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


# ---------------------------------------------------------------------------- chat

HISTORY_MAX_TURNS = 20
TURN_MAX_CHARS = 4000
SESSION_ID_MAX_CHARS = 128


class ChatTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"] = Field(description="Who said it.")
    content: str = Field(
        max_length=TURN_MAX_CHARS,
        description=f"What was said (at most {TURN_MAX_CHARS} characters).",
    )


class ChatRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"message": "How long does it take to become an ML engineer?"},
                {
                    "message": "And without a degree?",
                    "history": [
                        {"role": "user", "content": "How long does it take?"},
                        {"role": "assistant", "content": "Most guides say 12 to 18 months."},
                    ],
                    "stream": True,
                },
            ]
        },
    )

    message: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=QUERY_MAX_CHARS)
    ] = Field(
        description=f"The question; 1 to {QUERY_MAX_CHARS} characters once trimmed.",
        examples=["How long does it take to become an ML engineer?"],
    )
    history: list[ChatTurn] = Field(
        default_factory=list, max_length=HISTORY_MAX_TURNS,
        description=f"Earlier turns, oldest first (at most {HISTORY_MAX_TURNS}); follow-up "
        "questions such as 'and in Europe?' are resolved against the user turns.",
    )
    top_k: int | None = Field(
        None, ge=1, le=20,
        description="Passages to retrieve (1-20); the answerer always reads at least its "
        "own minimum. Default from settings.",
    )
    sources: list[str] | None = Field(
        None, description="Only answer from these documents (doc ids from /v1/sources).",
        examples=[["001_b99e32355209f981"]],
    )
    stream: bool = Field(
        False,
        description="Answer as text/event-stream: events meta, delta..., citations, done "
        "(or error).",
    )
    session_id: str | None = Field(
        None, max_length=SESSION_ID_MAX_CHARS,
        description="Opaque id echoed back for correlating logs; the server keeps no "
        "conversation state, so send `history` for follow-ups.",
    )
    explain: bool = Field(
        False, description="Add `explain`: the passages retrieved with their ranks, the "
        "answerer's best candidates with their scores, and why the quoted ones won. With "
        "`stream`, the answer is composed before the stream starts and `explain` comes in "
        "the `done` event.",
    )


class Citation(BaseModel):
    n: int = Field(description="The number the answer text cites as [n].")
    doc_id: str
    title: str
    url: str | None = None
    section: str = Field(description="Heading path of the quoted section.")
    quote: str = Field(description="Exactly the document text[start:end].")
    start: int
    end: int
    score: float


class Timings(BaseModel):
    retrieve: float = Field(description="Milliseconds spent retrieving passages.")
    answer: float = Field(description="Milliseconds spent composing the answer.")
    total: float


class ChatResponse(BaseModel):
    answer: str = Field(description="The answer; [n] markers refer to `citations`. Its first "
                        "line is `direct`.")
    direct: str = Field("", description="The first line of `answer` alone: the direct answer "
                        "(a verdict, a figure, the items of a list), with its [n] markers; for "
                        "clients that show one line.")
    citations: list[Citation]
    intent: Intent = Field(description="What kind of question it was taken for.")
    abstained: bool = Field(
        description="True when the guides do not cover the question; the answer then says so."
    )
    timings_ms: Timings
    flags: list[str] = Field(
        default_factory=list, description="Checks that did not pass but did not block the "
        "answer (e.g. an LLM sentence without a citation); empty for a clean answer.",
    )
    session_id: str | None = Field(None, description="As sent in the request.")
    explain: ChatExplain | None = Field(None, description="Only with `explain: true`.")


# ---------------------------------------------------------------------------- OpenAI


class OpenAIContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Only `text` parts are read; others are ignored.")
    text: str | None = None


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[OpenAIContentPart] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    function_call: dict[str, Any] | None = None
    refusal: str | None = None
    audio: dict[str, Any] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content or () if p.type == "text" and p.text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool | None = None


class ChatCompletionRequest(BaseModel):
    """OpenAI Chat Completions request. The usual fields are accepted; sampling and tool
    fields are ignored (the answers are extractive, or set by the server's LLM settings)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"model": "careerbot", "messages": [
                    {"role": "user", "content": "Do I need a master's degree?"}]},
            ]
        },
    )

    model: str = Field(description="Must be `careerbot` (see GET /v1/models).")
    messages: list[OpenAIMessage] = Field(
        min_length=1,
        description="The last user message is the question; earlier user and assistant "
        f"messages are history (the last {HISTORY_MAX_TURNS} are used); system messages are "
        "ignored.",
    )
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(None, ge=1, le=1, description="Only 1 is supported.")
    # Accepted for compatibility, ignored:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    user: str | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    store: bool | None = None
    service_tier: str | None = None
    reasoning_effort: str | None = None
    verbosity: str | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: str | None = None


class CompletionChoice(BaseModel):
    index: int = 0
    message: CompletionMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int = Field(description="Approximate (words and punctuation).")
    completion_tokens: int = Field(description="Approximate (words and punctuation).")
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str = Field(examples=["chatcmpl-4f1c..."])
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = Field(examples=["careerbot"])
    choices: list[CompletionChoice]
    usage: Usage
    system_fingerprint: str | None = None
    citations: list[Citation] = Field(
        description="careerbot extension: the structured citations behind the Sources list."
    )


class ModelCard(BaseModel):
    id: str = Field(examples=["careerbot"])
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "careerbot"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class OpenAIErrorDetail(ErrorDetail):
    type: str = Field(examples=["invalid_request_error"])
    param: str | None = Field(None, description="The request field at fault, if one is.")


class OpenAIErrorBody(BaseModel):
    error: OpenAIErrorDetail
