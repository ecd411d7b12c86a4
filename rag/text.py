"""Text rules, in one place: sentence spans, list items, heading lines, fact matching.

Ingest (blocks), the answerer and the evaluation all segment and compare text with these
functions, so an answer's sentences are the sentences the metric counts and a figure the
answerer quotes is the figure the metric looks for.
"""

from __future__ import annotations

import re

# Written by hand: answers quote exact spans, so segmentation must report offsets into the
# canonical text; the sentence splitters at hand (llama-index's, nltk's) return strings.
_BOUNDARY = re.compile(r"[.!?][\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9$•])")

# A list item's marker: a bullet, or a number with "." or ")" ("1. Learn Python").
ITEM_MARK = re.compile(r"(?:[•▪◦‣●*\-]|\d{1,2}[.)])\s+")


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences of text[start:end] as (start, end) offsets into `text`, trimmed."""
    out = []
    pos = start
    for m in _BOUNDARY.finditer(text, start, end):
        out.append((pos, m.start() + 1 + len(m.group(0)[1:].rstrip())))
        pos = m.end()
    out.append((pos, end))
    return [trim(text, a, b) for a, b in out if text[a:b].strip()]


def trim(text: str, a: int, b: int) -> tuple[int, int]:
    """(a, b) without surrounding white space."""
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def item_marker(line: str) -> int:
    """Length of the list marker that opens `line` (0 when it is not a list item)."""
    m = ITEM_MARK.match(line)
    return m.end() if m else 0


def is_heading_line(line: str) -> bool:
    """A short Title Case line without final punctuation: a heading packed into a body."""
    line = line.strip()
    if not line or line.endswith((".", "!", ":", ";", ",", '"', "”")):
        return False
    words = [w for w in re.findall(r"[^\W\d_]+", line) if len(w) > 3]
    return len(line.split()) <= 12 and (not words or sum(w[0].isupper() for w in words) * 2
                                         >= len(words))


# ---------------------------------------------------------------- facts and figures


def normalise(text: str) -> str:
    """Lower-case, dashes unified, money and thousands separators dropped: $122,000 = 122000;
    markdown emphasis and citation markers dropped."""
    t = text.lower().replace("–", "-").replace("—", "-").replace("‑", "-")
    t = re.sub(r"\[\d+\]", " ", t).replace("**", "")
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)
    t = t.replace("$", "").replace("~", "").replace("’", "'").replace("‘", "'")
    t = t.replace("“", '"').replace("”", '"')
    t = re.sub(r"\s*-\s*", "-", t)
    return re.sub(r"\s+", " ", t).strip()


def fact_pattern(fact: str) -> re.Pattern[str]:
    """A fact as a whole-word pattern over normalised text: "Git" does not match "GitHub",
    "SQL" does not match "NoSQL"."""
    return re.compile(rf"(?<![\w]){re.escape(normalise(fact))}(?![\w])")


def fact_found(fact: str, text: str) -> bool:
    return bool(fact_pattern(fact).search(normalise(text)))
