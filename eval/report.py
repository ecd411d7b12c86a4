"""Run folders (report.md, results.json, chart.png) and the comparison of two runs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

RETRIEVAL_METRICS = ("ndcg@10", "recall@5", "recall@10", "mrr@10", "hit@1", "hit@5")
ANSWER_METRICS = ("fact_recall", "fact_recall_any", "direct_answer", "citation_exact",
                  "sentences_cited", "abstention_precision", "abstention_recall",
                  "false_abstention", "words_median", "intent_accuracy")
ANSWER_LABELS = {
    "fact_recall_any": "fact recall (any)", "fact_recall": "fact recall (all)",
    "direct_answer": "direct answer", "words_median": "median words",
    "citation_exact": "citation exact", "sentences_cited": "sentences cited",
    "abstention_precision": "abstention P", "abstention_recall": "abstention R",
    "false_abstention": "false abstention", "intent_accuracy": "kind accuracy",
}
# lower is better for these
LOWER_IS_BETTER = {"false_abstention"}
RESULTS = "results.json"
REPORT = "report.md"
CHART = "chart.png"


def _f(v: Any, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _rank(r: int | None) -> str:
    return "–" if r is None else str(r)


def main_section(result: dict[str, Any]) -> str:
    """The section a headline or chart shows: "all" when present, else the only one."""
    splits = result["splits"]
    return "all" if "all" in splits else next(iter(splits))


# ---------------------------------------------------------------- writing a run


def run_folder(parent: Path, result: dict[str, Any]) -> Path:
    """A new folder under `parent` named by local time, kind and split."""
    label = "beir-" + str(result["dataset"]) if result["kind"] == "beir" else result["split"]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in label)
    base = parent / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def write_run(result: dict[str, Any], parent: Path) -> Path:
    folder = run_folder(parent, result)
    (folder / RESULTS).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n",
                                  encoding="utf-8")
    write_chart(result, folder / CHART)
    (folder / REPORT).write_text(render_markdown(result), encoding="utf-8")
    return folder


def load_run(path: Path) -> dict[str, Any]:
    """A run's results from its folder or its results.json."""
    file = path / RESULTS if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read run results {file}: {e}") from e
    if not isinstance(data, dict) or not {"splits", "questions"} <= set(data):
        raise ValueError(f"{file} is not a careerbot eval results file")
    return data


def write_chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    section = result["splits"][main_section(result)]
    answers = section.get("answers")
    panels = 2 if answers else 1
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 5), squeeze=False)
    ax = axes[0][0]
    modes = list(section["retrieval"])
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        vals = [section["retrieval"][mode].get(m) or 0.0 for m in RETRIEVAL_METRICS]
        xs = [j + (i - (len(modes) - 1) / 2) * width for j in range(len(RETRIEVAL_METRICS))]
        ax.bar(xs, vals, width, label=mode)
    ax.set_xticks(range(len(RETRIEVAL_METRICS)), RETRIEVAL_METRICS)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Retrieval by mode ({main_section(result)}, "
                 f"{section['answerable']} questions)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(modes), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    if answers:
        ax = axes[0][1]
        kinds = list(answers["by_kind"])
        shown = ("fact_recall_any", "fact_recall", "citation_exact", "sentences_cited",
                 "abstention_recall")
        width = 0.8 / len(shown)
        for i, metric in enumerate(shown):
            vals = [answers["by_kind"][kd].get(metric) for kd in kinds]
            xs = [j + (i - (len(shown) - 1) / 2) * width for j in range(len(kinds))]
            ax.bar(xs, [float("nan") if v is None else v for v in vals], width,
                   label=ANSWER_LABELS[metric])
        ax.set_xticks(range(len(kinds)), kinds)
        ax.set_ylim(0, 1.05)
        ax.set_title("Answers by question kind (missing bar: not applicable)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, frameon=False,
                  fontsize="small")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- Markdown


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(r) + " |" for r in rows), ""]


