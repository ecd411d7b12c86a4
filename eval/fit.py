"""Fit the answerer's scorer on the train split; choose its thresholds on dev (and train).

    python -m eval.fit [--dataset FILE] [--out rag/data/answer_model.json]

1. The corpus is ingested into a temporary store (real model), every train question is
   retrieved as the bot would, and every piece of every candidate block becomes a row of
   `rag.answer.FEATURES`, labelled 1 when it overlaps one of the question's evidence
   quotes. A logistic regression (scikit-learn, standardised features, balanced classes)
   is fitted with its regularisation chosen by cross-validation grouped by guide section,
   so near-duplicate questions never sit on both sides of a fold.
2. On the dev split (never the test split), the thresholds are chosen by grid search over
   the whole answer metric (`objective`): `keep` (how close to the best piece a
   supporting piece must score) and `lead` (the first line's), then `contend` (how close
   a block's best piece must come to the best piece for the block to be weighed for the
   first line).
3. On train and dev together, `offtopic_z` (how far above the off-topic probes a
   question must be) and `unknown_z` (the same for a question made mostly of words the
   guides never use), for the search's vector and (`own_z`, `own_unknown_z`) for the
   model's own: see `choose_levels`.
4. On train, `incidental_share` (how small a share of a question's words an uncovered
   specific must be to be said in passing): see `choose_share`.

The test split is not read here.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from eval.answers import question_record, score_answers, summarise
from eval.dataset import DEFAULT_SET, Item, in_evidence, load_items, spans
from eval.fit_adapter import fit_matrix, question_rows
from eval.run import _ingest, temporary_store
from rag.adapter import AdaptedEmbedder, QueryAdapter, query_id
from rag.answer import (
    FEATURES,
    MODEL_PATH,
    AnswerModel,
    ExtractiveAnswerer,
    Scored,
    below_a_floor,
    default_model,
    off_topic,
    offtopic_floors,
)
from rag.calibrate import offtopic_stats
from rag.chat import CareerBot
from rag.embed import Embedder
from rag.services import Services
from rag.settings import Settings
from rag.store import Store

Z_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
KEEP_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
LEAD_GRID = (0.3, 0.5, 0.7, 0.85, 1.0)
CONTEND_GRID = (0.5, 0.7, 0.85, 1.0)
UNKNOWN_GRID = (1.0, 2.0, 3.0, 4.0)
SHARE_GRID = (0.0, 0.06, 0.08, 0.10, 0.12, 0.14, 0.16)


def _label(s: Scored, ev: list[tuple[str, int, int]]) -> int:
    return int(in_evidence(s.block.doc_id, s.piece.start, s.piece.end, ev))


# An unfitted scorer: every piece scores the same (what the features are computed with).
UNFITTED = AnswerModel((0.0,) * len(FEATURES), 0.0, (0.0,) * len(FEATURES),
                       (1.0,) * len(FEATURES))


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


# The bars for abstention: a user can bear at most a tenth of unanswerable
# questions answered anyway, and at most one in fifty answerable questions refused.
ABSTENTION_RECALL_BAR = 0.90
FALSE_ABSTENTION_BAR = 0.02


def objective(overall: dict[str, Any]) -> float:
    """What the choices maximise (on dev; the off-topic levels on train and dev): complete
    answers that lead with the answer, and abstention where it belongs.

    The two abstention failures are weighed by the bars the issue sets for them: a tenth
    of unanswerable questions answered and a fiftieth of answerable ones refused are
    equally bad, so a point of false abstention costs (1 - 0.90) / 0.02 = 5 points of
    abstention recall; the recall counts as much as each answer rate. (Counting questions
    instead, a refusal worth one right answer and a false abstention three, asked three
    refusals for each false abstention; with about ten answerable train and dev questions
    to each unanswerable one, the bars ask about one for two. The bars set the exchange
    rate here, not limits: a choice past one bar still wins if it buys enough of the
    other.)"""
    return ((overall["fact_recall"] or 0) + (overall["fact_recall_any"] or 0)
            + (overall["direct_answer"] or 0)
            + (overall["abstention_recall"] or 0)
            - (1 - ABSTENTION_RECALL_BAR) / FALSE_ABSTENTION_BAR
            * (overall["false_abstention"] or 0))


LEVELS = ("offtopic_z", "unknown_z", "own_z", "own_unknown_z")
Choice = dict[str, float | None]  # thresholds by name; None: an off-topic level turned off


def _with(model: AnswerModel, choice: Choice) -> AnswerModel:
    def level(name: str) -> float | None:
        return choice.get(name, getattr(model, name))

    def share(name: str) -> float:
        value = choice[name]
        assert value is not None, name
        return value

    return replace(model, offtopic_z=level("offtopic_z"), unknown_z=level("unknown_z"),
                   own_z=level("own_z"), own_unknown_z=level("own_unknown_z"),
                   keep=share("keep"), lead=share("lead"), contend=share("contend"))


def _lowest_first(value: float | None) -> float:
    return -math.inf if value is None else value  # a level turned off refuses the fewest


def _best(choices: list[Choice], score: Any, middle_of: tuple[str, ...] = ()
          ) -> tuple[Choice, dict[str, Any]]:
    """The choice with the best objective, and its figures. A level named in
    `middle_of` usually ties over a range (off-topic levels refuse the same questions
    over a range): the middle of the tied values is taken, the widest margin on both
    sides, rather than the edge the grid reaches first; one level after the other, the
    rest held. The middle is always one of the tied choices, so it was scored."""
    results = [(*score(c), c) for c in choices]
    top = max(v for v, _, _ in results)
    best = [c for v, _, c in results if v >= top - 1e-9]
    choice = best[0]
    for name in middle_of:
        rest = {k: v for k, v in choice.items() if k != name}
        tied = sorted((c[name] for c in best
                       if {k: x for k, x in c.items() if k != name} == rest),
                      key=_lowest_first)
        choice = {**choice, name: tied[len(tied) // 2]}
    return choice, next(o for _, o, c in results if c == choice)


ADAPTER_FOLDS = 5


def cross_fitted(train: list[Item], emb: Embedder, store: Store, settings: Settings,
                 log: Any = print) -> dict[str, CareerBot]:
    """For each train question, a bot whose query adapter was fitted without it.

    The shipped adapter was fitted on these very questions, and ranks their evidence first
    for all of them (train top-1 1.0, dev 0.86); rows built with it would teach the answer
    model to trust the dense similarity far more than it deserves on a new question (a
    first try: cross-validated top-1 0.98, C at the grid's smallest). So, as in stacking,
    each train question's rows come from an adapter fitted with the same pull on the other
    folds (grouped by section, as the answer model's folds are). Empty without an adapter."""
    from sklearn.model_selection import GroupKFold

    if not isinstance(emb, AdaptedEmbedder):
        return {}
    inner, pull = emb.inner, float(emb.adapter.info.get("pull", 0.01))
    plain = Services(settings, embedder=inner, store=store).bot
    rows = {r["id"]: r for r in question_rows(train, store, plain)}
    labelled = [it for it in train if it.answerable and it.evidence]
    groups = [it.section or it.id for it in labelled]
    bots: dict[str, CareerBot] = {}
    folds = GroupKFold(n_splits=min(ADAPTER_FOLDS, len(set(groups))))
    for k, (rest, held) in enumerate(folds.split(labelled, groups=groups)):
        fitted_on = [rows[labelled[i].id] for i in rest if labelled[i].id in rows]
        W = fit_matrix(fitted_on, pull)
        fold = AdaptedEmbedder(inner, QueryAdapter(W.numpy(), emb.adapter.model))
        by = Services(settings, embedder=fold, store=store).bot
        bots.update({labelled[i].id: by for i in held})
        log(f"adapter fold {k + 1}: fitted on {len(fitted_on)} questions, "
            f"held out {len(held)}")
    return bots


LOGGED = 12  # the best choices the fit logs, and the best with each vector alone


def level_pairs() -> list[tuple[float | None, float | None]]:
    """The (level, unknown level) pairs tried for one vector: off (None, None); only
    questions made mostly of unknown words refused (None, u); or a level with an unknown
    level at least as high."""
    return [(None, None), *((None, u) for u in UNKNOWN_GRID),
            *((z, u) for z in Z_GRID for u in UNKNOWN_GRID if u >= z)]


def choose_levels(model: AnswerModel, composed: Choice, pool: list[Any],
                  answerer: ExtractiveAnswerer, stats: Any, closest: dict[str, float],
                  own: dict[str, float], texts: dict[str, str], log: Any = None
                  ) -> tuple[Choice, Any]:
    """The off-topic levels with the best objective over `pool` ((item, question, hits,
    vectors) of dev and train), and a scorer of any choice on any of its items.

    Both vectors' levels are chosen together, each from `level_pairs` (off included), so
    the fit can keep either alone, both, or neither. The levels only decide which
    questions are refused, so each question is answered once with no level (`answerer`
    has no off-topic stats) and each choice replaces the answers its levels refuse
    (`closest` and `own`: each question's best similarity with the search's vector and
    with the model's own; `stats`: the calibration), as `ExtractiveAnswerer.answer` would.
    Chosen on train and dev together: dev alone holds 16 off-topic questions and 8
    answerable ones made mostly of words the guides never use, so one question decided the
    level (a first try chose the grid's lowest for one answerable question just below the
    next step, and a puppy question was answered with the guide's "teaching a dog new
    tricks"). The train questions' search vectors come from adapters fitted without them
    (`cross_fitted`), so their similarity is not inflated by the fit; they are read
    against the shipped adapter's calibration (`stats`), which the fold adapters, fitted
    on four fifths of the same questions, are close to but were not measured with. The
    model's own vector needs no such care: no fit touched it.
    A follow-up's own vector (`ExtractiveAnswerer.score`) still comes from the shipped
    adapter here and in `_fit_weights`: about a tenth of train questions are follow-ups."""
    items = [it for it, *_ in pool]
    # Each question's record answered and refused, scored once: a choice only picks one
    # of the two (scoring every answer again for each of the 841 choices took minutes).
    free = {it.id: question_record(it, answerer.answer(q, hits, vectors), texts)
            for it, q, hits, vectors in pool}
    refusal = {it.id: question_record(it, off_topic(q.intent), texts) for it, q, *_ in pool}
    # whether each question is mostly unknown words does not depend on the levels
    unknown = {it.id: answerer.mostly_unknown(q) for it, q, *_ in pool}
    named = {it.id for it, q, *_ in pool if q.named}  # never refused (`is_off_topic`)

    def score(choice: Choice, among: list[Item] | None = None
              ) -> tuple[float, dict[str, Any]]:
        judged = _with(model, choice)
        rows = []
        for it in among or items:
            refused = it.id not in named and below_a_floor(
                offtopic_floors(judged, stats, unknown[it.id]), (closest[it.id], own[it.id]))
            rows.append(refusal[it.id] if refused else free[it.id])
        overall = summarise(rows)
        return objective(overall), overall

    choices: list[Choice] = [
        {**composed, "offtopic_z": z, "unknown_z": u, "own_z": oz, "own_unknown_z": ou}
        for z, u in level_pairs() for oz, ou in level_pairs()]
    figures = {tuple(c[k] for k in LEVELS): score(c) for c in choices}  # scored once
    choice, _ = _best(choices, lambda c: figures[tuple(c[k] for k in LEVELS)],
                      middle_of=LEVELS)
    if log is not None:  # the trade the best levels make, so a reader can see the choice
        def line(key: tuple[float | None, ...], value: float, o: dict[str, Any]) -> str:
            return (f"levels {dict(zip(LEVELS, key, strict=True))}: objective {value:.4f}, "
                    f"abstention recall {o['abstention_recall']}, false abstention "
                    f"{o['false_abstention']}, facts {o['fact_recall']}")

        ranked = sorted(figures.items(), key=lambda kv: -kv[1][0])
        for key, (value, o) in ranked[:LOGGED]:
            log(line(key, value, o))
        # a vector alone: the other's pair of levels off (LEVELS: the search's, the own's)
        for name, other in (("the search's vector alone", slice(2, 4)),
                            ("the model's own vector alone", slice(0, 2))):
            alone = [kv for kv in ranked if kv[0][other] == (None, None)]
            if alone:
                log(f"best with {name}: " + line(alone[0][0], *alone[0][1]))
    return choice, score


def choose_share(pool: list[Any], answerer_for: Callable[[float], Any], texts: dict[str, str],
                 log: Any = None) -> tuple[float, dict[float, dict[str, Any]]]:
    """`AnswerModel.incidental_share`: the share in `SHARE_GRID` with the best objective
    over `pool` ((item, question, hits, vectors) of train); `answerer_for(share)` is the
    answerer as chosen otherwise, with that share.

    Only questions naming a specific the guides do not speak to can change (those with
    `uncovered_specifics` at share 0, which refuses them all: so only a refused question
    is looked at), so each share above 0 re-answers only those; the rest keep their one
    answer. Chosen on train: dev holds too few such
    questions said in passing to tell shares apart (none at or below 0.10 when the share
    was first chosen). Ties take the middle of the tied values, as the levels do."""
    strict = answerer_for(0.0)
    rows = {it.id: question_record(it, strict.answer(q, hits, vectors), texts)
            for it, q, hits, vectors in pool}
    named = [(it, q, hits, vectors) for it, q, hits, vectors in pool
             if rows[it.id]["abstained"] and strict.uncovered_specifics(q, hits, vectors)]
    figures: dict[float, dict[str, Any]] = {}
    for share in SHARE_GRID:
        ans = answerer_for(share) if share else None  # share 0: `strict`, answered above
        changed = {it.id: question_record(it, ans.answer(q, hits, vectors), texts)
                   for it, q, hits, vectors in named} if ans is not None else {}
        figures[share] = summarise([changed.get(i, r) for i, r in rows.items()])
    choice, _ = _best([{"incidental_share": s} for s in SHARE_GRID],
                      lambda c: (objective(figures[c["incidental_share"]]),
                                 figures[c["incidental_share"]]),
                      middle_of=("incidental_share",))
    chosen = choice["incidental_share"]
    assert chosen is not None
    if log is not None:
        for s, o in figures.items():
            log(f"incidental share {s}: objective {objective(o):.4f}, abstention recall "
                f"{o['abstention_recall']}, false abstention {o['false_abstention']} "
                f"({len(named)} train questions name an uncovered specific)")
    return chosen, figures


def separation(items: list[Item], *closest: dict[str, float]) -> list[float | None]:
    """For each similarity (by question id: the search's vector, and with a query adapter
    the model's own), the chance that an answerable question comes closer to the guides
    than an off-topic one (the area under the ROC curve; None without both kinds). It
    says which vector tells them apart, whatever level is then chosen."""
    from sklearn.metrics import roc_auc_score

    kept = [it for it in items if it.answerable or "off_topic" in it.tags]
    labels = [int(it.answerable) for it in kept]
    if len(set(labels)) < 2:
        return [None for _ in closest]
    return [round(float(roc_auc_score(labels, [c[it.id] for it in kept])), 4)
            for c in closest]


def fit(items: list[Item], settings: Settings, out: Path, log: Any = print,
        levels_only: bool = False) -> AnswerModel:
    """`levels_only`: keep the shipped model's weights and composition thresholds and
    choose the off-topic levels again (after the adapter or the set changed them)."""
    train = [it for it in items if it.split == "train"]
    dev = [it for it in items if it.split == "dev"]
    services = Services(settings)  # the configured embedder; the store is eval's own below
    emb = services.embedder
    try:
        shipped = default_model()
    except (OSError, ValueError):  # none shipped, or fitted on other features
        if levels_only:
            raise
        shipped = UNFITTED
    with temporary_store() as st:
        _ingest(settings.corpus_dir, st, emb, settings, progress=False)
        texts = {d["doc_id"]: d["text"] for d in st.list_docs(with_text=True)}
        bot = services.over(st).bot
        stats = offtopic_stats(st.get_meta(), query_id(emb, settings.model_id()))

        def run(it: Item, by: CareerBot = bot) -> tuple[Any, Any, Any]:
            return by.retrieve(it.question, [t.model_dump() for t in it.history])

        bots = cross_fitted(train, emb, st, settings, log)
        trained = [(it, *run(it, bots.get(it.id, bot))) for it in train]
        cached = [(it, *run(it)) for it in dev]
        if levels_only:
            model, fitted = shipped, {k: v for k, v in shipped.info.items()
                                      if k in ("fitted_on", "cv_top1", "C")}
        else:
            model, fitted = _fit_weights(trained, st, texts, bot, emb, log)
        composed: Choice = {"keep": shipped.keep, "lead": shipped.lead,
                            "contend": shipped.contend}
        if not levels_only:
            composed = _compose(model, shipped, cached, dev, st, texts, bot, stats, emb)
        answerer = ExtractiveAnswerer(st, bot.docs(), bot.retriever.vocabulary(),
                                      model=_with(model, composed),
                                      offtopic=None, embed=emb.embed_query)
        pool = cached + trained
        closest = {it.id: st.nearest_unit(vectors.search) for it, _, _, vectors in pool}
        own = {it.id: st.nearest_unit(vectors.own) for it, _, _, vectors in pool}
        choice, score = choose_levels(model, composed, pool, answerer, stats, closest, own,
                                      texts, log)
        # Which vector tells off-topic questions apart: the search's, and (with a query
        # adapter, which pulls every question toward the guides) the model's own.
        apart = separation([it for it, *_ in pool], closest,
                           *([own] if isinstance(emb, AdaptedEmbedder) else []))
        log(f"answerable above off-topic (AUC; the search's vector, the model's own): "
            f"{apart}")
        overall = score(choice, dev)[1]
        log(f"dev: {choice}: " + ", ".join(
            f"{k} {v}" for k, v in overall.items() if k != "questions"))
        chosen = _with(model, choice)
        share, _ = choose_share(trained, lambda s: ExtractiveAnswerer(
            st, bot.docs(), bot.retriever.vocabulary(),
            model=replace(chosen, incidental_share=s), offtopic=stats,
            embed=emb.embed_query), texts, log)
    model = replace(chosen, incidental_share=share, info={
        **fitted, "chosen_on": f"{len(dev)} dev questions (the off-topic levels: and "
        f"{len(train)} train questions)", "dev": overall,
        "embed_model": query_id(emb, settings.model_id()), "offtopic_separation": apart,
    })
    model.dump(out)
    log(f"wrote {out}")
    return model


def _fit_weights(trained: list[Any], st: Store, texts: dict[str, str], bot: CareerBot,
                 emb: Embedder, log: Any) -> tuple[AnswerModel, dict[str, Any]]:
    """The logistic regression over the train questions' pieces."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    base = ExtractiveAnswerer(st, bot.docs(), bot.retriever.vocabulary(), model=UNFITTED,
                              offtopic=None, embed=emb.embed_query)
    per_question: list[tuple[Any, Any, str]] = []  # (X, y, group) of each question
    for it, q, hits, vectors in trained:
        if not (it.answerable and it.evidence):
            continue
        ev = spans(it, texts)
        scored = base.score(q, hits, vectors)
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
    return model, {"fitted_on": f"{len(per_question)} train questions, {len(X)} pieces",
                   "cv_top1": round(top1, 4), "C": C}


def _compose(model: AnswerModel, shipped: AnswerModel, cached: list[Any], dev: list[Item],
             st: Store, texts: dict[str, str], bot: CareerBot, stats: Any, emb: Embedder
             ) -> Choice:
    """The composition thresholds, on dev's whole answers: keep and lead with the shipped
    model's off-topic levels held, then which blocks contend for the first line. (The
    levels are chosen after, by `choose_levels`: they decide only what is refused.)"""

    def score(choice: Choice) -> tuple[float, dict[str, Any]]:
        ans = ExtractiveAnswerer(st, bot.docs(), bot.retriever.vocabulary(),
                                 model=_with(model, choice), offtopic=stats,
                                 embed=emb.embed_query)
        got = {it.id: ans.answer(q, hits, vectors) for it, q, hits, vectors in cached}
        overall = score_answers(dev, got, texts)["overall"]
        return objective(overall), overall

    levels = {name: getattr(shipped, name) for name in LEVELS}
    shape, _ = _best([{**levels, "keep": k, "lead": le, "contend": shipped.contend}
                      for k in KEEP_GRID for le in LEAD_GRID], score)
    shape, _ = _best([{**shape, "contend": c} for c in CONTEND_GRID], score)
    return {"keep": shape["keep"], "lead": shape["lead"], "contend": shape["contend"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DEFAULT_SET)
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--levels-only", action="store_true",
                    help="keep the shipped weights and composition; choose the off-topic "
                    "levels again")
    args = ap.parse_args(argv)
    fit(load_items(args.dataset), Settings(), args.out,
        log=lambda s: print(s, file=sys.stderr), levels_only=args.levels_only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
