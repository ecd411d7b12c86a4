"""Embedders. The real one wraps sentence-transformers and loads its model lazily."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from rag.settings import Settings


class Embedder(Protocol):
    """What ingestion and retrieval need from an embedding model."""

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Tokens the model reads before it silently truncates (special tokens included)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` occupies in the model's window, special tokens included."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or any local sentence-transformers model), normalised, batched.

    The model is loaded on first use (or by `load()`), never at import time. The
    tokenizer alone is loaded for token counting, which is much cheaper than the model.
    """

    def __init__(self, model_path: str, batch_size: int = 32, device: str = "cpu") -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    # The weight-loading progress bar is noise in CLI and server output.
                    hf_logging.disable_progress_bar()

                    self._model = SentenceTransformer(self.model_path, device=self.device)
        return self._model

    def _tok(self) -> Any:
        if self._tokenizer is None:
            if self._model is not None:
                self._tokenizer = self._model.tokenizer
            else:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        return self._tokenizer

    @property
    def dim(self) -> int:
        return int(self.load().get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        if self._model is not None:
            return int(self._model.max_seq_length)
        import json
        from pathlib import Path

        cfg = Path(self.model_path) / "sentence_bert_config.json"
        if cfg.exists():
            return int(json.loads(cfg.read_text()).get("max_seq_length", 256))
        return int(self.load().max_seq_length)

    def count_tokens(self, text: str) -> int:
        ids = self._tok()(text, add_special_tokens=True, truncation=False, verbose=False)
        return len(ids["input_ids"])

    def known_words(self) -> set[str]:
        """Whole words of the tokenizer's vocabulary: real words, even if the guides lack them."""
        return {w for w in self._tok().get_vocab() if w.isalpha()}

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vecs = self.load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [v.tolist() for v in vecs]

    def embed_query(self, text: str) -> list[float]:
        vec = self.load().encode(
            text, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return list(vec.tolist())


class QueryVectors(NamedTuple):
    """A question's two vectors, from one encode.

    `search` is what retrieval and the answerer's scoring use: through the query adapter
    when one applies (`rag.adapter`). `own` is the model's own vector, no adapter. The
    adapter is fitted to pull questions toward the pieces that answer them, and it pulls
    an off-topic question toward the guides too. So the model's own vector tells
    off-topic questions apart better: measured by `eval.fit.separation` on 1992 train and
    dev questions, the area under the ROC curve is 0.997 with it and 0.978 with the
    adapted one. Both are measured against their own calibration (`rag.calibrate`).
    Without an adapter the two are the same vector."""

    search: list[float]
    own: list[float]


def embed_query_vectors(embedder: Embedder, text: str) -> QueryVectors:
    """Both vectors of `text` from one encode; an embedder that has no adapter (no
    `embed_query_vectors` of its own) gives its one vector twice."""
    both = getattr(embedder, "embed_query_vectors", None)
    if callable(both):
        return QueryVectors(*both(text))
    vec = embedder.embed_query(text)
    return QueryVectors(vec, vec)


def embedder_for(settings: Settings) -> Embedder:
    """The embedder the settings name (loaded lazily, on first use), with the query adapter
    fitted for it unless turned off. `Services` gets it here, for every interface; tests
    replace this function."""
    from rag.adapter import adapted  # it builds on this module

    model = SentenceTransformerEmbedder(settings.resolved_embed_model(),
                                        settings.embed_batch_size)
    return adapted(model, settings.model_id()) if settings.query_adapter else model
