"""The discord.py client: /ask and @-mentions, adapted to `handler.answer_question`.

Context per thread: in a thread, the recent messages (the bot's replies and the questions
put to it) become the history, so follow-ups like "and without a degree?" work. In a
plain channel, a question that replies to one of the bot's answers gets that answer as
context; start a thread for a longer conversation.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from .api_client import MAX_QUESTION_CHARS, CareerbotClient
from .feedback import AnswerBook, Answered, answered_from_message, vote_on
from .formatting import history_from_messages, strip_mentions
from .handler import Api, answer_question

log = logging.getLogger("careerbot.discord")

HISTORY_MESSAGES = 50  # thread messages read for context (they become at most 20 turns)
# Nothing the bot posts pings anyone: the guides' text could hold "@everyone".
NO_PINGS = discord.AllowedMentions.none()


def session_of(channel: Any) -> str | None:
    channel_id = getattr(channel, "id", None)
    return f"discord:{channel_id}" if channel_id is not None else None


async def thread_history(channel: Any, bot_id: int, *,
                         before: discord.Message | None = None) -> list[dict[str, str]]:
    """History turns from a thread's recent messages; [] outside threads."""
    if not isinstance(channel, discord.Thread):
        return []
    messages = [m async for m in channel.history(limit=HISTORY_MESSAGES, before=before)]
    return history_from_messages(reversed(messages), bot_id)


class SlashConversation:
    """A /ask interaction: deferred at once ("careerbot is thinking..."), answered with
    follow-up messages."""

    def __init__(self, interaction: discord.Interaction, bot_id: int) -> None:
        self.interaction, self.bot_id = interaction, bot_id

    async def acknowledge(self) -> None:
        if not self.interaction.response.is_done():
            await self.interaction.response.defer(thinking=True)

    async def history(self) -> list[dict[str, str]]:
        return await thread_history(self.interaction.channel, self.bot_id)

    async def send(self, text: str) -> int | None:
        sent = await self.interaction.followup.send(text, allowed_mentions=NO_PINGS,
                                                    suppress_embeds=True, wait=True)
        return getattr(sent, "id", None)


class MentionConversation:
    """A message that mentions the bot: typing indicator, then a reply to the message
    (later parts follow in the channel)."""

    def __init__(self, message: discord.Message, bot_id: int) -> None:
        self.message, self.bot_id = message, bot_id
        self._replied = False

    async def acknowledge(self) -> None:
        await self.message.channel.typing()  # shows "careerbot is typing..." for ~10 s

    async def history(self) -> list[dict[str, str]]:
        channel = self.message.channel
        if isinstance(channel, discord.Thread):
            return await thread_history(channel, self.bot_id, before=self.message)
        ref = self.message.reference
        replied_to = ref.resolved if ref is not None else None
        if isinstance(replied_to, discord.Message) and replied_to.author.id == self.bot_id:
            return history_from_messages([replied_to], self.bot_id)
        return []

    async def send(self, text: str) -> int | None:
        if not self._replied:
            self._replied = True
            sent = await self.message.reply(text, mention_author=False,
                                            allowed_mentions=NO_PINGS, suppress_embeds=True)
        else:
            sent = await self.message.channel.send(text, allowed_mentions=NO_PINGS,
                                                   suppress_embeds=True)
        return sent.id


def mentions_bot(message: discord.Message, bot_user: discord.abc.User | None) -> bool:
    """Whether a message asks the bot: a person's message that @-mentions it."""
    if bot_user is None or message.author.bot:
        return False
    return any(u.id == bot_user.id for u in message.mentions)


class CareerbotDiscord(discord.Client):
    def __init__(self, api: Api, *, guild_id: int | None = None) -> None:
        intents = discord.Intents.default()
        # Privileged (enable it in the Developer Portal): thread messages as context.
        intents.message_content = True
        super().__init__(intents=intents, allowed_mentions=NO_PINGS)
        self.api = api
        self.book = AnswerBook()  # what its recent messages answered: reactions are votes
        self.guild_id = guild_id
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(self._ask_command())

    def _ask_command(self) -> app_commands.Command[Any, Any, None]:
        @app_commands.command(
            name="ask", description="Ask about becoming an ML engineer; answers cite the guides."
        )
        @app_commands.describe(question="Your question, e.g. How long does it take?")
        async def ask(
            interaction: discord.Interaction,
            question: app_commands.Range[str, 1, MAX_QUESTION_CHARS],
        ) -> None:
            await self.on_ask(interaction, question)

        return ask

    @property
    def bot_id(self) -> int:
        return self.user.id if self.user is not None else 0

    async def setup_hook(self) -> None:
        if self.guild_id:  # one server: the command shows up at once
            guild = discord.Object(id=self.guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        else:  # everywhere: Discord may take up to an hour to show it
            await self.tree.sync()

    async def on_ready(self) -> None:
        log.info("logged in as %s (id %s)", self.user, self.bot_id)

    async def on_ask(self, interaction: discord.Interaction, question: str) -> None:
        await answer_question(
            SlashConversation(interaction, self.bot_id), self.api, question,
            echo_question=True, session_id=session_of(interaction.channel), book=self.book,
        )

    async def on_message(self, message: discord.Message) -> None:
        if not mentions_bot(message, self.user):
            return
        await answer_question(
            MentionConversation(message, self.bot_id), self.api,
            strip_mentions(message.content, self.bot_id), session_id=session_of(message.channel),
            book=self.book,
        )

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """👍/👎 on one of its answers: a vote for careerbot's feedback log."""
        if payload.user_id == self.bot_id or (payload.member is not None
                                              and payload.member.bot):
            return
        if payload.message_author_id not in (None, self.bot_id):
            return  # a reaction on someone else's message

        async def read_message() -> Answered | None:
            channel = self.get_channel(payload.channel_id) or await self.fetch_channel(
                payload.channel_id)
            if not isinstance(channel, discord.abc.Messageable):
                return None
            message = await channel.fetch_message(payload.message_id)
            if message.author.id != self.bot_id:
                return None  # not an answer of this bot
            replied_to = None
            ref = message.reference
            if isinstance(ref, discord.MessageReference) and ref.message_id is not None:
                original = ref.resolved if isinstance(ref.resolved, discord.Message) \
                    else await channel.fetch_message(ref.message_id)
                replied_to = original.content
            return answered_from_message(message.content, replied_to, self.bot_id)

        await vote_on(self.api, self.book, message_id=payload.message_id,
                      user_id=payload.user_id, emoji=payload.emoji.name or "",
                      read_message=read_message)

    async def close(self) -> None:
        if isinstance(self.api, CareerbotClient):
            await self.api.aclose()
        await super().close()
