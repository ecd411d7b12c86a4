"""The composition root: one `Services` per process, built from the one `Settings`.

The store, the embedder, the retriever, the answerer, the bot, the rate limiter and the
feedback log are built here and nowhere else. The command line, the API, the chat UI, eval and the
benchmarks each receive a `Services` and take what they need from it, so they agree on the
configuration (an LLM endpoint, the prefetch depth...), share one bot, whose caches serve
every request, and count a client's requests against one budget.

Building one opens nothing and loads nothing: the store opens on first use (or by
`connect()`, which the API's lifespan calls), the model on first use (or by `load_model()`).
When this object opened the store itself and that failed (an embedded store held by
another process), `current_store()` tries again at most every `reopen_interval` seconds,
so a server recovers without a restart. A server-mode store that goes down mid-run needs
nothing: each call reconnects.

`reload()` is the one place that forgets what was derived from the index (the guides'
metadata, the spelling vocabulary, the answerer and its off-topic calibration, the
store's view of the collections); whoever changes the index calls it
(`ingest.pipeline.update_index` does).

Nothing here knows about HTTP or Gradio: the API turns a `Failure` into a status code,
the UI into a friendly note.
"""

from __future__ import annotations

import logging
import threading
import time

from rag import embed
from rag.answer import Answerer, AnswerModel
from rag.chat import CareerBot, build_bot
from rag.embed import Embedder
from rag.failures import EMPTY_INDEX, STORE_ERRORS, Failure
from rag.feedback import FILE_NAME as FEEDBACK_FILE
from rag.feedback import FeedbackLog
from rag.ratelimit import RateLimiter
from rag.retrieve import QdrantRetriever
from rag.settings import Settings
from rag.store import Store

log = logging.getLogger("careerbot")


