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
from rapidfuzz.distance import DamerauLevenshtein, Indel

from rag.sparse import STOPWORDS
from rag.vocab import abbreviated_words

_WORD = re.compile(r"[A-Za-z]+")


# An initialism is read as the guides' own (`Vocabulary.spells_out`) when they write its
# phrase, a run of words none of which is a stop word, at least this often: a phrase
# written once is as likely a passing turn of words as a term.
PHRASE_USES = 2
_PHRASE_WORDS = (2, 3)  # "computer vision", "natural language processing"
_CLAUSE = re.compile(r"[^.,;:!?()\[\]\n\"“”]+")
_CAMEL = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]*)+\b")  # "TensorFlow", "GitHub"


def initialisms(texts: Iterable[str]) -> frozenset[str]:
    """The initialisms of the guides' terms, lower-case: the initials of each phrase they
    write at least `PHRASE_USES` times ("computer vision" -> "cv") and the capitals of
    each CamelCase name ("TensorFlow" -> "tf").

    Askers shorten what they type; the guides mostly write terms out. A table of chat
    abbreviations (vocab `abbreviations`) covers the common ones for search; this says,
    for any guides, which short forms may stand for something they write, so that a
    question is not refused as being about a name they never use. It is not used to
    expand a query: "cv" may be computer vision or a résumé, and only a reader can tell.

    Written by hand: counting runs of words is a few lines, and no library at hand (the
    tokenizers, rapidfuzz) gives the initials of a text's terms. Built once per
    vocabulary, with the speller, when the indexed guides change.
    """
    counts: Counter[tuple[str, ...]] = Counter()
    camel: set[str] = set()
    for text in texts:
        camel.update("".join(c for c in w if c.isupper()).lower() for w in _CAMEL.findall(text))
        for clause in _CLAUSE.findall(text):
            words = [w.lower() for w in _WORD.findall(clause)]
            for n in _PHRASE_WORDS:
                for i in range(len(words) - n + 1):
                    run = tuple(words[i : i + n])
                    if not any(w in STOPWORDS for w in run):
                        counts[run] += 1
    phrases = {"".join(w[0] for w in run) for run, n in counts.items() if n >= PHRASE_USES}
    return frozenset(phrases | camel)


# The shortest capitalised word repaired (`Vocabulary.correct`): shorter ones are one
# slip from too many other words.
NAME_SLIP = 5

_TOKEN = re.compile(r"[a-z0-9]+(?:[+#]+)?")
_DOTTED = re.compile(r"\b((?:[A-Za-z]\.){2,})")


def corpus_tokens(text: str) -> set[str]:
    """Lower-case word and number tokens; dotted acronyms ("U.S.") become one ("us")."""
    text = _DOTTED.sub(lambda m: m.group(1).replace(".", "") + " ", text)
    return set(_TOKEN.findall(text.lower()))


class Vocabulary:
    """The guides' words: repairs typos in queries and tells which terms the guides use."""

    def __init__(self, texts: Iterable[str], known_words: Iterable[str] = ()) -> None:
        texts = list(texts)
        counts = Counter(w.lower() for t in texts for w in _WORD.findall(t))
        self.freq = {w: n for w, n in counts.items() if len(w) >= 3}
        self.words = list(self.freq)
        # A chat abbreviation is a word, not a slip of one: "calc" is calculus (its long
        # form is added for the search, `expand_abbreviations`), not "call".
        self.known = (set(self.freq) | {w.lower() for w in known_words} | STOPWORDS
                      | abbreviated_words())
        self.tokens: set[str] = set().union(*(corpus_tokens(t) for t in texts))
        self._initialisms = initialisms(texts)

    def count(self, word: str) -> int:
        """How often the guides use `word` (0 for words shorter than three letters)."""
        return self.freq.get(word.lower(), 0)

    def covers(self, term: str) -> bool:
        """Whether the guides use `term` (a word, number or acronym) anywhere."""
        m = re.fullmatch(r"\$?(\d+)k", term.strip().lower())
        if m:  # "202k" stands for a figure like 202,331
            term = m.group(1)
        toks = corpus_tokens(term)
        return bool(toks) and toks <= self.tokens

    def spells_out(self, term: str) -> bool:
        """Whether `term`, of two to four letters typed all in capitals or all in small
        letters, may be the initialism of a term of the guides (`initialisms`). Not a
        capitalised word ("Le", "Ed"): that is a name, however short."""
        return (term.isalpha() and 2 <= len(term) <= 4 and (term.isupper() or term.islower())
                and term.lower() in self._initialisms)

    def _fix(self, word: str, max_d: int | None = None, keep_ends: bool = False
             ) -> str | None:
        """The guide word `word` is a slip of, or None. `keep_ends`: only words with the
        same first and last letters, or the same letters (two neighbours swapped)."""
        w = word.lower()
        if len(w) < 4 or w in self.known:
            return None
        if max_d is None:
            max_d = 1 if len(w) <= 5 else 2
        found = process.extract(
            w, self.words, scorer=DamerauLevenshtein.distance, score_cutoff=max_d, limit=8
        )
        if keep_ends:
            found = [m for m in found if (m[0][0], m[0][-1]) == (w[0], w[-1])
                     or sorted(m[0]) == sorted(w)]
        if not found:
            return None
        # Fewest edits first; among those the closest by shared letters (a missing letter,
        # "wich" -> "which", is a likelier slip than a wrong one, "wich" -> "with"); then
        # the most frequent word.
        best = min(found, key=lambda m: (m[1], -Indel.normalized_similarity(w, m[0]),
                                         -self.freq[m[0]]))
        return str(best[0])

    def correct(self, query: str) -> str:
        """The query with misspelt words replaced; unchanged when nothing needs fixing.

        Capitalised words after the first are names ("Rust", "Berlin"), and a name the
        guides lack must stay visible to abstention. So such a word is repaired only when
        it is at least `NAME_SLIP` letters long, unknown to the guides and the tokenizer,
        and one slip (a letter added, dropped, changed, or two swapped) from a guide word
        with the same first and last letters, or with the same letters: a word that close
        to one the guides use is likelier that word mistyped than a name nobody has
        written down. The ends must hold, unless two letters were swapped, because names
        are often a word with its start or ending changed ("Looker", "Stata", "Flink" are
        one slip from "looked", "state", "link"), while typing slips fall mostly inside a
        word or swap two letters ("Pytorhc"). It keeps its capital.
        """

        def fix(m: re.Match[str]) -> str:
            word = m.group(0)
            before = query[: m.start()].rstrip()
            if word[0].isupper() and before and before[-1] not in ".?!":
                if len(word) < NAME_SLIP:
                    return word
                fixed = self._fix(word, max_d=1, keep_ends=True)
                return fixed[0].upper() + fixed[1:] if fixed else word
            return self._fix(word) or word

        return _WORD.sub(fix, query)
