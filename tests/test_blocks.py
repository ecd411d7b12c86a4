"""Answer blocks, text rules and the answer's shape: pure functions and a tiny guide.

The questions here are written for these tests; none is in the evaluation set.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from ingest.parse import parse_bytes
from ingest.pipeline import ingest_corpus
from rag.answer import (
    _QUALIFIERS,
    FEATURES,
    Answer,
    ExtractiveAnswerer,
    Question,
    Scored,
    _bare_item,
    _named_list,
    _number,
    _other_case,
    _plain_verdict,
    _read_on,
    answer_shape,
    candidate_blocks,
    default_model,
    qualifiers,
    question_shape,
    specific_terms,
)
from rag.blocks import Block, document_blocks, piece_id, table_columns
from rag.calibrate import OfftopicStats, offtopic_stats
from rag.chat import CareerBot
from rag.embed import QueryVectors
from rag.query import question_parts
from rag.spelling import Vocabulary
from rag.store import Hit
from rag.store_qdrant import QdrantStore
from rag.text import fact_found, normalise, sentence_spans
from rag.vocab import expand_abbreviations
from tests.conftest import CORPUS, FakeEmbedder

GUIDE = """# Becoming a Widget Engineer

## Do I Need a Widget Degree?

Usually not. Most teams care about what you have built. A degree still helps at large firms.

## Tools of the Trade

Here are the tools you will use every day:

• Hammerlane: the build system everyone starts with.
• Fluxgrid: for deploying widgets.
• Quillset: tracks experiments.

## The Core Topics

1. Gearwork

Gearwork is about how parts move. You will use it daily.

2. Springcraft

Springcraft covers tension and release.

## Pay

