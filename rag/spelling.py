"""Query spelling repair against the guides' own vocabulary.

Typos ("salery", "compter sciense degre") defeat both the sparse index (no such term)
and the small embedding model (unknown word pieces). A misspelt word is one that is
neither in the guides nor a whole word the embedding model's tokenizer knows; it is
replaced by the closest frequent guide word within a small Damerau-Levenshtein distance.
rapidfuzz does the matching; choosing what to correct is ours.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from rag.sparse import STOPWORDS

_WORD = re.compile(r"[A-Za-z]+")


class Speller:
    def __init__(self, texts: Iterable[str], known_words: Iterable[str] = ()) -> None:
        counts = Counter(w.lower() for t in texts for w in _WORD.findall(t))
        self.freq = {w: n for w, n in counts.items() if len(w) >= 3}
        self.words = list(self.freq)
        self.known = set(self.freq) | {w.lower() for w in known_words} | STOPWORDS

    def _fix(self, word: str) -> str | None:
        w = word.lower()
        if len(w) < 4 or w in self.known:
            return None
        max_d = 1 if len(w) <= 5 else 2
        found = process.extract(
            w, self.words, scorer=DamerauLevenshtein.distance, score_cutoff=max_d, limit=8
        )
        if not found:
            return None
        best = min(found, key=lambda m: (m[1], -self.freq[m[0]]))
        return str(best[0])

    def correct(self, query: str) -> str:
        """The query with misspelt words replaced; unchanged when nothing needs fixing."""
        return _WORD.sub(lambda m: self._fix(m.group(0)) or m.group(0), query)
