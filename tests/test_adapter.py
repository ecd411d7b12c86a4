"""The query adapter: applied to questions only, tied to its model, recalibrated when it
changes, and fitted to rank the answering piece first."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from eval.fit_adapter import fit_matrix, ranking
from ingest.pipeline import ingest_corpus, is_stale
from rag import embed
from rag.adapter import ADAPTER_PATH, AdaptedEmbedder, QueryAdapter, adapted, query_id
from rag.calibrate import offtopic_stats
from rag.embed import embed_query_vectors
from rag.settings import Settings
from tests.conftest import FakeEmbedder


def _swap(dim: int, a: int, b: int) -> np.ndarray:
    m = np.eye(dim, dtype=np.float32)
    m[[a, b]] = m[[b, a]]
    return m


def test_questions_go_through_the_matrix_and_documents_do_not() -> None:
    inner = FakeEmbedder()
    emb = AdaptedEmbedder(inner, QueryAdapter(_swap(inner.dim, 0, 1), "fake"))
    text = "which tools should i learn"
    q, raw = emb.embed_query(text), inner.embed_query(text)
    assert q[0] == pytest.approx(raw[1]) and q[1] == pytest.approx(raw[0])
    assert q[2:] == pytest.approx(raw[2:])
    assert math.isclose(sum(x * x for x in q), 1.0, rel_tol=1e-5)  # still a unit vector
    assert emb.embed_documents([text]) == inner.embed_documents([text])
    assert (emb.dim, emb.max_tokens, emb.count_tokens(text)) == (
        inner.dim, inner.max_tokens, inner.count_tokens(text))
    # both of a question's vectors from one encode: the search's (adapted), the model's own
    both = embed_query_vectors(emb, text)
    assert both.search == pytest.approx(q) and both.own == pytest.approx(raw)
    plain = embed_query_vectors(inner, text)  # no adapter: one vector twice
    assert plain.own is plain.search and plain.search == pytest.approx(raw)


def test_it_round_trips_and_applies_only_to_its_model(tmp_path: Path) -> None:
    path = tmp_path / "adapter.npz"
    QueryAdapter(_swap(64, 2, 5), "model-a", info={"pull": 0.01}).dump(path)
    back = QueryAdapter.load(path)
    assert back.model == "model-a" and back.info == {"pull": 0.01}
    assert np.array_equal(back.matrix, _swap(64, 2, 5))
    inner = FakeEmbedder()
    mine = adapted(inner, "model-a", path)
    assert isinstance(mine, AdaptedEmbedder)
    assert adapted(inner, "model-b", path) is inner  # fitted for another model: not used
    assert adapted(inner, "model-a", tmp_path / "none.npz") is inner  # none shipped
    assert query_id(inner, "model-a") == "model-a"
    assert query_id(mine, "model-a") == f"model-a+adapter-{back.digest}"
    other = QueryAdapter(_swap(64, 2, 6), "model-a")
    assert other.digest != back.digest


def test_a_matrix_that_is_not_square_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "adapter.npz"
    QueryAdapter(np.ones((4, 3), dtype=np.float32), "m").dump(path)
    with pytest.raises(ValueError, match="square"):
        QueryAdapter.load(path)


def test_the_setting_turns_it_off() -> None:
    on = embed.embedder_for(Settings())
    off = embed.embedder_for(Settings(query_adapter=False))
    assert not isinstance(off, AdaptedEmbedder)
    # The shipped adapter is for the shipped model, so it is on by default.
    assert isinstance(on, AdaptedEmbedder) == ADAPTER_PATH.exists()


def test_a_new_adapter_is_calibrated_anew_without_re_embedding_a_guide(
        corpus_copy: Path, memory_store, tmp_path: Path) -> None:
    inner = FakeEmbedder()
    settings = Settings(corpus_dir=corpus_copy, data_dir=tmp_path / "data")
    cfg = {"model": settings.model_id(), "chunk_tokens": settings.chunk_tokens,
           "overlap": settings.chunk_overlap}
    ingest_corpus(corpus_copy, memory_store, inner, config=cfg)
    assert not is_stale(settings, memory_store, inner)
    emb = AdaptedEmbedder(inner, QueryAdapter(_swap(inner.dim, 0, 1), settings.model_id()))
    asker = query_id(emb, settings.model_id())
    assert offtopic_stats(memory_store.get_meta(), asker) is None  # not for these questions
    assert is_stale(settings, memory_store, emb)  # so `serve` ingests before serving
    report = ingest_corpus(corpus_copy, memory_store, emb, config=cfg)
    assert report.documents.unchanged == 4 and report.embedded == 0
    assert offtopic_stats(memory_store.get_meta(), asker) is not None
    assert not is_stale(settings, memory_store, emb)


def _rows(n: int, rot: np.ndarray, rng: np.random.Generator) -> list[dict]:
    """Questions whose answer sits where a fixed rotation of the question points, among
    random candidates: the identity ranks it first rarely, a fitted matrix should often."""
    d = len(rot)
    rows = []
    for _ in range(n):
        q = rng.normal(size=d).astype(np.float32)
        q /= np.linalg.norm(q)
        answer = q @ rot
        others = rng.normal(size=(9, d)).astype(np.float32)
        P = np.vstack([answer, others])
        P /= np.linalg.norm(P, axis=1, keepdims=True)
        y = np.zeros(10, dtype=np.float32)
        y[0] = 1
        rows.append({"q": q, "P": P, "y": y})
    return rows


def test_the_fitted_matrix_ranks_the_evidence_first_on_questions_it_was_not_fitted_on(
) -> None:
    import torch

    rng = np.random.default_rng(0)
    rot = np.linalg.qr(np.eye(8) + 0.5 * rng.normal(size=(8, 8)))[0].astype(np.float32)
    train, held = _rows(600, rot, rng), _rows(100, rot, rng)
    before = ranking(torch.eye(8), held)
    after = ranking(fit_matrix(train, pull=0.001), held)
    assert after["top1"] > before["top1"] + 0.3
    assert after["mrr"] > before["mrr"]


def test_holding_a_guide_out_removes_its_questions_and_its_pieces() -> None:
    from eval.fit_adapter import without_guide

    v = np.eye(3, dtype=np.float32)
    rows = [
        {"guides": ["a"], "docs": ["a", "b"], "P": v[:2], "y": np.array([1.0, 0.0]), "q": v[0]},
        {"guides": ["b"], "docs": ["a", "b", "b"], "P": v, "y": np.array([0.0, 1.0, 0.0]),
         "q": v[1]},
        {"guides": ["a", "b"], "docs": ["a", "b"], "P": v[:2], "y": np.array([1.0, 1.0]),
         "q": v[2]},
    ]
    (left,) = without_guide(rows, "a")
    assert left["docs"] == ["b", "b"] and left["y"].tolist() == [1.0, 0.0]
    assert np.array_equal(left["P"], v[1:])


def test_a_vector_of_another_size_is_left_as_it_is_and_the_wrapper_copies() -> None:
    import copy

    adapter = QueryAdapter(_swap(64, 0, 1), "model")
    assert adapter.apply([0.6, 0.8]) == [0.6, 0.8]  # another model under the same name
    emb = copy.copy(AdaptedEmbedder(FakeEmbedder(), adapter))
    assert emb.embed_query("ml") == AdaptedEmbedder(FakeEmbedder(), adapter).embed_query("ml")
