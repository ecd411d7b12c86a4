"""Incremental ingestion of `corpus/` into the store.

A document is re-chunked and re-embedded only when its fingerprint changes (file bytes,
manifest entry, chunking settings, model). Within a changed document, chunks whose id
(hash of doc + offsets + text) is already stored are not embedded again.

Write order keeps the index consistent across crashes: the document record is first
marked pending, then new chunks are written, stale ones deleted, and only then is the
record completed with its fingerprint. A crash anywhere leaves a record that does not
match, so the next run redoes that document; nothing is half-visible for long.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from qdrant_client import models

from ingest.chunk import Chunk, chunk_document
from ingest.parse import ParsedDocument, ParseError, parse_bytes
from ingest.progress import NoProgress, Progress
from rag import schema, sparse
from rag.adapter import query_id
from rag.blocks import embedded_units, piece_id
from rag.calibrate import calibrate, uncalibrated
from rag.embed import Embedder
from rag.schema import DocRecord
from rag.services import Services
from rag.settings import Settings
from rag.store import Store

PIPELINE_VERSION = "8"  # bump when parsing, chunking or units change
MANIFEST = "manifest.json"
MAX_FILE_BYTES = 20 * 1024 * 1024
_IGNORED = {MANIFEST, "readme.md", "readme.txt", ".gitkeep"}


class IngestError(RuntimeError):
    """Ingestion could not start (bad corpus folder or manifest); nothing was changed."""


@dataclass
class Counts:
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0


@dataclass
class IngestReport:
    documents: Counts = field(default_factory=Counts)
    chunks: Counts = field(default_factory=Counts)
    embedded: int = 0  # chunks embedded
    units_embedded: int = 0  # answer-block pieces, headings and whole blocks embedded
    failed: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    # throughput of the run: chunks, and all embedded texts (chunks + pieces...), per second
    chunks_per_s: float = 0.0
    texts_per_s: float = 0.0

    def finish(self, seconds: float) -> None:
        self.seconds = round(seconds, 3)
        if seconds > 0:
            self.chunks_per_s = round(self.embedded / seconds, 2)
            self.texts_per_s = round((self.embedded + self.units_embedded) / seconds, 2)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def doc_id_for(path: Path) -> str:
    """The file name without extension, reduced to URL-safe characters."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-") or "doc"


def load_manifest(corpus_dir: Path) -> dict[str, dict[str, Any]]:
    path = corpus_dir / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IngestError(f"{path}: not valid JSON ({e}); fix it or remove it") from e
    entries = data.get("documents") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise IngestError(f'{path}: expected {{"documents": [{{"file": ..., "title": ...}}]}}')
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise IngestError(f"{path}: every entry needs a string 'file' field")
        out[entry["file"]] = entry
    return out


def corpus_files(corpus_dir: Path) -> list[Path]:
    if not corpus_dir.is_dir():
        raise IngestError(f"corpus folder {corpus_dir} does not exist")
    return sorted(
        p for p in corpus_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower() not in _IGNORED
    )


def fingerprint(raw: bytes, entry: dict[str, Any], config: dict[str, Any]) -> str:
    h = hashlib.sha256(raw)
    h.update(json.dumps([entry, config, PIPELINE_VERSION], sort_keys=True).encode())
    return h.hexdigest()


@dataclass
class _Pending:
    doc_id: str
    path: Path
    raw: bytes
    entry: dict[str, Any]
    fp: str
    existed: bool
    model: str


def _record(p: _Pending, doc: ParsedDocument, n_chunks: int, fp: str) -> DocRecord:
    e = p.entry
    return DocRecord(
        doc_id=p.doc_id,
        file=p.path.name,
        title=e.get("title") or doc.title,
        url=e.get("url") or doc.url,
        publisher=e.get("publisher"),
        date=e.get("date") or doc.date,
        format=doc.format,
        chars=len(doc.text),
        chunks=n_chunks,
        fingerprint=fp,
        model=p.model,
        pipeline=PIPELINE_VERSION,
        ingested=datetime.now(UTC).isoformat(timespec="seconds"),
        text=doc.text,
    )


