"""Turn a guide file into one canonical plain text plus its sections, with exact offsets.

Every offset the product hands out (chunks, citations) refers to this canonical text, so
parsing must produce it deterministically from the file's bytes. Libraries do the format
work (json, BeautifulSoup for HTML, markdown-it for Markdown, pypdf for PDF); what is
written here is only the walk that lays their output into one text while recording where
each heading's body starts and ends, which none of them (nor llama-index's readers, which
drop offsets and markup structure) provide.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.text import BULLET, SUB_BULLET, item_marker, long_words, title_case


class ParseError(ValueError):
    """The file cannot be turned into a guide; the message says why."""


@dataclass(frozen=True)
class Section:
    """A run of body text under one heading path: `text[start:end]`."""

    path: tuple[str, ...]
    start: int
    end: int

    @property
    def title(self) -> str:
        return " > ".join(self.path)


@dataclass
class ParsedDocument:
    text: str
    sections: list[Section]
    format: str
    title: str = ""
    url: str | None = None
    date: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _clean(s: str) -> str:
    s = unicodedata.normalize("NFC", s).replace("\u00a0", " ").replace("\u200b", "")
    return re.sub(r"[ \t\r\f\v]+", " ", s).strip()


class _Builder:
    """Accumulates headings and blocks into the canonical text, tracking section offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.stack: list[tuple[int, str]] = []
        self.sections: list[Section] = []
        self._open_start: int | None = None
        self._last_was_item = False

    def _append(self, s: str) -> None:
        self.parts.append(s)
        self.length += len(s)

    def _sep(self, item: bool) -> None:
        if self.length:
            self._append("\n" if (item and self._last_was_item) else "\n\n")

    def _close(self) -> None:
        if self._open_start is not None and self.length > self._open_start:
            path = tuple(t for _, t in self.stack)
            self.sections.append(Section(path, self._open_start, self.length))
        self._open_start = None

    def heading(self, text: str, level: int) -> None:
        text = _clean(text)
        if not text:
            return
        self._close()
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, text))
        self._sep(False)
        self._append(text)
        self._last_was_item = False

    def block(self, text: str, item: bool = False) -> None:
        lines = [_clean(x) for x in text.split("\n")]
        text = "\n".join(x for x in lines if x)
        if not text:
            return
        self._sep(item)
        if self._open_start is None:
            self._open_start = self.length
        self._append(text)
        self._last_was_item = item

    def finish(self) -> tuple[str, list[Section]]:
        self._close()
        return "".join(self.parts), self.sections


# ---------------------------------------------------------------- plain text / transcript

_END_PUNCT = tuple('.!?:;,"”’)…')


def _looks_like_heading(line: str) -> bool:
    s = line.strip()
    if not s or len(s) > 80 or item_marker(s):
        return False
    # FAQ-style headings end in "?"; a question in sentence case is body text.
    question = s.endswith("?") and title_case(s)
    if s.endswith(_END_PUNCT) and not question:
        return False
    first = next((c for c in s if c.isalnum()), "")
    if not first or not (first.isupper() or first.isdigit() or not s[0].isascii()):
        return False
    # Long sentence-case lines are image captions or alt text, not headings: real headings
    # in these guides are short or Title Case.
    return len(long_words(s)) < 5 or title_case(s)


def parse_plain_text(text: str) -> tuple[str, list[Section], str]:
    """Implicit headings (short lines without final punctuation), `•` bullets, paragraphs."""
    b = _Builder()
    para: list[str] = []
    long_paras = 0

    def flush() -> None:
        nonlocal long_paras
        if para:
            joined = "\n".join(x.strip() for x in para)
            long_paras += len(joined) > 2500
            b.block(joined)
            para.clear()

    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            flush()
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if item_marker(line.lstrip()):
            flush()
            b.block(line.strip(), item=True)
        elif (
            _looks_like_heading(line)
            and (not para or para[-1].rstrip().endswith((".", "!", "?", "”", '"')))
            and (not nxt.strip() or not nxt.lstrip()[:1].islower())
        ):
            flush()
            b.heading(line, 1)
        else:
            para.append(line)
    flush()
    out, sections = b.finish()
    # A transcript is one very long paragraph of speech; the format is reported as such.
    fmt = "transcript" if long_paras and len(sections) <= 4 else "text"
    return out, sections, fmt


