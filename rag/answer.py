"""Grounded, extractive answers: the guides' own sentences, each with an exact citation.

No generator model can run here, so the default answerer composes: it scores every answer
unit (sentence or short list) of the retrieved chunks against the question (embedding
similarity from vectors stored at ingest, lexical overlap, and the question kind's cue,
e.g. money figures for salary questions), drops near-duplicates, keeps one figure per
guide when guides disagree, and cites each unit with its exact span.

It abstains when the question is off-topic (nothing in the guides is close) or names a
specific the guides never cover (a city, company, year, tool...), offering the closest
thing the guides do say, labelled as such.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from rag import sparse
from rag.intent import TOOLS, Intent, unit_matches
from rag.store import Hit, Store
from rag.units import sentence_spans, unit_id


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    title: str
    url: str | None
    section: str
    quote: str
    start: int
    end: int
    score: float


@dataclass
class Answer:
    answer: str
    citations: list[Citation]
    intent: Intent
    abstained: bool
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Checks that did not pass but did not block the answer (e.g. an LLM sentence without a
    # citation), and "fallback" notes; empty for a clean answer.
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Question:
    """A question made ready for retrieval and answering."""

    text: str  # as asked, less injected instructions, typos repaired
    search_text: str  # with the conversation context a follow-up needs
    intent: Intent
    specifics: tuple[str, ...]  # names, places, numbers the answer must be about


@dataclass(frozen=True)
class Unit:
    uid: str
    hit: Hit
    rank: int
    start: int
    end: int
    text: str
    group: int = -1  # start offset of the list whose item this unit opens, else -1


class Answerer(Protocol):
    def answer(
        self, q: Question, hits: Sequence[Hit], query_vector: Sequence[float] | None
    ) -> Answer: ...


@dataclass(frozen=True)
class DocMeta:
    title: str
    url: str | None
    source: str  # short attribution: the publisher, else the title


class Coverage(Protocol):
    def covers(self, term: str) -> bool: ...


_QWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#'’.-]*")
_GENERIC = {"ml", "ai", "mle", "mles", "machine", "learning", "engineer", "engineers",
            "engineering", "ok", "okay", "hi", "hello", "thanks", "please"}
_PREP = re.compile(r"\b(?:in|at|near|around|within|outside)\s+(?:the\s+)?([a-z][\w'-]+)",
                   re.IGNORECASE)
# Acronyms users type for things the guides spell out.
ALIASES = {"cs": "computer science", "ds": "data science", "swe": "software engineer",
           "nyc": "new york", "sf": "san francisco", "usa": "united states",
           "us": "united states", "ms": "master's", "msc": "master's",
           "bs": "bachelor's", "bsc": "bachelor's", "mlops": "mlops", "llm": "llms"}


# Questions that ask for a list: "what are the biggest mistakes", "which stages", "steps".
ENUMERATION = re.compile(
    r"\b(what|which)\s+(are|were)\b|\b(list|steps|stages|rounds|phases|mistakes|pitfalls"
    r"|types|kinds|ways|examples|pillars|tips)\b", re.IGNORECASE,
)


def specific_terms(text: str) -> tuple[str, ...]:
    """Names, places and numbers in a question: what a correct answer must be about.

    Capitalised words past the first, all-caps acronyms, numbers and the object of a
    place-like preposition ("in seattle"); generic domain words are left out.
    """
    out: list[str] = []
    for m in _QWORD.finditer(text):
        w = m.group(0).strip(".'’-")
        low = w.lower()
        if not w or low in _GENERIC or low in sparse.STOPWORDS or re.match(r"i['’]", low):
            continue
        before = text[: m.start()].rstrip()
        sentence_start = not before or before[-1] in ".?!:"
        if any(c.isdigit() for c in w) or (w[0].isupper() and not sentence_start) or (
            len(w) >= 2 and w.isupper()
        ):
            out.append(w)
    for m in _PREP.finditer(text):
        w = m.group(1)
        if w.lower() not in sparse.STOPWORDS and w.lower() not in _GENERIC:
            out.append(w)
    seen: dict[str, str] = {}
    for w in out:
        seen.setdefault(w.lower(), w)
    return tuple(seen.values())


def _norm(term: str) -> str:
    return re.sub(r"[’']s$", "", term.lower())


def term_pattern(term: str) -> re.Pattern[str]:
    """How a question's specific term shows up in a guide's text."""
    t = _norm(term)
    m = re.fullmatch(r"\$?(\d+)k", t)
    if m:  # "$202k" is written "$202,331"
        return re.compile(rf"\b{m.group(1)},\d{{3}}\b")
    forms = {t, ALIASES.get(t, t)}
    alt = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alt})s?\b", re.IGNORECASE)


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return float(sum(x * y for x, y in zip(a, b, strict=False)))


class ExtractiveAnswerer:
    """Composes answers from the stored answer units of the retrieved chunks."""

    # Weights of the unit score. Chosen on the dev split of our question set.
    W_DENSE, W_LEX, W_CUE, W_SPEC, W_RANK = 1.0, 0.2, 0.15, 0.1, 0.1
    OFF_TOPIC = 0.32  # best unit similarity below this: the guides are not about it
    KEEP = 0.72  # units scoring below KEEP x best are not worth adding
    MAX_UNITS = 4
    MAX_LIST = 6
    PER_DOC = 2

    def __init__(self, store: Store, docs: dict[str, DocMeta], coverage: Coverage) -> None:
        self.store = store
        self.docs = docs
        self.coverage = coverage
        self._texts: dict[str, str] = {}
        self.source_terms = {
            w.lower() for m in docs.values() for w in re.findall(r"[\w.]+", m.source)
        }

    # ------------------------------------------------------------------ units
    def _units(self, hits: Sequence[Hit]) -> list[Unit]:
        units: dict[str, Unit] = {}
        for rank, h in enumerate(hits):
            for a, b, g in h.units:
                if not (h.start <= a < b <= h.end):
                    continue
                text = h.text[a - h.start : b - h.start]
                uid = unit_id(h.doc_id, a, b, text)
                if uid not in units:
                    units[uid] = Unit(uid, h, rank, a, b, text, g)
        return list(units.values())

    def _score(
        self, q: Question, units: list[Unit], qvec: Sequence[float] | None
    ) -> dict[str, tuple[float, float]]:
        """uid -> (score, dense similarity)."""
        vecs = self.store.unit_vectors([u.uid for u in units]) if qvec is not None else {}
        qterms = set(sparse.terms(q.search_text))
        # In a follow-up, the words of the new turn say what is asked ("full-time").
        focus = set(sparse.terms(q.text)) if q.text != q.search_text else set()
        qterms |= focus
        uterms = {u.uid: set(sparse.terms(u.text)) for u in units}
        # The heading a unit sits under often carries the words of the question it answers
        # ("Do I Really Need a Masters or PhD?" over "For a pure engineering role, usually not.")
        sterms = {u.uid: set(sparse.terms(u.hit.section.split(" > ")[-1])) for u in units}
        n = len(units) or 1
        idf = {t: math.log(1 + n / (1 + sum(t in ts for ts in uterms.values()))) for t in qterms}
        total_idf = sum(idf.values()) or 1.0
        specifics = [term_pattern(t) for t in q.specifics]
        out = {}
        for u in units:
            dense = _dot(qvec, vecs[u.uid]) if qvec is not None and u.uid in vecs else 0.0
            lex = (sum(idf[t] for t in qterms & uterms[u.uid])
                   + 0.5 * sum(idf[t] for t in (qterms & sterms[u.uid]) - uterms[u.uid]))
            lex /= total_idf
            if focus:
                lex = 0.5 * lex + 0.5 * sum(idf[t] for t in focus & uterms[u.uid]) / (
                    sum(idf[t] for t in focus) or 1.0)
            cue = self._new_cue(q, u.text)
            spec = (sum(bool(p.search(u.text)) for p in specifics) / len(specifics)
                    if specifics else 0.0)
            score = (self.W_DENSE * dense + self.W_LEX * lex + self.W_CUE * cue
                     + self.W_SPEC * spec + self.W_RANK / (1 + u.rank))
            if u.text.rstrip().endswith(("?", ":")):
                score -= 0.25  # a question or a lead-in, not an answer
            if len(u.text.split()) > 70:
                score -= 0.1
            out[u.uid] = (score, dense)
        return out

    @staticmethod
    def _new_cue(q: Question, text: str) -> float:
        """How much `text` carries what the kind asks for beyond what the question says: a
        salary answer has a figure; a tooling answer names tools the question did not."""
        if q.intent == "other" or not unit_matches(q.intent, text):
            return 0.0
        if q.intent != "tooling":
            return 1.0
        asked = {m.group(0).lower() for m in TOOLS.finditer(q.search_text)}
        new = {m.group(0).lower() for m in TOOLS.finditer(text)} - asked
        return min(1.0, 0.25 + 0.25 * len(new)) if new else 0.0

    # ------------------------------------------------------------------ selection
    def _select(self, q: Question, units: list[Unit], scores: dict[str, tuple[float, float]],
                limit: int) -> list[Unit]:
        ranked = sorted(units, key=lambda u: -scores[u.uid][0])
        if q.specifics and q.intent == "salary":
            # "And in Austin?": answer with Austin's figure, not every figure around it.
            pats = [term_pattern(t) for t in q.specifics
                    if not t.isdigit() and _norm(t) not in self.source_terms]
            named = [u for u in ranked
                     if any(p.search(f"{u.hit.section}\n{u.text}") for p in pats)]
            ranked = named or ranked
        if not ranked:
            return []
        best = scores[ranked[0].uid][0]
        floor = best * self.KEEP
        chosen: list[Unit] = []
        per_doc: dict[str, int] = {}

        def take(u: Unit) -> None:
            chosen.append(u)
            per_doc[u.hit.doc_id] = per_doc.get(u.hit.doc_id, 0) + 1

        def redundant(u: Unit) -> bool:
            words = set(sparse.terms(u.text))
            for c in chosen:
                if c.hit.doc_id == u.hit.doc_id and (c.start < u.end and u.start < c.end):
                    return True
                other = set(sparse.terms(c.text))
                if words and len(words & other) / len(words | other) > 0.6:
                    return True
            return False

        if q.intent in ("timeline", "salary"):
            # Guides disagree on figures: each guide's best figure, with its own citation.
            for u in ranked:
                if (len(chosen) < limit and u.hit.doc_id not in per_doc
                        and scores[u.uid][0] >= floor and unit_matches(q.intent, u.text)
                        and not redundant(u)):
                    take(u)
        figures = q.intent in ("timeline", "salary") and bool(chosen)
        for u in ranked:
            if len(chosen) >= limit or scores[u.uid][0] < floor:
                break
            if figures and not unit_matches(q.intent, u.text):
                continue  # a figure question is answered with figures
            if per_doc.get(u.hit.doc_id, 0) < self.PER_DOC and not redundant(u) and u not in chosen:
                take(u)
        return chosen

    # ------------------------------------------------------------------ composing
    def doc_text(self, doc_id: str) -> str:
        if doc_id not in self._texts:
            doc = self.store.get_doc(doc_id)
            self._texts[doc_id] = str(doc.get("text", "")) if doc else ""
        return self._texts[doc_id]

    def _render(self, chosen: list[Unit], scores: dict[str, tuple[float, float]]
                ) -> tuple[list[str], list[Citation]]:
        """One line per unit; every sentence in it carries its own exact citation."""
        # Readable order: guides by their best unit, then each guide's units in text order.
        doc_order = list(dict.fromkeys(u.hit.doc_id for u in chosen))
        ordered = sorted(chosen, key=lambda u: (doc_order.index(u.hit.doc_id), u.start))
        several = len(doc_order) > 1
        lines: list[str] = []
        cites: list[Citation] = []
        for u in ordered:
            meta = self.docs.get(u.hit.doc_id, DocMeta(u.hit.title, None, u.hit.title))
            text = self.doc_text(u.hit.doc_id)
            if text[u.start : u.end] != u.text:
                text = " " * u.hit.start + u.hit.text  # store changed underneath: use the hit
            spans = [(u.start, u.end)] if "\n" in u.text else sentence_spans(text, u.start, u.end)
            score = round(scores.get(u.uid, (0.0, 0.0))[0], 4)
            parts = []
            for a, b in spans:
                quote = text[a:b]
                n = len(cites) + 1
                cites.append(Citation(n, u.hit.doc_id, meta.title, meta.url, u.hit.section,
                                      quote, a, b, score))
                parts.append(f"{' '.join(quote.split())} [{n}]")
            line = " ".join(parts)
            if u.text.lstrip().startswith("•") and u.hit.section:
                line = f"{u.hit.section.split(' > ')[-1]}: {line}"
            lines.append(f"- {meta.source}: {line}" if several else line)
        return lines, cites

    def _uncovered(self, q: Question, units: list[Unit]) -> list[str]:
        """Specifics of the question the guides do not speak to.

        A term the guides never use is uncovered. A name they do use (capitalised, like
        "Google") must also appear in a retrieved passage that answers the question's kind:
        the guides name Google, but give no Google salary.
        """
        missing = []
        for term in q.specifics:
            t = _norm(term)
            if t in self.source_terms:
                continue  # "according to BlogAcademy" names a source, not a topic
            t = ALIASES.get(t, t)
            if not self.coverage.covers(t):
                missing.append(term)
                continue
            if t.isdigit() or term.islower():
                continue  # ordinary words and numbers the guides use are context
            pattern = term_pattern(term)
            relevant = [u for u in units if pattern.search(f"{u.hit.section}\n{u.hit.text}")]
            if q.intent in ("salary", "timeline", "degree"):
                relevant = [u for u in relevant if unit_matches(q.intent, u.text)]
            if not relevant:
                missing.append(term)
        return missing

    def answer(
        self, q: Question, hits: Sequence[Hit], query_vector: Sequence[float] | None
    ) -> Answer:
        units = self._units(hits)
        scores = self._score(q, units, query_vector)
        best_dense = max((d for _, d in scores.values()), default=0.0)
        if not units or (query_vector is not None and best_dense < self.OFF_TOPIC):
            return Answer(
                "The guides don't cover this. I can only answer questions about becoming a "
                "machine learning engineer (how long it takes, degrees, salaries, tools) "
                "from the indexed guides.",
                [], q.intent, abstained=True,
            )
        missing = self._uncovered(q, units)
        if missing:
            names = ", ".join(missing)
            closest = self._select(q, units, scores, limit=2)
            lines, cites = self._render(closest, scores)
            head = (f"The guides don't say anything about {names} for this question, so I "
                    f"can't answer it as asked.")
            if lines:
                head += " The closest they come (not about " + names + "):"
            return Answer("\n".join([head, *lines]), cites, q.intent, abstained=True)
        chosen = self._select(q, units, scores, limit=self.MAX_UNITS)
        if ENUMERATION.search(q.text):
            chosen = self._expand_list(chosen, units) or chosen
        lines, cites = self._render(chosen, scores)
        return Answer("\n".join(lines), cites, q.intent, abstained=False)

    def _expand_list(self, chosen: list[Unit], units: list[Unit]) -> list[Unit] | None:
        """For "what are the mistakes / stages / steps" questions: when a top unit is part of
        (or introduces) a list of items, answer with the first sentence of every item, read
        from the guide itself (the list may run past the retrieved chunk)."""
        for top in chosen[:3]:
            group = top.group
            if group < 0 and top.text.rstrip().endswith(":"):
                nxt = [u for u in units if u.hit is top.hit and u.start > top.end and u.group >= 0]
                group = min(nxt, key=lambda u: u.start).group if nxt else -1
            if group < 0:
                continue
            text = self.doc_text(top.hit.doc_id)
            items = [
                Unit(unit_id(top.hit.doc_id, a, b, text[a:b]), top.hit, top.rank, a, b,
                     text[a:b], group)
                for a, b in list_items(text, group)[: self.MAX_LIST]
            ]
            if len(items) >= 2:
                intro = [top] if top.group < 0 else []
                return intro + items
        return None


def list_items(text: str, start: int) -> list[tuple[int, int]]:
    """First sentence of each item of the list starting at `start` in `text`."""
    out = []
    pos = text.rfind("\n", 0, start) + 1
    while pos > 0:  # the chunk may have begun mid-list: rewind to the first item
        prev = text.rfind("\n", 0, pos - 1) + 1
        line = text[prev : pos - 1]
        if not line.strip() or not _ITEM_MARK.match(line.lstrip()):
            break
        pos = prev
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end]
        m = _ITEM_MARK.match(line.lstrip())
        if not line.strip() or not m:
            break
        a = pos + (len(line) - len(line.lstrip())) + m.end()
        spans = sentence_spans(text, a, end)
        if spans:
            out.append(spans[0])
        pos = end + 1
    return out


_ITEM_MARK = re.compile(r"(?:•|\d{1,2}[.)])\s*")


