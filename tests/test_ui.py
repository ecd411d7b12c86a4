"""The chat UI without a browser: rendering helpers, the feedback file, the callbacks
(against an in-memory store holding the real corpus, embedded by FakeEmbedder), the mount."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from html import unescape
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient

from api.app import create_app
from ingest.pipeline import ingest_corpus
from rag.chat import CareerBot
from rag.feedback import FILE_NAME, FeedbackLog, latest
from rag.ratelimit import RateLimiter
from rag.services import Services
from rag.settings import Settings
from rag.store import Store
from rag.store_qdrant import QdrantStore
from tests.conftest import CORPUS, FakeEmbedder
from ui import conversations as convs
from ui import errors
from ui.app import EXAMPLES, ChatUI
from ui.feedback import vote_name
from ui.inspect import EMPTY as INSPECT_EMPTY
from ui.markdown import answer_markdown, conversation_markdown
from ui.render import (
    NOT_COVERED,
    anchor_id,
    intent_tag,
    question_from,
    render_answer,
    render_export,
    render_notice,
    render_question,
    render_sources,
    safe_url,
)

CITES: list[dict[str, Any]] = [
    {"n": 1, "doc_id": "d1", "title": "Guide <One>", "url": "https://example.org/a?x=1&y=2",
     "section": "Pay & perks", "quote": 'Entry-level roles start near "$96,000".',
     "start": 10, "end": 50, "score": 0.9},
    {"n": 2, "doc_id": "d2", "title": "Roadmap", "url": None, "section": "",
     "quote": "Salaries vary.\nA lot.", "start": 0, "end": 21, "score": 0.5},
]
ANSWER = "- Guide: Entry-level roles start near $96,000. [1]\n- Roadmap: Salaries vary. [2]"


# ------------------------------------------------------------------ rendering
def test_markers_link_to_their_passage_with_the_quote_on_hover() -> None:
    html = render_answer(ANSWER, CITES, turn=3, intent="salary")
    assert f'href="#{anchor_id(3, 1)}"' in html and 'href="#cite-3-2"' in html
    assert "&quot;$96,000&quot;" in html  # the quote, escaped, in the hover title
    assert "Guide &lt;One&gt; — Pay &amp; perks" in html
    assert html.count("<li>") == 2 and "<ul>" in html
    assert "\n" not in html  # one line: the chat's Markdown must not split the block
    assert 'class="cb-tag cb-tag-salary"' in html and "2 citations" in html


def test_unbacked_markers_are_plain_while_streaming() -> None:
    html = render_answer("Figures vary. [1]", [], turn=0, intent="salary", streaming=True)
    assert '<sup class="cb-cite">[1]</sup>' in html and "href" not in html
    assert "cb-cursor" in html and "cb-streaming" in html and "cb-done" not in html


def test_everything_from_users_and_guides_is_escaped() -> None:
    evil = '<img src=x onerror=alert(1)> <script>alert("x")</script> [1]'
    cites = [{**CITES[0], "title": "<b>T</b>", "section": "<i>S</i>", "quote": evil,
              "url": "javascript:alert(1)"}]
    for html in (render_answer(evil, cites, turn=0, intent="other"),
                 render_sources([{"question": evil, "done": True, "citations": cites,
                                  "intent": "<x>"}]),
                 render_question(evil),
                 render_notice("<b>", evil)):
        assert "<script" not in html and "<img" not in html and "<b>T" not in html
        assert "javascript:" not in html
        assert "&lt;script&gt;" in html or "&lt;b&gt;" in html


def test_safe_url() -> None:
    assert safe_url("https://blogacademy.tech/en/x/") == "https://blogacademy.tech/en/x/"
    for bad in (None, "", "javascript:alert(1)", "data:text/html,x", "//evil", "ftp://x/y"):
        assert safe_url(bad) is None


def test_abstention_looks_different_from_an_answer() -> None:
    no = render_answer("The guides don't cover this.", [], turn=0, intent="other",
                       abstained=True)
    yes = render_answer(ANSWER, CITES, turn=0, intent="salary")
    assert 'class="cb-answer cb-abstain cb-done"' in no and NOT_COVERED in no
    assert "cb-abstain" not in yes and NOT_COVERED not in yes


@pytest.mark.parametrize(("intent", "label"), [
    ("timeline", "timeline"), ("degree", "degree"), ("salary", "salary"),
    ("tooling", "tooling"), ("other", "general"), ("nonsense", "general"), (None, "general"),
])
def test_intent_tag(intent: str | None, label: str) -> None:
    assert f">{label}</span>" in intent_tag(intent)


def test_sources_panel() -> None:
    assert "appear here" in render_sources([])
    turns = [
        {"question": "What do they earn?", "done": True, "citations": CITES, "intent": "salary"},
        {"question": "down", "done": True, "error": True, "citations": []},
        {"question": "And in <NYC>?", "done": True, "citations": CITES[:1], "intent": "salary"},
    ]
    html = render_sources(turns)
    # the latest answer first and open, earlier ones folded; failed turns are left out
    latest, older = html.split("<details", 1)
    assert "And in &lt;NYC&gt;?" in latest and 'id="cite-2-1"' in latest
    assert "What do they earn?" in older and 'id="cite-0-2"' in older
    assert ">down<" not in html
    # title linked when there is a URL (escaped), plain otherwise; section; exact quote
    assert '<a href="https://example.org/a?x=1&amp;y=2" target="_blank"' in html
    assert "<span>Roadmap</span>" in html
    assert "§ Pay &amp; perks" in html
    assert "Entry-level roles start near &quot;$96,000&quot;." in html
    assert "d1 · characters 10–50" in html
    assert "\n" not in html


def test_sources_panel_for_an_abstention() -> None:
    html = render_sources([{"question": "pizza?", "done": True, "abstained": True,
                            "citations": []}])
    assert "No passage of the guides answers" in html
    html = render_sources([{"question": "Berlin?", "done": True, "abstained": True,
                            "citations": CITES[:1]}])
    assert "closest passages" in html and 'id="cite-0-1"' in html


def test_examples_cover_every_kind() -> None:
    assert {k for k, _ in EXAMPLES} == {"timeline", "degree", "salary", "tooling"}


# ------------------------------------------------------------------ feedback
@pytest.mark.parametrize(("liked", "vote"), [
    (True, "up"), (False, "down"), ("Like", "up"), ("Dislike", "down"), ("", "none"),
    ("Wrong citation", "none"), (None, "none"),
])
def test_vote_name(liked: Any, vote: str) -> None:
    assert vote_name(liked) == vote


# ------------------------------------------------------------------ callbacks
@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Store]:
    tmp = tmp_path_factory.mktemp("ui")
    corpus = tmp / "corpus"
    shutil.copytree(CORPUS, corpus)
    store = QdrantStore(QdrantClient(":memory:"), "test")
    ingest_corpus(corpus, store, FakeEmbedder(), config={"model": "fake"})
    return corpus, store


class SpyBot(CareerBot):
    def __init__(self, store: Store) -> None:
        super().__init__(store, FakeEmbedder())
        self.calls: list[dict[str, Any]] = []

    def stream(self, question: str, history: Sequence[Mapping[str, Any]] = (), *,
               top_k: int | None = None, sources: Sequence[str] | None = None
               ) -> Iterator[tuple[str, Any]]:
        self.calls.append({"question": question, "history": list(history),
                           "sources": sources})
        yield from super().stream(question, history, top_k=top_k, sources=sources)


class WithBot(Services):
    """Services that answer with a given bot (a spy, or one that fails on purpose)."""

    def __init__(self, settings: Settings, store: Store, bot: CareerBot) -> None:
        super().__init__(settings, store=store, embedder=FakeEmbedder())
        self._given = bot

    @property
    def bot(self) -> CareerBot:
        return self._given


def _ui(tmp_path: Path, store: Store | None, *, bot: CareerBot | None = None,
        embedder: Any = None, **settings: Any) -> ChatUI:
    s = Settings(data_dir=tmp_path / "data", **settings)
    if bot is not None:
        assert store is not None
        return ChatUI(WithBot(s, store, bot))
    return ChatUI(Services(s, store=store, embedder=embedder or FakeEmbedder()))


def like(ui: ChatUI, conv: dict[str, Any], index: int, liked: Any) -> None:
    """A thumb clicked on chat message `index` (an answer is message 2k+1)."""
    data = gr.LikeData(None, {"index": index, "value": "x", "liked": liked})
    ui.on_like(conv, data, None)  # type: ignore[arg-type]


def _final(ui: ChatUI, question: str, conv: dict[str, Any] | None = None,
           guides: list[str] | None = None) -> tuple[list[Any], dict[str, Any], Any]:
    steps = list(ui.ask(question, conv, guides, None))  # type: ignore[arg-type]
    assert len(steps) >= 2
    chat, _, _, box = steps[0]
    assert chat[-1]["role"] == "assistant" and "Searching the guides" in chat[-1]["content"]
    assert box == ""  # the textbox empties at once
    chat, new_conv, sources, _ = steps[-1]
    return chat, new_conv, sources


def test_ask_streams_an_answer_with_sources(tmp_path: Path,
                                            indexed: tuple[Path, Store]) -> None:
    ui = _ui(tmp_path, indexed[1])
    chat, conv, sources = _final(ui, "What does an ML engineer earn?")
    assert [m["role"] for m in chat] == ["user", "assistant"]
    turn = conv["turns"][0]
    assert turn["done"] and turn["intent"] == "salary" and turn["citations"]
    assert turn["answer"] and "[1]" in turn["answer"]
    assert 'href="#cite-0-1"' in chat[1]["content"]
    first = turn["citations"][0]
    assert 'id="cite-0-1"' in sources and first["quote"][:40].replace("'", "&#x27;") in sources


def test_followup_sends_earlier_questions_and_clear_resets(
        tmp_path: Path, indexed: tuple[Path, Store]) -> None:
    bot = SpyBot(indexed[1])
    ui = _ui(tmp_path, indexed[1], bot=bot)
    _, conv, _ = _final(ui, "What does an ML engineer earn?")
    chat, conv, sources = _final(ui, "And in San Francisco?", conv)
    turns = conv["turns"]
    assert len(chat) == 4 and len(turns) == 2
    assert bot.calls[1]["history"] == [{"role": "user",
                                        "content": "What does an ML engineer earn?"}]
    assert turns[1]["intent"] == "salary"  # the kind carries over to the follow-up
    assert 'href="#cite-1-1"' in chat[3]["content"] and "<details" in sources
    conv, chat, sources, title, export, _ = ui.new_chat(None)
    assert chat == [] and conv["turns"] == [] and "appear here" in sources and title == ""
    _final(ui, "How long does it take?", conv)
    assert bot.calls[-1]["history"] == []


def test_guide_filter(tmp_path: Path, indexed: tuple[Path, Store]) -> None:
    bot = SpyBot(indexed[1])
    ui = _ui(tmp_path, indexed[1], bot=bot)
    ids = [doc_id for _, doc_id in ui.guide_choices()]
    assert len(ids) == 4
    _, conv, _ = _final(ui, "Which tools should I learn?", guides=ids[2:3])
    assert bot.calls[-1]["sources"] == ids[2:3]
    assert {c["doc_id"] for c in conv["turns"][0]["citations"]} <= set(ids[2:3])
    for everything in ([], None, ids, ["gone"]):
        _final(ui, "Which tools should I learn?", guides=everything)
        assert bot.calls[-1]["sources"] is None


def test_the_ui_answers_with_the_services_one_bot(
        tmp_path: Path, indexed: tuple[Path, Store]) -> None:
    ui = _ui(tmp_path, indexed[1])
    _final(ui, "Do I need a degree?")
    bot = ui.services.bot
    _final(ui, "Do I need a degree?")
    assert ui.services.bot is bot and bot._docs is not None  # built once, caches kept


def test_abstention_in_the_chat(tmp_path: Path, indexed: tuple[Path, Store]) -> None:
    class Abstaining(CareerBot):
        def stream(self, question: str, history: Sequence[Mapping[str, Any]] = (), *,
                   top_k: int | None = None, sources: Sequence[str] | None = None
                   ) -> Iterator[tuple[str, Any]]:
            text = "The guides don't cover this."
            yield "meta", {"intent": "other"}
            yield "delta", text
            yield "citations", []
            yield "done", {"answer": text, "citations": [], "intent": "other",
                           "abstained": True, "timings_ms": {"total": 3.0}, "flags": []}

    ui = _ui(tmp_path, indexed[1], bot=Abstaining(indexed[1], FakeEmbedder()))
    chat, conv, sources = _final(ui, "Best pizza in Naples?")
    assert "cb-abstain" in chat[1]["content"] and NOT_COVERED in chat[1]["content"]
    assert conv["turns"][0]["abstained"] and "No passage" in sources


class Loading(FakeEmbedder):
    loaded = False


@pytest.mark.parametrize(("case", "title"), [
    ("model loading", errors.STARTING.title),
    ("model failed", errors.INTERNAL.title),
    ("store held by another process", errors.STORE_DOWN.title),
    ("server unreachable", errors.STORE_DOWN.title),
    ("empty index", errors.EMPTY_INDEX.title),
])
def test_not_ready_is_a_friendly_note(tmp_path: Path, indexed: tuple[Path, Store],
                                      case: str, title: str) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    holder = Store.open(settings) if case == "store held by another process" else None
    try:
        if case == "model loading":
            ui = _ui(tmp_path, indexed[1], embedder=Loading())
        elif case == "model failed":
            ui = _ui(tmp_path, indexed[1])
            ui.services.model_error = "OSError: no weights"
        elif case == "empty index":
            ui = _ui(tmp_path, QdrantStore(QdrantClient(":memory:"), "empty"))
        elif case == "server unreachable":
            ui = _ui(tmp_path, None, qdrant_url="http://127.0.0.1:9", qdrant_timeout=1)
        else:
            ui = _ui(tmp_path, None)  # the services open the store, which another holds
        chat, conv, _ = _final(ui, "How long does it take?")
    finally:
        if holder is not None:
            holder.close()
    assert title in chat[1]["content"] and 'role="alert"' in chat[1]["content"]
    assert conv["turns"][0]["error"]


@pytest.mark.parametrize(("exc", "title"), [
    (ConnectionRefusedError("connection refused"), errors.STORE_DOWN.title),
    (type("RateLimitError", (Exception,), {})("slow down"), "Too many questions"),
    (ZeroDivisionError("secret detail"), errors.INTERNAL.title),
])
def test_errors_while_answering_are_friendly(
        tmp_path: Path, indexed: tuple[Path, Store], monkeypatch: pytest.MonkeyPatch,
        exc: Exception, title: str) -> None:
    bot = CareerBot(indexed[1], FakeEmbedder())

    def broken(*_: Any, **__: Any) -> Any:
        raise exc

    monkeypatch.setattr(bot.retriever, "search_prepared", broken)
    ui = _ui(tmp_path, indexed[1], bot=bot)
    chat, conv, _ = _final(ui, "How long does it take?")
    html = chat[1]["content"]
    assert title in html
    assert "Traceback" not in html and "secret" not in html and "refused" not in html
    # the failed turn is not sent as context with the next question, nor rated
    assert conv["turns"][0]["error"]
    like(ui, conv, 1, False)
    assert not (tmp_path / "data" / FILE_NAME).exists()


def test_rate_limit(tmp_path: Path, indexed: tuple[Path, Store]) -> None:
    ui = _ui(tmp_path, indexed[1], rate_limit_per_minute=2)
    conv: dict[str, Any] | None = None
    for _ in range(2):
        _, conv, _ = _final(ui, "How long does it take?", conv)
        assert not conv["turns"][-1]["error"]
    chat, conv, _ = _final(ui, "How long does it take?", conv)
    assert "Too many questions" in chat[-1]["content"] and "seconds" in chat[-1]["content"]


def test_rate_limiter() -> None:
    lim = RateLimiter(2)
    assert lim.hit("a") is None and lim.hit("a") is None
    wait = lim.hit("a")
    assert wait is not None and 0 < wait <= 60
    assert lim.hit("b") is None  # per client
    assert all(RateLimiter(0).hit("a") is None for _ in range(5))  # 0: off


def test_empty_question_changes_nothing(tmp_path: Path) -> None:
    ui = _ui(tmp_path, None)
    steps = list(ui.ask("   ", None, None, None))  # type: ignore[arg-type]
    assert len(steps) == 1 and all(isinstance(v, type(gr.skip())) for v in steps[0])


def test_like_writes_question_history_answer_citations_and_ranks(
        tmp_path: Path, indexed: tuple[Path, Store]) -> None:
    ui = _ui(tmp_path, indexed[1])
    _, conv, _ = _final(ui, "What does an ML engineer earn?")
    _, conv, _ = _final(ui, "And in San Francisco?", conv)
    turns = conv["turns"]
    like(ui, conv, 3, True)
    like(ui, conv, 1, False)
    like(ui, conv, 99, True)
    rows = FeedbackLog(tmp_path / "data" / FILE_NAME).read()
    assert [(r["vote"], r["question"], r["channel"]) for r in rows] == [
        ("up", "And in San Francisco?", "ui"), ("down", "What does an ML engineer earn?", "ui")]
    assert rows[0]["answer"] == turns[1]["answer"]
    assert rows[0]["citations"] == turns[1]["citations"]
    assert rows[0]["history"] == [
        {"role": "user", "content": "What does an ML engineer earn?"},
        {"role": "assistant", "content": turns[0]["answer"]}]
    ranks = rows[0]["retrieval"]
    assert ranks["results"] and ranks["results"][0]["rank"] == 1
    assert {"dense_rank", "sparse_rank", "pieces_rank"} <= set(ranks["results"][0])
    assert [c["n"] for c in ranks["cited"]] == [c["n"] for c in turns[1]["citations"]]
    # clicking the thumb again takes the vote back: a new line, and it no longer counts
    like(ui, conv, 3, "")
    rows = FeedbackLog(tmp_path / "data" / FILE_NAME).read()
    assert rows[-1]["vote"] == "none" and rows[-1]["ref"] == rows[0]["ref"]
    assert [r["question"] for r in latest(rows)] == ["What does an ML engineer earn?"]


def test_example_click_asks_it(tmp_path: Path, indexed: tuple[Path, Store]) -> None:
    bot = SpyBot(indexed[1])
    ui = _ui(tmp_path, indexed[1], bot=bot)
    evt = gr.SelectData(None, {"index": 4, "value": {"text": EXAMPLES[4][1]}})
    steps = list(ui.ask_example(None, None, evt, None))  # type: ignore[arg-type]
    assert bot.calls[0]["question"] == EXAMPLES[4][1] and steps[-1][1]["turns"][0]["done"]


# ------------------------------------------------------------------ mount
def test_mounted_at_root_after_the_api(indexed: tuple[Path, Store], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=indexed[0], collection="test")
    app = create_app(settings, store=indexed[1], embedder=FakeEmbedder())
    with TestClient(app) as c:
        page = c.get("/")
        assert page.status_code == 200 and '"title":"careerbot"' in page.text
        config = c.get("/config").json()
        assert config["analytics_enabled"] is False
        assert config.get("share_url") in (None, "")
        # API routes still win, and API misses keep the API's error body
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").status_code == 200
        assert set(c.get("/nope").json()) == {"error"}
        r = c.get("/v1/search")
        assert r.status_code == 405 and set(r.json()) == {"error"}
        # the UI answers from the services the API serves from: one store, one bot
        ui = app.state.careerbot_ui
        assert ui.services is app.state.services
        assert len(ui.guide_choices()) == 4


def test_one_address_has_one_budget_across_ui_and_api(
        indexed: tuple[Path, Store], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=indexed[0], collection="test",
                        rate_limit_per_minute=3)
    app = create_app(settings, store=indexed[1], embedder=FakeEmbedder())
    ui: ChatUI = app.state.careerbot_ui

    def ui_chat(host: str) -> str:
        steps = list(ui.ask("How long does it take?", None, None,
                            gr.Request(client={"host": host})))
        return str(steps[-1][0][-1]["content"])

    with TestClient(app, client=("10.1.2.3", 50000)) as c:
        assert c.post("/v1/chat", json={"message": "Do I need a degree?"}).status_code == 200
        assert "Too many questions" not in ui_chat("10.1.2.3")
        assert c.post("/v1/chat", json={"message": "Do I need a degree?"}).status_code == 200
        # three used, one way or the other: both interfaces refuse this address now
        assert "Too many questions" in ui_chat("10.1.2.3")
        r = c.post("/v1/chat", json={"message": "Do I need a degree?"})
        assert r.status_code == 429 and r.headers["retry-after"]
        assert "Too many questions" not in ui_chat("10.9.9.9")  # another address


# ------------------------------------------------------------------ conversations
def test_saved_conversations_newest_first_with_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    store = convs.empty_store()
    a = {**convs.new_conversation(), "turns": [{"question": "First one?", "done": True,
                                                "html": "<p>not saved</p>"}]}
    store, a = convs.save(store, a)
    assert a["id"] and a["created"] and convs.title_of(a) == "First one?"
    assert store["conversations"][0]["turns"] == [{"question": "First one?", "done": True}]
    b = {**convs.new_conversation(), "turns": [{"question": "x" * 100, "done": True}]}
    store, b = convs.save(store, b)
    assert [c for _, c in convs.choices(store)] == [b["id"], a["id"]]
    assert convs.choices(store)[0][0].endswith("…") and len(convs.choices(store)[0][0]) == 60
    store, a = convs.save(store, a)  # a follow-up in a: it moves to the top, same id
    assert [c for _, c in convs.choices(store)] == [a["id"], b["id"]]
    store, a = convs.rename(store, a, "  My   title ")
    assert convs.title_of(convs.find(store, a["id"]) or {}) == "My title"
    store, a = convs.rename(store, a, "")
    assert convs.title_of(convs.find(store, a["id"]) or {}) == "First one?"
    store = convs.delete(store, a["id"])
    assert [c for _, c in convs.choices(store)] == [b["id"]]
    # an empty conversation is not saved; an unreadable store counts as empty
    assert convs.save(store, convs.new_conversation())[0] == store
    for junk in (None, "x", {"version": 99}, {"version": 1, "conversations": [{"id": 3}]}):
        assert convs.read_store(junk) == convs.empty_store()


def test_saved_conversations_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    store: Any = convs.empty_store()
    for i in range(convs.MAX_CONVERSATIONS + 5):
        conv = {**convs.new_conversation(), "turns": [{"question": f"q{i}", "done": True}]}
        store, _ = convs.save(store, conv)
    assert len(store["conversations"]) == convs.MAX_CONVERSATIONS
    assert convs.title_of(store["conversations"][-1]) == "q5"  # the oldest went first
    monkeypatch.setattr(convs, "MAX_STORE_CHARS", 3000)
    long = {**convs.new_conversation(),
            "turns": [{"question": f"t{i}", "answer": "a" * 400, "done": True}
                      for i in range(20)]}
    store, long = convs.save(store, long)
    assert [c["id"] for c in store["conversations"]] == [long["id"]]  # the open one stays
    kept = store["conversations"][0]["turns"]
    assert 1 <= len(kept) < 20 and kept[-1]["question"] == "t19"  # its latest turns
    assert len(json.dumps(store)) <= 3000


def test_the_ui_saves_opens_renames_and_deletes(tmp_path: Path,
                                                indexed: tuple[Path, Store]) -> None:
    ui = _ui(tmp_path, indexed[1])
    _, conv, _ = _final(ui, "Is Kaggle worth my time?")
    conv, store, history, title, export = ui.save(conv, None)
    assert conv["id"] and title == "Is Kaggle worth my time?"
    assert history.choices == [(title, conv["id"])] and history.value == conv["id"]
    assert 'download="careerbot-is-kaggle-worth-my-time.md"' in export
    # a second conversation, then the first opened again and continued
    conv2, chat, sources, title2, _, _ = ui.new_chat(store)
    assert chat == [] and title2 == "" and "appear here" in sources
    _, conv2, _ = _final(ui, "Which statistics topics matter most?", conv2)
    conv2, store, history, _, _ = ui.save(conv2, store)
    assert [c for _, c in history.choices] == [conv2["id"], conv["id"]]
    opened, chat, sources, title, _, _ = ui.open(conv["id"], store)
    assert opened["id"] == conv["id"] and len(chat) == 2 and 'id="cite-0-1"' in sources
    _, opened, _ = _final(ui, "And for a beginner?", opened)
    opened, store, history, _, _ = ui.save(opened, store)
    assert len(opened["turns"]) == 2 and history.choices[0][1] == conv["id"]
    # rename, then delete: a new chat opens
    opened, store, history, title, _ = ui.rename("Kaggle", opened, store)
    assert title == "Kaggle" and history.choices[0] == ("Kaggle", conv["id"])
    store, fresh, chat, _, _, _, history = ui.delete(opened, store)
    assert fresh["turns"] == [] and chat == []
    assert [c for _, c in history.choices] == [conv2["id"]]
    # a reload: the latest conversation is open again
    restored, chat, _, title, _, history = ui.restore(store)
    assert restored["id"] == conv2["id"] and len(chat) == 2 and history.value == conv2["id"]


def test_a_turn_saved_unanswered_reopens_as_a_note(tmp_path: Path) -> None:
    ui = _ui(tmp_path, None)
    store, conv = convs.save(None, {**convs.new_conversation(),
                                    "turns": [{"question": "cut off?", "done": False}]})
    opened, chat, *_ = ui.open(conv["id"], store)
    assert opened["turns"][0]["error"] and "interrupted" in chat[1]["content"]


def test_retry_answers_the_last_question_again(tmp_path: Path,
                                               indexed: tuple[Path, Store]) -> None:
    bot = SpyBot(indexed[1])
    ui = _ui(tmp_path, indexed[1], bot=bot)
    _, conv, _ = _final(ui, "What does an ML engineer earn?")
    _, conv, _ = _final(ui, "And in San Francisco?", conv)
    steps = list(ui.retry(conv, None, gr.RetryData(None, {"index": 2, "value": "x"}), None))  # type: ignore[arg-type]
    chat, again, _, _ = steps[-1]
    assert len(again["turns"]) == 2 and again["turns"][1]["done"] and len(chat) == 4
    assert bot.calls[-1]["question"] == "And in San Francisco?"
    assert bot.calls[-1]["history"] == bot.calls[1]["history"]  # the same context as before


def test_edit_asks_the_changed_question_and_drops_what_followed(
        tmp_path: Path, indexed: tuple[Path, Store]) -> None:
    bot = SpyBot(indexed[1])
    ui = _ui(tmp_path, indexed[1], bot=bot)
    _, conv, _ = _final(ui, "What does an ML engineer earn?")
    _, conv, _ = _final(ui, "And in San Francisco?", conv)
    edit = gr.EditData(None, {"index": 2, "value": "And in Berlin &amp; Munich?",
                              "previous_value": "And in San Francisco?"})
    chat, edited, _, _ = list(ui.edit(conv, None, edit, None))[-1]  # type: ignore[arg-type]
    assert [t["question"] for t in edited["turns"]] == [
        "What does an ML engineer earn?", "And in Berlin & Munich?"]
    assert bot.calls[-1]["history"] == [{"role": "user",
                                         "content": "What does an ML engineer earn?"}]
    # the first question edited: the follow-up goes with it
    edit = gr.EditData(None, {"index": 0, "value": "Do I need a degree?", "previous_value": ""})
    _, edited, _, _ = list(ui.edit(edited, None, edit, None))[-1]  # type: ignore[arg-type]
    assert [t["question"] for t in edited["turns"]] == ["Do I need a degree?"]
    # an emptied question asks nothing: the chat shows the conversation as it was
    edit = gr.EditData(None, {"index": 0, "value": "  ", "previous_value": ""})
    (chat, *rest), = list(ui.edit(edited, None, edit, None))  # type: ignore[arg-type]
    assert len(chat) == 2 and all(isinstance(v, type(gr.skip())) for v in rest)


def test_questions_are_shown_as_typed_and_edited_back() -> None:
    typed = "Is <b>C++</b> & Rust needed?"
    shown = render_question(typed)
    assert "<b>" not in shown and "&lt;b&gt;" in shown and question_from(shown) == typed


def test_copy_gives_the_answer_and_its_numbered_sources() -> None:
    turn = {"question": "Pay?", "answer": ANSWER, "citations": CITES, "intent": "salary",
            "done": True}
    md = answer_markdown(turn)
    assert md.startswith(ANSWER + "\n\nSources:\n\n1. [Guide \\<One\\>](https://example.org/a?x=1&y=2)")
    assert '   > Entry-level roles start near "$96,000".' in md
    assert "`d1`, characters 10–50" in md and "2. **Roadmap** (`d2`, characters 0–21)" in md
    assert "   > Salaries vary.\n   > A lot." in md  # a quote keeps its lines
    html = render_answer(ANSWER, CITES, turn=0, intent="salary", markdown=md)
    assert '<button type="button" class="cb-copy"' in html and "\n" not in html
    hidden = html.split('<div class="cb-md" hidden>')[1].split("</div>")[0]
    assert unescape(hidden) == md  # what the button copies, character for character
    no = answer_markdown({"answer": "The guides don't cover this.", "abstained": True})
    assert no.startswith(f"*{NOT_COVERED}.*") and "Sources" not in no


def test_export_holds_every_citation(tmp_path: Path) -> None:
    conv = {"id": "c1", "title": "", "turns": [
        {"question": "Pay?", "answer": ANSWER, "citations": CITES, "done": True},
        {"question": "Store down?", "answer": "unreachable", "error": True, "done": True},
    ]}
    md = conversation_markdown(conv, "Pay?")
    assert md.startswith("# Pay?\n") and "## 1. Pay?" in md and "## 2. Store down?" in md
    for c in CITES:
        assert f"`{c['doc_id']}`, characters {c['start']}–{c['end']}" in md
    assert "https://example.org/a?x=1&y=2" in md and "§" not in md
    assert "— Pay & perks" in md and "*(no answer: unreachable)*" in md
    link = render_export(md, "chat.md")
    data = link.split("base64,")[1].split('"')[0]
    assert base64.b64decode(data).decode() == md and 'download="chat.md"' in link
    assert "cb-export-off" in render_export(None)


def test_inspect_shows_three_lists(tmp_path: Path, indexed: tuple[Path, Store]) -> None:
    ui = _ui(tmp_path, indexed[1], rate_limit_per_minute=3)
    html = ui.inspect("Docker and Kubernetes skills", 3, None, None)  # type: ignore[arg-type]
    assert html.count('class="cb-ins-col"') == 3 and html.count('class="cb-ins-hit"') == 9
    assert "<mark>Docker</mark>" in html or "<mark>docker</mark>" in html
    assert "dense #" in html and "sparse #" in html and "fused #" in html
    one = [doc_id for _, doc_id in ui.guide_choices()][1]
    html = ui.inspect("Docker and Kubernetes skills", 3, [one], None)  # type: ignore[arg-type]
    assert html.count(f"{one} · characters") == 9  # the guide filter applies
    assert ui.inspect("   ", 3, None, None) == INSPECT_EMPTY  # type: ignore[arg-type]
    ui.inspect("x", 3, None, None)  # type: ignore[arg-type]
    assert "Too many questions" in ui.inspect("Docker", 3, None, None)  # type: ignore[arg-type]


def test_votes_count_against_the_rate_budget(tmp_path: Path,
                                             indexed: tuple[Path, Store]) -> None:
    ui = _ui(tmp_path, indexed[1], rate_limit_per_minute=2)
    _, conv, _ = _final(ui, "Is Kaggle worth my time?")
    like(ui, conv, 1, True)  # the second of two
    like(ui, conv, 1, False)  # over the budget: not stored (the user is told)
    rows = FeedbackLog(tmp_path / "data" / FILE_NAME).read()
    assert [r["vote"] for r in rows] == ["up"]
