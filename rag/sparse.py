"""BM25-style sparse vectors for Qdrant's sparse index (IDF applied by Qdrant's modifier).

Written by hand because the usual library for this (fastembed's Bm25) downloads its
stop-word and stemmer files from a model hub at run time, which these machines cannot
reach. What is here is only the term-frequency half of BM25: Qdrant's `Modifier.IDF`
computes the inverse document frequency over the live collection, so adding or removing
a guide never requires re-encoding the other guides.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from functools import lru_cache

import snowballstemmer

# BM25 constants; AVG_LEN is fixed (as fastembed does) rather than measured on the corpus
# so a document's vector does not depend on the other documents.
K1 = 1.2
B = 0.75
AVG_LEN = 120.0

_WORD = re.compile(r"[a-z0-9]+(?:[.+#][a-z0-9]+)*[+#]*", re.IGNORECASE)

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    s t don ll ve re d m isn aren wasn weren hasn haven hadn doesn didn won wouldn shouldn
    couldn mustn let us also get got i'm""".split()
)

_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_stemmer.stemWord(word))


def words(text: str) -> list[tuple[str, str]]:
    """(term, word) for each word of `text` that counts: the word lower-cased as written and
    its term (stemmed; tokens like `c++` and `3.11` kept whole)."""
    out = []
    for m in _WORD.finditer(text.lower()):
        w = m.group(0).strip(".")
        if not w or w in STOPWORDS:
            continue
        out.append((_stem(w) if w.isalpha() else w, w))
    return out


def terms(text: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed terms; keeps tokens like `c++` and `3.11`."""
    return [t for t, _ in words(text)]


def matched_words(query: str, text: str) -> list[str]:
    """The words of `query` (as written, each once) whose terms occur in `text`: what the
    sparse retriever matched on."""
    found = set(terms(text))
    return list(dict.fromkeys(w for t, w in words(query) if t in found))


@lru_cache(maxsize=65536)
def term_index(term: str) -> int:
    # A stable 31-bit id per term (Python's hash() is salted per process).
    digest = hashlib.blake2b(term.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def doc_vector(text: str) -> tuple[list[int], list[float]]:
    tf = Counter(terms(text))
    length = sum(tf.values()) or 1
    norm = K1 * (1 - B + B * length / AVG_LEN)
    merged: dict[int, float] = {}
    for t, n in tf.items():
        idx = term_index(t)
        merged[idx] = merged.get(idx, 0.0) + n * (K1 + 1) / (n + norm)
    idxs = sorted(merged)
    return idxs, [merged[i] for i in idxs]


def query_vector(text: str) -> tuple[list[int], list[float]]:
    idxs = sorted({term_index(t) for t in terms(text)})
    return idxs, [1.0] * len(idxs)
