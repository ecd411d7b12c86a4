"""One evaluation run: ingest into a temporary store, retrieve per mode, answer, score.

The user's index is never touched: the corpus (ours or a BEIR set's) is ingested into a
store of its own, in memory unless the caller hands one in, so a run is reproducible and
cannot collide with a running server that holds the user's data dir.

The result is one JSON-ready dict (see `eval.report` for the files written from it):
    {"schema", "created", "kind": "ours"|"beir", "dataset", "setup", "ingest", "unlabelled",
     "splits": {name: {"questions", "answerable", "retrieval": {mode: metrics},
                       "answers": {"overall", "by_kind"} | None}},
     "latency": {"search": {mode: stats}, "answer": {stage: stats}},
     "questions": {id: {"split", "kind", "question", "ranks": {mode: rank|None},
                        "answer": {...} | None}}}
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ir_measures import Qrel, ScoredDoc
from tqdm import tqdm

from eval.answers import score_answers
from eval.beir import BeirSet, doc_ranking, write_corpus
from eval.dataset import DEFAULT_SET, Item, load_items, validate
from eval.retrieval import qrels_for, score_run, search_text
from eval.stats import summary
from ingest.pipeline import IngestReport, ingest_corpus, pipeline_config
from ingest.progress import progress_for
from rag.answer import Answer, AnswerModel
from rag.embed import Embedder
from rag.services import Services
from rag.settings import Settings
from rag.store import MODES, Store
from rag.store_edge import EdgeStore

SCHEMA = 1
SPLITS = ("train", "dev", "test")
# What `--split all` reports: the test split is run on purpose, once, not by default.
DEFAULT_SPLITS = ("train", "dev")
DEFAULT_MODES: tuple[str, ...] = ("dense", "sparse", "hybrid")
ANSWER_STAGES = ("retrieve", "answer", "total")


class EvalError(RuntimeError):
    """The run cannot start (bad dataset, nothing to evaluate); the message says why."""


# ---------------------------------------------------------------- helpers


def latency(xs: Sequence[float]) -> dict[str, float] | None:
    return {"n": len(xs), **summary(xs)} if xs else None


def first_relevant(ranked: Sequence[str], relevant: set[str]) -> int | None:
    return next((i + 1 for i, d in enumerate(ranked) if d in relevant), None)


def parse_modes(values: Sequence[str] | None) -> tuple[str, ...]:
    """Modes from `--modes` values, each possibly comma-separated; all three by default."""
    if not values:
        return DEFAULT_MODES
    modes: list[str] = []
    for v in values:
        for m in v.split(","):
            m = m.strip().lower()
            if not m:
                continue
            if m not in MODES:
                raise EvalError(f"unknown mode {m!r}; choose from dense, sparse, hybrid")
            if m not in modes:
                modes.append(m)
    if not modes:
        raise EvalError("no retrieval mode given")
    return tuple(modes)


def _bar(total: int, desc: str, progress: bool) -> Any:
    return tqdm(total=total, desc=desc, unit="q",
                file=sys.stderr, disable=not progress, leave=False, dynamic_ncols=True)


@contextmanager
def temporary_store(store: Store | None = None) -> Iterator[Store]:
    """The store handed in (left open), else a fresh one of the default engine in a
    temporary folder (what users run, so eval measures it), deleted afterwards."""
    if store is not None:
        yield store
        return
    with tempfile.TemporaryDirectory(prefix="careerbot-eval-") as tmp:
        own = EdgeStore.open_folder(Path(tmp))
        try:
            yield own
        finally:
            own.close()


def _ingest(corpus: Path, store: Store, embedder: Embedder, settings: Settings,
            progress: bool) -> IngestReport:
    return ingest_corpus(
        corpus, store, embedder, config=pipeline_config(settings),
        chunk_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap,
        progress=progress_for(quiet=not progress),
    )


def _ingest_summary(report: IngestReport, store: Store) -> dict[str, Any]:
    return {"documents": report.documents.added + report.documents.updated
            + report.documents.unchanged, "chunks": store.count(), "embedded": report.embedded,
            "failed": report.failed, "seconds": round(report.seconds, 2)}


def _setup(settings: Settings, embedder: Embedder, modes: Sequence[str], k: int,
           **extra: Any) -> dict[str, Any]:
    model = Path(settings.resolved_embed_model())
    return {"embedder": type(embedder).__name__, "model": f"{model.parent.name}/{model.name}",
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap": settings.chunk_overlap, "prefetch_k": settings.prefetch_k,
            "top_k": settings.top_k, "answer_k": settings.answer_k,
            "answerer": "llm" if settings.llm_base_url else "extractive",
            "modes": list(modes), "k": k, **extra}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------- our question set


def select_split(items: Sequence[Item], split: str) -> list[Item]:
    """The items of one split; "all" is every split but test (see DEFAULT_SPLITS)."""
    if split == "all":
        return [it for it in items if it.split in DEFAULT_SPLITS]
    return [it for it in items if it.split == split]


def section_names(split: str, items: Sequence[Item]) -> list[str]:
    """Report sections: the one split asked for, or each default split present plus "all"."""
    if split != "all":
        return [split]
    present = [s for s in DEFAULT_SPLITS if any(it.split == s for it in items)]
    return [*present, "all"] if len(present) > 1 else ["all"]


def evaluate_ours(
    services: Services,
    *,
    dataset: Path = DEFAULT_SET,
    modes: Sequence[str] = DEFAULT_MODES,
    split: str = "all",
    k: int = 10,
    answers: bool = True,
    store: Store | None = None,
    progress: bool = True,
    log: Callable[[str], None] = lambda s: None,
    answer_model: AnswerModel | None = None,
) -> dict[str, Any]:
    """Ingest the corpus folder into a temporary store and evaluate our question set with
    the services' settings and model (and another fitted answer model when one is given:
    the gate's own test uses it)."""
    settings, embedder = services.settings, services.embedder
    items = select_split(load_items(dataset), split)
    if not items:
        raise EvalError(f"{dataset} has no questions in split {split!r}")
    # Candidates nobody has labelled yet (eval.feedback) are listed, not scored.
    unlabelled = [{"id": it.id, "question": it.question, "tags": it.tags}
                  for it in items if it.unlabelled]
    items = [it for it in items if not it.unlabelled]
    if not items:
        raise EvalError(
            f"{dataset}: nothing to score in split {split!r}: every item is unlabelled (fill "
            "in its evidence and facts, or set answerable to false):\n  "
            + "\n  ".join(f"{u['id']}: {u['question']}" for u in unlabelled))
    t_start = time.perf_counter()
    with temporary_store(store) as st:
        log(f"ingesting {settings.corpus_dir} into a temporary store...")
        report = _ingest(settings.corpus_dir, st, embedder, settings, progress)
        texts = {d["doc_id"]: d["text"] for d in st.list_docs(with_text=True)}
        problems = validate(items, texts)
        if problems:
            raise EvalError(f"{dataset} does not match the corpus ({len(problems)} problems; "
                            "run `careerbot eval --validate`):\n  " + "\n  ".join(problems))
        run = services.over(st, answer_model=answer_model)
        bot, retriever = run.bot, run.retriever
        answerable = [it for it in items if it.answerable and it.evidence]
        qrels = qrels_for(answerable, texts, st)
        relevant: dict[str, set[str]] = {}
        for q in qrels:
            relevant.setdefault(q.query_id, set()).add(q.doc_id)

        questions: dict[str, dict[str, Any]] = {
            it.id: {"split": it.split, "kind": it.kind, "question": it.question,
                    "answerable": it.answerable, "tags": it.tags, "ranks": {}, "answer": None,
                    **({"answer_given": it.answer_given} if it.answer_given else {})}
            for it in items
        }
        runs: dict[str, list[ScoredDoc]] = {m: [] for m in modes}
        search_ms: dict[str, list[float]] = {m: [] for m in modes}
        retriever.search("warm up", top_k=k)  # builds the speller, loads the model
        with _bar(len(answerable) * len(modes), "retrieve", progress) as bar:
            for it in answerable:
                query, rel = search_text(it), relevant.get(it.id, set())
                for mode in modes:
                    t = time.perf_counter()
                    hits = retriever.search(query, top_k=k, mode=mode)  # type: ignore[arg-type]
                    search_ms[mode].append((time.perf_counter() - t) * 1000)
                    ids = [h.chunk_id for h in hits]
                    runs[mode].extend(ScoredDoc(it.id, c, float(k - i)) for i, c in enumerate(ids))
                    questions[it.id]["ranks"][mode] = first_relevant(ids, rel)
                    bar.update(1)

        got: dict[str, Answer] = {}
        if answers:
            with _bar(len(items), "answer", progress) as bar:
                for it in items:
                    got[it.id] = bot.ask(it.question, [t.model_dump() for t in it.history])
                    bar.update(1)
        ingest = _ingest_summary(report, st)

    answer_scores = score_answers(items, got, texts) if answers else None
    if answer_scores:
        for qid, row in answer_scores["per_question"].items():
            row["timings_ms"] = got[qid].timings_ms
            row["answer"] = got[qid].answer
            if "answer_given" in questions[qid]:  # a case from feedback: still the same?
                row["same_as_given"] = got[qid].answer == questions[qid]["answer_given"]
            questions[qid]["answer"] = row

    splits: dict[str, Any] = {}
    for name in section_names(split, items):
        subset = select_split(items, name)
        ans_ids = [it.id for it in subset if it.answerable and it.evidence]
        splits[name] = {
            "questions": len(subset),
            "answerable": len(ans_ids),
            "retrieval": {m: score_run(qrels, runs[m], ans_ids) for m in modes},
            "answers": _answer_section(subset, got, texts) if answers else None,
        }
    return {
        "schema": SCHEMA,
        "created": _now(),
        "kind": "ours",
        "dataset": str(dataset),
        "corpus": str(settings.corpus_dir),
        "split": split,
        "setup": _setup(settings, embedder, modes, k, answers=answers),
        "ingest": ingest,
        "splits": splits,
        "latency": {
            "search": {m: latency(search_ms[m]) for m in modes},
            "answer": {s: latency([a.timings_ms[s] for a in got.values() if s in a.timings_ms])
                       for s in ANSWER_STAGES} if answers else None,
        },
        "questions": questions,
        "unlabelled": unlabelled,
        "seconds": round(time.perf_counter() - t_start, 2),
    }


