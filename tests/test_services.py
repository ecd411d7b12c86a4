"""The composition root: what it builds, when it opens things, and that one `reload()` makes
the bot answer from what an ingest wrote."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.pipeline import run_ingest, update_index
from rag.failures import Failure
from rag.services import Services
from rag.settings import Settings
from rag.store import Store, StoreError
from rag.store_qdrant import QdrantStore
from tests.conftest import FakeEmbedder

LATE = "003_ea9daf657743a40c"  # the guide that arrives after the first ingest


def test_building_opens_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    services = Services(settings, embedder=FakeEmbedder())
    assert not (tmp_path / "data").exists()  # no store opened, no folder made
    assert services.store_problem() is None  # opened on demand
    assert settings.index_dir.is_dir() and not settings.local_mode_dir.exists()
    services.close()
    assert services.current_store() is not None  # a later use opens it again
    services.close()


def test_one_bot_retriever_and_answerer(settings: Settings, memory_store: Store) -> None:
    services = Services(settings, store=memory_store, embedder=FakeEmbedder())
    bot = services.bot
    assert services.bot is bot and services.retriever is bot.retriever
    assert services.answerer is bot.answerer and bot.store is memory_store
    other = services.over(QdrantStore(memory_store.client, "other"))
    assert other.embedder is services.embedder and other.bot is not bot
    services.close()  # a store handed in stays open: it is the caller's
    assert memory_store.count() == 0


def test_reload_makes_the_bot_answer_from_the_new_index(
        settings: Settings, memory_store: Store, tmp_path: Path) -> None:
    aside = tmp_path / "aside"
    aside.mkdir()
    shutil.move(settings.corpus_dir / f"{LATE}.txt", aside)
    services = Services(settings, store=memory_store, embedder=FakeEmbedder())
    # No sync by generation here (that is tested below): the ingest must take under its
    # one-second interval for the bot to still be on what it derived before, and on a
    # loaded machine it may not.
    services.sync_interval = float("inf")
    update_index(services)
    bot = services.bot
    answerer = bot.answerer
    assert LATE not in bot.docs()
    vocabulary = services.retriever.vocabulary()

    shutil.move(aside / f"{LATE}.txt", settings.corpus_dir)
    # An ingest that bypasses the services leaves the bot on what it derived before...
    run_ingest(settings, memory_store, services.embedder)
    assert LATE not in bot.docs() and services.retriever.vocabulary() is vocabulary
    # ...until reload(): guide metadata, vocabulary and answerer are derived afresh.
    services.reload()
    assert LATE in bot.docs() and services.bot is bot
    assert services.retriever.vocabulary() is not vocabulary
    assert bot.answerer is not answerer
    answer = bot.ask("Which tools should I learn?", sources=[LATE])
    assert {c.doc_id for c in answer.citations} <= {LATE}


def test_update_index_reloads_even_after_a_rebuild(settings: Settings,
                                                   memory_store: Store) -> None:
    services = Services(settings, store=memory_store, embedder=FakeEmbedder())
    update_index(services)
    docs = services.bot.docs()
    update_index(services, full=True)  # a new generation behind the aliases
    assert services.bot.docs() is not docs and set(services.bot.docs()) == set(docs)
    assert services.store.has_pieces()


def test_problems(settings: Settings, memory_store: Store) -> None:
    class Loading(FakeEmbedder):
        loaded = False

    empty = Services(settings, store=memory_store, embedder=FakeEmbedder())
    assert empty.problem() == Failure("empty_index", "index is empty: run careerbot ingest")
    loading = Services(settings, store=memory_store, embedder=Loading())
    assert loading.problem() == Failure("starting", "model loading")
    loading.model_error = "OSError: gone"
    problem = loading.problem()
    assert problem is not None and problem.kind == "model_failed" and "gone" in problem.detail


def test_a_held_store_is_retried(settings: Settings) -> None:
    holder = Store.open(settings)  # the embedded store admits one client per folder
    services = Services(settings, embedder=FakeEmbedder(), reopen_interval=3600)
    try:
        with pytest.raises(StoreError, match="in use"):
            services.connect()
        problem = services.problem()
        assert problem is not None and problem.kind == "store_down"
        assert "in use" in problem.detail
        holder.close()
        assert services.current_store() is None  # not before the interval has passed
        services.reopen_interval = 0
        assert services.current_store() is not None and services.problem() is not None
    finally:
        holder.close()
        services.close()


def test_an_ingest_by_another_process_is_noticed(tmp_path: Path, memory_store: Store) -> None:
    """Two processes on one index (a server and a CLI ingest, replicas on one Qdrant): the
    one that did not ingest reloads when the index's generation changes."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "widgets.md").write_text("# Widgets\n\n## Basics\n\nWidgets need gears.\n")
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus)
    from ingest.pipeline import ingest_corpus

    ingest_corpus(corpus, memory_store, FakeEmbedder(), config={"model": "fake"})
    server = Services(settings, store=memory_store, embedder=FakeEmbedder())
    server.sync_interval = 0  # compare on every use (at most once a second in production)
    assert set(server.bot.docs()) == {"widgets"}
    assert server.sync() is False  # nothing changed
    (corpus / "sprockets.md").write_text("# Sprockets\n\n## Oils\n\nGraphite for sprockets.\n")
    ingest_corpus(corpus, memory_store, FakeEmbedder(), config={"model": "fake"})  # elsewhere
    assert set(server.bot.docs()) == {"widgets", "sprockets"}  # the bot's use synced it
    assert server.sync() is False