def stale_docs(store: Store, corpus_dir: Path, config: dict[str, Any]) -> bool:
    """True when the store does not match the corpus (cheap: hashes files, embeds nothing)."""
    try:
        manifest = load_manifest(corpus_dir)
        files = corpus_files(corpus_dir)
    except IngestError:
        return True
    known = {d["doc_id"]: d.get("fingerprint") for d in store.list_docs()}
    if not known:
        return True
    seen = set()
    for path in files:
        did = doc_id_for(path)
        seen.add(did)
        fp = fingerprint(path.read_bytes(), manifest.get(path.name, {}), config)
        if known.get(did) != fp:
            return True
    return bool(set(known) - seen)


def ingest_corpus(
    corpus_dir: Path,
    store: Store,
    embedder: Embedder,
    *,
    config: dict[str, Any],
    chunk_tokens: int = 160,
    overlap: int = 24,
    progress: Progress | None = None,
) -> IngestReport:
    """Bring the store up to date with `corpus_dir`. `config` joins every fingerprint
    (chunking settings, model id), so changing it re-processes every document.

    Changed guides are parsed and planned first (cheap), so `progress` learns the whole
    embedding work before it starts; then each guide is written in the crash-safe order."""
    progress = progress or NoProgress()
    t0 = time.perf_counter()
    report = IngestReport()
    manifest = load_manifest(corpus_dir)
    files = corpus_files(corpus_dir)
    known = {d["doc_id"]: d for d in store.list_docs()}

    todo: list[_Pending] = []
    seen: set[str] = set()
    for path in files:
        did = doc_id_for(path)
        if did in seen:
            report.failed.append({"file": path.name, "reason": f"doc id {did!r} is already "
                                  "taken by another file with the same name stem"})
            continue
        seen.add(did)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ParseError(f"file is larger than {MAX_FILE_BYTES // 2**20} MiB")
            raw = path.read_bytes()
        except (OSError, ParseError) as e:
            report.failed.append({"file": path.name, "reason": str(e)})
            continue
        entry = manifest.get(path.name, {})
        fp = fingerprint(raw, entry, config)
        old = known.get(did)
        if old is not None and old.get("fingerprint") == fp:
            report.documents.unchanged += 1
            report.chunks.unchanged += int(old.get("chunks", 0))
            continue
        todo.append(_Pending(did, path, raw, entry, fp, old is not None, str(config["model"])))

    if todo:
        store.ensure(embedder.dim)
    plans: list[_Plan] = []
    for p in todo:
        try:
            doc = parse_bytes(p.raw, p.path.name)
            if p.entry.get("title"):
                doc.title = str(p.entry["title"])
            chunks = chunk_document(
                p.doc_id, doc, embedder.count_tokens, embedder.max_tokens, chunk_tokens, overlap
            )
            if not chunks:
                raise ParseError("no text to index")
        except ParseError as e:
            report.failed.append({"file": p.path.name, "reason": str(e)})
            continue  # a previously indexed version, if any, keeps serving
        plans.append(_plan(store, p, doc, chunks))
    progress.begin(len(plans), sum(len(x.new) + len(x.new_units) for x in plans))
    try:
        for plan in plans:
            _write_document(store, embedder, plan, report, progress)
    finally:
        progress.end()

    for did in sorted(set(known) - seen):
        report.chunks.deleted += store.delete_doc(did)
        report.documents.deleted += 1

    changed = report.documents.added + report.documents.updated + report.documents.deleted
    # Calibrated for what embeds questions (the model and its query adapter): a new
    # adapter changes where questions land, so it is measured again although no guide is
    # re-embedded.
    asker = query_id(embedder, str(config["model"]))
    if changed or uncalibrated(store, asker):
        record = calibrate(store, embedder, asker)
        store.put_meta({**record, "generation": uuid.uuid4().hex})
    # Also when nothing changed: an index last written while serving gets optimized by the
    # next ingest outside a server (rag.store_edge's policy; a no-op when nothing waits).
    store.finish_writes()

    report.finish(time.perf_counter() - t0)
    return report


