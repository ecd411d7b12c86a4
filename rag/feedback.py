"""Votes on answers, from every channel, in one log: `<data_dir>/feedback.jsonl`.

The chat UI's thumbs, POST /v1/feedback and the Discord bot's 👍/👎 reactions (which
come in through the API) all end up here, one JSON object per line:

    {"id", "ts", "channel": "ui"|"api"|"discord", "vote": "up"|"down"|"none", "ref",
     "question", "history": [{"role", "content"}], "answer", "citations": [...],
     "comment", "intent", "abstained", "sources",
     "retrieval": {"query", "intent", "mode", "depth", "results": [{"rank", "chunk_id",
                   "doc_id", "section", "start", "end", "score", "dense_rank",
                   "sparse_rank", "pieces_rank"}], "cited": [{"n", "rank"}]} | null}

`retrieval` is what retrieval does for the question when the vote arrives (rag.explain):
the passages the answerer reads with their rank in each list, and where each citation's
passage ranked. It is null (with `retrieval_error`) when it could not be computed, say
while the model loads: the vote is kept all the same.

The log is append-only. A changed vote is a new line with the same `ref` (what was voted
on: a UI answer, a Discord message and voter, or what an API client sends); `latest`
keeps the last line of each ref, and a "none" vote withdraws it. The file is capped:
past `max_bytes` it is rotated (feedback.jsonl.1 is the newest old file, up to
`backups` of them) and the oldest file is dropped, so the log holds at most
(backups + 1) × max_bytes. Rotation is the standard library's RotatingFileHandler; only
the serving process writes (the Discord bot goes through the API), so its per-process
lock is the only one needed.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rag.explain import retrieval_record

if TYPE_CHECKING:
    from rag.services import Services  # which builds the log: imported for types only

log = logging.getLogger("careerbot")

FILE_NAME = "feedback.jsonl"
Vote = Literal["up", "down", "none"]
Channel = Literal["ui", "api", "discord"]
VOTES = ("up", "down")


class _Rotating(logging.handlers.RotatingFileHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        # logging's default prints the problem and carries on; a vote that could not be
        # stored must say so to whoever cast it (emit calls this inside its except block).
        raise


class FeedbackLog:
    def __init__(self, path: Path, *, max_bytes: int = 10 * 2**20, backups: int = 3) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = max(1, backups)
        self._lock = threading.Lock()

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Write one record (given an `id` and a `ts` if it has none); raises OSError when
        the log cannot be written."""
        entry = {"id": uuid.uuid4().hex, "ts": now(), **record}
        line = json.dumps(entry, ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handler = _Rotating(self.path, maxBytes=self.max_bytes, backupCount=self.backups,
                                encoding="utf-8", delay=True)
            handler.setFormatter(logging.Formatter("%(message)s"))
            try:
                handler.handle(logging.makeLogRecord({"msg": line, "args": None}))
            finally:
                handler.close()  # no file stays open between votes
        return entry

    def files(self) -> list[Path]:
        """The log's files, oldest first."""
        old = [self.path.with_name(f"{self.path.name}.{i}") for i in range(self.backups, 0, -1)]
        return [p for p in (*old, self.path) if p.exists()]

    def read(self) -> list[dict[str, Any]]:
        """Every record, oldest first; a line that is not a JSON object is skipped."""
        out: list[dict[str, Any]] = []
        for path in self.files():
            with path.open(encoding="utf-8", errors="replace") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except ValueError:
                        row = None
                    if isinstance(row, dict):
                        out.append(row)
                    else:
                        log.warning("feedback: %s:%d is not a record; skipped", path.name, n)
        return out


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def latest(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The votes that count: for each `ref`, its last record (records without one stand
    alone), in the order they were last cast; withdrawn votes ("none") left out."""
    by_ref: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(records):
        key = str(r.get("ref") or f"#{i}")
        by_ref.pop(key, None)  # re-inserted: the order is that of the last vote
        by_ref[key] = dict(r)
    return [r for r in by_ref.values() if r.get("vote") in VOTES]


def history_turns(history: Sequence[Any]) -> list[dict[str, str]]:
    """History as {role, content} turns; bare strings (older UI records) are user turns."""
    out = []
    for t in history:
        if isinstance(t, str):
            out.append({"role": "user", "content": t})
        elif isinstance(t, Mapping) and t.get("role") in ("user", "assistant"):
            out.append({"role": str(t["role"]), "content": str(t.get("content", ""))})
    return out


def record_vote(
    services: Services,
    vote: Vote,
    question: str,
    answer: str,
    *,
    channel: Channel,
    history: Sequence[Mapping[str, Any]] = (),
    citations: Sequence[Mapping[str, Any]] = (),
    comment: str = "",
    ref: str | None = None,
    intent: str | None = None,
    abstained: bool | None = None,
    sources: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Store a vote in the services' log, with what retrieval does for the question now
    (skipped for a withdrawn vote). Raises OSError when the log cannot be written; any
    other failure only costs the record its retrieval ranks."""
    turns = history_turns(history)
    record: dict[str, Any] = {
        "channel": channel, "vote": vote, "ref": ref, "question": question,
        "history": turns, "answer": answer, "citations": [dict(c) for c in citations],
        "comment": comment, "intent": intent, "abstained": abstained,
        "sources": list(sources) if sources else None, "retrieval": None,
    }
    if vote in VOTES:
        try:
            if (problem := services.problem()) is not None:
                raise RuntimeError(problem.detail)
            record["retrieval"] = retrieval_record(services.bot, question, turns,
                                                   record["citations"], sources)
            record["intent"] = intent or record["retrieval"]["intent"]
        except Exception as e:  # the vote matters more than its ranks
            log.warning("feedback: retrieval ranks not recorded: %s", e)
            record["retrieval_error"] = str(e) or type(e).__name__
    return services.feedback.append(record)
