"""Response models of the retrieval inspector (`"explain": true` on /v1/search and
/v1/chat); see rag.explain for what the numbers mean."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ExplainRanks(BaseModel):
    fused_rank: int | None = Field(description="Rank in the hybrid (RRF-fused) list.")
    fused_score: float | None = Field(description="RRF score in the hybrid list.")
    dense_rank: int | None = Field(
        description="Rank in what dense search alone returns (`mode: dense`, as deep as "
        "the candidates handed to fusion); null: dense search did not return it.")
    dense_score: float | None = Field(description="Cosine similarity to the question.")
    sparse_rank: int | None = Field(
        description="Rank in what sparse (BM25) search alone returns; null: not returned.")
    sparse_score: float | None = Field(description="BM25 score.")
    pieces_rank: int | None = Field(
        description="Rank in the third fused list, MaxSim over the chunk's sentence-sized "
        "pieces; null: not returned (or the index has no piece vectors).")
    pieces_score: float | None = Field(description="Similarity of the chunk's best piece.")
    matched_terms: list[str] = Field(
        description="Words of the searched query that the passage (title, section, text) "
        "contains, after stemming: what sparse search matched on.")


class SearchExplain(BaseModel):
    query: str = Field(description="The text searched: injected instructions dropped, typos "
                       "repaired, abbreviations spelled out.")
    mode: str = Field(description="The mode the results are ranked by.")
    depth: int = Field(description="How deep each list goes: a rank beyond it is null.")


class Reason(BaseModel):
    feature: str = Field(description="A feature of the answer model (rag.answer.FEATURES).")
    value: float | None
    contribution: float | None = Field(
        description="What it adds to the candidate's log-odds (weight × standardised value).")


class Candidate(BaseModel):
    rank: int = Field(description="Rank among every scored piece, by score.")
    score: float | None = Field(description="The answer model's probability for the piece.")
    chosen: bool = Field(description="Whether the answer quotes it.")
    cited_as: list[int] = Field(description="The [n] citations that quote it.")
    doc_id: str
    section: str
    start: int
    end: int
    text: str
    role: str = Field(description="text, lead, item, detail, row or question.")
    chunk_rank: int | None = Field(description="Rank of the retrieved passage holding it.")
    why: list[Reason] = Field(description="The features that pushed it up most.")


class RetrievedPassage(ExplainRanks):
    rank: int
    chunk_id: str
    doc_id: str
    section: str
    score: float | None


class Thresholds(BaseModel):
    best_score: float | None = None
    keep: float | None = Field(None, description="Support lines score at least this.")
    lead: float | None = Field(None, description="The first line's piece scores at least this.")
    offtopic_floor: float | None = Field(
        None, description="The question's closest piece must come above this, else it is "
        "off topic (null: not calibrated, or this level is turned off); higher for a "
        "question most of whose words the guides never use.")
    nearest_piece: float | None = Field(None, description="Similarity of the closest piece.")
    own_offtopic_floor: float | None = Field(
        None, description="The same level for the embedding model's own vector, without the "
        "query adapter (null: not calibrated, or this level is turned off); a question "
        "below either level is off topic.")
    own_nearest_piece: float | None = Field(
        None, description="Similarity of the closest piece to the model's own vector.")


class ChatExplain(BaseModel):
    query: str = Field(description="The text searched, with the context a follow-up needs.")
    intent: str
    shape: str = Field(description="The form the answer takes: yesno, list, figure, "
                       "comparison or other.")
    specifics: list[str] = Field(description="Names, places and numbers the answer must be "
                                 "about.")
    answerer: str = Field(description="extractive, or llm (the candidates are then those its "
                          "extractive fallback would quote).")
    decision: str = Field(description="answered, off_topic or not_covered.")
    summary: str = Field(description="Why the chosen pieces won, in one sentence.")
    retrieval: list[RetrievedPassage] = Field(description="The passages the answerer read.")
    candidates: list[Candidate] = Field(
        description="The best-scoring pieces (and every quoted one), best first.")
    thresholds: Thresholds
    scored: int = Field(0, description="How many pieces were scored.")
