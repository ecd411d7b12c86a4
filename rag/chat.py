"""The question-answering service: conversation context, retrieval, answer, timings.

One instance per process (it caches what it derives from the indexed guides); the CLI,
the API and the UI all call `ask`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

from rag import sparse
from rag.adapter import query_id
from rag.answer import (
    Answer,
    Answerer,
    AnswerModel,
    DocMeta,
    ExtractiveAnswerer,
    Question,
    rare_word,
    source_mentions,
    specific_terms,
    without_words,
)
from rag.calibrate import offtopic_stats
from rag.embed import Embedder, QueryVectors
from rag.intent import TOOLS, classify
from rag.query import clean_query, resolve_ordinal, split_asking
from rag.retrieve import QdrantRetriever
from rag.settings import Settings
from rag.store import Hit, Store
from rag.vocab import expand_abbreviations, pattern

log = logging.getLogger("careerbot")

_FOLLOWUP_START = re.compile(
    r"^\s*(and|but|so|also|then|or|what\s+about|how\s+about|what\s+if|and\s+if|same|ok(ay)?"
    r"|in\s+that\s+case|instead)\b", re.IGNORECASE,
)
_REFERENCE = re.compile(r"\b(it|that|this|they|them|those|these|there|one|ones)\b", re.IGNORECASE)


# A follow-up keeps the conversation's kind unless its own words cue another kind at least
# this strongly (cue weights: rag/data/vocab.json). A passing "years" or "months" (1.0) in
# a salary conversation is the experience or time the figure is for, not a timeline
# question; "how long" (4.5) or "salary" (4.5) is a new kind. Chosen on train over 1, 2
# and 3 (fact recall 0.504, 0.506, 0.505; direct answer 0.616 throughout), confirmed on
# dev (direct 0.627, 0.631, 0.631).
FOLLOWUP_FLOOR = 2.0


def is_followup(question: str) -> bool:
    """Whether a question leans on an earlier turn ("And in San Francisco?", "Which one...")."""
    content = [t for t in sparse.terms(question)]
    if _FOLLOWUP_START.search(question) or pattern("ordinal_reference").search(question):
        return True  # "and ...", "what about ...", "the second one"
    if len(content) <= 2:
        return True
    return bool(_REFERENCE.search(question)) and len(content) <= 4


class CareerBot:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        *,
        top_k: int = 5,
        answer_k: int = 8,
        prefetch_k: int = 40,
        answerer: Answerer | None = None,
        model_id: str | None = None,
        answer_model: AnswerModel | None = None,
    ) -> None:
        self.store = store
        # The embedding model's id: the off-topic calibration is used only when it was made
        # with this model (None: whatever model made the index).
        self.model_id = model_id
        self.answer_model = answer_model  # None: the shipped, fitted one
        self.embedder = embedder
        self.top_k = top_k
        self.answer_k = answer_k
        self.retriever = QdrantRetriever(store, embedder, prefetch_k)
        self._answerer = answerer
        self._factory: Callable[[], Answerer] | None = None
        self._docs: dict[str, DocMeta] | None = None

    def set_answerer_factory(self, factory: Callable[[], Answerer]) -> None:
        """Build the answerer lazily (and again after `refresh`), e.g. an LLM answerer that
        falls back to a fresh extractive one."""
        self._factory = factory
        self._answerer = None

    def refresh(self) -> None:
        """Forget what was derived from the index (call after an ingest)."""
        self._docs = None
        self.retriever.refresh()
        if self._factory is not None or isinstance(self._answerer, ExtractiveAnswerer):
            self._answerer = None

    def docs(self) -> dict[str, DocMeta]:
        if self._docs is None:
            self._docs = {
                d["doc_id"]: DocMeta(
                    title=d.get("title") or d["doc_id"],
                    url=d.get("url"),
                    source=d.get("publisher") or d.get("title") or d["doc_id"],
                    publisher=d.get("publisher") or "",
                )
                for d in self.store.list_docs()
            }
        return self._docs

    def named_guides(self, q: Question) -> tuple[list[str], Question]:
        """The guides the question itself names by publisher ("what does the podcast say
        about projects?"), and the question with the naming words out of its search text.

        The guides named are searched alone, as if the asker had picked them as sources
        (`retrieve`; sources the asker did pick win). The naming words go because they
        say which guide, not what is asked: searched, they find the guide's intro and
        sign-off, the only passages that repeat its name. Read from the question as typed
        (the speller must not turn a name into a guide word first), not from a follow-up's
        earlier turns: "and the roadmap?" after a podcast question asks another guide."""
        by_publisher: dict[str, list[str]] = {}
        for doc_id, meta in self.docs().items():
            if meta.publisher:
                by_publisher.setdefault(meta.publisher, []).append(doc_id)
        vocab = self.retriever.vocabulary()
        named = source_mentions(q.typed or q.text, by_publisher,
                                lambda w: rare_word(vocab, w))
        if not named:
            return [], q
        docs = sorted(d for p in named for d in by_publisher[p])
        own = without_words(q.own_search_text, set().union(*named.values()))
        # a question that is only a name ("yourai2day?") keeps it
        search = (f"{q.context} {own}" if q.context else own) if own else q.search_text
        return docs, replace(q, search_text=search, named=tuple(docs))

    def extractive(self) -> ExtractiveAnswerer:
        meta = self.store.get_meta()
        stats = offtopic_stats(meta, self.model_id or str(meta.get("model", "")))
        if stats is None and meta.get("model"):
            # Calibrated for another model or query adapter, or before the model's own
            # vector was measured: nothing is refused as off-topic until the next ingest
            # measures it again (`serve` does at start).
            why = (f"is for {meta.get('model')}, not {self.model_id}"
                   if meta.get("model") != self.model_id
                   else "predates the model's own vector's")
            log.warning("the index's off-topic calibration %s; run `careerbot ingest` to "
                        "measure it again", why)
        return ExtractiveAnswerer(self.store, self.docs(), self.retriever.vocabulary(),
                                  model=self.answer_model, offtopic=stats,
                                  embed=self.embedder.embed_query)

    @property
    def answerer(self) -> Answerer:
        if self._answerer is None:
            self._answerer = self._factory() if self._factory else self.extractive()
        return self._answerer

    def prepare(self, question: str, history: Sequence[Mapping[str, Any]] = ()) -> Question:
        """Clean the question and resolve it against earlier user turns."""
        context = ""
        context_intent = "other"
        reply = ""  # the assistant's turn just before the question, if it is the last
        for turn in history:
            reply = str(turn.get("content", "")) if turn.get("role") == "assistant" else ""
            if turn.get("role") != "user":
                continue
            prior = self._resolve(str(turn.get("content", "")), context, context_intent)
            context, context_intent = prior.search_text, prior.intent
        if context and reply:
            # "the second one": the second item the reply listed, named in its place (such
            # a reference is a follow-up however the rest reads once the item stands in it)
            cleaned = clean_query(question)
            resolved = resolve_ordinal(cleaned, reply)
            if resolved != cleaned:
                return self._resolve(resolved, context, context_intent, followup=True)
        return self._resolve(question, context, context_intent)

    def _resolve(self, question: str, context: str, context_intent: str,
                 followup: bool | None = None) -> Question:
        """`followup`: whether `question` leans on `context` (None: `is_followup` says)."""
        cleaned = clean_query(question)
        text = self.retriever.prepare(cleaned)
        # The kind is what the question asks: "no luck after 6 months. what do they make
        # in austin?" asks a salary, and its months are the asker's story. What the asking
        # sentences do not settle, the whole question does.
        asking, told = split_asking(text)
        intent = classify(" ".join(asking)) if told else "other"
        intent = classify(text) if intent == "other" else intent
        # Searched with abbreviations spelled out; answered (shape, specifics) as typed.
        search_text = expand_abbreviations(text)
        followup = bool(context) and (is_followup(cleaned) if followup is None else followup)
        if followup:
            search_text = f"{context} {search_text}"
            if context_intent != "other" and classify(text, FOLLOWUP_FLOOR) == "other":
                intent = context_intent  # type: ignore[assignment]
        # Specifics also as typed: "in seatle" must not turn into "in settle" and pass. A
        # misspelt tool ("in pytroch") is the tool the repair found, not an unknown name.
        repaired = specific_terms(text)
        seen = {t.lower() for t in repaired}
        both = repaired + tuple(t for t in specific_terms(cleaned) if t.lower() in seen
                                or not TOOLS.fullmatch(self.retriever.prepare(t)))
        specifics = tuple({t.lower(): t for t in reversed(both)}.values())[::-1]
        return Question(text, search_text, intent, specifics, typed=cleaned,
                        context=context if followup else "")

    def stream(
        self,
        question: str,
        history: Sequence[Mapping[str, Any]] = (),
        *,
        top_k: int | None = None,
        sources: Sequence[str] | None = None,
    ) -> Iterator[tuple[str, Any]]:
        """Typed events for streaming clients: ("meta", {"intent"}), ("delta", text)...,
        ("citations", [...]), then ("done", full response dict).

        The extractive answer is composed at once, so its text arrives line by line; an
        answerer with its own `stream` (an LLM) sends its tokens as they come.
        """
        t0 = time.perf_counter()
        q, hits, vectors = self.retrieve(question, history, top_k, sources)
        t1 = time.perf_counter()
        yield "meta", {"intent": q.intent}
        streamer = getattr(self.answerer, "stream", None)
        if callable(streamer):
            answer: Answer | None = None
            for kind, value in streamer(q, hits, vectors):
                if kind == "delta":
                    yield "delta", value
                elif kind == "answer":
                    answer = value
            assert answer is not None, "a streaming answerer must end with its answer"
        else:
            answer = self.answerer.answer(q, hits, vectors)
            lines = answer.answer.split("\n")
            for i, line in enumerate(lines):
                yield "delta", line + ("\n" if i < len(lines) - 1 else "")
        _timed(answer, t0, t1)
        yield "citations", [asdict(c) for c in answer.citations]
        yield "done", answer.to_dict()

    def ask(
        self,
        question: str,
        history: Sequence[Mapping[str, Any]] = (),
        *,
        top_k: int | None = None,
        sources: Sequence[str] | None = None,
    ) -> Answer:
        t0 = time.perf_counter()
        q, hits, vectors = self.retrieve(question, history, top_k, sources)
        t1 = time.perf_counter()
        return _timed(self.answerer.answer(q, hits, vectors), t0, t1)

    def retrieve(
        self, question: str, history: Sequence[Mapping[str, Any]] = (),
        top_k: int | None = None, sources: Sequence[str] | None = None,
    ) -> tuple[Question, list[Hit], QueryVectors | None]:
        """The question made ready, the passages to answer it from, and its vectors: what
        `ask` and `stream` answer from, and what a fit must read to fit what is served."""
        q = self.prepare(question, history)
        named, q = self.named_guides(q)
        if sources is None and named:
            sources = named
        hits, vectors = self.retriever.search_prepared(
            q.search_text, top_k=max(top_k or self.top_k, self.answer_k), sources=sources
        )
        return q, hits, vectors


def _timed(answer: Answer, t0: float, t1: float) -> Answer:
    """Stamp the stage timings (retrieval from t0 to t1, answering from t1 to now)."""
    t2 = time.perf_counter()
    answer.timings_ms = {
        "retrieve": round((t1 - t0) * 1000, 2),
        "answer": round((t2 - t1) * 1000, 2),
        "total": round((t2 - t0) * 1000, 2),
    }
    return answer


def build_bot(settings: Settings, store: Store, embedder: Embedder,
              answer_model: AnswerModel | None = None) -> CareerBot:
    """The bot as configured: extractive answers, or an LLM's when an endpoint is set."""
    bot = CareerBot(
        store, embedder, top_k=settings.top_k, answer_k=settings.answer_k,
        prefetch_k=settings.prefetch_k, model_id=query_id(embedder, settings.model_id()),
        answer_model=answer_model,
    )
    if settings.llm_base_url:
        from rag.llm import LLMAnswerer

        bot.set_answerer_factory(
            lambda: LLMAnswerer(
                base_url=settings.llm_base_url, model=settings.llm_model,
                api_key=settings.llm_api_key, timeout=settings.llm_timeout,
                fallback=bot.extractive(),
            )
        )
    return bot
