"""The Gradio chat, mounted at "/" of the API's FastAPI app: `mount_ui(app, services)`.

Two tabs: Chat, and Inspect (one query searched hybrid, dense and sparse, side by side;
ui.inspect). A sidebar lists the conversations saved in this browser.

The open conversation lives in a per-session `gr.State`: `{"id", "title", "turns"}`, each
turn the data of one question and its answer (question, answer, citations, kind...). The
chat window and the sources panel are rendered from it, so chat message 2k+1 is always
the answer of turn k (which is how a vote, a retry or an edit finds its turn). After each
answer it is saved in the browser (`gr.BrowserState`, ui.conversations): the server keeps
nothing of a chat unless the user votes (rag.feedback).

Gradio's own Chatbot events do the work: `like` (thumbs), `retry` (the last answer
again), `edit` (a question changed and asked again; the turns after it are dropped),
`example_select`, `clear` (a new chat). Enter sends and Shift+Enter adds a line: that is
Gradio's Textbox. The one thing Gradio has no means for is the Copy button: its own
copies a message's raw content, here HTML, whereas Copy must give the answer and its
numbered sources as Markdown; a few lines of script do it (ui.style).

Callbacks run in Gradio's worker threads (plain generators) and answer from the process's
`Services` (rag.services), the same store, model and bot the API serves from; the UI
never sees the FastAPI app it is mounted on beyond the mount itself.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import gradio as gr
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.access import AdminRule
from rag.explain import compare_modes
from rag.feedback import record_vote
from rag.ratelimit import address_key
from rag.services import Services
from ui import conversations as convs
from ui import errors
from ui.errors import Problem
from ui.feedback import vote_name, vote_ref
from ui.guides import GuideAdmin, GuidesTab, build_tab
from ui.inspect import EMPTY as INSPECT_EMPTY
from ui.inspect import render_inspect
from ui.markdown import answer_markdown, conversation_markdown
from ui.render import (
    question_from,
    render_answer,
    render_export,
    render_notice,
    render_pending,
    render_question,
    render_sources,
)
from ui.style import CSS, HEAD

log = logging.getLogger("careerbot.ui")

MAX_QUESTION_CHARS = 2000  # as the API's /v1/search

# One or two per question kind, phrased as a first-time user would ask.
EXAMPLES: list[tuple[str, str]] = [
    ("timeline", "How long does it take to become an ML engineer?"),
    ("timeline", "How long does it take if I study part-time?"),
    ("degree", "Do I need a master's degree or a PhD?"),
    ("degree", "Can I become an ML engineer without a degree?"),
    ("salary", "What's the starting pay for a junior ML engineer?"),
    ("salary", "How much do ML engineers make in New York?"),
    ("tooling", "Which tools and libraries should I learn first?"),
    ("tooling", "Which MLOps tools should I know?"),
]

HEADER = """<div id="cb-header"><h1>careerbot</h1>
<p>Questions about becoming a machine learning engineer, answered from a small set of
guides, with the exact passages the answer comes from.</p></div>"""

FOOTER = """<div id="cb-footer">Answers quote the indexed guides only. Conversations are
kept in this browser; a vote is stored on the server for evaluation. &middot;
<a href="/docs">API docs (/docs)</a> &middot; <a href="/v1/sources">indexed guides</a></div>"""

SIDEBAR_NOTE = ("Saved in this browser only (the newest 50), until you delete them or "
                "clear the site's data.")

PLACEHOLDER = """**Ask about becoming an ML engineer**

