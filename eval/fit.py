"""Fit the answerer's scorer on the train split; choose its thresholds on the dev split.

    python -m eval.fit [--dataset FILE] [--out rag/data/answer_model.json]

1. The corpus is ingested into a temporary store (real model), every train question is
   retrieved as the bot would, and every piece of every candidate block becomes a row of
   `rag.answer.FEATURES`, labelled 1 when it overlaps one of the question's evidence
   quotes. A logistic regression (scikit-learn, standardised features, balanced classes)
   is fitted with its regularisation chosen by cross-validation grouped by guide section,
   so near-duplicate questions never sit on both sides of a fold.
2. On the dev split (never the test split), the thresholds are chosen by grid search over
   the whole answer metric: `keep` (how close to the best piece a supporting piece must
   score) and `lead` (the first line's), then `contend` (how close a block's best piece
   must come to the best piece for the block to be weighed for the first line), then
   `offtopic_z` (how far above the off-topic probes a question must be) and `unknown_z`
   (the same for a question made mostly of words the guides never use).

The test split is not read here.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from eval.answers import score_answers
from eval.dataset import DEFAULT_SET, Item, load_items, spans
from eval.run import _ingest, temporary_store
from rag.answer import (
    FEATURES,
    MODEL_PATH,
    AnswerModel,
    ExtractiveAnswerer,
    Scored,
    default_model,
)
from rag.calibrate import offtopic_stats
from rag.services import Services
from rag.settings import Settings

Z_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
KEEP_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
LEAD_GRID = (0.3, 0.5, 0.7, 0.85, 1.0)
CONTEND_GRID = (0.5, 0.7, 0.85, 1.0)
UNKNOWN_GRID = (1.0, 2.0, 3.0, 4.0)


def _label(s: Scored, ev: list[tuple[str, int, int]]) -> int:
    return int(any(d == s.block.doc_id and a < s.piece.end and s.piece.start < b
                   for d, a, b in ev))


C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def choose_c(per_question: list[tuple[Any, Any, str]], folds: int = 5) -> tuple[float, float]:
    """The regularisation with the best cross-validated top-1: the share of held-out
    questions whose best-scored piece overlaps their evidence (what the answer leads with).
    Folds are grouped by guide section."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.preprocessing import StandardScaler

    groups = [g for _, _, g in per_question]
    k = min(folds, len(set(groups)))
    best = (C_GRID[0], -1.0)
    for C in C_GRID:
        hits = []
        for tr, te in GroupKFold(n_splits=k).split(per_question, groups=groups):
            X = np.vstack([per_question[i][0] for i in tr])
            y = np.concatenate([per_question[i][1] for i in tr])
            sc = StandardScaler().fit(X)
            m = LogisticRegression(C=C, max_iter=5000).fit(sc.transform(X), y)
            for i in te:
                x, t, _ = per_question[i]
                hits.append(t[int(np.argmax(m.decision_function(sc.transform(x))))])
        top1 = float(np.mean(hits))
        if top1 > best[1] + 1e-9:
            best = (C, top1)
    return best


def objective(overall: dict[str, Any], unanswerable_share: float) -> float:
    """What the dev choice maximises: complete answers that lead with the answer, and
    abstention where it belongs. Counted per question: a refused unanswerable question is
    worth one right answer, a false abstention costs three. (The rates alone would not
    say that: abstention recall is a share of the few unanswerable questions, false
    abstention a share of the many answerable ones, so one more refusal would outweigh
    several false ones.) `unanswerable_share`: unanswerable / answerable questions."""
    return ((overall["fact_recall"] or 0) + (overall["fact_recall_any"] or 0)
            + (overall["direct_answer"] or 0)
            + 3 * unanswerable_share * (overall["abstention_recall"] or 0)
            - 9 * (overall["false_abstention"] or 0))


def _with(model: AnswerModel, choice: dict[str, float]) -> AnswerModel:
    return replace(model, offtopic_z=choice["offtopic_z"], unknown_z=choice["unknown_z"],
                   keep=choice["keep"], lead=choice["lead"], contend=choice["contend"])


