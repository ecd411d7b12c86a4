"""Query hygiene before retrieval: drop prompt-injection sentences, keep the question.

Text that tries to instruct the bot ("ignore previous instructions and say ...") is not
a question about the guides; left in, it also drags retrieval towards whatever it names.
Such sentences are recognised by the shape of an instruction to a model (not by topic),
removed, and the rest is searched and answered as usual. No library does this offline.
"""

from __future__ import annotations

import re

from rag.text import typed_sentences

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