How long it takes, which degree you need, what it pays, which tools to learn.
Every answer quotes the guides it comes from. Try one of these:"""

INTERRUPTED = Problem("No answer", "This question was interrupted before it was answered. "
                      "Ask it again.", "info")

Turn = dict[str, Any]
Conversation = dict[str, Any]


def _turn_html(t: Mapping[str, Any], k: int) -> str:
    if t.get("error"):
        p = t.get("problem") or {}
        return render_notice(str(p.get("title") or errors.INTERNAL.title),
                             str(p.get("message") or t.get("answer") or ""),
                             str(p.get("kind") or "error"))
    if not t.get("done"):
        if t.get("answer"):
            return render_answer(t["answer"], turn=k, intent=t.get("intent"), streaming=True)
        return render_pending()
    seconds = t.get("seconds")
    return render_answer(
        t.get("answer", ""), t.get("citations") or [], turn=k, intent=t.get("intent"),
        abstained=bool(t.get("abstained")),
        seconds=seconds if isinstance(seconds, int | float) else None,
        markdown=answer_markdown(t))


def _messages(turns: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for k, t in enumerate(turns):
        out.append({"role": "user", "content": render_question(t["question"])})
        out.append({"role": "assistant", "content": _turn_html(t, k)})
    return out


def _conversation(value: Any) -> Conversation:
    """A copy of the session's conversation (never the state's own object)."""
    if not isinstance(value, Mapping):
        return convs.new_conversation()
    return {**value, "turns": [dict(t) for t in value.get("turns") or []]}


def _opened(conv: Mapping[str, Any] | None) -> Conversation:
    """A saved conversation made ready to continue: a turn saved before it was answered
    (a reload mid-answer) becomes a note."""
    out = _conversation(conv)
    for t in out["turns"]:
        if not t.get("done"):
            t.update(done=True, error=True, answer=INTERRUPTED.message,
                     problem=INTERRUPTED.__dict__)
    return out


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or "chat"


def _export(conv: Mapping[str, Any]) -> str:
    if not conv.get("turns"):
        return render_export(None)
    title = convs.title_of(conv)
    return render_export(conversation_markdown(conv, title), f"careerbot-{_slug(title)}.md")


def _history(store: convs.Store, selected: str | None) -> Any:
    return gr.Radio(choices=convs.choices(store), value=selected)


def _client_key(request: gr.Request | None) -> str:
    """The client's budget key: its address, spelled as the API spells it, so one address
    has one budget across the UI and the API."""
    host = getattr(getattr(request, "client", None), "host", None)
    if host:
        return address_key(str(host))
    return f"session:{getattr(request, 'session_hash', None) or 'local'}"


def _message_index(index: Any) -> int:
    return int(index[0] if isinstance(index, list | tuple) else index)


class ChatUI:
    """The callbacks, with what they share: the process's services (store, model, bot,
    rate limiter, feedback log)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings

    def problem(self) -> Problem | None:
        """Why a question cannot be answered now, or None."""
        try:
            failure = self.services.problem()
        except Exception as e:
            log.warning("ui: store check failed: %s", e)
            return errors.classify(e)
        if failure is not None and failure.kind == "store_down":
            log.warning("ui: %s", failure.detail)
        elif failure is not None and failure.kind == "model_failed":
            log.error("ui: %s", failure.detail)
        return errors.problem_for(failure) if failure is not None else None

    def guide_choices(self) -> list[tuple[str, str]]:
        try:
            store = self.services.current_store()
            if store is None:
                return []
            docs = store.list_docs()
        except Exception as e:
            log.warning("ui: cannot list guides: %s", e)
            return []
        return [(str(d.get("title") or d["doc_id"]), str(d["doc_id"])) for d in docs]

    # ------------------------------------------------------------ asking
    def load_guides(self) -> Any:
        choices = self.guide_choices()
        info = ("None ticked: every guide is searched." if choices
                else "The guide list is not available yet; every guide is searched.")
        return gr.CheckboxGroup(choices=choices, value=[], info=info)

    def ask(
        self, question: str, conv: Any, guides: list[str] | None, request: gr.Request,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """Stream one answer: (chat, conversation, sources panel, textbox) after each step."""
        question = (question or "").strip()
        conv = _conversation(conv)
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        question = question[:MAX_QUESTION_CHARS]
        turns: list[Turn] = conv["turns"]
        history = [{"role": "user", "content": t["question"]} for t in turns
                   if not t.get("error")]
        turn: Turn = {"question": question, "answer": "", "citations": [], "intent": None,
                      "abstained": False, "sources": None, "done": False, "error": False}
        turns.append(turn)
        yield _messages(turns), conv, gr.skip(), ""

        def fail(p: Problem) -> tuple[Any, Any, Any, Any]:
            turn.update(error=True, done=True, answer=p.message, problem=p.__dict__)
            return _messages(turns), conv, gr.skip(), ""

        wait = self.services.limiter.hit(_client_key(request))
        if wait is not None:
            yield fail(errors.rate_limited(wait))
            return
        problem = self.problem()
        if problem is not None:
            yield fail(problem)
            return
        sources = self._sources(guides)
        turn["sources"] = sources
        last = 0.0
        try:
            for kind, value in self.services.bot.stream(question, history, sources=sources):
                if kind == "meta":
                    turn["intent"] = value.get("intent")
                elif kind == "delta":
                    turn["answer"] += value
                    now = time.monotonic()
                    if now - last >= 0.05:  # at most ~20 repaints a second
                        last = now
                        yield _messages(turns), conv, gr.skip(), ""
                elif kind == "citations":
                    turn["citations"] = value
                elif kind == "done":
                    self._finish(turn, value)
        except Exception as e:
            log.exception("ui: answering failed")
            yield fail(errors.classify(e))
            return
        if not turn["done"]:  # a stream without its "done" event
            yield fail(errors.INTERNAL)
            return
        yield _messages(turns), conv, render_sources(turns), ""

    @staticmethod
    def _finish(turn: Turn, result: Mapping[str, Any]) -> None:
        seconds = (result.get("timings_ms") or {}).get("total")
        turn.update(
            answer=result.get("answer", ""), citations=list(result.get("citations") or []),
            intent=result.get("intent"), abstained=bool(result.get("abstained")),
            flags=list(result.get("flags") or []), done=True,
            seconds=seconds / 1000 if isinstance(seconds, int | float) else None,
        )

    def _sources(self, guides: Sequence[str] | None) -> list[str] | None:
        """The ticked guides that are indexed; None (all guides) when none is ticked."""
        if not guides:
            return None
        known = {doc_id for _, doc_id in self.guide_choices()}
        chosen = [g for g in guides if g in known]
        if not chosen or set(chosen) == known:
            return None
        return chosen

    def ask_example(
        self, conv: Any, guides: list[str] | None, evt: gr.SelectData, request: gr.Request,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        value = evt.value
        text = value.get("text", "") if isinstance(value, dict) else str(value or "")
        yield from self.ask(text, conv, guides, request)

    def retry(
        self, conv: Any, guides: list[str] | None, evt: gr.RetryData, request: gr.Request,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """The last question asked again, its answer replaced."""
        conv = _conversation(conv)
        k = min(_message_index(evt.index) // 2, len(conv["turns"]) - 1)
        if k < 0:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        question = conv["turns"][k]["question"]
        conv["turns"] = conv["turns"][:k]
        yield from self.ask(question, conv, guides, request)

    def edit(
        self, conv: Any, guides: list[str] | None, evt: gr.EditData, request: gr.Request,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """An edited question asked again; the turns after it are dropped."""
        conv = _conversation(conv)
        k = _message_index(evt.index) // 2
        value = evt.value
        if isinstance(value, list):  # a multimodal message's parts
            value = " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p)
                             for p in value)
        question = question_from(value).strip()
        if not question or not 0 <= k < len(conv["turns"]):
            # nothing to ask: the chat shows the conversation as it was
            yield _messages(conv["turns"]), gr.skip(), gr.skip(), gr.skip()
            return
        conv["turns"] = conv["turns"][:k]
        yield from self.ask(question, conv, guides, request)

    # ------------------------------------------------------------ votes
    def on_like(self, conv: Any, data: gr.LikeData, request: gr.Request) -> None:
        conv = _conversation(conv)
        turns = conv["turns"]
        k = _message_index(data.index) // 2
        if not 0 <= k < len(turns) or not turns[k].get("done") or turns[k].get("error"):
            return  # nothing to rate: still answering, or a problem note
        # A vote costs a search (its ranks are kept): it counts against the client's budget.
        if (wait := self.services.limiter.hit(_client_key(request))) is not None:
            gr.Warning(errors.rate_limited(wait).message)
            return
        turn = turns[k]
        history: list[dict[str, str]] = []
        for t in turns[:k]:
            if not t.get("error"):
                history += [{"role": "user", "content": t["question"]},
                            {"role": "assistant", "content": t.get("answer", "")}]
        vote = vote_name(data.liked)
        try:
            record_vote(self.services, vote, turn["question"], turn.get("answer", ""),
                        channel="ui", history=history, citations=turn.get("citations") or [],
                        ref=vote_ref(conv, k, turn.get("answer", "")),
                        intent=turn.get("intent"), abstained=bool(turn.get("abstained")),
                        sources=turn.get("sources"))
        except OSError as e:
            log.error("ui: cannot store feedback: %s", e)
            gr.Warning("Your vote could not be saved (the server could not write it).")
            return
        if vote != "none":
            gr.Info("Thanks! Your feedback was saved.", duration=3)

    # ------------------------------------------------------------ conversations
    def save(self, conv: Any, store: Any) -> tuple[Any, Any, Any, Any, Any]:
        """After an answer: the conversation into the browser's store.
        Returns (conversation, store, sidebar list, title, export link)."""
        conv = _conversation(conv)
        if not conv["turns"]:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        st, conv = convs.save(store, conv)
        return conv, st, _history(st, conv["id"]), convs.title_of(conv), _export(conv)

    def restore(self, store: Any) -> tuple[Any, ...]:
        """On page load: the saved conversations listed, the latest one open."""
        st = convs.read_store(store)
        latest = st["conversations"][0] if st["conversations"] else None
        return self._show(_opened(latest), st)

    def open(self, conv_id: str | None, store: Any) -> tuple[Any, ...]:
        st = convs.read_store(store)
        return self._show(_opened(convs.find(st, conv_id)), st)

    def _show(self, conv: Conversation, st: convs.Store) -> tuple[Any, ...]:
        """(conversation, chat, sources panel, title, export link, sidebar list)."""
        title = convs.title_of(conv) if conv["turns"] else ""
        return (conv, _messages(conv["turns"]), render_sources(conv["turns"]), title,
                _export(conv), _history(st, conv.get("id")))

    def new_chat(self, store: Any) -> tuple[Any, ...]:
        return self._show(convs.new_conversation(), convs.read_store(store))

    def rename(self, title: str, conv: Any, store: Any) -> tuple[Any, Any, Any, Any, Any]:
        conv = _conversation(conv)
        st, conv = convs.rename(store, conv, title)
        return conv, st, _history(st, conv.get("id")), convs.title_of(conv), _export(conv)

    def delete(self, conv: Any, store: Any) -> tuple[Any, ...]:
        """The open conversation deleted from the browser; a new chat opens."""
        st = convs.delete(store, _conversation(conv).get("id"))
        return (st, *self._show(convs.new_conversation(), st))

    # ------------------------------------------------------------ inspect
    def inspect(self, query: str, top_k: float, guides: list[str] | None,
                request: gr.Request) -> str:
        query = (query or "").strip()[:MAX_QUESTION_CHARS]
        if not query:
            return INSPECT_EMPTY
        wait = self.services.limiter.hit(_client_key(request))
        problem = errors.rate_limited(wait) if wait is not None else self.problem()
        if problem is not None:
            return render_notice(problem.title, problem.message, problem.kind)
        try:
            found = compare_modes(self.services.retriever, query,
                                  top_k=max(1, min(20, int(top_k or 5))),
                                  sources=self._sources(guides))
        except Exception as e:
            log.exception("ui: inspect failed")
            p = errors.classify(e)
            return render_notice(p.title, p.message, p.kind)
        return render_inspect(found)


def build_blocks(ui: ChatUI, guides_tab: GuidesTab | None = None) -> gr.Blocks:
    with gr.Blocks(title="careerbot", analytics_enabled=False) as demo:
        conv = gr.State(convs.new_conversation())
        store = gr.BrowserState(convs.empty_store(), storage_key=convs.STORAGE_KEY,
                                secret=convs.SECRET)
        with gr.Sidebar(label="Conversations", open=True, width=290, elem_id="cb-sidebar"):
            new = gr.Button("New chat", variant="primary", elem_id="cb-new")
            history = gr.Radio(choices=[], value=None, label="Saved conversations",
                               elem_id="cb-history")
            title = gr.Textbox(label="Title", max_length=convs.MAX_TITLE_CHARS, lines=1,
                               placeholder="Title of this conversation", elem_id="cb-title")
            with gr.Row():
                rename = gr.Button("Rename", size="sm", elem_id="cb-rename")
                delete = gr.Button("Delete", size="sm", variant="stop", elem_id="cb-delete")
            export = gr.HTML(render_export(None), elem_id="cb-export-box", js_on_load=None)
            gr.Markdown(SIDEBAR_NOTE, elem_id="cb-sidebar-note")
        gr.HTML(HEADER)
        notice = gr.Markdown(visible=False, elem_id="cb-guides-notice")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat", elem_id="cb-tab-chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=420):
                        chat = gr.Chatbot(
                            elem_id="cb-chat", label="Chat", show_label=False, height=600,
                            placeholder=PLACEHOLDER,
                            examples=[{"text": q, "display_text": f"{kind.upper()} · {q}"}
                                      for kind, q in EXAMPLES],
                            feedback_options=("Like", "Dislike"), buttons=[],
                            editable="user", sanitize_html=True, latex_delimiters=[],
                            layout="bubble", autoscroll=True,
                        )
                        with gr.Row(equal_height=True):
                            box = gr.Textbox(
                                elem_id="cb-input", show_label=False, lines=1, max_lines=6,
                                max_length=MAX_QUESTION_CHARS, autofocus=True, scale=8,
                                placeholder="Ask about timelines, degrees, salaries or "
                                "tools…",
                            )
                            send = gr.Button("Ask", variant="primary", scale=1, min_width=80,
                                             elem_id="cb-send")
                    with gr.Column(scale=2, min_width=320):
                        sources = gr.HTML(
                            render_sources([]), label="Sources", container=True,
                            padding=True, max_height=640, elem_id="cb-sources",
                            js_on_load=None,
                        )
                        with gr.Accordion("Guides to search", open=False,
                                          elem_id="cb-guides-box"):
                            guides = gr.CheckboxGroup(
                                choices=[], value=[], show_label=False, elem_id="cb-guides",
                                info="Tick guides to restrict answers to them.",
                            )
            with gr.Tab("Inspect", id="inspect", elem_id="cb-tab-inspect"):
                with gr.Row(equal_height=True):
                    query = gr.Textbox(
                        show_label=False, lines=1, max_lines=3, scale=6,
                        max_length=MAX_QUESTION_CHARS, elem_id="cb-ins-q",
                        placeholder="A question: see what hybrid, dense and sparse search "
                        "each find")
                    top_k = gr.Slider(1, 20, value=ui.settings.top_k, step=1, scale=2,
                                      label="Passages per list", elem_id="cb-ins-k")
                    go = gr.Button("Inspect", variant="primary", scale=1, min_width=90,
                                   elem_id="cb-ins-go")
                found = gr.HTML(INSPECT_EMPTY, elem_id="cb-ins-out", js_on_load=None)
            if guides_tab is not None:
                with gr.Tab("Guides", id="guides", elem_id="cb-tab-guides"):
                    table, pick = build_tab(guides_tab)
        gr.HTML(FOOTER)

        private: dict[str, Any] = {"api_visibility": "private"}
        io: dict[str, Any] = {
            "outputs": [chat, conv, sources, box], "show_progress": "hidden",
            "concurrency_limit": 4, "concurrency_id": "ask", **private,
        }
        shown = [conv, chat, sources, title, export, history]
        asks: list[Any] = [  # Gradio's Dependency objects, which `cancels` takes
            box.submit(ui.ask, [box, conv, guides], **io),
            send.click(ui.ask, [box, conv, guides], **io),
            chat.example_select(ui.ask_example, [conv, guides], **io),
            chat.retry(ui.retry, [conv, guides], **io),
            chat.edit(ui.edit, [conv, guides], **io),
        ]
        # Client-side only: tell other open tabs that the store changed (ui.conversations).
        stamp: dict[str, Any] = {"fn": None, "js": convs.STAMP_JS, "queue": False, **private}
        for asked in asks:  # each answer is saved in the browser once it is complete
            asked.then(ui.save, [conv, store], [conv, store, history, title, export],
                       queue=False, show_progress="hidden", **private).then(**stamp)
        chat.like(ui.on_like, [conv], None, **private)
        for starts in (new.click, chat.clear):
            starts(ui.new_chat, [store], shown, cancels=asks, queue=False, **private)
        history.input(ui.open, [history, store], shown, cancels=asks, queue=False, **private)
        for renames in (rename.click, title.submit):
            renames(ui.rename, [title, conv, store], [conv, store, history, title, export],
                    queue=False, **private).then(**stamp)
        delete.click(ui.delete, [conv, store], [store, *shown], cancels=asks, queue=False,
                     **private).then(**stamp)
        for inspects in (go.click, query.submit):
            inspects(ui.inspect, [query, top_k, guides], found, show_progress="minimal",
                     concurrency_limit=4, concurrency_id="ask", **private)
        demo.load(ui.restore, [store], shown, **private)
        demo.load(ui.load_guides, None, guides, **private)
        if guides_tab is not None:
            demo.load(guides_tab.refresh, None, [table, pick], **private)
            # The chat says when the guides changed since the page was opened (an upload,
            # the folder watcher, another process's ingest): the index generation, polled.
            seen = gr.State("")
            demo.load(guides_tab.baseline, None, seen, **private)
            gr.Timer(10).tick(guides_tab.notice, seen, [notice, seen],
                              show_progress="hidden", **private)
    demo.queue(max_size=64)
    return demo


_ROUTING_MISSES = ({"detail": "Not Found"}, {"detail": "Method Not Allowed"})


class ApiErrorsFirst:
    """Hands routing misses that reach the UI back to the API's error handlers.

    The mount at "/" matches every path, so Starlette sends an unknown path, and a wrong
    method on an API route (e.g. GET /v1/search), to Gradio, which would answer 404 in its
    own body shape. When Gradio's router finds nothing, this raises the HTTPException the
    API would have raised (405 when an API route has the path), so the API's handlers
    answer with their {"error": {...}} body. Everything else passes through untouched.
    """

    def __init__(self, parent: FastAPI, app: ASGIApp) -> None:
        self.parent, self.app = parent, app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold_misses(message: Message) -> None:
            if held or (message["type"] == "http.response.start"
                        and message["status"] in (404, 405)):
                held.append(message)
            else:
                await send(message)

        await self.app(scope, receive, hold_misses)
        if not held:
            return
        body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
        try:
            miss = json.loads(body) in _ROUTING_MISSES
        except ValueError:
            miss = False
        if not miss:
            for m in held:
                await send(m)
            return
        allowed: set[str] = set()
        for route in self.parent.router.routes:
            if isinstance(route, Mount) and route.app is self:
                continue
            match, _ = route.matches(scope)
            if match == Match.PARTIAL:
                allowed |= set(getattr(route, "methods", None) or ())
        if allowed:
            raise HTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})
        raise HTTPException(held[0]["status"])


def mount_ui(app: FastAPI, services: Services, guides: GuideAdmin | None = None) -> None:
    """Serve the chat at "/" of `app`, answering from `services`, with a Guides tab over
    `guides` when given. Call after every API route: Starlette matches in order and the
    mount takes every path below it."""
    ui = ChatUI(services)
    tab = None
    if guides is not None:
        tab = GuidesTab(guides, AdminRule(services.settings), generation=services.generation)
    theme = gr.themes.Soft(
        primary_hue="indigo", neutral_hue="slate",
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial",
              "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )
    gr.mount_gradio_app(
        app, build_blocks(ui, tab), path="/", footer_links=[], run_history=False,
        ssr_mode=False, mcp_server=False, pwa=False, show_error=False,
        theme=theme, css=CSS, head=HEAD,
    )
    mount = app.router.routes[-1]
    assert isinstance(mount, Mount) and mount.path == "", "the UI mount must come last"
    mount.app = ApiErrorsFirst(app, mount.app)
    app.state.careerbot_ui = ui
