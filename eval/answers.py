"""Answer metrics: fact recall, direct answers, citation exactness, cited sentences,
abstention, length."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from eval.dataset import Item
from rag.answer import Answer
from rag.text import answer_sentences, fact_found

_MARKER = re.compile(r"\[(\d+)\]")
def citation_problems(ans: Answer, texts: dict[str, str]) -> list[str]:
    problems = []
    numbers = {c.n for c in ans.citations}
    for c in ans.citations:
        text = texts.get(c.doc_id)
        if text is None:
            problems.append(f"[{c.n}] unknown document {c.doc_id}")
        elif not (0 <= c.start < c.end <= len(text)) or text[c.start : c.end] != c.quote:
            problems.append(f"[{c.n}] quote is not text[{c.start}:{c.end}] of {c.doc_id}")
    for m in _MARKER.finditer(ans.answer):
        if int(m.group(1)) not in numbers:
            problems.append(f"marker [{m.group(1)}] names no citation")
    return problems


def question_record(it: Item, a: Answer, texts: dict[str, str]) -> dict[str, Any]:
    """What `summarise` counts of one answer (a row of `per_question`)."""
    sentences = answer_sentences(a.answer) if not a.abstained else []
    first = a.answer.split("\n", 1)[0]
    return {
        "kind": it.kind,
        "shape": it.shape or "unlabelled",
        "direct": any(fact_found(f, first) for f in it.lead_facts),
        "words": len(_MARKER.sub("", a.answer).split()),
        "answerable": it.answerable,
        "abstained": a.abstained,
        "intent": a.intent,
        "facts_found": [f for f in it.facts if fact_found(f, a.answer)],
        "facts_missing": [f for f in it.facts if not fact_found(f, a.answer)],
        "citation_problems": citation_problems(a, texts),
        "sentences": len(sentences),
        "cited_sentences": sum(bool(_MARKER.search(s)) for s in sentences),
        "citations": len(a.citations),
    }


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The answer metrics over question records (`question_record`)."""
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    with_facts = [r for r in ans if r["facts_found"] or r["facts_missing"]]
    abst = [r for r in rows if r["abstained"]]
    cites = sum(r["citations"] for r in rows)
    sents = sum(r["sentences"] for r in rows)

    def ratio(n: float, d: float) -> float | None:
        return round(n / d, 4) if d else None

    answered = [r for r in with_facts if not r["abstained"]]
    return {
        "questions": len(rows),
        "direct_answer": ratio(sum(r["direct"] for r in answered), len(with_facts)),
        "words_median": statistics.median([r["words"] for r in answered])
        if answered else None,
        "fact_recall": ratio(sum(not r["facts_missing"] and not r["abstained"]
                                 for r in with_facts), len(with_facts)),
        "fact_recall_any": ratio(sum(bool(r["facts_found"]) and not r["abstained"]
                                     for r in with_facts), len(with_facts)),
        "citation_exact": ratio(cites - sum(len(r["citation_problems"]) for r in rows),
                                cites),
        "sentences_cited": ratio(sum(r["cited_sentences"] for r in rows), sents),
        "abstention_precision": ratio(sum(not r["answerable"] for r in abst), len(abst)),
        "abstention_recall": ratio(sum(r["abstained"] for r in una), len(una)),
        "false_abstention": ratio(sum(r["abstained"] for r in ans), len(ans)),
        "intent_accuracy": ratio(sum(r["intent"] == r["kind"] for r in ans), len(ans)),
    }


def score_answers(
    items: Sequence[Item], answers: dict[str, Answer], texts: dict[str, str]
) -> dict[str, Any]:
    per = {it.id: question_record(it, answers[it.id], texts) for it in items}
    by_kind: dict[str, list[str]] = defaultdict(list)
    by_shape: dict[str, list[str]] = defaultdict(list)
    for it in items:
        by_kind[it.kind].append(it.id)
        by_shape[it.shape or "unlabelled"].append(it.id)
    return {
        "overall": summarise([per[it.id] for it in items]),
        "by_kind": {k: summarise([per[i] for i in v]) for k, v in sorted(by_kind.items())},
        "by_shape": {k: summarise([per[i] for i in v]) for k, v in sorted(by_shape.items())},
        "per_question": per,
    }