Level Typical pay
Junior $61,000 a year
Senior $98,500 a year
"""


def _blocks(text: str = GUIDE) -> tuple[str, list[Block]]:
    doc = parse_bytes(text.encode(), "guide.md")
    return doc.text, document_blocks("guide", doc.text, doc.sections, doc.title)


def _scored(talk: str, prob: Callable[[str], float]) -> list[Scored]:
    """The pieces of a tiny guide, each with the probability `prob` gives its text."""
    _, blocks = _blocks(talk)
    return [Scored(b, p, i, [0.0] * len(FEATURES), 0.0, prob(b.quote(p.start, p.end)))
            for b in blocks for i, p in enumerate(b.pieces)]


def _compose(question: str, scored: list[Scored], intent: str = "other") -> Answer:
    answerer = ExtractiveAnswerer(None, {}, None)  # type: ignore[arg-type]
    return answerer.compose(Question(question, question, intent, ()), scored)  # type: ignore[arg-type]


def test_every_piece_is_an_exact_span() -> None:
    for path in sorted(CORPUS.glob("0*.txt")):
        doc = parse_bytes(path.read_bytes(), path.name)
        blocks = document_blocks(path.stem, doc.text, doc.sections, doc.title)
        assert blocks
        for b in blocks:
            assert doc.text[b.start : b.end] == b.text
            for p in b.pieces:
                assert b.start <= p.start < p.end <= b.end
                assert b.quote(p.start, p.end) == doc.text[p.start : p.end]
                assert doc.text[p.start : p.end].strip() == doc.text[p.start : p.end]
                if p.label:
                    assert p.start <= p.label[0] < p.label[1] <= p.end
            if b.heading_start >= 0:
                assert doc.text[b.heading_start : b.heading_end] == b.heading


def test_lead_in_and_its_list_are_one_block() -> None:
    text, blocks = _blocks()
    tools = next(b for b in blocks if b.heading == "Tools of the Trade")
    assert tools.kind == "list" and tools.first
    assert [p.role for p in tools.pieces][0] == "lead"
    labels = [text[p.label[0] : p.label[1]] for p in tools.items if p.label]
    assert labels == ["Hammerlane", "Fluxgrid", "Quillset"]


def test_numbered_headings_with_paragraphs_are_items_with_detail() -> None:
    text, blocks = _blocks()
    topics = next(b for b in blocks if b.heading == "The Core Topics")
    assert topics.kind == "list"
    assert [text[p.start : p.end] for p in topics.items] == ["Gearwork", "Springcraft"]
    # the paragraph under "1. Gearwork" belongs to that item: never cut to its number
    details = [p for p in topics.pieces if p.role == "detail"]
    assert {p.item for p in details} == {0, 1}


def test_faq_heading_and_table_rows() -> None:
    text, blocks = _blocks()
    faq = next(b for b in blocks if b.heading.endswith("?"))
    assert text[faq.pieces[0].start : faq.pieces[0].end] == "Usually not."
    pay = next(b for b in blocks if b.heading == "Pay")
    assert pay.kind == "table"
    assert any("$61,000" in pay.quote(p.start, p.end) for p in pay.pieces)


def test_long_paragraph_is_read_in_windows() -> None:
    body = " ".join(f"Sentence number {i} says something." for i in range(15))
    text, blocks = _blocks(f"# T\n\n## Talk\n\n{body}\n")
    assert len(blocks) == 3 and all(len(b.pieces) <= 6 for b in blocks)
    assert blocks[0].first and not blocks[1].first


def test_an_faq_question_paragraph_and_its_answer_are_one_block() -> None:
    faq = ("# T\n\n## Questions\n\nQ1: Do widgets rust?\n\nRarely. Keep them dry.\n\n"
           "Q2: Which oils work?\n\n• Lanolin\n• Graphite\n")
    text, blocks = _blocks(faq)
    assert [[p.role for p in b.pieces] for b in blocks] == [
        ["question", "text", "text"], ["question", "item", "item"]]
    assert blocks[0].text == "Q1: Do widgets rust?\n\nRarely. Keep them dry."
    assert blocks[1].kind == "list"


def test_a_window_of_a_long_paragraph_starts_at_a_question() -> None:
    talk = ("A says hello. B says hi. A talks on. B agrees. So, do widgets rust? "
            "Rarely, says B. Keep them dry. A nods.")
    text, blocks = _blocks(f"# T\n\n## Talk\n\n{talk}\n")
    assert [b.text.split(". ")[0] for b in blocks] == ["A says hello", "So, do widgets rust?"
                                                         " Rarely, says B"]


def test_payload_round_trip() -> None:
    _, blocks = _blocks()
    for b in blocks:
        assert Block.from_payload(b.doc_id, b.to_payload()) == b


def test_sentence_spans_are_trimmed_and_exact() -> None:
    text = "  One thing. Two things! Three?  Four"
    spans = sentence_spans(text, 0, len(text))
    assert [text[a:b] for a, b in spans] == ["One thing.", "Two things!", "Three?", "Four"]


@pytest.mark.parametrize(
    ("fact", "text", "found"),
    [
        ("Git", "Learn GitHub Actions", False),
        ("Git", "Learn Git and GitHub", True),
        ("SQL", "NoSQL stores", False),
        ("SQL", "SQL, then NoSQL", True),
        ("$122,000", "climb past 122000 a year", True),
        ("12 to 18 months", "within 12 to 18 months [3].", True),
        ("1-3 years", "from 1–3 years", True),
        ("C++", "Rust or C++ for speed", True),
    ],
)
def test_facts_match_whole_words(fact: str, text: str, found: bool) -> None:
    assert fact_found(fact, text) is found
    assert normalise("$96,000 — **Entry** [2]") == "96000-entry"


@pytest.mark.parametrize(
    ("question", "shape"),
    [
        ("should a beginner pick widgets or gadgets first?", "comparison"),
        ("widgets vs gadgets", "comparison"),
        ("is a widget degree required", "yesno"),
        ("can i skip the math", "yesno"),
        # a clause before the question does not hide it
        ("im new to all this, can i skip the math", "yesno"),
        ("so basically, is a widget degree required", "yesno"),
        ("which tools are used for deploying widgets", "list"),
        ("what are the stages of the hiring loop", "list"),
        ("how much does a senior widget engineer make", "figure"),
        ("how long would the whole thing take part time", "figure"),
        ("tell me about gearwork", "other"),
        ("list the tools for widgets", "list"),
        # typed as a noun phrase, the kind of thing wanted says it all
        ("gear skills for a widget job?", "list"),
        ("top widget libs to pick up", "list"),
        ("which widget stuff should i get comfortable with", "list"),
        # ... but not when two things are weighed up, or the question opens with a verb
        ("gear skills or spring skills?", "comparison"),
        ("need gear skills for this?", "yesno"),
        ("are gear skills needed", "yesno"),
        # "name" as a noun asks for no list
        ("gearwork is about gears. the name says so", "other"),
        # a statement with a tag asks for a verdict; a question word's question does not
        ("gearwork is about gears, right? the name says so", "yesno"),
        ("which oil is right?", "other"),
        ("how much oil is right?", "figure"),
        # "or is that ..." asks the same yes/no question again, other ways
        ("do i need gearwork or is that just a spring thing", "yesno"),
        # ... but an "or" opening a choice is no yes/no question
        ("do widget makers mostly oil gears or build springs", "comparison"),
        ("can i use butter or should i use oil?", "other"),
        ("do widget makers mostly oil gears or actually build all the springs", "other"),
    ],
)
def test_question_shapes(question: str, shape: str) -> None:
    assert question_shape(question) == shape


def test_a_figure_kind_wants_a_figure_whatever_its_wording() -> None:
    def q(text: str, intent: str) -> Question:
        return Question(text, text, intent, ())  # type: ignore[arg-type]

    assert answer_shape(q("what do new widget engineers start on", "salary")) == "figure"
    assert answer_shape(q("and part-time?", "timeline")) == "figure"
    assert answer_shape(q("tell me about gearwork", "other")) == "other"
    assert answer_shape(q("is a widget degree required", "degree")) == "yesno"


def test_abbreviations_are_spelled_out_for_search_only() -> None:
    assert expand_abbreviations("rl algos for a cs grad?") == (
        "rl algos for a cs grad? (reinforcement learning algorithms computer science)")
    # a long form already typed is not added twice; words that merely contain one are kept
    assert expand_abbreviations("deep learning vs dl") == "deep learning vs dl"
    assert expand_abbreviations("strl and dlx") == "strl and dlx"
    assert expand_abbreviations("pca before an svm?") == (
        "pca before an svm? (principal component analysis support vector machine)")


def test_qualifiers_and_named_entities() -> None:
    quals = qualifiers(Question("pay for a junior in Lisbon, part time?", "", "salary",
                                ("Lisbon",)))
    assert any(p.search("Part-time learners in lisbon") for p in quals)
    assert any(p.search("a junior role") for p in quals)
    # typed plain, written possessive: "masters" is "a Master's"
    quals = qualifiers(Question("are widget masters worth it", "", "degree", ()))
    assert any(p.search("a Master's helps") for p in quals)
    assert not any(p.search("a PhD helps") for p in quals)
    # named places and employers are specifics however they are typed
    assert "meta" in specific_terms("what does meta pay")
    assert "zurich" in specific_terms("widget jobs zurich?")
    assert specific_terms("do i have to learn it in order?") == ()
    assert _named_list("which tools do i need") == "tools"
    assert _named_list("what should i study") is None
    assert _number("points", 1) == "point" and _number("tools", 3) == "tools"


# ---------------------------------------------------------------- a tiny guide, end to end


@pytest.fixture
def widget_bot(tmp_path: Path) -> CareerBot:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "widgets.md").write_text(GUIDE)
    store = QdrantStore(QdrantClient(":memory:"), "t")
    ingest_corpus(corpus, store, FakeEmbedder(), config={"model": "fake"})
    return CareerBot(store, FakeEmbedder())


def test_a_followup_is_searched_with_the_conversation_and_scored_on_its_own_words(
    widget_bot: CareerBot,
) -> None:
    history = [{"role": "user", "content": "which tools will I use every day for widgets"},
               {"role": "assistant", "content": "Hammerlane, Fluxgrid and Quillset."}]
    q = widget_bot.prepare("and which one tracks experiments?", history)
    assert q.context == "which tools will I use every day for widgets"
    assert q.search_text == f"{q.context} {q.own_search_text}"
    assert q.own_search_text == "and which one tracks experiments?"
    hits, vectors = widget_bot.retriever.search_prepared(q.search_text, top_k=8)
    assert vectors is not None
    asked: list[str] = []

    def embed(text: str) -> list[float]:
        asked.append(text)
        return FakeEmbedder().embed_query(text)

    answerer = widget_bot.extractive()
    answerer.embed = embed
    scored = answerer.score(q, hits, vectors)
    # every piece is compared with the follow-up's own words, not with the whole search
    own = FakeEmbedder().embed_query(q.own_search_text)
    vecs = widget_bot.store.unit_vectors([piece_id(s.block, s.piece) for s in scored])
    assert asked == [q.own_search_text] and len(scored) > 3
    for s in scored:
        v = vecs[piece_id(s.block, s.piece)]
        assert s.dense == pytest.approx(sum(a * b for a, b in zip(own, v, strict=True)))
    assert any(s.dense != pytest.approx(sum(a * b for a, b in zip(vectors.search, vecs[
        piece_id(s.block, s.piece)], strict=True))) for s in scored)
    # a question that stands alone is scored with the search's vector: no second encode
    alone = widget_bot.prepare("which widget tool tracks experiments?", history)
    assert not alone.context and alone.own_search_text == alone.search_text
    answerer.score(alone, *widget_bot.retriever.search_prepared(alone.search_text, top_k=8))
    assert asked == [q.own_search_text]


def test_a_followup_keeps_the_conversations_kind_unless_it_asks_another(
    widget_bot: CareerBot,
) -> None:
    history = [{"role": "user", "content": "what is the pay for a junior widget engineer"},
               {"role": "assistant", "content": "About $61,000 a year."}]
    # a passing mention of years is the experience the figure is for
    assert widget_bot.prepare("what about with five years behind me?", history).intent \
        == "salary"
    assert widget_bot.prepare("what about with five years behind me?").intent == "timeline"
    # a strong cue of another kind is a new question
    assert widget_bot.prepare("and how long does it take to get there?", history).intent \
        == "timeline"


def test_a_followup_naming_an_item_by_its_place_asks_about_that_item(
    widget_bot: CareerBot,
) -> None:
    history = [{"role": "user", "content": "which tools will I use every day for widgets"},
               {"role": "assistant", "content": "The guide lists 3 tools: Hammerlane [1], "
                                                "Fluxgrid [2] and Quillset [3]."}]
    q = widget_bot.prepare("what is the second one good for?", history)
    assert q.text == "what is fluxgrid good for?" and q.context
    # without the reply, or with a reply that lists nothing, the question stays as asked
    assert widget_bot.prepare("what is the second one good for?", history[:1]).text == \
        "what is the second one good for?"
    other = [history[0], {"role": "assistant", "content": "Mostly a hammer."}]
    assert widget_bot.prepare("what is the second one good for?", other).text == \
        "what is the second one good for?"


def test_the_kind_is_what_the_asking_sentence_asks(widget_bot: CareerBot) -> None:
    # the asker's story cues a timeline ("how long", "months"); what they ask is the pay
    told = "I know how long it takes, roughly how many months. Do widget engineers earn well?"
    assert widget_bot.prepare(told).intent == "salary"
    assert widget_bot.prepare("what do widget engineers make there?").intent == "salary"


def test_list_answer_names_each_item_with_its_own_citation(widget_bot: CareerBot) -> None:
    a = widget_bot.ask("which tools will I use every day for widgets")
    texts = {d["doc_id"]: d["text"] for d in widget_bot.store.list_docs(with_text=True)}
    assert a.direct == a.answer.split("\n")[0]
    assert re.fullmatch(r".+ lists 3 tools: Hammerlane \[1\], Fluxgrid \[2\] and "
                        r"Quillset \[3\]\.", a.direct), a.direct
    for c in a.citations:
        assert texts[c.doc_id][c.start : c.end] == c.quote
    assert [c.quote for c in a.citations[:3]] == ["Hammerlane", "Fluxgrid", "Quillset"]


def test_a_figure_line_does_not_read_on_into_the_next_case() -> None:
    talk = ("# T\n\n## Pay by city\n\nIn Gearton widget engineers earn $61,000. "
            "Boltham pays more, at $98,500 a year. This is before any yearly bonus is paid.\n")
    _, blocks = _blocks(talk)
    scored = [Scored(b, p, i, [], 0.0) for b in blocks for i, p in enumerate(b.pieces)]
    first = [s for s in scored if s.text.startswith("In Gearton")]
    gearton = [re.compile("gearton", re.IGNORECASE)]
    # asked about Gearton: Boltham's figure is another case, not the answer's continuation
    assert [s.text for s in _read_on(first, scored, 30, gearton)] == [
        "In Gearton widget engineers earn $61,000."]
    # asked about no city, the line reads on as before
    assert len(_read_on(first, scored, 30)) == 3


def test_a_list_of_something_else_is_not_named_as_the_answer() -> None:
    talk = ("# T\n\n## Pitfalls\n\nHere are the three mistakes to avoid:\n\n"
            "• Skipping the widget basics for too long.\n"
            "• Neglecting the gear skills every team needs.\n"
            "• Ignoring how springs wear out.\n\n"
            "## Practice\n\nGood widget engineers practise gearwork every day.\n")
    scored = _scored(talk, lambda t: 0.9 if "gear skills" in t else 0.5)

    def direct(question: str) -> str:
        return _compose(question, scored).direct

    # the list says it lists mistakes: named as the skills asked for, it would mislead
    assert " lists " not in direct("which skills do widget engineers need")
    assert direct("which mistakes should I avoid").startswith("guide lists 3 mistakes:")
    assert direct("which pitfalls should I avoid").startswith("guide lists 3 mistakes:")
    # a question naming no kind of thing gets the list's own noun
    assert direct("list what i should avoid").startswith("guide lists 3 mistakes:")


def test_a_list_that_names_no_kind_of_thing_lists_points() -> None:
    talk = ("# T\n\n## Week one\n\n• Unpack the widget kit.\n• Oil the gears.\n"
            "• Wind the spring twice.\n")
    scored = _scored(talk, lambda t: 0.9 if "gears" in t else 0.5)
    # the question's noun is not the list's: "lists 3 tools: Unpack the widget kit" is false
    assert _compose("which widget tools do i need", scored).direct.startswith(
        "guide lists 3 points: Unpack the widget kit. [1]")


def test_a_paragraph_that_introduces_a_list_is_answered_by_the_list() -> None:
    talk = ("# T\n\n## Springs\n\nSprings scare new widget engineers, but you only need a "
            "feel for two key areas.\n\n"
            "• Coil tension: how tight a spring is wound.\n"
            "• Fatigue: how springs wear out over time.\n\n"
            "Most teams teach the rest on the job.\n\n"
            "## Gears\n\nGears come next, once springs feel easy.\n\n"
            "Some advice first.\n\n"
            "• Count the teeth.\n• Oil the axle.\n")
    # the set-up sentence scores best: it says what the question asks in its words
    scored = _scored(talk, lambda t: 0.9 if t.startswith(("Springs", "Gears")) else 0.4)

    def direct(question: str, only: str = "") -> str:
        return _compose(question, [s for s in scored if only in s.block.section]).direct

    # the list it introduces answers, under the noun the set-up gives it
    assert direct("what springs stuff do i need to get").startswith(
        "guide lists 2 areas: Coil tension [1] and Fatigue [2]"), direct("what springs")
    # a yes/no question keeps the sentence that answers it
    assert direct("do springs matter for widget engineers").startswith("Springs scare")
    # a list after another paragraph is not the set-up's continuation
    assert direct("how do gears work", only="Gears").startswith("Gears come next")
    # nor is a list whose items score far below the paragraph (`INTRO_SHARE`): what the
    # paragraph sets up is another thing than what was asked
    far = [replace(s, prob=0.2) if s.text.startswith(("Coil", "Fatigue")) else s
           for s in scored]
    assert _compose("what springs stuff do i need to get", far).direct.startswith(
        "Springs scare")
    assert ExtractiveAnswerer.INTRO_SHARE == 0.3  # the README says 0.3


def test_a_list_item_that_says_what_its_name_is_for_is_no_bare_name() -> None:
    talk = ("# T\n\n## Parts\n\nParts to know:\n\n- Gearbox: For turning a slow shaft fast\n"
            "- Springs\n- Levers: they lift loads.\n")
    bare = {s.text: _bare_item(s) for s in _scored(talk, lambda t: 0.5)
            if s.piece.role == "item"}
    assert bare == {"Gearbox: For turning a slow shaft fast": False, "Springs": True,
                    "Levers: they lift loads.": False}, bare


def test_a_first_line_read_in_order_reaches_the_best_piece() -> None:
    """The first line reads from the first near-best piece of the best one's passage; when
    that stops it short of the best piece, it reads on to it (up to `FIRST_WORDS`)."""
    talk = ("# T\n\n## Oil\n\nEvery widget needs oil on its moving parts, and a lot of "
            "new makers forget it. It keeps the gears and the springs turning freely and quietly "
            "through many long years of daily use. Use a light machine oil once a week.\n")
    scored = _scored(talk, lambda t: 0.9 if t.startswith("Use") else 0.8
                     if t.startswith("Every") else 0.3)
    direct = _compose("how often do i oil a widget", scored).direct
    assert direct.startswith("Every widget needs oil") and "once a week" in direct, direct
    # past `FIRST_WORDS`, it stops where it would have
    short = ExtractiveAnswerer(None, {}, None)  # type: ignore[arg-type]
    short.FIRST_WORDS = 20
    q = Question("how often do i oil a widget", "how often do i oil a widget", "other", ())
    assert "once a week" not in short.compose(q, scored).direct
    assert ExtractiveAnswerer.FIRST_WORDS == 60  # the README says 60 words


def test_a_terse_first_line_is_labelled_with_its_heading() -> None:
    talk = ("# Widget Roadmap\n\n## Phase 1: Gearwork\n\nGoal: learn how gears mesh and turn "
            "under load.\n\nTime: 2 weeks\n\nRule: do not start springs before this.\n")
    scored = _scored(talk, lambda t: 0.9 if t.startswith("Time") else 0.3)
    a = _compose("how long is gearwork", scored, "timeline")
    # a short figure is an answer, not filler; its heading says what it is the time of
    assert a.direct == "Phase 1: Gearwork — Time: 2 weeks [1]"
    assert a.citations[0].quote == "Time: 2 weeks"


def test_tied_hits_share_a_rank_whatever_order_they_come_in() -> None:
    _, blocks = _blocks()
    a, b, c = blocks[:3]

    def hit(cid: str, score: float, block: Block) -> Hit:
        return Hit("guide", cid, "T", block.section, block.text, block.start, block.end,
                   score, (block,))

    hits = [hit("c1", 1.0, a), hit("c2", 1.0, b), hit("c3", 0.5, c)]
    one = candidate_blocks(hits)
    other = candidate_blocks([hits[1], hits[0], hits[2]])
    assert one == other
    assert [rank for _, rank in one] == [0, 0, 2]


def test_questions_are_searched_with_abbreviations_spelled_out(widget_bot: CareerBot) -> None:
    q = widget_bot.prepare("cs widget degree")
    assert q.text == "cs widget degree"
    assert q.search_text == "cs widget degree (computer science)"


def test_a_short_first_line_reads_on_in_its_own_line() -> None:
    talk = ("# T\n\n## Rust?\n\nUsually not, if kept dry. Oil them twice a year to be sure. "
            "Build. Most rust comes from damp sheds and salty air.\n\n"
            "Level Typical pay\nJunior widget engineers earn $61,000 a year\n"
            "Senior widget engineers earn $98,500 a year\n")
    _, blocks = _blocks(talk)
    scored = [Scored(b, p, i, [], 0.0) for b in blocks for i, p in enumerate(b.pieces)]
    first = [s for s in scored if s.text.startswith("Usually")]
    # the next sentence joins a short verdict; a fragment ("Build.") ends the line
    assert [s.text for s in _read_on(first, scored, 30)] == [
        "Usually not, if kept dry.", "Oil them twice a year to be sure."]
    # a setup and a pleasantry lead to the answer: the line reads past the pleasantry
    talk2 = ("# T\n\n## Next widget\n\nSo, gears are done. Time to level up. A spring "
             "clock is the next widget to build.\n")
    _, blocks2 = _blocks(talk2)
    scored2 = [Scored(b, p, i, [], 0.0) for b in blocks2 for i, p in enumerate(b.pieces)]
    assert [s.text for s in _read_on(scored2[:1], scored2, 30)] == [
        "So, gears are done.", "A spring clock is the next widget to build."]
    # a table's next row is another point, never the same line
    row = [s for s in scored if s.text.startswith("Junior")]
    assert [s.text for s in _read_on(row, scored, 30)] == [
        "Junior widget engineers earn $61,000 a year"]


def test_answers_never_lead_with_a_question_or_a_lead_in(widget_bot: CareerBot) -> None:
    for question in ("widget degree needed?", "tools every day", "gearwork springcraft"):
        a = widget_bot.ask(question)
        assert not a.abstained
        first = a.citations[0].quote
        assert not first.endswith(("?", ":")), first


def test_calibration_is_stored_with_the_index_for_its_model(widget_bot: CareerBot) -> None:
    meta = widget_bot.store.get_meta()
    assert meta["model"] == "fake" and meta["probes"] >= 20
    assert offtopic_stats(meta, "fake") == (meta["offtopic_mean"], meta["offtopic_std"],
                                            meta["offtopic_own_mean"], meta["offtopic_own_std"])
    assert offtopic_stats(meta, "another-model") is None  # another model is not trusted
    # calibrated before the model's own vector was measured: measured again, not half-used
    older = {k: v for k, v in meta.items() if not k.startswith("offtopic_own")}
    assert offtopic_stats(older, "fake") is None
    assert all("offtopic_mean" not in d for d in widget_bot.store.list_docs())


def test_a_question_below_either_vector_s_level_is_off_topic(widget_bot: CareerBot) -> None:
    """The search's vector (through the query adapter) and the model's own each have an
    off-topic level (`AnswerModel.own_z`); a question below either is refused, and a level
    turned off (None) refuses nothing."""
    q = widget_bot.prepare("which tools will I use every day for widgets")
    hits, vectors = widget_bot.retriever.search_prepared(q.search_text, top_k=8)
    assert vectors is not None
    near, far = vectors.search, [-x for x in vectors.search]  # the second faces away
    s_near, s_far = (widget_bot.store.nearest_unit(v) for v in (near, far))
    assert s_far < s_near
    middle = (s_near + s_far) / 2  # with z = 0, the level sits between the two
    base = widget_bot.extractive()

    def refused(search: list[float], own: list[float], question: Question = q,
                **levels: float | None) -> bool:
        answerer = ExtractiveAnswerer(
            widget_bot.store, base.docs, base.coverage,
            model=replace(base.model, unknown_z=None, own_unknown_z=None, **levels),
            offtopic=OfftopicStats(middle, 1.0, middle, 1.0))
        return answerer.answer(question, hits, QueryVectors(search, own)).abstained

    assert not refused(near, near, offtopic_z=0.0, own_z=0.0)
    assert refused(near, far, offtopic_z=0.0, own_z=0.0)  # the model's own is far
    assert refused(far, near, offtopic_z=0.0, own_z=0.0)  # the search's is far
    assert not refused(near, far, offtopic_z=0.0, own_z=None)  # that level is off
    assert not refused(far, near, offtopic_z=None, own_z=0.0)
    # a question that names a guide asks what it says: never off-topic (rag.chat.named_guides)
    named = replace(q, named=(hits[0].doc_id,))
    assert not refused(far, far, question=named, offtopic_z=0.0, own_z=0.0)


def test_a_bare_item_first_line_names_its_whole_list() -> None:
    talk = ("# Widget Roadmap\n\n## Phase 3: Springs\n\n### Measures\n\n"
            "• Tension\n• Fatigue life\n• Coil count\n\n"
            "## Phase 4: Gears\n\n"
            "• Spur gears: the simplest kind, with straight teeth.\n"
            "• Helical gears: quieter, with angled teeth.\n")
    scored = _scored(talk, lambda t: 0.9 if t.startswith(("Fatigue", "Helical")) else 0.1)

    def direct(question: str, only: str) -> str:
        return _compose(question, [s for s in scored if only in s.block.section]).direct

    # the best piece is one bare item: the list it belongs to answers, item by item
    assert direct("spring measures to track?", "Springs") == (
        "guide lists 3 points: Tension [1], Fatigue life [2] and Coil count [3].")
    # an item that says something of its own is quoted as it is
    assert direct("helical gears?", "Gears").startswith(
        "Helical gears: quieter, with angled teeth. [1]")


def test_a_nested_list_names_sub_items_under_their_item() -> None:
    talk = ("# T\n\n## Gear tools\n\n* Calipers\n* Gauges:\n\n  * Pitch gauge\n"
            "  * Tooth gauge\n* Oil can\n")
    text, blocks = _blocks(talk)
    assert "◦ Pitch gauge" in text
    scored = _scored(talk, lambda t: 0.9 if "Pitch" in t else 0.3)
    a = _compose("which gear tools should i own", scored)
    assert a.direct == ("guide lists 3 tools: Calipers [1], Gauges [2] (Pitch gauge [3] and "
                        "Tooth gauge [4]) and Oil can [5].")
    assert [c.quote for c in a.citations[:5]] == [
        "Calipers", "Gauges", "Pitch gauge", "Tooth gauge", "Oil can"]


def test_words_of_the_domain_the_guides_never_use_are_not_unknown_words() -> None:
    """The higher off-topic level is for questions made mostly of words the guides never
    use. A chat abbreviation whose long form they use, or a cue word of a question kind,
    is a word of the domain all the same (these guides write "statistics" and "salary")."""

    class Guides:
        def covers(self, term: str) -> bool:
            return term.lower() in {"statistics", "salary", "widgets"}

        def spells_out(self, term: str) -> bool:
            return False

    answerer = ExtractiveAnswerer(None, {}, Guides(),  # type: ignore[arg-type]
                                  model=replace(default_model(), offtopic_z=0.5, unknown_z=3.0,
                                                own_z=None, own_unknown_z=None),
                                  offtopic=OfftopicStats(0.2, 0.1, 0.0, 1.0))

    def level(text: str) -> float | None:
        return answerer.offtopic_levels(Question(text, text, "other", ()))[0]

    assert level("widgets salary") == pytest.approx(0.25)
    # "pay" and "money" are salary cues, "stats" is spelled out as "statistics"
    assert level("pay stats money widgets") == pytest.approx(0.25)
    assert level("puppy chewing shoes widgets") == pytest.approx(0.5)
    # an abbreviation counts only when the guides use its long form
    assert level("calc linalg widgets") == pytest.approx(0.5)


def test_of_two_lists_near_the_best_the_one_with_more_good_items_is_named() -> None:
    """A list question whose best piece is a sentence outside any list gets a list named
    from those near it: the list most likely to hold the answer over its best items, not
    the one whose single best item scores a hair higher."""
    talk = ("# T\n\n## Talk\n\nYou will want oil on every moving part and a rag to wipe "
            "it after.\n\n## Parts\n\nParts to buy:\n\n- Gears\n- Springs\n- Levers\n\n"
            "## Care\n\nCare supplies:\n\n- Oil\n- Grease\n- Rags\n")
    probs = {"Gears": 0.30, "Springs": 0.20, "Levers": 0.05, "Oil": 0.29, "Grease": 0.28,
             "Rags": 0.22}
    scored = _scored(talk, lambda t: 0.8 if t.startswith("You will") else probs.get(t, 0.01))
    # lists count as near the best from 0.3 of its score, whatever the shipped model says
    answerer = ExtractiveAnswerer(None, {}, None,  # type: ignore[arg-type]
                                  model=replace(default_model(), lead=0.3))
    text = "which things should i buy for my clock"
    direct = answerer.compose(Question(text, text, "other", ()), scored).direct
    assert "Oil" in direct and "Grease" in direct and "Rags" in direct
    assert "Gears" not in direct


def test_a_later_ask_gets_its_best_piece_quoted_whatever_it_scores_for_the_whole() -> None:
    """`compose`'s `also`: a question that asks two things ("how often do i oil the gears,
    and do springs snap") is scored as a whole, and its first ask dominates; the piece
    that answers the second ask is quoted all the same, after the first line's block."""
    talk = ("# T\n\n## Oil\n\nOil the gears every week. Use a light oil for it.\n\n"
            "## Springs\n\nSprings snap when they are wound too tight.\n")
    scored = _scored(talk, lambda t: 0.9 if t.startswith("Oil") else 0.5
                     if t.startswith("Use") else 0.01)
    answerer = ExtractiveAnswerer(None, {}, None)  # type: ignore[arg-type]
    q = Question("how often do i oil the gears, and do springs snap",
                 "how often do i oil the gears, and do springs snap", "other", ())
    assert "Springs snap" not in answerer.compose(q, scored).answer
    springs = [s for s in scored if s.text.startswith("Springs snap")]
    lines = answerer.compose(q, scored, also=springs).answer.split("\n")
    assert lines[0].startswith("Oil the gears every week.")
    assert any(line.startswith("- Springs snap when they are wound too tight.")
               for line in lines[1:]), lines
    # within the answer's limits: no more lines from one guide than MAX_PER_DOC
    limited = ExtractiveAnswerer(None, {}, None)  # type: ignore[arg-type]
    limited.MAX_PER_DOC = 1
    assert "Springs snap" not in limited.compose(q, scored, also=springs).answer


