"""Thumbs up/down on answers: Gradio's like event, worded as a vote for the one feedback
log (rag.feedback), which the API and the Discord bot write too."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from rag.feedback import Vote


def vote_name(liked: Any) -> Vote:
    """Gradio reports True/False for the thumbs and "" when a thumb is clicked again to
    take the vote back (any other option label counts as no vote)."""
    if liked is True or str(liked).strip().lower() == "like":
        return "up"
    if liked is False or str(liked).strip().lower() == "dislike":
        return "down"
    return "none"


def vote_ref(conv: Mapping[str, Any], k: int, answer: str) -> str:
    """What a UI vote is on: answer `k` of a saved conversation, as it read (a retried or
    re-asked turn is another answer, voted on afresh)."""
    digest = hashlib.sha1(answer.encode("utf-8")).hexdigest()[:10]
    return f"ui:{conv.get('id') or 'unsaved'}:{k}:{digest}"
