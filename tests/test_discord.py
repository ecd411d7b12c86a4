"""The Discord bot short of the gateway: splitting, formatting, history from thread
messages, the API client against the real app, the question handler, and the discord.py
adapters with discord.py's own Thread and Message objects over a fake HTTP layer."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.app import create_app
from integrations.discord import bot as botmod
from integrations.discord.api_client import CareerbotClient, CareerbotError
from integrations.discord.bot import (
    CareerbotDiscord,
    MentionConversation,
    SlashConversation,
    mentions_bot,
    thread_history,
)
from integrations.discord.feedback import (
    AnswerBook,
    Answered,
    answered_from_message,
    vote_on,
)
from integrations.discord.formatting import (
    SOURCES_HEADER,
    history_from_messages,
    render_reply,
    render_sources,
    split_message,
    strip_mentions,
)
from integrations.discord.handler import USAGE, answer_question
from rag.feedback import FILE_NAME, FeedbackLog
from rag.settings import Settings
from rag.store import Store
from tests.conftest import FakeEmbedder, free_port
from tests.test_api import QUESTION, index_corpus

BOT_ID = 99
CITATIONS = [
    {"n": 1, "doc_id": "a", "title": "Guide A", "url": "https://a.example/x", "section": "Time",
     "quote": "q", "start": 0, "end": 1, "score": 1.0},
    {"n": 2, "doc_id": "a", "title": "Guide A", "url": "https://a.example/x", "section": "Time",
     "quote": "q", "start": 2, "end": 3, "score": 1.0},
    {"n": 3, "doc_id": "b", "title": "Guide [B] *bold*", "url": None, "section": "",
     "quote": "q", "start": 0, "end": 1, "score": 1.0},
]

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ------------------------------------------------------------------------ splitting


def test_short_text_is_one_part() -> None:
    assert split_message("  hello  ") == ["hello"]
    assert split_message("") == [] and split_message(" \n ") == []


def test_splits_on_paragraphs_first() -> None:
    paras = [f"Paragraph {i}. " + "word " * 150 for i in range(8)]  # ~760 chars each
    parts = split_message("\n\n".join(p.strip() for p in paras))
    assert len(parts) > 1 and all(len(p) <= 2000 for p in parts)
    assert all(p.startswith("Paragraph") for p in parts)  # each part starts a paragraph


def test_splits_on_sentences_without_breaks() -> None:
    text = " ".join(f"Sentence number {i} says something useful." for i in range(120))
    parts = split_message(text)
    assert len(parts) >= 3 and all(len(p) <= 2000 for p in parts)
    assert all(p.endswith(".") for p in parts)
    assert " ".join(parts) == text


def test_hard_cut_when_there_is_no_boundary() -> None:
    assert [len(p) for p in split_message("x" * 4500)] == [2000, 2000, 500]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab .!?\n"), max_size=6000),
       st.integers(min_value=20, max_value=2000))
def test_split_keeps_every_character_within_limits(text: str, limit: int) -> None:
    parts = split_message(text, limit)
    assert all(0 < len(p) <= limit for p in parts)
    assert re.sub(r"\s", "", "".join(parts)) == re.sub(r"\s", "", text)


# ------------------------------------------------------------------------ formatting


def test_sources_are_compact_links() -> None:
    lines = render_sources(CITATIONS).split("\n")
    assert lines[0] == SOURCES_HEADER
    assert lines[1] == "[1][2] [Guide A](<https://a.example/x>) › Time"
    assert lines[2] == r"[3] Guide (B) \*bold\*"
    assert render_sources([]) == ""


def test_reply_quotes_the_question_for_slash_commands() -> None:
    reply = {"answer": "About a year [1].", "citations": CITATIONS[:1]}
    text = render_reply(reply, "How long\ndoes it take?")
    assert text.startswith("> How long does it take?\nAbout a year [1].\n\n**Sources**")
    assert render_reply({"answer": "Not covered.", "citations": []}) == "Not covered."


def test_strip_mentions() -> None:
    assert strip_mentions(f"<@{BOT_ID}> how long? <@!{BOT_ID}>", BOT_ID) == "how long?"
    assert strip_mentions("<@123> hi", BOT_ID) == "<@123> hi"


@dataclass
class FakeAuthor:
    id: int
    bot: bool = False


@dataclass
class FakeMessage:
    author: FakeAuthor
    content: str


def test_history_from_thread_messages() -> None:
    user, other_bot = FakeAuthor(7), FakeAuthor(5, bot=True)
    answer = render_reply({"answer": "About a year [1].\n\nOr less.", "citations": CITATIONS},
                          "How long does it take?")
    first, *rest = split_message(answer, 45)  # the Sources list spans several messages
    assert len(rest) >= 3
    msgs = [
        FakeMessage(user, "chatting among ourselves"),
        FakeMessage(FakeAuthor(BOT_ID), first),
        *[FakeMessage(FakeAuthor(BOT_ID), part) for part in rest],
        FakeMessage(other_bot, f"<@{BOT_ID}> I am a bot"),
        FakeMessage(user, f"<@{BOT_ID}> and part-time?"),
        FakeMessage(FakeAuthor(BOT_ID), "⚠️ careerbot is not ready: model loading."),
    ]
    assert history_from_messages(msgs, BOT_ID) == [
        {"role": "user", "content": "How long does it take?"},
        {"role": "assistant", "content": "About a year [1].\nOr less."},
        {"role": "user", "content": "and part-time?"},
        {"role": "assistant", "content": "⚠️ careerbot is not ready: model loading."},
    ]


def test_history_is_bounded() -> None:
    msgs = []
    for i in range(30):
        msgs += [FakeMessage(FakeAuthor(7), f"<@{BOT_ID}> q{i} " + "x" * 5000),
                 FakeMessage(FakeAuthor(BOT_ID), f"a{i}")]
    turns = history_from_messages(msgs, BOT_ID)
    assert len(turns) == 20 and turns[0]["content"].startswith("q20")
    assert all(len(t["content"]) <= 4000 for t in turns)


# ------------------------------------------------------------------------ API client


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Store]:
    return index_corpus(tmp_path_factory.mktemp("discord"))


@asynccontextmanager
async def api_client(settings: Settings, store: Store, key: str | None = None
                     ) -> AsyncIterator[CareerbotClient]:
    """A CareerbotClient talking to the real app in-process (httpx's ASGI transport)."""
    app = create_app(settings, store=store, embedder=FakeEmbedder())
    async with app.router.lifespan_context(app):
        client = CareerbotClient("http://careerbot", key,
                                 transport=httpx.ASGITransport(app=app))
        try:
            yield client
        finally:
            await client.aclose()


async def test_client_against_the_app(indexed: tuple[Settings, Store]) -> None:
    settings, store = indexed
    async with api_client(settings, store) as api:
        history = [{"role": "user", "content": "x" * 5000}] * 25
        reply = await api.chat(QUESTION, history, session_id="discord:1")
        assert {"answer", "citations", "intent", "abstained"} <= set(reply)
        assert reply["session_id"] == "discord:1"
        with pytest.raises(CareerbotError, match="could not take this question"):
            await api.chat("x" * 2001)


async def test_client_error_messages(indexed: tuple[Settings, Store],
                                     memory_store: Store) -> None:
    settings, store = indexed
    keyed = settings.model_copy(update={"api_keys": "right", "rate_limit_per_minute": 1})
    async with api_client(keyed, store, key="wrong") as api:
        with pytest.raises(CareerbotError, match="API key was refused"):
            await api.chat(QUESTION)
    async with api_client(keyed, store, key="right") as api:
        await api.chat(QUESTION)
        with pytest.raises(CareerbotError, match=r"try again in \d+ s"):
            await api.chat(QUESTION)
    async with api_client(settings, memory_store) as api:  # nothing indexed
        with pytest.raises(CareerbotError, match="not ready: index is empty"):
            await api.chat(QUESTION)
    unreachable = CareerbotClient(f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(CareerbotError, match="unreachable"):
        await unreachable.chat(QUESTION)
    await unreachable.aclose()


# ------------------------------------------------------------------------ handler


@dataclass
class FakeConversation:
    turns: list[dict[str, str]] = field(default_factory=list)
    log: list[tuple[float, str, str]] = field(default_factory=list)
    history_fails: bool = False

    async def acknowledge(self) -> None:
        self.log.append((time.monotonic(), "ack", ""))

    async def history(self) -> list[dict[str, str]]:
        self.log.append((time.monotonic(), "history", ""))
        if self.history_fails:
            raise discord.Forbidden(httpx_response(403), "Missing Access")
        return self.turns

    async def send(self, text: str) -> None:
        self.log.append((time.monotonic(), "send", text))

    @property
    def sent(self) -> list[str]:
        return [t for _, kind, t in self.log if kind == "send"]


def httpx_response(status: int) -> Any:
    @dataclass
    class R:  # what discord.HTTPException reads of a response
        status: int
        reason: str = "Forbidden"

    return R(status)


@dataclass
class FakeAsker:
    reply: dict[str, Any]
    delay: float = 0.0
    calls: list[tuple[str, list[Any], str | None]] = field(default_factory=list)
    votes: list[dict[str, Any]] = field(default_factory=list)

    async def chat(self, message: str, history: Sequence[Mapping[str, str]] = (), *,
                   session_id: str | None = None) -> dict[str, Any]:
        self.calls.append((message, list(history), session_id))
        await asyncio.sleep(self.delay)
        return self.reply

    async def feedback(self, question: str, answer: str, vote: str, *,
                       history: Sequence[Mapping[str, str]] = (),
                       citations: Sequence[Mapping[str, Any]] = (),
                       ref: str | None = None) -> str:
        self.votes.append({"question": question, "answer": answer, "vote": vote,
                           "history": list(history), "citations": list(citations),
                           "ref": ref})
        return f"vote-{len(self.votes)}"


async def test_handler_end_to_end_with_the_app(indexed: tuple[Settings, Store]) -> None:
    settings, store = indexed
    conv = FakeConversation(turns=[{"role": "user", "content": "hi"}])
    async with api_client(settings, store) as api:
        parts = await answer_question(conv, api, f"  {QUESTION} ", echo_question=True,
                                      session_id="discord:5")
    assert [kind for _, kind, _ in conv.log][:2] == ["ack", "history"]
    assert parts == conv.sent and all(len(p) <= 2000 for p in parts)
    assert parts[0].startswith(f"> {QUESTION}\n")
    assert SOURCES_HEADER in parts[-1]  # the guides cover how long it takes


async def test_handler_acknowledges_before_slow_work() -> None:
    conv = FakeConversation()
    api = FakeAsker({"answer": "ok", "citations": []}, delay=0.5)
    await answer_question(conv, api, "how long?")
    (t_ack, first, _), *_ = conv.log
    t_sent = conv.log[-1][0]
    assert first == "ack" and t_sent - t_ack >= 0.5  # acknowledged before the answer came


async def test_handler_splits_long_answers() -> None:
    long_answer = "\n\n".join(f"Point {i}: " + "detail " * 60 + f"[{i % 3 + 1}]"
                              for i in range(12))
    conv = FakeConversation()
    parts = await answer_question(conv, FakeAsker({"answer": long_answer,
                                                   "citations": CITATIONS}), "q")
    assert len(parts) >= 3 and all(len(p) <= 2000 for p in parts)
    assert parts[-1].endswith(render_sources(CITATIONS).split("\n")[-1])


async def test_handler_problems() -> None:
    api = FakeAsker({"answer": "ok", "citations": []})
    conv = FakeConversation()
    assert await answer_question(conv, api, "   ") == [USAGE]
    assert "under 2000" in (await answer_question(conv, api, "x" * 2001))[0]
    assert api.calls == []  # neither reached the API

    class Failing:
        async def chat(self, *_: Any, **__: Any) -> dict[str, Any]:
            raise CareerbotError("careerbot is not ready: model loading.")

    assert await answer_question(FakeConversation(), Failing(), "q") == [
        "⚠️ careerbot is not ready: model loading."]
    conv = FakeConversation(history_fails=True)
    assert await answer_question(conv, api, "q") == ["ok"]  # answered without context
    assert api.calls[-1][1] == []


# ------------------------------------------------------------------------ discord.py


def user_payload(uid: int, bot: bool = False) -> dict[str, Any]:
    return {"id": str(uid), "username": f"u{uid}", "discriminator": "0", "avatar": None,
            "bot": bot}


class FakeDiscordHTTP:
    """The slice of discord.py's HTTPClient that reading and posting messages uses."""

    def __init__(self, channel_id: int) -> None:
        self.channel_id = channel_id
        self.history: list[dict[str, Any]] = []  # newest first, as Discord returns them
        self.sent: list[dict[str, Any]] = []
        self.typing = 0
        self._next = 1000

    def message(self, author: int, content: str, *, bot: bool = False,
                mentions: Sequence[int] = ()) -> dict[str, Any]:
        self._next += 1
        return {"id": str(self._next), "channel_id": str(self.channel_id),
                "author": user_payload(author, bot), "content": content,
                "timestamp": "2026-01-01T00:00:00+00:00", "edited_timestamp": None,
                "tts": False, "mention_everyone": False,
                "mentions": [user_payload(m, m == BOT_ID) for m in mentions],
                "mention_roles": [], "attachments": [], "embeds": [], "pinned": False,
                "type": 0}

    async def logs_from(self, channel_id: int, limit: int, before: Any = None,
                        after: Any = None, around: Any = None) -> list[dict[str, Any]]:
        before_id = getattr(before, "id", before)  # discord.py passes the snowflake
        older = [m for m in self.history if before_id is None or int(m["id"]) < before_id]
        return older[:limit]

    async def send_message(self, channel_id: int, *, params: Any) -> dict[str, Any]:
        self.sent.append(params.payload)
        return self.message(BOT_ID, params.payload["content"], bot=True)

    async def send_typing(self, channel_id: int) -> None:
        self.typing += 1


@pytest.fixture
def bot() -> CareerbotDiscord:
    client = CareerbotDiscord(FakeAsker({"answer": "About a year [1].",
                                         "citations": CITATIONS[:1]}))
    state = client._connection
    state.user = discord.ClientUser(state=state, data=user_payload(BOT_ID, True))  # type: ignore[arg-type]
    return client


def thread_of(client: discord.Client, http: FakeDiscordHTTP) -> discord.Thread:
    state = client._connection
    state.http = http  # type: ignore[assignment]
    guild = discord.Guild(data={"id": "1", "name": "g"}, state=state)  # type: ignore[typeddict-item]
    return discord.Thread(guild=guild, state=state, data={  # type: ignore[typeddict-item]
        "id": str(http.channel_id), "parent_id": "5", "owner_id": "7", "name": "t",
        "type": 11, "message_count": 0, "member_count": 2,
        "thread_metadata": {"archived": False, "auto_archive_duration": 60,
                            "archive_timestamp": "2026-01-01T00:00:00+00:00"}})


def test_ask_command_is_registered(bot: CareerbotDiscord) -> None:
    cmd = bot.tree.get_command("ask")
    assert isinstance(cmd, discord.app_commands.Command) and cmd.description
    (option,) = cmd.to_dict(bot.tree)["options"]  # what Discord is sent on sync
    assert option["name"] == "question" and option["required"]
    assert (option["min_length"], option["max_length"]) == (1, 2000)
    assert bot.intents.message_content


async def test_thread_history_with_discord_objects(bot: CareerbotDiscord) -> None:
    http = FakeDiscordHTTP(10)
    thread = thread_of(bot, http)
    http.history = [  # newest first
        http.message(BOT_ID, "About a year [1].\n\n**Sources**\n[1] Guide", bot=True),
        http.message(7, f"<@{BOT_ID}> how long does it take?", mentions=[BOT_ID]),
        http.message(8, "unrelated chatter"),
    ]
    assert await thread_history(thread, BOT_ID) == [
        {"role": "user", "content": "how long does it take?"},
        {"role": "assistant", "content": "About a year [1]."},
    ]
    assert await thread_history(object(), BOT_ID) == []  # not a thread: no context


async def test_mention_in_a_thread_is_answered_with_context(bot: CareerbotDiscord) -> None:
    http = FakeDiscordHTTP(10)
    thread = thread_of(bot, http)
    http.history = [
        http.message(BOT_ID, "> How long does it take?\nAbout a year [1].", bot=True),
    ]
    question = discord.Message(state=bot._connection, channel=thread, data=http.message(  # type: ignore[arg-type]
        7, f"<@{BOT_ID}> and part-time?", mentions=[BOT_ID]))
    http.history.insert(0, http.message(7, "a later message, not context"))
    assert mentions_bot(question, bot.user)
    await bot.on_message(question)
    api: FakeAsker = bot.api  # type: ignore[assignment]
    (message, history, session), = api.calls
    assert message == "and part-time?" and session == "discord:10"
    assert history == [{"role": "user", "content": "How long does it take?"},
                       {"role": "assistant", "content": "About a year [1]."}]
    assert http.typing == 1 and len(http.sent) == 1
    sent = http.sent[0]
    assert sent["content"].startswith("About a year [1].") and SOURCES_HEADER in sent["content"]
    assert sent["message_reference"]["message_id"] == question.id  # a reply
    assert sent["allowed_mentions"]["parse"] == [] and sent["flags"] & 4  # no pings, embeds


async def test_messages_not_for_the_bot_are_ignored(bot: CareerbotDiscord) -> None:
    http = FakeDiscordHTTP(10)
    thread = thread_of(bot, http)
    for data in (http.message(7, "no mention here"),
                 http.message(5, f"<@{BOT_ID}> from a bot", bot=True, mentions=[BOT_ID]),
                 http.message(BOT_ID, "my own message", bot=True)):
        await bot.on_message(discord.Message(state=bot._connection, channel=thread, data=data))  # type: ignore[arg-type]
    assert bot.api.calls == [] and http.sent == []  # type: ignore[attr-defined]


async def test_long_replies_continue_in_the_channel(bot: CareerbotDiscord) -> None:
    http = FakeDiscordHTTP(10)
    thread = thread_of(bot, http)
    bot.api = FakeAsker({"answer": "\n\n".join(["word " * 300] * 4), "citations": CITATIONS})
    question = discord.Message(state=bot._connection, channel=thread, data=http.message(  # type: ignore[arg-type]
        7, f"<@{BOT_ID}> tell me everything", mentions=[BOT_ID]))
    conv = MentionConversation(question, BOT_ID)
    for part in ("one", "two"):
        await conv.send(part)
    assert ["message_reference" in p for p in http.sent] == [True, False]  # reply, then on
    http.sent.clear()
    await bot.on_message(question)
    assert len(http.sent) >= 3 and all(len(p["content"]) <= 2000 for p in http.sent)


class FakeInteraction:
    """What SlashConversation uses of discord.Interaction."""

    def __init__(self, channel: Any = None) -> None:
        self.channel = channel
        self.events: list[tuple[str, Any]] = []
        outer = self

        class Response:
            def is_done(self) -> bool:
                return any(e[0] == "defer" for e in outer.events)

            async def defer(self, *, thinking: bool = False, ephemeral: bool = False) -> None:
                outer.events.append(("defer", thinking))

        class Followup:
            async def send(self, content: str, **kw: Any) -> None:
                outer.events.append(("send", (content, kw)))

        self.response, self.followup = Response(), Followup()


async def test_slash_command_defers_then_follows_up(bot: CareerbotDiscord) -> None:
    interaction = FakeInteraction()
    cmd = bot.tree.get_command("ask")
    assert isinstance(cmd, discord.app_commands.Command)
    await cmd.callback(interaction, "How long does it take?")  # type: ignore[arg-type]
    assert interaction.events[0] == ("defer", True)
    kind, (content, kw) = interaction.events[1]
    assert kind == "send" and content.startswith("> How long does it take?\nAbout a year")
    assert kw["allowed_mentions"] == botmod.NO_PINGS and kw["suppress_embeds"]


async def test_slash_command_in_a_thread_uses_its_history(bot: CareerbotDiscord) -> None:
    http = FakeDiscordHTTP(12)
    thread = thread_of(bot, http)
    http.history = [http.message(BOT_ID, "> Do I need a degree?\nNot always [1].", bot=True)]
    conv = SlashConversation(FakeInteraction(thread), BOT_ID)  # type: ignore[arg-type]
    assert await conv.history() == [{"role": "user", "content": "Do I need a degree?"},
                                    {"role": "assistant", "content": "Not always [1]."}]
    await conv.acknowledge()
    await conv.acknowledge()  # deferring twice would fail on Discord
    assert [e for e in conv.interaction.events if e[0] == "defer"] == [("defer", True)]  # type: ignore[attr-defined]


def test_main_needs_a_token(monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    from integrations.discord.__main__ import main

    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    assert main() == 2 and "DISCORD_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv("DISCORD_GUILD_ID", "abc")
    assert main() == 2 and "DISCORD_GUILD_ID" in capsys.readouterr().err


# ------------------------------------------------------------------------ reactions


def reaction(message_id: int, user_id: int, emoji: str, *, author: int | None = BOT_ID,
             bot: bool = False) -> discord.RawReactionActionEvent:
    data: dict[str, Any] = {"message_id": str(message_id), "channel_id": "10",
                            "user_id": str(user_id), "type": 0}
    if author is not None:
        data["message_author_id"] = str(author)
    event = discord.RawReactionActionEvent(data, discord.PartialEmoji(name=emoji),  # type: ignore[arg-type]
                                           "REACTION_ADD")
    if bot:
        event.member = type("M", (), {"bot": True})()  # type: ignore[assignment]
    return event


async def test_reactions_on_an_answer_are_votes(bot: CareerbotDiscord) -> None:
    http = FakeDiscordHTTP(10)
    thread = thread_of(bot, http)
    http.history = [http.message(BOT_ID, "> How long does it take?\nAbout a year [1].",
                                 bot=True)]
    question = discord.Message(state=bot._connection, channel=thread, data=http.message(  # type: ignore[arg-type]
        7, f"<@{BOT_ID}> and part-time?", mentions=[BOT_ID]))
    await bot.on_message(question)
    api: FakeAsker = bot.api  # type: ignore[assignment]
    answer_id = int(http._next)  # the reply the bot just posted
    await bot.on_raw_reaction_add(reaction(answer_id, 7, "👍"))
    await bot.on_raw_reaction_add(reaction(answer_id, 8, "👎🏽"))  # any skin tone
    (up, down) = api.votes
    assert up == {"question": "and part-time?", "answer": "About a year [1].", "vote": "up",
                  "history": [{"role": "user", "content": "How long does it take?"},
                              {"role": "assistant", "content": "About a year [1]."}],
                  "citations": CITATIONS[:1], "ref": f"discord:{answer_id}:7"}
    assert down["vote"] == "down" and down["ref"] == f"discord:{answer_id}:8"
    # not votes: another emoji, the bot's own reaction, another bot's, another's message
    for event in (reaction(answer_id, 7, "🎉"), reaction(answer_id, BOT_ID, "👍"),
                  reaction(answer_id, 9, "👍", bot=True),
                  reaction(answer_id, 7, "👍", author=7)):
        await bot.on_raw_reaction_add(event)
    assert len(api.votes) == 2


async def test_a_vote_on_an_answer_from_before_a_restart() -> None:
    """The bot remembers nothing then: it reads the message, and what it replied to."""
    slash = answered_from_message("> Do I need a degree?\nNot always [1].\n\n**Sources**\n[1] "
                                  "Guide", None, BOT_ID)
    assert slash == Answered("Do I need a degree?", "Not always [1].")
    mention = answered_from_message("Not always [1].", f"<@{BOT_ID}> need a degree?", BOT_ID)
    assert mention == Answered("need a degree?", "Not always [1].")
    assert answered_from_message("⚠️ careerbot is not ready", None, BOT_ID) is None

    api = FakeAsker({})

    async def read() -> Answered | None:
        return mention

    async def gone() -> Answered | None:
        raise discord.NotFound(httpx_response(404), "Unknown Message")

    book = AnswerBook()
    assert await vote_on(api, book, message_id=5, user_id=7, emoji="👎", read_message=read) \
        == "vote-1"
    assert api.votes[0]["question"] == "need a degree?" and api.votes[0]["history"] == []
    assert await vote_on(api, book, message_id=6, user_id=7, emoji="👍",
                         read_message=gone) is None  # deleted meanwhile: nothing sent


async def test_votes_reach_the_feedback_log(indexed: tuple[Settings, Store],
                                            tmp_path: Path) -> None:
    settings = indexed[0].model_copy(update={"data_dir": tmp_path / "data"})
    async with api_client(settings, indexed[1]) as api:
        reply = await api.chat(QUESTION)
        book = AnswerBook()
        book.remember([42, 43], Answered(QUESTION, reply["answer"], [],
                                         reply["citations"]))

        async def unused() -> Answered | None:
            raise AssertionError("the answer is remembered")

        got = await vote_on(api, book, message_id=43, user_id=7, emoji="👍",
                            read_message=unused)
    (row,) = FeedbackLog(settings.data_dir / FILE_NAME).read()
    assert row["id"] == got and row["channel"] == "discord" and row["vote"] == "up"
    assert row["question"] == QUESTION and row["citations"] == reply["citations"]
    assert row["ref"] == "discord:43:7" and row["retrieval"]["results"]


async def test_a_vote_the_api_refuses_is_logged_not_raised(
        caplog: pytest.LogCaptureFixture) -> None:
    unreachable = CareerbotClient(f"http://127.0.0.1:{free_port()}", timeout=5)
    book = AnswerBook()
    book.remember([1], Answered("q", "a"))

    async def unused() -> Answered | None:
        return None

    assert await vote_on(unreachable, book, message_id=1, user_id=7, emoji="👍",
                         read_message=unused) is None
    assert "not stored" in caplog.text
    await unreachable.aclose()


def test_the_answer_book_forgets_the_oldest() -> None:
    book = AnswerBook(size=3)
    for i in range(5):
        book.remember([i, None], Answered(f"q{i}", "a"))
    assert book.get(0) is None and book.get(1) is None
    assert [book.get(i).question for i in (2, 3, 4)] == ["q2", "q3", "q4"]  # type: ignore[union-attr]