def test_support_stops_at_the_answer_length() -> None:
    """However many pieces score well, support stops at `MAX_WORDS`."""
    talk = "# T\n\n" + "".join(
        f"## Part {i}\n\nThe gear number {i} turns the spring and the lever and the "
        f"wheel every single week of the year without fail, and it keeps the clock on "
        f"time through the long dark winter months.\n\n" for i in range(30))
    answer = _compose("how do gears turn", _scored(talk, lambda t: 0.9)).answer
    words = len(re.sub(r"\[\d+\]", "", answer).split())
    assert ExtractiveAnswerer.MAX_WORDS - 35 < words <= ExtractiveAnswerer.MAX_WORDS, answer
    assert len(answer.split("\n")) <= ExtractiveAnswerer.MAX_LINES
    assert ExtractiveAnswerer.MAX_WORDS == 150  # the README says 150 words


def test_support_stops_at_eight_lines_and_six_of_one_guide() -> None:
    """Short pieces that all score well: the line limits bind before the word limit, and
    one guide's lines give way to another's once it has `MAX_PER_DOC` (the README says
    eight lines, six of one guide)."""
    def guide(doc_id: str, word: str, prob: float) -> list[Scored]:
        talk = "# T\n\n" + "".join(f"## Part {i}\n\n{word} number {i} turns.\n\n"
                                    for i in range(12))
        doc = parse_bytes(talk.encode(), f"{doc_id}.md")
        return [Scored(b, p, i, [0.0] * len(FEATURES), 0.0, prob)
                for b in document_blocks(doc_id, doc.text, doc.sections, doc.title)
                for i, p in enumerate(b.pieces)]
    answer = _compose("how do gears turn", guide("a", "Gear", 0.9) + guide("b", "Cog", 0.8))
    lines = answer.answer.split("\n")
    doc_of = {c.n: c.doc_id for c in answer.citations}
    docs = [doc_of[int(re.findall(r"\[(\d+)\]", line)[0])] for line in lines]
    assert len(lines) == 8, answer.answer
    assert docs.count("a") == 6 and docs.count("b") == 2, answer.answer


