"""Thumbs up/down on answers, appended as JSON lines for later evaluation.

One file, `<data_dir>/feedback.jsonl`, one object per vote:
{"ts", "vote": "up"|"down"|..., "question", "answer", "citations", "intent", "abstained",
 "sources", "history"}. Append-only: a changed vote is a new line, the latest one counts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE_NAME = "feedback.jsonl"


def vote_name(liked: Any) -> str:
    """Gradio reports True/False, or the label of the clicked option."""
    if liked is True:
        return "up"
    if liked is False:
        return "down"
    label = str(liked).strip().lower()
    return {"like": "up", "dislike": "down", "": "none"}.get(label, label)


class FeedbackLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(
        self,
        vote: str,
        turn: Mapping[str, Any],
        history: Sequence[str] = (),
    ) -> dict[str, Any]:
        entry = {
            "ts": datetime.now(UTC).isoformat(timespec="seconds"),
            "vote": vote,
            "question": turn.get("question", ""),
            "answer": turn.get("answer", ""),
            "citations": list(turn.get("citations") or []),
            "intent": turn.get("intent"),
            "abstained": bool(turn.get("abstained")),
            "sources": turn.get("sources"),
            "history": list(history),
        }
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
        return entry


def read_feedback(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
