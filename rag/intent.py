"""Question kinds (timeline, degree, salary, tooling, other) and the cues that mark them.

Rules rather than a trained classifier: there is no labelled data to train on beyond our
own evaluation set, and the cues are few and stable. The same cues score answer sentences
("a salary question wants money figures"), so both live here.
"""

from __future__ import annotations

import re
from typing import Literal

Intent = Literal["timeline", "degree", "salary", "tooling", "other"]
INTENTS: tuple[Intent, ...] = ("timeline", "degree", "salary", "tooling", "other")

_I = re.IGNORECASE

# Cues in a question, each with a weight; the kind with the highest total wins.
_QUESTION_CUES: dict[Intent, list[tuple[re.Pattern[str], float]]] = {
    "salary": [
        (re.compile(r"\b(salar(y|ies)|pay(s|ing|check)?|paid|earn(s|ing|ings)?|compensation"
                    r"|income|wages?|money|make\s+(a\s+year|per\s+year|annually))\b", _I), 4.5),
        (re.compile(r"\bhow\s+much\b(?!\s+(of\s+(the|my)\s+)?(time|math|experience|effort))",
                    _I), 1.5),
        (re.compile(r"\b(what|how\s+much)\b[^?.]{0,60}\bmake\b\s*(\?|$|a\s+year|per\b"
                    r"|annually|in\b|at\b|with\b|as\b)", _I), 3.0),
        (re.compile(r"\$\s?\d|\b\d+\s?k\b|\bsix[- ]figure", _I), 1.0),
    ],
    "timeline": [
        (re.compile(r"\bhow\s+(long|many\s+(months|years|weeks|hours))\b", _I), 4.5),
        (re.compile(r"\b(timeline|time\s?frame|duration|how\s+fast|how\s+quickly|how\s+soon"
                    r"|months?|years?|weeks?|hours?\s+(a|per)\s+week|full[- ]time|part[- ]time"
                    r"|take\s+to\s+(become|learn|get))\b", _I), 1.0),
        (re.compile(r"\bwhen\s+(can|will|should)\s+i\b", _I), 1.0),
        (re.compile(r"\bhow\s+much\s+(of\s+(the|my)\s+)?time\b", _I), 2.5),
    ],
    "degree": [
        (re.compile(r"\b(degrees?|ph\.?\s?d|doctorate|master'?s|masters|msc|bachelor'?s?|bsc"
                    r"|diploma|university|college|self[- ]taught|bootcamps?|formal\s+education"
                    r"|qualifications?|credentials?|academic)\b", _I), 2.0),
        (re.compile(r"\b(background|major(ed)?|studied|graduate)\b", _I), 1.0),
        (re.compile(r"\b(cs|computer\s+science)\b", _I), 0.8),
    ],
    "tooling": [
        (re.compile(r"\b(tools?|tooling|librar(y|ies)|frameworks?|stack|languages?|software"
                    r"|platforms?|packages?|technolog(y|ies)|cloud|providers?|feature\s+stores?"
                    r"|experiment\s+tracking|model\s+(registr(y|ies)|serving))\b", _I), 1.6),
        (re.compile(r"\b(learn|use|know|master|pick)\b.{0,30}\b(first|which|what)\b", _I), 0.4),
    ],
}

# Names of common ML tools; they mark both tooling questions and tooling answers.
TOOLS = re.compile(
    r"\b(python|numpy|pandas|scikit[- ]learn|sklearn|pytorch|tensorflow|keras|jax|docker"
    r"|kubernetes|mlflow|sql|git|github(\s+actions)?|aws|gcp|azure(\s+ml)?|sagemaker"
    r"|vertex\s+ai|fastapi|flask|jupyter|matplotlib|seaborn|xgboost|hugging\s?face"
    r"|transformers|weights\s+&\s+biases|airflow|spark|kafka|triton|feast|tecton|linux"
    r"|bash|tfx|torchserve|tensorflow\s+serving|kubeflow|dvc|ci/cd|cicd|r\b|julia|java"
    r"|scala|rust|c\+\+|excel|tableau|langchain|llama[- ]?index|vector\s+databases?)\b",
    _I,
)

# What an answer sentence of each kind contains.
UNIT_CUES: dict[Intent, re.Pattern[str]] = {
    "salary": re.compile(r"\$\s?\d[\d,.]*\s?[km]?\b|\b\d{2,3},\d{3}\b|\b\d+\s?k\b", _I),
    "timeline": re.compile(
        r"\b(\d+(\.\d+)?|a|one|two|three|six|twelve|eighteen)\s*(?:[-–—]|to)?\s*\d*\s*"
        r"(months?|years?|weeks?|days?|hours?)\b|\bmarathon\b|\badd(ing)?\s+(about\s+)?a\s+year\b",
        _I,
    ),
    "degree": re.compile(
        r"\b(degrees?|ph\.?\s?d|master'?s|masters|bachelor'?s?|diploma|self[- ]taught"
        r"|bootcamps?|university|college|computer\s+science|stem\s+field|formal)\b", _I,
    ),
    "tooling": TOOLS,
}


def classify(question: str) -> Intent:
    scores: dict[Intent, float] = {}
    for kind, cues in _QUESTION_CUES.items():
        scores[kind] = sum(w * len(p.findall(question)) for p, w in cues)
    scores["tooling"] += 1.2 * len(TOOLS.findall(question))
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] >= 1.0 else "other"


def unit_matches(kind: Intent, text: str) -> bool:
    cue = UNIT_CUES.get(kind)
    return bool(cue and cue.search(text))
