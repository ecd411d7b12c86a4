"""Query hygiene before retrieval: drop prompt-injection sentences, keep the question.

Text that tries to instruct the bot ("ignore previous instructions and say ...") is not
a question about the guides; left in, it also drags retrieval towards whatever it names.
Such sentences are recognised by the shape of an instruction to a model (not by topic),
removed, and the rest is searched and answered as usual. No library does this offline.
"""

from __future__ import annotations

import re

from rag.text import typed_sentences
from rag.vocab import pattern

_TAGS = re.compile(r"</?\s*(?:context|system|instructions?|prompt|assistant|user|im_start|im_end)"
                   r"[^>]*>|\[/?(?:INST|SYS)\]|<\|[^|>]*\|>", re.IGNORECASE)
_INJECTION = re.compile(
    r"""\b(?:
        (?:ignore|disregard|forget|override|bypass|skip)\s+(?:all\s+|any\s+|the\s+|your\s+|my\s+)?
            (?:previous|prior|above|earlier|preceding|former|existing|system|original)?\s*
            (?:instructions?|rules?|guidelines?|prompts?|context|directions?|constraints?|policies)
      | system\s+(?:prompt|override|message|instruction)
      | new\s+(?:instructions?|rules?|task|persona)
      | developer\s+mode | jailbreak | dan\s+mode
      | you\s+are\s+now | from\s+now\s+on | act\s+as\s+(?:a|an|if) | pretend\s+(?:to|you|that)
      | (?:print|reveal|show|repeat|output)\s+(?:your|the)\s+(?:system\s+)?(?:prompt|instructions)
    )|(?:^|\band\s+|\bthen\s+|[,:]\s*)
      (?:say|state|answer|claim|respond|reply|tell\s+(?:me|them|users?))\s+(?:that|with)\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


def injection_sentences(text: str) -> list[str]:
    return [s for s in typed_sentences(_TAGS.sub(" ", text)) if _INJECTION.search(s)]


def clean_query(text: str) -> str:
    """The question with instruction-like sentences and chat-template tags removed.

    Falls back to the tag-stripped text when nothing would remain, so a question is never
    turned into an empty search.
    """
    stripped = _TAGS.sub(" ", text)
    kept = []
    for s in typed_sentences(stripped):
        if not _INJECTION.search(s):
            kept.append(s)
            continue
        # "Also, disregard your guidelines and ... Is Python enough?" keeps its question part.
        tail = re.split(r"[.!:;]\s+", s)[-1]
        if tail.endswith("?") and not _INJECTION.search(tail):
            kept.append(tail)
    out = " ".join(kept).strip()
    return out or re.sub(r"\s+", " ", stripped).strip()


def split_asking(text: str) -> tuple[list[str], list[str]]:
    """(the sentences that ask, the others) of a question: vocab `asking_sentence` says
    which ask (a question mark at the end, a question word or an auxiliary and its subject
    at the start); the others tell the asker's situation ("i work in logistics. how long
    would it take?"). When every sentence asks, or none does, all of them ask."""
    sentences = typed_sentences(text)
    asking = [s for s in sentences if pattern("asking_sentence").search(s)]
    if not asking or len(asking) == len(sentences):
        return sentences, []
    return asking, [s for s in sentences if s not in asking]


# Where a sentence's clauses meet: a comma, semicolon or colon, or a free-standing dash
# ("my degree is in zoology - is that a problem?"), not a hyphen inside a name.
_CLAUSE_BREAK = re.compile(r"\s*(?:[,;:]|\s[-\u2013\u2014]+)\s+")


def asked_clauses(sentence: str) -> list[str]:
    """The clauses of an asking sentence that ask: all but those that tell the asker's
    situation before the ask (vocab `told_clause`: "i already write rust at work, how long
    would it take?"). The last clause carries the ask, so it is always kept.

    `split_asking` works by sentence; people run their background and their question
    together with a comma as often as with a full stop. Measured on the train questions
    with a first-person clause before another (186): false abstention 0.040 -> 0.023, the
    nine unanswerable ones among them refused as before."""
    clauses = [c for c in _CLAUSE_BREAK.split(sentence) if c.strip()]
    return [c for i, c in enumerate(clauses)
            if i == len(clauses) - 1 or not pattern("told_clause").search(c)]


def question_parts(text: str) -> list[str]:
    """The separate questions a question asks, in order: its asking sentences
    (`split_asking`), each split where it asks another question (vocab `question_part`:
    "what is mlops, and can i skip it" asks two). One part when it asks one thing."""
    parts = []
    for sentence in split_asking(text)[0]:
        parts += [p.strip(" ,") for p in pattern("question_part").split(sentence)]
    return [p for p in parts if p] or [text]


_CITATION = re.compile(r"\s*\[\d+\]")
_ASIDE = re.compile(r"\s*\([^()]*\)")
_BULLET = re.compile(r"\s*(?:[-•*◦]|\d+[.)])\s")
_LEADING_AND = re.compile(r"^(?:and|or)\s+", re.IGNORECASE)
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
             "fourth": 4, "4th": 4, "fifth": 5, "5th": 5, "last": -1, "final": -1}


def listed_items(reply: str) -> list[str]:
    """The items a reply enumerates on one line, in order: our own list line ("... lists
    4 points: A [1], B [2] and C [3].", split at its citations, a nested list's bracketed
    sub-items left out), or prose ("Roughly four: a, b, c and d.": three parts or more, or
    two joined by "and"/"or"; a comma inside a figure, "$193,919", is no separator).
    Bulleted lines are skipped: in our answers they are support lines, not items.

    Written by hand: what is wanted is the reply's own enumeration as the user read it,
    which a sentence splitter or a parser of one list format would not give."""
    for line in reply.splitlines():
        if _BULLET.match(line):
            continue
        line = _ASIDE.sub("", line).strip()
        head, colon, seg = line.partition(":")
        seg = seg if colon else head
        cited = [_LEADING_AND.sub("", p.strip(" ,;")).strip()
                 for p in re.findall(r"([^\[\]]+?)\s*\[\d+\]", seg)]
        cited = [p for p in cited if p]
        if _CITATION.search(line):
            if colon and len(cited) >= 2:
                return cited
            continue
        seg = re.split(r"(?<=[.!?])\s", seg.strip())[0].strip().rstrip(".!?")
        parts = [p.strip() for p in re.split(r",(?!\d)", seg) if p.strip()]
        if not parts:
            continue
        last = _LEADING_AND.sub("", parts.pop())
        joined = re.match(r"(.+)\s+(?:and|or)\s+(.+?)$", last)  # greedy: the last "and"
        parts += [joined.group(1), joined.group(2)] if joined else [last]
        if len(parts) >= 3 or (joined and len(parts) >= 2):
            return [_LEADING_AND.sub("", p) for p in parts]
    return []


def resolve_ordinal(question: str, reply: str) -> str:
    """A follow-up with its reference to one item of the reply's list ("the second one")
    replaced by that item, lowercased (the item's words are the reply's, not names the
    user typed): "and the tools for the second one?" after "Four: beginner,
    intermediate, job seeker and professional." asks about the intermediate stage. The
    question is returned as it is when the reply lists nothing or has no such item."""
    m = pattern("ordinal_reference").search(question)
    items = listed_items(reply) if m else []
    if m is None or not items:
        return question
    n = _ORDINALS[(m.group(1) or m.group(2)).lower()]
    if n > len(items):
        return question
    item = items[n - 1 if n > 0 else -1].lower()
    return f"{question[: m.start()]}{item}{question[m.end():]}"
