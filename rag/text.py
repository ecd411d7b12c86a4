"""Text rules, in one place: sentence spans, list items, heading lines, fact matching,
figures.

Ingest (blocks), the answerer, the LLM validator, query hygiene, the evaluation and the
Discord formatter all segment and compare text with these functions, so an answer's
sentences are the sentences the metric counts and a figure the answerer quotes is the
figure the metric looks for.

Two sentence rules, for two kinds of text: guide text and answers (`sentence_spans`,
`answer_sentences`) split only where the next sentence visibly starts (a capital, a digit,
a bullet), so "e.g. python" stays one sentence; text people type and chat messages
(`typed_sentences`, `loose_sentence_ends`) split after any terminal punctuation, since
people write "ok. what about..." in lower case.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Written by hand: answers quote exact spans, so segmentation must report offsets into the
# canonical text; the sentence splitters at hand (llama-index's, nltk's) return strings.
_BOUNDARY = re.compile(r"[.!?][\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9$•◦])")

# A list item's marker: a bullet, or a number with "." or ")" ("1. Learn Python").
ITEM_MARK = re.compile(r"(?:[•▪◦‣●*\-]|\d{1,2}[.)])\s+")
# The canonical text's bullets: "•" for an item, "◦" for an item of a list nested in one
# ("• Metrics:" then "◦ Precision", "◦ Recall"). One character each, so that the nesting
# costs no offsets, and the answer can name sub-items under their item.
BULLET, SUB_BULLET = "•", "◦"


def is_sub_item(text: str, start: int) -> bool:
    """Whether the list item whose body starts at text[start] is a nested one."""
    line = text.rfind("\n", 0, start) + 1
    return text[line:start].lstrip().startswith(SUB_BULLET)


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences of text[start:end] as (start, end) offsets into `text`, trimmed."""
    out = []
    pos = start
    for m in _BOUNDARY.finditer(text, start, end):
        out.append((pos, m.start() + 1 + len(m.group(0)[1:].rstrip())))
        pos = m.end()
    out.append((pos, end))
    return [trim(text, a, b) for a, b in out if text[a:b].strip()]


# Citation markers as answers write them: [1], [2, 3]; the leading spaces are kept apart so a
# marker can be dropped without leaving a gap.
CITATION_MARK = re.compile(r"([ \t]*)\[(\d+(?:\s*,\s*\d+)*)\]")
_LEADING_MARKS = re.compile(r"((?:\[\d+\]\s*)+)(.*)", re.DOTALL)


