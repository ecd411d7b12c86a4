"""Answer units: sentence-sized spans of a guide, embedded at ingest for answer composition.

Shared by ingestion (which writes them) and the answerer (which looks them up by id), so
both derive ids and embedded text the same way.
"""

from __future__ import annotations

import hashlib
import re
import uuid

# Written by hand: answers quote exact spans, so segmentation must report offsets into the
# canonical text; the sentence splitters at hand (llama-index's, nltk's) return strings.
_BOUNDARY = re.compile(r"[.!?][\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9$•])")


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences of text[start:end] as (start, end) offsets into `text`."""
    out = []
    pos = start
    for m in _BOUNDARY.finditer(text, start, end):
        out.append((pos, m.start() + 1 + len(m.group(0)[1:].rstrip())))
        pos = m.end()
    out.append((pos, end))
    return [(a, b) for a, b in out if text[a:b].strip()]


def unit_id(doc_id: str, start: int, end: int, text: str) -> str:
    digest = hashlib.sha256(f"unit\x00{doc_id}\x00{start}\x00{end}\x00{text}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16]))


def unit_embed_text(section: str, text: str) -> str:
    # The section label gives short units ("• Docker\n• Kubernetes") their meaning.
    return f"{section}: {text}" if section else text
