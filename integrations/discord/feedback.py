"""👍/👎 reactions on the bot's answers, sent to careerbot's feedback log (POST /v1/feedback).

The bot remembers what it answered, by the id of each message it posted (`AnswerBook`,
the last few thousand answers, in memory). A reaction on one of those messages becomes a
vote with the question, the earlier turns, the answer and its citations. For an answer
posted before the bot (re)started, the message itself is read: the question is the one
it quotes (slash commands) or the message it replies to (mentions); history and
citations are then unknown. A voter's later reaction on the same message replaces the
earlier one (the vote's `ref` is the message and the voter). Taking a reaction back is
not sent: the feedback API takes votes, up or down.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .api_client import CareerbotError
from .formatting import reply_turns, strip_mentions

log = logging.getLogger("careerbot.discord")

VOTES = {"👍": "up", "👎": "down"}
REMEMBERED = 5000  # answers kept for votes, newest first


@dataclass(frozen=True)
class Answered:
    question: str
    answer: str
    history: list[dict[str, str]] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)


class AnswerBook:
    """What each of the bot's recent messages answered."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._by_message: OrderedDict[int, Answered] = OrderedDict()

    def remember(self, message_ids: Iterable[int | None], answered: Answered) -> None:
        for mid in message_ids:
            if mid is None:
                continue
            self._by_message[mid] = answered
            self._by_message.move_to_end(mid)
        while len(self._by_message) > self.size:
            self._by_message.popitem(last=False)

    def get(self, message_id: int) -> Answered | None:
        return self._by_message.get(message_id)


class Voter(Protocol):
    async def feedback(
        self, question: str, answer: str, vote: str, *,
        history: Sequence[Mapping[str, str]] = (), citations: Sequence[Mapping[str, Any]] = (),
        ref: str | None = None,
    ) -> str: ...


def answered_from_message(content: str, replied_to: str | None, bot_id: int
                          ) -> Answered | None:
    """What a bot message answered, read from the message: its quoted question (slash
    commands) or the text of the message it replies to (mentions)."""
    turns = reply_turns(content)
    answer = next((t for role, t in turns if role == "assistant"), "")
    question = next((t for role, t in turns if role == "user"), "")
    if not question and replied_to:
        question = strip_mentions(replied_to, bot_id)
    if not question or not answer:
        return None
    return Answered(question, answer)


def _base_emoji(emoji: str) -> str:
    """👍🏽 is 👍: skin tones and the emoji variation selector dropped."""
    return "".join(c for c in emoji if not ("\U0001f3fb" <= c <= "\U0001f3ff" or c == "\ufe0f"))


async def vote_on(
    api: Voter, book: AnswerBook, *, message_id: int, user_id: int, emoji: str,
    read_message: Callable[[], Awaitable[Answered | None]],
) -> str | None:
    """Send the vote a reaction stands for; returns the stored vote's id, or None when the
    reaction is not a vote on an answer (or the API could not store it, which is logged:
    a reaction has nobody to tell)."""
    vote = VOTES.get(_base_emoji(emoji))
    if vote is None:
        return None
    answered = book.get(message_id)
    if answered is None:
        try:
            answered = await read_message()
        except Exception as e:  # deleted, or no permission to read it
            log.warning("cannot read message %s for a vote: %r", message_id, e)
            return None
    if answered is None:
        return None
    try:
        return await api.feedback(
            answered.question, answered.answer, vote, history=answered.history,
            citations=answered.citations, ref=f"discord:{message_id}:{user_id}")
    except CareerbotError as e:
        log.warning("vote on message %s not stored: %s", message_id, e)
        return None
