"""Feedback as evaluation cases: each vote that counts (rag.feedback.latest) becomes a
candidate item of our question set's format (eval.dataset), unlabelled until a person
fills in its evidence and facts.

A candidate keeps the question, the earlier turns and the answer that was given
(`answer_given`), the vote's record (`origin`: id, time, channel, comment, the citations
given, whether it abstained) and tags saying where it came from: `feedback`,
`thumbs_up`/`thumbs_down`, the channel; a thumbs-down is also tagged `regression`, a case
the bot got wrong once and must be checked on from now on. Its id is derived from the
vote's id, so exporting again adds new votes and leaves items already in the file (and
whatever a person filled in) as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, get_args

from eval.dataset import Item, Kind, Turn, dump_items, load_items
from rag.feedback import history_turns

ID_PREFIX = "fb-"


def candidate(record: Mapping[str, Any]) -> Item:
    vote = str(record.get("vote"))
    intent = record.get("intent")
    channel = str(record.get("channel") or "ui")
    return Item(
        id=ID_PREFIX + str(record.get("id") or "")[:12],
        question=str(record.get("question") or "").strip() or "(empty question)",
        kind=intent if intent in get_args(Kind) else "other",
        answerable=True, evidence=[], facts=[], key_facts=[],
        history=[Turn.model_validate(t) for t in history_turns(record.get("history") or [])],
        tags=["feedback", f"thumbs_{vote}", channel, *(["regression"] if vote == "down" else [])],
        split="dev",
        answer_given=str(record.get("answer") or ""),
        origin={"feedback_id": record.get("id"), "ts": record.get("ts"), "vote": vote,
                "channel": channel, "comment": record.get("comment") or "",
                "abstained": record.get("abstained"),
                "citations": list(record.get("citations") or [])},
    )


def export(records: Iterable[Mapping[str, Any]], path: Path) -> tuple[int, int]:
    """Write the candidates of `records` to `path`, keeping the items already there (a
    file that does not load is an error: nothing is overwritten). Returns (added, kept)."""
    kept = load_items(path) if path.exists() else []
    known = {it.id for it in kept}
    new = []
    for r in records:
        item = candidate(r)
        if item.id not in known:
            known.add(item.id)
            new.append(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    dump_items([*kept, *new], path)
    return len(new), len(kept)
