"""Answer blocks: the units of a guide an answer is built from, found once at ingest.

A block is a heading's body piece that reads as one answer: a paragraph; a lead-in with
the list it introduces (each item with its sentences); a run of table rows under their
header; a numbered item with the paragraph under it. Every block keeps its heading (the
guides answer many questions under headings that ask them) and its pieces: sentence-sized
spans with a role (text, lead, item, detail, row, question), each an exact
`text[start:end]` of the canonical text.

Blocks are built by pure functions over the parsed text and travel in the chunk payload,
so answering reads no guide text at query time and a block's offsets are those of the
text the chunk was cut from.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rag.text import is_heading_line, item_marker, sentence_spans, trim

Role = str  # "text" | "lead" | "item" | "detail" | "row" | "question"

MAX_BLOCK_SENTENCES = 6  # a longer paragraph (a transcript) is cut into windows of this size
LABEL_WORDS = 8  # "Docker: this lets you..." -> the item's label is "Docker"
SHORT_ITEM_WORDS = 6  # "1. Linear Algebra" above a paragraph is an item with a body


@dataclass(frozen=True)
class Piece:
    start: int
    end: int
    role: Role
    item: int = -1  # index of the list item this piece belongs to
    label: tuple[int, int] | None = None  # an item's name: "Docker" in "Docker: ..."

    @property
    def name(self) -> tuple[int, int]:
        """An item's name: its label, else the whole item sentence."""
        return self.label or (self.start, self.end)


@dataclass(frozen=True)
class Block:
    doc_id: str
    start: int
    end: int
    kind: str  # "paragraph" | "list" | "table"
    section: str  # the heading path, " > "-joined
    heading: str  # the nearest heading ("" before the first one)
    heading_start: int  # offsets of the heading line, -1 when there is none
    heading_end: int
    first: bool  # the first block under its heading
    text: str  # canonical text[start:end]
    pieces: tuple[Piece, ...]

    def quote(self, a: int, b: int) -> str:
        return self.text[a - self.start : b - self.start]

    @property
    def key(self) -> tuple[str, int]:
        return self.doc_id, self.start

    @property
    def items(self) -> list[Piece]:
        return [p for p in self.pieces if p.role == "item"]

    def to_payload(self) -> dict[str, Any]:
        return {
            "start": self.start, "end": self.end, "kind": self.kind, "section": self.section,
            "heading": self.heading, "h": [self.heading_start, self.heading_end],
            "first": self.first, "text": self.text,
            "pieces": [[p.start, p.end, p.role, p.item, *(p.label or ())] for p in self.pieces],
        }

    @classmethod
    def from_payload(cls, doc_id: str, d: dict[str, Any]) -> Block:
        pieces = tuple(
            Piece(int(p[0]), int(p[1]), str(p[2]), int(p[3]),
                  (int(p[4]), int(p[5])) if len(p) > 5 else None)
            for p in d.get("pieces", [])
        )
        h = d.get("h") or [-1, -1]
        return cls(doc_id, int(d["start"]), int(d["end"]), str(d.get("kind", "paragraph")),
                   str(d.get("section", "")), str(d.get("heading", "")), int(h[0]), int(h[1]),
                   bool(d.get("first", False)), str(d.get("text", "")), pieces)


