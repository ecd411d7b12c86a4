"""The query adapter: a linear map, fitted on the train split, applied to question vectors.

all-MiniLM-L6-v2 was trained on general web pairs; in these guides it ranks the sentence
that answers a question first among the candidate pieces for about four questions in ten
(dev). No other weights can be had here, and a fine-tuned copy of the model would have to
be built or shipped. A linear map on the question side only is the small version of the
same idea: 384 x 384 numbers (rag/data/query_adapter.npz), fitted by `python -m
eval.fit_adapter` to move a question's vector toward the pieces that answer such
questions (a softmax over the question's candidate pieces, pulled toward the identity so
it stays close to the model; the pull is chosen on the dev split). The guides' vectors
are untouched, so nothing is re-embedded when it changes.

What it changes is the embedding of questions, so it is part of "the model in use": the
off-topic calibration records `query_id` and is measured again when the adapter changes
(`ingest.pipeline`), and the answer model is fitted on adapted vectors (`eval.fit`). It
applies only to the model it was fitted for (`model` in the file) and can be turned off
(`CAREERBOT_QUERY_ADAPTER=false`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.embed import Embedder, QueryVectors
from rag.vocab import DATA

if TYPE_CHECKING:
    import numpy as np

ADAPTER_PATH = DATA / "query_adapter.npz"


@dataclass(frozen=True)
class QueryAdapter:
    matrix: np.ndarray  # (dim, dim): an adapted question vector is `v @ matrix`, normalised
    model: str  # the embedding model it was fitted for (Settings.model_id)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.matrix.tobytes()).hexdigest()[:12]

    def apply(self, vec: Sequence[float]) -> list[float]:
        """`vec` mapped and normalised; a vector of another size (another model under the
        same folder name: models are told apart by `Settings.model_id`) is left as it is."""
        import numpy as np

        if len(vec) != self.matrix.shape[0]:
            return list(vec)
        v = np.asarray(vec, dtype=np.float32) @ self.matrix
        norm = float(np.linalg.norm(v))
        return [float(x) for x in (v / norm if norm > 0 else v)]

    def dump(self, path: Path) -> None:
        import numpy as np

        meta = json.dumps({"model": self.model, "info": self.info})
        with path.open("wb") as f:
            np.savez_compressed(f, matrix=self.matrix.astype(np.float32), meta=np.array(meta))

    @classmethod
    def load(cls, path: Path) -> QueryAdapter:
        import numpy as np

        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            matrix = np.array(z["matrix"], dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"{path}: the adapter is not a square matrix")
        return cls(matrix, str(meta["model"]), dict(meta.get("info", {})))


class AdaptedEmbedder:
    """An embedder whose question vectors go through the adapter; documents as they were."""

    def __init__(self, inner: Embedder, adapter: QueryAdapter) -> None:
        self.inner = inner
        self.adapter = adapter
        self.adapter_digest = adapter.digest

    def __getattr__(self, name: str) -> Any:  # load(), loaded, known_words()... of the model
        if name.startswith("__") or name == "inner":  # copy/pickle probe before __init__
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.adapter.apply(self.inner.embed_query(text))

    def embed_query_vectors(self, text: str) -> QueryVectors:
        """The adapted vector and the model's own, from one encode (`rag.embed`)."""
        own = self.inner.embed_query(text)
        return QueryVectors(self.adapter.apply(own), own)


def adapted(embedder: Embedder, model_id: str, path: Path = ADAPTER_PATH) -> Embedder:
    """`embedder` with the shipped adapter when there is one for `model_id`, else as is."""
    if not path.exists():
        return embedder
    adapter = QueryAdapter.load(path)
    if adapter.model != model_id:
        return embedder
    return AdaptedEmbedder(embedder, adapter)


def query_id(embedder: Embedder, model_id: str) -> str:
    """What embeds questions: the model, and the adapter's digest when one applies. The
    off-topic calibration is stored under this name, so a new adapter is calibrated anew."""
    digest = getattr(embedder, "adapter_digest", None)  # only AdaptedEmbedder has one
    return f"{model_id}+adapter-{digest}" if digest else model_id