def answer_sentences(text: str) -> list[str]:
    """Sentences of an answer, line by line, without list markers; citation markers
    written after the full stop ("... 2020. [3]") stay with the sentence they cite for."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        line = line[item_marker(line):]
        for a, b in sentence_spans(line, 0, len(line)):
            part = line[a:b]
            m = _LEADING_MARKS.fullmatch(part)
            if m and out:
                out[-1] += " " + m.group(1).strip()
                part = m.group(2)
            if part.strip():
                out.append(part.strip())
    return out


# Loose sentence ends: terminal punctuation (an ellipsis too), then closing quotes, brackets
# or markdown emphasis, then space, whatever follows.
_LOOSE_END = re.compile(r"[.!?…][)\]\"'”’*_]*\s+")


def loose_sentence_ends(text: str) -> list[int]:
    """Offsets just past each loose sentence end of `text` (and the space after it)."""
    return [m.end() for m in _LOOSE_END.finditer(text)]


def typed_sentences(text: str) -> list[str]:
    """Sentences of text a person typed: split at line breaks and loose sentence ends,
    trimmed, blanks dropped."""
    out = []
    for line in text.splitlines():
        pos = 0
        for end in [*loose_sentence_ends(line), len(line)]:
            out.append(line[pos:end].strip())
            pos = end
    return [s for s in out if s]


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


_LINE_ITEM_MARK = re.compile(r"^[ \t]*" + ITEM_MARK.pattern, re.MULTILINE)


def strip_item_markers(text: str) -> str:
    """`text` without the list marker (and indentation) that opens any of its lines."""
    return _LINE_ITEM_MARK.sub("", text)


def long_words(text: str) -> list[str]:
    """Words of more than three letters: the ones that show whether a line is Title Case."""
    return [w for w in re.findall(r"[^\W\d_]+", text) if len(w) > 3]


def title_case(text: str) -> bool:
    """At least half of the long words capitalised (and there is one)."""
    words = long_words(text)
    return bool(words) and sum(w[0].isupper() for w in words) * 2 >= len(words)


def is_heading_line(line: str) -> bool:
    """A short Title Case line without final punctuation: a heading packed into a body."""
    line = line.strip()
    if not line or line.endswith((".", "!", ":", ";", ",", '"', "”")):
        return False
    return len(line.split()) <= 12 and (not long_words(line) or title_case(line))


# ---------------------------------------------------------------- facts and figures


# A thousands separator: "122,000" is 122000 to every comparison here.
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def normalise(text: str) -> str:
    """Lower-case, dashes unified, money and thousands separators dropped: $122,000 = 122000;
    markdown emphasis and citation markers dropped."""
    t = text.lower().replace("–", "-").replace("—", "-").replace("‑", "-")
    t = re.sub(r"\[\d+\]", " ", t).replace("**", "")
    t = _THOUSANDS.sub("", t)
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


# ---------------------------------------------------------------- figures
# How the LLM validator tells whether a figure of an answer is written in the passages it
# cites. `normalise_figures` folds more than `normalise` (every Unicode dash, "6 to 9" as
# 6-9, "20 percent" as 20%), because a model rewrites figures that way; both agree on
# amounts ($122,000 is 122000 to each).

_NUM = r"\d+(?:\.\d+)?k?"
_UNIT = r"years?|yrs?|months?|weeks?|days?|hours?|hrs?|million|billion"
_FIGURE = re.compile(rf"(?<![\w.])({_NUM}(?:-{_NUM})*)(%|\s?-?(?:{_UNIT})\b)?")


def normalise_figures(text: str) -> str:
    """$122,000 -> 122000, "6 to 9" / "6 – 9" -> 6-9, "20 percent" -> 20%, lower case."""
    t = re.sub(r"[\u2010-\u2015\u2212]", "-", text.lower()).replace("$", "")
    t = _THOUSANDS.sub("", t)
    t = re.sub(r"(?<=\d)\s*(?:-|to)\s*(?=\d)", "-", t)
    return re.sub(r"\s*percent\b", "%", t)


def _figure_pattern(nums: str, unit: str) -> re.Pattern[str]:
    # "122k" may stand for "$122,000" (or "$122,331", as term_pattern in rag.answer allows)
    parts = [rf"(?:{n[:-1]}k|{n[:-1]}\d{{3}})" if n.endswith("k") else re.escape(n)
             for n in nums.split("-")]
    unit = unit.strip(" -")
    # With a unit the figure must match as a whole: "12 months" is not "6-12 months".
    lead = r"(?<![\w.-])" if unit or len(parts) > 1 else r"(?<![\w.])"
    tail = "%" if unit == "%" else rf"\s?-?{re.escape(unit.rstrip('s'))}s?\b" if unit else ""
    return re.compile(lead + "-".join(parts) + r"(?!\.?\d)" + tail)


def ungrounded_figures(answer: str, passages: Sequence[str]) -> list[str]:
    """Figures of `answer` that no passage writes (after normalising both sides). Citation
    markers and list numbering are not figures."""
    text = normalise_figures(strip_item_markers(CITATION_MARK.sub("", answer)))
    source = "\n".join(normalise_figures(p) for p in passages)
    return [m.group(0).strip() for m in _FIGURE.finditer(text)
            if not _figure_pattern(m.group(1), m.group(2) or "").search(source)]
