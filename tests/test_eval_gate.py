"""The quick regression gate: real model, local Qdrant in tmp_path, our dev split.

Thresholds live in eval/gate.py (our measured levels minus a margin); the heldout split is
neither measured nor tuned on here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.gate import MODE, SPLIT, gate_failures
from eval.run import evaluate_ours
from rag.embed import SentenceTransformerEmbedder
from rag.settings import Settings
from rag.store import Store
from tests.conftest import CORPUS


@pytest.mark.integration
def test_dev_split_meets_the_gate(tmp_path: Path) -> None:
    # the extractive answerer, whatever CAREERBOT_LLM_* the environment holds
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=CORPUS, llm_base_url="")
    emb = SentenceTransformerEmbedder(settings.resolved_embed_model(), settings.embed_batch_size)
    store = Store.open(settings)
    try:
        result = evaluate_ours(settings, emb, split=SPLIT, modes=(MODE,), store=store,
                               progress=False)
    finally:
        store.close()
    assert list(result["splits"]) == [SPLIT]
    assert result["ingest"]["failed"] == [] and result["ingest"]["documents"] == 4
    assert {q["split"] for q in result["questions"].values()} == {SPLIT}
    assert gate_failures(result) == []