class Services:
    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        store: Store | None = None,
        answer_model: AnswerModel | None = None,
        reopen_interval: float = 5.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        """`embedder` and `store` replace what the settings name (tests, eval's temporary
        index); a store handed in belongs to the caller, who closes it."""
        self.settings = settings
        # One budget per client for every interface of the process (rag.ratelimit).
        self.limiter = limiter or RateLimiter(settings.rate_limit_per_minute)
        self.embedder: Embedder = (embedder if embedder is not None
                                   else embed.embedder_for(settings))
        self.answer_model = answer_model  # None: the shipped, fitted one
        self.reopen_interval = reopen_interval
        self.store_error = ""  # why the store could not be opened, while it cannot
        self.model_error = ""  # why the model could not be loaded
        self._store = store
        self._owns_store = store is None
        self._bot: CareerBot | None = None
        # Votes from the UI, the API and the Discord bot: one log (rag.feedback).
        self.feedback = FeedbackLog(settings.data_dir / FEEDBACK_FILE,
                                    max_bytes=int(settings.feedback_max_mb * 2**20),
                                    backups=settings.feedback_backups)
        self._failed_at = -float("inf")  # when opening the store last failed
        self._lock = threading.RLock()
        # The index generation the caches were built from (rag.schema.IndexMeta), and when
        # it was last compared with the index's own (`sync`).
        self._generation: str | None = None
        self._synced_at = -float("inf")
        self.sync_interval = 1.0
        self._serving = False

    @property
    def serving(self) -> bool:
        """Whether a server answers from these services (the API's lifespan says so): the
        store then avoids work that would stall it (`Store.serving`)."""
        return self._serving

    @serving.setter
    def serving(self, value: bool) -> None:
        self._serving = value
        if self._store is not None:
            self._store.serving = value

    def over(self, store: Store, *, answer_model: AnswerModel | None = None) -> Services:
        """The same settings and model over another store (eval's temporary index), which
        stays the caller's."""
        return Services(self.settings, embedder=self.embedder, store=store,
                        answer_model=answer_model, reopen_interval=self.reopen_interval,
                        limiter=self.limiter)

    # ------------------------------------------------------------------ store
    def connect(self) -> Store:
        """The store, opened now if it is not open (raises StoreError when it cannot be)."""
        with self._lock:
            if self._store is None:
                try:
                    self._store = Store.open(self.settings)
                except STORE_ERRORS as e:
                    self.store_error = str(e) or type(e).__name__
                    self._failed_at = time.monotonic()
                    raise
                self.store_error, self._failed_at = "", -float("inf")
                self._store.serving = self._serving
                self._bot = None  # a bot of the old store must not serve the new one
            return self._store

    @property
    def store(self) -> Store:
        """The store, opened on first use (raises StoreError when it cannot be)."""
        return self._store if self._store is not None else self.connect()

    def current_store(self) -> Store | None:
        """The store without raising: None while it cannot be opened. An earlier failed
        open is retried when `reopen_interval` has passed since it."""
        if self._store is not None or not self._owns_store:
            return self._store
        with self._lock:
            if self._store is None and time.monotonic() - self._failed_at >= self.reopen_interval:
                try:
                    self.connect()
                except STORE_ERRORS as e:
                    log.debug("store still unavailable: %s", e)
                else:
                    log.info("store is back")
        return self._store

    def close(self) -> None:
        """Close the store if this object opened it (a later use opens it again)."""
        with self._lock:
            if self._owns_store and self._store is not None:
                self._store.close()
                self._store, self._bot = None, None

    # ------------------------------------------------------------------ answering
    @property
    def bot(self) -> CareerBot:
        """The one bot (built on first use): extractive, or an LLM's when configured."""
        store = self.store
        self.sync()
        with self._lock:
            if self._bot is None or self._bot.store is not store:
                self._bot = build_bot(self.settings, store, self.embedder,
                                      answer_model=self.answer_model)
            return self._bot

    @property
    def retriever(self) -> QdrantRetriever:
        return self.bot.retriever

    @property
    def answerer(self) -> Answerer:
        return self.bot.answerer

    def reload(self) -> None:
        """Forget everything derived from the index; call after every ingest or rebuild.

        The next question reads the guides' metadata, the spelling vocabulary and the
        off-topic calibration afresh and gets a new answerer (an LLM answerer keeps its
        endpoint; its extractive fallback is rebuilt)."""
        with self._lock:
            if self._store is not None:
                self._store.refresh()
            if self._bot is not None:
                self._bot.refresh()
            self._generation = None  # the next `sync` takes the index's as the baseline

    def generation(self) -> str:
        """The index generation this process serves (after a `sync`): what the chat page
        compares to say the guides changed, without a store read per page."""
        self.sync()
        if self._generation is None and self._store is not None:
            self._generation = str(self._store.get_meta().get("generation", ""))
        return self._generation or ""

    def sync(self) -> bool:
        """Reload when the index changed under this process: another process ingested (the
        CLI beside a server, a replica's upload in server mode). Each ingest that changes
        the index writes a new generation id into its record; comparing it costs one point
        read, done at most once per `sync_interval` seconds. True when it reloaded."""
        now = time.monotonic()
        if self._store is None or now - self._synced_at < self.sync_interval:
            return False
        self._synced_at = now
        try:
            generation = str(self._store.get_meta().get("generation", ""))
        except STORE_ERRORS:
            return False  # the request itself will meet the store's problem and report it
        with self._lock:
            if self._generation is None or self._generation == generation:
                self._generation = generation
                return False
        log.info("the index changed (generation %s): reloading", generation[:8])
        self.reload()
        self._generation = generation
        return True

    # ------------------------------------------------------------------ model
    def load_model(self) -> bool:
        """Load the embedding model now; False when it failed (`model_problem` says why).

        Servers call it in the background so health checks answer meanwhile."""
        load = getattr(self.embedder, "load", None)
        if not callable(load):
            return True
        try:
            load()
        except Exception as e:  # a server stays up and says why (readiness, the UI)
            log.exception("embedding model failed to load")
            self.model_error = f"{type(e).__name__}: {e}"
            return False
        return True

    @property
    def model_loaded(self) -> bool:
        return bool(getattr(self.embedder, "loaded", True))

    def model_problem(self) -> Failure | None:
        if self.model_error:
            return Failure("model_failed", f"embedding model failed to load: {self.model_error}")
        return None if self.model_loaded else Failure("starting", "model loading")

    def store_problem(self) -> Failure | None:
        if self.current_store() is None:
            return Failure("store_down", f"store unreachable: {self.store_error}")
        return None

    def problem(self) -> Failure | None:
        """Why a question cannot be answered now (store, then model, then an empty index),
        or None. A store error raised while checking propagates: `failures.classify`."""
        if (p := self.store_problem() or self.model_problem()) is not None:
            return p
        if self.store.count() == 0:
            return Failure("empty_index", EMPTY_INDEX)
        return None

