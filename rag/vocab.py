"""The answerer's vocabularies, loaded from `rag/data/vocab.json` (package data).

Aliases, tool names and the cues of question kinds and shapes are data, not code: they are
edited without touching the answerer, and a reviewer sees in one file every word list the
answers depend on.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


@cache
def vocab() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "vocab.json").read_text(encoding="utf-8"))
    return data


@cache
def pattern(name: str) -> re.Pattern[str]:
    """A pattern of the vocabulary by dotted name ("shapes.list", "verdict", "tools")."""
    node: Any = vocab()
    for part in name.split("."):
        node = node[part]
    if name == "tools" or name.startswith("entities."):
        node = rf"\b({node})\b"  # names match as whole words
    return re.compile(str(node), re.IGNORECASE)


def aliases() -> dict[str, str]:
    return dict(vocab()["aliases"])


@cache
def _abbreviation_table() -> dict[str, str]:
    """Abbreviation -> long form, without the table's own notes ("_about")."""
    return {k: str(v) for k, v in vocab()["abbreviations"].items() if not k.startswith("_")}


@cache
def _abbreviations() -> tuple[tuple[re.Pattern[str], str], ...]:
    table = _abbreviation_table()
    return tuple((re.compile(rf"(?<![\w/]){re.escape(k)}(?![\w/])", re.IGNORECASE), v)
                 for k, v in sorted(table.items(), key=lambda kv: -len(kv[0])))


def expand_abbreviations(text: str) -> str:
    """`text` with the long form of each chat abbreviation it uses added in brackets
    ("rl algos" -> "rl algos (reinforcement learning algorithms)"): the abbreviation stays,
    as the user typed it, and the long form is what the guides write. A long form the
    text already spells is not added again."""
    low = text.lower()
    found: dict[str, int] = {}  # long form -> where its abbreviation first appears
    for pat, long in _abbreviations():
        m = pat.search(text)
        if m and long.lower() not in low:
            found[long] = min(found.get(long, m.start()), m.start())
    extra = sorted(found, key=found.__getitem__)
    return f"{text} ({' '.join(extra)})" if extra else text


def abbreviated_words() -> frozenset[str]:
    """The one-word chat abbreviations (vocab `abbreviations`): words to leave as typed."""
    return frozenset(k for k in _abbreviation_table() if re.fullmatch(r"[a-z]+", k))


def spelled_out(word: str) -> str | None:
    """The long form of a chat abbreviation ("stats" -> "statistics"), or None."""
    return _abbreviation_table().get(word.lower())
