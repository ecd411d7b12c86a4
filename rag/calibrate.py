"""The off-topic level of an index, measured with the embedding model in use.

A fixed similarity floor is a number for one model and one corpus: another model spreads
its cosine similarities differently and silently abstains more or less. So the floor is
measured: questions from outside the domain (`offtopic_probes` in rag/data/vocab.json:
cooking, travel, sport...) are embedded and matched against the index's stored pieces,
and the mean and spread of their best similarities are stored with the index. The
answerer refuses a question whose best similarity is not `AnswerModel.offtopic_z`
standard deviations above that mean (`unknown_z` for a question of mostly unknown words;
chosen on the train and dev splits: `eval.fit`).
It runs after every ingest that changed something, so it follows the corpus and the
model.

Both of a question's vectors are measured (`rag.embed.QueryVectors`): the search's,
through the query adapter, and the model's own, which has levels of its own
(`AnswerModel.own_z`, `own_unknown_z`). An index calibrated before the model's own
vector was measured counts as uncalibrated, so the next ingest (`serve` runs one at
start) measures both.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any, NamedTuple

from rag.embed import Embedder, embed_query_vectors
from rag.schema import IndexMeta
from rag.store import Store
from rag.vocab import vocab


class OfftopicStats(NamedTuple):
    """The off-topic probes' best similarities to the index: mean and spread, with the
    search's vector and with the model's own."""

    mean: float
    std: float
    own_mean: float
    own_std: float


def calibrate(store: Store, embedder: Embedder, model_id: str) -> IndexMeta:
    probes = list(vocab()["offtopic_probes"])
    vectors = [embed_query_vectors(embedder, p) for p in probes]
    sims = [store.nearest_unit(v.search) for v in vectors]
    own = [store.nearest_unit(v.own) for v in vectors]
    record = IndexMeta(
        offtopic_mean=round(statistics.fmean(sims), 6),
        offtopic_std=round(statistics.pstdev(sims), 6),
        offtopic_own_mean=round(statistics.fmean(own), 6),
        offtopic_own_std=round(statistics.pstdev(own), 6),
        probes=len(probes),
        model=model_id,
    )
    store.put_meta(record)
    return record


def offtopic_stats(meta: Mapping[str, Any], model_id: str) -> OfftopicStats | None:
    """The calibration when the index was calibrated with this model (both vectors),
    else None."""
    if meta.get("model") != model_id or "offtopic_own_mean" not in meta:
        return None
    return OfftopicStats(float(meta["offtopic_mean"]), float(meta["offtopic_std"]),
                         float(meta["offtopic_own_mean"]), float(meta["offtopic_own_std"]))


def uncalibrated(store: Store, model_id: str) -> bool:
    """Whether a non-empty index lacks an off-topic calibration for `model_id` (what embeds
    questions: the model and its query adapter, `rag.adapter.query_id`)."""
    return store.count() > 0 and offtopic_stats(store.get_meta(), model_id) is None
