"""HTML for the chat: answers with clickable citation markers, the sources panel, notes.

Pure functions of the bot's output, so they are unit-tested without a browser. Every piece
of text that reaches the page (the question, the answer, titles, sections, quotes) goes
through `html.escape`; the only markup is what this module writes. Each fragment is one
line with no blank line, so the chat's Markdown renderer passes it through as one HTML
block instead of reading the text as Markdown.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from html import escape, unescape
from typing import Any
from urllib.parse import urlparse

INTENT_LABELS: dict[str, str] = {
    "timeline": "timeline",
    "degree": "degree",
    "salary": "salary",
    "tooling": "tooling",
    "other": "general",
}

NOT_COVERED = "Not covered by the guides"
MARKER = re.compile(r"\[(\d{1,3})\]")
_QUOTE_IN_TITLE = 280  # characters of the quote in a marker's hover text


def _e(text: Any) -> str:
    # Newlines as character references: a fragment must stay one line (see above).
    return escape(str(text if text is not None else ""), quote=True).replace("\n", "&#10;")


def safe_url(url: Any) -> str | None:
    """The URL when it is a plain http(s) link, else None (no javascript: or data: links)."""
    if not isinstance(url, str) or not url.strip():
        return None
    url = url.strip()
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return None
    return url


def anchor_id(turn: int, n: int) -> str:
    """The id of citation `n` of answer `turn` in the sources panel."""
    return f"cite-{turn}-{n}"


def intent_tag(intent: str | None) -> str:
    key = intent if intent in INTENT_LABELS else "other"
    return (f'<span class="cb-tag cb-tag-{key}" title="Kind of question">'
            f"{INTENT_LABELS[key]}</span>")


def _hover(c: Mapping[str, Any]) -> str:
    quote = str(c.get("quote") or "")
    if len(quote) > _QUOTE_IN_TITLE:
        quote = quote[: _QUOTE_IN_TITLE - 1].rstrip() + "…"
    where = str(c.get("title") or c.get("doc_id") or "")
    if c.get("section"):
        where += f" — {c['section']}"
    return f"{where}\n“{quote}”"


def _markers(escaped: str, cites: Mapping[int, Mapping[str, Any]], turn: int) -> str:
    """Turn the [n] markers of already escaped text into links to the sources panel."""

    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        c = cites.get(n)
        if c is None:  # still streaming, or a marker the answer does not back: plain
            return f'<sup class="cb-cite">[{n}]</sup>'
        target = anchor_id(turn, n)
        return f'<sup class="cb-cite"><a href="#{target}" title="{_e(_hover(c))}">[{n}]</a></sup>'

    return MARKER.sub(link, escaped)


def answer_body(text: str, citations: Sequence[Mapping[str, Any]], turn: int,
                direct: bool = True) -> str:
    """The answer's lines as paragraphs and lists, with linked markers."""
    cites = {int(c["n"]): c for c in citations if "n" in c}
    out: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if items:
            out.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
            items.clear()

    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            flush()
            continue
        bullet = line[:2] in ("- ", "* ", "• ")
        html = _markers(_e(line[2:] if bullet else line), cites, turn)
        if bullet:
            items.append(html)
        else:
            flush()
            # The first line is the direct answer (see rag.answer): shown as the lead.
            lead = ' class="cb-direct"' if not out and direct else ""
            out.append(f"<p{lead}>{html}</p>")
    flush()
    return "".join(out)


