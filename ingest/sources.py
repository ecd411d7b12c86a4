"""Guides added, replaced and removed while the bot runs: the corpus folder as the record.

An uploaded guide is kept as a file in `corpus/` (with its metadata in `manifest.json`),
so a restart or `careerbot reindex` keeps it, and then the one incremental ingest brings
the index up to date: the API, the folder watcher and the CLI share that path and its
lock, so there is one writer at a time and a second upload waits for the first.

Names are refused, not rewritten, when they try to leave the folder or hide in it
(`../x.md`, `/etc/x`, NUL bytes, `.hidden`); other characters are reduced to a safe set.
A file is validated (parsed) before anything is written, so bad input leaves the corpus
and the index exactly as they were.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ingest.parse import ParsedDocument, ParseError, parse_bytes
from ingest.pipeline import (
    _IGNORED,
    MANIFEST,
    IngestReport,
    corpus_files,
    corpus_ingest,
    doc_id_for,
    ingest_lock,
    load_manifest,
    update_index,
)
from ingest.progress import Progress
from rag.schema import DocRecord
from rag.services import Services

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".json", ".pdf")
MAX_NAME = 120  # characters of a stored file name
META_FIELDS = ("title", "publisher", "url", "date")

Status = Literal["added", "updated", "unchanged", "deleted"]


class SourceError(ValueError):
    """A request about a guide that cannot be done; `code` says which kind (the API maps it
    to a status: bad_name/unsupported/empty/unreadable -> 400 or 415, too_large -> 413,
    not_found -> 404, name_taken -> 409)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class SourceResult:
    doc_id: str
    title: str
    status: Status
    chunks: int
    file: str = ""
    report: IngestReport | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "title": self.title, "status": self.status,
                "chunks": self.chunks}


def safe_name(name: str) -> str:
    """The file name an upload is stored under, or SourceError("bad_name").

    Refused: empty names, NUL or control characters, any path (a separator, "..", an
    absolute path, a drive), hidden names and the folder's own files (the manifest).
    Kept: letters, digits, ".", "_" and "-"; any other run of characters becomes "-".
    """
    if not name or not name.strip():
        raise SourceError("bad_name", "the file needs a name")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise SourceError("bad_name", "the file name contains control characters")
    if "/" in name or "\\" in name or re.match(r"^[A-Za-z]:", name) or name.strip() in (".",
                                                                                        ".."):
        raise SourceError("bad_name", "send a bare file name, not a path")
    name = name.strip()
    if name.startswith("."):
        raise SourceError("bad_name", "hidden file names (starting with '.') are not accepted")
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        raise SourceError("unsupported", f"the file name needs one of {', '.join(SUFFIXES)}")
    suffix = "." + suffix.lower()
    if suffix not in SUFFIXES:
        raise SourceError("unsupported", f"unsupported file type {suffix!r}; "
                          f"send one of {', '.join(SUFFIXES)}")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "guide"
    out = stem[: MAX_NAME - len(suffix)] + suffix
    if out.lower() in _IGNORED:
        raise SourceError("bad_name", f"{out!r} is reserved in the corpus folder")
    return out


def check_document(name: str, raw: bytes, max_bytes: int) -> ParsedDocument:
    """Parse an upload before anything is written: too large, empty, binary, broken JSON,
    a PDF without text all fail here with the parser's reason."""
    if len(raw) > max_bytes:
        raise SourceError("too_large", f"the file is {len(raw)} bytes; the limit is "
                          f"{max_bytes} bytes ({max_bytes / 2**20:g} MiB)")
    if not raw.strip():
        raise SourceError("empty", "the file is empty")
    try:
        return parse_bytes(raw, name)
    except ParseError as e:
        raise SourceError("unreadable", f"cannot read {name}: {e}") from e


def find_file(corpus_dir: Path, doc_id: str) -> Path | None:
    for path in corpus_files(corpus_dir):
        if doc_id_for(path) == doc_id:
            return path
    return None


def _atomic_write(path: Path, data: bytes) -> None:
    # A hidden temporary file in the same folder: the ingest never reads it (hidden names
    # are skipped), and os.replace makes the new bytes appear at once or not at all.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_manifest(corpus_dir: Path, entries: dict[str, dict[str, Any]]) -> None:
    path = corpus_dir / MANIFEST
    data: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            data = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            data = {}
    data["documents"] = list(entries.values())
    _atomic_write(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())


@dataclass
class _Undo:
    """What to put back when the ingest after a write fails: the corpus as it was."""

    files: dict[Path, bytes | None] = field(default_factory=dict)  # None: did not exist
    manifest: dict[str, dict[str, Any]] | None = None

    def keep(self, path: Path) -> None:
        if path not in self.files:
            self.files[path] = path.read_bytes() if path.exists() else None

    def ingest(self, corpus_dir: Path, ingest: Ingest) -> IngestReport:
        """Run the ingest after a write; if it fails, the corpus goes back as it was."""
        try:
            return ingest()
        except BaseException:
            self.restore(corpus_dir)
            raise

    def restore(self, corpus_dir: Path) -> None:
        for path, raw in self.files.items():
            if raw is None:
                path.unlink(missing_ok=True)
            else:
                _atomic_write(path, raw)
        if self.manifest is not None:
            _write_manifest(corpus_dir, self.manifest)


Ingest = Callable[[], IngestReport]


