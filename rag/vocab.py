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