def _answer_section(subset: Sequence[Item], got: dict[str, Answer], texts: dict[str, str]
                    ) -> dict[str, Any]:
    s = score_answers(subset, got, texts)
    return {"overall": s["overall"], "by_kind": s["by_kind"], "by_shape": s["by_shape"]}


# ---------------------------------------------------------------- BEIR sets


def evaluate_beir(
    services: Services,
    beir: BeirSet,
    *,
    modes: Sequence[str] = DEFAULT_MODES,
    k: int = 10,
    store: Store | None = None,
    progress: bool = True,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Ingest a BEIR corpus with our pipeline into a temporary store and score its queries
    against the qrels (by BEIR doc id). No answers: BEIR sets carry no facts to check."""
    settings, embedder = services.settings, services.embedder
    qids = beir.evaluated_queries()
    if not qids:
        raise EvalError(f"{beir.name}: no query has a relevant document in the qrels")
    t_start = time.perf_counter()
    qrels = [Qrel(q, d, s) for q, rel in beir.qrels.items() for d, s in rel.items()]
    with tempfile.TemporaryDirectory(prefix="careerbot-beir-") as tmp, \
            temporary_store(store) as st:
        mapping = write_corpus(beir, Path(tmp))
        log(f"ingesting {len(mapping)} BEIR documents into a temporary store...")
        report = _ingest(Path(tmp), st, embedder, settings, progress)
        retriever = services.over(st).retriever
        retriever.search("warm up", top_k=k)
        runs: dict[str, list[ScoredDoc]] = {m: [] for m in modes}
        search_ms: dict[str, list[float]] = {m: [] for m in modes}
        questions: dict[str, dict[str, Any]] = {
            q: {"split": "all", "kind": "beir", "question": beir.queries[q], "answerable": True,
                "tags": [], "ranks": {}, "answer": None}
            for q in qids
        }
        # Several chunks of one document may lead the list; fetch more, keep each doc once.
        fetch = max(4 * k, k + 20)
        with _bar(len(qids) * len(modes), "retrieve", progress) as bar:
            for q in qids:
                rel = {d for d, s in beir.qrels[q].items() if s > 0}
                for mode in modes:
                    t = time.perf_counter()
                    hits = retriever.search(beir.queries[q], top_k=fetch,
                                            mode=mode)  # type: ignore[arg-type]
                    search_ms[mode].append((time.perf_counter() - t) * 1000)
                    ranked = doc_ranking(hits, mapping, k)
                    runs[mode].extend(ScoredDoc(q, d, float(k - i)) for i, d in enumerate(ranked))
                    questions[q]["ranks"][mode] = first_relevant(ranked, rel)
                    bar.update(1)
        ingest = _ingest_summary(report, st)
    return {
        "schema": SCHEMA,
        "created": _now(),
        "kind": "beir",
        "dataset": beir.name,
        "split": beir.split,
        "setup": _setup(settings, embedder, modes, k, answers=False, chunks_fetched=fetch),
        "ingest": {**ingest, "qrels_problems": beir.problems},
        "splits": {beir.split: {
            "questions": len(qids), "answerable": len(qids),
            "retrieval": {m: score_run(qrels, runs[m], qids) for m in modes},
            "answers": None,
        }},
        "latency": {"search": {m: latency(search_ms[m]) for m in modes}, "answer": None},
        "questions": questions,
        "seconds": round(time.perf_counter() - t_start, 2),
    }
