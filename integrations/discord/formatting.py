"""Text in and out of Discord: replies split at 2,000 characters, the Sources list, and
thread messages turned back into conversation history."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from rag.text import loose_sentence_ends

DISCORD_LIMIT = 2000
SOURCES_HEADER = "**Sources**"
QUOTE_CHARS = 300  # how much of a slash-command question the reply repeats


def _cut(text: str, limit: int) -> int:
    """Where to end the next part of `text` (longer than `limit`): the last paragraph
    break, else line break, else sentence end, else space within the limit; a hard cut
    only when there is none. Boundaries in the first quarter are skipped, so parts are
    not needlessly short."""
    window = text[: limit + 1]
    floor = limit // 4
    for sep in ("\n\n", "\n"):
        i = window.rfind(sep, floor, limit + 1)
        if i > 0:
            return i
    ends = [end for end in loose_sentence_ends(window) if floor < end <= limit]
    if ends:
        return ends[-1]
    i = window.rfind(" ", floor, limit + 1)
    return i if i > 0 else limit


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """`text` in parts of at most `limit` characters, split on paragraph, line or
    sentence boundaries when possible; no part is empty."""
    parts: list[str] = []
    text = text.strip()
    while len(text) > limit:
        cut = _cut(text, limit)
        part = text[:cut].rstrip()
        if part:
            parts.append(part)
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _link_text(text: str) -> str:
    # Brackets would end the masked link early; markdown characters would style it.
    text = text.replace("[", "(").replace("]", ")")
    return re.sub(r"([*_~`|\\])", r"\\\1", text)


def render_sources(citations: Sequence[Mapping[str, Any]]) -> str:
    """A compact Sources list: one line per cited section, its citation numbers first,
    the title linked to the guide (in <> so Discord adds no preview)."""
    lines: dict[tuple[str, str, str], list[int]] = {}
    for c in citations:
        key = (str(c.get("title") or c.get("doc_id") or "source"), str(c.get("section") or ""),
               str(c.get("url") or ""))
        lines.setdefault(key, []).append(int(c["n"]))
    out = []
    for (title, section, url), ns in lines.items():
        label = _link_text(_short(title, 80))
        line = "".join(f"[{n}]" for n in ns) + " " + (f"[{label}](<{url}>)" if url else label)
        if section:
            line += f" › {_link_text(_short(section, 60))}"
        out.append(line)
    return f"{SOURCES_HEADER}\n" + "\n".join(out) if out else ""


def quote(question: str) -> str:
    return "\n".join("> " + line for line in _short(question, QUOTE_CHARS).splitlines())


def render_reply(reply: Mapping[str, Any], question: str | None = None) -> str:
    """The message for an API answer; with `question` (slash commands, where Discord does
    not show what was asked) it starts with the question as a quote."""
    body = str(reply.get("answer") or "").strip() or "(no answer)"
    sources = render_sources(reply.get("citations") or [])
    text = f"{body}\n\n{sources}" if sources else body
    return f"{quote(question)}\n{text}" if question else text


def strip_mentions(text: str, user_id: int) -> str:
    return re.sub(rf"<@!?{user_id}>", " ", text).strip()


class Author(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def bot(self) -> bool: ...


class MessageLike(Protocol):
    """What history needs of a discord.Message."""

    @property
    def author(self) -> Author: ...

    @property
    def content(self) -> str: ...


def reply_turns(content: str) -> list[tuple[str, str]]:
    """A bot reply as turns: the quoted question (slash commands) and the answer text,
    less the Sources list."""
    lines = content.split("\n")
    asked = []
    while lines and lines[0].startswith("> "):
        asked.append(lines.pop(0)[2:])
    answer = "\n".join(lines).split(SOURCES_HEADER)[0].strip()
    turns = [("user", " ".join(asked).strip())] if asked else []
    return turns + ([("assistant", answer)] if answer else [])


def history_from_messages(
    messages: Iterable[MessageLike], bot_id: int, *, max_turns: int = 20,
    max_chars: int = 4000,
) -> list[dict[str, str]]:
    """Conversation turns from channel messages, oldest first.

    The bot's replies are assistant turns (a reply split over several messages is one
    turn); messages that mention the bot are the user's questions. Other chatter and
    other bots are left out. The last `max_turns` turns are kept, each cut to `max_chars`.
    """
    turns: list[dict[str, str]] = []
    in_sources = False  # inside a reply whose Sources list may go on in the next message
    for m in messages:
        if m.author.id == bot_id:
            if in_sources and not m.content.startswith("> "):
                continue  # the rest of a Sources list split over messages
            new = reply_turns(m.content)
            in_sources = SOURCES_HEADER in m.content
        elif m.author.bot or not re.search(rf"<@!?{bot_id}>", m.content):
            continue
        else:
            new = [("user", strip_mentions(m.content, bot_id))]
            in_sources = False
        for role, text in new:
            if not text:
                continue
            if turns and turns[-1]["role"] == role:
                turns[-1]["content"] += "\n" + text
            else:
                turns.append({"role": role, "content": text})
    return [{"role": t["role"], "content": t["content"][:max_chars]}
            for t in turns[-max_turns:]]