@dataclass
class _Plan:
    """A parsed guide and what of it must be embedded and written."""

    pending: _Pending
    doc: ParsedDocument
    chunks: list[Chunk]
    units: dict[str, tuple[str, int, int]]  # id -> (text to embed, start, end)
    have_chunks: set[str]
    have_units: set[str]

    @property
    def new(self) -> list[Chunk]:
        return [c for c in self.chunks if c.chunk_id not in self.have_chunks]

    @property
    def new_units(self) -> list[tuple[str, tuple[str, int, int]]]:
        return [(uid, u) for uid, u in self.units.items() if uid not in self.have_units]


def _plan(store: Store, p: _Pending, doc: ParsedDocument, chunks: list[Chunk]) -> _Plan:
    units = {
        uid: (embed, a, b)
        for blk in {x.key: x for c in chunks for x in c.blocks}.values()
        for uid, a, b, embed in embedded_units(blk)
    }
    old = store.get_doc(p.doc_id) if p.existed else None
    if old is None or (old.get("model"), old.get("pipeline")) == (p.model, PIPELINE_VERSION):
        have_chunks = store.point_ids(store.chunks, p.doc_id)
        have_units = store.point_ids(store.units, p.doc_id)
    else:
        # Another model made the stored vectors (of any size), or another pipeline version
        # wrote the payloads: rewrite every point; the ids stay, so the upserts below
        # replace them in place.
        have_chunks, have_units = set(), set()
    return _Plan(p, doc, chunks, units, have_chunks, have_units)


EMBED_STEP = 64  # texts embedded per call, so progress moves within a large guide


def _embed(embedder: Embedder, texts: list[str], progress: Progress) -> list[list[float]]:
    out: list[list[float]] = []
    for i in range(0, len(texts), EMBED_STEP):
        out.extend(embedder.embed_documents(texts[i : i + EMBED_STEP]))
        progress.advance(len(texts[i : i + EMBED_STEP]))
    return out


def _write_document(store: Store, embedder: Embedder, plan: _Plan, report: IngestReport,
                    progress: Progress) -> None:
    p, doc, chunks = plan.pending, plan.doc, plan.chunks
    have_chunks, have_units, units = plan.have_chunks, plan.have_units, plan.units
    store.put_doc(_record(p, doc, len(chunks), fp="pending"))

    new = plan.new
    new_units = plan.new_units
    # One embedding pass over chunks and units together keeps batches full.
    vectors = _embed(embedder, [c.embed_text for c in new]
                     + [embed for _, (embed, _, _) in new_units], progress)
    report.embedded += len(new)
    report.units_embedded += len(new_units)
    unit_vec = {uid: v for (uid, _), v in zip(new_units, vectors[len(new):], strict=True)}
    inside = {c.chunk_id: [piece_id(b, x) for b in c.blocks for x in b.pieces
                           if c.start <= x.start and x.end <= c.end] for c in new}
    missing = {u for ids in inside.values() for u in ids if u not in unit_vec}
    unit_vec.update(store.unit_vectors(sorted(missing)))
    store.upsert(store.chunks, (
        _point(c, v, [unit_vec[u] for u in inside[c.chunk_id] if u in unit_vec] or [v])
        for c, v in zip(new, vectors, strict=False)))
    store.upsert(store.units, (
        schema.unit_point(uid, p.doc_id, a, b, v)
        for (uid, (_, a, b)), v in zip(new_units, vectors[len(new):], strict=True)
    ))
    stale = sorted(have_chunks - {c.chunk_id for c in chunks})
    store.delete_points(store.chunks, stale)
    store.delete_points(store.units, sorted(have_units - set(units)))
    store.put_doc(_record(p, doc, len(chunks), fp=p.fp))
    report.chunks.added += len(new)
    report.chunks.deleted += len(stale)
    report.chunks.unchanged += len(chunks) - len(new)
    if p.existed:
        report.documents.updated += 1
    else:
        report.documents.added += 1