def render_markdown(result: dict[str, Any]) -> str:
    setup, ingest = result["setup"], result["ingest"]
    name = (f"BEIR set `{result['dataset']}` ({result['split']} qrels)"
            if result["kind"] == "beir" else f"`{result['dataset']}`")
    out = [
        f"# careerbot evaluation: {name}", "",
        f"Run {result['created']} in {result['seconds']} s. Model `{setup['model']}` "
        f"({setup.get('embedder', '')}), chunks "
        f"{setup['chunk_tokens']} tokens (overlap {setup['chunk_overlap']}), prefetch "
        f"{setup['prefetch_k']}, cut-off k={setup['k']}, answerer {setup['answerer']}.",
        f"Corpus ingested into a temporary store: {ingest['documents']} documents, "
        f"{ingest['chunks']} chunks in {ingest['seconds']} s"
        + (f"; {len(ingest['failed'])} file(s) failed" if ingest.get("failed") else "") + ".",
        "",
    ]
    if result["kind"] == "beir":
        out += ["Relevance from the qrels by BEIR document id: retrieved chunks map to their "
                "document, each document counted once at its best rank.", ""]
        if ingest.get("qrels_problems"):
            out += [f"The qrels name {len(ingest['qrels_problems'])} unknown id(s); see "
                    "results.json.", ""]
    else:
        out += ["A retrieved chunk is relevant when it overlaps an evidence quote; questions "
                "the guides cannot answer are left out of the retrieval metrics.", ""]
    out += [f"![metrics]({CHART})", ""]

    for sname, sec in result["splits"].items():
        out += [f"## Split: {sname} ({sec['questions']} questions, {sec['answerable']} with "
                "evidence)", "", "### Retrieval", ""]
        modes = list(sec["retrieval"])
        out += _table(["metric", *modes],
                      [[m, *(_f(sec["retrieval"][md].get(m)) for md in modes)]
                       for m in RETRIEVAL_METRICS])
        ans = sec.get("answers")
        if ans:
            out += ["### Answers", ""]
            rows = [["**all**", str(ans["overall"]["questions"]),
                     *(_f(ans["overall"][m]) for m in ANSWER_METRICS)]]
            rows += [[kind, str(s["questions"]), *(_f(s[m]) for m in ANSWER_METRICS)]
                     for kind, s in ans["by_kind"].items()]
            out += _table(["kind", "n", *(ANSWER_LABELS[m] for m in ANSWER_METRICS)], rows)
            if ans.get("by_shape"):
                rows = [[shape, str(s["questions"]), *(_f(s[m]) for m in ANSWER_METRICS)]
                        for shape, s in ans["by_shape"].items()]
                out += _table(["shape", "n", *(ANSWER_LABELS[m] for m in ANSWER_METRICS)],
                              rows)
    out += _latency_md(result)
    out += _questions_md(result)
    out += _unlabelled_md(result)
    out += [
        "## Metric definitions", "",
        "- Retrieval (ir-measures, mean over questions; a question with nothing relevant "
        "retrieved scores 0): nDCG@10, Recall@5/@10, MRR@10, hit@1/@5 (a relevant item in "
        "the top 1/5).",
        "- fact recall (all): answerable questions with facts, answered (not abstained) with "
        "every expected fact; (any): with at least one. Facts match whole words after "
        "normalising case, dashes, `$` and thousands separators (\"Git\" is not found in "
        "\"GitHub\").",
        "- direct answer: answerable questions whose first line (`direct`) carries one of "
        "the item's key facts (its facts when it names no key facts).",
        "- median words: of the answers given (not abstentions), citation markers aside.",
        "- citation exact: citations whose quote is byte for byte the cited span of the "
        "guide (and every marker names a citation).",
        "- sentences cited: answer sentences carrying a [n] marker.",
        "- abstention P: abstentions that were on unanswerable questions; R: unanswerable "
        "questions abstained on; false abstention: answerable questions abstained on.",
        "",
    ]
    return "\n".join(out)


def _latency_md(result: dict[str, Any]) -> list[str]:
    lat = result["latency"]
    rows = [[f"search ({m})", _f(s["p50_ms"], 1), _f(s["p95_ms"], 1), str(s["n"])]
            for m, s in lat["search"].items() if s]
    for stage, s in (lat.get("answer") or {}).items():
        if s:
            rows.append([f"ask: {stage}", _f(s["p50_ms"], 1), _f(s["p95_ms"], 1), str(s["n"])])
    return ["## Latency (ms)", "", *_table(["stage", "p50", "p95", "n"], rows)]


