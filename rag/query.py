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


def asking_sentences(text: str) -> list[str]:
    """The sentences of a question that ask (vocab `asking_sentence`: a question mark at
    the end, or a question word at the start); all of them when none does. The others
    tell the asker's situation ("i work in logistics. how long would it take?")."""
    sentences = typed_sentences(text)
    return [s for s in sentences if pattern("asking_sentence").search(s)] or sentences


_CITATION = re.compile(r"\s*\[\d+\]")
_ASIDE = re.compile(r"\s*\([^()]*\)")
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
             "fourth": 4, "4th": 4, "fifth": 5, "5th": 5, "last": -1, "final": -1}


def listed_items(reply: str) -> list[str]:
    """The items a reply enumerates, in order: those of its first line that lists two or
    more ("... lists 4 points: A [1], B [2] and C [3].", "Roughly three: a, b and c."),
    without citation numbers or bracketed asides (a nested list's sub-items).

    Written by hand: what is wanted is the reply's own enumeration as the user read it,
    which a sentence splitter or a parser of one list format would not give."""
    for line in reply.splitlines():
        line = _ASIDE.sub("", _CITATION.sub("", line)).strip().lstrip("-•* ").strip()
        seg = line.split(":", 1)[1] if ":" in line else line
        seg = re.split(r"(?<=[.!?])\s", seg.strip())[0].strip().rstrip(".!?")
        parts = [p.strip() for p in seg.split(",") if p.strip()]
        if not parts:
            continue
        # the last part holds the last two items when there is no comma before "and"
        tail = re.sub(r"^(?:and|or)\s+", "", parts.pop())
        parts += [p for p in re.split(r"\s+(?:and|or)\s+", tail, maxsplit=1) if p]
        if len(parts) >= 2:
            return parts
    return []


def resolve_ordinal(question: str, reply: str) -> str:
    """A follow-up with its reference to one item of the reply's list ("the second one")
    replaced by that item, lowercased (the item's words are the reply's, not names the
    user typed): "ok what skills for the second one?" after "Four: beginner,
    intermediate, job seeker and professional." asks about the intermediate stage. The
    question is returned as it is when the reply lists nothing or has no such item."""
    m = pattern("ordinal_reference").search(question)
    items = listed_items(reply) if m else []
    if m is None or not items:
        return question
    n = _ORDINALS[m.group(1).lower()]
    if n > len(items):
        return question
    item = items[n - 1 if n > 0 else -1].lower()
    return f"{question[: m.start()]}{item}{question[m.end():]}"
