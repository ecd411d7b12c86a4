"""The index's payload schema: what ingest writes into Qdrant, the store reads back and eval
scrolls, spelled in this module only.

Each generation of the index has three collections (see rag.store):
- chunks: `ChunkPayload`, with three named vectors: DENSE (the chunk), SPARSE (its terms)
  and PIECES (one vector per answer-block piece inside it, compared by MaxSim);
- answer units (pieces, headings, whole blocks): `UnitPayload` and a DENSE vector;
- documents: one `DocRecord` per guide (no vector), and one `IndexMeta` record.

Elsewhere payloads are these TypedDicts, so mypy checks every key a reader spells; the
builders below are the only writers. A change here that old indexes cannot read needs
ingest.pipeline.PIPELINE_VERSION bumped, so every guide is rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

from qdrant_client import models

from rag.blocks import Block

DENSE = "dense"
SPARSE = "sparse"
PIECES = "pieces"

# The field every collection is filtered on by guide (a keyword index in server mode).
DOC_ID = "doc_id"
# The document record's full text, left out of listings.
DOC_TEXT = "text"
# What eval needs of a chunk: where it lies in its guide.
SPAN_FIELDS = (DOC_ID, "start", "end")


class ChunkPayload(TypedDict):
    doc_id: str
    title: str
    section: str
    start: int  # offsets into the guide's canonical text: text == guide[start:end]
    end: int
    text: str
    blocks: list[dict[str, Any]]  # the answer blocks it overlaps (Block.to_payload)


class UnitPayload(TypedDict):
    doc_id: str
    start: int
    end: int


class DocRecord(TypedDict):
    doc_id: str
    file: str
    title: str | None
    url: str | None
    publisher: str | None
    date: str | None
    format: str
    chars: int
    chunks: int
    fingerprint: str  # "pending" while its chunks are being written
    model: str  # the embedding model's id
    pipeline: str  # ingest.pipeline.PIPELINE_VERSION
    ingested: NotRequired[str]  # when this version was indexed (UTC, ISO 8601)
    text: NotRequired[str]  # left out by Store.list_docs unless asked for


class IndexMeta(TypedDict, total=False):
    """Facts about the index as a whole: the off-topic calibration (rag.calibrate) and the
    generation, a new random id each time an ingest changed the index: every process that
    serves the index (replicas in server mode, the server beside a CLI ingest) compares it
    with the one its caches were built from (`rag.services.Services.sync`)."""

    offtopic_mean: float
    offtopic_std: float
    offtopic_own_mean: float  # with the model's own vector (rag.embed.QueryVectors)
    offtopic_own_std: float
    probes: int
    model: str
    generation: str


def chunk_point(chunk_id: str, payload: ChunkPayload, dense: list[float],
                sparse: tuple[list[int], list[float]], pieces: list[list[float]]
                ) -> models.PointStruct:
    return models.PointStruct(
        id=chunk_id,
        vector={DENSE: dense, SPARSE: models.SparseVector(indices=sparse[0], values=sparse[1]),
                PIECES: pieces},
        payload=dict(payload),
    )


def chunk_payload(doc_id: str, title: str, section: str, start: int, end: int, text: str,
                  blocks: Sequence[Block]) -> ChunkPayload:
    return ChunkPayload(doc_id=doc_id, title=title, section=section, start=start, end=end,
                        text=text, blocks=[b.to_payload() for b in blocks])


def unit_point(unit_id: str, doc_id: str, start: int, end: int, dense: list[float]
               ) -> models.PointStruct:
    return models.PointStruct(id=unit_id, vector={DENSE: dense},
                              payload=dict(UnitPayload(doc_id=doc_id, start=start, end=end)))


def read_chunk(payload: Mapping[str, Any] | None) -> tuple[ChunkPayload, tuple[Block, ...]]:
    """A stored chunk payload with defaults for missing fields, and its blocks."""
    pl = payload or {}
    doc_id = str(pl.get(DOC_ID, ""))
    chunk = ChunkPayload(
        doc_id=doc_id, title=str(pl.get("title", "")), section=str(pl.get("section", "")),
        start=int(pl.get("start", 0)), end=int(pl.get("end", 0)), text=str(pl.get("text", "")),
        blocks=list(pl.get("blocks", [])),
    )
    return chunk, tuple(Block.from_payload(doc_id, b) for b in chunk["blocks"])


def read_span(payload: Mapping[str, Any] | None) -> tuple[str, int, int]:
    """(doc_id, start, end) of a chunk payload scrolled with SPAN_FIELDS."""
    pl = payload or {}
    return str(pl[DOC_ID]), int(pl["start"]), int(pl["end"])