def render_answer(
    text: str,
    citations: Sequence[Mapping[str, Any]] = (),
    *,
    turn: int,
    intent: str | None = None,
    abstained: bool = False,
    streaming: bool = False,
    seconds: float | None = None,
    markdown: str | None = None,
) -> str:
    """One assistant message. An abstention is an amber, bordered note with its own
    heading, so it cannot be mistaken for an answer. With `markdown` (the answer and its
    sources, ui.markdown), a finished answer gets a Copy button that copies it."""
    head = intent_tag(intent) if intent else ""
    if abstained:
        head += f'<span class="cb-abstain-label">{NOT_COVERED}</span>'
    body = answer_body(text, citations, turn, direct=not abstained)
    if streaming:
        body += '<span class="cb-cursor" aria-hidden="true"></span>'
    foot = ""
    if not streaming and (citations or seconds is not None or markdown):
        bits = []
        if citations:
            n = len(citations)
            bits.append(f"{n} citation{'s' if n != 1 else ''} · see Sources")
        if seconds is not None:
            bits.append(f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s")
        copy = ""
        if markdown:
            # The chat's sanitiser drops data-* attributes, so the text to copy travels as
            # a hidden element next to its button (ui.style's script does the copying).
            copy = ('<button type="button" class="cb-copy" title="Copy the answer and its '
                    'numbered sources as Markdown">Copy</button>'
                    f'<div class="cb-md" hidden>{_e(markdown)}</div>')
        foot = f'<div class="cb-meta"><span>{" · ".join(bits)}</span>{copy}</div>'
    kind = "cb-answer" + (" cb-abstain" if abstained else "")
    kind += " cb-streaming" if streaming else " cb-done"
    return (f'<div class="{kind}"><div class="cb-head">{head}</div>'
            f'<div class="cb-body">{body}</div>{foot}</div>')


def render_pending() -> str:
    return ('<div class="cb-answer cb-pending">'
            '<span class="cb-dots">Searching the guides</span></div>')


def render_notice(title: str, message: str, kind: str = "error") -> str:
    """A friendly problem note (store down, rate limited, nothing to search)."""
    return (f'<div class="cb-answer cb-done cb-notice cb-{_e(kind)}" role="alert">'
            f'<div class="cb-notice-title">{_e(title)}</div><p>{_e(message)}</p></div>')


def render_question(question: str) -> str:
    """A question as the chat shows it: plain text the user can edit in place (Gradio's
    edit box shows a message's raw content), with <, > and & escaped so it is never read
    as HTML; `question_from` undoes it for an edited question."""
    return escape(question, quote=False)


def question_from(content: Any) -> str:
    return unescape(str(content or ""))


def render_export(markdown: str | None, filename: str = "careerbot-chat.md") -> str:
    """The sidebar's download link: the conversation as a Markdown file in a data: URL,
    made in the browser, so exporting leaves nothing on the server."""
    if not markdown:
        return ('<span class="cb-export cb-export-off" title="Ask a question first">'
                "Export as Markdown</span>")
    data = base64.b64encode(markdown.encode("utf-8")).decode("ascii")
    return (f'<a class="cb-export" download="{_e(filename)}" '
            f'href="data:text/markdown;charset=utf-8;base64,{data}">Export as Markdown</a>')


def _source_item(c: Mapping[str, Any], turn: int) -> str:
    n = int(c.get("n", 0))
    title = _e(c.get("title") or c.get("doc_id") or "untitled guide")
    url = safe_url(c.get("url"))
    name = (f'<a href="{_e(url)}" target="_blank" rel="noopener noreferrer">{title}</a>'
            if url else f"<span>{title}</span>")
    section = (f'<div class="cb-src-section">§ {_e(c["section"])}</div>'
               if c.get("section") else "")
    where = ""
    if c.get("doc_id") is not None and c.get("start") is not None:
        where = (f'<div class="cb-src-where">{_e(c["doc_id"])} · characters '
                 f'{_e(c["start"])}–{_e(c.get("end"))}</div>')
    return (f'<li class="cb-src" id="{anchor_id(turn, n)}"><div class="cb-src-title">'
            f'<span class="cb-src-n">[{n}]</span> {name}</div>{section}'
            f'<blockquote class="cb-quote">{_e(c.get("quote", ""))}</blockquote>{where}</li>')


def _turn_sources(t: Mapping[str, Any], turn: int) -> str:
    cites = t.get("citations") or []
    if cites:
        items = "".join(_source_item(c, turn) for c in cites)
        body = f'<ol class="cb-src-list">{items}</ol>'
    elif t.get("abstained"):
        body = '<p class="cb-empty">No passage of the guides answers this question.</p>'
    else:
        body = '<p class="cb-empty">No citations.</p>'
    if t.get("abstained") and cites:
        body = ('<p class="cb-empty">The guides do not answer this; the closest passages '
                "they have:</p>" + body)
    return body


def render_sources(turns: Sequence[Mapping[str, Any]]) -> str:
    """The sources panel: the latest answer's citations in full, earlier ones folded."""
    answered = [(i, t) for i, t in enumerate(turns) if t.get("done") and not t.get("error")]
    title = '<div class="cb-panel-title">Sources</div>'
    if not answered:
        return (f'<div class="cb-sources">{title}<p class="cb-empty">Each answer quotes the '
                "guides. The exact passages, with their guide and section, appear here; "
                'click a marker like <sup class="cb-cite"><a>[1]</a></sup> in an answer to '
                "jump to its passage.</p></div>")
    parts = []
    for rank, (i, t) in enumerate(reversed(answered)):
        q = _e(t.get("question", ""))
        tag = intent_tag(t.get("intent"))
        head = f'<span class="cb-src-q">{q}</span> {tag}'
        inner = _turn_sources(t, i)
        if rank == 0:
            parts.append(f'<section class="cb-src-turn cb-latest"><div class="cb-src-head">'
                         f"{head}</div>{inner}</section>")
        else:
            parts.append(f'<details class="cb-src-turn"><summary>{head}</summary>'
                         f"{inner}</details>")
    return f'<div class="cb-sources">{title}' + "".join(parts) + "</div>"