def test_question_parts_are_the_separate_asks() -> None:
    assert question_parts("what is gearwork, and is it hard?") == [
        "what is gearwork", "is it hard?"]
    assert question_parts("which tools do i need and what is each for") == [
        "which tools do i need", "what is each for"]
    assert question_parts("what is gearwork, and also how long does it take") == [
        "what is gearwork", "how long does it take"]
    assert question_parts("i oil gears daily. can springs rust?? where do i store them") \
        == ["can springs rust??", "where do i store them"]
    # one question: "or" weighs two answers to it; "and" joins two things it asks about
    assert question_parts("is oil enough or is grease better") == [
        "is oil enough or is grease better"]
    assert question_parts("do gears and springs wear out") == ["do gears and springs wear out"]


def test_a_table_cell_says_which_column_it_is_in() -> None:
    talk = ("# T\n\n## Gears or springs\n\nFeature Gears Springs\n"
            "Upkeep Needs fresh oil every single week. Needs nothing at all, ever.\n"
            "Noise Clatters loudly under a heavy load. Stays silent the whole time.\n\n"
            "Stage Focus Outcome\nEarly Learn the parts. Build a clock. Sell it.\n"
            "Late Teach the others.\n")
    _, blocks = _blocks(talk)
    table = next(b for b in blocks if b.text.startswith("Feature Gears Springs"))
    assert sorted(table_columns(table).values()) == ["Gears", "Gears", "Springs", "Springs"]
    scored = _scored(talk, lambda t: 0.9 if "silent" in t else 0.8 if "Clatters" in t else 0.1)
    a = _compose("are gears or springs quieter", scored)
    assert a.direct == ("Gears: Noise Clatters loudly under a heavy load. [1] "
                        "Springs: Stays silent the whole time. [2]")
    assert [c.quote for c in a.citations[:2]] == [
        "Noise Clatters loudly under a heavy load.", "Stays silent the whole time."]
    # a header naming other columns than each row's cells: no column is guessed
    assert all(table_columns(b) == {} for b in blocks if b is not table)
    # rows are aspects side by side: the best row leads, not the first one near it
    scored = _scored(talk, lambda t: 0.9 if "silent" in t else 0.8 if "fresh oil" in t
                     else 0.1)
    assert _compose("gears or springs, which one for a quiet room", scored).direct == (
        "Gears: Noise Clatters loudly under a heavy load. [1] "
        "Springs: Stays silent the whole time. [2]")


