"""The Gradio chat, mounted at "/" of the API's FastAPI app: `mount_ui(app, settings)`.

The conversation lives in one per-session `gr.State`: a list of turns (question, answer,
citations, intent, abstained, the rendered message). The chat window and the sources panel
are both rendered from it, so a chat message at index 2k+1 is always the answer of turn k
(which is how a thumbs-up finds its question and citations).

Callbacks run in Gradio's worker threads (plain generators) and answer from the process's
`Services` (rag.services), the same store, model and bot the API serves from; the UI
never sees the FastAPI app it is mounted on beyond the mount itself.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import gradio as gr
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.ratelimit import address_key
from rag.services import Services
from ui import errors
from ui.errors import Problem
from ui.feedback import FILE_NAME, FeedbackLog, vote_name
from ui.guides import GuideAdmin, GuidesTab, build_tab
from ui.render import (
    render_answer,
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

FOOTER = """<div id="cb-footer">Answers quote the indexed guides only; votes are stored
locally for evaluation. &middot; <a href="/docs">API docs (/docs)</a> &middot;
<a href="/v1/sources">indexed guides</a></div>"""

PLACEHOLDER = """**Ask about becoming an ML engineer**

How long it takes, which degree you need, what it pays, which tools to learn.
Every answer quotes the guides it comes from. Try one of these:"""

Turn = dict[str, Any]


def _messages(turns: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for t in turns:
        out.append({"role": "user", "content": render_question(t["question"])})
        out.append({"role": "assistant", "content": t["html"]})
    return out


def _client_key(request: gr.Request | None) -> str:
    """The client's budget key: its address, spelled as the API spells it, so one address
    has one budget across the UI and the API."""
    host = getattr(getattr(request, "client", None), "host", None)
    if host:
        return address_key(str(host))
    return f"session:{getattr(request, 'session_hash', None) or 'local'}"


class ChatUI:
    """The callbacks, with what they share: the process's services (store, model, bot,
    rate limiter) and the feedback file."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.feedback = FeedbackLog(self.settings.data_dir / FILE_NAME)

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

    # ------------------------------------------------------------ callbacks
    def load_guides(self) -> Any:
        choices = self.guide_choices()
        info = ("None ticked: every guide is searched." if choices
                else "The guide list is not available yet; every guide is searched.")
        return gr.CheckboxGroup(choices=choices, value=[], info=info)

    def ask(
        self, question: str, turns: list[Turn] | None, guides: list[str] | None,
        request: gr.Request,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """Stream one answer: (chat, turns, sources panel, textbox) after each step."""
        question = (question or "").strip()
        turns = list(turns or [])
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        question = question[:MAX_QUESTION_CHARS]
        history = [{"role": "user", "content": t["question"]} for t in turns
                   if not t.get("error")]
        turn: Turn = {"question": question, "answer": "", "citations": [], "intent": None,
                      "abstained": False, "sources": None, "done": False, "error": False,
                      "html": render_pending()}
        turns.append(turn)
        k = len(turns) - 1
        yield _messages(turns), turns, gr.skip(), ""

        def fail(p: Problem) -> tuple[Any, Any, Any, Any]:
            turn.update(error=True, done=True, html=render_notice(p.title, p.message, p.kind),
                        answer=p.message)
            return _messages(turns), turns, gr.skip(), ""

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
        text, intent, last = "", None, 0.0
        try:
            for kind, value in self.services.bot.stream(question, history, sources=sources):
                if kind == "meta":
                    intent = value.get("intent")
                    turn["intent"] = intent
                elif kind == "delta":
                    text += value
                    now = time.monotonic()
                    if now - last >= 0.05:  # at most ~20 repaints a second
                        last = now
                        turn["html"] = render_answer(text, turn=k, intent=intent,
                                                     streaming=True)
                        yield _messages(turns), turns, gr.skip(), ""
                elif kind == "citations":
                    turn["citations"] = value
                elif kind == "done":
                    self._finish(turn, k, value)
        except Exception as e:
            log.exception("ui: answering failed")
            yield fail(errors.classify(e))
            return
        if not turn["done"]:  # a stream without its "done" event
            yield fail(errors.INTERNAL)
            return
        yield _messages(turns), turns, render_sources(turns), ""

    @staticmethod
    def _finish(turn: Turn, k: int, result: Mapping[str, Any]) -> None:
        seconds = (result.get("timings_ms") or {}).get("total")
        turn.update(
            answer=result.get("answer", ""), citations=list(result.get("citations") or []),
            intent=result.get("intent"), abstained=bool(result.get("abstained")),
            flags=list(result.get("flags") or []), done=True,
        )
        turn["html"] = render_answer(
            turn["answer"], turn["citations"], turn=k, intent=turn["intent"],
            abstained=turn["abstained"],
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
        self, turns: list[Turn] | None, guides: list[str] | None, evt: gr.SelectData,
        request: gr.Request,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        value = evt.value
        text = value.get("text", "") if isinstance(value, dict) else str(value or "")
        yield from self.ask(text, turns, guides, request)

    def on_like(self, turns: list[Turn] | None, data: gr.LikeData) -> None:
        turns = turns or []
        index = data.index[0] if isinstance(data.index, list | tuple) else data.index
        k = int(index) // 2
        if not 0 <= k < len(turns) or not turns[k].get("done") or turns[k].get("error"):
            return  # nothing to rate: still answering, or a problem note
        vote = vote_name(data.liked)
        try:
            self.feedback.record(vote, turns[k], [t["question"] for t in turns[:k]])
        except OSError as e:
            log.error("ui: cannot store feedback: %s", e)
            gr.Warning("Your vote could not be saved (the server could not write it).")
            return
        if vote in ("up", "down"):
            gr.Info("Thanks! Your feedback was saved.", duration=3)

    @staticmethod
    def clear() -> tuple[Any, Any, Any, Any]:
        return [], [], render_sources([]), ""


def build_blocks(ui: ChatUI, guides_tab: GuidesTab | None = None) -> gr.Blocks:
    with gr.Blocks(title="careerbot", analytics_enabled=False) as demo:
        turns = gr.State([])
        gr.HTML(HEADER)
        notice = gr.Markdown(visible=False, elem_id="cb-guides-notice")
        with gr.Tabs(elem_id="cb-tabs"):
            with gr.Tab("Chat", elem_id="cb-tab-chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=420):
                        chat = gr.Chatbot(
                            elem_id="cb-chat", label="Chat", show_label=False, height=600,
                            placeholder=PLACEHOLDER,
                            examples=[{"text": q, "display_text": f"{kind.upper()} · {q}"}
                                      for kind, q in EXAMPLES],
                            feedback_options=("Like", "Dislike"), buttons=[],
                            sanitize_html=True, latex_delimiters=[], layout="bubble",
                            autoscroll=True,
                        )
                        with gr.Row(equal_height=True):
                            box = gr.Textbox(
                                elem_id="cb-input", show_label=False, lines=1, max_lines=6,
                                max_length=MAX_QUESTION_CHARS, autofocus=True, scale=8,
                                placeholder="Ask about timelines, degrees, salaries or tools…",
                            )
                            send = gr.Button("Ask", variant="primary", scale=1, min_width=80,
                                             elem_id="cb-send")
                            clear = gr.Button("Clear chat", variant="secondary", scale=1,
                                              min_width=130, elem_id="cb-clear")
                    with gr.Column(scale=2, min_width=320):
                        sources = gr.HTML(
                            render_sources([]), label="Sources", container=True, padding=True,
                            max_height=640, elem_id="cb-sources", js_on_load=None,
                        )
                        with gr.Accordion("Guides to search", open=False,
                                          elem_id="cb-guides-box"):
                            guides = gr.CheckboxGroup(
                                choices=[], value=[], show_label=False, elem_id="cb-guides",
                                info="Tick guides to restrict answers to them.",
                            )

            if guides_tab is not None:
                with gr.Tab("Guides", elem_id="cb-tab-guides"):
                    table, pick = build_tab(guides_tab)
        gr.HTML(FOOTER)

        io: dict[str, Any] = {
            "outputs": [chat, turns, sources, box], "show_progress": "hidden",
            "concurrency_limit": 4, "concurrency_id": "ask", "api_visibility": "private",
        }
        box.submit(ui.ask, [box, turns, guides], **io)
        send.click(ui.ask, [box, turns, guides], **io)
        chat.example_select(ui.ask_example, [turns, guides], **io)
        chat.like(ui.on_like, [turns], None, api_visibility="private")
        clear.click(ui.clear, None, [chat, turns, sources, box], queue=False,
                    api_visibility="private")
        chat.clear(ui.clear, None, [chat, turns, sources, box], queue=False,
                   api_visibility="private")
        demo.load(ui.load_guides, None, guides, api_visibility="private")
        if guides_tab is not None:
            demo.load(guides_tab.refresh, None, [table, pick], api_visibility="private")
            # The chat says when the guides changed since the page was opened (an upload,
            # the folder watcher, another process's ingest): the index generation, polled.
            seen = gr.State("")
            demo.load(guides_tab.baseline, None, seen, api_visibility="private")
            gr.Timer(10).tick(guides_tab.notice, seen, [notice, seen],
                              api_visibility="private", show_progress="hidden")
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
        tab = GuidesTab(guides, [k.strip() for k in services.settings.admin_keys.split(",")
                                 if k.strip()],
                        generation=lambda: services.store.get_meta().get("generation", ""))
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