def _point(c: Chunk, dense: list[float], pieces: list[list[float]]) -> models.PointStruct:
    return schema.chunk_point(
        c.chunk_id,
        schema.chunk_payload(c.doc_id, c.title, c.section, c.start, c.end, c.text, c.blocks),
        dense, sparse.doc_vector(c.embed_text), pieces,
    )


def pipeline_config(settings: Settings) -> dict[str, Any]:
    """What, besides a file's bytes, decides its chunks and vectors."""
    return {
        "model": settings.model_id(),
        "chunk_tokens": settings.chunk_tokens,
        "overlap": settings.chunk_overlap,
    }


@contextmanager
def ingest_lock(settings: Settings, wait: float = 0) -> Iterator[None]:
    """One ingest at a time per data dir: a second one fails with a clear message, at once
    (a command line run) or after waiting up to `wait` seconds (an upload queues behind
    the ingest before it instead of being lost).

    The lock file lives in the data dir, so it covers every process on this machine; in
    server mode with app replicas on several machines, run ingest from one place (a job).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(settings.data_dir / "ingest.lock")
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise IngestError(
            f"another ingest is running on {settings.data_dir}; wait for it to finish"
        ) from None
    try:
        yield
    finally:
        lock.release()


def run_ingest(settings: Settings, store: Store, embedder: Embedder,
               progress: Progress | None = None, wait: float = 0) -> IngestReport:
    """Incremental ingest; a changed model (vector size) turns into a full rebuild."""
    size = store.dense_size()
    if size is not None and size != embedder.dim:
        return rebuild(settings, store, embedder, progress, wait)
    with ingest_lock(settings, wait):
        return corpus_ingest(settings, store, embedder, progress)()


def corpus_ingest(settings: Settings, store: Store, embedder: Embedder,
                  progress: Progress | None = None) -> Callable[[], IngestReport]:
    """The incremental ingest of the configured corpus, to run under `ingest_lock` (the
    guide uploads and the folder watcher call it so)."""
    def run() -> IngestReport:
        return ingest_corpus(
            settings.corpus_dir, store, embedder, config=pipeline_config(settings),
            chunk_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap,
            progress=progress,
        )
    return run


def rebuild(settings: Settings, store: Store, embedder: Embedder,
            progress: Progress | None = None, wait: float = 0) -> IngestReport:
    """Re-index the whole corpus into a new generation, then switch the aliases to it.

    Queries keep hitting the live generation until the switch; if anything fails before it,
    the new collections are dropped and the live index is untouched.
    """
    with ingest_lock(settings, wait):
        new = store.generation()
        try:
            new.ensure(embedder.dim)
            report = ingest_corpus(
                settings.corpus_dir, new, embedder, config=pipeline_config(settings),
                chunk_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap,
                progress=progress,
            )
            if new.count() == 0:
                raise IngestError("the rebuilt index is empty; the live index was kept")
        except BaseException:
            new.drop()
            raise
        old_docs = {d["doc_id"] for d in store.list_docs()}
        store.promote(new)
        # Counted against the index it replaced, for the summary.
        report.documents.deleted = len(old_docs - {d["doc_id"] for d in new.list_docs()})
        return report


def is_stale(settings: Settings, store: Store, embedder: Embedder | None = None) -> bool:
    """A guide changed, or (given the embedder) the off-topic calibration is not for what
    now embeds questions."""
    if stale_docs(store, settings.corpus_dir, pipeline_config(settings)):
        return True
    return embedder is not None and uncalibrated(store, query_id(embedder, settings.model_id()))


def update_index(services: Services, progress: Progress | None = None, *,
                 full: bool = False, wait: float = 0) -> IngestReport:
    """Bring the services' index up to date with the corpus (`full`: rebuild it into a new
    generation), then `services.reload()`, so the bot answers from what was written. The
    reload runs after a failed ingest too: part of it may have been written."""
    try:
        how = rebuild if full else run_ingest
        return how(services.settings, services.store, services.embedder, progress, wait)
    finally:
        services.reload()