def _uncovered_in(talk: str, words: set[str]) -> Callable[[str, tuple[str, ...]], list[str]]:
    """`ExtractiveAnswerer._uncovered` of a question (its text, its specifics) against
    `talk`, whose vocabulary is `words`."""
    scored = _scored(talk, lambda t: 0.9)

    class Words:
        def covers(self, term: str) -> bool:
            return term in words

        def spells_out(self, term: str) -> bool:
            return Vocabulary([talk]).spells_out(term)

    answerer = ExtractiveAnswerer(None, {}, Words())  # type: ignore[arg-type]

    def uncovered(text: str, specifics: tuple[str, ...], intent: str = "other") -> list[str]:
        return answerer._uncovered(
            Question(text, text, intent, specifics), scored)  # type: ignore[arg-type]

    return uncovered


def test_a_specific_the_guides_use_in_its_plural_is_covered() -> None:
    uncovered = _uncovered_in(
        "# T\n\n## Data\n\nSome gear logs run to many GBs of readings a day.\n",
        {"gbs", "gear", "logs", "natural", "language", "processing"})
    assert uncovered("what if my logs are a few GB?", ("GB",)) == []
    assert uncovered("what if my logs are in TB?", ("TB",)) == ["TB"]
    # an abbreviation the guides write out is their topic, however it is typed
    assert uncovered("does NLP read gear logs", ("NLP",)) == []