def _questions_md(result: dict[str, Any], limit: int = 300) -> list[str]:
    qs = result["questions"]
    modes = result["setup"]["modes"]
    k = result["setup"]["k"]
    answers = result["setup"].get("answers")
    rows = []
    for qid, q in qs.items():
        a = q.get("answer")
        missed = any(q["ranks"].get(m) is None for m in modes) if q["answerable"] else False
        wrong = bool(a) and (a["abstained"] != (not q["answerable"]) or bool(a["facts_missing"]))
        if len(qs) > limit and not (missed or wrong):
            continue
        row = [qid, q["split"], q["kind"],
               *(_rank(q["ranks"].get(m)) if q["answerable"] else "n/a" for m in modes)]
        if answers:
            if a is None:
                row += ["", ""]
            else:
                n = len(a["facts_found"]) + len(a["facts_missing"])
                row += [f"{len(a['facts_found'])}/{n}" if n else "–",
                        "yes" if a["abstained"] else "no"]
        rows.append(row)
    if not rows:
        return []
    head = ["question", "split", "kind", *(f"rank {m}" for m in modes)]
    if answers:
        head += ["facts", "abstained"]
    note = (f"Rank of the first relevant item (– : none in the top {k}); only questions "
            "with a miss are listed" if len(qs) > limit else
            f"Rank of the first relevant item (– : none in the top {k})")
    return ["## Per question", "", note + ".", "", *_table(head, rows[:limit])]


def _unlabelled_md(result: dict[str, Any]) -> list[str]:
    items = result.get("unlabelled") or []
    if not items:
        return []
    rows = [[u["id"], u["question"].replace("|", "\\|"), ", ".join(u.get("tags") or [])]
            for u in items]
    return ["## Unlabelled (not scored)", "",
            f"{len(items)} item(s) have neither evidence nor facts yet: fill them in (or set "
            "`answerable` to false) to have them scored.", "",
            *_table(["item", "question", "tags"], rows)]


def unlabelled_lines(result: dict[str, Any]) -> list[str]:
    """The terminal's list of the items a run did not score."""
    items = result.get("unlabelled") or []
    if not items:
        return []
    return [f"unlabelled, not scored ({len(items)}): fill in evidence and facts to score them",
            *(f"  {u['id']}: {u['question']}" for u in items)]


def headline(result: dict[str, Any]) -> list[str]:
    """A few lines per section for the terminal."""
    lines = []
    for sname, sec in result["splits"].items():
        parts = [f"{m} ndcg@10 {_f(r['ndcg@10'])} hit@5 {_f(r['hit@5'])} mrr@10 "
                 f"{_f(r['mrr@10'])}" for m, r in sec["retrieval"].items()]
        lines.append(f"{sname} ({sec['questions']} q): " + "; ".join(parts))
        ans = sec.get("answers")
        if ans:
            o = ans["overall"]
            lines.append(
                f"  answers: fact recall all {_f(o['fact_recall'])} any "
                f"{_f(o['fact_recall_any'])}, direct answer {_f(o.get('direct_answer'))}, "
                f"median words {_f(o.get('words_median'))}, "
                f"citation exact {_f(o['citation_exact'])}, sentences "
                f"cited {_f(o['sentences_cited'])}, abstention P {_f(o['abstention_precision'])}"
                f" R {_f(o['abstention_recall'])}, false abstention "
                f"{_f(o['false_abstention'])}")
    return lines


# ---------------------------------------------------------------- comparing two runs


def _delta(a: Any, b: Any) -> str:
    if a == b:
        return f"{_f(a, 4)}  (=)"
    if a is None or b is None:
        return f"{_f(a, 4)} -> {_f(b, 4)}"
    return f"{a:.4f} -> {b:.4f}  ({b - a:+.4f})"


def _rank_key(r: int | None) -> float:
    return float("inf") if r is None else float(r)