# ---------------------------------------------------------------- HTML

_HTML_SKIP = {"script", "style", "figure", "img", "svg", "noscript", "iframe", "form", "nav",
              "head", "button", "template", "picture", "video", "audio"}
_HTML_BLOCKS = {"p", "pre", "dd", "dt", "address", "figcaption", "caption"}


def _inline(el: Any) -> str:
    return _clean(el.get_text(""))


def _html_list(el: Any, b: _Builder, nested: bool) -> None:
    """The items of a `ul`/`ol`, each followed by the items of a list nested in it."""
    for n, li in enumerate(el.find_all("li", recursive=False), 1):
        inner = li.find_all(["ul", "ol"], recursive=False)
        for sub in inner:
            sub.extract()  # the item's own words first; the nested list's items after
        mark = f"{n}." if el.name == "ol" else SUB_BULLET if nested else BULLET
        b.block(f"{mark} {_inline(li)}", item=True)
        for sub in inner:
            _html_list(sub, b, nested=True)


def _walk_html(el: Any, b: _Builder) -> None:
    from bs4 import NavigableString, Tag
    from bs4.element import Comment

    for child in el.children:
        if isinstance(child, Comment):
            continue
        if isinstance(child, NavigableString):
            if child.strip():
                b.block(str(child))
            continue
        if not isinstance(child, Tag) or child.name in _HTML_SKIP:
            continue
        name = child.name
        if re.fullmatch(r"h[1-6]", name):
            b.heading(_inline(child), int(name[1]))
        elif name in _HTML_BLOCKS:
            b.block(_inline(child))
        elif name in ("ul", "ol"):
            _html_list(child, b, nested=False)
        elif name == "table":
            for tr in child.find_all("tr"):
                cells = [_inline(td) for td in tr.find_all(["td", "th"])]
                b.block(" | ".join(c for c in cells if c), item=True)
        elif name == "br" or name == "hr":
            continue
        elif child.find(["p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "div"]):
            _walk_html(child, b)
        else:
            b.block(_inline(child))


def parse_html(markup: str) -> tuple[str, list[Section], str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    title = ""
    if soup.title and soup.title.string:
        title = _clean(soup.title.string)
    root = soup.body or soup
    b = _Builder()
    _walk_html(root, b)
    text, sections = b.finish()
    if not title:
        h1 = soup.find("h1")
        title = _inline(h1) if h1 else ""
    return text, sections, title


# ---------------------------------------------------------------- Markdown


def parse_markdown(md: str) -> tuple[str, list[Section], str]:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    b = _Builder()
    title = ""
    list_stack: list[list[int]] = []  # [ordered?, counter]
    i = 0

    def inline_text(tok: Any) -> str:
        out = []
        for c in tok.children or []:
            if c.type in ("text", "code_inline"):
                out.append(c.content)
            elif c.type in ("softbreak", "hardbreak"):
                out.append("\n")
            elif c.type == "image":
                continue
            elif c.type == "html_inline":
                continue  # <br/> and the like carry no words
        return "".join(out)

    while i < len(tokens):
        t = tokens[i]
        if t.type == "heading_open":
            level = int(t.tag[1])
            text = _clean(inline_text(tokens[i + 1]))
            if level == 1 and not title:
                title = text
            b.heading(text, level)
            i += 3
            continue
        if t.type in ("bullet_list_open", "ordered_list_open"):
            list_stack.append([t.type == "ordered_list_open", int(t.attrs.get("start", 1) or 1)])
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            list_stack.pop()
        elif t.type == "inline":
            text = inline_text(t)
            in_item = bool(list_stack) and i >= 2 and tokens[i - 2].type == "list_item_open"
            if in_item:
                ordered, n = list_stack[-1]
                mark = f"{n}." if ordered else BULLET if len(list_stack) == 1 else SUB_BULLET
                list_stack[-1][1] = n + 1
                b.block(f"{mark} {text}", item=True)
            else:
                b.block(text)
        elif t.type in ("fence", "code_block"):
            b.block(t.content)
        i += 1
    text, sections = b.finish()
    return text, sections, title


# ---------------------------------------------------------------- WordPress REST JSON


def parse_wordpress(obj: dict[str, Any]) -> ParsedDocument:
    content = obj.get("content")
    rendered = content.get("rendered") if isinstance(content, dict) else None
    if not isinstance(rendered, str) or not rendered.strip():
        raise ParseError("JSON has no WordPress `content.rendered` HTML")
    text, sections, _ = parse_html(rendered)
    t = obj.get("title")
    raw_title = t.get("rendered", "") if isinstance(t, dict) else (t if isinstance(t, str) else "")
    title = _clean(html.unescape(re.sub(r"<[^>]+>", "", raw_title)))
    link = obj.get("link") if isinstance(obj.get("link"), str) else None
    date = obj.get("date") if isinstance(obj.get("date"), str) else None
    meta = {k: obj[k] for k in ("modified", "slug") if isinstance(obj.get(k), str)}
    return ParsedDocument(text, sections, "wordpress-json", title, link, date, meta)


# ---------------------------------------------------------------- PDF


def parse_pdf(raw: bytes) -> ParsedDocument:
    import io

    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(raw))
        pages = [p.extract_text() or "" for p in reader.pages]
    except Exception as e:  # pypdf raises many types for damaged files
        raise ParseError(f"unreadable PDF ({e.__class__.__name__}: {e})") from e
    text, sections, _ = parse_plain_text("\n\n".join(pages))
    meta_title = ""
    try:
        if reader.metadata and reader.metadata.title:
            meta_title = _clean(str(reader.metadata.title))
    except Exception:  # metadata is optional and often malformed
        meta_title = ""
    return ParsedDocument(text, sections, "pdf", meta_title)


# ---------------------------------------------------------------- dispatch

_HTML_SNIFF = re.compile(r"<(?:!doctype html|html|body|p|div|h[1-6]|article)\b", re.IGNORECASE)
_MD_HEADING = re.compile(r"^#{1,6}\s+\S", re.MULTILINE)


def parse_bytes(raw: bytes, name: str = "") -> ParsedDocument:
    """Parse by content (the extension is only a tie-breaker for Markdown)."""
    if not raw.strip():
        raise ParseError("file is empty")
    if raw.startswith(b"%PDF-"):
        doc = parse_pdf(raw)
    else:
        if b"\x00" in raw[:8192]:
            raise ParseError("binary file (contains NUL bytes), not a text guide")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ParseError(f"not UTF-8 text (bad byte at offset {e.start})") from e
        stripped = text.lstrip()
        if stripped[:1] in "{[":
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise ParseError(f"broken JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
            if not isinstance(obj, dict):
                raise ParseError("JSON that is not a WordPress post object")
            doc = parse_wordpress(obj)
        elif _HTML_SNIFF.search(stripped[:2000]):
            body, sections, title = parse_html(text)
            doc = ParsedDocument(body, sections, "html", title)
        elif _MD_HEADING.search(text) or name.lower().endswith((".md", ".markdown")):
            body, sections, title = parse_markdown(text)
            doc = ParsedDocument(body, sections, "markdown", title)
        else:
            body, sections, fmt = parse_plain_text(text)
            doc = ParsedDocument(body, sections, fmt)
    if not doc.text.strip() or not doc.sections:
        raise ParseError("no readable text in the file")
    if not doc.title:
        doc.title = _default_title(doc, name)
    return doc


def _default_title(doc: ParsedDocument, name: str) -> str:
    for s in doc.sections:
        if s.path:
            return s.path[0]
    return Path(name).stem.replace("_", " ").strip() or "Untitled"
