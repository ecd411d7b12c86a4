"""The regression gate's thresholds, in one place (tests/test_eval_gate.py reads them).

Our measured levels on the dev split minus a margin; nothing here is tuned on the test
split. Raise a threshold when a measured level rises for good; never lower one to make a
change pass without saying why. `tests/test_eval_gate.py` also shows that a deliberately
worse answerer (the fitted scorer turned upside down) fails this gate.
"""

from __future__ import annotations

from typing import Any

SPLIT = "dev"
MODE = "hybrid"
# (section, metric, comparison, threshold)
# Dev was refreshed at the twenty-third set (`python -m eval.merge --refresh-dev`): the
# twenty-second set, run once as test at bddfe65 and seen since, became dev (226
# questions) and the old dev (the twenty-first set) joined train. Levels measured on it at
# 88dcd86: hit@5 0.989, MRR@10 0.920, fact recall 0.777 / 0.973, direct answer 0.782,
# abstention recall 0.789 (30 of 38), false abstention 0.021 (4 of 188); the thresholds
# below are those less a margin. (The twenty-first set as dev, at dddd7e2: hit@5 0.969,
# MRR@10 0.891, fact recall 0.725 / 0.949, direct 0.786, abstention recall 0.903, false
# abstention 0.010; the bars were 0.95, 0.86, 0.69, 0.92, 0.74, 0.86 and 0.03.) The
# history in the comments is the older devs'.
THRESHOLDS: tuple[tuple[str, str, str, float], ...] = (
    # 0.90 and 0.78 until the query adapter (rag.adapter): dev measured 0.949 and 0.799
    # before it, 0.986 and 0.927 with it.
    ("retrieval", "hit@5", ">=", 0.95),
    ("retrieval", "mrr@10", ">=", 0.88),  # 0.86 on the 21st set
    # answerable questions answered with every expected fact / with at least one.
    # fact_recall was 0.42 until dev took in the second spent test split (142 questions,
    # run at e723567 and a16f07d; 0.325 there): dev (247) measured 0.387 since, 0.433 /
    # 0.797 at 41fa986 (set-up paragraphs answered by their list, the refitted scorer),
    # 0.447 / 0.806 at 34fc92f (noun-phrase list questions, lists named by their own noun),
    # 0.516 / 0.862 at c84edb0 (support lines by probability, not one per guide first),
    # 0.521 / 0.866 before the query adapter, 0.590 / 0.954 with it (0.48 / 0.83 until then),
    # 0.664 / 0.972 with short list items kept and the refit on 1573 train questions (0.55
    # until then).
    ("answers", "fact_recall", ">=", 0.74),  # 0.69 on the 21st set, 0.68 on the 20th
    ("answers", "fact_recall_any", ">=", 0.94),  # 0.92 on the 21st set
    # the first line carries a key fact
    # dev (247 questions) measured 0.465, 0.479 with the verdict-first rule (89f047e),
    # 0.530 at 41fa986, 0.544 at 34fc92f, 0.604 at c84edb0 (the first line from the block
    # most likely to hold the answer; a named item of a rich list quoted), 0.636 before the
    # query adapter, 0.751 with it (0.56 until then)
    ("answers", "direct_answer", ">=", 0.75),  # 0.74 on the 21st set, 0.72 on the 20th
    ("answers", "citation_exact", ">=", 1.0),
    # 0.90 until the dev split took in the first spent test split (c3898e8), 0.80 until it
    # took in the second (0.688 there): unanswerable questions of fresh blind sets are
    # harder to refuse; dev (247) measured 0.767 since, 0.933 (28 of 30) once a tool
    # weighed against a covered one and questions made mostly of words the guides never
    # use were refused (89f047e, 3e00464); 0.900 (27 of 30) after the refit on 1573 train
    # questions.
    # On the refreshed dev 0.837 (36 of 43): unanswerable questions of a fresh set are
    # harder to refuse than those of a dev chosen on for many rounds.
    # On the twenty-second set as dev 0.789 (30 of 38): 7 of the 8 answered are on topic
    # but not covered (a question in the guides' words about a point they never make),
    # which nothing here yet tells from one they answer.
    ("answers", "abstention_recall", ">=", 0.76),  # 0.86 on the 21st set, 0.84 on the 20th
    ("answers", "false_abstention", "<=", 0.03),  # 0.05 on the 20th set
)


def gate_failures(result: dict[str, Any], split: str = SPLIT, mode: str = MODE) -> list[str]:
    """What falls short of the thresholds in an `eval.run` result; empty when it passes."""
    sec = result["splits"][split]
    failures = []
    for section, metric, op, bound in THRESHOLDS:
        if section == "retrieval":
            value = sec["retrieval"][mode][metric]
            where = f"{split} {mode} {metric}"
        else:
            value = (sec.get("answers") or {}).get("overall", {}).get(metric)
            where = f"{split} answers {metric}"
        ok = value is not None and (value >= bound if op == ">=" else value <= bound)
        if not ok:
            failures.append(f"{where} = {value} (needs {op} {bound})")
    return failures