def _best(choices: list[dict[str, float]], score: Any, middle_of: tuple[str, ...] = ()
          ) -> tuple[dict[str, float], dict[str, Any]]:
    """The choice with the best dev objective, and its dev figures. A level named in
    `middle_of` usually ties over a range (off-topic levels refuse the same dev questions
    over a range): the middle of the tied values is taken, the widest margin on both
    sides, rather than the edge the grid reaches first; one level after the other, the
    rest held. The middle is always one of the tied choices, so it was scored."""
    results = [(*score(c), c) for c in choices]
    top = max(v for v, _, _ in results)
    best = [c for v, _, c in results if v >= top - 1e-9]
    choice = best[0]
    for name in middle_of:
        rest = {k: v for k, v in choice.items() if k != name}
        tied = sorted(c[name] for c in best
                      if {k: x for k, x in c.items() if k != name} == rest)
        choice = {**choice, name: tied[len(tied) // 2]}
    return choice, next(o for _, o, c in results if c == choice)


def fit(items: list[Item], settings: Settings, out: Path, log: Any = print) -> AnswerModel:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train = [it for it in items if it.split == "train"]
    dev = [it for it in items if it.split == "dev"]
    services = Services(settings)  # the configured embedder; the store is eval's own below
    emb = services.embedder
    zero = AnswerModel((0.0,) * len(FEATURES), 0.0, (0.0,) * len(FEATURES),
                       (1.0,) * len(FEATURES))
    with temporary_store() as st:
        _ingest(settings.corpus_dir, st, emb, settings, progress=False)
        texts = {d["doc_id"]: d["text"] for d in st.list_docs(with_text=True)}
        bot = services.over(st).bot
        stats = offtopic_stats(st.get_meta(), settings.model_id())
        base = ExtractiveAnswerer(st, bot.docs(), bot.retriever.vocabulary(), model=zero,
                                  offtopic=stats, embed=emb.embed_query)

        def run(it: Item) -> tuple[Any, Any, Any]:
            q = bot.prepare(it.question, [t.model_dump() for t in it.history])
            hits, qvec = bot.retriever.search_prepared(q.search_text, top_k=bot.answer_k)
            return q, hits, qvec

        per_question: list[tuple[Any, Any, str]] = []  # (X, y, group) of each question
        for it in train:
            if not (it.answerable and it.evidence):
                continue
            q, hits, qvec = run(it)
            ev = spans(it, texts)
            scored = base.score(q, hits, qvec)
            if scored:
                per_question.append((np.array([s.x for s in scored]),
                                     np.array([_label(s, ev) for s in scored]),
                                     it.section or it.id))
        X = np.vstack([x for x, _, _ in per_question])
        y = np.concatenate([t for _, t, _ in per_question])
        C, top1 = choose_c(per_question)
        scaler = StandardScaler().fit(X)
        clf = LogisticRegression(C=C, max_iter=5000).fit(scaler.transform(X), y)
        log(f"train: {len(X)} pieces from {len(per_question)} questions, {int(y.sum())} "
            f"positive; C={C} (cross-validated top-1 {top1:.3f}, folds grouped by section)")
        model = AnswerModel(
            tuple(float(w) for w in clf.coef_[0]), float(clf.intercept_[0]),
            tuple(float(m) for m in scaler.mean_), tuple(float(s) for s in scaler.scale_),
        )

        # dev: the thresholds, on whole answers. In two stages rather than one grid over
        # all four (hundreds of dev runs): keep and lead shape the composed answer and the
        # off-topic levels decide only what is refused, so each pair is chosen with the
        # other pair held (the levels at the shipped model's, then at the chosen ones).
        cached = [(it, *run(it)) for it in dev]
        share = sum(not it.answerable for it in dev) / max(1, sum(it.answerable for it in dev))
        try:
            shipped = default_model()
        except (OSError, ValueError):  # none shipped, or fitted on other features
            shipped = zero

        def score(choice: dict[str, float]) -> tuple[float, dict[str, Any]]:
            ans = ExtractiveAnswerer(st, bot.docs(), bot.retriever.vocabulary(),
                                     model=_with(model, choice), offtopic=stats,
                                     embed=emb.embed_query)
            got = {it.id: ans.answer(q, hits, qvec) for it, q, hits, qvec in cached}
            overall = score_answers(dev, got, texts)["overall"]
            return objective(overall, share), overall

        levels = {"offtopic_z": shipped.offtopic_z, "unknown_z": shipped.unknown_z}
        shape, _ = _best([{**levels, "keep": k, "lead": le, "contend": shipped.contend}
                          for k in KEEP_GRID for le in LEAD_GRID], score)
        # then which blocks contend for the first line, with keep and lead held
        shape, _ = _best([{**shape, "contend": c} for c in CONTEND_GRID], score)
        composed = {"keep": shape["keep"], "lead": shape["lead"], "contend": shape["contend"]}
        choice, overall = _best([{**composed, "offtopic_z": z, "unknown_z": u}
                                 for z in Z_GRID for u in UNKNOWN_GRID if u >= z], score,
                                middle_of=("offtopic_z", "unknown_z"))
        log(f"dev: {choice}: " + ", ".join(
            f"{k} {v}" for k, v in overall.items() if k != "questions"))
    model = replace(_with(model, choice), info={
        "fitted_on": f"{len(per_question)} train questions, {len(X)} pieces",
        "cv_top1": round(top1, 4), "C": C,
        "chosen_on": f"{len(dev)} dev questions", "dev": overall,
        "embed_model": settings.model_id(),
    })
    model.dump(out)
    log(f"wrote {out}")
    return model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DEFAULT_SET)
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    args = ap.parse_args(argv)
    fit(load_items(args.dataset), Settings(), args.out,
        log=lambda s: print(s, file=sys.stderr))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