def put_source(corpus_dir: Path, ingest: Ingest, *, name: str | None, raw: bytes | None,
               meta: dict[str, Any], max_bytes: int, doc_id: str | None = None
               ) -> SourceResult:
    """Add or replace a guide (bytes, metadata or both) and ingest; call it under the
    ingest lock. `doc_id` names the guide to replace (PUT); without it the file name does
    (POST): the same name with new bytes is an update in place, the same bytes as any
    indexed guide are `unchanged` and add nothing."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    meta = {k: v for k, v in meta.items() if k in META_FIELDS and v not in (None, "")}
    existing = find_file(corpus_dir, doc_id) if doc_id is not None else None
    if doc_id is not None and existing is None:
        raise SourceError("not_found", f"no guide with id {doc_id!r}")
    if raw is None and existing is None:
        raise SourceError("empty", "send a file")
    target = existing
    if raw is not None:
        stored = safe_name(name or (existing.name if existing else ""))
        check_document(stored, raw, max_bytes)
        if existing is None:
            for path in corpus_files(corpus_dir):  # sizes first: most files differ there
                if path.name != stored and path.stat().st_size == len(raw) \
                        and path.read_bytes() == raw:
                    return _result(corpus_dir, path, "unchanged", None)
            target = corpus_dir / stored
            clash = find_file(corpus_dir, doc_id_for(target))
            if clash is not None and clash.name != stored:
                raise SourceError("name_taken", f"{stored!r} would replace {clash.name!r} "
                                  "(same name, another type); rename it or replace that "
                                  f"guide with PUT /v1/sources/{doc_id_for(clash)}")
    assert target is not None
    manifest = load_manifest(corpus_dir)
    undo = _Undo(manifest=dict(manifest))
    entry = dict(manifest.get(target.name, {"file": target.name}))
    if existing is not None and raw is not None and existing.suffix.lower() != \
            Path(stored).suffix.lower():
        raise SourceError("unsupported", "a replacement keeps the guide's file type "
                          f"({existing.suffix}); delete it and upload the new file instead")
    new_entry = {**entry, **meta, "file": target.name}
    same_bytes = raw is None or (target.exists() and target.read_bytes() == raw)
    if same_bytes and new_entry == entry and target.exists():
        return _result(corpus_dir, target, "unchanged", None)
    status: Status = "updated" if target.exists() else "added"
    if raw is not None and not same_bytes:
        undo.keep(target)
        _atomic_write(target, raw)
    if new_entry != entry or target.name not in manifest:
        manifest[target.name] = new_entry
        _write_manifest(corpus_dir, manifest)
    report = undo.ingest(corpus_dir, ingest)
    failed = [f for f in report.failed if f.get("file") == target.name]
    if failed:
        undo.restore(corpus_dir)
        ingest()  # the index follows the corpus back to where it was
        raise SourceError("unreadable", f"cannot index {target.name}: {failed[0]['reason']}")
    return _result(corpus_dir, target, status, report)


def delete_source(corpus_dir: Path, ingest: Ingest, doc_id: str) -> SourceResult:
    """Remove a guide's file and manifest entry, then ingest (which drops its chunks)."""
    path = find_file(corpus_dir, doc_id)
    if path is None:
        raise SourceError("not_found", f"no guide with id {doc_id!r}")
    manifest = load_manifest(corpus_dir)
    undo = _Undo(manifest=dict(manifest))
    undo.keep(path)
    title = str(manifest.get(path.name, {}).get("title") or path.stem)
    path.unlink()
    if manifest.pop(path.name, None) is not None:
        _write_manifest(corpus_dir, manifest)
    report = undo.ingest(corpus_dir, ingest)
    return SourceResult(doc_id, title, "deleted", 0, path.name, report)


def _result(corpus_dir: Path, path: Path, status: Status, report: IngestReport | None
            ) -> SourceResult:
    entry = load_manifest(corpus_dir).get(path.name, {})
    title = str(entry.get("title") or "")
    if not title:
        try:
            title = parse_bytes(path.read_bytes(), path.name).title
        except ParseError:
            title = path.stem
    return SourceResult(doc_id_for(path), title, status, -1, path.name, report)


class Guides:
    """The guides of one `Services`: what the admin API, the UI's Guides tab, the folder
    watcher and `careerbot ingest` through a server all use. Every write takes the ingest
    lock (waiting up to `wait` seconds behind another writer, so concurrent uploads queue
    instead of failing) and ends with `services.reload()`."""

    def __init__(self, services: Services, wait: float = 300.0) -> None:
        self.services = services
        self.wait = wait

    @property
    def max_bytes(self) -> int:
        return int(self.services.settings.max_upload_mb * 2**20)

    def list(self) -> list[DocRecord]:
        return self.services.store.list_docs()

    def put(self, name: str | None, raw: bytes | None, meta: dict[str, Any] | None = None,
            doc_id: str | None = None) -> SourceResult:
        s = self.services
        try:
            with ingest_lock(s.settings, self.wait):
                result = put_source(s.settings.corpus_dir,
                                    corpus_ingest(s.settings, s.store, s.embedder),
                                    name=name, raw=raw, meta=meta or {},
                                    max_bytes=self.max_bytes, doc_id=doc_id)
        finally:
            s.reload()
        record = s.store.get_doc(result.doc_id)
        if record is not None:
            result.chunks, result.title = int(record["chunks"]), str(record["title"])
        return result

    def delete(self, doc_id: str) -> SourceResult:
        s = self.services
        try:
            with ingest_lock(s.settings, self.wait):
                return delete_source(s.settings.corpus_dir,
                                     corpus_ingest(s.settings, s.store, s.embedder), doc_id)
        finally:
            s.reload()

    def sync(self, full: bool = False, progress: Progress | None = None) -> IngestReport:
        """Bring the index up to date with the folder (incremental, or a full rebuild)."""
        return update_index(self.services, progress, full=full, wait=self.wait)
