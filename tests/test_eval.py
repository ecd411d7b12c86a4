"""The evaluation suites with FakeEmbedder and in-memory Qdrant: BEIR, scoring, reports."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from ir_measures import Qrel, ScoredDoc

from eval.beir import BeirError, doc_ranking, load_beir, write_corpus
from eval.dataset import DEFAULT_SET, load_items, validate
from eval.gate import THRESHOLDS, gate_failures
from eval.report import CHART, REPORT, RESULTS, compare_runs, load_run, write_run
from eval.run import EvalError, evaluate_beir, evaluate_ours, parse_modes, score_run
from ingest.parse import parse_bytes
from rag.services import Services
from rag.settings import Settings
from rag.store import Hit, Store
from rag.store_qdrant import QdrantStore
from tests.conftest import FakeEmbedder

BEIR_TINY = Path(__file__).resolve().parent / "data" / "beir_tiny"


def hit(doc_id: str, chunk_id: str) -> Hit:
    return Hit(doc_id, chunk_id, "", "", "", 0, 1, 1.0)


# ---------------------------------------------------------------- BEIR


def test_load_beir_tiny() -> None:
    b = load_beir(BEIR_TINY)
    assert len(b.docs) == 8 and b.problems == []
    assert b.docs["doc-compost"].title == "" and b.docs["doc/glaciers"].title
    # q6 has no judgements: not evaluated
    assert b.evaluated_queries() == ["q1", "q2", "q3", "q4", "q5"]
    assert b.qrels["q4"] == {"doc-tides": 2, "doc/glaciers": 0}


def test_beir_problems_and_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(BEIR_TINY, bad)
    with (bad / "qrels" / "test.tsv").open("a") as f:
        f.write("q1\tno-such-doc\t1\nq99\tdoc-tides\t1\n")
    problems = load_beir(bad).problems
    assert any("no-such-doc" in p for p in problems) and any("q99" in p for p in problems)
    (bad / "qrels" / "test.tsv").unlink()
    with pytest.raises(BeirError, match="test.tsv is missing"):
        load_beir(bad)
    (bad / "corpus.jsonl").write_text('{"_id": "a", "text": "x"}\nnot json\n')
    with pytest.raises(BeirError, match="corpus.jsonl:2"):
        load_beir(bad)
    with pytest.raises(BeirError, match="does not exist"):
        load_beir(tmp_path / "nowhere")


def test_beir_docs_become_plain_guides(tmp_path: Path) -> None:
    b = load_beir(BEIR_TINY)
    mapping = write_corpus(b, tmp_path)
    assert sorted(mapping.values()) == sorted(b.docs)
    manifest = json.loads((tmp_path / "manifest.json").read_text())["documents"]
    assert len(manifest) == 8 and all(e["title"] for e in manifest)
    ours = {v: k for k, v in mapping.items()}
    # a text opening with "[" must not be read as JSON, and keeps its canonical text
    path = next(tmp_path.glob(ours["doc-bracket"] + ".*"))
    parsed = parse_bytes(path.read_bytes(), path.name)
    assert parsed.text.startswith("[1] Footnotes") and parsed.format == "text"
    # a lone Title Case line is a paragraph, not a bare heading
    path = next(tmp_path.glob(ours["doc-heading"] + ".*"))
    assert parse_bytes(path.read_bytes(), path.name).text == "Mountain Climbing Safety Basics"


def test_doc_ranking_keeps_each_doc_once_at_its_best_rank() -> None:
    hits = [hit("b1", "c1"), hit("b1", "c2"), hit("b2", "c3"), hit("b3", "c4"), hit("b2", "c5")]
    mapping = {"b1": "X", "b2": "Y", "b3": "Z"}
    assert doc_ranking(hits, mapping, 10) == ["X", "Y", "Z"]
    assert doc_ranking(hits, mapping, 2) == ["X", "Y"]


def test_evaluate_beir_tiny(memory_store: Store, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    res = evaluate_beir(Services(settings, embedder=FakeEmbedder()), load_beir(BEIR_TINY),
                        store=memory_store, progress=False)
    assert res["kind"] == "beir" and res["ingest"]["documents"] == 8
    assert res["ingest"]["failed"] == []
    sec = res["splits"]["test"]
    assert sec["questions"] == 5 and set(sec["retrieval"]) == {"dense", "sparse", "hybrid"}
    for metrics in sec["retrieval"].values():
        assert set(metrics) >= {"ndcg@10", "recall@5", "recall@10", "mrr@10", "hit@1"}
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert sec["retrieval"]["hybrid"]["hit@5"] == 1.0
    assert {q["ranks"]["sparse"] for q in res["questions"].values()} == {1}
    assert set(res["latency"]["search"]) == {"dense", "sparse", "hybrid"}
    assert res["latency"]["search"]["hybrid"]["n"] == 5


def test_score_run_counts_unretrieved_queries_as_zero() -> None:
    qrels = [Qrel("a", "d1", 1), Qrel("b", "d2", 1)]
    run = [ScoredDoc("a", "d1", 2.0), ScoredDoc("a", "d9", 1.0)]
    m = score_run(qrels, run, ["a", "b"])
    assert m["hit@1"] == 0.5 and m["mrr@10"] == 0.5 and m["recall@5"] == 0.5
    assert score_run(qrels, [], ["a"])["ndcg@10"] == 0.0


def test_parse_modes() -> None:
    assert parse_modes(None) == ("dense", "sparse", "hybrid")
    assert parse_modes(["hybrid,dense", "dense"]) == ("hybrid", "dense")
    with pytest.raises(EvalError, match="bm25"):
        parse_modes(["bm25"])


# ---------------------------------------------------------------- our set


def test_validate_rejects_a_quote_not_in_the_document() -> None:
    items = load_items(DEFAULT_SET)
    texts = {d: "" for d in {ev.doc for it in items for ev in it.evidence}}
    for p in (Path(__file__).resolve().parent.parent / "corpus").glob("0*.txt"):
        texts[p.stem] = parse_bytes(p.read_bytes(), p.name).text
    assert validate(items, texts) == []
    bad = items[0].model_copy(deep=True)
    bad.evidence[0].quote = "a quote no guide contains"
    problems = validate([bad], texts)
    assert len(problems) == 1 and bad.id in problems[0] and "quote not found" in problems[0]


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from qdrant_client import QdrantClient

    tmp = tmp_path_factory.mktemp("ours")
    corpus = tmp / "corpus"
    shutil.copytree(Path(__file__).resolve().parent.parent / "corpus", corpus)
    settings = Settings(data_dir=tmp / "data", corpus_dir=corpus)
    store = QdrantStore(QdrantClient(":memory:"), "eval")
    return evaluate_ours(Services(settings, embedder=FakeEmbedder()), modes=("sparse", "hybrid"),
                         store=store, progress=False)


def test_evaluate_ours_sections_and_traces(ours: dict[str, Any]) -> None:
    # the default run reports train, dev and both; the test split is run on purpose only
    assert list(ours["splits"]) == ["train", "dev", "all"]
    train, dev, both = (ours["splits"][s] for s in ("train", "dev", "all"))
    assert train["questions"] + dev["questions"] == both["questions"] >= 200
    assert all(q["split"] != "test" for q in ours["questions"].values())
    for sec in (train, dev, both):
        assert set(sec["retrieval"]) == {"sparse", "hybrid"}
        overall = sec["answers"]["overall"]
        assert set(overall) >= {"fact_recall", "fact_recall_any", "citation_exact",
                                "sentences_cited", "abstention_precision", "abstention_recall",
                                "direct_answer", "words_median", "false_abstention"}
        assert set(sec["answers"]["by_shape"]) >= {"yesno", "list", "figure", "comparison"}
        assert set(sec["answers"]["by_kind"]) == {"timeline", "degree", "salary", "tooling",
                                                  "other"}
    q = ours["questions"]["q001"]
    assert q["split"] == "train" and set(q["ranks"]) == {"sparse", "hybrid"}
    assert q["answer"]["timings_ms"].keys() == {"retrieve", "answer", "total"}
    unanswerable = next(v for v in ours["questions"].values() if not v["answerable"])
    assert unanswerable["ranks"] == {} and unanswerable["answer"] is not None
    lat = ours["latency"]
    assert set(lat["answer"]) == {"retrieve", "answer", "total"}
    assert lat["answer"]["total"]["p95_ms"] >= lat["answer"]["total"]["p50_ms"]
    assert ours["setup"]["embedder"] == "FakeEmbedder"


def test_gate_reads_the_result(ours: dict[str, Any]) -> None:
    fails = gate_failures(ours)  # the fake embedder is far below the real model's levels
    assert fails and all(f.startswith("dev ") for f in fails)
    perfect = copy.deepcopy(ours)
    dev = perfect["splits"]["dev"]
    for section, metric, op, _ in THRESHOLDS:
        target = dev["retrieval"]["hybrid"] if section == "retrieval" else dev["answers"][
            "overall"]
        target[metric] = 1.0 if op == ">=" else 0.0
    assert gate_failures(perfect) == []
    for section, metric, op, bound in THRESHOLDS:  # each threshold alone can fail the gate
        worse = copy.deepcopy(perfect)
        d = worse["splits"]["dev"]
        target = d["retrieval"]["hybrid"] if section == "retrieval" else d["answers"]["overall"]
        target[metric] = bound - 0.01 if op == ">=" else bound + 0.01
        assert gate_failures(worse) == [f"dev {'hybrid' if section == 'retrieval' else 'answers'}"
                                         f" {metric} = {target[metric]} (needs {op} {bound})"]


def test_report_files(ours: dict[str, Any], tmp_path: Path) -> None:
    folder = write_run(ours, tmp_path)
    assert folder.parent == tmp_path and folder.name.endswith("-all")
    for name in (REPORT, RESULTS, CHART):
        assert (folder / name).stat().st_size > 0
    assert (folder / CHART).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = load_run(folder)
    assert data["splits"]["dev"]["retrieval"]["hybrid"] == ours["splits"]["dev"]["retrieval"][
        "hybrid"]
    md = (folder / REPORT).read_text()
    for needle in ("## Split: train", "## Split: dev", "## Split: all", "| ndcg@10 |",
                   "fact recall (any)", "direct answer", "| shape |", "## Latency",
                   "search (hybrid)", "ask: total", "| q001 |"):
        assert needle in md
    assert write_run(ours, tmp_path) != folder  # a second run in the same second: new folder


# ---------------------------------------------------------------- compare


def fabricated() -> dict[str, Any]:
    def answer(found: list[str], missing: list[str], abstained: bool) -> dict[str, Any]:
        return {"abstained": abstained, "facts_found": found, "facts_missing": missing,
                "citation_problems": []}

    return {
        "created": "2025-01-01T00:00:00+00:00", "kind": "ours", "dataset": "q.jsonl",
        "setup": {"modes": ["dense", "hybrid"], "k": 10},
        "splits": {"dev": {
            "questions": 3, "answerable": 2,
            "retrieval": {m: {"ndcg@10": 0.8, "recall@5": 0.9, "recall@10": 1.0,
                              "mrr@10": 0.75, "hit@1": 0.5, "hit@5": 1.0}
                          for m in ("dense", "hybrid")},
            "answers": {"overall": {"fact_recall_any": 1.0, "false_abstention": 0.0},
                        "by_kind": {"salary": {"fact_recall_any": 1.0}}},
        }},
        "latency": {"search": {"hybrid": {"p50_ms": 10.0, "p95_ms": 20.0}}},
        "questions": {
            "q1": {"split": "dev", "kind": "salary", "answerable": True,
                   "ranks": {"dense": 1, "hybrid": 1},
                   "answer": answer(["$100k", "$120k"], [], False)},
            "q2": {"split": "dev", "kind": "timeline", "answerable": True,
                   "ranks": {"dense": None, "hybrid": 2}, "answer": answer(["1 year"], [], False)},
            "q3": {"split": "dev", "kind": "other", "answerable": False, "ranks": {},
                   "answer": answer([], [], True)},
        },
    }


def test_compare_lists_question_changes_and_metric_deltas() -> None:
    a = fabricated()
    b = fabricated()
    b["splits"]["dev"]["retrieval"]["hybrid"]["mrr@10"] = 0.5
    b["splits"]["dev"]["answers"]["by_kind"]["salary"]["fact_recall_any"] = 0.0
    b["questions"]["q1"]["ranks"]["hybrid"] = 3
    b["questions"]["q1"]["answer"].update(facts_found=["$100k"], facts_missing=["$120k"])
    b["questions"]["q2"]["ranks"]["dense"] = 4
    b["questions"]["q3"]["answer"]["abstained"] = False
    b["questions"]["q4"] = dict(a["questions"]["q3"])
    text = compare_runs(a, b)
    assert "dev      hybrid  mrr@10                 0.7500 -> 0.5000  (-0.2500)" in text
    assert "dev      dense   mrr@10                 0.7500  (=)" in text
    assert "salary  fact_recall_any" in text  # by-kind lines only when changed
    assert "timeline" not in text.split("Questions that changed:")[0]
    q1 = next(line for line in text.splitlines() if line.strip().startswith("q1 "))
    assert "hybrid rank 1 -> 3 (worse)" in q1 and "now missing '$120k'" in q1
    assert "dense rank – -> 4 (better)" in text
    assert "abstained yes -> no (wrong: unanswerable)" in text
    assert "q4: only in B" in text and "4 question(s) changed" in text
    assert "Questions that changed:\n  none" in compare_runs(a, fabricated())


def test_fit_objective_weighs_abstention_by_the_bars() -> None:
    """A point of false abstention costs five of abstention recall, as the bars (0.02 and
    0.90) make a fiftieth of answerable questions refused as bad as a tenth of unanswerable
    ones answered: a level that buys 5 points of recall for under 1 point of false
    abstention is taken, one that pays more is not."""
    from eval.fit import objective

    base = {"fact_recall": 0.5, "fact_recall_any": 0.8, "direct_answer": 0.5,
            "abstention_recall": 0.80, "false_abstention": 0.0}
    cheap = {**base, "abstention_recall": 0.85, "false_abstention": 0.005}
    dear = {**base, "abstention_recall": 0.85, "false_abstention": 0.015}
    assert objective(dear) < objective(base) < objective(cheap)
    at_the_bars = {**base, "abstention_recall": 0.90, "false_abstention": 0.02}
    assert objective(at_the_bars) == pytest.approx(objective(base))
    one_point = {**base, "fact_recall": 0.51}
    assert objective(one_point) == pytest.approx(
        objective({**base, "abstention_recall": 0.81}))


def test_fit_takes_the_middle_of_tied_levels_and_its_own_figures() -> None:
    from eval.fit import _best

    def score(c: dict[str, float]) -> tuple[float, dict[str, Any]]:
        # levels 1 to 3 refuse the same questions; 0 and 4 do worse
        return (1.0 if 1 <= c["z"] <= 3 else 0.5), {"z_seen": c["z"]}

    choice, figures = _best([{"z": float(z), "keep": 0.1} for z in range(5)], score,
                            middle_of=("z",))
    assert choice == {"z": 2.0, "keep": 0.1} and figures == {"z_seen": 2.0}
    choice, _ = _best([{"z": float(z), "keep": 0.1} for z in range(5)], score)
    assert choice["z"] == 1.0  # without a middle: the first of the best


def test_fit_chooses_off_topic_levels_that_refuse_the_far_questions_only() -> None:
    """The levels are chosen on the refusals they make: a question whose best similarity
    is below its level gets the off-topic refusal, the others keep their answer. Here
    the search's vector tells the questions apart and the model's own does not, so the
    model's own levels are turned off or kept low enough to refuse none of them."""
    from eval.dataset import Item
    from eval.fit import choose_levels
    from rag.answer import AnswerModel, Question
    from rag.calibrate import OfftopicStats

    class Judge:  # the two things choose_levels reads of an ExtractiveAnswerer

        def mostly_unknown(self, q: Question) -> bool:
            return q.text.startswith("zz")  # stands for "mostly unknown words"

        def answer(self, q: Question, hits: Any, vectors: Any) -> Any:
            from rag.answer import Answer
            return Answer(f"{q.text} is answered here.", [], "other", abstained=False)

    def item(i: str, text: str, answerable: bool) -> Item:
        return Item(id=i, question=text, kind="other", answerable=answerable,
                    evidence=[{"doc": "d", "quote": "x"}] if answerable else [],
                    facts=[f"{text} is answered"] if answerable else [], split="dev")

    cases = [("a1", "plain question", True, 3.2), ("a2", "zz rare words", True, 3.6),
             ("a3", "another plain one", True, 2.2), ("o1", "zz puppy chews", False, 2.6),
             ("o2", "a recipe", False, 0.4)]
    pool = [(item(i, t, a), Question(t, t, "other", ()), [], [0.0]) for i, t, a, _ in cases]
    closest = {i: z for i, _, _, z in cases}  # with mean 0, std 1: the similarity is z
    # the model's own vector puts both off-topic questions above every answerable one: no
    # level of it refuses one without refusing all the answerable ones first
    own = {"a1": 1.0, "a2": 1.0, "a3": 1.0, "o1": 3.8, "o2": 3.8}
    judge, model = Judge(), AnswerModel((), 0.0, (), ())
    logged: list[str] = []
    choice, score = choose_levels(model, {"keep": 0.1, "lead": 0.5, "contend": 0.5},
                                  pool, judge, OfftopicStats(0.0, 1.0, 0.0, 1.0),  # type: ignore[arg-type]
                                  closest, own, {"d": "x"}, logged.append)
    assert choice["offtopic_z"] is not None and choice["unknown_z"] is not None
    assert choice["offtopic_z"] <= 2.0 and 2.6 < choice["unknown_z"] <= 3.5
    # the model's own level refuses nothing: off, or at most the answerable questions' 1.0
    assert all(x is None or x <= 1.0 for x in (choice["own_z"], choice["own_unknown_z"]))
    # the best trades are logged, and the best with each vector alone
    assert logged[0].startswith("levels {") and "false abstention 0.0," in logged[0]
    assert any(line.startswith("best with the model's own vector alone") for line in logged)
    overall = score(choice)[1]
    assert overall["abstention_recall"] == 1.0 and overall["false_abstention"] == 0.0
    # and when the model's own vector is the one that tells them apart, it is chosen
    swapped, _ = choose_levels(model, {"keep": 0.1, "lead": 0.5, "contend": 0.5},
                               pool, judge, OfftopicStats(0.0, 1.0, 0.0, 1.0),  # type: ignore[arg-type]
                               own, closest, {"d": "x"})
    assert swapped["own_z"] is not None and swapped["own_unknown_z"] is not None
    assert swapped["own_z"] <= 2.0 and 2.6 < swapped["own_unknown_z"] <= 3.5
    # the search's level refuses nothing there: off, or at most the answerable ones' 1.0
    assert all(x is None or x <= 1.0
               for x in (swapped["offtopic_z"], swapped["unknown_z"]))