def test_the_initials_of_a_term_the_guides_write_are_not_refused() -> None:
    """An asker's short form of a term the guides write out ("gear logs") may be what they
    ask about: it is not refused as a name the guides never use. Initials that match no
    phrase of theirs still are, and so is a place of the gazetteer whatever its initials
    could stand for ("SF": "spring fittings")."""
    uncovered = _uncovered_in(
        "# T\n\n## Gear logs\n\nRead the gear logs daily. Spring fittings wear out; "
        "gear logs show when spring fittings go.\n", {"read", "gear", "logs", "spring", "fittings"})
    assert uncovered("how do i read GL", ("GL",)) == []
    assert uncovered("how do i read gl", ("gl",)) == []
    assert uncovered("how do i read QX", ("QX",)) == ["QX"]
    assert uncovered("spring fittings in SF", ("SF",)) == ["SF"]
    # a capitalised word is a name, and initials where a place goes are likelier a place
    assert uncovered("how do i read Gl", ("Gl",)) == ["Gl"]
    assert uncovered("how do gear logs read in GL", ("GL",)) == ["GL"]


def test_a_name_is_looked_for_in_passages_of_the_kind_its_own_ask_is() -> None:
    """A name the guides use must be in a passage of the question's kind (a pay figure
    for an employer); in a question that asks two things, of its own ask's kind, not the
    whole question's."""
    uncovered = _uncovered_in(
        "# T\n\n## Tools\n\nZorbo packs your code and its libraries into one box.\n\n"
        "## Degrees\n\nA PhD is rarely needed for this work.\n",
        {"zorbo", "phd", "packs", "code", "libraries", "box", "rarely", "needed", "work"})
    assert uncovered("is Zorbo worth learning, and do i need a PhD?", ("Zorbo", "PhD"),
                     "degree") == []
    # one ask: the degree passages say nothing of Zorbo
    assert uncovered("do i need a PhD for Zorbo work?", ("PhD", "Zorbo"), "degree") == [
        "Zorbo"]


def test_an_uncovered_specific_said_in_passing_does_not_refuse_the_question() -> None:
    """`AnswerModel.incidental_share`: a specific the guides never use is what a short
    question asks about, but only said in passing in a long one that asks about what they
    cover; a place still qualifies what is asked, however long the question."""
    uncovered = _uncovered_in(
        "# T\n\n## Gears\n\nOil the gears every week and check the springs for rust.\n",
        {"oil", "gears", "springs", "rust", "check", "week"})
    assert uncovered("is Zorblax oil good for gears", ("Zorblax",)) == ["Zorblax"]
    aside = ("after years of fixing {} machines at a day job, how often should i oil "
             "the gears and check the springs for rust")
    assert uncovered(aside.format("Zorblax"), ("Zorblax",)) == []
    assert uncovered(aside.format("Oslo"), ("Oslo",)) == ["Oslo"]
    # told in a first-person clause (`_told`), a place does not qualify a question on
    # anything but pay
    told = aside.replace("after years of", "i have spent years")
    assert uncovered(told.format("Oslo"), ("Oslo",)) == []
    # and so is a word where a place goes, known to the gazetteer or not
    placed = aside.replace("at a day job", "at Zorblax")
    assert uncovered(placed.format("old"), ("Zorblax",)) == ["Zorblax"]


def test_a_list_whose_best_pieces_lie_in_several_items_answers_as_a_whole() -> None:
    talk = ("# T\n\n## Widget slip-ups\n\nHere are the slip-ups new widget makers make:\n\n"
            "1. Forgetting the oil. Dry gears grind down in a week.\n"
            "2. Winding springs too tight. Tight springs snap.\n"
            "3. Skipping the gauge check. Nobody notices until it fails.\n")

    def direct(question: str, best: tuple[str, ...]) -> str:
        scored = _scored(talk, lambda t: 0.9 if t.startswith(best) else 0.2)
        return _compose(question, scored).direct

    # no one item is the answer: the list is, introduced by the guide's own lead-in
    assert direct("where do new widget makers go wrong", ("Dry", "Tight")) == (
        "Here are the slip-ups new widget makers make: [1] Forgetting the oil. [2], "
        "Winding springs too tight. [3] and Skipping the gauge check. [4]")
    # one item scores best by far: its sentences answer
    assert direct("what happens to dry gears", ("Dry",)).startswith("Dry gears grind")
    # the question names an item: that item is what it asks about, not the list
    assert direct("why is forgetting the oil bad", ("Dry", "Tight")).startswith(
        "Dry gears grind")