def compare_runs(a: dict[str, Any], b: dict[str, Any], a_name: str = "A", b_name: str = "B"
                 ) -> str:
    out = [f"A: {a_name} ({a.get('created')}, {a.get('kind')} {a.get('dataset')})",
           f"B: {b_name} ({b.get('created')}, {b.get('kind')} {b.get('dataset')})"]
    sa, sb = a.get("setup", {}), b.get("setup", {})
    for key in sorted(set(sa) | set(sb)):
        if sa.get(key) != sb.get(key):
            out.append(f"setup differs: {key}: {sa.get(key)} -> {sb.get(key)}")
    out += ["", "Metric deltas (B - A):"]
    for sname in [s for s in a["splits"] if s in b["splits"]]:
        ra, rb = a["splits"][sname], b["splits"][sname]
        for mode in [m for m in ra["retrieval"] if m in rb["retrieval"]]:
            for m in RETRIEVAL_METRICS:
                out.append(f"  {sname:8} {mode:7} {m:22} "
                           + _delta(ra["retrieval"][mode].get(m), rb["retrieval"][mode].get(m)))
        aa, ab = ra.get("answers"), rb.get("answers")
        if aa and ab:
            for m in ANSWER_METRICS:
                out.append(f"  {sname:8} {'answers':7} {m:22} "
                           + _delta(aa["overall"].get(m), ab["overall"].get(m)))
            for kind in [kd for kd in aa["by_kind"] if kd in ab["by_kind"]]:
                for m in ANSWER_METRICS:
                    va, vb = aa["by_kind"][kind].get(m), ab["by_kind"][kind].get(m)
                    if va != vb:
                        out.append(f"  {sname:8} {kind:7} {m:22} " + _delta(va, vb))
    for sname in sorted(set(a["splits"]) ^ set(b["splits"])):
        out.append(f"  split {sname} only in {'A' if sname in a['splits'] else 'B'}")
    la, lb = a.get("latency", {}).get("search", {}), b.get("latency", {}).get("search", {})
    for mode in [m for m in la if m in lb and la[m] and lb[m]]:
        out.append(f"  latency  search {mode}: p50 {la[mode]['p50_ms']} -> "
                   f"{lb[mode]['p50_ms']} ms, p95 {la[mode]['p95_ms']} -> {lb[mode]['p95_ms']} ms")

    out += ["", "Questions that changed:"]
    qa, qb = a["questions"], b["questions"]
    changed = 0
    for qid in sorted(set(qa) | set(qb)):
        if qid not in qb or qid not in qa:
            out.append(f"  {qid}: only in {'A' if qid in qa else 'B'}")
            changed += 1
            continue
        notes = _question_changes(qa[qid], qb[qid])
        if notes:
            changed += 1
            q = qb[qid]
            out.append(f"  {qid} ({q.get('split')}, {q.get('kind')}): " + "; ".join(notes))
    if not changed:
        out.append("  none")
    else:
        out.append(f"  {changed} question(s) changed")
    return "\n".join(out) + "\n"


def _question_changes(x: dict[str, Any], y: dict[str, Any]) -> list[str]:
    notes = []
    rx, ry = x.get("ranks", {}), y.get("ranks", {})
    for mode in [m for m in rx if m in ry]:
        if rx[mode] != ry[mode]:
            better = _rank_key(ry[mode]) < _rank_key(rx[mode])
            notes.append(f"{mode} rank {_rank(rx[mode])} -> {_rank(ry[mode])} "
                         f"({'better' if better else 'worse'})")
    ax, ay = x.get("answer"), y.get("answer")
    if ax and ay:
        if ax["abstained"] != ay["abstained"]:
            right = ay["abstained"] != y.get("answerable", True)
            notes.append(f"abstained {'no -> yes' if ay['abstained'] else 'yes -> no'} "
                         f"({'right' if right else 'wrong'}: "
                         f"{'answerable' if y.get('answerable', True) else 'unanswerable'})")
        lost = [f for f in ax["facts_found"] if f in ay["facts_missing"]]
        won = [f for f in ax["facts_missing"] if f in ay["facts_found"]]
        if lost:
            notes.append("now missing " + ", ".join(repr(f) for f in lost))
        if won:
            notes.append("now found " + ", ".join(repr(f) for f in won))
        cx, cy = len(ax["citation_problems"]), len(ay["citation_problems"])
        if cx != cy:
            notes.append(f"citation problems {cx} -> {cy}")
    return notes