def unit_id(doc_id: str, start: int, end: int, text: str) -> str:
    """Point id of an embedded piece or heading: stable for the same span and text."""
    digest = hashlib.sha256(f"unit\x00{doc_id}\x00{start}\x00{end}\x00{text}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16]))


def piece_embed_text(section: str, text: str) -> str:
    # The headings give short pieces ("Docker", "Time: 1-2 months") their meaning.
    return f"{section}: {text}" if section else text


def embedded_units(block: Block) -> list[tuple[str, int, int, str]]:
    """(id, start, end, text to embed) of everything of a block the answerer compares with
    a question: each piece (with its heading as context) and the heading itself."""
    out = [(piece_id(block, p), p.start, p.end,
            piece_embed_text(block.section, block.quote(p.start, p.end))) for p in block.pieces]
    if block.heading_start >= 0:
        # The whole path: "Must Learn" alone says nothing, "Phase 1: Python > Must Learn" does.
        out.append((heading_id(block), block.heading_start, block.heading_end, block.section))
    # The block read as a whole (cut at the model's window): what it is about, beyond any
    # one of its sentences; a list's lead-in and items together say what the list lists.
    out.append((block_id(block), block.start, block.end,
                piece_embed_text(block.section, block.text)))
    return out


def heading_id(block: Block) -> str:
    return unit_id(block.doc_id, block.heading_start, block.heading_end, block.heading)


def block_id(block: Block) -> str:
    return unit_id(block.doc_id, block.start, block.end, "block\x00" + block.text)


def piece_id(block: Block, p: Piece) -> str:
    return unit_id(block.doc_id, p.start, p.end, block.quote(p.start, p.end))


# ---------------------------------------------------------------- building


def _paragraphs(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    pos = start
    for m in re.finditer(r"\n\s*\n", text[start:end]):
        out.append((pos, start + m.start()))
        pos = start + m.end()
    out.append((pos, end))
    return [trim(text, a, b) for a, b in out if text[a:b].strip()]


def _lines(text: str, a: int, b: int) -> list[tuple[int, int]]:
    out = []
    pos = a
    for line in text[a:b].split("\n"):
        s, e = trim(text, pos, pos + len(line))
        if s < e:
            out.append((s, e))
        pos += len(line) + 1
    return out


def _label(text: str, a: int, b: int) -> tuple[int, int] | None:
    """The name of an item: the words before its first ": " or " – ", when short."""
    m = re.search(r":\s|\s[–—-]\s", text[a:b])
    if m and 0 < len(text[a : a + m.start()].split()) <= LABEL_WORDS:
        return trim(text, a, a + m.start())
    if len(text[a:b].split()) <= LABEL_WORDS and not text[a:b].rstrip().endswith("."):
        x, y = trim(text, a, b)
        return (x, y - 1) if text[y - 1] == ":" else (x, y)
    return None


def _item_pieces(text: str, a: int, b: int, index: int) -> list[Piece]:
    """An item line: its first sentence is the item, the rest its detail."""
    body = a + item_marker(text[a:b])
    spans = sentence_spans(text, body, b)
    if not spans:
        return []
    out = [Piece(*spans[0], "item", index, _label(text, *spans[0]))]
    out.extend(Piece(x, y, "detail", index) for x, y in spans[1:])
    return out


def _text_pieces(text: str, a: int, b: int, item: int = -1) -> list[Piece]:
    out = []
    for x, y in sentence_spans(text, a, b):
        s = text[x:y].rstrip()
        role = "question" if s.endswith("?") else "lead" if s.endswith(":") else "text"
        if item >= 0 and role == "text":
            role = "detail"
        out.append(Piece(x, y, role, item))
    return out


def _is_list(text: str, lines: Sequence[tuple[int, int]]) -> bool:
    return all(item_marker(text[a:b]) for a, b in lines)


def _short_item(text: str, lines: Sequence[tuple[int, int]]) -> bool:
    """A lone numbered line such as "2. Calculus": an item whose body is the next paragraph."""
    if len(lines) != 1:
        return False
    a, b = lines[0]
    body = text[a + item_marker(text[a:b]) : b]
    return bool(item_marker(text[a:b])) and len(body.split()) <= SHORT_ITEM_WORDS and \
        not body.rstrip().endswith((".", "?", "!"))


def _asks_only(pieces: Sequence[Piece]) -> bool:
    return 0 < len(pieces) <= 2 and all(p.role == "question" for p in pieces)


def _windows(pieces: list[Piece]) -> list[list[Piece]]:
    """A long paragraph (a transcript is one) read in windows of a few sentences. A window
    starts at a question when it can: in an interview the question and the answer after
    it belong together, the sentences before it to the previous answer."""
    out: list[list[Piece]] = []
    window: list[Piece] = []
    for p in pieces:
        full = len(window) >= MAX_BLOCK_SENTENCES
        ask = p.role == "question" and len(window) >= MAX_BLOCK_SENTENCES // 2 \
            and window[-1].role != "question"
        if window and (full or ask):
            out.append(window)
            window = []
        window.append(p)
    if window:
        out.append(window)
    return out


def section_blocks(doc_id: str, text: str, start: int, end: int, section: str, heading: str,
                   heading_span: tuple[int, int]) -> list[Block]:
    """The blocks of one section body, text[start:end]."""
    paras = _paragraphs(text, start, end)
    groups: list[tuple[str, list[Piece], int, int]] = []  # (kind, pieces, start, end)
    i = 0
    while i < len(paras):
        a, b = paras[i]
        lines = _lines(text, a, b)
        if _short_item(text, lines):
            # "1. Linear Algebra" + paragraph, "2. Calculus" + paragraph ...: one list
            pieces: list[Piece] = []
            n = 0
            s0 = a
            while i < len(paras) and _short_item(text, _lines(text, *paras[i])):
                la, lb = paras[i]
                body = la + item_marker(text[la:lb])
                pieces.append(Piece(body, lb, "item", n, (body, lb)))
                e0 = lb
                if i + 1 < len(paras) and not _is_list(text, _lines(text, *paras[i + 1])):
                    pa, pb = paras[i + 1]
                    pieces.extend(_text_pieces(text, pa, pb, item=n))
                    e0 = pb
                    i += 1
                n += 1
                i += 1
            groups.append(("list", pieces, s0, e0))
            continue
        if _is_list(text, lines):
            pieces = []
            for n, (x, y) in enumerate(lines):
                pieces.extend(_item_pieces(text, x, y, n))
            # A paragraph ending in ":" just before introduces this list: one block.
            # So does a paragraph that only asks the question the list answers.
            if groups and groups[-1][0] == "paragraph" and groups[-1][1] \
                    and (groups[-1][1][-1].role == "lead" or _asks_only(groups[-1][1])):
                kind, prev, s0, _ = groups.pop()
                groups.append(("list", prev + pieces, s0, b))
            else:
                groups.append(("list", pieces, a, b))
            i += 1
            continue
        if len(lines) > 1:
            # Lines without punctuation between them: table rows or "Time: 1-2 months" notes.
            pieces = []
            for x, y in lines:
                if item_marker(text[x:y]):
                    pieces.extend(_item_pieces(text, x, y, len(pieces)))
                elif is_heading_line(text[x:y]) and not text[x:y].rstrip().endswith("?"):
                    pieces.append(Piece(x, y, "row"))
                else:
                    pieces.extend(_text_pieces(text, x, y))
            groups.append(("table", pieces, a, b))
            i += 1
            continue
        pieces = _text_pieces(text, a, b)
        # A paragraph that only asks ("Q4: What's the difference between X and Y?") is an
        # FAQ entry's question: the paragraph after it is its answer, and they are one
        # block, as a lead-in and its list are. Apart, the question would be the best
        # match of a question that asks it, with nothing under it to quote.
        if groups and groups[-1][0] == "paragraph" and _asks_only(groups[-1][1]):
            _, prev, s0, _ = groups.pop()
            pieces = prev + pieces
            a = s0
        for window in _windows(pieces):
            groups.append(("paragraph", window, window[0].start, window[-1].end))
        i += 1
    out = []
    for n, (kind, pieces, a, b) in enumerate(groups):
        if not pieces:
            continue
        out.append(Block(doc_id, a, b, kind, section, heading, heading_span[0], heading_span[1],
                         n == 0, text[a:b], tuple(pieces)))
    return out


def document_blocks(doc_id: str, text: str, sections: Sequence[Any], title: str = ""
                    ) -> list[Block]:
    """Blocks of a whole parsed guide. `sections` are `ingest.parse.Section`s (path, start,
    end); the heading of a section is the last element of its path, found just before it."""
    out: list[Block] = []
    for s in sections:
        path = tuple(s.path)
        if path and path[0] == title and len(path) > 1:
            path = path[1:]
        heading = path[-1] if path else ""
        hs = text.rfind(heading, 0, s.start) if heading else -1
        span = (hs, hs + len(heading)) if hs >= 0 else (-1, -1)
        out.extend(section_blocks(doc_id, text, s.start, s.end, " > ".join(path), heading,
                                  span))
    return out


def table_columns(b: Block) -> dict[int, str]:
    """Piece start -> the column its cell is in, for a table whose header names its columns
    one word each ("Feature TensorFlow PyTorch": the block's first line, or its heading
    where the parser read that short line as one) and whose every row holds one sentence
    per value column after the row's name ("Debugging Uses a static graph... Employs a
    dynamic graph..."). The canonical text keeps a table as lines with no cell boundaries;
    this is the one layout where each cell's column can be told without guessing, and
    without it a comparison quotes a cell and never says which side it is about. Any
    other block: {}."""
    if b.kind != "table":
        return {}
    pieces = list(b.pieces)
    header = b.heading  # a plain-text guide's short header line is read as a heading
    if pieces and pieces[0].role == "row":
        header = b.quote(pieces[0].start, pieces[0].end)
        pieces = pieces[1:]
    names = header.split()
    if len(names) < 3 or any(p.role != "text" for p in pieces):
        return {}
    columns = names[1:]
    rows: dict[int, list[Piece]] = {}
    for p in pieces:
        rows.setdefault(b.text.count("\n", 0, p.start - b.start), []).append(p)
    if len(rows) < 2 or any(len(r) != len(columns) for r in rows.values()):
        return {}
    return {p.start: columns[j] for r in rows.values() for j, p in enumerate(r)}


def blocks_in(blocks: Sequence[Block], start: int, end: int) -> list[Block]:
    """The blocks overlapping text[start:end]."""
    return [b for b in blocks if b.start < end and start < b.end]