def test_fit_chooses_the_share_that_answers_asides_and_refuses_the_asked() -> None:
    """`incidental_share` is chosen on what it decides: a question whose uncovered
    specifics are at most the share of its words is answered, one above it refused. The
    share that answers the answerable questions and still refuses the unanswerable one
    wins; only the questions naming such a specific are answered again for each share."""
    from eval.dataset import Item
    from eval.fit import choose_share
    from rag.answer import Answer, Question

    # each question's uncovered specifics as a share of its words; None: it names none
    shares = {"a1": 0.08, "a2": 0.11, "a3": None, "u1": 0.15}
    asked: list[str] = []

    class Judge:  # what choose_share reads of an ExtractiveAnswerer with one share
        def __init__(self, share: float) -> None:
            self.share = share

        def uncovered_specifics(self, q: Question, hits: Any, vectors: Any) -> list[str]:
            part = shares[q.text]
            return ["Zorblax"] if part is not None and part > self.share else []

        def answer(self, q: Question, hits: Any, vectors: Any) -> Answer:
            asked.append(q.text)
            if self.uncovered_specifics(q, hits, vectors):
                return Answer("The guides don't say.", [], "other", abstained=True)
            return Answer(f"{q.text} is answered here.", [], "other", abstained=False)

    def item(i: str) -> Item:
        answerable = i.startswith("a")
        return Item(id=i, question=i, kind="other", answerable=answerable,
                    evidence=[{"doc": "d", "quote": "x"}] if answerable else [],
                    facts=[f"{i} is answered"] if answerable else [], split="train")

    pool = [(item(i), Question(i, i, "other", ()), [], None) for i in shares]
    logged: list[str] = []
    share, figures = choose_share(pool, Judge, {"d": "x"}, logged.append)
    assert 0.11 <= share < 0.15  # a1 and a2 answered, u1 refused
    assert figures[share]["false_abstention"] == 0.0
    assert figures[share]["abstention_recall"] == 1.0
    assert figures[0.0]["false_abstention"] > 0.0  # at 0 every such question is refused
    assert figures[0.16]["abstention_recall"] == 0.0  # too high: the asked one is answered
    # a3 names no uncovered specific: answered once, not again for each share
    assert asked.count("a3") == 1
    assert len(logged) == len(figures) and logged[0].startswith("incidental share 0.0:")


def test_fit_reports_which_vector_tells_off_topic_questions_apart() -> None:
    from eval.dataset import Item
    from eval.fit import separation

    def item(i: str, answerable: bool, tags: list[str]) -> Item:
        return Item(id=i, question=i, kind="other", answerable=answerable,
                    evidence=[{"doc": "d", "quote": "x"}] if answerable else [],
                    facts=["x"] if answerable else [], tags=tags, split="dev")

    items = [item("a1", True, []), item("a2", True, []), item("o1", False, ["off_topic"]),
             item("n1", False, ["not_covered"])]  # not off-topic: not counted
    apart = {"a1": 0.6, "a2": 0.5, "o1": 0.2, "n1": 0.9}
    mixed = {"a1": 0.6, "a2": 0.1, "o1": 0.2, "n1": 0.0}
    assert separation(items, apart, mixed) == [1.0, 0.5]
    assert separation(items[:2], apart) == [None]
