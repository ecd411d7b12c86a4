"""Answers and conversations as Markdown: what the Copy button puts on the clipboard and
what "Export as Markdown" downloads. Pure functions of the saved turns.

Every citation is written in full: its number (as the answer's [n] markers name it), the
guide's title (linked when it has a URL), the section, the exact quote and its character
offsets in the guide's text (`GET /v1/sources/{doc_id}`), so a copied answer can be
checked without careerbot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ui.render import NOT_COVERED, safe_url

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def _plain(text: Any) -> str:
    """Text as literal Markdown: one line, its markup characters escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text or "").split()))


def source_lines(citations: Sequence[Mapping[str, Any]]) -> list[str]:
    """The numbered Sources list: one item per citation, the quote as a block quote."""
    out: list[str] = []
    for c in citations:
        title = _plain(c.get("title") or c.get("doc_id") or "untitled guide")
        url = safe_url(c.get("url"))
        name = f"[{title}]({url})" if url else f"**{title}**"
        section = f" — {_plain(c['section'])}" if c.get("section") else ""
        where = f"`{c.get('doc_id', '')}`, characters {c.get('start')}–{c.get('end')}"
        out.append(f"{int(c.get('n', len(out) + 1))}. {name}{section} ({where})")
        quote = str(c.get("quote") or "").split("\n")
        out += ["", *(f"   > {line}".rstrip() for line in quote), ""]
    return out


def answer_markdown(turn: Mapping[str, Any]) -> str:
    """One answer with its numbered sources (the Copy button's text)."""
    lines: list[str] = []
    if turn.get("abstained"):
        lines += [f"*{NOT_COVERED}.*", ""]
    lines.append(str(turn.get("answer") or "").strip())
    cites = list(turn.get("citations") or [])
    if cites:
        lines += ["", "Sources:", "", *source_lines(cites)]
    return "\n".join(lines).rstrip() + "\n"


def conversation_markdown(conv: Mapping[str, Any], title: str) -> str:
    """A whole conversation: each question as a heading, its answer and every citation."""
    turns = list(conv.get("turns") or [])
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# {_plain(title)}", "",
           f"*Exported from careerbot on {stamp}: {len(turns)} question(s). Quotes are "
           "exact passages of the guides; offsets are characters of each guide's text.*", ""]
    for i, t in enumerate(turns, 1):
        out += [f"## {i}. {_plain(t.get('question'))}", ""]
        if t.get("error"):
            out += [f"*(no answer: {_plain(t.get('answer'))})*", ""]
        else:
            out += [answer_markdown(t)]
    return "\n".join(out).rstrip() + "\n"
