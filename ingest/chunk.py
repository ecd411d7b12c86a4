"""Section-aware chunking with exact offsets into the canonical text.

Consecutive small sections under the same top-level heading are packed together; a section
too long for the model's window is split by llama-index's `SentenceSplitter` (sentence and
paragraph aware, with overlap), and each piece is then located in the canonical text so
that `text[start:end] == chunk.text` holds exactly.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ingest.parse import ParsedDocument, Section
from rag.blocks import Block, blocks_in, document_blocks

INTRO = "Introduction"


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    title: str
    section: str
    start: int
    end: int
    text: str
    # the answer blocks this chunk overlaps, whole (see rag.blocks): a block that straddles
    # two chunks travels with both, so the answerer never sees half a list
    blocks: tuple[Block, ...] = ()

    @property
    def embed_text(self) -> str:
        """What the models read: the chunk with its document and section as context."""
        return embed_text(self.title, self.section, self.text)


def embed_text(title: str, section: str, text: str) -> str:
    head = title if not section or section == INTRO else f"{title} — {section}"
    return f"{head}\n{text}"


def chunk_id(doc_id: str, start: int, end: int, text: str) -> str:
    digest = hashlib.sha256(f"{doc_id}\x00{start}\x00{end}\x00{text}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16]))


def _label(path: tuple[str, ...]) -> str:
    return " > ".join(path) if path else INTRO


def _strip_title(path: tuple[str, ...], title: str) -> tuple[str, ...]:
    # A Markdown H1 that is the document title would otherwise prefix every section.
    return path[1:] if path and path[0] == title and len(path) > 1 else path


def _common(paths: list[tuple[str, ...]]) -> tuple[str, ...]:
    out: list[str] = []
    for parts in zip(*paths, strict=False):
        if all(p == parts[0] for p in parts):
            out.append(parts[0])
        else:
            break
    return tuple(out) or paths[0]


def chunk_document(
    doc_id: str,
    doc: ParsedDocument,
    count_tokens: Callable[[str], int],
    max_tokens: int,
    chunk_tokens: int = 160,
    overlap: int = 24,
) -> list[Chunk]:
    """Chunks whose embedded text (header + body, special tokens included) fits `max_tokens`.

    `count_tokens` counts the tokens of a text including the model's special tokens.
    """
    text = doc.text
    blocks = document_blocks(doc_id, text, doc.sections, doc.title)
    segs = [
        (_strip_title(s.path, doc.title), s) for s in doc.sections if text[s.start : s.end].strip()
    ]
    chunks: list[Chunk] = []

    def budget_for(label: str) -> int:
        head = count_tokens(embed_text(doc.title, label, ""))
        return max(16, min(chunk_tokens, max_tokens - head))

    def emit(start: int, end: int, label: str) -> None:
        body = text[start:end]
        if count_tokens(embed_text(doc.title, label, body)) <= max_tokens:
            spans = [(start, end)]
        else:
            spans = _split(text, start, end, budget_for(label), overlap, count_tokens)
        for s, e in spans:
            chunks.append(Chunk(chunk_id(doc_id, s, e, text[s:e]), doc_id, doc.title,
                                label, s, e, text[s:e], tuple(blocks_in(blocks, s, e))))

    i = 0
    while i < len(segs):
        path, seg = segs[i]
        group = [(path, seg)]
        j = i + 1
        while j < len(segs):
            npath, nseg = segs[j]
            if npath[:1] != path[:1]:
                break
            label = _label(_common([p for p, _ in group] + [npath]))
            if count_tokens(embed_text(doc.title, label, text[seg.start : nseg.end])) > min(
                max_tokens, chunk_tokens + count_tokens(embed_text(doc.title, label, ""))
            ):
                break
            group.append((npath, nseg))
            j += 1
        label = _label(_common([p for p, _ in group]))
        emit(group[0][1].start, group[-1][1].end, label)
        i = j
    return chunks


def _split(
    text: str, start: int, end: int, budget: int, overlap: int,
    count_tokens: Callable[[str], int],
) -> list[tuple[int, int]]:
    """Split text[start:end] into overlapping pieces of at most `budget` tokens."""
    from llama_index.core.node_parser import SentenceSplitter

    # count_tokens includes the two special tokens; the splitter wants a body count.
    def tokenize(s: str) -> list[int]:
        return [0] * max(0, count_tokens(s) - 2)

    size = budget
    while True:
        splitter = SentenceSplitter(
            chunk_size=size, chunk_overlap=min(overlap, size // 4), tokenizer=tokenize,
            paragraph_separator="\n\n",
        )
        body = text[start:end]
        pieces = splitter.split_text(body)
        spans = _locate(body, pieces)
        if all(count_tokens(body[s:e]) <= budget for s, e in spans) or size <= 16:
            return [(start + s, start + e) for s, e in spans]
        size = int(size * 0.9)  # the splitter's joins can add a token or two: tighten


def _locate(body: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Offsets of each piece in `body`; pieces come in order and may overlap."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in pieces:
        p = piece.strip()
        if not p:
            continue
        pos = body.find(p, cursor)
        if pos < 0:
            pos = body.find(p)
        if pos < 0:
            raise ValueError("chunk text not found in the canonical text")
        spans.append((pos, pos + len(p)))
        cursor = pos + 1
    return spans


__all__ = ["Chunk", "chunk_document", "chunk_id", "embed_text", "Section"]
