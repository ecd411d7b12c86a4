"""One question, from acknowledgement to the last reply part, against small interfaces:
the bot adapts a slash command or a mention to `Conversation`, and the API client is an
`Asker`, so all of it runs in tests with fakes."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .api_client import MAX_QUESTION_CHARS, CareerbotError
from .feedback import AnswerBook, Answered, Voter
from .formatting import render_reply, split_message

log = logging.getLogger("careerbot.discord")

USAGE = ("Ask me about becoming an ML engineer, e.g. `/ask How long does it take?` or "
         "mention me with your question. Answers quote the guides they come from.")


class Conversation(Protocol):
    async def acknowledge(self) -> None:
        """Tell Discord the bot is on it; a slash command must do so within 3 seconds."""

    async def history(self) -> list[dict[str, str]]:
        """Earlier turns of this conversation (the thread), oldest first."""

    async def send(self, text: str) -> int | None:
        """Post one message (at most 2,000 characters) as a reply; its id when known."""


class Asker(Protocol):
    async def chat(
        self, message: str, history: Sequence[Mapping[str, str]] = (), *,
        session_id: str | None = None,
    ) -> dict[str, Any]: ...


class Api(Asker, Voter, Protocol):
    """What the bot needs of careerbot's API: answers, and votes on them."""


async def answer_question(
    conv: Conversation, api: Asker, question: str, *, echo_question: bool = False,
    session_id: str | None = None, book: AnswerBook | None = None,
) -> list[str]:
    """Answer `question` in `conv`; returns the parts sent. With `book`, the messages of
    an answer are remembered, so reactions on them become votes (see .feedback)."""
    await conv.acknowledge()  # first, before anything slow
    question = question.strip()
    answered: Answered | None = None
    if not question:
        parts = [USAGE]
    elif len(question) > MAX_QUESTION_CHARS:
        parts = [f"That question is {len(question)} characters long; please keep it under "
                 f"{MAX_QUESTION_CHARS}."]
    else:
        try:
            history = await conv.history()
        except Exception as e:  # e.g. no permission to read the thread: answer without it
            log.warning("cannot read the conversation history: %r", e)
            history = []
        try:
            reply = await api.chat(question, history, session_id=session_id)
            parts = split_message(render_reply(reply, question if echo_question else None))
            answered = Answered(question, str(reply.get("answer") or ""), list(history),
                                list(reply.get("citations") or []))
        except CareerbotError as e:
            parts = [f"⚠️ {e}"]
    sent = [await conv.send(part) for part in parts]
    if book is not None and answered is not None and answered.answer:
        book.remember(sent, answered)
    return parts
