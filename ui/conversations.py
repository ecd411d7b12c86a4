"""Saved conversations: kept in the user's browser, never on the server.

The chat saves every conversation in the browser's localStorage through Gradio's
`gr.BrowserState` (one value, `{"version", "conversations": [...]}`, newest first). A
reload or a browser restart finds them there; the sidebar lists them. The server keeps
nothing of a chat: it receives the stored value with the events that change it and
sends it back changed, and remembers nothing after.

Bounds, so the store fits the browser's quota (about 5 MB per site) and the value sent
with each save stays small: at most MAX_CONVERSATIONS conversations and MAX_STORE_CHARS
characters of JSON; past either, the conversations untouched the longest are dropped
(the open one never is; a single conversation past the size keeps its latest turns).
A turn is saved as data (question, answer, citations, kind...), not as HTML: the page is
rendered again from it.

Several tabs: the store is one value that a tab reads only when it loads, so a tab left
open keeps an old copy, and its next save would write over what another tab saved since.
Each save therefore also stamps REVISION_KEY, and a tab that sees another tab's stamp
reloads (taking the fresh store) the next time it is looked at or clicked, before it can
save its stale copy.

These are pure functions of plain JSON values; ui.app wires them to the components.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

VERSION = 1
STORAGE_KEY = "careerbot-conversations-v1"
# Stamped (plain localStorage) after every save, so other open tabs learn that their copy
# of the store is stale (see ui.style's script).
REVISION_KEY = STORAGE_KEY + "-rev"
STAMP_JS = f"() => {{ localStorage.setItem('{REVISION_KEY}', String(Date.now())); }}"
# gr.BrowserState encrypts what it stores with this secret, but the secret travels to the
# browser with the page's config, so it protects nothing; what matters is that it stays
# the same across server restarts. Gradio's default, a random secret per process, would
# make every saved conversation unreadable after a restart.
SECRET = "careerbot-conversations"
MAX_CONVERSATIONS = 50
MAX_STORE_CHARS = 2_000_000
TITLE_CHARS = 60
MAX_TITLE_CHARS = 120

# What a saved turn keeps; the rest (rendered HTML, streaming flags) is the page's.
TURN_KEYS = ("question", "answer", "citations", "intent", "abstained", "sources", "flags",
             "done", "error", "problem", "seconds")

Conversation = dict[str, Any]
Store = dict[str, Any]


def empty_store() -> Store:
    return {"version": VERSION, "conversations": []}


def new_conversation() -> Conversation:
    return {"id": None, "title": "", "created": None, "updated": None, "turns": []}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_store(value: Any) -> Store:
    """The stored value as a store; anything unreadable (another version, tampering, a
    failed decryption) counts as empty rather than breaking the page."""
    if not isinstance(value, Mapping) or value.get("version") != VERSION:
        return empty_store()
    convs = [c for c in value.get("conversations") or []
             if isinstance(c, Mapping) and isinstance(c.get("id"), str)
             and isinstance(c.get("turns"), list)]
    return {"version": VERSION, "conversations": [dict(c) for c in convs]}


def title_of(conv: Mapping[str, Any]) -> str:
    """Its own title if renamed, else its first question, shortened."""
    if conv.get("title"):
        return str(conv["title"])
    turns = conv.get("turns") or []
    first = " ".join(str(turns[0].get("question", "")).split()) if turns else ""
    if not first:
        return "New chat"
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1].rstrip() + "…"


def saved_turn(turn: Mapping[str, Any]) -> dict[str, Any]:
    return {k: turn[k] for k in TURN_KEYS if k in turn}


def find(store: Store, conv_id: str | None) -> Conversation | None:
    return next((dict(c) for c in store["conversations"] if c["id"] == conv_id), None)


def choices(store: Store) -> list[tuple[str, str]]:
    """(title, id) of every conversation, newest first: the sidebar's list."""
    return [(title_of(c), c["id"]) for c in store["conversations"]]


def save(store: Any, conv: Mapping[str, Any]) -> tuple[Store, Conversation]:
    """Put `conv` first in the store (giving it an id when it has none). A conversation
    without a turn is not saved."""
    st = read_store(store)
    conv = dict(conv)
    if not conv.get("turns"):
        return st, conv
    stamp = _now()
    conv["id"] = conv.get("id") or uuid.uuid4().hex[:16]
    conv["created"] = conv.get("created") or stamp
    conv["updated"] = stamp
    saved = {**conv, "turns": [saved_turn(t) for t in conv["turns"]]}
    rest = [c for c in st["conversations"] if c["id"] != conv["id"]]
    st["conversations"] = [saved, *rest][:MAX_CONVERSATIONS]
    _fit(st)
    return st, conv


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False))


def _fit(st: Store) -> None:
    """Drop the oldest conversations, then the open one's oldest turns, until it fits."""
    convs = st["conversations"]
    while len(convs) > 1 and _size(st) > MAX_STORE_CHARS:
        convs.pop()
    if convs and _size(st) > MAX_STORE_CHARS:
        turns = convs[0]["turns"]
        while len(turns) > 1 and _size(st) > MAX_STORE_CHARS:
            turns.pop(0)


def rename(store: Any, conv: Mapping[str, Any], title: str) -> tuple[Store, Conversation]:
    """Give the conversation its own title (empty: back to its first question)."""
    conv = {**conv, "title": " ".join((title or "").split())[:MAX_TITLE_CHARS]}
    st = read_store(store)
    for c in st["conversations"]:
        if c["id"] == conv.get("id"):
            c["title"] = conv["title"]
    return st, conv


def delete(store: Any, conv_id: str | None) -> Store:
    st = read_store(store)
    st["conversations"] = [c for c in st["conversations"] if c["id"] != conv_id]
    return st