def test_a_why_or_what_is_question_is_answered_by_a_sentence_not_bare_items() -> None:
    talk = ("# T\n\n## Springs\n\nA spring stores energy by bending under load. "
            "It gives the energy back when released.\n\n### Where springs go\n\n"
            "• Clocks\n• Toy cars\n• Trampolines\n")
    scored = _scored(talk, lambda t: 0.9 if t in ("Clocks", "Toy cars", "Trampolines")
                     else 0.7 if t.startswith("A spring") else 0.1)

    def direct(question: str) -> str:
        return _compose(question, scored).direct

    # a reason or a description is asked for: names alone give neither
    for question in ("why bother with springs", "springs in plain english?",
                     "what even are springs", "how does a spring work"):
        assert direct(question).startswith("A spring stores energy"), question
    # asked where they go, the list of places answers
    assert direct("where do springs go").startswith("guide lists 3 points: Clocks [1]")


def test_a_piece_about_another_case_than_the_one_asked_is_marked() -> None:
    quals = qualifiers(Question("do widget makers need a phd", "", "degree", ()))
    assert _other_case(quals, "A Master's helps widget makers at big firms.")
    assert not _other_case(quals, "A PhD matters only for widget research.")
    assert not _other_case(quals, "Most widget teams care about what you have built.")
    # a piece naming the case asked and another is about the case asked too
    assert not _other_case(quals, "A PhD is rarer than a master's among widget makers.")
    # a question with no case of its own has no other case
    assert not _other_case(qualifiers(Question("do widget makers need a degree", "",
                                               "degree", ())), "A Master's helps.")


def test_a_plain_verdict_is_given_not_asked_or_mentioned() -> None:
    assert _plain_verdict("For a hobby widget, usually not.")
    assert _plain_verdict('The maker said: "No, you can skip the lathe."')
    # asked (also inside a quote), mentioned in quotes, or "no one": no verdict
    assert not _plain_verdict("But what if you don't own a lathe?")
    assert not _plain_verdict('The maker asked: "Isn\'t a lathe needed?"')
    assert not _plain_verdict('It answers any "yes or no" widget check.')
    assert not _plain_verdict("Sanding by hand is fun, said no one ever.")


def test_an_asker_who_works_full_time_is_a_part_time_learner() -> None:
    """Their "full time" is the job: the full-time learner's figure is the other case."""
    for asked in ("i am working full time, how long to learn widgets?",
                  "with a full-time job, how many weeks for widget making"):
        quals = qualifiers(Question(asked, "", "timeline", ()))
        assert _other_case(quals, "A full-time widget learner needs 8 weeks."), asked
        assert any(p.search("Part-time learners need 20 weeks.") for p in quals), asked
    # studying full time is the full-time case; working full time as a goal says nothing
    for asked in ("if i study widgets full time, how long?",
                  "how long until i can work full time as a widget maker?"):
        quals = qualifiers(Question(asked, "", "timeline", ()))
        assert not _other_case(quals, "A full-time widget learner needs 8 weeks."), asked


def test_a_figure_question_takes_its_case_figure_but_a_topic_word_is_no_case() -> None:
    """A figure question leads with the figure for its case (part-time) over a likelier
    one; a tool the asker names is no case: the phase that names it is not the answer to
    how long the whole path takes."""
    talk = ("# T\n\n## How long\n\nMost learners need 2 years in all.\n\n"
            "## Part-time\n\nPart-time learners need 3 years.\n\n"
            "## Widgetscript phase\n\nTime: 2 months\n")

    def direct(asked: str, specifics: tuple[str, ...] = ()) -> str:
        q = Question(asked, asked, "timeline", specifics)
        # the qualifiers feature as the scorer computes it: the question's specifics and
        # qualifier words, in the piece or its heading
        quals = qualifiers(q)
        scored = [replace(s, x=[float(any(p.search(f"{s.block.section}\n{s.text}")
                                          for p in quals)) if i == _QUALIFIERS else v
                                for i, v in enumerate(s.x)])
                  for s in _scored(talk, lambda t: 0.9 if t.startswith("Most") else 0.3)]
        answerer = ExtractiveAnswerer(None, {}, None)  # type: ignore[arg-type]
        return answerer.compose(q, scored).direct

    assert direct("how long does it take part-time?").startswith("Part-time learners")
    # and the line stops before the likelier figure for another case in the same passage
    talk2 = ("# T\n\n## How long\n\nPart-time learners need 3 years. Full-time learners "
             "need 2 years.\n")
    scored = _scored(talk2, lambda t: 0.9 if t.startswith("Full") else 0.5)
    q = Question("how long does it take part-time?", "how long does it take part-time?",
                 "timeline", ())
    answerer = ExtractiveAnswerer(None, {}, None)  # type: ignore[arg-type]
    assert answerer.compose(q, scored).direct == "Part-time learners need 3 years. [1]"
    assert direct("i know some Widgetscript. how long until i am job ready?",
                  ("Widgetscript",)).startswith("Most learners need 2 years")


def test_the_first_line_comes_from_the_block_most_likely_to_hold_the_answer() -> None:
    talk = ("# T\n\n## Springs\n\nSprings store energy when wound. Gears matter too, they "
            "say. Oil keeps springs from rusting.\n\n"
            "## Gears\n\nGears turn one motion into another. Their teeth set the ratio. "
            "Bigger gears turn slower.\n\n"
            "## Levers\n\nLevers move heavy loads with ease. Levers need a pivot to turn "
            "on. Levers multiply the force you put in. Levers are older than any gear.\n")
    probs = {"Gears matter": 0.9, "Gears turn": 0.8, "Their teeth": 0.8, "Bigger": 0.8,
             "Levers": 0.6}
    scored = _scored(talk, lambda t: next((p for k, p in probs.items() if t.startswith(k)),
                                          0.1))

    def direct(contend: float, without: str = "", asked: str = "how do gears work") -> str:
        answerer = ExtractiveAnswerer(None, {}, None,  # type: ignore[arg-type]
                                      model=replace(default_model(), contend=contend))
        q = Question(asked, asked, "other", ())
        return answerer.compose(q, [s for s in scored if without not in s.block.section or
                                    not without]).direct

    # the passage on gears, three good sentences, beats one better passing mention
    assert direct(0.7).startswith("Gears turn one motion into another.")
    # with only the best piece's block contending, the passing mention leads
    assert direct(1.0).startswith("Gears matter too")
    # a block whose best piece is far below the best does not contend, however many good
    # pieces it has; nearer, it does
    assert direct(0.7, without="Gears").startswith("Gears matter too")
    assert direct(0.5, without="Gears").startswith("Levers")
    # a yes/no question's verdict is one sentence: the best piece leads, wherever it is
    assert direct(0.7, asked="do gears matter at all").startswith("Gears matter too")


