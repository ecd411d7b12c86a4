"""The off-topic level of an index, measured with the embedding model in use.

A fixed similarity floor is a number for one model and one corpus: another model spreads
its cosine similarities differently and silently abstains more or less. So the floor is
measured: questions from outside the domain (`offtopic_probes` in rag/data/vocab.json:
cooking, travel, sport...) are embedded and matched against the index's stored pieces,
and the mean and spread of their best similarities are stored with the index. The
answerer refuses a question whose best similarity is not `AnswerModel.offtopic_z`
standard deviations above that mean (chosen on the train and dev splits: `eval.fit`).
It runs after every ingest that changed something, so it follows the corpus and the
model.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from rag.embed import Embedder
from rag.schema import IndexMeta
from rag.store import Store
from rag.vocab import vocab


def calibrate(store: Store, embedder: Embedder, model_id: str) -> IndexMeta:
    probes = list(vocab()["offtopic_probes"])
    sims = [store.nearest_unit(embedder.embed_query(p)) for p in probes]
    record = IndexMeta(
        offtopic_mean=round(statistics.fmean(sims), 6),
        offtopic_std=round(statistics.pstdev(sims), 6),
        probes=len(probes),
        model=model_id,
    )
    store.put_meta(record)
    return record


def offtopic_stats(meta: Mapping[str, Any], model_id: str) -> tuple[float, float] | None:
    """(mean, std) when the index was calibrated with this model, else None."""
    if meta.get("model") != model_id or "offtopic_mean" not in meta:
        return None
    return float(meta["offtopic_mean"]), float(meta["offtopic_std"])


def uncalibrated(store: Store, model_id: str) -> bool:
    """Whether a non-empty index lacks an off-topic calibration for `model_id` (what embeds
    questions: the model and its query adapter, `rag.adapter.query_id`)."""
    return store.count() > 0 and offtopic_stats(store.get_meta(), model_id) is None
