"""Section-aware chunking with exact offsets into the canonical text.

Consecutive small sections under the same top-level heading are packed together; a section
too long for the model's window is split by llama-index's `SentenceSplitter` (sentence and
paragraph aware, with overlap), and each piece is then located in the canonical text so
that `text[start:end] == chunk.text` holds exactly.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ingest.parse import ParsedDocument, Section
from rag.units import sentence_spans

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
    # answer units (sentences, short bullet lists) inside the chunk: absolute (start, end,
    # list group or -1), see `unit_spans`
    units: tuple[tuple[int, int, int], ...] = ()

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
                                label, s, e, text[s:e], tuple(unit_spans(text, s, e))))

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


# ------------------------------------------------------------------ answer units
_ITEM = re.compile(r"^(?:•|\d{1,2}[.)])\s+")
SHORT_ITEM_WORDS = 12
MIN_UNIT_WORDS = 3


_DEPENDENT = re.compile(r"^[\"“]?(this|that|it|these|those|they|such|here|there)\b", re.I)
MAX_JOINED_WORDS = 60


def _join_dependent(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Keep a sentence with the one it leans on: a question with its answer ("Zero
    experience? Add a year."), and "This is the biggest one." with what "this" is."""
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out:
            prev = text[out[-1][0] : out[-1][1]]
            lean = prev.rstrip().endswith("?") or _DEPENDENT.match(text[a:b])
            if lean and len(text[out[-1][0] : b].split()) <= MAX_JOINED_WORDS:
                out[-1] = (out[-1][0], b)
                continue
        out.append((a, b))
    return out


def _is_heading_line(line: str) -> bool:
    if line.endswith((".", "!", "?", ":", ";", ",", '"', "”")) or any(c.isdigit() for c in line):
        return False
    words = [w for w in re.findall(r"[^\W\d_]+", line) if len(w) > 3]
    return len(line.split()) <= 12 and (not words or sum(w[0].isupper() for w in words) * 2
                                          >= len(words))


def unit_spans(text: str, start: int, end: int) -> list[tuple[int, int, int]]:
    """Answer units in text[start:end] as exact (start, end, group) spans.

    Units are sentences, except that a run of short bullets ("• Docker", "• Kubernetes") is
    one unit, with the line introducing it when that ends in ":", because single words make
    no answer on their own. Items of a list of long bullets stay separate sentences, each
    carrying the list's start offset as `group` (else -1), so an answer to "what are the
    steps / mistakes / stages" can quote every item. Heading lines are not units.
    """
    units: list[tuple[int, int, int]] = []
    list_start: int | None = None
    list_end = 0
    group: int | None = None  # start of the current run of long items
    pos = start
    for line in text[start:end].split("\n"):
        a, b = pos, pos + len(line)
        pos = b + 1
        stripped = line.strip()
        if not stripped:
            group = None
            continue
        a += len(line) - len(line.lstrip())
        b = a + len(stripped)
        item = _ITEM.match(stripped)
        if item and len(stripped.split()) - 1 <= SHORT_ITEM_WORDS:
            if list_start is None:
                intro = units[-1] if units and text[units[-1][1] - 1] == ":" else None
                if intro and text[intro[0]:intro[1]].count("\n") == 0:
                    units.pop()
                    list_start = intro[0]
                else:
                    list_start = a
            list_end = b
            group = None
            continue
        if list_start is not None:
            units.append((list_start, list_end, -1))
            list_start = None
        if not item and _is_heading_line(stripped):
            group = None
            continue  # a heading packed into the chunk is context, not an answer
        sentences = _join_dependent(text, sentence_spans(text, a + (item.end() if item else 0), b))
        if item:
            group = a if group is None else group
            units.extend((x, y, group) for x, y in sentences)
        else:
            group = None
            units.extend((x, y, -1) for x, y in sentences)
    if list_start is not None:
        units.append((list_start, list_end, -1))
    return [
        (a, b, g) for a, b, g in units
        if len(text[a:b].split()) >= MIN_UNIT_WORDS or any(c.isdigit() for c in text[a:b])
    ]


__all__ = ["Chunk", "chunk_document", "chunk_id", "embed_text", "Section"]