def test_support_lines_go_by_probability_not_one_per_guide_first() -> None:
    ours = ("# T\n\n## Gears\n\nGears turn one motion into another one.\n\n"
            "## Teeth\n\nThe number of teeth on each gear sets the ratio.\n\n"
            "## Oil\n\nOiled gears last for many years longer.\n")
    theirs = "# U\n\n## Misc\n\nSome widget makers also mention gears in passing.\n"
    scored = []
    for doc, talk in (("guide", ours), ("other", theirs)):
        parsed = parse_bytes(talk.encode(), f"{doc}.md")
        for b in document_blocks(doc, parsed.text, parsed.sections, parsed.title):
            for i, p in enumerate(b.pieces):
                t = b.quote(p.start, p.end)
                prob = 0.9 if "motion" in t else 0.6 if "teeth" in t or "Oiled" in t else 0.2
                scored.append(Scored(b, p, i, [0.0] * len(FEATURES), 0.0, prob))
    a = _compose("how do gears work", scored)
    # the first line's guide answers on in its other sections before another guide's
    # passing mention (which would have been taken first, one line per guide)
    quotes = [c.quote for c in a.citations]
    assert quotes[:3] == ["Gears turn one motion into another one.",
                          "The number of teeth on each gear sets the ratio.",
                          "Oiled gears last for many years longer."], quotes


def test_a_list_question_naming_one_rich_item_gets_that_items_sentences() -> None:
    talk = ("# T\n\n## Widget interviews\n\n"
            "1. The Gear Round: a timed puzzle. Expect questions on gear ratios and teeth.\n"
            "2. The Spring Round: a chat about tension. They ask how springs wear out.\n"
            "3. The Oil Round: a short quiz on lubricants.\n")
    scored = _scored(talk, lambda t: 0.9 if t.startswith("The Gear") else 0.5)

    def direct(question: str) -> str:
        return _compose(question, scored).direct

    # the question names one round: its sentences say what to study, its name does not
    assert direct("which topics for the spring round?").startswith(
        "The Spring Round: a chat about tension.")
    # naming none of them, or two, the list is named whole
    assert direct("which rounds are there?").startswith("guide lists 3 points:")
    assert direct("which topics for the spring and oil rounds?").startswith("guide lists 3")


def test_a_short_list_item_is_an_answer_but_a_short_pleasantry_is_not() -> None:
    talk = ("# T\n\n## Oil\n\nYes, every widget needs oil to run. Dry gears grind down fast.\n\n"
            "## Kit\n\nYou will need this kit:\n\n• Oil can\n• Gear gauge\n\n"
            "## Chat\n\nGreat question. Springs are a topic for another day.\n")
    probs = {"Yes, every widget needs oil to run.": 0.9, "Oil can": 0.8, "Great question.": 0.85}
    scored = _scored(talk, lambda t: probs.get(t, 0.01))
    answer = _compose("do widgets need oil", scored).answer
    assert answer.startswith("Yes, every widget needs oil to run.")
    # the item is what its list says, however short; the pleasantry says nothing
    assert "Oil can" in answer
    assert "Great question" not in answer


def test_bare_items_of_one_list_share_a_supporting_line() -> None:
    talk = ("# T\n\n## Oil\n\nYes, every widget needs oil to run well for years.\n\n"
            "## Kit\n\nYou will need this kit:\n\n• Oil can\n• Gear gauge\n• Rag\n\n"
            "## Care\n\nWipe the gears each week with a dry cloth.\n")
    probs = {"Yes, every widget needs oil to run well for years.": 0.9, "Oil can": 0.8,
             "Gear gauge": 0.7, "Wipe the gears each week with a dry cloth.": 0.6}
    lines = _compose("do widgets need oil", _scored(
        talk, lambda t: probs.get(t, 0.01))).answer.splitlines()
    assert lines[0] == "Yes, every widget needs oil to run well for years. [1]"
    # two names of one list on one line, each with its own citation; a sentence has its own
    assert lines[1:] == ["- Oil can [2], Gear gauge [3]",
                         "- Wipe the gears each week with a dry cloth. [4]"]


def test_a_yes_no_question_whose_best_piece_is_a_bare_name_gets_the_list() -> None:
    talk = ("# T\n\n## Kit\n\nYou will need this kit:\n\n• Oil can\n• Gear gauge\n• Rag\n\n"
            "## Care\n\nWipe the gears each week with a dry cloth.\n")
    scored = _scored(talk, lambda t: 0.9 if t == "Gear gauge" else 0.1)
    # one name is no verdict: the list shows where the gauge stands among the kit
    assert _compose("is a gear gauge enough?", scored).direct.startswith(
        "You will need this kit: [1] Oil can [2], Gear gauge [3] and Rag [4]")


def test_the_first_line_reads_within_the_best_pieces_own_item() -> None:
    talk = ("# T\n\n## Widget slip-ups\n\nHere are the slip-ups new widget makers make:\n\n"
            "1. Forgetting the oil. Dry gears grind down in a week.\n"
            "2. Winding springs too tight. Tight springs snap within a day.\n")
    probs = {"Forgetting the oil.": 0.6, "Winding springs too tight.": 0.9,
             "Tight springs snap within a day.": 0.7}
    scored = _scored(talk, lambda t: probs.get(t, 0.01))
    # the first item scores near the best, but it is another point: the best's item leads
    assert _compose("why do widget springs snap", scored).direct.startswith(
        "Winding springs too tight. [1] Tight springs snap within a day. [2]")


def test_an_item_ending_in_a_colon_is_never_quoted_alone() -> None:
    talk = ("# T\n\n## Care\n\nYes, every widget needs care to run well for years.\n\n"
            "## Kit\n\n- Tools you will use most days with:\n  - Oil can\n  - Rag\n- Gauge\n")
    probs = {"Yes, every widget needs care to run well for years.": 0.9,
             "Tools you will use most days with:": 0.8}
    answer = _compose("do widgets need care", _scored(talk, lambda t: probs.get(t, 0.01)))
    assert "Tools you will use" not in answer.answer


def test_names_of_a_nested_list_do_not_join_the_items_around_it() -> None:
    talk = ("# T\n\n## Care\n\nYes, every widget needs care to run well for years.\n\n"
            "## Kit\n\n- Oil can\n- Gauges\n  - Depth gauge\n  - Tension gauge\n- Rag\n")
    probs = {"Yes, every widget needs care to run well for years.": 0.9, "Oil can": 0.8,
             "Depth gauge": 0.7, "Tension gauge": 0.6}
    lines = _compose("do widgets need care", _scored(
        talk, lambda t: probs.get(t, 0.01))).answer.splitlines()
    assert lines[1:] == ["- Oil can [2]", "- Depth gauge [3], Tension gauge [4]"]


def test_an_either_or_question_takes_the_plain_verdict_before_the_weighing() -> None:
    talk = ("# T\n\n## Tools\n\nFor a hobby widget, usually not. While a lathe is table "
            "stakes for pro shops, most hobbyists prefer hand tools and a good file. Files "
            "are cheap.\n")
    parsed = parse_bytes(talk.encode(), "guide.md")
    scored = []
    for b in document_blocks("guide", parsed.text, parsed.sections, parsed.title):
        for i, p in enumerate(b.pieces):
            t = b.quote(p.start, p.end)
            prob = 0.9 if t.startswith("While") else 0.8 if "usually" in t else 0.2
            scored.append(Scored(b, p, i, [0.0] * len(FEATURES), 0.0, prob))
    # "or a mill?" weighs two up (a comparison), yet "usually not" answers it for both
    direct = _compose("do i need a lathe or a mill?", scored).direct
    assert direct.startswith("For a hobby widget, usually not."), direct
    # a comparison whose block gives no plain verdict opens with the weighing
    rest = [s for s in scored if "usually" not in s.text]
    assert _compose("do i need a lathe or a mill?", rest).direct.startswith("While")
