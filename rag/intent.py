"""Question kinds (timeline, degree, salary, tooling, other) and the cues that mark them.

Rules rather than a trained classifier: there is no labelled data to train on beyond our
own evaluation set, and the cues are few and stable. The cues themselves are data
(`rag/data/vocab.json`); the same cues mark answer sentences ("a salary question wants
money figures").
"""

from __future__ import annotations

import re
from typing import Literal

from rag.vocab import pattern, vocab

Intent = Literal["timeline", "degree", "salary", "tooling", "other"]
INTENTS: tuple[Intent, ...] = ("timeline", "degree", "salary", "tooling", "other")

_I = re.IGNORECASE

# Cues in a question, each with a weight; the kind with the highest total wins.
_QUESTION_CUES: dict[str, list[tuple[re.Pattern[str], float]]] = {
    kind: [(re.compile(p, _I), float(w)) for p, w in cues]
    for kind, cues in vocab()["question_cues"].items()
}

# Names of common ML tools; they mark both tooling questions and tooling answers.
TOOLS = pattern("tools")

# What an answer sentence of each kind contains.
UNIT_CUES: dict[str, re.Pattern[str]] = {
    **{k: re.compile(p, _I) for k, p in vocab()["answer_cues"].items()}, "tooling": TOOLS,
}


def classify(question: str, floor: float = 1.0) -> Intent:
    """The kind whose cues weigh most in `question`; "other" below `floor`."""
    scores: dict[Intent, float] = {k: 0.0 for k in INTENTS if k != "other"}
    for kind, cues in _QUESTION_CUES.items():
        scores[kind] = sum(w * len(p.findall(question)) for p, w in cues)  # type: ignore[index]
    scores["tooling"] += 1.2 * len(TOOLS.findall(question))
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] >= floor else "other"


def unit_matches(kind: Intent, text: str) -> bool:
    cue = UNIT_CUES.get(kind)
    return bool(cue and cue.search(text))


def marks_a_kind(word: str) -> bool:
    """Whether a word by itself is a cue of a question kind ("pay", "bootcamps", "pytorch"):
    such a word is in the domain, whether or not the guides happen to use it."""
    return classify(word) != "other"
