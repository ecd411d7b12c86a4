"""The regression gate: real model, local Qdrant in tmp_path, our dev split.

Thresholds live in eval/gate.py (our measured dev levels minus a margin); the test split
is neither measured nor tuned on here. A gate that always passed would pass both tests
below: the second one shows a deliberately worse answerer fails it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from eval.gate import MODE, SPLIT, gate_failures
from eval.run import evaluate_ours
from rag.answer import AnswerModel, default_model
from rag.services import Services
from rag.settings import Settings
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def run_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # the extractive answerer, whatever CAREERBOT_LLM_* the environment holds
    settings = Settings(data_dir=tmp_path_factory.mktemp("gate"), corpus_dir=CORPUS,
                        llm_base_url="")
    services = Services(settings)  # the real model, as `careerbot eval` runs it
    # The run's own store in the temp data dir (not the default in-memory one), opened by
    # the services.
    store = services.store

    def run(model: AnswerModel | None = None) -> dict[str, Any]:
        return evaluate_ours(services, split=SPLIT, modes=(MODE,), store=store,
                             progress=False, answer_model=model)

    yield run
    services.close()


@pytest.mark.integration
def test_dev_split_meets_the_gate(run_dev: Any) -> None:
    result = run_dev()
    assert list(result["splits"]) == [SPLIT]
    assert result["ingest"]["failed"] == [] and result["ingest"]["documents"] == 4
    assert {q["split"] for q in result["questions"].values()} == {SPLIT}
    assert gate_failures(result) == []


@pytest.mark.integration
def test_a_worse_answerer_fails_the_gate(run_dev: Any) -> None:
    good = default_model()
    # The fitted scorer turned upside down: it now prefers the pieces it judged worst.
    worse = replace(good, weights=tuple(-w for w in good.weights), intercept=-good.intercept)
    failures = gate_failures(run_dev(worse))
    assert any("direct_answer" in f for f in failures), failures
    assert any("fact_recall" in f for f in failures), failures
