from __future__ import annotations

import pytest

from ingest.chunk import chunk_document, chunk_id
from ingest.parse import parse_bytes
from tests.conftest import CORPUS, FakeEmbedder

PATHS = sorted(CORPUS.glob("0*.txt"))


def _chunks(path, emb, **kw):
    doc = parse_bytes(path.read_bytes(), path.name)
    return doc, chunk_document(path.stem, doc, emb.count_tokens, emb.max_tokens, **kw)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_chunks_are_exact_spans_that_fit_the_window(path) -> None:
    emb = FakeEmbedder()
    doc, chunks = _chunks(path, emb)
    assert chunks
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert emb.count_tokens(c.embed_text) <= emb.max_tokens
        assert c.section and c.doc_id == path.stem


def test_chunks_cover_every_section() -> None:
    emb = FakeEmbedder()
    for path in PATHS:
        doc, chunks = _chunks(path, emb)
        for s in doc.sections:
            assert any(c.start <= s.start < c.end for c in chunks), s


def test_long_sections_are_split_with_overlap() -> None:
    emb = FakeEmbedder()
    doc, chunks = _chunks(CORPUS / "000_7399247191e587c3.txt", emb, chunk_tokens=80, overlap=16)
    transcript = [c for c in chunks if c.section == "Transcript"]
    assert len(transcript) > 5
    overlaps = sum(a.end > b.start for a, b in zip(transcript, transcript[1:], strict=False))
    assert overlaps >= len(transcript) // 2
    assert max(emb.count_tokens(c.embed_text) for c in transcript) <= 80 + 20


def test_small_sections_under_one_heading_are_packed() -> None:
    emb = FakeEmbedder()
    doc, chunks = _chunks(CORPUS / "002_9480da9f1f03aad0.txt", emb, chunk_tokens=200)
    phase1 = [c for c in chunks if c.section.startswith("Phase 1")]
    assert len(phase1) == 1
    assert "Must Learn" in phase1[0].text and "Time: 1–2 months" in phase1[0].text


def test_chunk_ids_are_stable_and_content_addressed() -> None:
    emb = FakeEmbedder()
    _, a = _chunks(PATHS[1], emb)
    _, b = _chunks(PATHS[1], emb)
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert len({c.chunk_id for c in a}) == len(a)
    assert chunk_id("d", 0, 5, "hello") != chunk_id("d", 0, 5, "hellO")
    assert chunk_id("d", 0, 5, "hello") != chunk_id("e", 0, 5, "hello")


@pytest.mark.integration
def test_no_chunk_is_truncated_by_the_real_model() -> None:
    from rag.embed import SentenceTransformerEmbedder
    from rag.settings import Settings

    s = Settings()
    emb = SentenceTransformerEmbedder(s.resolved_embed_model())
    assert emb.max_tokens == 256
    for path in PATHS:
        doc = parse_bytes(path.read_bytes(), path.name)
        chunks = chunk_document(path.stem, doc, emb.count_tokens, emb.max_tokens,
                                s.chunk_tokens, s.chunk_overlap)
        for c in chunks:
            assert emb.count_tokens(c.embed_text) <= 256, (c.section, c.start)
